//! Shared fixtures for the `melwrap build` tests: a scratch directory any uid can use, the
//! binary run with a cleared environment (as root or as uid 65534 through `setpriv`), and
//! small helpers to read what the steps left behind.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use crate::support::Run;

/// A variable set in melwrap's own environment that must never reach a step.
pub const CANARY: &str = "MELWRAP_TEST_CANARY";

/// Who runs melwrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The test process's own uid (root on CI).
    Root,
    /// uid/gid 65534 through `setpriv --reuid --regid --clear-groups` when the tests run as
    /// root; else the test process's own (ordinary) uid, directly.
    Nobody,
}

/// Both identities, for tests that must hold for each.
pub const BOTH: [Who; 2] = [Who::Root, Who::Nobody];

impl Who {
    /// The host uid this identity has.
    pub fn host_uid(self) -> u32 {
        match self {
            // SAFETY: geteuid has no preconditions.
            Who::Root => unsafe { libc::geteuid() },
            Who::Nobody => crate::support::unpriv::unprivileged_uid(),
        }
    }
}

/// Skip the calling test (return) when bwrap cannot run; fail under CI.
macro_rules! require_bwrap {
    () => {
        if $crate::support::require_bwrap().is_none() {
            return;
        }
    };
}
pub(crate) use require_bwrap;

/// True when the tests can switch to another uid (they run as root).
/// When they cannot, the test's own-uid variant already is the unprivileged path.
pub fn can_drop_privileges() -> bool {
    let root = crate::support::unpriv::can_switch_users();
    if !root {
        eprintln!(
            "skipped the uid 65534 variant: the tests run as an ordinary user, \
             which the own-uid variant covers"
        );
    }
    root
}

/// The users a scenario runs as: root, then uid 65534 when [`can_drop_privileges`].
pub fn users() -> impl Iterator<Item = Who> {
    BOTH.into_iter()
        .filter(|&who| who == Who::Root || can_drop_privileges())
}

/// A scratch directory: `src/` (the source dir, holding `melange.yaml`), `cache/` (not created:
/// melwrap creates it), `out/`, `home/` (melwrap's HOME) and `tmp/` (melwrap's TMPDIR, where
/// temporary workspaces go). Everything is world-writable so uid 65534 can use it.
pub struct TestEnv {
    dir: crate::support::unpriv::TempTree,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("melwrap-build-test-")
            .tempdir_in("/tmp")
            .unwrap();
        open_up(dir.path());
        for sub in ["src", "out", "home", "tmp"] {
            fs_err::create_dir(dir.path().join(sub)).unwrap();
            open_up(&dir.path().join(sub));
        }
        TestEnv {
            dir: crate::support::unpriv::TempTree(dir),
        }
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
    pub fn out(&self) -> PathBuf {
        self.root().join("out")
    }
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root().join("tmp")
    }

    /// Write `src/<name>` (parents created, world-readable).
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.src().join(name);
        let parent = path.parent().unwrap();
        fs_err::create_dir_all(parent).unwrap();
        open_up(parent);
        fs_err::write(&path, text).unwrap();
        path
    }

    /// Write `src/melange.yaml`: a package header followed by `body` (top-level YAML keys).
    pub fn config(&self, body: &str) -> PathBuf {
        self.write("melange.yaml", &package_yaml("test-pkg", body))
    }

    /// Create the cache dir now (world-writable), for tests that put things in it first.
    pub fn make_cache(&self) -> PathBuf {
        let cache = self.cache();
        fs_err::create_dir_all(&cache).unwrap();
        open_up(&cache);
        cache
    }

    /// Create `ws/` now (world-writable), for `--workspace-dir ws` runs whose workspace the
    /// test reads afterwards.
    pub fn make_workspace(&self) -> PathBuf {
        let ws = self.root().join("ws");
        fs_err::create_dir(&ws).unwrap();
        open_up(&ws);
        ws
    }

    /// Read a file the steps left in the cache dir.
    #[track_caller]
    pub fn cached(&self, name: &str) -> String {
        fs_err::read_to_string(self.cache().join(name)).unwrap()
    }

    /// The melwrap binary with a cleared environment: PATH, NO_COLOR=1, HOME=home/,
    /// TMPDIR=tmp/ and the canary. Runs in the scratch dir.
    pub fn melwrap(&self, who: Who) -> Command {
        let bin = env!("CARGO_BIN_EXE_melwrap");
        let mut cmd = match who {
            Who::Root => Command::new(bin),
            Who::Nobody => crate::support::unpriv::as_nobody(bin),
        };
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            )
            .env("NO_COLOR", "1")
            .env("HOME", self.home())
            .env("TMPDIR", self.tmp())
            .env(CANARY, "leaked-from-the-host")
            .current_dir(self.root());
        cmd
    }

    /// `melwrap build src/melange.yaml --out-dir out --cache-dir cache ARGS...` (no
    /// `--cache-dir cache` when ARGS has its own).
    pub fn build_cmd(&self, who: Who, args: &[&str]) -> Command {
        let mut cmd = self.melwrap(who);
        cmd.args(["build", "src/melange.yaml", "--out-dir", "out"]);
        if !args.contains(&"--cache-dir") {
            cmd.args(["--cache-dir", "cache"]);
        }
        cmd.args(args);
        cmd
    }

    /// Run a build to completion.
    pub fn build(&self, who: Who, args: &[&str]) -> Run {
        Run::from(self.build_cmd(who, args).output().unwrap())
    }

    /// Entries left in melwrap's TMPDIR (temporary workspaces that were not removed).
    pub fn leftovers(&self) -> Vec<String> {
        fs_err::read_dir(self.tmp())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

/// A config: a package header named `name`, then `body`.
pub fn package_yaml(name: &str, body: &str) -> String {
    format!(
        "package:\n  name: {name}\n  version: 1.0.0\n  epoch: 0\n  description: test\n  \
         copyright:\n    - license: MIT\n{body}"
    )
}

pub use crate::support::open_up;

/// Owner uid of a host file.
pub fn owner(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    fs_err::metadata(path).unwrap().uid()
}

/// Host pids whose command line contains `marker`.
pub fn pids_with(marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in fs_err::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(marker) {
                pids.push(pid);
            }
        }
    }
    pids
}

pub use crate::support::wait_until;
