//! The apk repository client (`melwrap::repo`): downloads, the verified cache and root
//! assembly, on packages built and signed by `melwrap build` and served over loopback HTTP.

#[path = "../support/http.rs"]
mod http;
#[path = "../support/unpriv.rs"]
mod unpriv;

mod cache;
mod cli;
mod crafted;
mod fixture;
mod guest_root;
mod install;
mod links_in_root;
mod proxy;
mod tls;
