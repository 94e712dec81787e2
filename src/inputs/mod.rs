//! The one route from a build file to its plan. `melwrap compile`, `melwrap build --dry-run`,
//! `melwrap build` and `melwrap test` all compile through [`PlanInputs::route`] and
//! [`PlanRoute::plan`], with the same inputs: `--var`, `--build-option`, `--pipeline-dir`,
//! `--env-file`, the build date (`SOURCE_DATE_EPOCH`, `--build-date`) and the guest
//! environment's defaults. So `compile` prints exactly the environment and scripts a build runs.

pub mod date;
pub mod envfile;
mod prepare;
pub mod varsfile;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compile::{self, Arch, CompileOptions, Plan};
use crate::config::LoadedConfig;
use crate::diag::{Diagnostic, Diagnostics};
use crate::pipelines::Library;

pub use prepare::{Prepared, parse_timeout, prepare};

/// melange's default build-file names, tried in this order (`pkg/build/build.go`).
const DEFAULT_CONFIGS: &[&str] = &[
    ".melange.yaml",
    ".melange.yml",
    "melange.yaml",
    "melange.yml",
];

/// What a plan is compiled from, besides the build file and the architecture.
#[derive(Debug, Clone, Default)]
pub struct PlanInputs {
    /// `--pipeline-dir`s, searched in order before the built-ins.
    pub pipeline_dirs: Vec<PathBuf>,
    /// `--env-file`s, in command-line order.
    pub env_files: Vec<PathBuf>,
    /// `--var KEY=VALUE`s.
    pub vars: Vec<String>,
    /// `--vars-file`: merged over the config's `vars:`, under the `--var`s.
    pub vars_file: Option<PathBuf>,
    /// `--build-option NAME`s.
    pub build_options: Vec<String>,
    /// `--build-date` (RFC 3339); `SOURCE_DATE_EPOCH` in melwrap's environment wins.
    pub build_date: Option<String>,
    /// An explicit build date in Unix seconds (`compile --source-date-epoch`), over both.
    pub source_date_epoch: Option<u64>,
}

/// The inputs read and checked for one architecture: compiles any number of build files.
pub struct PlanRoute {
    library: Library,
    options: CompileOptions,
}

impl PlanInputs {
    /// Read the env files and the build date and check the vars: every problem here is bad
    /// input, found before anything runs.
    pub fn route(&self, arch: &Arch) -> Result<PlanRoute, Diagnostic> {
        let env_files = self
            .env_files
            .iter()
            .map(|file| envfile::read(file))
            .collect::<Result<Vec<_>, _>>()?;
        let source_date_epoch = match self.source_date_epoch {
            Some(seconds) => seconds,
            None => date::source_date_epoch(
                std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(),
                self.build_date.as_deref(),
            )?,
        };
        let options = CompileOptions {
            arch: arch.apk.to_string(),
            vars: self.all_vars()?,
            build_options: self.build_options.clone(),
            source_date_epoch,
            env_files,
            host_libc: String::new(),
        };
        Ok(PlanRoute {
            library: Library::new(self.pipeline_dirs.clone()),
            options,
        })
    }
}

impl PlanInputs {
    /// The `--vars-file`'s entries with the `--var`s over them.
    fn all_vars(&self) -> Result<BTreeMap<String, String>, Diagnostic> {
        let mut vars = match &self.vars_file {
            Some(path) => varsfile::read(path)?,
            None => BTreeMap::new(),
        };
        vars.extend(parse_vars(&self.vars)?);
        Ok(vars)
    }
}

impl PlanRoute {
    /// Compile `loaded` into its plan.
    pub fn plan(&self, loaded: &LoadedConfig) -> Result<Plan, Diagnostics> {
        compile::compile(loaded, &self.library, &self.options)
    }

    /// The build date the plans are compiled with, in Unix seconds.
    pub fn source_date_epoch(&self) -> u64 {
        self.options.source_date_epoch
    }
}

/// Find the build file: the argument, or melange's default names in the current directory.
pub fn find_config(arg: Option<&Path>) -> Result<PathBuf, Diagnostic> {
    if let Some(path) = arg {
        return Ok(path.to_path_buf());
    }
    DEFAULT_CONFIGS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Diagnostic::new(
                ".",
                "no build file given and none found in the current directory",
            )
            .hint(format!(
                "pass one (melwrap build foo.yaml) or create one of {}",
                DEFAULT_CONFIGS.join(", ")
            ))
        })
}

/// `host` (this machine's) or an architecture name, apk or OCI spelling.
pub fn resolve_arch(arg: &str) -> Result<Arch, Diagnostic> {
    if arg == "host" {
        return Arch::host().ok_or_else(|| {
            Diagnostic::new(
                "--arch",
                format!(
                    "this machine's architecture `{}` is not one melange builds for",
                    std::env::consts::ARCH
                ),
            )
            .hint("pass `--arch`")
        });
    }
    Arch::parse(arg).ok_or_else(|| {
        Diagnostic::new("--arch", format!("unknown architecture `{arg}`")).hint(format!(
            "use one of: host, {}",
            compile::arch::names().join(", ")
        ))
    })
}

/// `KEY=VALUE` pairs, each with a non-empty key.
pub fn parse_vars(pairs: &[String]) -> Result<BTreeMap<String, String>, Diagnostic> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(Diagnostic::new(
                "--var",
                format!("expected KEY=VALUE, found `{pair}`"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_need_a_key_and_an_equals_sign() {
        let ok = parse_vars(&["a=b=c".into(), "d=".into()]).unwrap();
        assert_eq!(ok["a"], "b=c");
        assert_eq!(ok["d"], "");
        assert!(parse_vars(&["a".into()]).is_err());
        assert!(parse_vars(&["=b".into()]).is_err());
    }

    #[test]
    fn an_explicit_date_wins_over_the_environment() {
        let inputs = PlanInputs {
            source_date_epoch: Some(42),
            ..Default::default()
        };
        let route = inputs.route(&Arch::parse("x86_64").unwrap()).unwrap();
        assert_eq!(route.source_date_epoch(), 42);
    }
}
