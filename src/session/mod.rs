//! One run of steps, shared by `melwrap build` and `melwrap test`: the host probe, the cache
//! (opened, locked, seeded), the workspace (filled, handed to the build ids), the sandbox over
//! them, signals, step driving and, on every way out once a step may have run, the cache
//! scrub and the securing of a kept workspace (`session/secure.rs`). The drivers in
//! [`crate::driver`] say only what differs: which steps run, and what happens after.

pub mod accounts;
pub mod dirs;
mod host;
pub mod layers;
mod options;
pub mod root;
mod secure;
mod steps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use color_eyre::eyre::{self, WrapErr};

use crate::cache::{self, CacheDir, CacheLock};
use crate::printer::Printer;
use crate::sandbox::run as sandbox_run;
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::status::{ExitStatus, StatusError};
use crate::workspace::Workspace;

pub use host::{SandboxHost, absolute, open_cache, prepare_sandbox, status_for_signal};
pub use options::{Limits, NamedPaths, SessionOptions};
pub use secure::{finish_workspace, restore_workspace_mode, scrub_cache};
pub use steps::{PackageOutcome, StepFailure, StepRunner, report_failure};

/// What goes into the workspace besides the session options.
pub struct Fill<'a> {
    /// Copied into the workspace (secrets and melwrap's own directories left out).
    pub source: Option<&'a Path>,
    /// Files named by flags: never copied, whatever their name.
    pub secrets: Vec<PathBuf>,
    /// Link `~/.m2` and `~/.cargo`'s caches into the cache (builds, unless the cache dir is
    /// the user's Go module cache); the areas no tool used are removed after the steps.
    pub home_links: bool,
    /// Snapshot the cache for the report after the steps (builds).
    pub cache_report: bool,
}

/// How the steps of a session ended, as the driver reports it.
pub enum Ending {
    /// Everything ran.
    Done,
    /// A step or test failed; the message becomes the error.
    Failed(String),
    /// Stopped by this signal.
    Interrupted(i32),
}

/// After [`Session::drive`]: what the driver reports on.
pub struct Finished {
    pub ending: Ending,
    /// The cache before the steps (builds) and after them, for the cache report.
    pub cache_before: Option<cache::Snapshot>,
    pub cache_after: cache::Snapshot,
    /// The workspace left on disk, if any (secured).
    pub kept: Option<PathBuf>,
}

/// The cache, the workspace and the host's sandbox facts, held for one run.
pub struct Session {
    pub host: SandboxHost,
    pub cache: CacheDir,
    _lock: CacheLock,
    /// The cache dir's mode before any step (restored after them).
    cache_mode: u32,
    pub workspace: Workspace,
    pub options: SessionOptions,
    pub printer: Printer,
    /// The cache before the steps, for the report (builds).
    pub cache_before: Option<cache::Snapshot>,
    /// Cache areas created for the home links, removed after the steps when still empty.
    created_areas: Vec<PathBuf>,
}

impl Session {
    /// Open and lock the cache, create and fill the workspace, and hand both to the build
    /// ids. `host` was resolved first, so nothing is created when bwrap cannot run.
    pub fn open(
        host: SandboxHost,
        options: SessionOptions,
        arch: &str,
        fill: Fill<'_>,
        printer: Printer,
    ) -> eyre::Result<Session> {
        let (cache, lock) = open_cache(&options.cache_dir, options.cache_source.as_ref(), printer)?;
        // Restored after the steps when a step changed it (see `scrub_cache`).
        let cache_mode = cache.mode().wrap_err("cannot read the cache dir's mode")?;
        let cache_before = fill.cache_report.then(|| cache::snapshot(&cache));
        let workspace = Workspace::create(options.workspace_dir.as_deref(), arch)?;
        let mut session = Session {
            created_areas: Vec::new(),
            cache_before,
            host,
            cache,
            _lock: lock,
            cache_mode,
            workspace,
            options,
            printer,
        };
        session.created_areas = session.fill_workspace(&fill)?;
        let seeded = session.options.cache_source.is_some();
        session
            .host
            .hand_over_cache(&session.cache, seeded, printer)?;
        session.host.hand_over_workspace(&session.workspace)?;
        Ok(session)
    }

    /// Returns the cache areas it created for the home links.
    fn fill_workspace(&self, fill: &Fill<'_>) -> eyre::Result<Vec<PathBuf>> {
        let opts = &self.options;
        if let Some(source) = fill.source {
            let mut exclude = vec![self.cache.path().to_path_buf(), opts.out_dir.clone()];
            exclude.extend(opts.workspace_dir.clone());
            exclude.extend(opts.cache_source.clone());
            let copied = self.workspace.populate(source, &exclude, &fill.secrets)?;
            self.printer.detail(format!(
                "workspace {}: {} files ({} bytes) from {}",
                self.workspace.root().display(),
                copied.files,
                copied.bytes,
                source.display()
            ));
            note_withheld(&copied.withheld, self.printer);
        }
        let mut created = Vec::new();
        if fill.home_links {
            created = self
                .cache
                .prepare_link_targets()
                .wrap_err("cannot prepare the cache's link targets")?;
            cache::install_home_links(self.workspace.dir())
                .wrap_err("cannot link ~/.m2 and ~/.cargo into the cache")?;
        }
        Ok(created)
    }

    /// The sandbox configuration for steps in this session (the driver may add binds).
    pub fn sandbox_config(&self) -> eyre::Result<SandboxConfig> {
        self.host
            .config(&self.workspace, &self.cache, self.options.network)
    }

    /// A step runner over `sandbox` with `base_env` as the plan environment.
    pub fn runner<'a>(
        &'a self,
        sandbox: &'a Sandbox,
        base_env: BTreeMap<String, String>,
        deadline: Option<Instant>,
    ) -> StepRunner<'a> {
        StepRunner {
            sandbox,
            bwrap: &self.host.bwrap.path,
            printer: self.printer,
            base_env,
            debug: self.options.debug,
            interactive: self.options.interactive,
            deadline,
        }
    }

    /// Run `steps` (everything that may run a step) with the signal handlers installed;
    /// then, however they ended (an error included), scrub the cache and secure the
    /// workspace, which is kept unless everything ran or a signal stopped it.
    pub fn drive(
        self,
        steps: impl FnOnce(&Session) -> eyre::Result<Ending>,
    ) -> eyre::Result<Finished> {
        sandbox_run::install_signal_handlers();
        let result = steps(&self);
        let Session {
            cache,
            cache_mode,
            workspace,
            printer,
            cache_before,
            _lock,
            options,
            created_areas,
            ..
        } = self;
        let cleanup = options.cleanup;
        if let Err(e) = cache.remove_unused_areas(&created_areas) {
            printer.warn(format!("cannot remove the unused cache areas: {e}"));
        }
        // The scrub comes first, whatever happened; an error in the steps or in the scrub
        // keeps the workspace (secured) for inspection.
        let (ending, scan) = match (result, scrub_cache(&cache, cache_mode, printer)) {
            (Ok(ending), Ok(scan)) => (ending, scan),
            (Err(e), scrubbed) => {
                if let Err(scrub) = scrubbed {
                    printer.warn(format!("{scrub:#}"));
                }
                return Err(keep_after_error(workspace, e, printer));
            }
            (Ok(_), Err(scrub)) => return Err(keep_after_error(workspace, scrub, printer)),
        };
        let cache_after = cache::Snapshot::from_scan(cache.path().to_path_buf(), &scan);
        let remove = !matches!(ending, Ending::Failed(_)) && cleanup;
        let kept = finish_workspace(workspace, remove, printer)?;
        if let (false, Some(path), Ending::Done) = (cleanup, &kept, &ending) {
            printer.info(format!(
                "workspace kept (--cleanup=false): {}",
                path.display()
            ));
        }
        Ok(Finished {
            ending,
            cache_before,
            cache_after,
            kept,
        })
    }
}

/// Secure and keep the workspace after `error`, saying where it is; returns `error`.
fn keep_after_error(workspace: Workspace, error: eyre::Report, printer: Printer) -> eyre::Report {
    match finish_workspace(workspace, false, printer) {
        Ok(Some(path)) => {
            printer.info(format!("workspace kept for inspection: {}", path.display()))
        }
        Ok(None) => {}
        Err(secure) => printer.warn(format!("{secure:#}")),
    }
    error
}

impl Finished {
    /// The exit status of an ending that is not a failure; a failure becomes the error.
    pub fn status(self, what: &str, printer: Printer) -> eyre::Result<ExitStatus> {
        match self.ending {
            Ending::Done => Ok(ExitStatus::Success),
            Ending::Failed(message) => Err(StatusError(ExitStatus::Failure, message).into()),
            Ending::Interrupted(sig) => {
                printer.warn(format!(
                    "interrupted by {}: stopping the {what}",
                    sandbox_run::signal_name(sig)
                ));
                Ok(status_for_signal(sig))
            }
        }
    }
}

/// Say which secrets of the source dir were left out of the workspace, so a step that misses
/// one is not a mystery.
fn note_withheld(withheld: &[PathBuf], printer: Printer) {
    if withheld.is_empty() {
        return;
    }
    let names: Vec<String> = withheld.iter().map(|p| p.display().to_string()).collect();
    printer.info(format!(
        "not copied into the workspace (keys and files named by flags): {}",
        names.join(", ")
    ));
}
