//! Finding `bwrap` and checking that it can build a sandbox here, with a hint when it cannot.
//!
//! melange only checks that `bwrap --unshare-user true` does not print `setting up uid map`
//! (`pkg/container/bubblewrap_runner.go`, semantics 5.4); every other failure surfaces later as
//! a confusing step error. melwrap instead runs a sandbox shaped like a real step (namespaces,
//! `/proc`, `/dev`, a user namespace when not root) and turns bwrap's complaint into the fix:
//! the install command, the sysctl that blocks user namespaces, or the container option.
//! [`classify`] is pure and tested on bwrap's real messages.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::arg::{Arg, Namespace, to_argv};
use super::build_ids::Identity;
use super::child::ChildSetup;
use super::path::{GuestPath, HostPath};

/// The environment variable that names the bwrap binary, overriding `PATH`.
pub const BWRAP_ENV: &str = "MELWRAP_BWRAP";

/// A bwrap that works here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bwrap {
    /// Absolute path of the binary.
    pub path: PathBuf,
    /// Its version, such as `0.8.0`.
    pub version: String,
}

/// Why no sandbox can run here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeFailure {
    /// No bwrap on `PATH` (or `MELWRAP_BWRAP` names nothing runnable).
    NotInstalled,
    /// User namespaces are off: `kernel.unprivileged_userns_clone` or
    /// `user.max_user_namespaces`.
    UsernsDisabled,
    /// AppArmor forbids unprivileged user namespaces (Ubuntu 23.10 and later).
    AppArmor,
    /// A container (Docker, Podman, Kubernetes) forbids namespaces or new `/proc` mounts.
    Container,
    /// The kernel has no user namespaces at all.
    NoKernelSupport,
    /// Anything else: bwrap's own message is shown.
    Other,
}

/// A failed probe: what went wrong, bwrap's output, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError {
    pub failure: ProbeFailure,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n  hint: {}", self.message, self.hint)
    }
}

impl std::error::Error for ProbeError {}

/// Facts about the host that decide which fix to suggest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub in_container: bool,
    /// `/proc/sys/kernel/unprivileged_userns_clone` (Debian and older Ubuntu kernels).
    pub userns_clone: Option<String>,
    /// `/proc/sys/user/max_user_namespaces`.
    pub max_user_namespaces: Option<String>,
    /// `/proc/sys/kernel/apparmor_restrict_unprivileged_userns` (Ubuntu).
    pub apparmor_restrict: Option<String>,
    /// `/etc/os-release`, for the install command.
    pub os_release: String,
}

impl HostFacts {
    /// Read the facts from this machine.
    pub fn read() -> HostFacts {
        let sysctl = |p: &str| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
        };
        HostFacts {
            in_container: in_container(),
            userns_clone: sysctl("/proc/sys/kernel/unprivileged_userns_clone"),
            max_user_namespaces: sysctl("/proc/sys/user/max_user_namespaces"),
            apparmor_restrict: sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
            os_release: std::fs::read_to_string("/etc/os-release").unwrap_or_default(),
        }
    }
}

/// Are we inside a container? Docker and Podman leave marker files; Kubernetes, LXC and
/// systemd-nspawn show in PID 1's cgroup or environment.
pub fn in_container() -> bool {
    if Path::new("/.dockerenv").exists() || Path::new("/run/.containerenv").exists() {
        return true;
    }
    if std::env::var_os("container").is_some() {
        return true;
    }
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    ["docker", "kubepods", "containerd", "lxc", "libpod"]
        .iter()
        .any(|m| cgroup.contains(m))
}

/// The command that installs bubblewrap on the distribution `/etc/os-release` describes.
pub fn install_hint(os_release: &str) -> String {
    let ids: Vec<&str> = os_release
        .lines()
        .filter_map(|l| l.strip_prefix("ID=").or_else(|| l.strip_prefix("ID_LIKE=")))
        .flat_map(|v| v.trim_matches('"').split_whitespace())
        .collect();
    let has = |names: &[&str]| ids.iter().any(|id| names.contains(id));
    let cmd = if has(&["debian", "ubuntu"]) {
        "sudo apt-get install bubblewrap"
    } else if has(&["fedora", "rhel", "centos"]) {
        "sudo dnf install bubblewrap"
    } else if has(&["arch"]) {
        "sudo pacman -S bubblewrap"
    } else if has(&["alpine", "wolfi"]) {
        "sudo apk add bubblewrap"
    } else if has(&["suse", "opensuse"]) {
        "sudo zypper install bubblewrap"
    } else {
        return "install bubblewrap: `sudo apt-get install bubblewrap` (Debian, Ubuntu), \
                `sudo dnf install bubblewrap` (Fedora), `sudo pacman -S bubblewrap` (Arch), \
                `sudo apk add bubblewrap` (Alpine); or set MELWRAP_BWRAP to its path"
            .to_string();
    };
    format!("install it with `{cmd}`, or set {BWRAP_ENV} to the path of a bwrap binary")
}

const USERNS_SYSCTL_HINT: &str = "allow unprivileged user namespaces: \
    `sudo sysctl -w kernel.unprivileged_userns_clone=1` (Debian), \
    `sudo sysctl -w user.max_user_namespaces=15000`, or on Ubuntu \
    `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`; \
    add the same setting to /etc/sysctl.d/ to keep it after a reboot";

const CONTAINER_HINT: &str = "this looks like a container that forbids namespaces: run it with \
    `--security-opt seccomp=unconfined --security-opt apparmor=unconfined` (Docker, Podman; \
    add `--security-opt systempaths=unconfined` if /proc is masked), or run melwrap on the host";

/// Turn bwrap's stderr from a failed trial sandbox into an actionable error.
pub fn classify(stderr: &str, facts: &HostFacts) -> ProbeError {
    let said = |s: &str| stderr.contains(s);
    let message = format!(
        "bubblewrap cannot create a sandbox here: {}",
        stderr.trim().trim_start_matches("bwrap: ")
    );
    let error = |failure, hint: &str| ProbeError {
        failure,
        message: message.clone(),
        hint: hint.to_string(),
    };
    let apparmor = facts.apparmor_restrict.as_deref() == Some("1");
    if said("does not support user namespaces") {
        return error(
            ProbeFailure::NoKernelSupport,
            "this kernel has no user namespaces (CONFIG_USER_NS), which melwrap needs even \
             as root (steps run as uid 0 of a user namespace, never as host root); use a \
             kernel built with them",
        );
    }
    if said("setting up uid map") && apparmor {
        return error(
            ProbeFailure::AppArmor,
            "Ubuntu's AppArmor forbids unprivileged user namespaces: \
             `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` \
             (and put it in /etc/sysctl.d/ to keep it), or give bwrap an AppArmor profile \
             that allows `userns`",
        );
    }
    let namespace_refused = said("No permissions to creat")
        || said("Creating new namespace failed")
        || said("setting up uid map");
    if namespace_refused {
        if facts.userns_clone.as_deref() == Some("0") {
            return error(
                ProbeFailure::UsernsDisabled,
                "unprivileged user namespaces are off: \
                 `sudo sysctl -w kernel.unprivileged_userns_clone=1` \
                 (and put it in /etc/sysctl.d/ to keep it)",
            );
        }
        if facts.max_user_namespaces.as_deref() == Some("0") || said("No space left on device") {
            return error(
                ProbeFailure::UsernsDisabled,
                "user namespaces are limited to none: \
                 `sudo sysctl -w user.max_user_namespaces=15000` \
                 (and put it in /etc/sysctl.d/ to keep it)",
            );
        }
        if apparmor {
            return error(
                ProbeFailure::AppArmor,
                "Ubuntu's AppArmor forbids unprivileged user namespaces: \
                 `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`",
            );
        }
        if facts.in_container {
            return error(ProbeFailure::Container, CONTAINER_HINT);
        }
        return error(ProbeFailure::UsernsDisabled, USERNS_SYSCTL_HINT);
    }
    if (said("Can't mount proc") || said("Operation not permitted")) && facts.in_container {
        return error(ProbeFailure::Container, CONTAINER_HINT);
    }
    error(
        ProbeFailure::Other,
        "run `melwrap doctor` for a full report; the message above is bwrap's own",
    )
}

/// The trial sandbox: the same namespaces, `/dev`, `/proc` and identity as a build step, over
/// the host's `/`, running `true`.
pub fn probe_args(identity: Identity) -> Vec<OsString> {
    let guest = |p: &str| GuestPath::new(p).expect("absolute");
    let mut args = vec![
        Arg::RoBind {
            src: HostPath::new("/").expect("absolute"),
            dest: guest("/"),
        },
        Arg::Dev(guest("/dev")),
        Arg::Proc(guest("/proc")),
        Arg::Tmpfs(guest("/tmp")),
    ];
    match identity {
        Identity::Root(_) => args.extend([
            Arg::Unshare(Namespace::User),
            Arg::Uid(0),
            Arg::Gid(0),
            Arg::CapDrop("ALL".into()),
        ]),
        Identity::Build { uid, gid } => {
            args.extend([Arg::Unshare(Namespace::User), Arg::Uid(uid), Arg::Gid(gid)]);
        }
    }
    args.extend([
        Arg::ClearEnv,
        Arg::SetEnv("PATH".into(), super::DEFAULT_PATH.into()),
        Arg::Unshare(Namespace::Pid),
        Arg::Unshare(Namespace::Ipc),
        Arg::Unshare(Namespace::Uts),
        Arg::DieWithParent,
        Arg::NewSession,
        Arg::Command(vec!["true".into()]),
    ]);
    to_argv(&args)
}

/// Find bwrap: `$MELWRAP_BWRAP` (a path, or a name looked up on `PATH`), else `bwrap` on
/// `PATH`. Returns an absolute path.
pub fn find_bwrap(facts: &HostFacts) -> Result<PathBuf, ProbeError> {
    locate(std::env::var_os(BWRAP_ENV).filter(|v| !v.is_empty()), facts)
}

/// [`find_bwrap`] with the override passed in.
pub(crate) fn locate(wanted: Option<OsString>, facts: &HostFacts) -> Result<PathBuf, ProbeError> {
    let found = match &wanted {
        Some(name) => which::which(name),
        None => which::which("bwrap"),
    };
    let not_found = |message: String| ProbeError {
        failure: ProbeFailure::NotInstalled,
        message,
        hint: install_hint(&facts.os_release),
    };
    let path = found.map_err(|_| match &wanted {
        Some(name) => not_found(format!(
            "{BWRAP_ENV} names `{}`, which is not an executable file",
            Path::new(name).display()
        )),
        None => not_found("bubblewrap (`bwrap`) is not installed or not on PATH".into()),
    })?;
    Ok(fs_err::canonicalize(&path).unwrap_or(path))
}

/// Probe without the per-process cache: find bwrap, read its version, run the trial sandbox
/// as `identity` (as root, started as the build ids, exactly like a step).
pub fn probe_as(identity: Identity, facts: &HostFacts) -> Result<Bwrap, ProbeError> {
    let path = find_bwrap(facts)?;
    let setup = ChildSetup {
        drop_to: match identity {
            Identity::Root(ids) => Some(ids),
            Identity::Build { .. } => None,
        },
        ..ChildSetup::default()
    };
    let run = |args: &[OsString]| {
        let mut command = Command::new(&path);
        command
            .args(args)
            .env_clear()
            .env("LANG", "C")
            .env("PATH", super::DEFAULT_PATH)
            .stdin(Stdio::null());
        setup.install(&mut command);
        command.output()
    };
    let version = run(&["--version".into()])
        .map_err(|e| ProbeError {
            failure: ProbeFailure::NotInstalled,
            message: format!("cannot run `{}`: {e}", path.display()),
            hint: install_hint(&facts.os_release),
        })?
        .stdout;
    let version = String::from_utf8_lossy(&version)
        .trim()
        .trim_start_matches("bubblewrap")
        .trim()
        .to_string();
    let trial = run(&probe_args(identity)).map_err(|e| ProbeError {
        failure: ProbeFailure::Other,
        message: format!("cannot run `{}`: {e}", path.display()),
        hint: "check that the file is an executable bwrap binary".into(),
    })?;
    if trial.status.success() {
        Ok(Bwrap { path, version })
    } else {
        Err(classify(&String::from_utf8_lossy(&trial.stderr), facts))
    }
}

/// Find and check bwrap for the current user, once per process; later calls return the
/// first answer.
pub fn probe() -> Result<Bwrap, ProbeError> {
    static PROBE: OnceLock<Result<Bwrap, ProbeError>> = OnceLock::new();
    PROBE
        .get_or_init(|| probe_as(Identity::for_current_user(), &HostFacts::read()))
        .clone()
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
