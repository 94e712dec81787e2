//! The build workspace: the host directory shown at `/home/build`.
//!
//! melange (`pkg/build/build.go`, `populateWorkspace`) copies every regular file of the source
//! dir into a fresh workspace, honouring `.melangeignore`, and keeps each package's destdir at
//! `melange-out/<name>`. melwrap does the same, with these differences (README, "Differences"):
//! - the cache, output and workspace directories are never copied into the workspace, even when
//!   they sit inside the source dir (the defaults `./melange-cache` and `./packages` usually do);
//! - a workspace the user named with `--workspace-dir` is kept after the build, and refused when
//!   it holds a `melange-out/` from an earlier build (melange would package those stale files);
//! - a temporary workspace is removed after success and kept (and named) after a failure.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr, bail};

use crate::safefs::{CopyOptions, Dir, Existing, ScrubReport};

/// Guest path of the workspace.
pub const GUEST_WORKSPACE: &str = "/home/build";

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PopulateStats {
    pub files: u64,
    pub bytes: u64,
    pub skipped: u64,
}

impl Workspace {
    /// A workspace under `dir/<arch>` (melange's layout for `--workspace-dir`), or a fresh
    /// temporary directory when `dir` is `None`. Either way the root is owner-only (0700).
    pub fn create(dir: Option<&Path>, arch: &str) -> eyre::Result<Self> {
        match dir {
            Some(dir) => {
                let (parent, _) =
                    Dir::create_anchor(dir, 0o755).wrap_err("cannot create the workspace dir")?;
                // `<arch>` may hold what an earlier build's steps left: reached without
                // following a link.
                let (root_dir, _) = parent.create_dir(arch, 0o700)?;
                let root = fs_err::canonicalize(dir)?.join(arch);
                match root_dir.stat_at("melange-out") {
                    Ok(st) if st.is_dir() => {
                        if !root_dir.open_dir("melange-out")?.read_names()?.is_empty() {
                            bail!(
                                "workspace {} already holds `melange-out/` from an earlier \
                                 build\n  hint: remove {} or choose another `--workspace-dir`; \
                                 melwrap will not package stale files",
                                root.display(),
                                root.join("melange-out").display()
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
                let temp = tempfile::Builder::new()
                    .prefix("melwrap-workspace-")
                    .tempdir()
                    .wrap_err("cannot create a temporary workspace")?;
                let root = fs_err::canonicalize(temp.path())?;
                let dir = Dir::open_anchor(&root)?;
                Ok(Workspace {
                    root,
                    dir,
                    temp: Some(temp),
                })
            }
        }
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
        self.root.join("melange-out").join(package)
    }

    /// Create a package's destdir (melange does this just before the package's pipeline). An
    /// earlier step may have put a symlink at `melange-out` or the destdir: it is refused.
    pub fn make_destdir(&self, package: &str) -> eyre::Result<PathBuf> {
        self.dir
            .create_dir_all(Path::new("melange-out").join(package), 0o755)?;
        Ok(self.destdir(package))
    }

    /// Copy the regular files of `source` into the workspace, skipping what `.melangeignore`
    /// excludes and every path in `exclude` (cache, output and workspace directories). In a
    /// reused `--workspace-dir`, an entry an earlier build left at a copied name is replaced
    /// (a symlink included: the link is replaced, nothing is written through it).
    pub fn populate(&self, source: &Path, exclude: &[PathBuf]) -> eyre::Result<PopulateStats> {
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
        let mut exclude: Vec<PathBuf> = exclude
            .iter()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .collect();
        exclude.push(self.root.clone());
        let ignore = load_ignore(&source)?;
        let keep = |path: &Path, rel: &Path, is_dir: bool| {
            !exclude.iter().any(|e| e == path) && !ignore.matched(rel, is_dir).is_ignore()
        };
        let opts = CopyOptions {
            existing: Existing::Replace,
            filter: Some(&keep),
            ..CopyOptions::default()
        };
        // Symlinks, sockets, FIFOs and devices are not copied (as in melange); set-id and
        // sticky bits are dropped (as in melange).
        let copied = self.dir.copy_tree_in(&source, &opts)?;
        Ok(PopulateStats {
            files: copied.files,
            bytes: copied.bytes,
            skipped: copied.skipped + copied.filtered,
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
    let file = source.join(".melangeignore");
    let mut builder = ignore::gitignore::GitignoreBuilder::new(source);
    if file.is_file()
        && let Some(err) = builder.add(&file)
    {
        bail!("{}: {err}", file.display());
    }
    builder
        .build()
        .wrap_err_with(|| format!("cannot read {}", file.display()))
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
            .populate(src.path(), &[src.path().join("melange-cache")])
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
