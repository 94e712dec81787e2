//! `melwrap test` and `melwrap build --test` end to end, through the binary, with real bwrap.
//!
//! The fixture (`testdata/test_cmd/hello.yaml`) has a main package and two subpackages whose
//! tests pass only when their own files are installed at `/` and a sibling's are not.

pub mod support;

mod env_and_workspace;
mod packages;
mod rootfs_dir;
