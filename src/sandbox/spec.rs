//! One step's `bwrap` command line, built as data and rendered without I/O.
//!
//! [`bwrap_args`] turns a [`SandboxConfig`] and a [`StepCommand`] into a list of [`Arg`]s, in
//! commented groups read top to bottom like bubblewrap's own `demos/bubblewrap-shell.sh`:
//! root, system mounts, workspace, cache, host files, read-only remounts, identity,
//! environment, namespaces and lifetime, command. bwrap applies mount operations in the order
//! given, so a later mount shadows an earlier one; the order here is part of the contract and
//! is tested. [`bwrap_args`] and [`to_argv`](super::arg::to_argv) are pure: they see the rootfs only through the
//! [`RootTree`] the caller passes in, and the host's defaults (resolv.conf, identity, limits)
//! come in with [`HostDefaults`]: nothing here reads the host.
//!
//! melange's equivalent is `pkg/container/bubblewrap_runner.go` (semantics section 5.1). The
//! differences are deliberate and listed in docs/differences.md: a read-only root outside guests, a private
//! network, IPC and UTS namespace on request or always, no capabilities unless the config's
//! `capabilities.add` names them, a fresh `/tmp`.

use super::arg::{Arg, Namespace, STATUS_FD};
use super::build_ids::Identity;
use super::caps::CapChanges;
use super::host::HostDefaults;
use super::limits::Resources;
use super::overlay::GuestOverlay;
use super::path::{GuestPath, HostPath, Rootfs};
use super::root::{self, MountKind, MountRequest, RootTree};
use super::shell::StepCommand;
use crate::guest;

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
    /// a real path, see [`super::host::host_resolv_conf`]). Ignored with the network off.
    pub resolv_conf: Option<HostPath>,
    /// A CA bundle to show at [`super::CA_GUEST_PATH`] and name in the TLS variables (the
    /// `--ca-bundle` option). Never taken from the host implicitly.
    pub ca_bundle: Option<HostPath>,
    /// Limits for every process of a step (`--pids`, `--memory`).
    pub resources: Resources,
    /// The uid and gid the step runs as inside its user namespace when the config names a
    /// `run-as` user; `None`: the identity's own (0 as root, 1000 otherwise).
    pub step_ids: Option<(u32, u32)>,
    /// The config's `capabilities:` (none by default).
    pub capabilities: CapChanges,
    /// Fresh writable directories (the run-as user's home when the root has none).
    pub extra_tmpfs: Vec<GuestPath>,
    /// Read-only files shown at guest paths (`/etc/passwd`, `/etc/group`), mounted last so
    /// they win over the root and any tested package.
    pub ro_files: Vec<(HostPath, GuestPath)>,
    /// With a guest: the rootfs (a [`Rootfs::Dir`]) is the lower layer of this per-build
    /// writable overlay, and the root is bound read-write from its mount point.
    pub overlay: Option<GuestOverlay>,
}

impl SandboxConfig {
    /// A config with melwrap's defaults: no cache, network on (as in melange), the host's
    /// identity, resolv.conf and limits from `host` (read once with
    /// [`HostDefaults::read`]), no extra binds, no CA bundle.
    pub fn new(rootfs: Rootfs, workspace: HostPath, host: &HostDefaults) -> SandboxConfig {
        SandboxConfig {
            rootfs,
            workspace,
            cache: None,
            network: true,
            identity: host.identity,
            extra_ro_binds: Vec::new(),
            extra_symlinks: Vec::new(),
            resolv_conf: host.resolv_conf.clone(),
            ca_bundle: None,
            resources: host.resources,
            step_ids: None,
            capabilities: CapChanges::default(),
            extra_tmpfs: Vec::new(),
            ro_files: Vec::new(),
            overlay: None,
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
        for dir in &self.extra_tmpfs {
            reqs.push(MountRequest::new(MountKind::Tmpfs, dir.clone()));
        }
        for (src, dest) in &self.ro_files {
            reqs.push(MountRequest::new(
                MountKind::RoFile(src.clone()),
                dest.clone(),
            ));
        }
        reqs
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
    let mounts = root::plan_with(
        &cfg.rootfs,
        tree,
        &cfg.mount_requests(),
        cfg.overlay.is_some(),
    );

    // Root: the rootfs read-only at `/`, or a tmpfs `/` holding read-only binds of its entries
    // (always for the host; for a directory only when a mount point below it is missing). A
    // guest's overlay is bound read-write instead, from where the child mounted it.
    match &cfg.overlay {
        None => args.extend(mounts.root),
        Some(overlay) => args.extend(mounts.root.into_iter().map(|arg| match arg {
            Arg::RoBind { src, dest } => {
                match src.as_path().strip_prefix(overlay.lower.as_path()) {
                    Ok(rel) => {
                        let src = match rel.as_os_str().is_empty() {
                            true => overlay.mount_point.clone(),
                            false => HostPath::new(overlay.mount_point.as_path().join(rel))
                                .expect("absolute"),
                        };
                        if dest.is_root() {
                            Arg::Bind { src, dest }
                        } else {
                            Arg::RoBind { src, dest }
                        }
                    }
                    Err(_) => Arg::RoBind { src, dest },
                }
            }
            other => other,
        })),
    }

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

    // Identity (semantics 5.2). Always a user namespace: as root, bwrap runs as the build
    // ids and the step is uid 0 inside (or the `run-as` user), mapped onto them; anyone else
    // is the build user inside (or the `run-as` user), mapped onto the invoking user.
    // Root-only host files, /proc/sys and root's keyrings are then closed by ordinary
    // permission checks: the step is an unprivileged uid on the host.
    let (uid, gid) = cfg.step_ids.unwrap_or(match cfg.identity {
        Identity::Root(_) => (0, 0),
        Identity::Build { uid, gid } => (uid, gid),
    });
    args.push(Arg::Unshare(Namespace::User));
    args.push(Arg::Uid(uid));
    args.push(Arg::Gid(gid));
    // Capabilities: none unless the config adds them. bwrap keeps every capability for uid 0
    // inside, so they are dropped first; then the config's additions, then its drops (as
    // melange orders them). A non-zero uid holds only what is added (ambient).
    // bwrap also starts as uid 0 of a rootless overlay's user namespace and would keep
    // every capability for the step then.
    if uid == 0 || !cfg.capabilities.is_empty() || cfg.overlay.is_some() {
        args.push(Arg::CapDrop("ALL".into()));
    }
    for cap in &cfg.capabilities.add {
        args.push(Arg::CapAdd(cap.clone()));
    }
    for cap in &cfg.capabilities.drop {
        args.push(Arg::CapDrop(cap.clone()));
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
