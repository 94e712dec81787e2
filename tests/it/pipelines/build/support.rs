//! Shared fixtures: copy a project from `testdata/pipelines_build/<name>/` into a scratch dir,
//! run `melwrap build` on its `melange.yaml` through the real binary (cleared environment plus
//! PATH, `--no-network`, cache, out and kept workspace in the scratch dir), then read what the
//! steps left in the destdir and what the `.apk` holds. Tools are looked for where the sandbox
//! sees them (the host's /usr, shown read-only), never in the test's own PATH, which may name
//! /root/.cargo or a pyenv the sandbox hides.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use crate::support::Run;

/// The PATH steps get (melange's, `src/sandbox/env.rs`); only /usr and / are shown.
const GUEST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin";

fn under_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skip (return false, printing why) or, under `CI=true` when `scripts/install-deps.sh`
/// provides what is missing, fail.
#[track_caller]
pub fn skip(reason: &str, install_deps_provides: bool) -> bool {
    if under_ci() && install_deps_provides {
        panic!("{reason}; scripts/install-deps.sh installs it, so under CI=true this must run");
    }
    eprintln!("skipped: {reason}");
    false
}

/// True when bwrap can run here (else skip, printing why; fail under CI).
pub fn bwrap_usable() -> bool {
    crate::support::require_bwrap().is_some()
}

/// Where the sandbox finds the command `name`, if it does.
pub fn guest_command(name: &str) -> Option<PathBuf> {
    GUEST_PATH
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            fs_err::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// True when every command in `names` is visible in the sandbox; else skip (see [`skip`]).
#[track_caller]
pub fn require_commands(names: &[&str], install_deps_provides: bool) -> bool {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| guest_command(n).is_none())
        .collect();
    missing.is_empty()
        || skip(
            &format!(
                "not in the sandbox's PATH ({GUEST_PATH}): {}",
                missing.join(", ")
            ),
            install_deps_provides,
        )
}

/// True when every path exists on the host (shown as is in the sandbox); else skip.
#[track_caller]
pub fn require_paths(paths: &[&str], install_deps_provides: bool) -> bool {
    let missing: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| !Path::new(p).exists())
        .collect();
    missing.is_empty()
        || skip(
            &format!("missing: {}", missing.join(", ")),
            install_deps_provides,
        )
}

/// A scratch dir holding `src/` (the fixture), `cache/`, `out/`, `ws/` (the kept workspace),
/// `home/` and `tmp/` (melwrap's own HOME and TMPDIR).
pub struct Project {
    dir: tempfile::TempDir,
    /// Run melwrap as this uid/gid (through setpriv) instead of the test's own.
    user: Option<u32>,
}

impl Project {
    /// Copy `testdata/pipelines_build/<fixture>` into `src/`.
    pub fn new(fixture: &str) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("melwrap-pipelines-build-")
            .tempdir_in("/tmp")
            .unwrap();
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/pipelines_build")
            .join(fixture);
        copy_tree(&from, &dir.path().join("src"));
        for sub in ["home", "tmp"] {
            fs_err::create_dir(dir.path().join(sub)).unwrap();
        }
        Project { dir, user: None }
    }

    /// Run melwrap as `uid` (gid the same, no groups) through setpriv; the scratch dir is
    /// opened up so that user can write there.
    pub fn run_by(mut self, uid: u32) -> Project {
        for dir in [
            self.root().to_path_buf(),
            self.root().join("home"),
            self.root().join("tmp"),
        ] {
            fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        self.user = Some(uid);
        self
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn src(&self) -> PathBuf {
        self.root().join("src")
    }
    pub fn cache(&self) -> PathBuf {
        self.root().join("cache")
    }

    /// The melwrap binary with a cleared environment (PATH, HOME, TMPDIR, NO_COLOR), run in
    /// the scratch dir with `args`.
    pub fn melwrap(&self, args: &[&str]) -> Run {
        let bin = env!("CARGO_BIN_EXE_melwrap");
        let mut cmd = match self.user {
            None => Command::new(bin),
            Some(uid) => {
                let mut c = Command::new("/usr/bin/setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={uid}"))
                    .arg("--clear-groups")
                    .arg(bin);
                c
            }
        };
        let out = cmd
            .env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            )
            .env("HOME", self.root().join("home"))
            .env("TMPDIR", self.root().join("tmp"))
            .env("NO_COLOR", "1")
            .current_dir(self.root())
            .args(args)
            .output()
            .unwrap();
        Run::from(out)
    }

    /// `melwrap build src/melange.yaml` offline, keeping the workspace, plus `extra`.
    pub fn build(&self, extra: &[&str]) -> Run {
        let mut args = vec![
            "build",
            "src/melange.yaml",
            "--no-network",
            "--cache-dir",
            "cache",
            "--out-dir",
            "out",
            "--workspace-dir",
            "ws",
        ];
        args.extend_from_slice(extra);
        self.melwrap(&args)
    }

    /// `melwrap test src/melange.yaml` offline, against the packages in `out/`.
    pub fn test(&self) -> Run {
        self.melwrap(&[
            "test",
            "src/melange.yaml",
            "--no-network",
            "--cache-dir",
            "cache",
            "--out-dir",
            "out",
        ])
    }

    /// The one `<arch>` directory a build made under `dir`.
    fn arch_dir(&self, dir: &str) -> PathBuf {
        let dirs: Vec<PathBuf> = fs_err::read_dir(self.root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        assert_eq!(dirs.len(), 1, "one arch dir under {dir}: {dirs:?}");
        dirs.into_iter().next().unwrap()
    }

    /// The destdir (`targets.contextdir`) of package `pkg` in the kept workspace.
    pub fn destdir(&self, pkg: &str) -> PathBuf {
        self.arch_dir("ws").join("melange-out").join(pkg)
    }

    /// The workspace the steps ran in (`/home/build`).
    pub fn workspace(&self) -> PathBuf {
        self.arch_dir("ws")
    }

    /// Every regular file of the destdir of `pkg`, relative, sorted.
    pub fn files(&self, pkg: &str) -> Vec<String> {
        let root = self.destdir(pkg);
        crate::support::walk(&root)
            .into_iter()
            .filter(|p| !p.symlink_metadata().unwrap().is_dir())
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect()
    }

    /// The data section of `out/<arch>/<pkg>-1.0.0-r0.apk`, read by Python's zlib and
    /// tarfile (independent of melwrap's writer): path -> permission bits, regular files only.
    pub fn apk_files(&self, pkg: &str) -> BTreeMap<String, u32> {
        let apk = self.arch_dir("out").join(format!("{pkg}-1.0.0-r0.apk"));
        // An apk is gzip streams back to back (signature, control, data): the data is the last.
        let script = "import io,sys,tarfile,zlib\n\
            data=open(sys.argv[1],'rb').read()\n\
            last=b''\n\
            while data:\n\
            \x20   d=zlib.decompressobj(31); last=d.decompress(data)+d.flush(); data=d.unused_data\n\
            for m in tarfile.open(fileobj=io.BytesIO(last)).getmembers():\n\
            \x20   if m.isfile(): print('%o %s' % (m.mode & 0o7777, m.name))\n";
        let out = Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(script)
            .arg(&apk)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "reading {}: {}",
            apk.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let (mode, name) = l.split_once(' ').unwrap();
                (name.to_string(), u32::from_str_radix(mode, 8).unwrap())
            })
            .collect()
    }
}

/// Run a program the build produced, on the host, and return its stdout.
#[track_caller]
pub fn run_program(path: &Path) -> String {
    let out = Command::new(path).env_clear().output().unwrap();
    assert!(out.status.success(), "{} failed: {out:?}", path.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Assert `file` is in the package's data section with mode `mode`.
#[track_caller]
pub fn assert_packaged(files: &BTreeMap<String, u32>, file: &str, mode: u32) {
    assert_eq!(
        files.get(file),
        Some(&mode),
        "{file} with mode {mode:o} in the .apk: {files:?}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            fs_err::copy(entry.path(), &dest).unwrap();
        }
    }
}
