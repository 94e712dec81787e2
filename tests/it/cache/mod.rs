//! End-to-end tests of the build cache through the binary: `cache info`, `cache prune`,
//! `cache preload`, the lock builds hold, and refusing unusable cache dirs. Real files, real
//! processes (`flock`, `setpriv`, `bwrap` from the host), no timing assertions.

mod build;
mod common;
mod info_prune;
mod open_preload;
