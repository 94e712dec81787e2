//! The build workspace: the host directory shown at `/home/build`.
//!
//! melange (`pkg/build/build.go`, `populateWorkspace`) copies every regular file of the source
//! dir into a fresh workspace, honouring `.melangeignore`, and keeps each package's destdir at
//! `melange-out/<name>`. melwrap does the same, with these differences (docs/differences.md):
//! - the cache, output and workspace directories are never copied into the workspace, even when
//!   they sit inside the source dir (the defaults `./melange-cache` and `./packages` usually do);
//! - secrets are never copied: files the caller names (the signing key, env files, the CA
//!   bundle; matched by identity, so a hard link under another name is withheld too), apk
//!   private keys by their conventional name `*.rsa`, and any file whose first 4 KiB hold a PEM
//!   private-key header (`-----BEGIN ... PRIVATE KEY-----`). A step is untrusted code and the
//!   package it fills is published;
//! - a workspace the user named with `--workspace-dir` is kept after the build, and refused when
//!   it holds a `melange-out/` from an earlier build (melange would package those stale files);
//! - a temporary workspace is removed after success and kept (and named) after a failure.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr, bail};

use crate::guest::OUT_DIR_NAME;
use crate::safefs::{CopyOptions, Dir, Existing, ScrubReport};

/// Guest path of the workspace.
pub const GUEST_WORKSPACE: &str = crate::guest::WORKSPACE;

/// A prepared workspace on the host. Steps write it, so every host-side operation inside it
/// goes through [`crate::safefs`] relative to the opened root directory.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    dir: Dir,
    /// Set for a temporary workspace melwrap created (and may remove).
    temp: Option<tempfile::TempDir>,
}

/// What [`Workspace::populate`] copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PopulateStats {
    pub files: u64,
    pub bytes: u64,
    pub skipped: u64,
    /// Secrets left out, relative to the source dir (see the module doc).
    pub withheld: Vec<PathBuf>,
}

/// A file or directory by identity (device and inode), so a hard link, a bind mount or a path
/// spelled differently is still recognised.
type FileId = (u64, u64);

fn file_id(meta: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Files at most this large are read for a PEM private-key header; keys are a few KiB.
const SNIFF_LIMIT: u64 = 64 << 10;

/// Whether a regular file of the source dir is a secret that must not reach the workspace:
/// named by the caller (`secrets`, by identity), named like an apk private key (`*.rsa`,
/// whose public half is `*.rsa.pub`), or holding a PEM private key.
fn is_secret(path: &Path, meta: &std::fs::Metadata, secrets: &[FileId]) -> bool {
    if secrets.contains(&file_id(meta)) {
        return true;
    }
    if path.extension().is_some_and(|e| e == "rsa") {
        return true;
    }
    meta.len() <= SNIFF_LIMIT && holds_pem_private_key(path)
}

/// A line starting `-----BEGIN ` and naming a `PRIVATE KEY` in the first 4 KiB (PKCS#1,
/// PKCS#8, encrypted, EC, OpenSSH and PGP private keys all have one; certificates, public keys
/// and patches that add a key, whose lines start with `+`, do not).
fn holds_pem_private_key(path: &Path) -> bool {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::with_capacity(4096);
    if file.take(4096).read_to_end(&mut head).is_err() {
        return false;
    }
    head.split(|&b| b == b'\n').any(|line| {
        line.starts_with(b"-----BEGIN ") && line.windows(11).any(|w| w == b"PRIVATE KEY")
    })
}

/// The workspace's name inside its private temporary directory.
const TEMP_WORKSPACE_NAME: &str = "build";

impl Workspace {
    /// A workspace under `dir/<arch>` (melange's layout for `--workspace-dir`), or a fresh
    /// temporary directory when `dir` is `None`. Either way the root is owner-only (0700).
    pub fn create(dir: Option<&Path>, arch: &str) -> eyre::Result<Self> {
        match dir {
            Some(dir) => {
                // Created owner-only, so other users cannot reach `<arch>` even while a step
                // has loosened its mode (an existing dir keeps the mode its owner gave it).
                let (parent, _) =
                    Dir::create_anchor(dir, 0o700).wrap_err("cannot create the workspace dir")?;
                // `<arch>` may hold what an earlier build's steps left: reached without
                // following a link.
                let (root_dir, _) = parent.create_dir(arch, 0o700)?;
                let root = fs_err::canonicalize(dir)?.join(arch);
                match root_dir.stat_at(OUT_DIR_NAME) {
                    Ok(st) if st.is_dir() => {
                        if !root_dir.open_dir(OUT_DIR_NAME)?.read_names()?.is_empty() {
                            bail!(
                                "workspace {} already holds `melange-out/` from an earlier \
                                 build\n  hint: remove {} or choose another `--workspace-dir`; \
                                 melwrap will not package stale files",
                                root.display(),
                                root.join(OUT_DIR_NAME).display()
                            );
                        }
                    }
                    Ok(_) => bail!(
                        "workspace {} holds a `melange-out` that is not a directory\n  hint: \
                         remove it or choose another `--workspace-dir`",
                        root.display()
                    ),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
                root_dir.ensure_owner_only()?;
                Ok(Workspace {
                    root,
                    dir: root_dir,
                    temp: None,
                })
            }
            None => {
                // The workspace is a directory inside a private (0700) temporary one: a step
                // owns the workspace root and may loosen its mode while it runs, but it never
                // sees the parent, which keeps other local users out all the same.
                let temp = tempfile::Builder::new()
                    .prefix("melwrap-workspace-")
                    .tempdir()
                    .wrap_err("cannot create a temporary workspace")?;
                let parent = Dir::open_anchor(temp.path())?;
                parent.set_mode(0o700)?;
                let (dir, _) = parent.create_dir(TEMP_WORKSPACE_NAME, 0o700)?;
                let root = fs_err::canonicalize(temp.path())?.join(TEMP_WORKSPACE_NAME);
                Ok(Workspace {
                    root,
                    dir,
                    temp: Some(temp),
                })
            }
        }
    }

    /// The private directory a temporary workspace sits in (steps never see it), if any.
    pub fn private_parent(&self) -> Option<&Path> {
        self.temp.as_ref().map(|t| t.path())
    }

    /// The host directory bound at `/home/build`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The opened workspace root, for operations inside it.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Host path of a package's destdir (`melange-out/<name>`).
    pub fn destdir(&self, package: &str) -> PathBuf {
        self.root.join(OUT_DIR_NAME).join(package)
    }

    /// Create a package's destdir (melange does this just before the package's pipeline). An
    /// earlier step may have put a symlink at `melange-out` or the destdir: it is refused.
    pub fn make_destdir(&self, package: &str) -> eyre::Result<PathBuf> {
        self.dir
            .create_dir_all(Path::new(OUT_DIR_NAME).join(package), 0o755)?;
        Ok(self.destdir(package))
    }

    /// Copy the regular files of `source` into the workspace, skipping what `.melangeignore`
    /// excludes, every directory in `exclude` (cache, output and workspace directories) and
    /// every secret: the files in `secrets` (signing key, env files, CA bundle) and those the
    /// module doc lists. Paths are matched by identity, not by name. In a reused
    /// `--workspace-dir`, an entry an earlier build left at a copied name is replaced (a symlink
    /// included: the link is replaced, nothing is written through it).
    pub fn populate(
        &self,
        source: &Path,
        exclude: &[PathBuf],
        secrets: &[PathBuf],
    ) -> eyre::Result<PopulateStats> {
        if !source.exists() {
            // melange only warns here; the build may not need sources at all.
            return Ok(PopulateStats::default());
        }
        let source = fs_err::canonicalize(source)?;
        // A workspace inside the source dir is fine (it is excluded below); the reverse would
        // copy the tree into itself.
        if source.starts_with(&self.root) {
            bail!(
                "source dir {} is inside the workspace {}",
                source.display(),
                self.root.display()
            );
        }
        let identities = |paths: &[PathBuf]| -> Vec<FileId> {
            paths
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| file_id(&m))
                .collect()
        };
        let mut exclude = identities(exclude);
        exclude.extend(identities(std::slice::from_ref(&self.root)));
        let skip = Skip {
            dirs: exclude,
            secrets: identities(secrets),
        };
        let ignore = load_ignore(&source)?;
        let withheld = std::cell::RefCell::new(Vec::new());
        let keep = |path: &Path, rel: &Path, meta: &std::fs::Metadata| {
            if skip.dirs.contains(&file_id(meta)) || ignore.matched(rel, meta.is_dir()).is_ignore()
            {
                return false;
            }
            if meta.is_file() && is_secret(path, meta, &skip.secrets) {
                withheld.borrow_mut().push(rel.to_path_buf());
                return false;
            }
            true
        };
        let opts = CopyOptions {
            existing: Existing::Replace,
            filter: Some(&keep),
            ..CopyOptions::default()
        };
        // Symlinks, sockets, FIFOs and devices are not copied (as in melange); set-id and
        // sticky bits are dropped (as in melange).
        let copied = self.dir.copy_tree_in(&source, &opts)?;
        let withheld = withheld.into_inner();
        Ok(PopulateStats {
            files: copied.files,
            bytes: copied.bytes,
            skipped: copied.skipped + copied.filtered - withheld.len() as u64,
            withheld,
        })
    }

    /// After the steps: makes the workspace root owner-only again when a step loosened it.
    /// Returns the mode the step left, when it changed it.
    pub fn restore_owner_only(&self) -> eyre::Result<Option<u32>> {
        Ok(self.dir.ensure_owner_only()?)
    }

    /// Makes a workspace that stays on disk safe to leave: owner-only root and no setuid or
    /// setgid bit anywhere in it (through descriptors, unreadable directories included). The
    /// packages are already written, so set-id files in `melange-out` only lose their bits in
    /// this copy.
    pub fn scrub(&self) -> eyre::Result<ScrubReport> {
        self.dir.ensure_owner_only()?;
        self.dir
            .clear_set_id_bits()
            .wrap_err_with(|| format!("cannot clear set-id bits in {}", self.root.display()))
    }

    /// Finish the build: a temporary workspace is removed after success and kept after a
    /// failure. Returns the path when the workspace is left on disk (scrubbed, see
    /// [`Workspace::scrub`]).
    pub fn finish(self, success: bool) -> eyre::Result<Option<PathBuf>> {
        Ok(self.finish_with_report(success)?.map(|(path, _)| path))
    }

    /// [`Workspace::finish`], also returning what the scrub of a kept workspace did.
    pub fn finish_with_report(
        mut self,
        success: bool,
    ) -> eyre::Result<Option<(PathBuf, ScrubReport)>> {
        match self.temp.take() {
            Some(temp) if success => {
                // Removed through descriptors: read-only directories a step left (Go's module
                // cache) are made writable on the way, links are removed, never followed.
                self.dir
                    .remove_contents()
                    .wrap_err_with(|| format!("cannot remove workspace {}", self.root.display()))?;
                temp.close()
                    .wrap_err_with(|| format!("cannot remove workspace {}", self.root.display()))?;
                Ok(None)
            }
            Some(temp) => {
                let _ = temp.keep();
                let report = self.scrub()?;
                Ok(Some((self.root.clone(), report)))
            }
            None => {
                let report = self.scrub()?;
                Ok(Some((self.root.clone(), report)))
            }
        }
    }
}

fn load_ignore(source: &Path) -> eyre::Result<ignore::gitignore::Gitignore> {
    use crate::bounded_read::{MAX_IGNORE_FILE_BYTES, ReadError, read_regular_text};
    let file = source.join(".melangeignore");
    let mut builder = ignore::gitignore::GitignoreBuilder::new(source);
    // Read through the bounded reader (a FIFO or a huge file here must not stall the build),
    // then hand the lines over as `GitignoreBuilder::add` would.
    match read_regular_text(&file, MAX_IGNORE_FILE_BYTES) {
        Ok(text) => {
            for (i, line) in text.lines().enumerate() {
                let line = if i == 0 {
                    line.trim_start_matches('\u{feff}')
                } else {
                    line
                };
                if let Err(err) = builder.add_line(Some(file.clone()), line) {
                    bail!("{}:{}: {err}", file.display(), i + 1);
                }
            }
        }
        Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(
                crate::diag::Diagnostic::new(&file, format!("cannot read it: {e}"))
                    .hint("`.melangeignore` must be a regular file of ignore patterns")
                    .into(),
            );
        }
    }
    builder
        .build()
        .wrap_err_with(|| format!("cannot read {}", file.display()))
}

/// What the copy leaves out by identity: excluded directories (and files), and secrets.
struct Skip {
    dirs: Vec<FileId>,
    secrets: Vec<FileId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(path: &Path, text: &str) {
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }

    #[test]
    fn a_melangeignore_that_is_not_a_regular_file_is_refused_at_once() {
        let src = tempfile::tempdir().unwrap();
        let fifo = src.path().join(".melangeignore");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string and a mode.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = load_ignore(src.path()).unwrap_err().to_string();
        assert!(
            err.ends_with(".melangeignore: cannot read it: it is a FIFO (named pipe), not a regular file\n  hint: `.melangeignore` must be a regular file of ignore patterns"),
            "{err}"
        );
    }

    #[test]
    fn copies_regular_files_and_honours_ignores_and_exclusions() {
        let src = tempfile::tempdir().unwrap();
        write(&src.path().join("a.txt"), "a");
        write(&src.path().join("sub/b.sh"), "b");
        fs_err::set_permissions(
            src.path().join("sub/b.sh"),
            std::fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
        write(&src.path().join("skip.log"), "x");
        write(&src.path().join(".melangeignore"), "*.log\n");
        write(&src.path().join("melange-cache/blob"), "cache");
        std::os::unix::fs::symlink("a.txt", src.path().join("link")).unwrap();

        let ws = Workspace::create(None, "x86_64").unwrap();
        let stats = ws
            .populate(src.path(), &[src.path().join("melange-cache")], &[])
            .unwrap();
        assert_eq!(
            fs_err::read_to_string(ws.root().join("a.txt")).unwrap(),
            "a"
        );
        let mode = fs_err::metadata(ws.root().join("sub/b.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o7777,
            0o755,
            "setuid is dropped, permission bits kept"
        );
        assert!(!ws.root().join("skip.log").exists());
        assert!(!ws.root().join("melange-cache").exists());
        assert!(!ws.root().join("link").exists());
        assert_eq!(stats.files, 3, "a.txt, sub/b.sh, .melangeignore");
        // The source is untouched.
        assert!(src.path().join("skip.log").exists());
        let root = ws.root().to_path_buf();
        assert_eq!(ws.finish(true).unwrap(), None);
        assert!(!root.exists());
    }

    #[test]
    fn secrets_are_withheld_and_their_public_halves_copied() {
        let src = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let pem =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n";
        write(&src.path().join("melange.rsa"), "private");
        write(&src.path().join("melange.rsa.pub"), "public");
        write(&src.path().join("keys/local-melange.rsa"), "private");
        write(&src.path().join("deploy/id_ed25519"), pem);
        write(
            &src.path().join("bag.p12.pem"),
            &format!("Bag Attributes\n{pem}"),
        );
        write(
            &src.path().join("ca.pem"),
            "-----BEGIN CERTIFICATE-----\nMII\n",
        );
        write(
            &src.path().join("add-key.patch"),
            &format!("+{}", pem.replace('\n', "\n+")),
        );
        write(&src.path().join("build.env"), "TOKEN=secret\n");
        // A hard link, under an innocent name, to a key kept outside the source dir.
        write(&outside.path().join("signing.key"), "private");
        fs_err::hard_link(
            outside.path().join("signing.key"),
            src.path().join("notes.txt"),
        )
        .unwrap();

        let ws = Workspace::create(None, "x86_64").unwrap();
        let secrets = [
            src.path().join("build.env"),
            outside.path().join("signing.key"),
        ];
        let stats = ws.populate(src.path(), &[], &secrets).unwrap();
        let mut withheld: Vec<String> = stats
            .withheld
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        withheld.sort();
        assert_eq!(
            withheld,
            [
                "bag.p12.pem",
                "build.env",
                "deploy/id_ed25519",
                "keys/local-melange.rsa",
                "melange.rsa",
                "notes.txt"
            ]
        );
        for name in &withheld {
            assert!(!ws.root().join(name).exists(), "{name} was copied");
        }
        for name in ["melange.rsa.pub", "ca.pem", "add-key.patch"] {
            assert!(ws.root().join(name).is_file(), "{name} was not copied");
        }
        ws.finish(true).unwrap();
    }

    #[test]
    fn failed_temporary_workspace_is_kept() {
        let ws = Workspace::create(None, "x86_64").unwrap();
        let root = ws.root().to_path_buf();
        let kept = ws.finish(false).unwrap();
        assert_eq!(kept.as_deref(), Some(root.as_path()));
        assert!(root.exists());
        fs_err::remove_dir_all(root).unwrap();
    }

    #[test]
    fn named_workspace_with_stale_outputs_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("x86_64/melange-out/pkg/file"), "old");
        let err = Workspace::create(Some(dir.path()), "x86_64").unwrap_err();
        assert!(err.to_string().contains("melange-out"), "{err}");
        assert!(dir.path().join("x86_64/melange-out/pkg/file").exists());
    }

    #[test]
    fn read_only_directories_left_by_a_build_are_removed() {
        let ws = Workspace::create(None, "x86_64").unwrap();
        let ro = ws.root().join("gomod/ro");
        write(&ro.join("f"), "x");
        fs_err::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let root = ws.root().to_path_buf();
        ws.finish(true).unwrap();
        assert!(!root.exists());
    }
}
