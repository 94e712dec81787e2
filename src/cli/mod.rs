//! Command-line definitions and wiring. Each subcommand has its own file with an `Args` struct
//! and a `run` function; this file holds the top-level parser, logging setup and exit codes.

use clap::{Parser, Subcommand};
use color_eyre::eyre;

pub mod build;
pub mod cache;
pub mod compile;
pub mod doctor;
pub mod index;
pub mod keygen;
pub mod melange_compat;
pub mod package_version;
pub mod pipelines;
pub mod repo_args;
pub mod resolve;
pub mod rootfs;
pub mod shared;
pub mod test;
pub mod validate;

pub use crate::printer::Verbosity;
pub use crate::status::{ExitStatus, StatusError};

const EXIT_CODES_HELP: &str = "\
Examples:
  melwrap doctor                          # can builds run here?
  melwrap validate *.yaml                 # check configs, run nothing
  melwrap compile foo.yaml                # print the steps that would run
  melwrap build foo.yaml                  # build ./packages/<arch>/*.apk, cache in ./melange-cache
  melwrap test foo.yaml                   # run foo.yaml's test: pipelines against those packages

Exit codes:
  0    success
  1    a build step or test failed
  2    bad input or unusable environment; nothing ran
  130  interrupted (SIGINT)
  143  terminated (SIGTERM)";

/// Build melange packages rootless, in bubblewrap, with no daemon.
///
/// melwrap reads melange build configs (melange.yaml), compiles their pipelines into shell steps
/// and runs each step in a bubblewrap sandbox, with the build cache mounted at
/// /var/cache/melange.
#[derive(Debug, Parser)]
#[command(name = "melwrap", version, after_long_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Print more detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// melange's log level: `debug` is `-v`, `info` and `warn` the default, `error` is
    /// `--quiet`. `-v` and `--quiet` win over it.
    #[arg(long, global = true, value_enum, value_name = "LEVEL")]
    pub log_level: Option<melange_compat::LogLevel>,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process, so the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check build configs for errors without running anything.
    Validate(validate::Args),
    /// Print the compiled plan: every step's script, environment and working directory.
    Compile(compile::Args),
    /// Build a package: run its pipelines in a bubblewrap sandbox.
    Build(build::Args),
    /// Run a config's `test:` pipelines against the built packages.
    Test(test::Args),
    /// List the built-in pipelines, or show one.
    Pipelines(pipelines::Args),
    /// Check that bubblewrap works here and say how to fix it if not.
    Doctor(doctor::Args),
    /// Inspect or prune the build cache.
    Cache(cache::Args),
    /// Write an RSA key pair for signing packages and indexes.
    Keygen(keygen::Args),
    /// Write an APKINDEX.tar.gz for a directory of packages.
    Index(index::Args),
    /// Print the packages a config's build environment resolves to (as apk-tools would).
    Resolve(resolve::Args),
    /// Assemble a config's build environment into a directory (for `build --rootfs`).
    Rootfs(rootfs::Args),
    /// Print the package a config builds: NAME-VERSION-rEPOCH (melange's package-version).
    PackageVersion(package_version::Args),
}

/// Entry point used by `main.rs`: returns the process exit code.
pub fn main() -> i32 {
    install_error_hook();
    let cli = Cli::parse();
    match run(cli) {
        Ok(status) => status as i32,
        Err(report) => {
            // Through the printer: an error can quote a config's strings or file names, which
            // may hold terminal escapes.
            crate::printer::Printer::new(Verbosity::Normal).error(render_report(&report));
            exit_status_for(&report) as i32
        }
    }
}

/// Parse `melwrap <subcommand> <args>` (unit tests of each subcommand's flags).
#[cfg(test)]
pub(crate) fn parse_subcommand(subcommand: &str, args: &[&str]) -> Command {
    let argv = ["melwrap", subcommand]
        .into_iter()
        .chain(args.iter().copied());
    Cli::try_parse_from(argv).unwrap().command
}

/// `melwrap build ARGS`, parsed.
#[cfg(test)]
pub(crate) fn parse_build(args: &[&str]) -> build::Args {
    let Command::Build(a) = parse_subcommand("build", args) else {
        unreachable!("`build` parses as Command::Build")
    };
    a
}

/// `melwrap test ARGS`, parsed.
#[cfg(test)]
pub(crate) fn parse_test(args: &[&str]) -> test::Args {
    let Command::Test(a) = parse_subcommand("test", args) else {
        unreachable!("`test` parses as Command::Test")
    };
    a
}

/// Dispatch one parsed command line.
pub fn run(cli: Cli) -> eyre::Result<ExitStatus> {
    let verbosity = match cli.log_level {
        Some(level) if cli.verbose == 0 && !cli.quiet => level.verbosity(),
        _ => Verbosity::from_flags(cli.verbose, cli.quiet),
    };
    match cli.command {
        Command::Validate(args) => validate::run(args, verbosity),
        Command::Compile(args) => compile::run(args, verbosity),
        Command::Build(args) => build::run(args, verbosity),
        Command::Test(args) => test::run(args, verbosity),
        Command::Pipelines(args) => pipelines::run(args, verbosity),
        Command::Doctor(args) => doctor::run(args, verbosity),
        Command::Cache(args) => cache::run(args, verbosity),
        Command::Keygen(args) => keygen::run(args, verbosity),
        Command::Index(args) => index::run(args, verbosity),
        Command::Resolve(args) => resolve::run(args, verbosity),
        Command::Rootfs(args) => rootfs::run(args, verbosity),
        Command::PackageVersion(args) => package_version::run(args, verbosity),
    }
}

/// The exit status an error ends the process with: errors about the user's input
/// ([`crate::diag`] diagnostics) exit 2, a [`StatusError`] its own, the rest 1.
fn exit_status_for(report: &eyre::Report) -> ExitStatus {
    for cause in report.chain() {
        if cause.is::<crate::diag::Diagnostic>() || cause.is::<crate::diag::Diagnostics>() {
            return ExitStatus::BadInput;
        }
        if let Some(status) = cause.downcast_ref::<StatusError>() {
            return status.0;
        }
    }
    ExitStatus::Failure
}

/// The error chain as plain text: the outermost message, then each cause on its own line.
fn render_report(report: &eyre::Report) -> String {
    let mut out = report.to_string();
    for cause in report.chain().skip(1) {
        out.push_str(&format!("\n  caused by: {cause}"));
    }
    out
}

fn install_error_hook() {
    // User-facing errors are printed by `main` without backtraces or source locations; the hook
    // only matters for panics, which should still be readable.
    let _ = color_eyre::config::HookBuilder::default()
        .display_location_section(false)
        .display_env_section(false)
        .install();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
