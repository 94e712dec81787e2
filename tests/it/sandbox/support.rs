//! Shared helpers for the real-bwrap tests: skip or fail when bwrap is unusable, a scratch
//! workspace and cache any uid can use, and running one step as root or as an unprivileged
//! uid (through `setpriv` as root, since `melwrap build` is not the seam here; directly as the
//! test process's own uid when that is an ordinary user).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use melwrap::sandbox::run::{self, RunLimits, StepOutcome, Stream, VecSink};
use melwrap::sandbox::*;

pub use crate::support::require_bwrap;
pub use crate::support::unpriv::is_root;

/// Who runs bwrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The test process's own uid (root on CI): as root, steps run as uid 0 in a user
    /// namespace, which is the build ids on the host.
    Root,
    /// An ordinary user (uid 65534 through `setpriv` when the suite is root, else the test
    /// process's own uid): steps run as the build user in a user namespace.
    Nobody,
}

pub const BOTH: [Who; 2] = [Who::Root, Who::Nobody];

/// A scratch area: `ws/` (the workspace) and `cache/`, writable by every uid.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("melwrap-sandbox-test-")
            .tempdir()
            .unwrap();
        open_up(dir.path());
        for sub in ["ws", "cache"] {
            fs_err::create_dir(dir.path().join(sub)).unwrap();
            open_up(&dir.path().join(sub));
        }
        Scratch { dir }
    }

    pub fn ws(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// A config for `who` over the host rootfs, with this workspace and cache.
    pub fn config(&self, who: Who) -> SandboxConfig {
        let mut cfg = SandboxConfig::new(
            Rootfs::Host,
            HostPath::new(self.ws()).unwrap(),
            &melwrap::sandbox::HostDefaults::read(),
        );
        cfg.cache = Some(HostPath::new(self.cache()).unwrap());
        cfg.identity = match who {
            Who::Root => Identity::for_current_user(),
            Who::Nobody => Identity::Build {
                uid: 1000,
                gid: 1000,
            },
        };
        cfg
    }
}

pub use crate::support::open_up;

/// The plan-level environment a typical build has.
pub fn base_env() -> BTreeMap<String, String> {
    [("SOURCE_DATE_EPOCH", "0"), ("HOME", "/home/build")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Program and arguments that run bwrap `argv` as `who`.
pub fn launcher(bwrap: &Path, who: Who, argv: Vec<OsString>) -> (PathBuf, Vec<OsString>) {
    match who {
        Who::Root => (bwrap.to_path_buf(), argv),
        Who::Nobody => crate::support::unpriv::unprivileged_launcher(bwrap, argv),
    }
}

/// Run `script` as one step (melange's wrapper, the sandbox's shell) and collect its output.
pub fn run_script(
    bwrap: &probe::Bwrap,
    who: Who,
    cfg: SandboxConfig,
    script: &str,
    step_env: &BTreeMap<String, String>,
    limits: RunLimits,
) -> (StepOutcome, VecSink) {
    let sandbox = Sandbox::prepare(cfg).unwrap();
    let env = step_environment(&base_env(), step_env, &sandbox.env_defaults());
    run_step(
        bwrap,
        who,
        &sandbox,
        "/home/build",
        script,
        env,
        false,
        limits,
    )
}

/// [`run_script`] as root in `scratch`'s sandbox, with no step environment and no limits.
pub fn run_as_root(
    bwrap: &probe::Bwrap,
    scratch: &Scratch,
    script: &str,
) -> (StepOutcome, VecSink) {
    run_script(
        bwrap,
        Who::Root,
        scratch.config(Who::Root),
        script,
        &BTreeMap::new(),
        RunLimits::default(),
    )
}

/// Run `script` in a prepared sandbox, in `workdir`, with exactly `env`, as `who`.
#[allow(clippy::too_many_arguments)]
pub fn run_step(
    bwrap: &probe::Bwrap,
    who: Who,
    sandbox: &Sandbox,
    workdir: &str,
    script: &str,
    env: Vec<(String, String)>,
    debug: bool,
    limits: RunLimits,
) -> (StepOutcome, VecSink) {
    let cmd = StepCommand::script(
        &sandbox.shell(),
        GuestPath::new(workdir).unwrap(),
        script,
        env,
        debug,
    );
    let launch = sandbox.launch(&cmd);
    let (program, args) = launcher(&bwrap.path, who, launch.args);
    let mut sink = VecSink::default();
    let outcome = run::run(&program, &args, &launch.child, &mut sink, limits).unwrap();
    (outcome, sink)
}

/// stdout lines, joined.
pub fn stdout(sink: &VecSink) -> String {
    sink.of(Stream::Stdout).join("\n")
}

/// Everything, for assertion messages.
pub fn all(sink: &VecSink) -> String {
    sink.lines
        .iter()
        .map(|(s, l)| format!("{}{l}", if *s == Stream::Stderr { "E: " } else { "" }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Host processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs_err::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(marker) {
            found.push(format!("{name}: {cmdline}"));
        }
    }
    found
}

/// A tiny read-only rootfs: the host's busybox, its libraries, and one symlink per applet.
pub fn busybox_rootfs() -> Option<tempfile::TempDir> {
    let busybox = Path::new("/usr/bin/busybox");
    if !busybox.exists() {
        eprintln!("skipped: no busybox on this host");
        return None;
    }
    let root = tempfile::Builder::new()
        .prefix("melwrap-rootfs-")
        .tempdir()
        .unwrap();
    let r = root.path();
    fs_err::create_dir_all(r.join("bin")).unwrap();
    fs_err::copy(busybox, r.join("bin/busybox")).unwrap();
    let ldd = Command::new("ldd").arg(busybox).output().unwrap();
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let dest = r.join(lib.trim_start_matches('/'));
        fs_err::create_dir_all(dest.parent().unwrap()).unwrap();
        fs_err::copy(lib, dest).unwrap();
    }
    let list = Command::new(busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", r.join("bin").join(applet)).unwrap();
        }
    }
    // Like an Alpine root: /etc and /var/cache exist, without resolv.conf or melange.
    fs_err::create_dir_all(r.join("etc")).unwrap();
    fs_err::write(r.join("etc/hostname"), "rootfs\n").unwrap();
    fs_err::create_dir_all(r.join("var/cache/apk")).unwrap();
    Some(root)
}
