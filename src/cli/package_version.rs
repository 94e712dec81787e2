//! `melwrap package-version`: melange's `package-version`, which Wolfi's Makefile calls to
//! name the `.apk` a config builds (`NAME-VERSION-rEPOCH`).

use std::path::PathBuf;

use color_eyre::eyre;

use super::{ExitStatus, Verbosity};

/// Print the package a config builds, as `NAME-VERSION-rEPOCH` (melange's `package-version`).
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:\n  melwrap package-version hello.yaml   # hello-2.12.1-r0")]
pub struct Args {
    /// The build file.
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
}

pub fn run(args: Args, _verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    let loaded = crate::config::load(&args.config)?;
    let p = &loaded.config.package;
    println!("{}-{}-r{}", p.name, p.version, p.epoch);
    Ok(ExitStatus::Success)
}
