//! One step's `bwrap` command line, built as data and rendered without I/O.
//!
//! [`bwrap_args`] turns a [`SandboxConfig`] and a [`StepCommand`] into a list of [`Arg`]s, in
//! commented groups read top to bottom like bubblewrap's own `demos/bubblewrap-shell.sh`:
//! root, system mounts, workspace, cache, host files, read-only remounts, identity,
//! environment, namespaces and lifetime, command. bwrap applies mount operations in the order
//! given, so a later mount shadows an earlier one; the order here is part of the contract and
//! is tested. [`bwrap_args`] and [`to_argv`] are pure: they see the rootfs only through the
//! [`RootTree`] the caller passes in. Only [`SandboxConfig::new`] and
//! [`Identity::for_current_user`] look at the host, to fill in defaults.
//!
//! melange's equivalent is `pkg/container/bubblewrap_runner.go` (semantics section 5.1). The
//! differences are deliberate and listed in the README: a read-only guest root, a private
//! network, IPC and UTS namespace on request or always, no capabilities, a fresh `/tmp`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use super::build_ids::BuildIds;
use super::limits::Resources;
use super::root::{self, MountKind, MountRequest, RootTree};
use crate::guest;

/// The file descriptor `run` gives bwrap for its JSON status (`--json-status-fd`).
pub const STATUS_FD: i32 = 3;

/// An absolute path on the host. Only host paths can be the source of a bind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPath(PathBuf);

impl HostPath {
    /// An absolute host path; relative paths are rejected so a bind never depends on the CWD.
    pub fn new(path: impl Into<PathBuf>) -> Result<HostPath, PathError> {
        let path = path.into();
        if path.is_absolute() {
            Ok(HostPath(path))
        } else {
            Err(PathError(format!(
                "host path `{}` is not absolute",
                path.display()
            )))
        }
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for HostPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for HostPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.display().fmt(f)
    }
}

/// An absolute path inside the sandbox, normalised: no `.`, `..`, empty or trailing
/// components (`..` stops at `/`, as it does in a chroot).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GuestPath(String);

impl GuestPath {
    pub fn new(path: impl AsRef<str>) -> Result<GuestPath, PathError> {
        let path = path.as_ref();
        if !path.starts_with('/') {
            return Err(PathError(format!("guest path `{path}` is not absolute")));
        }
        Ok(GuestPath::root().join(path))
    }

    /// `/`.
    pub fn root() -> GuestPath {
        GuestPath("/".to_string())
    }

    /// `self` joined with a relative or absolute path, normalised. An absolute `rel` replaces
    /// `self`, as in a shell `cd`.
    pub fn join(&self, rel: &str) -> GuestPath {
        let mut parts: Vec<&str> = if rel.starts_with('/') {
            Vec::new()
        } else {
            self.components().collect()
        };
        for part in rel.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        GuestPath(format!("/{}", parts.join("/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The path's names, outermost first (none for `/`).
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('/').filter(|p| !p.is_empty())
    }

    /// The containing directory (`/` for `/`).
    pub fn parent(&self) -> GuestPath {
        self.join("..")
    }

    /// The last name, or `None` for `/`.
    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    /// True when `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &GuestPath) -> bool {
        other.is_root() || self.0 == other.0 || self.0.starts_with(&format!("{}/", other.0))
    }
}

impl fmt::Display for GuestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A path that is not what the sandbox needs (relative where absolute is required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub String);

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PathError {}

/// A namespace bwrap can unshare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    User,
    Pid,
    Ipc,
    Uts,
    Net,
}

/// One bwrap operation. Mount operations apply in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// `--bind SRC DEST`: read-write bind.
    Bind { src: HostPath, dest: GuestPath },
    /// `--ro-bind SRC DEST`: read-only bind (bwrap also sets `nosuid` and `nodev`).
    RoBind { src: HostPath, dest: GuestPath },
    /// `--ro-bind-try SRC DEST`: like [`Arg::RoBind`], skipped when SRC does not exist.
    RoBindTry { src: HostPath, dest: GuestPath },
    /// `--tmpfs DEST`: a fresh, empty tmpfs.
    Tmpfs(GuestPath),
    /// `--dev DEST`: a minimal `/dev` (null, zero, full, random, urandom, tty, pts, shm).
    Dev(GuestPath),
    /// `--proc DEST`: a procfs for the sandbox's own PID namespace.
    Proc(GuestPath),
    /// `--symlink TARGET LINK`.
    Symlink { target: String, link: GuestPath },
    /// `--remount-ro DEST`: make one mount read-only once everything under it exists.
    RemountRo(GuestPath),
    /// `--unshare-*`.
    Unshare(Namespace),
    /// `--uid N` (needs a user namespace).
    Uid(u32),
    /// `--gid N` (needs a user namespace).
    Gid(u32),
    /// `--cap-drop CAP` (`ALL` drops every capability).
    CapDrop(String),
    /// `--clearenv`: start the command from an empty environment.
    ClearEnv,
    /// `--setenv KEY VALUE`.
    SetEnv(String, String),
    /// `--chdir DIR`.
    Chdir(GuestPath),
    /// `--die-with-parent`: the sandbox is killed when bwrap's parent (melwrap) dies.
    DieWithParent,
    /// `--new-session`: `setsid()`, so a step cannot push input into melwrap's terminal
    /// (TIOCSTI, CVE-2017-5226).
    NewSession,
    /// `--json-status-fd FD`: bwrap reports the child's pid and exit code on FD.
    JsonStatusFd(i32),
    /// `-- ARGV...`: the command; always last.
    Command(Vec<String>),
}

impl Arg {
    fn push_to(&self, out: &mut Vec<OsString>) {
        let mut push = |s: &str| out.push(OsString::from(s));
        match self {
            Arg::Bind { src, dest } | Arg::RoBind { src, dest } => {
                push(if matches!(self, Arg::Bind { .. }) {
                    "--bind"
                } else {
                    "--ro-bind"
                });
                out.push(src.as_path().as_os_str().to_owned());
                out.push(OsString::from(dest.as_str()));
            }
            Arg::RoBindTry { src, dest } => {
                push("--ro-bind-try");
                out.push(src.as_path().as_os_str().to_owned());
                out.push(OsString::from(dest.as_str()));
            }
            Arg::Tmpfs(p) => {
                push("--tmpfs");
                push(p.as_str());
            }
            Arg::Dev(p) => {
                push("--dev");
                push(p.as_str());
            }
            Arg::Proc(p) => {
                push("--proc");
                push(p.as_str());
            }
            Arg::Symlink { target, link } => {
                push("--symlink");
                push(target);
                push(link.as_str());
            }
            Arg::RemountRo(p) => {
                push("--remount-ro");
                push(p.as_str());
            }
            Arg::Unshare(ns) => push(match ns {
                Namespace::User => "--unshare-user",
                Namespace::Pid => "--unshare-pid",
                Namespace::Ipc => "--unshare-ipc",
                Namespace::Uts => "--unshare-uts",
                Namespace::Net => "--unshare-net",
            }),
            Arg::Uid(n) => {
                push("--uid");
                push(&n.to_string());
            }
            Arg::Gid(n) => {
                push("--gid");
                push(&n.to_string());
            }
            Arg::CapDrop(c) => {
                push("--cap-drop");
                push(c);
            }
            Arg::ClearEnv => push("--clearenv"),
            Arg::SetEnv(k, v) => {
                push("--setenv");
                push(k);
                push(v);
            }
            Arg::Chdir(p) => {
                push("--chdir");
                push(p.as_str());
            }
            Arg::DieWithParent => push("--die-with-parent"),
            Arg::NewSession => push("--new-session"),
            Arg::JsonStatusFd(fd) => {
                push("--json-status-fd");
                push(&fd.to_string());
            }
            Arg::Command(argv) => {
                push("--");
                for a in argv {
                    push(a);
                }
            }
        }
    }
}

/// The bwrap arguments (without the program name), in order.
pub fn to_argv(args: &[Arg]) -> Vec<OsString> {
    let mut out = Vec::new();
    for arg in args {
        arg.push_to(&mut out);
    }
    out
}

/// The whole command as one shell-quoted line that can be pasted into a shell (`--dry-run`).
/// `--json-status-fd` is left out: it only makes sense with the descriptor `run` provides.
pub fn display_command(bwrap: &Path, args: &[Arg]) -> String {
    let shown: Vec<Arg> = args
        .iter()
        .filter(|a| !matches!(a, Arg::JsonStatusFd(_)))
        .cloned()
        .collect();
    let mut words = vec![bwrap.to_string_lossy().into_owned()];
    words.extend(
        to_argv(&shown)
            .into_iter()
            .map(|s| s.to_string_lossy().into_owned()),
    );
    shell_words::join(words)
}

/// What the guest's `/` is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rootfs {
    /// The host's system directories, read-only: [`root::HOST_SYSTEM_DIRS`] that exist, with
    /// merged-`/usr` symlinks recreated as symlinks. Nothing of `/home`, `/root`, `/run`,
    /// `/var`, `/srv`, `/mnt` or `/tmp`.
    Host,
    /// An extracted root filesystem (Alpine, Wolfi, Debian), read-only at `/`.
    Dir(HostPath),
}

/// Who the step runs as (melange `pkg/build/build.go`, semantics 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// melwrap runs as root: bwrap runs as the unprivileged build ids (see
    /// [`super::build_ids`]) and maps the step's uid and gid 0 onto them in a user namespace,
    /// with every capability dropped. The step is "root" to itself (melange runs steps as
    /// root) and an ordinary user to the host.
    Root(BuildIds),
    /// An ordinary user: a user namespace maps the invoking user to `uid`/`gid` inside, so
    /// files written to the workspace and cache belong to the invoking user on the host.
    Build { uid: u32, gid: u32 },
}

impl Identity {
    /// melange's choice for the current process: [`Identity::Root`] when the effective uid is
    /// 0 (with the build ids from `$MELWRAP_BUILD_UID` or the default; a bad value is
    /// reported by the commands that run steps), otherwise uid/gid 1000 (hard-coded in
    /// melange, whatever the `build` user's uid).
    pub fn for_current_user() -> Identity {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            Identity::Root(BuildIds::from_env().unwrap_or_default())
        } else {
            Identity::Build {
                uid: 1000,
                gid: 1000,
            }
        }
    }
}

/// Everything about the sandbox that is the same for every step of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    pub rootfs: Rootfs,
    /// Bound read-write at `/home/build`. Must exist.
    pub workspace: HostPath,
    /// Bound read-write at `/var/cache/melange` (resolve symlinks first, as melange does).
    pub cache: Option<HostPath>,
    /// Host networking when true; a private network namespace with only loopback otherwise.
    pub network: bool,
    pub identity: Identity,
    /// Further read-only binds, after the cache.
    pub extra_ro_binds: Vec<(HostPath, GuestPath)>,
    /// Symlinks `(target, link)` to create after the extra binds (`melwrap test` shows a
    /// package's symlinks this way). A link replaces whatever the rootfs has at its path.
    pub extra_symlinks: Vec<(String, GuestPath)>,
    /// The host file shown at `/etc/resolv.conf` when the network is on (already resolved to
    /// a real path, see `prepare::host_resolv_conf`). Ignored with the network off.
    pub resolv_conf: Option<HostPath>,
    /// A CA bundle to show at [`super::CA_GUEST_PATH`] and name in the TLS variables (the
    /// `--ca-bundle` option). Never taken from the host implicitly.
    pub ca_bundle: Option<HostPath>,
    /// Limits for every process of a step (`--pids`, `--memory`).
    pub resources: Resources,
}

impl SandboxConfig {
    /// A config with melwrap's defaults: no cache, network on (as in melange), the current
    /// user's [`Identity`], the host's resolv.conf (see `prepare::host_resolv_conf`), no extra
    /// binds, no CA bundle.
    pub fn new(rootfs: Rootfs, workspace: HostPath) -> SandboxConfig {
        SandboxConfig {
            rootfs,
            workspace,
            cache: None,
            network: true,
            identity: Identity::for_current_user(),
            extra_ro_binds: Vec::new(),
            extra_symlinks: Vec::new(),
            resolv_conf: super::prepare::host_resolv_conf(),
            ca_bundle: None,
            // SAFETY: geteuid has no preconditions and cannot fail.
            resources: Resources::defaults(unsafe { libc::geteuid() } == 0),
        }
    }

    /// Every mount on top of the root, in the order they are applied.
    pub(crate) fn mount_requests(&self) -> Vec<MountRequest> {
        let guest = |p: &str| GuestPath::new(p).expect("constant guest paths are absolute");
        let mut reqs = vec![
            MountRequest::new(MountKind::Dev, guest("/dev")),
            MountRequest::new(MountKind::Proc, guest("/proc")),
            MountRequest::new(MountKind::Tmpfs, guest("/tmp")),
            MountRequest::new(
                MountKind::Bind(self.workspace.clone()),
                guest(guest::WORKSPACE),
            ),
        ];
        if let Some(cache) = &self.cache {
            reqs.push(MountRequest::new(
                MountKind::Bind(cache.clone()),
                guest(guest::CACHE),
            ));
        }
        if self.network
            && let Some(resolv) = &self.resolv_conf
        {
            reqs.push(MountRequest::new(
                MountKind::RoFile(resolv.clone()),
                guest("/etc/resolv.conf"),
            ));
        }
        if let Some(ca) = &self.ca_bundle {
            reqs.push(MountRequest::new(
                MountKind::RoFile(ca.clone()),
                guest(super::env::CA_GUEST_PATH),
            ));
        }
        for (src, dest) in &self.extra_ro_binds {
            reqs.push(MountRequest::new(
                MountKind::RoBind(src.clone()),
                dest.clone(),
            ));
        }
        for (target, link) in &self.extra_symlinks {
            reqs.push(MountRequest::new(
                MountKind::Symlink(target.clone()),
                link.clone(),
            ));
        }
        reqs
    }
}

/// The command one step runs, with its final environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepCommand {
    /// Program and arguments, run inside the guest (the program is a guest path).
    pub argv: Vec<String>,
    /// The complete environment, in `--setenv` order; nothing else is inherited.
    pub env: Vec<(String, String)>,
    /// The step's working directory. The wrapper script creates it and `cd`s there; bwrap
    /// itself starts in `/home/build`, which always exists.
    pub workdir: GuestPath,
}

impl StepCommand {
    /// `SHELL... WRAPPED-SCRIPT`: the step's script inside melange's wrapper (semantics 3.6),
    /// run by `shell` (from [`super::shell_for`], ending in `-c`).
    pub fn script(
        shell: &[String],
        workdir: GuestPath,
        script: &str,
        env: Vec<(String, String)>,
        debug: bool,
    ) -> StepCommand {
        let mut argv = shell.to_vec();
        argv.push(super::shell::wrap_script(&workdir, script, debug));
        StepCommand { argv, env, workdir }
    }
}

/// The bwrap arguments for one step. Pure: the rootfs is only seen through `tree`.
pub fn bwrap_args(cfg: &SandboxConfig, tree: &dyn RootTree, cmd: &StepCommand) -> Vec<Arg> {
    build(cfg, tree, cmd, true)
}

/// The arguments for an interactive debug shell in the same sandbox as a failed step
/// (melange `--interactive`, semantics 9): no `--new-session` (it breaks job control), the
/// step's environment plus `HISTFILE` and `TERM`, starting in the step's working directory.
/// The caller runs it on its own pseudo-terminal ([`super::pty`]).
///
/// The shell reads no file a step could have written: bash runs with `--norc --noprofile`
/// and `INPUTRC=/dev/null`, no shell is a login shell (no `~/.profile`), and the variables
/// that make a shell run code at start or at each prompt are dropped from the step's
/// environment ([`super::shell::debug_shell_command`]).
pub fn interactive_args(
    cfg: &SandboxConfig,
    tree: &dyn RootTree,
    shell: &[String],
    failed: &StepCommand,
    term: Option<&str>,
) -> Vec<Arg> {
    let cmd = super::shell::debug_shell_command(shell, failed, term);
    build(cfg, tree, &cmd, false)
}

fn build(cfg: &SandboxConfig, tree: &dyn RootTree, cmd: &StepCommand, session: bool) -> Vec<Arg> {
    let mut args = Vec::new();
    let mounts = root::plan(&cfg.rootfs, tree, &cfg.mount_requests());

    // Root: the rootfs read-only at `/`, or a tmpfs `/` holding read-only binds of its entries
    // (always for the host; for a directory only when a mount point below it is missing).
    args.extend(mounts.root);

    // System mounts, workspace, cache, host files (resolv.conf, CA bundle) and extra binds,
    // in `SandboxConfig::mount_requests` order, at their paths resolved inside the guest.
    for (req, dest) in mounts.requests {
        args.push(match req.kind {
            MountKind::Dev => Arg::Dev(dest),
            MountKind::Proc => Arg::Proc(dest),
            MountKind::Tmpfs => Arg::Tmpfs(dest),
            MountKind::Bind(src) => Arg::Bind { src, dest },
            MountKind::RoBind(src) | MountKind::RoFile(src) => Arg::RoBind { src, dest },
            MountKind::Symlink(target) => Arg::Symlink { target, link: dest },
        });
    }

    // Read-only again: the tmpfs dirs that only exist to hold mount points (`/` for the host).
    args.extend(mounts.remount_ro.into_iter().map(Arg::RemountRo));

    // Identity (semantics 5.2). Always a user namespace: as root, the step is uid 0 inside,
    // mapped onto the build ids bwrap runs as, with every capability dropped (bwrap would keep
    // them for uid 0); anyone else is the build user inside, with no capabilities either.
    // Root-only host files, /proc/sys and root's keyrings are then closed by ordinary
    // permission checks: the step is an unprivileged uid on the host.
    match cfg.identity {
        Identity::Root(_) => {
            args.push(Arg::Unshare(Namespace::User));
            args.push(Arg::Uid(0));
            args.push(Arg::Gid(0));
            args.push(Arg::CapDrop("ALL".into()));
        }
        Identity::Build { uid, gid } => {
            args.push(Arg::Unshare(Namespace::User));
            args.push(Arg::Uid(uid));
            args.push(Arg::Gid(gid));
        }
    }

    // Environment: nothing from the host; the step's final list in order (semantics 3.8).
    args.push(Arg::ClearEnv);
    for (k, v) in &cmd.env {
        args.push(Arg::SetEnv(k.clone(), v.clone()));
    }

    // Namespaces and lifetime: private PID, IPC and UTS always; network only when off. The
    // sandbox dies with melwrap, and (except for a debug shell) cannot reach its terminal.
    args.push(Arg::Unshare(Namespace::Pid));
    args.push(Arg::Unshare(Namespace::Ipc));
    args.push(Arg::Unshare(Namespace::Uts));
    if !cfg.network {
        args.push(Arg::Unshare(Namespace::Net));
    }
    args.push(Arg::DieWithParent);
    if session {
        args.push(Arg::NewSession);
    }
    if session {
        // Only `run` provides the descriptor; an interactive shell runs without it.
        args.push(Arg::JsonStatusFd(STATUS_FD));
    }
    args.push(Arg::Chdir(
        GuestPath::new(guest::WORKSPACE).expect("constant guest path"),
    ));

    // Command.
    args.push(Arg::Command(cmd.argv.clone()));
    args
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
