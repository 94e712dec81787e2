//! `melwrap compile`: print the compiled plan of one or more build files.
//!
//! stdout is data only: the plan as YAML (default) or JSON, deterministic (maps are sorted).
//! Diagnostics go to stderr; any config that fails makes the exit status 2. The plan comes
//! from the same route as `melwrap build`'s ([`crate::inputs`]).

use std::io::Write;
use std::path::PathBuf;

use color_eyre::eyre;

use super::{ExitStatus, StatusError, Verbosity};
use crate::compile;
use crate::inputs::{PlanInputs, PlanRoute, resolve_arch};

/// Output format of `melwrap compile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  melwrap compile melange.yaml
  melwrap compile --arch aarch64 --var version=1.2.3 --format json melange.yaml
  melwrap compile --pipeline-dir ./pipelines wolfi/*.yaml > plans.yaml")]
pub struct Args {
    /// Build file(s) to compile. With several, the plans are printed one after another
    /// (YAML documents separated by `---`, or one JSON document per line).
    #[arg(required = true, value_name = "CONFIG")]
    pub configs: Vec<PathBuf>,

    /// Target architecture, apk or OCI spelling (default: this machine's).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,

    /// Set or override a variable (`vars.KEY`); repeatable.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,

    /// YAML file of `vars:` entries merged over each config's (melange's `--vars-file`);
    /// `--var` wins over both.
    #[arg(long, value_name = "FILE")]
    pub vars_file: Option<PathBuf>,

    /// Enable a build option declared under `options:`; repeatable.
    #[arg(long = "build-option", value_name = "NAME")]
    pub build_options: Vec<String>,

    /// Directory searched for `uses:` pipelines before the built-ins; repeatable, in order.
    #[arg(long = "pipeline-dir", alias = "pipeline-dirs", value_name = "DIR")]
    pub pipeline_dirs: Vec<PathBuf>,

    /// dotenv file merged into environment.environment (repeatable; the YAML wins), as in
    /// `melwrap build`.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,

    /// Build date (RFC 3339) for SOURCE_DATE_EPOCH, as in `melwrap build`. SOURCE_DATE_EPOCH
    /// in the environment wins.
    #[arg(long, value_name = "DATE")]
    pub build_date: Option<String>,

    /// `SOURCE_DATE_EPOCH` of the plan, over SOURCE_DATE_EPOCH in the environment and
    /// `--build-date` [default: as `melwrap build`: SOURCE_DATE_EPOCH, else --build-date, else 0].
    #[arg(long, value_name = "SECONDS")]
    pub source_date_epoch: Option<u64>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    pub format: Format,

    /// Compile each config this many times (prints once); for benchmarking the compiler
    /// without process start-up.
    #[arg(long, hide = true, default_value_t = 1)]
    pub repeat: u32,
}

pub fn run(args: Args, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    let printer = crate::printer::Printer::new(verbosity);
    let arch = resolve_arch(args.arch.as_deref().unwrap_or("host"))?;
    let inputs = PlanInputs {
        pipeline_dirs: args.pipeline_dirs.clone(),
        env_files: args.env_files.clone(),
        vars: args.vars.clone(),
        vars_file: args.vars_file.clone(),
        build_options: args.build_options.clone(),
        build_date: args.build_date.clone(),
        source_date_epoch: args.source_date_epoch,
    };
    let route = inputs.route(&arch)?;
    let single = args.configs.len() == 1;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = 0usize;
    for path in &args.configs {
        let result = compile_one(path, &route, args.repeat);
        match result {
            Ok(plan) => {
                let text = match args.format {
                    Format::Yaml => serde_yaml::to_string(&plan)?,
                    Format::Json if single => serde_json::to_string_pretty(&plan)? + "\n",
                    Format::Json => serde_json::to_string(&plan)? + "\n",
                };
                if !single && args.format == Format::Yaml {
                    out.write_all(b"---\n")?;
                }
                out.write_all(text.as_bytes())?;
            }
            Err(diags) if single => return Err(diags.into()),
            Err(diags) => {
                failed += 1;
                printer.error(diags.to_string());
            }
        }
    }
    out.flush()?;
    if failed > 0 {
        return Err(StatusError(
            ExitStatus::BadInput,
            format!(
                "{failed} of {} configs failed to compile",
                args.configs.len()
            ),
        )
        .into());
    }
    Ok(ExitStatus::Success)
}

fn compile_one(
    path: &std::path::Path,
    route: &PlanRoute,
    repeat: u32,
) -> Result<compile::Plan, crate::diag::Diagnostics> {
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let loaded = crate::config::load(path)?;
        last = Some(route.plan(&loaded)?);
    }
    Ok(last.expect("at least one round"))
}
