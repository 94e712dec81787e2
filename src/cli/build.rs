//! `melwrap build`: flags (melange's names and defaults where melange has the flag) and wiring.

use std::path::PathBuf;

use color_eyre::eyre;

use super::shared::{ConfigArgs, SandboxArgs};
use super::{ExitStatus, Verbosity};
use crate::driver::build::BuildOptions;
use crate::inputs::PlanInputs;
use crate::session::SessionOptions;

const BUILD_EXAMPLES: &str = "\
Examples:
  # Build ./melange.yaml with the cache in ./melange-cache, packages in ./packages
  melwrap build

  # Build with a shared cache, no network for the steps, and Wolfi's pipelines
  melwrap build foo.yaml --cache-dir ~/.cache/melwrap --no-network --pipeline-dir ./pipelines

  # Show the bwrap commands without running anything
  melwrap build foo.yaml --dry-run";

/// Build a package: run its pipelines in a bubblewrap sandbox.
///
/// Every step runs rootless in its own bwrap sandbox, with the source dir copied into the
/// workspace at /home/build and the cache dir mounted read-write at /var/cache/melange.
#[derive(Debug, clap::Args)]
#[command(after_long_help = BUILD_EXAMPLES)]
pub struct Args {
    /// Architecture to build for (apk name such as x86_64 or aarch64; `host` is the default).
    #[arg(long, default_value = "host")]
    pub arch: String,

    /// Build cache, mounted read-write at /var/cache/melange. Created when missing.
    #[arg(long, default_value = "./melange-cache", help_heading = "Directories")]
    pub cache_dir: PathBuf,

    /// Seed cache: entries missing from --cache-dir are copied from here (never overwritten).
    #[arg(long, help_heading = "Directories")]
    pub cache_source: Option<PathBuf>,

    /// Source directory copied into the workspace. Default: the build file's directory.
    #[arg(long, help_heading = "Directories")]
    pub source_dir: Option<PathBuf>,

    /// Workspace root (the build uses DIR/<arch>); kept after the build. Default: a temporary
    /// directory, removed after success and kept after a failure.
    #[arg(long, help_heading = "Directories")]
    pub workspace_dir: Option<PathBuf>,

    /// Where packages are written (OUT/<arch>/*.apk).
    #[arg(long, default_value = "./packages", help_heading = "Directories")]
    pub out_dir: PathBuf,

    #[command(flatten)]
    pub input: ConfigArgs,

    /// Override a `vars:` entry (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,

    /// Enable a build option from `options:` (repeatable).
    #[arg(long = "build-option", value_name = "NAME")]
    pub build_options: Vec<String>,

    /// Guest root: `auto` (default) runs steps in a guest assembled from the config's
    /// environment.contents (repositories and packages) and the --repository-append and
    /// --package-append flags when they name both, else the host's root; `apk` demands such a
    /// guest; `host` shows the host's /usr, /etc, ... read-only; a directory is used as an
    /// existing root filesystem (an extracted Wolfi, Alpine or Debian root), read-only.
    #[arg(
        long,
        default_value = "auto",
        value_name = "auto|apk|host|DIR",
        help_heading = "Sandbox"
    )]
    pub rootfs: String,

    #[command(flatten)]
    pub guest: crate::cli::repo_args::GuestArgs,

    /// Give steps network access (the default, as in melange).
    #[arg(long, overrides_with = "no_network", help_heading = "Sandbox")]
    pub network: bool,

    #[command(flatten)]
    pub sandbox: SandboxArgs,

    /// Print each step's bwrap command (shell-quoted) and run nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Trace each step's commands (`set -x`).
    #[arg(long)]
    pub debug: bool,

    /// Stop the build after this long (Go duration: 90m, 2h). Replaces package.timeout.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Build date (RFC 3339) for SOURCE_DATE_EPOCH and file times. SOURCE_DATE_EPOCH wins.
    #[arg(long, value_name = "DATE", help_heading = "Packages")]
    pub build_date: Option<String>,

    /// RSA private key (PEM) to sign packages and the index.
    #[arg(long, value_name = "KEY", help_heading = "Packages")]
    pub signing_key: Option<PathBuf>,

    /// Write or update OUT/<arch>/APKINDEX.tar.gz.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL",
          help_heading = "Packages")]
    pub generate_index: bool,

    /// Run the config's `test:` pipelines after a successful build.
    #[arg(long)]
    pub test: bool,

    /// Record what dependency scanning found, and why, as JSON in FILE.<arch>.
    #[arg(long, value_name = "FILE", help_heading = "Packages")]
    pub dependency_log: Option<PathBuf>,
    /// Linters whose findings fail the build, before any package is written (comma-separated
    /// or repeated; an empty value runs none). Default: melange's required set.
    #[arg(long, value_delimiter = ',', value_name = "LINTER",
          default_values_t = crate::lint::default_required(), help_heading = "Linting")]
    pub lint_require: Vec<String>,

    /// Linters whose findings are printed as warnings. Default: melange's warning set.
    #[arg(long, value_delimiter = ',', value_name = "LINTER",
          default_values_t = crate::lint::default_warn(), help_heading = "Linting")]
    pub lint_warn: Vec<String>,

    /// Fail the build on findings of --lint-warn linters too (a package's `checks.disabled`
    /// linters stay warnings).
    #[arg(long, help_heading = "Linting")]
    pub fail_on_lint_warning: bool,

    /// Write each package's lint findings to OUT/<arch>/lint-<name>-<version>-r<epoch>.json.
    #[arg(long, help_heading = "Linting")]
    pub persist_lint_results: bool,

    /// URL of the git repository holding the build file (for the SBOM).
    /// Default: https://unknown/unknown/unknown, as melange.
    #[arg(long, value_name = "URL", help_heading = "Provenance")]
    pub git_repo_url: Option<String>,

    /// Commit of the build file's repository (.PKGINFO `commit` when the config sets none, and
    /// the SBOM). Default: HEAD of the build file's directory, read from .git, else `unknown`.
    #[arg(long, value_name = "HASH", help_heading = "Provenance")]
    pub git_commit: Option<String>,

    /// License of the build file itself, for the SBOM.
    #[arg(long, default_value = "NOASSERTION", help_heading = "Provenance")]
    pub license: String,

    /// Distribution namespace (`wolfi`, `alpine`): .PKGINFO `maintainer`, package URLs and the
    /// SBOM supplier.
    #[arg(long, default_value = "unknown", help_heading = "Provenance")]
    pub namespace: String,
    /// YAML file of `vars:` entries merged over the config's (melange's `--vars-file`);
    /// `--var` wins over both.
    #[arg(long, value_name = "FILE")]
    pub vars_file: Option<PathBuf>,

    /// Remove the temporary workspace after a successful build (melange's `--cleanup`, on by
    /// default); `--cleanup=false` keeps it and says where. A failed build's is always kept.
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL",
          help_heading = "Directories")]
    pub cleanup: bool,

    /// Leave the workspace empty: copy nothing from the source dir (melange's
    /// `--empty-workspace`).
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL",
          help_heading = "Directories")]
    pub empty_workspace: bool,

    /// Append `ARCH|ORIGIN|NAME|VERSION-rEPOCH` for each package built to ./packages.log
    /// (melange's `--create-build-log`).
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL",
          help_heading = "Packages")]
    pub create_build_log: bool,

    /// melange's SLSA provenance (`.attest.tar.gz`): melwrap writes none, so `true` is refused
    /// (exit 2); `false`, melange's default, is accepted.
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL",
          help_heading = "Packages")]
    pub generate_provenance: bool,

    /// melange's runner: melwrap has one, `bubblewrap`; docker, qemu and kubernetes are
    /// melange's and refused (exit 2).
    #[arg(long, value_name = "bubblewrap", help_heading = "Sandbox")]
    pub runner: Option<String>,
}

pub fn run(args: Args, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    super::melange_compat::check_runner(args.runner.as_deref())?;
    super::melange_compat::check_provenance(args.generate_provenance)?;
    crate::driver::build::run(args.into(), crate::printer::Printer::new(verbosity))
}

impl From<Args> for BuildOptions {
    fn from(args: Args) -> BuildOptions {
        let session = SessionOptions {
            cache_dir: args.cache_dir,
            cache_source: args.cache_source,
            workspace_dir: args.workspace_dir,
            out_dir: args.out_dir,
            rootfs: args.rootfs,
            guest: args.guest.into(),
            debug: args.debug,
            cleanup: args.cleanup,
            ..args.sandbox.session_options()
        };
        BuildOptions {
            plan: PlanInputs {
                vars: args.vars,
                build_options: args.build_options,
                build_date: args.build_date,
                vars_file: args.vars_file,
                ..args.input.plan_inputs()
            },
            config: args.input.config,
            arch: args.arch,
            session,
            source_dir: args.source_dir,
            signing_key: args.signing_key,
            generate_index: args.generate_index,
            dry_run: args.dry_run,
            timeout: args.timeout,
            test: args.test,
            dependency_log: args.dependency_log,
            lint: crate::lint::LintOptions {
                require: non_empty(args.lint_require),
                warn: non_empty(args.lint_warn),
                fail_on_warning: args.fail_on_lint_warning,
                persist: args.persist_lint_results,
            },
            provenance: crate::sbom::Provenance {
                git_repo_url: args
                    .git_repo_url
                    .unwrap_or_else(|| crate::sbom::Provenance::default().git_repo_url),
                git_commit: args.git_commit.unwrap_or_default(),
                license: args.license,
                namespace: args.namespace,
            },
            empty_workspace: args.empty_workspace,
            create_build_log: args.create_build_log,
        }
    }
}

/// `--lint-require=` (an empty value) means no linters.
fn non_empty(names: Vec<String>) -> Vec<String> {
    names
        .into_iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::cli::parse_build as parse;

    /// The directory and rootfs defaults are checked with `test`'s in `cli/shared.rs`.
    #[test]
    fn melange_defaults() {
        let a = parse(&[]);
        assert!(a.generate_index);
        assert!(!a.sandbox.no_network);
        assert_eq!(a.lint_require, crate::lint::default_required());
        assert_eq!(a.lint_warn, crate::lint::default_warn());
        assert!(!a.fail_on_lint_warning && !a.persist_lint_results);
        assert_eq!(
            (a.license.as_str(), a.namespace.as_str()),
            ("NOASSERTION", "unknown")
        );
        assert_eq!((a.git_repo_url, a.git_commit), (None, None));
    }

    #[test]
    fn lint_lists_replace_the_defaults_and_split_on_commas() {
        let a = parse(&["--lint-require", "dev,empty", "--lint-require", "opt"]);
        assert_eq!(a.lint_require, ["dev", "empty", "opt"]);
        let opts: crate::driver::build::BuildOptions = parse(&["--lint-warn="]).into();
        assert!(opts.lint.warn.is_empty());
        assert_eq!(opts.lint.require, crate::lint::default_required());
    }

    #[test]
    fn repeatable_and_compat_flags() {
        let a = parse(&[
            "x.yaml",
            "--pipeline-dir",
            "a",
            "--pipeline-dirs",
            "b",
            "--env-file",
            "e",
            "--no-network",
            "--generate-index=false",
        ]);
        assert_eq!(a.input.pipeline_dirs.len(), 2);
        assert!(a.sandbox.no_network);
        assert!(!a.generate_index);
        assert_eq!(a.input.config.unwrap().to_str(), Some("x.yaml"));
    }

    /// Wolfi's Makefile spells melange's bool flags bare (`--cleanup`); `--cleanup=false`
    /// turns one off, and a bare one never takes the config as its value.
    #[test]
    fn melange_bool_flags_take_an_optional_value() {
        let a = parse(&[]);
        assert!(a.cleanup && !a.empty_workspace && !a.create_build_log);
        let a = parse(&[
            "--cleanup",
            "x.yaml",
            "--empty-workspace",
            "--create-build-log",
        ]);
        assert!(a.cleanup && a.empty_workspace && a.create_build_log);
        assert_eq!(a.input.config.unwrap().to_str(), Some("x.yaml"));
        let a = parse(&["--cleanup=false", "--generate-provenance=false"]);
        assert!(!a.cleanup && !a.generate_provenance);
    }

    #[test]
    fn wolfi_makefile_build_flags_parse() {
        let a = parse(&[
            "pkg.yaml",
            "--runner=bubblewrap",
            "--apk-cache-dir=/tmp/melange-cache",
            "--arch=x86_64",
            "--cache-dir=/tmp/melange-cache",
            "--cleanup",
            "--env-file=build-x86_64.env",
            "--env-file=build-common.env",
            "--keyring-append=local-melange.rsa.pub",
            "--package-append=busybox",
            "--pipeline-dir=./pipelines/",
            "--repository-append=/os/packages",
            "--signing-key=local-melange.rsa",
            "--source-dir=./pkg/",
            "--debug",
            "--interactive",
        ]);
        assert_eq!(a.runner.as_deref(), Some("bubblewrap"));
        assert_eq!(a.input.env_files.len(), 2);
        assert_eq!(a.guest.package_append, ["busybox"]);
        assert!(a.cleanup && a.debug && a.sandbox.interactive);
    }
}
