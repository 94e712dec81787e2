//! melange flags that melwrap takes so Wolfi's own command lines run unchanged: `--runner`,
//! `--log-level`, and the checks for flags whose melange behaviour melwrap does not have.

use color_eyre::eyre;

use crate::diag::Diagnostic;

/// melange's runners that are not melwrap's: it runs steps only in bubblewrap.
const OTHER_RUNNERS: &[&str] = &["docker", "qemu", "kubernetes", "buildkit", "lima"];

/// `--runner NAME`: `bubblewrap` (melwrap's only runner, the default) is accepted; melange's
/// other runners are refused with a message saying what melwrap is.
pub fn check_runner(runner: Option<&str>) -> eyre::Result<()> {
    match runner {
        None | Some("bubblewrap") | Some("bwrap") => Ok(()),
        Some(other) if OTHER_RUNNERS.contains(&other) => Err(Diagnostic::new(
            "--runner",
            format!(
                "the `{other}` runner is melange's, not melwrap's: melwrap runs every step \
                 in bubblewrap"
            ),
        )
        .hint("pass `--runner bubblewrap` (or leave the flag out), or use melange for this runner")
        .into()),
        Some(other) => Err(
            Diagnostic::new("--runner", format!("unknown runner `{other}`"))
                .hint("melwrap has one runner: `bubblewrap`")
                .into(),
        ),
    }
}

/// `--generate-provenance`: melange writes an SLSA provenance `.attest.tar.gz` next to each
/// package; melwrap writes none, so asking for it is refused rather than silently ignored.
/// `--generate-provenance=false` is melange's default and accepted.
pub fn check_provenance(wanted: bool) -> eyre::Result<()> {
    if !wanted {
        return Ok(());
    }
    Err(Diagnostic::new(
        "--generate-provenance",
        "melwrap does not generate SLSA provenance (melange's .attest.tar.gz)",
    )
    .hint("leave the flag out (melange's default is false), or build with melange for provenance")
    .into())
}

/// melange's global `--log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The verbosity it stands for: `debug` is `-v`, `info` and `warn` the default (melwrap
    /// prints warnings at its default level), `error` is `--quiet`.
    pub fn verbosity(self) -> crate::printer::Verbosity {
        use crate::printer::Verbosity;
        match self {
            LogLevel::Debug => Verbosity::Verbose,
            LogLevel::Info | LogLevel::Warn => Verbosity::Normal,
            LogLevel::Error => Verbosity::Quiet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_accepts_bubblewrap_and_names_the_others() {
        assert!(check_runner(None).is_ok());
        assert!(check_runner(Some("bubblewrap")).is_ok());
        for other in ["docker", "qemu", "kubernetes"] {
            let e = format!("{:#}", check_runner(Some(other)).unwrap_err());
            assert!(e.contains("--runner") && e.contains(other), "{e}");
            assert!(e.contains("not melwrap's"), "{e}");
        }
        let e = format!("{:#}", check_runner(Some("podman")).unwrap_err());
        assert!(e.contains("unknown runner"), "{e}");
    }

    #[test]
    fn provenance_is_refused_only_when_asked_for() {
        assert!(check_provenance(false).is_ok());
        let e = format!("{:#}", check_provenance(true).unwrap_err());
        assert!(e.contains("--generate-provenance"), "{e}");
    }
}
