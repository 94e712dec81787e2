//! The `.apk` writer, the index and signing, against independent readers (Python, openssl);
//! and packages out of real builds.

mod errors;
mod from_builds;
mod index;
mod setcap_kernel;
mod sign;
pub mod support;
mod writer;
