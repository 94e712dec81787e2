//! End-to-end tests of the build cache through the binary: `cache info`, `cache prune`,
//! `cache preload`, the lock builds hold, and refusing unusable cache dirs. Real files, real
//! processes (`flock`, `setpriv`, `bwrap` from the host), no timing assertions.

#[path = "cache/common.rs"]
mod common;
#[path = "support/files.rs"]
mod files;
#[path = "cache/info_prune.rs"]
mod info_prune;
#[path = "cache/open_preload.rs"]
mod open_preload;
#[path = "support/unpriv.rs"]
mod unpriv;
