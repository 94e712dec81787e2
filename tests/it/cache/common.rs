//! Helpers shared by the cache tests: running the binary (also as an unprivileged uid),
//! files with known sizes and times, content hashes, and a process holding the cache lock.

// Re-exported so each test module needs only `use super::common::*`.
pub use std::collections::BTreeMap;
pub use std::io::{BufRead, BufReader};
pub use std::os::unix::fs::{MetadataExt, PermissionsExt};
pub use std::os::unix::process::CommandExt;
pub use std::path::{Path, PathBuf};
pub use std::process::{Child, Command, Stdio};
pub use std::time::{SystemTime, UNIX_EPOCH};

pub use sha2::{Digest, Sha256};

pub use crate::support::unpriv::{
    NOBODY, skip_unless_root, skip_without_a_second_user, unprivileged_gid, unprivileged_uid,
};
pub const DAY: i64 = 86400;

pub fn melwrap() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_melwrap"));
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", "/usr/bin:/bin");
    cmd
}

/// The binary run as `uid`: through setpriv when the suite is root (as in CI), directly when
/// `uid` is the suite's own.
pub fn melwrap_as(uid: u32) -> Command {
    let mut cmd = crate::support::unpriv::as_user(uid, env!("CARGO_BIN_EXE_melwrap"));
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", "/usr/bin:/bin");
    cmd
}

pub fn run(cmd: &mut Command) -> (i32, String, String) {
    crate::support::Run::from(cmd.output().expect("spawn")).into_parts()
}

/// A temporary directory any uid may enter, for tests that drop privileges.
pub fn open_tempdir() -> crate::support::unpriv::TempTree {
    crate::support::open_tempdir("melwrap-cache-test")
}

/// `chown -R` to the unprivileged user (the suite's own when it is not root).
pub fn chown_to_unprivileged(path: &Path) {
    let status = Command::new("chown")
        .args([
            "-R",
            &format!("{}:{}", unprivileged_uid(), unprivileged_gid()),
        ])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Writes `len` bytes at `root/rel` and sets its atime and mtime to `time` (Unix seconds).
pub fn put(root: &Path, rel: &str, len: usize, time: i64) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let content: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&path, content).unwrap();
    set_times(&path, time);
}

pub fn set_times(path: &Path, time: i64) {
    let status = Command::new("touch")
        .args(["-h", "-a", "-m", "-d", &format!("@{time}")])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn blob(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// Every regular file under `root` with the sha256 of its content (not the lock file).
pub fn hashes(root: &Path) -> BTreeMap<PathBuf, String> {
    crate::support::files::files_under(root)
        .into_iter()
        .map(|(path, data)| (path, hex::encode(Sha256::digest(&data))))
        .collect()
}

pub fn info_json(cmd: &mut Command) -> serde_json::Value {
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// A cache with known sizes and ages: `(relative path, bytes, days since last use)`.
pub const KNOWN: &[(&str, usize, i64)] = &[
    (
        "gomodcache/cache/download/example.com/m/@v/v1.0.0.zip",
        4000,
        50,
    ),
    (
        "gomodcache/cache/download/example.com/m/@v/v1.0.0.mod",
        100,
        50,
    ),
    ("gomodcache/example.com/m@v1.0.0/m.go", 900, 45),
    ("gomodcache/example.com/n@v0.1.0/n.go", 2000, 10),
    ("pip/http-v2/a/b/abc", 300, 20),
    ("pip/http-v2/a/b/abc.body", 700, 20),
    ("npm/_cacache/content-v2/sha512/aa/bb/cc", 5000, 2),
    ("stray/file", 10, 60),
];

pub fn known_cache(root: &Path) -> i64 {
    let now = now();
    for (rel, len, days) in KNOWN {
        put(root, rel, *len, now - days * DAY);
    }
    put(root, &blob('a'), 1000, now - 40 * DAY);
    put(root, &blob('b'), 3000, now - 5 * DAY);
    now
}

/// Holds the shared cache lock (`flock` on the cache dir itself) in another process, as a
/// build does, until dropped.
pub struct LockHolder(Child);

impl LockHolder {
    pub fn new(cache: &Path) -> LockHolder {
        let mut child = Command::new("flock")
            .arg("-s")
            .arg(cache)
            .args(["-c", "echo locked; exec sleep 300"])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        LockHolder(child)
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        // The holder runs in its own process group: end exactly that group.
        // SAFETY: kill with a negative pid signals only our child's group.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}
