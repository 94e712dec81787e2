//! `melwrap build` end to end, through the binary, with real bwrap, files and processes
//! (issue 4, "What it must show"). One module per area; hostile steps are in `hostile/`.
//!
//! Every test skips (with the reason printed) when bwrap cannot run here, and fails instead
//! under `CI=true`. Tests that must also hold for an ordinary user run the binary a second time
//! as uid 65534 through `setpriv`.

pub mod common;

mod cache;
mod dirs;
mod dry_run;
mod env;
mod examples;
mod failures;
mod fetch;
mod golang;
mod interactive;
mod ownership;
pub mod pty;
pub mod sca;
mod signals;
