//! The apk repository client (`melwrap::repo`): downloads, the verified cache and root
//! assembly, on packages built and signed by `melwrap build` and served over loopback HTTP.

pub mod cache;
pub mod cli;
pub mod fixture;
pub mod guest_auto;
pub mod guest_root;
pub mod install;
pub mod proxy;
mod resolve_answers;
mod tls;
