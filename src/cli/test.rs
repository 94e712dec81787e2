//! `melwrap test`: flags (melange's names where melange has the flag) and wiring.

use std::path::PathBuf;

use color_eyre::eyre;

use super::shared::{ConfigArgs, SandboxArgs};
use super::{ExitStatus, Verbosity};
use crate::driver::test::TestOptions;
use crate::session::SessionOptions;

const TEST_EXAMPLES: &str = "\
Examples:
  # Build ./melange.yaml, then test the packages it wrote to ./packages
  melwrap build && melwrap test

  # Both in one go
  melwrap build --test

  # Test against an extracted Wolfi root instead of the host's /usr, with no network
  melwrap test foo.yaml --rootfs ./wolfi-root --no-network";

/// Run a config's `test:` pipelines against the built packages.
///
/// For the main package and each subpackage with a `test:` section, in a fresh sandbox: when
/// a repository is named (or `--rootfs apk`), in a guest of its own holding its
/// test.environment.contents.packages, the package under test (from OUT as a local
/// repository) and their runtime dependencies, assembled once and cached; otherwise over the
/// host root (or `--rootfs DIR`), with the package's files layered on top. The steps run as
/// the test environment's `run-as` user. Every package is tested, and a summary lists each
/// with its result and duration.
#[derive(Debug, clap::Args)]
#[command(after_long_help = TEST_EXAMPLES)]
#[command(mut_arg("no_network", |a| a.help("Give test steps no network at all")))]
#[command(mut_arg("ca_bundle", |a| {
    a.help("CA bundle for TLS inside the sandbox (see `melwrap build --help`)")
}))]
pub struct Args {
    /// Architecture of the packages to test (`host` is the default).
    #[arg(long, default_value = "host")]
    pub arch: String,

    /// Where the built packages are (OUT/<arch>/<name>-<version>-r<epoch>.apk).
    #[arg(long, default_value = "./packages", help_heading = "Directories")]
    pub out_dir: PathBuf,

    /// Cache, mounted read-write at /var/cache/melange. Created when missing.
    #[arg(long, default_value = "./melange-cache", help_heading = "Directories")]
    pub cache_dir: PathBuf,

    /// Directory copied into the workspace at /home/build. Default: none (an empty workspace,
    /// as in melange).
    #[arg(long, help_heading = "Directories")]
    pub source_dir: Option<PathBuf>,

    /// Workspace root (the tests use DIR/<arch>); kept afterwards. Default: a temporary
    /// directory, removed after success and kept after a failure.
    #[arg(long, help_heading = "Directories")]
    pub workspace_dir: Option<PathBuf>,

    #[command(flatten)]
    pub input: ConfigArgs,

    /// Test only this package (the main package or a subpackage); default: every package
    /// that has a `test:` section.
    #[arg(value_name = "PACKAGE")]
    pub package: Option<String>,

    /// Stop the test run after this long (Go duration: 90s, 10m).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Test root: `auto` (default) tests each package in a guest of its own (its test
    /// packages, the package and its runtime dependencies, from OUT as a repository plus the
    /// config's repositories and --repository-append) when a repository is named, else on the
    /// host's root; `apk` demands guests; `host` shows the host's /usr, /etc, ... read-only; a
    /// directory is used as an existing root filesystem, read-only. Over `host` or a
    /// directory the packages' files are layered on top.
    #[arg(
        long,
        default_value = "auto",
        value_name = "auto|apk|host|DIR",
        help_heading = "Sandbox"
    )]
    pub rootfs: String,

    #[command(flatten)]
    pub guest: crate::cli::repo_args::GuestArgs,

    /// `--no-network`, `--ca-bundle`, `--interactive` (reworded above for tests).
    #[command(flatten)]
    pub sandbox: SandboxArgs,

    /// Trace each step's commands (`set -x`).
    #[arg(long)]
    pub debug: bool,

    /// melange's runner: melwrap has one, `bubblewrap`; docker, qemu and kubernetes are
    /// melange's and refused (exit 2).
    #[arg(long, value_name = "bubblewrap", help_heading = "Sandbox")]
    pub runner: Option<String>,
}

pub fn run(args: Args, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    super::melange_compat::check_runner(args.runner.as_deref())?;
    let printer = crate::printer::Printer::new(verbosity);
    let timeout = match &args.timeout {
        Some(text) => crate::inputs::parse_timeout(text, "90s, 10m or 1h30m")?,
        None => None,
    };
    let session = SessionOptions {
        out_dir: args.out_dir,
        cache_dir: args.cache_dir,
        workspace_dir: args.workspace_dir,
        rootfs: args.rootfs,
        guest: args.guest.into(),
        debug: args.debug,
        ..args.sandbox.session_options()
    };
    // The config is compiled exactly as `melwrap build` would with the same config, arch,
    // pipeline dirs and env files, every other build input at its default.
    let opts = TestOptions {
        plan: args.input.plan_inputs(),
        config: args.input.config,
        arch: args.arch,
        session,
        source_dir: args.source_dir,
        only: args.package,
        timeout,
    };
    crate::driver::test::run(opts, printer)
}

#[cfg(test)]
mod tests {
    use crate::cli::parse_test as parse;

    /// The defaults it shares with `build` are checked in `cli/shared.rs`.
    #[test]
    fn source_dir_defaults_to_none() {
        let a = parse(&[]);
        assert!(a.source_dir.is_none());
    }

    #[test]
    fn config_arch_pipelines_and_env_files_are_parsed() {
        let a = parse(&[
            "--arch",
            "aarch64",
            "--pipeline-dir",
            "p",
            "--env-file",
            "e",
            "--no-network",
            "--",
            "-odd.yaml",
        ]);
        assert_eq!(a.input.config.unwrap().to_str(), Some("-odd.yaml"));
        assert_eq!(a.arch, "aarch64");
        assert_eq!(a.input.pipeline_dirs.len(), 1);
        assert_eq!(a.input.env_files.len(), 1);
        assert!(a.sandbox.no_network);
    }
}
