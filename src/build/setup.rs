//! Setting up a run, shared by `melwrap build` and `melwrap test`: the sandbox basics (bwrap,
//! guest root, CA bundle), the cache (opened, locked, optionally seeded), the sandbox over a
//! workspace, and what a failed or interrupted step turns into.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};

use super::StepFailure;
use crate::cache::{self, CacheDir, CacheLock};
use crate::cli::{ExitStatus, StatusError};
use crate::diag::Diagnostic;
use crate::printer::Printer;
use crate::sandbox::probe::Bwrap;
use crate::sandbox::run::exit_code_for_signal;
use crate::sandbox::{HostPath, Rootfs, Sandbox, SandboxConfig, probe, resolve_ca_bundle};
use crate::workspace::Workspace;

/// What the sandbox needs from the host, checked before anything is created.
pub struct SandboxHost {
    pub bwrap: Bwrap,
    pub rootfs: Rootfs,
    pub ca_bundle: Option<HostPath>,
}

impl SandboxHost {
    /// Probe bwrap, then resolve `--rootfs` (`host` or a directory) and `--ca-bundle` (or its
    /// environment variable). Any problem is bad input (exit 2).
    pub fn resolve(rootfs: &str, ca_bundle: Option<&Path>) -> eyre::Result<SandboxHost> {
        let bwrap = probe::probe().map_err(|e| StatusError(ExitStatus::BadInput, e.to_string()))?;
        let rootfs = match rootfs {
            "host" => Rootfs::Host,
            dir => Rootfs::Dir(absolute(Path::new(dir), "--rootfs")?),
        };
        let ca_bundle = resolve_ca_bundle(ca_bundle)
            .map_err(|e| StatusError(ExitStatus::BadInput, e.to_string()))?;
        Ok(SandboxHost {
            bwrap,
            rootfs,
            ca_bundle,
        })
    }

    /// The sandbox configuration for steps run in `workspace` with `cache` mounted at
    /// /var/cache/melange.
    pub fn config(
        &self,
        workspace: &Workspace,
        cache: &CacheDir,
        network: bool,
    ) -> eyre::Result<SandboxConfig> {
        let mut config = SandboxConfig::new(
            self.rootfs.clone(),
            absolute(workspace.root(), "workspace")?,
        );
        config.cache = Some(absolute(cache.path(), "--cache-dir")?);
        config.network = network;
        config.ca_bundle = self.ca_bundle.clone();
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

/// Print the last lines a failed step wrote.
pub fn report_failure(failure: &StepFailure, printer: Printer) {
    if failure.tail.is_empty() {
        return;
    }
    printer.error(format!(
        "last {} line(s) of `{}`:",
        failure.tail.len(),
        failure.step
    ));
    for (_, line) in &failure.tail {
        printer.raw(&format!("  {line}"));
    }
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
