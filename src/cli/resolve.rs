//! `melwrap resolve`: the package set a config's build environment resolves to, as
//! `apk add --simulate` on an empty root would choose it.

use std::io::Write;
use std::path::PathBuf;

use color_eyre::eyre;

use super::repo_args::RepoArgs;
use super::{ExitStatus, Verbosity};

const EXAMPLES: &str = "\
Examples:
  melwrap resolve melange.yaml
  melwrap resolve --arch aarch64 --format json melange.yaml
  melwrap resolve --repository-append https://packages.wolfi.dev/os \\
      --keyring-append https://packages.wolfi.dev/os/wolfi-signing.rsa.pub --package-append busybox
  melwrap resolve --repository-append ./packages --keyring-append melange.rsa.pub \\
      --package-append busybox

Repositories are URLs or local directories holding <arch>/APKINDEX.tar.gz (`@tag REPO` for a
tagged one; `name@tag` installs from it). Every index must be signed by a key in the keyring.
Downloaded indexes are kept in the apk cache (--apk-cache-dir) and used again for 4 hours;
with --no-network only the cache is read.";

/// Print the packages a config's build environment resolves to, one NAME-VERSION per line.
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Args {
    /// The build file [default: the first of .melange.yaml, .melange.yml, melange.yaml,
    /// melange.yml here; none needed when --repository-append is given].
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub repo: RepoArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(args: Args, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    // The config is optional when the flags name repositories.
    let config = match crate::inputs::find_config(args.config.as_deref()) {
        Ok(p) => Some(p),
        Err(_) if args.config.is_none() && !args.repo.repository_append.is_empty() => None,
        Err(d) => return Err(d.into()),
    };
    let prepared = args.repo.prepare(config.as_deref(), verbosity)?;
    let (keyring, _) = prepared.keyring()?;
    let (universe, set) = prepared.resolve(&keyring, args.repo.ignore_signatures)?;
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
        assert_eq!(a.repo.arch.as_deref(), Some("riscv64"));
        assert_eq!(a.repo.repository_append, vec!["/r", "@t /s"]);
        assert!(a.repo.ignore_signatures);
        assert_eq!(a.format, super::Format::Json);
    }
}
