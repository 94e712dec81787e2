//! Helpers for the build-cache tests: running `melwrap build` (also as an unprivileged uid), a
//! loopback HTTP server that counts requests per path, tarballs and digests, and bounded waits.

use std::path::Path;
use std::process::{Command, Output};

use sha2::{Digest, Sha256, Sha512};

pub use crate::support::unpriv::{skip_unless_root, unprivileged_uid};

/// `melwrap` with a clean environment, as the test process (`uid` `None`) or as `uid` (through
/// `setpriv` when that is another uid).
pub fn melwrap(uid: Option<u32>) -> Command {
    let mut cmd = match uid {
        None => Command::new(env!("CARGO_BIN_EXE_melwrap")),
        Some(uid) => crate::support::unpriv::as_user(uid, env!("CARGO_BIN_EXE_melwrap")),
    };
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", "/usr/bin:/bin");
    cmd
}

/// `melwrap build CONFIG --cache-dir CACHE --out-dir OUT` plus `extra`.
pub fn build(uid: Option<u32>, config: &Path, cache: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = melwrap(uid);
    cmd.arg("build")
        .arg(config)
        .arg("--cache-dir")
        .arg(cache)
        .arg("--out-dir")
        .arg(out)
        .args(extra);
    cmd
}

/// Exit code, stdout and stderr of a finished process.
pub fn outcome(out: Output) -> (i32, String, String) {
    crate::support::Run::from(out).into_parts()
}

/// A temporary directory any uid may enter and write, for tests that drop privileges.
pub fn open_tempdir() -> crate::support::unpriv::TempTree {
    crate::support::open_tempdir("melwrap-cache-build")
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn sha512_hex(data: &[u8]) -> String {
    hex::encode(Sha512::digest(data))
}

/// A gzip tarball of `files` (name, content) under a top directory `top/`, made by `tar`.
pub fn tarball(top: &str, files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = dir.path().join(top).join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let out = Command::new("tar")
        .arg("-C")
        .arg(dir.path())
        .args(["-czf", "-", top])
        .output()
        .unwrap();
    assert!(out.status.success(), "tar failed");
    out.stdout
}

/// Content that does not compress away, so a tarball has a real size.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub use crate::support::files::files_under;

pub use crate::support::wait_until;

pub use crate::support::http::HttpServer;

/// The cache summary a build printed last (`cache: <size> ...`), if any.
pub fn cache_line(stderr: &str) -> Option<&str> {
    stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("cache: ") && !l.starts_with("cache: preloaded"))
}
