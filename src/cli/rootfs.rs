//! `melwrap rootfs`: a config's build environment assembled into a directory, the tree
//! `apk add --root DIR --initdb` gives, usable as `melwrap build --rootfs DIR`.

use std::io::Write;
use std::path::PathBuf;

use color_eyre::eyre;

use super::repo_args::{RepoArgs, bad};
use super::{ExitStatus, Verbosity};
use crate::repo::install::check_target;
use crate::repo::rootfs::{build_rootfs, wanted_in_order};

const EXAMPLES: &str = "\
Examples:
  melwrap rootfs melange.yaml ./root
  melwrap rootfs --repository-append https://packages.wolfi.dev/os \\
      --keyring-append https://packages.wolfi.dev/os/wolfi-signing.rsa.pub \\
      --package-append busybox ./root
  melwrap build --rootfs ./root melange.yaml

DIR must be new or empty. Packages are installed in apk's order (dependencies first), each
verified against its signed index entry; their scripts are not run. Symlinks to directories
that packages install (`lib -> usr/lib`) are followed inside DIR, never out of it.";

/// Assemble a config's build environment (environment.contents) into a new or empty directory.
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Args {
    /// `[CONFIG] DIR`: the build file [default: the first of .melange.yaml, .melange.yml,
    /// melange.yaml, melange.yml here; none needed when --repository-append is given], then
    /// the directory to assemble into.
    #[arg(value_name = "[CONFIG] DIR", num_args = 1..=2, required = true)]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub repo: RepoArgs,
}

pub fn run(args: Args, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    let (config_arg, dir) = match args.paths.as_slice() {
        [dir] => (None, dir.clone()),
        [config, dir] => (Some(config.clone()), dir.clone()),
        _ => return Err(bad("rootfs takes [CONFIG] DIR")),
    };
    let config = match crate::inputs::find_config(config_arg.as_deref()) {
        Ok(p) => Some(p),
        Err(_) if config_arg.is_none() && !args.repo.repository_append.is_empty() => None,
        Err(d) => return Err(d.into()),
    };
    // Before anything is downloaded.
    check_target(&dir)?;
    let prepared = args.repo.prepare(config.as_deref(), verbosity)?;
    if prepared.env.packages.is_empty() {
        return Err(bad(
            "no packages: name them in environment.contents.packages or with --package-append",
        ));
    }
    let (keyring, keys) = prepared.keyring()?;
    let (universe, set) = prepared.resolve(&keyring, args.repo.ignore_signatures)?;
    let wanted = wanted_in_order(&set, &prepared.env.packages)?;
    let root_config = prepared.root_config(keys);
    let assembled = build_rootfs(&dir, &wanted, &root_config, &prepared.sources())?;
    for note in &assembled.xattrs_left_out {
        prepared
            .printer
            .detail(format!("extended attribute not set: {note}"));
    }
    let mut out = std::io::stdout().lock();
    for p in &assembled.packages {
        writeln!(out, "{}-{}", p.name, p.version)?;
        for s in &p.skipped {
            prepared
                .printer
                .warn(format!("{}-{}: not installed: {s}", p.name, p.version));
        }
    }
    out.flush()?;
    std::mem::forget(universe);
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use crate::cli::{Command, parse_subcommand};

    #[test]
    fn config_is_optional_before_the_directory() {
        let Command::Rootfs(a) = parse_subcommand("rootfs", &["root"]) else {
            panic!("not rootfs")
        };
        assert_eq!(a.paths.len(), 1);
        let Command::Rootfs(a) = parse_subcommand(
            "rootfs",
            &["m.yaml", "root", "--no-network", "--apk-cache-dir", "/c"],
        ) else {
            panic!("not rootfs")
        };
        assert_eq!(a.paths.len(), 2);
        assert!(a.repo.no_network);
    }
}
