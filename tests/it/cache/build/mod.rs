//! End-to-end tests of the build cache through `melwrap build`: several builds sharing one
//! cache dir at once, `prune` against a build that holds the cache, and the per-build report of
//! which `fetch` sources the cache served. Real builds in `bwrap`, a loopback HTTP server for
//! the downloads, no timing assertions (waits are bounded polls).

mod area_report;
mod concurrent;
mod fetch_report;
mod proxy;
mod prune_lock;
mod shared_out;
mod support;
