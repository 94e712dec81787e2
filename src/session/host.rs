//! The host side of a session: the sandbox basics (bwrap, guest root, CA bundle, build ids,
//! limits), handing the cache and workspace to the build ids, the cache (opened, locked,
//! optionally seeded), and what an interrupted step turns into.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};

use super::Limits;
use crate::cache::{self, CacheDir, CacheLock};
use crate::diag::Diagnostic;
use crate::printer::Printer;
use crate::safefs::Dir;
use crate::sandbox::limits::{parse_memory, parse_pids};
use crate::sandbox::probe::Bwrap;
use crate::sandbox::run::exit_code_for_signal;
use crate::sandbox::{
    BuildIds, HostDefaults, HostPath, Identity, Resources, Rootfs, Sandbox, SandboxConfig,
    host_resolv_conf, probe, resolve_ca_bundle,
};
use crate::status::{ExitStatus, StatusError};
use crate::workspace::Workspace;

/// What the sandbox needs from the host, checked before anything is created.
#[derive(Debug)]
pub struct SandboxHost {
    pub bwrap: Bwrap,
    pub rootfs: Rootfs,
    pub ca_bundle: Option<HostPath>,
    /// Who steps run as (with the build ids from `--build-uid` when root).
    pub identity: Identity,
    pub resources: Resources,
    /// A guest's per-session writable layers (set with the guest, removed with the host).
    pub overlay: Option<super::layers::GuestLayers>,
}

impl SandboxHost {
    /// Check `--build-uid`, `--pids` and `--memory`, probe bwrap, then resolve `--rootfs`
    /// (`host` or a directory) and `--ca-bundle` (or its environment variable). Any problem
    /// is bad input (exit 2).
    pub fn resolve(
        rootfs: &str,
        ca_bundle: Option<&Path>,
        limits: &Limits,
    ) -> eyre::Result<SandboxHost> {
        let bad = |flag: &str, e: String| Diagnostic::new(flag, e);
        let mut identity = Identity::for_current_user();
        // Checked whoever runs melwrap; used only by root (rootless steps are the user).
        if let Some(text) = &limits.build_uid {
            let chosen =
                BuildIds::parse(text).map_err(|e| bad("--build-uid (MELWRAP_BUILD_UID)", e))?;
            if let Identity::Root(ids) = &mut identity {
                *ids = chosen;
            }
        }
        let pids = limits
            .pids
            .as_deref()
            .map(parse_pids)
            .transpose()
            .map_err(|e| bad("--pids", e))?;
        let memory = limits
            .memory
            .as_deref()
            .map(parse_memory)
            .transpose()
            .map_err(|e| bad("--memory", e))?;
        let resources =
            Resources::defaults(matches!(identity, Identity::Root(_))).with(pids, memory);
        let bwrap = probe::probe().map_err(|e| StatusError(ExitStatus::BadInput, e.to_string()))?;
        let rootfs = match rootfs {
            // `auto` and `apk` become a guest directory once the config is resolved
            // (`session::root::choose`); until then nothing is read from disk for them.
            "host" | "auto" | "apk" => Rootfs::Host,
            dir => Rootfs::Dir(absolute(Path::new(dir), "--rootfs")?),
        };
        let ca_bundle = resolve_ca_bundle(ca_bundle)
            .map_err(|e| StatusError(ExitStatus::BadInput, e.to_string()))?;
        Ok(SandboxHost {
            bwrap,
            rootfs,
            ca_bundle,
            identity,
            resources,
            overlay: None,
        })
    }

    /// As root, give `dir` and everything in it to the build ids, so steps can write there
    /// (through descriptors: a link a step planted is changed itself, never followed).
    /// Rootless, steps already are the invoking user.
    pub fn hand_over(&self, dir: &Dir) -> eyre::Result<()> {
        if let Identity::Root(ids) = self.identity {
            dir.chown_tree(ids.uid, ids.gid).wrap_err_with(|| {
                format!("cannot give {} to the build {ids}", dir.path().display())
            })?;
        }
        Ok(())
    }

    /// As root: the workspace (and the private directory a temporary one sits in) becomes the
    /// build ids' own, mode 0700 (only they and root can enter it).
    pub fn hand_over_workspace(&self, workspace: &Workspace) -> eyre::Result<()> {
        if let Identity::Root(ids) = self.identity {
            workspace.dir().set_mode(0o700)?;
            self.hand_over(workspace.dir())?;
            // The private parent of a temporary workspace too (owner-only either way), so the
            // commands a dry run prints can reach the workspace as the build ids.
            if let Some(parent) = workspace.private_parent() {
                Dir::open_anchor(parent)?.chown_self(Some(ids.uid), Some(ids.gid))?;
            }
        }
        Ok(())
    }

    /// As root: each package's `melange-out/` goes to the build ids before its steps (opened
    /// without following a link an earlier step may have put there).
    pub fn hand_over_destdirs(&self, workspace: &Workspace) -> eyre::Result<()> {
        if let Identity::Root(_) = self.identity {
            let out = workspace
                .dir()
                .open_dir(crate::guest::OUT_DIR_NAME)
                .wrap_err_with(|| {
                    workspace
                        .root()
                        .join(crate::guest::OUT_DIR_NAME)
                        .display()
                        .to_string()
                })?;
            self.hand_over(&out)?;
        }
        Ok(())
    }

    /// As root: the cache root becomes mode 0700, and a cache the build ids do not own yet
    /// (new, or used by root builds before melwrap had build ids), or one `--cache-source`
    /// just filled, is given to them whole, once; otherwise only the link targets melwrap may
    /// just have created.
    pub fn hand_over_cache(
        &self,
        cache: &CacheDir,
        preloaded: bool,
        printer: Printer,
    ) -> eyre::Result<()> {
        let Identity::Root(ids) = self.identity else {
            return Ok(());
        };
        let dir = cache.dir()?;
        let stat = dir.stat()?;
        // Only the build ids (and root) may enter: a setuid file of theirs that a step plants
        // is out of other users' reach while the build runs (the scrub clears the bits after).
        if stat.mode() & 0o077 != 0 {
            dir.set_mode(0o700)?;
        }
        if preloaded || stat.uid() != ids.uid || stat.gid() != ids.gid {
            if stat.uid() != ids.uid && !dir.read_names()?.is_empty() {
                printer.info(format!(
                    "cache {}: giving it to the build {ids}, which steps run as",
                    cache.path().display()
                ));
            }
            self.hand_over(&dir)
        } else {
            for name in ["cargo", "m2repository"] {
                match dir.open_dir(name) {
                    Ok(area) => self.hand_over(&area)?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e)
                            .wrap_err_with(|| format!("{}/{name}", cache.path().display()));
                    }
                }
            }
            Ok(())
        }
    }

    /// The sandbox configuration for steps run in `workspace` with `cache` mounted at
    /// /var/cache/melange.
    pub fn config(
        &self,
        workspace: &Workspace,
        cache: &CacheDir,
        network: bool,
    ) -> eyre::Result<SandboxConfig> {
        let defaults = HostDefaults {
            identity: self.identity,
            resources: self.resources,
            resolv_conf: host_resolv_conf(),
        };
        let workspace = absolute(workspace.root(), "workspace")?;
        let mut config = SandboxConfig::new(self.rootfs.clone(), workspace, &defaults);
        config.cache = Some(absolute(cache.path(), "--cache-dir")?);
        config.network = network;
        config.ca_bundle = self.ca_bundle.clone();
        config.overlay = self.overlay.as_ref().map(|l| l.overlay.clone());
        Ok(config)
    }
}

/// Prepare the sandbox; a configuration bwrap cannot run is bad input (exit 2).
pub fn prepare_sandbox(config: SandboxConfig) -> eyre::Result<Sandbox> {
    Sandbox::prepare(config).map_err(|e| StatusError(ExitStatus::BadInput, e.to_string()).into())
}

/// Open the cache (created when missing) and hold a shared lock on it for the whole run,
/// waiting for a `melwrap cache prune` in progress. With `seed`, entries missing from the
/// cache are copied from it first (`--cache-source`).
pub fn open_cache(
    dir: &Path,
    seed: Option<&PathBuf>,
    printer: Printer,
) -> eyre::Result<(CacheDir, CacheLock)> {
    let cache = CacheDir::open(dir, true)?;
    if cache.was_created() {
        printer.info(format!(
            "cache: created {} (mode 0700)",
            cache.path().display()
        ));
    }
    let lock = match cache.try_lock_shared()? {
        Some(lock) => lock,
        None => {
            printer.info("waiting for `melwrap cache prune` to finish with the cache…");
            cache.lock_shared()?
        }
    };
    // Steps write the cache; a group- or world-writable cache lets other users change what
    // the next build runs. melwrap creates it 0700 and leaves an existing one's mode alone.
    if let Ok(mode) = cache.mode()
        && mode & 0o022 != 0
    {
        printer.warn(format!(
            "the cache dir {} is writable by other users (mode {mode:o}): they can change what \
             later builds fetch and run; consider `chmod 700 {}`",
            cache.path().display(),
            shell_words::quote(&cache.path().to_string_lossy())
        ));
    }
    if let Some(seed) = seed {
        let stats = cache::preload(&cache, seed)
            .wrap_err_with(|| format!("cannot preload the cache from {}", seed.display()))?;
        printer.info(format!(
            "cache: preloaded {} entries from {} ({} already present)",
            stats.copied,
            seed.display(),
            stats.already_present
        ));
    }
    Ok((cache, lock))
}

/// How melwrap exits after a step was stopped by signal `sig`.
pub fn status_for_signal(sig: i32) -> ExitStatus {
    match exit_code_for_signal(sig) {
        143 => ExitStatus::Terminated,
        _ => ExitStatus::Interrupted,
    }
}

/// `path` made absolute, as the sandbox takes it; errors name `what` (a flag, say).
pub fn absolute(path: &Path, what: &str) -> Result<HostPath, Diagnostic> {
    let abs =
        std::path::absolute(path).map_err(|e| Diagnostic::new(path, format!("{what}: {e}")))?;
    HostPath::new(abs).map_err(|e| Diagnostic::new(path, format!("{what}: {e}")))
}
