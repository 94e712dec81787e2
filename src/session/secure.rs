//! After the steps: what melwrap does with the trees they wrote before anyone else can use
//! them (the cache's set-id scrub and mode, the workspace's mode, a kept workspace's scrub),
//! on every way out of a build or a test run, with warnings saying what it changed.

use std::path::PathBuf;

use color_eyre::eyre::{self, WrapErr};

use crate::cache;
use crate::printer::Printer;
use crate::workspace::Workspace;

/// A step may leave a setuid or setgid file in the cache, which outlives the sandbox and which
/// other local users could run; no cache entry needs those bits, so they are cleared once the
/// steps are over (success, failure or interrupt), through directory descriptors (no
/// `PATH_MAX` limit, unreadable directories included). A step may also have loosened the
/// cache dir's own mode: the mode it had before the steps (`mode_before`) is put back.
/// Returns the walk, for the cache report.
pub fn scrub_cache(
    cache: &cache::CacheDir,
    mode_before: u32,
    printer: Printer,
) -> eyre::Result<cache::Scan> {
    if let Some(left) = cache
        .restore_mode(mode_before)
        .wrap_err("cannot restore the cache dir's mode")?
    {
        printer.warn(format!(
            "a step changed the mode of the cache dir {} to {left:o}; restored {mode_before:o}",
            cache.path().display()
        ));
    }
    let scan =
        cache::scrub_and_scan(cache.path()).wrap_err("cannot clear set-id bits in the cache")?;
    warn_cleared(&scan.set_id, "the cache", printer);
    warn_unreadable(&scan.unreadable, "the cache", printer);
    Ok(scan)
}

/// After the steps, the workspace root is owner-only again, whatever a step did to it.
pub fn restore_workspace_mode(workspace: &Workspace, printer: Printer) -> eyre::Result<()> {
    if let Some(left) = workspace.restore_owner_only()? {
        printer.warn(format!(
            "a step changed the mode of the workspace {} to {left:o}; made it owner-only again",
            workspace.root().display()
        ));
    }
    Ok(())
}

/// [`Workspace::finish`], saying which set-id bits the scrub of a kept workspace cleared.
pub fn finish_workspace(
    workspace: Workspace,
    success: bool,
    printer: Printer,
) -> eyre::Result<Option<PathBuf>> {
    let Some((path, report)) = workspace.finish_with_report(success)? else {
        return Ok(None);
    };
    warn_cleared(&report.cleared, "the kept workspace", printer);
    warn_unreadable(&report.unreadable, "the kept workspace", printer);
    Ok(Some(path))
}

fn warn_cleared(cleared: &[PathBuf], place: &str, printer: Printer) {
    if !cleared.is_empty() {
        printer.warn(format!(
            "cleared the setuid/setgid bit of {} file(s) a step left in {place}: {}",
            cleared.len(),
            some_paths(cleared)
        ));
    }
}

fn warn_unreadable(unreadable: &[PathBuf], place: &str, printer: Printer) {
    if !unreadable.is_empty() {
        printer.warn(format!(
            "could not read {} path(s) in {place}, so set-id files below them may remain: {}",
            unreadable.len(),
            some_paths(unreadable)
        ));
    }
}

/// The first few paths of a list, for a one-line warning (a step can plant thousands).
fn some_paths(paths: &[PathBuf]) -> String {
    const SHOWN: usize = 10;
    let mut text: Vec<String> = paths
        .iter()
        .take(SHOWN)
        .map(|p| p.display().to_string())
        .collect();
    if paths.len() > SHOWN {
        text.push(format!("and {} more", paths.len() - SHOWN));
    }
    text.join(", ")
}
