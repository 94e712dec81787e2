//! Opening and refusing cache dirs, `cache preload`, home links, and the build report.

use super::common::*;

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
    let uid = unprivileged_uid();
    std::os::unix::fs::chown(&cache, Some(uid), Some(unprivileged_gid())).unwrap();
    // 0555 binds its owner too, unless that is root.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o555)).unwrap();
    let (code, _, stderr) = run(melwrap_as(uid)
        .args(["cache", "prune", "--older-than", "1d", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("not writable: uid {uid} may not write to it")),
        "{stderr}"
    );
    // Reading it is still fine.
    let (code, _, stderr) = run(melwrap_as(uid)
        .args(["cache", "info", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn refuses_a_read_only_mount_even_as_root() {
    if skip_unless_root("refusing a read-only mount even as root") {
        return;
    }
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
    // The test process owns the seed (0755/0644): the unprivileged user may read it but not
    // write to it. When that user is the suite's own, the seed is made read-only for it.
    let uid = unprivileged_uid();
    if uid == std::fs::metadata(&source).unwrap().uid() {
        let status = Command::new("chmod")
            .args(["-R", "a-w"])
            .arg(&source)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let (code, stdout, stderr) = run(melwrap_as(uid)
        .args(["cache", "preload", "--cache-source"])
        .arg(&source)
        .arg("--cache-dir")
        .arg(&cache));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 copied"), "{stdout}");
    assert_eq!(std::fs::metadata(&cache).unwrap().uid(), uid);
    assert_eq!(
        std::fs::metadata(&cache).unwrap().mode() & 0o777,
        0o700,
        "created owner-only"
    );
    assert_eq!(std::fs::metadata(cache.join(blob('c'))).unwrap().uid(), uid);
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
fn home_links_store_cargo_and_maven_downloads_in_the_cache() {
    let tmp = open_tempdir();
    let cache = melwrap::cache::CacheDir::open(&tmp.path().join("cache"), true).unwrap();
    cache.prepare_link_targets().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    melwrap::cache::install_home_links(&melwrap::safefs::Dir::open_anchor(&home).unwrap()).unwrap();
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
