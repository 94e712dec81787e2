//! `melwrap compile`: print the compiled plan of one or more build files.
//!
//! stdout is data only: the plan as YAML (default) or JSON, deterministic (maps are sorted).
//! Diagnostics go to stderr; any config that fails makes the exit status 2.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use color_eyre::eyre;

use super::{ExitStatus, StatusError, Verbosity};
use crate::compile::{self, Arch, CompileOptions};
use crate::pipelines::Library;

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
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,

    /// Enable a build option declared under `options:`; repeatable.
    #[arg(long = "build-option", value_name = "NAME")]
    pub build_options: Vec<String>,

    /// Directory searched for `uses:` pipelines before the built-ins; repeatable, in order.
    #[arg(long = "pipeline-dir", value_name = "DIR")]
    pub pipeline_dirs: Vec<PathBuf>,

    /// `SOURCE_DATE_EPOCH` in the plan environment.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub source_date_epoch: u64,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    pub format: Format,

    /// Compile each config this many times (prints once); for benchmarking the compiler
    /// without process start-up.
    #[arg(long, hide = true, default_value_t = 1)]
    pub repeat: u32,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

pub fn run(args: Args, _verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    let arch = match &args.arch {
        Some(a) => a.clone(),
        None => Arch::host().map(|a| a.apk.to_string()).ok_or_else(|| {
            StatusError(
                ExitStatus::BadInput,
                format!(
                    "this machine's architecture `{}` is not one melange builds for; pass `--arch`",
                    std::env::consts::ARCH
                ),
            )
        })?,
    };
    let opts = CompileOptions {
        arch,
        vars: args.vars.iter().cloned().collect::<BTreeMap<_, _>>(),
        build_options: args.build_options.clone(),
        source_date_epoch: args.source_date_epoch,
        ..Default::default()
    };
    let lib = Library::new(args.pipeline_dirs.clone());
    let single = args.configs.len() == 1;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = 0usize;
    for path in &args.configs {
        let result = compile_one(path, &lib, &opts, args.repeat);
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
                eprintln!("error: {diags}");
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
    lib: &Library,
    opts: &CompileOptions,
    repeat: u32,
) -> Result<compile::Plan, crate::diag::Diagnostics> {
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let loaded = crate::config::load(path)?;
        last = Some(compile::compile(&loaded, lib, opts)?);
    }
    Ok(last.expect("at least one round"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_flags_need_a_key_and_an_equals_sign() {
        assert_eq!(parse_var("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_var("a=").unwrap(), ("a".into(), String::new()));
        assert!(parse_var("a").is_err());
        assert!(parse_var("=b").is_err());
    }
}
