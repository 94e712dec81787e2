//! Loading and compiling a build file to run it here: the plan route plus the checks that
//! only matter when steps will run (the host's architecture, `target-architecture`, the apk
//! version, the timeout).

use std::path::Path;
use std::time::Duration;

use color_eyre::eyre;

use super::{PlanInputs, find_config, resolve_arch};
use crate::compile::{Arch, Plan};
use crate::config::{self, LoadedConfig};
use crate::diag::Diagnostic;
use crate::printer::Printer;

/// A build file loaded and compiled for one architecture: everything checked, nothing run.
pub struct Prepared {
    pub loaded: LoadedConfig,
    pub plan: Plan,
    pub arch: Arch,
    pub source_date_epoch: u64,
    /// `--timeout`, else `package.timeout`; `None` for none.
    pub timeout: Option<Duration>,
}

/// Load and compile `config` (or the default build file) for `arch` (`host` or a name):
/// every input problem is found here, before anything runs. `None` when the config does not
/// build for `arch` (a warning says so).
pub fn prepare(
    config: Option<&Path>,
    arch: &str,
    inputs: &PlanInputs,
    timeout: Option<&str>,
    printer: Printer,
) -> eyre::Result<Option<Prepared>> {
    let path = find_config(config)?;
    let loaded = config::load(&path)?;
    let arch = resolve_arch(arch)?;
    check_native(&arch)?;
    let targets = &loaded.config.package.target_architecture;
    if !targets.is_empty() && !targets.iter().any(|t| t == "all" || t == arch.apk) {
        printer.warn(format!(
            "{}: package.target-architecture is [{}], which leaves out {}: nothing to build",
            path.display(),
            targets.join(", "),
            arch.apk
        ));
        return Ok(None);
    }
    let version = &loaded.config.package.version;
    if !config::rules::is_apk_version(version) {
        return Err(loaded
            .diagnostic(
                "package.version",
                format!("`{version}` is not a valid apk version"),
            )
            .hint("apk versions look like 1.2.3, 1.2.3_rc1 or 2024.01.02 (no leading `v`)")
            .into());
    }
    let route = inputs.route(&arch)?;
    let plan = route.plan(&loaded)?;
    let timeout_text =
        timeout.map_or_else(|| loaded.config.package.timeout.clone(), str::to_string);
    Ok(Some(Prepared {
        timeout: parse_timeout(&timeout_text, "90m, 2h or 1h30m")?,
        loaded,
        plan,
        arch,
        source_date_epoch: route.source_date_epoch(),
    }))
}

/// Steps run natively: building for another architecture would label host binaries wrongly.
fn check_native(arch: &Arch) -> Result<(), Diagnostic> {
    if Arch::host().is_some_and(|host| host.apk != arch.apk) {
        return Err(Diagnostic::new(
            "--arch",
            format!(
                "cannot build for {} on this {} machine: steps run natively, so they would \
                 produce host binaries labelled {}",
                arch.apk,
                std::env::consts::ARCH,
                arch.apk
            ),
        )
        .hint("build on a machine of that architecture; `melwrap compile --arch` shows its plan"));
    }
    Ok(())
}

/// A Go duration (`--timeout`); empty or zero for none. `examples` go in the hint.
pub fn parse_timeout(text: &str, examples: &str) -> Result<Option<Duration>, Diagnostic> {
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = config::rules::parse_go_duration(text).ok_or_else(|| {
        Diagnostic::new("--timeout", format!("`{text}` is not a duration"))
            .hint(format!("write it like {examples}"))
    })?;
    Ok(Some(parsed).filter(|d| !d.is_zero()))
}
