//! End-to-end tests of the build cache through the binary: `cache info`, `cache prune`,
//! `cache preload`, the lock builds hold, and refusing unusable cache dirs. Real files, real
//! processes (`flock`, `setpriv`, `bwrap` from the host), no timing assertions.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

const NOBODY: u32 = 65534;
const DAY: i64 = 86400;

fn melwrap() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_melwrap"));
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", "/usr/bin:/bin");
    cmd
}

/// The binary run as an unprivileged uid (the suite runs as root in CI).
fn melwrap_as(uid: u32) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", "/usr/bin:/bin")
        .args([
            format!("--reuid={uid}"),
            format!("--regid={uid}"),
            "--clear-groups".into(),
            "--".into(),
            env!("CARGO_BIN_EXE_melwrap").into(),
        ]);
    cmd
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("spawn");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A temporary directory any uid may enter, for tests that drop privileges.
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("melwrap-cache-test")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Writes `len` bytes at `root/rel` and sets its atime and mtime to `time` (Unix seconds).
fn put(root: &Path, rel: &str, len: usize, time: i64) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let content: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&path, content).unwrap();
    set_times(&path, time);
}

fn set_times(path: &Path, time: i64) {
    let status = Command::new("touch")
        .args(["-h", "-a", "-m", "-d", &format!("@{time}")])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn blob(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// Every regular file under `root` with the sha256 of its content (not the lock file).
fn hashes(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for item in std::fs::read_dir(&dir).unwrap() {
            let item = item.unwrap();
            let kind = item.file_type().unwrap();
            if kind.is_dir() {
                stack.push(item.path());
            } else if kind.is_file() && item.file_name() != ".melwrap.lock" {
                let data = std::fs::read(item.path()).unwrap();
                out.insert(
                    item.path().strip_prefix(root).unwrap().to_path_buf(),
                    hex::encode(Sha256::digest(&data)),
                );
            }
        }
    }
    out
}

fn info_json(cmd: &mut Command) -> serde_json::Value {
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// A cache with known sizes and ages: `(relative path, bytes, days since last use)`.
const KNOWN: &[(&str, usize, i64)] = &[
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

fn known_cache(root: &Path) -> i64 {
    let now = now();
    for (rel, len, days) in KNOWN {
        put(root, rel, *len, now - days * DAY);
    }
    put(root, &blob('a'), 1000, now - 40 * DAY);
    put(root, &blob('b'), 3000, now - 5 * DAY);
    now
}

#[test]
fn info_reports_sizes_entries_and_ages() {
    let tmp = open_tempdir();
    let cache = tmp.path().join("cache");
    let now = known_cache(&cache);
    let json = info_json(
        melwrap()
            .args(["cache", "info", "--format", "json", "--cache-dir"])
            .arg(&cache),
    );
    let area = |name: &str| &json["areas"][name];
    let go = area("gomodcache");
    assert_eq!(go["bytes"], 7000);
    assert_eq!(go["files"], 4);
    // Two modules: example.com/m (download dir and extracted tree together) and example.com/n.
    assert_eq!(go["entries"], 2);
    assert_eq!(go["oldest_use"], now - 45 * DAY);
    assert_eq!(go["newest_use"], now - 10 * DAY);
    assert_eq!(area("pip")["entries"], 1, "a pip body goes with its header");
    assert_eq!(area("pip")["bytes"], 1000);
    assert_eq!(area("fetch")["entries"], 2);
    assert_eq!(area("fetch")["bytes"], 4000);
    assert_eq!(area("fetch")["oldest_use"], now - 40 * DAY);
    assert_eq!(area("other")["bytes"], 10);
    assert_eq!(json["total"]["bytes"], 7000 + 1000 + 5000 + 10 + 4000);
    assert_eq!(json["total"]["entries"], 2 + 1 + 1 + 1 + 2);
    assert!(area("uv").is_null(), "empty areas are left out");

    let (code, text, _) = run(melwrap().args(["cache", "info", "--cache-dir"]).arg(&cache));
    assert_eq!(code, 0);
    assert!(text.contains("(16.6 KiB in 7 entries)"), "{text}");
    let go_line = text.lines().find(|l| l.starts_with("gomodcache")).unwrap();
    assert!(
        go_line.contains("6.8 KiB") && go_line.contains("45 days ago"),
        "{go_line}"
    );
    assert!(go_line.contains("10 days ago"), "{go_line}");
}

#[test]
fn info_works_as_an_unprivileged_user() {
    let tmp = open_tempdir();
    let cache = tmp.path().join("cache");
    known_cache(&cache);
    // Root owns the cache; nobody can read but not write it, and one directory not at all.
    std::fs::create_dir(cache.join("private")).unwrap();
    put(&cache, "private/secret", 5, now());
    std::fs::set_permissions(
        cache.join("private"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let json = info_json(
        melwrap_as(NOBODY)
            .args(["cache", "info", "--format", "json", "--cache-dir"])
            .arg(&cache),
    );
    assert_eq!(json["areas"]["gomodcache"]["bytes"], 7000);
    assert_eq!(json["unreadable"].as_array().unwrap().len(), 1);
    let (code, _, stderr) = run(melwrap_as(NOBODY)
        .args(["cache", "info", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 0);
    assert!(stderr.contains("could not be read"), "{stderr}");
}

#[test]
fn prune_by_age_removes_only_old_entries() {
    let tmp = open_tempdir();
    let cache = tmp.path().join("cache");
    known_cache(&cache);
    let (code, stdout, stderr) = run(melwrap()
        .args(["cache", "prune", "--older-than", "30d", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Older than 30 days: the `stray` dir (60), module m (45), blob a (40).
    assert!(!cache.join("stray").exists());
    assert!(!cache.join("gomodcache/example.com/m@v1.0.0").exists());
    assert!(
        !cache
            .join("gomodcache/cache/download/example.com/m/@v")
            .exists()
    );
    assert!(!cache.join(blob('a')).exists());
    // Newer ones stay.
    assert!(cache.join("gomodcache/example.com/n@v0.1.0/n.go").exists());
    assert!(cache.join(blob('b')).exists());
    assert!(cache.join("pip/http-v2/a/b/abc.body").exists());
    let order: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("removed"))
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(
        order,
        ["stray", "gomodcache/example.com/m", blob('a').as_str()]
    );
    assert!(stdout.contains("freed 5.9 KiB in 3 entries"), "{stdout}");
}

#[test]
fn prune_by_size_removes_least_recently_used_first() {
    let tmp = open_tempdir();
    let cache = tmp.path().join("cache");
    known_cache(&cache);
    // 17010 bytes in all; to fit in 10000 the oldest go: stray (10), m (5000), blob a (1000),
    // pip (1000, 20 days) -> 10000 left.
    let (code, stdout, stderr) = run(melwrap()
        .args(["cache", "prune", "--max-size", "10000", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!cache.join("pip/http-v2/a/b/abc").exists());
    assert!(!cache.join("pip/http-v2/a/b/abc.body").exists());
    assert!(cache.join("gomodcache/example.com/n@v0.1.0/n.go").exists());
    let json = info_json(
        melwrap()
            .args(["cache", "info", "--format", "json", "--cache-dir"])
            .arg(&cache),
    );
    assert_eq!(json["total"]["bytes"], 10000);
}

#[test]
fn dry_run_removes_nothing() {
    let tmp = open_tempdir();
    let cache = tmp.path().join("cache");
    known_cache(&cache);
    let before = hashes(&cache);
    let (code, stdout, _) = run(melwrap()
        .args([
            "cache",
            "prune",
            "--max-size",
            "0",
            "--dry-run",
            "--cache-dir",
        ])
        .arg(&cache));
    assert_eq!(code, 0);
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("would remove"))
            .count(),
        7
    );
    assert!(
        stdout.contains("would free 16.6 KiB in 7 entries"),
        "{stdout}"
    );
    assert_eq!(hashes(&cache), before);
}

/// Holds the shared cache lock in another process, as a build does, until dropped.
struct LockHolder(Child);

impl LockHolder {
    fn new(cache: &Path) -> LockHolder {
        let mut child = Command::new("flock")
            .arg("-s")
            .arg(cache.join(".melwrap.lock"))
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

#[test]
fn prune_is_refused_while_a_build_holds_the_cache() {
    let tmp = open_tempdir();
    let cache = tmp.path().join("cache");
    known_cache(&cache);
    let before = hashes(&cache);
    let holder = LockHolder::new(&cache);
    let (code, stdout, stderr) = run(melwrap()
        .args(["cache", "prune", "--max-size", "0", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("a build is using this cache"), "{stderr}");
    assert!(stderr.contains("--wait"), "{stderr}");
    assert_eq!(hashes(&cache), before);

    // With --wait it blocks until the build ends, then prunes.
    let mut waiting = melwrap()
        .args(["cache", "prune", "--max-size", "0", "--wait", "--cache-dir"])
        .arg(&cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(waiting.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("waiting for the builds"), "{line}");
    assert_eq!(hashes(&cache), before, "nothing goes while the build runs");
    drop(holder);
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(hashes(&cache).is_empty());
}

#[test]
fn refuses_a_file_and_a_missing_dir() {
    let tmp = open_tempdir();
    let file = tmp.path().join("file");
    std::fs::write(&file, "mine").unwrap();
    let (code, _, stderr) = run(melwrap()
        .args([
            "cache",
            "preload",
            "--cache-source",
            "/nonexistent",
            "--cache-dir",
        ])
        .arg(&file));
    assert_eq!(code, 2);
    assert!(stderr.contains("exists but is not a directory"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");
    let (code, _, stderr) = run(melwrap()
        .args(["cache", "info", "--cache-dir"])
        .arg(tmp.path().join("missing")));
    assert_eq!(code, 2);
    assert!(stderr.contains("there is no cache dir here"), "{stderr}");
    assert!(!tmp.path().join("missing").exists(), "info creates nothing");
}

#[test]
fn refuses_a_dir_it_cannot_write_as_an_unprivileged_user() {
    let tmp = open_tempdir();
    let cache = tmp.path().join("ro");
    std::fs::create_dir(&cache).unwrap();
    std::os::unix::fs::chown(&cache, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o555)).unwrap();
    let (code, _, stderr) = run(melwrap_as(NOBODY)
        .args(["cache", "prune", "--older-than", "1d", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("not writable: uid 65534 may not write to it"),
        "{stderr}"
    );
    // Reading it is still fine.
    let (code, _, stderr) = run(melwrap_as(NOBODY)
        .args(["cache", "info", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn refuses_a_read_only_mount_even_as_root() {
    assert!(is_root(), "this suite runs as root (as CI does)");
    let tmp = open_tempdir();
    let cache = tmp.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    // bwrap gives the binary a view where the cache is a read-only bind mount.
    let mut cmd = Command::new("bwrap");
    cmd.args(["--bind", "/", "/", "--ro-bind"])
        .arg(&cache)
        .arg(&cache)
        .args(["--dev", "/dev", "--"])
        .arg(env!("CARGO_BIN_EXE_melwrap"))
        .args(["cache", "prune", "--older-than", "1d", "--cache-dir"])
        .arg(&cache);
    let (code, _, stderr) = run(&mut cmd);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("read-only filesystem"), "{stderr}");
}

#[test]
fn preload_copies_missing_entries_and_never_overwrites() {
    let tmp = open_tempdir();
    let (source, cache) = (tmp.path().join("seed"), tmp.path().join("cache"));
    let old = now() - 100 * DAY;
    put(&source, &blob('a'), 1000, old);
    put(&source, "pip/http-v2/x", 200, old);
    put(&source, "gomodcache/example.com/m@v1.0.0/m.go", 300, old);
    std::os::unix::fs::symlink("x", source.join("pip/http-v2/link")).unwrap();
    // Go makes module trees read-only; the copy keeps that.
    std::fs::set_permissions(
        source.join("gomodcache/example.com/m@v1.0.0"),
        std::fs::Permissions::from_mode(0o555),
    )
    .unwrap();
    put(&cache, "pip/http-v2/x", 5, now());
    let (code, stdout, stderr) = run(melwrap()
        .args(["cache", "preload", "--cache-source"])
        .arg(&source)
        .arg("--cache-dir")
        .arg(&cache));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("3 copied (1.3 KiB), 1 already present, 0 skipped"),
        "{stdout}"
    );
    assert_eq!(std::fs::read(cache.join("pip/http-v2/x")).unwrap().len(), 5);
    assert_eq!(
        std::fs::read_link(cache.join("pip/http-v2/link")).unwrap(),
        PathBuf::from("x")
    );
    let module = cache.join("gomodcache/example.com/m@v1.0.0");
    assert_eq!(std::fs::metadata(&module).unwrap().mode() & 0o777, 0o555);
    assert_eq!(
        std::fs::read(cache.join(blob('a'))).unwrap(),
        std::fs::read(source.join(blob('a'))).unwrap()
    );
    let (_, again, _) = run(melwrap()
        .args(["cache", "preload", "--cache-source"])
        .arg(&source)
        .arg("--cache-dir")
        .arg(&cache));
    assert!(
        again.contains("0 copied (0 B), 4 already present"),
        "{again}"
    );
}

#[test]
fn preload_reads_a_read_only_source_as_an_unprivileged_user() {
    let tmp = open_tempdir();
    let (source, cache) = (tmp.path().join("seed"), tmp.path().join("cache"));
    put(&source, &blob('c'), 4096, now());
    put(&source, "npm/_cacache/content-v2/x", 10, now());
    // Root owns the seed (0755/0644): nobody may read it but not write to it.
    let (code, stdout, stderr) = run(melwrap_as(NOBODY)
        .args(["cache", "preload", "--cache-source"])
        .arg(&source)
        .arg("--cache-dir")
        .arg(&cache));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 copied"), "{stdout}");
    assert_eq!(std::fs::metadata(&cache).unwrap().uid(), NOBODY);
    assert_eq!(std::fs::metadata(&cache).unwrap().mode() & 0o777, 0o755);
    assert_eq!(
        std::fs::metadata(cache.join(blob('c'))).unwrap().uid(),
        NOBODY
    );
    assert_eq!(hashes(&cache), hashes(&source));
}

#[test]
fn concurrent_preloads_leave_every_entry_whole() {
    let tmp = open_tempdir();
    let (source, cache) = (tmp.path().join("seed"), tmp.path().join("cache"));
    for i in 0..40 {
        // A mix of sizes, a few large enough that a torn copy would show.
        let len = if i % 10 == 0 { 3 << 20 } else { 1000 + i * 37 };
        put(
            &source,
            &format!("gomodcache/cache/download/m{i}/@v/v1.zip"),
            len,
            now(),
        );
    }
    put(&source, &blob('d'), 2 << 20, now());
    let spawn = || {
        melwrap()
            .args(["cache", "preload", "--cache-source"])
            .arg(&source)
            .arg("--cache-dir")
            .arg(&cache)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [spawn(), spawn(), spawn()];
    let mut copied = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let n: u64 = text
            .split(": ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        copied += n;
    }
    // Every file was copied exactly once across the three, and every copy is whole.
    assert_eq!(copied, 41);
    assert_eq!(hashes(&cache), hashes(&source));
}

#[test]
fn prune_as_the_owner_removes_read_only_go_module_trees() {
    let tmp = open_tempdir();
    let cache = tmp.path().join("cache");
    let old = now() - 90 * DAY;
    put(
        &cache,
        "gomodcache/cache/download/example.com/m/@v/v1.0.0.zip",
        50,
        old,
    );
    put(&cache, "gomodcache/example.com/m@v1.0.0/sub/m.go", 50, old);
    let chown = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(&cache)
        .status()
        .unwrap();
    assert!(chown.success());
    // What Go leaves: read-only files and directories in the extracted tree.
    let status = Command::new("chmod")
        .args(["-R", "a-w"])
        .arg(cache.join("gomodcache/example.com/m@v1.0.0"))
        .status()
        .unwrap();
    assert!(status.success());
    let (code, stdout, stderr) = run(melwrap_as(NOBODY)
        .args(["cache", "prune", "--older-than", "30d", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!cache.join("gomodcache/example.com/m@v1.0.0").exists());
    assert!(hashes(&cache).is_empty());
}

#[test]
fn home_links_store_cargo_and_maven_downloads_in_the_cache() {
    let tmp = open_tempdir();
    let cache = melwrap::cache::CacheDir::open(&tmp.path().join("cache"), true).unwrap();
    cache.prepare_link_targets().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    melwrap::cache::install_home_links(&home).unwrap();
    // What cargo and maven do: `mkdir -p` below the link, then write a file.
    let script = "set -e
        mkdir -p $HOME/.cargo/registry/cache/index-1 $HOME/.m2/repository/org/x/1.0
        echo crate > $HOME/.cargo/registry/cache/index-1/x-1.0.crate
        echo jar > $HOME/.m2/repository/org/x/1.0/x-1.0.jar
        : > $HOME/.cargo/.package-cache";
    let mut cmd = Command::new("bwrap");
    cmd.args(["--ro-bind", "/", "/", "--tmpfs", "/var/cache", "--bind"])
        .arg(cache.path())
        .arg("/var/cache/melange")
        .args(["--tmpfs", "/home", "--bind"])
        .arg(&home)
        .arg("/home/build")
        .args(["--dev", "/dev", "--proc", "/proc", "--clearenv"])
        .args([
            "--setenv",
            "HOME",
            "/home/build",
            "--setenv",
            "PATH",
            "/usr/bin:/bin",
        ])
        .args(["sh", "-c", script]);
    let (code, _, stderr) = run(&mut cmd);
    assert_eq!(code, 0, "{stderr}");
    let found = hashes(cache.path());
    let names: Vec<String> = found.keys().map(|p| p.display().to_string()).collect();
    assert_eq!(
        names,
        [
            "cargo/.package-cache",
            "cargo/registry/cache/index-1/x-1.0.crate",
            "m2repository/org/x/1.0/x-1.0.jar"
        ]
    );
    let json = info_json(
        melwrap()
            .args(["cache", "info", "--format", "json", "--cache-dir"])
            .arg(cache.path()),
    );
    assert_eq!(json["areas"]["cargo"]["entries"], 2);
    assert_eq!(json["areas"]["m2repository"]["entries"], 1);
}

#[test]
fn build_report_from_real_snapshots() {
    use melwrap::cache::{CacheDir, snapshot, summarize};
    let tmp = open_tempdir();
    let cache = CacheDir::open(&tmp.path().join("cache"), true).unwrap();
    put(cache.path(), &blob('a'), 2048, now());
    put(cache.path(), "pip/wheels/x.whl", 1024, now());
    let before = snapshot(&cache);
    // What a build does: fetch one new source, download a Go module, reuse blob a.
    put(cache.path(), &blob('b'), 1024, now());
    put(
        cache.path(),
        "gomodcache/cache/download/m/@v/v1.zip",
        3 << 20,
        now(),
    );
    let after = snapshot(&cache);
    let report = summarize(&before, &after).with_fetch_sources([blob('a'), blob('b')]);
    assert_eq!(
        report.render_line(),
        "cache: 3.0 KiB (+3.0 MiB: gomodcache +3.0 MiB, fetch +1.0 KiB); \
         fetch served from cache: 1 of 2"
    );
    assert_eq!(report.new_blobs, [blob('b')]);
}

#[test]
fn a_lock_file_made_by_another_user_still_locks() {
    let tmp = open_tempdir();
    let cache = tmp.path().join("cache");
    put(&cache, "stray/old", 10, now() - 90 * DAY);
    // Root ran a build here first; the cache is nobody's, the lock file root's (0644).
    std::fs::write(cache.join(".melwrap.lock"), "").unwrap();
    let status = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(&cache)
        .status()
        .unwrap();
    assert!(status.success());
    std::os::unix::fs::chown(cache.join(".melwrap.lock"), Some(0), Some(0)).unwrap();
    let (code, stdout, stderr) = run(melwrap_as(NOBODY)
        .args(["cache", "prune", "--older-than", "30d", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!cache.join("stray").exists());
    // And that read-only descriptor still excludes builds.
    let holder = LockHolder::new(&cache);
    let (code, _, stderr) = run(melwrap_as(NOBODY)
        .args(["cache", "prune", "--older-than", "30d", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 2, "{stderr}");
    drop(holder);
}
