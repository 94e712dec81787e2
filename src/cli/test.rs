//! `melwrap test`: flags (melange's names where melange has the flag) and wiring.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use color_eyre::eyre;

use super::{Cli, Command, ExitStatus, Verbosity};
use crate::test_run::TestOptions;

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
/// For the main package and each subpackage with a `test:` section, the package's `.apk`
/// (from OUT/<arch>/) is unpacked and its files shown at `/` over the read-only guest root, in
/// a fresh sandbox; packages of the same config named in `test.environment.contents.packages`
/// are installed too. The test steps then run one by one as in `melwrap build`. Every package
/// is tested, and a summary lists each with its result and duration.
#[derive(Debug, clap::Args)]
#[command(after_long_help = TEST_EXAMPLES)]
pub struct Args {
    /// The build file. Default: the first of .melange.yaml, .melange.yml, melange.yaml,
    /// melange.yml in the current directory.
    pub config: Option<PathBuf>,

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

    /// Directory searched for `uses:` pipelines before the built-ins (repeatable).
    #[arg(long = "pipeline-dir", alias = "pipeline-dirs", value_name = "DIR")]
    pub pipeline_dirs: Vec<PathBuf>,

    /// dotenv file merged into environment.environment (repeatable; the YAML wins).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,

    /// Guest root: `host` shows the host's /usr, /etc, ... read-only; a directory is used as an
    /// existing root filesystem, read-only. The packages' files are layered on top.
    #[arg(
        long,
        default_value = "host",
        value_name = "host|DIR",
        help_heading = "Sandbox"
    )]
    pub rootfs: String,

    /// Give test steps no network at all.
    #[arg(long, help_heading = "Sandbox")]
    pub no_network: bool,

    /// CA bundle for TLS inside the sandbox (see `melwrap build --help`).
    #[arg(
        long,
        env = "MELWRAP_CA_BUNDLE",
        value_name = "FILE",
        help_heading = "Sandbox"
    )]
    pub ca_bundle: Option<PathBuf>,

    /// On a failing step, open a shell in the same sandbox (exit 0 from it continues).
    #[arg(short, long, help_heading = "Sandbox")]
    pub interactive: bool,

    /// Trace each step's commands (`set -x`).
    #[arg(long)]
    pub debug: bool,
}

pub fn run(args: Args, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    let printer = crate::printer::Printer::new(verbosity);
    let build_args = build_args(&args)?;
    let Some(prepared) = crate::build::prepare(&build_args, printer)? else {
        return Ok(ExitStatus::Success);
    };
    let opts = TestOptions {
        out_dir: args.out_dir,
        cache_dir: args.cache_dir,
        rootfs: args.rootfs,
        network: !args.no_network,
        ca_bundle: args.ca_bundle,
        interactive: args.interactive,
        debug: args.debug,
        source_dir: args.source_dir,
        workspace_dir: args.workspace_dir,
        env_files: args.env_files,
    };
    crate::test_run::run(&prepared, &opts, printer)
}

/// The config is loaded and compiled exactly as `melwrap build` would with the same flags, so
/// the build's own parser fills every other option with its default.
fn build_args(args: &Args) -> eyre::Result<super::build::Args> {
    let mut argv: Vec<OsString> = vec!["melwrap".into(), "build".into()];
    if let Some(config) = &args.config {
        argv.push("--".into());
        argv.push(config.into());
    }
    let mut flags: Vec<OsString> = vec!["--arch".into(), args.arch.clone().into()];
    for dir in &args.pipeline_dirs {
        flags.push("--pipeline-dir".into());
        flags.push(dir.into());
    }
    for file in &args.env_files {
        flags.push("--env-file".into());
        flags.push(file.into());
    }
    // Flags go before `--`.
    let at = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    argv.splice(at..at, flags);
    match Cli::try_parse_from(argv)?.command {
        Command::Build(a) => Ok(a),
        _ => unreachable!("the argv names the build command"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> super::Args {
        let mut argv = vec!["melwrap", "test"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Test(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_match_build() {
        let a = parse(&[]);
        assert_eq!(a.out_dir.to_str(), Some("./packages"));
        assert_eq!(a.cache_dir.to_str(), Some("./melange-cache"));
        assert_eq!(a.rootfs, "host");
        assert!(a.source_dir.is_none());
    }

    #[test]
    fn the_build_args_carry_config_arch_pipelines_and_env_files() {
        let a = parse(&[
            "--arch",
            "aarch64",
            "--pipeline-dir",
            "p",
            "--env-file",
            "e",
            "--",
            "-odd.yaml",
        ]);
        let b = super::build_args(&a).unwrap();
        assert_eq!(b.config.unwrap().to_str(), Some("-odd.yaml"));
        assert_eq!(b.arch, "aarch64");
        assert_eq!(b.pipeline_dirs.len(), 1);
        assert_eq!(b.env_files.len(), 1);
    }
}
