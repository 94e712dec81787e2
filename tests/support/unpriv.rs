//! Running a program as an ordinary user from the (root) test process, through
//! `setpriv --reuid=UID --regid=UID --clear-groups`. Shared by the test binaries with
//! `#[path = "../support/unpriv.rs"] mod unpriv;`.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::process::Command;

/// The uid (and gid) of `nobody`, the ordinary user the tests run things as.
pub const NOBODY: u32 = 65534;

/// setpriv by absolute path, so a command whose PATH is changed still finds it.
pub const SETPRIV: &str = "/usr/bin/setpriv";

/// setpriv's arguments that switch to `uid` (and the same gid) with no supplementary groups;
/// the program and its arguments follow.
pub fn setpriv_args(uid: u32) -> Vec<OsString> {
    vec![
        format!("--reuid={uid}").into(),
        format!("--regid={uid}").into(),
        "--clear-groups".into(),
        "--".into(),
    ]
}

/// A `Command` running `program` as `uid`; add its arguments as usual.
pub fn as_user(uid: u32, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(SETPRIV);
    cmd.args(setpriv_args(uid)).arg(program);
    cmd
}

/// A `Command` running `program` as [`NOBODY`].
pub fn as_nobody(program: impl AsRef<OsStr>) -> Command {
    as_user(NOBODY, program)
}

/// Whether the tests run as root (and so can drop to another uid).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
