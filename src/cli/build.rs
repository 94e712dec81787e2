//! `melwrap build`.

use color_eyre::eyre;

use super::{ExitStatus, Verbosity};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, _verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    super::not_yet("melwrap build")
}
