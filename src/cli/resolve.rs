//! `melwrap resolve`: the package set a config's build environment resolves to, as
//! `apk add --simulate` on an empty root would choose it.

use std::io::Write;
use std::path::PathBuf;

use color_eyre::eyre;

use super::{ExitStatus, StatusError, Verbosity};
use crate::repo::{self, Environment, LocalSource};

const EXAMPLES: &str = "\
Examples:
  melwrap resolve melange.yaml
  melwrap resolve --arch aarch64 --format json melange.yaml
  melwrap resolve --repository-append ./packages --keyring-append melange.rsa.pub \\
      --package-append busybox

Repositories are local directories holding <arch>/APKINDEX.tar.gz (`@tag DIR` for a tagged
one; `name@tag` installs from it). Every index must be signed by a key in the keyring.";

/// Print the packages a config's build environment resolves to, one NAME-VERSION per line.
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Args {
    /// The build file [default: the first of .melange.yaml, .melange.yml, melange.yaml,
    /// melange.yml here; none needed when --repository-append is given].
    pub config: Option<PathBuf>,

    /// The architecture whose indexes are read (apk or OCI name, or any other: nothing runs)
    /// [default: the host's].
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,

    /// A repository added after the config's (repeatable; `@tag DIR` for a tagged one).
    #[arg(long = "repository-append", short = 'r', value_name = "REPO")]
    pub repository_append: Vec<String>,

    /// A public key file added to the config's keyring (repeatable).
    #[arg(long = "keyring-append", short = 'k', value_name = "KEY")]
    pub keyring_append: Vec<String>,

    /// A package added to the config's list (repeatable; `name`, `name>=1.2`, `name@tag`).
    #[arg(long = "package-append", value_name = "PKG")]
    pub package_append: Vec<String>,

    /// Use indexes whose signature is missing or does not verify (with a warning).
    #[arg(long)]
    pub ignore_signatures: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

fn bad(msg: impl Into<String>) -> eyre::Report {
    StatusError(ExitStatus::BadInput, msg.into()).into()
}

pub fn run(args: Args, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    // The config is optional when the flags name both repositories and packages.
    let config = match crate::inputs::find_config(args.config.as_deref()) {
        Ok(p) => Some(p),
        Err(_) if args.config.is_none() && !args.repository_append.is_empty() => None,
        Err(d) => return Err(d.into()),
    };
    let contents = match &config {
        Some(p) => crate::config::load(p)?.config.environment.contents,
        None => Default::default(),
    };
    let env = Environment::from_contents(
        &contents,
        &args.repository_append,
        &args.keyring_append,
        &args.package_append,
    )
    .map_err(bad)?;
    // Known names in either spelling become apk's (`amd64` is `x86_64`); any other name is
    // used as written, since nothing runs.
    let arch = args
        .arch
        .as_deref()
        .map(|a| crate::compile::arch::Arch::parse(a).map_or(a.to_string(), |k| k.apk.to_string()))
        .or_else(|| crate::compile::arch::Arch::host().map(|a| a.apk.to_string()))
        .ok_or_else(|| bad("cannot tell the host's architecture; pass --arch"))?;
    let mut warn = |m: String| {
        if verbosity > Verbosity::Quiet {
            eprintln!("warning: {m}");
        }
    };
    let (universe, set) =
        repo::resolve_environment(&env, &arch, &LocalSource, args.ignore_signatures, &mut warn)
            .map_err(bad)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Text => {
            for p in &set {
                writeln!(out, "{}-{}", p.name, p.version)?;
            }
        }
        Format::Json => {
            let items: Vec<serde_json::Value> = set
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "name": p.name,
                        "version": p.version,
                        "arch": p.arch,
                        "repository": p.repository,
                        "size": p.size,
                        "checksum": p.checksum,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?;
        }
    }
    out.flush()?;
    // The process ends here: freeing thousands of index entries one by one is wasted time.
    std::mem::forget(universe);
    std::mem::forget(set);
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use crate::cli::{Command, parse_subcommand};

    #[test]
    fn parses_appends_and_format() {
        let Command::Resolve(a) = parse_subcommand(
            "resolve",
            &[
                "--arch",
                "riscv64",
                "--repository-append",
                "/r",
                "--repository-append",
                "@t /s",
                "--keyring-append",
                "k.pub",
                "--package-append",
                "busybox",
                "--ignore-signatures",
                "--format",
                "json",
            ],
        ) else {
            panic!("not resolve")
        };
        assert_eq!(a.arch.as_deref(), Some("riscv64"));
        assert_eq!(a.repository_append, vec!["/r", "@t /s"]);
        assert!(a.ignore_signatures);
        assert_eq!(a.format, super::Format::Json);
    }
}
