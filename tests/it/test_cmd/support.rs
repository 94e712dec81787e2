//! Running melwrap in a scratch directory and fingerprinting directories.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

pub use crate::support::{Run, walk};

/// The fixture config.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/test_cmd")
        .join(name)
}

/// A scratch directory holding a copy of a fixture (the source dir of the build).
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    /// Copy `fixture` into a fresh directory as `melange.yaml`... under its own name.
    pub fn new(fixture_name: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("melwrap-test-cmd-")
            .tempdir_in("/tmp")
            .unwrap();
        fs_err::copy(fixture(fixture_name), dir.path().join(fixture_name)).unwrap();
        Scratch { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Let any uid write here (for runs under setpriv).
    pub fn open_up(&self) {
        for entry in walk(self.path()) {
            let mode = if entry.is_dir() { 0o777 } else { 0o666 };
            fs_err::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    /// Run melwrap with `args` in the scratch dir.
    pub fn melwrap(&self, args: &[&str]) -> Run {
        self.run(Command::new(env!("CARGO_BIN_EXE_melwrap")), args)
    }

    /// Run melwrap as an ordinary user (uid/gid 65534 when the suite is root, else the suite's
    /// own user) with `args` in the scratch dir.
    pub fn melwrap_as_nobody(&self, args: &[&str]) -> Run {
        let mut cmd = crate::support::unpriv::as_nobody(env!("CARGO_BIN_EXE_melwrap"));
        // Not the scratch dir itself: that is the source dir, and a home is refused as one.
        cmd.env("HOME", self.path().join(".home"));
        self.run(cmd, args)
    }

    fn run(&self, mut cmd: Command, args: &[&str]) -> Run {
        let out = cmd
            .args(args)
            .current_dir(self.path())
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("MELWRAP_CA_BUNDLE")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        Run::from(out)
    }
}

/// A hash of every name, type, mode, content and link target under `root`.
pub fn fingerprint(root: &Path) -> String {
    let mut h = Sha256::new();
    for p in walk(root) {
        let meta = p.symlink_metadata().unwrap();
        h.update(p.strip_prefix(root).unwrap().as_os_str().as_encoded_bytes());
        h.update(meta.permissions().mode().to_le_bytes());
        if meta.is_file() {
            h.update(fs_err::read(&p).unwrap());
        } else if meta.file_type().is_symlink() {
            h.update(
                fs_err::read_link(&p)
                    .unwrap()
                    .as_os_str()
                    .as_encoded_bytes(),
            );
        }
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// The summary line of package `name` (`  ok     name  0.52s`), if any.
pub fn summary_line<'a>(stderr: &'a str, name: &str) -> Option<&'a str> {
    let after = stderr.split("test summary:").nth(1)?;
    after.lines().find(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        words.get(1) == Some(&name)
    })
}

/// Assert `name`'s summary line says `status` (`ok` or `FAILED`).
#[track_caller]
pub fn assert_summary(run: &Run, name: &str, status: &str) {
    let line = summary_line(&run.stderr, name)
        .unwrap_or_else(|| panic!("no summary line for {name}:\n{}", run.stderr));
    assert_eq!(line.split_whitespace().next(), Some(status), "{line}");
}
