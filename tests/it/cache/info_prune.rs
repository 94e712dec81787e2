//! `cache info` and `cache prune`: known sizes and ages, ordering, dry runs, the lock.

use super::common::*;

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
    // The test process owns the cache; the unprivileged user can read but not write it, and
    // one directory not at all (mode 0: not even its owner, when that is this ordinary user).
    std::fs::create_dir(cache.join("private")).unwrap();
    put(&cache, "private/secret", 5, now());
    std::fs::set_permissions(
        cache.join("private"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let json = info_json(
        melwrap_as(unprivileged_uid())
            .args(["cache", "info", "--format", "json", "--cache-dir"])
            .arg(&cache),
    );
    assert_eq!(json["areas"]["gomodcache"]["bytes"], 7000);
    assert_eq!(json["unreadable"].as_array().unwrap().len(), 1);
    let (code, _, stderr) = run(melwrap_as(unprivileged_uid())
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
    chown_to_unprivileged(&cache);
    // What Go leaves: read-only files and directories in the extracted tree.
    let status = Command::new("chmod")
        .args(["-R", "a-w"])
        .arg(cache.join("gomodcache/example.com/m@v1.0.0"))
        .status()
        .unwrap();
    assert!(status.success());
    let (code, stdout, stderr) = run(melwrap_as(unprivileged_uid())
        .args(["cache", "prune", "--older-than", "30d", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!cache.join("gomodcache/example.com/m@v1.0.0").exists());
    assert!(hashes(&cache).is_empty());
}

#[test]
fn a_lock_file_made_by_another_user_still_locks() {
    if skip_without_a_second_user("a lock file made by another user") {
        return;
    }
    let tmp = open_tempdir();
    let cache = tmp.path().join("cache");
    put(&cache, "stray/old", 10, now() - 90 * DAY);
    // An older melwrap run by root left its lock file here (root's, 0644); the cache is
    // nobody's. The lock is now the directory's own, so the file is ignored.
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
    // And a build's shared lock (on the directory) still excludes prune.
    let holder = LockHolder::new(&cache);
    let (code, _, stderr) = run(melwrap_as(NOBODY)
        .args(["cache", "prune", "--older-than", "30d", "--cache-dir"])
        .arg(&cache));
    assert_eq!(code, 2, "{stderr}");
    drop(holder);
}

#[test]
fn prune_and_preload_refuse_system_dirs_home_and_a_seed_equal_to_the_cache() {
    let tmp = open_tempdir();
    let home = tmp.path().join("home");
    fs_err::create_dir_all(home.join("kept")).unwrap();
    for dir in ["/", "/usr", "/etc", home.to_str().unwrap()] {
        let (code, _, err) = run(melwrap().env("HOME", &home).args([
            "cache",
            "prune",
            "--older-than",
            "0s",
            "--cache-dir",
            dir,
        ]));
        assert_eq!(code, 2, "{dir}: {err}");
        assert!(
            err.contains("is a system directory or your home"),
            "{dir}: {err}"
        );
    }
    assert!(home.join("kept").is_dir(), "nothing pruned in the home");

    let cache = tmp.path().join("cache");
    let (code, _, err) = run(melwrap()
        .args(["cache", "preload", "--cache-dir"])
        .arg(&cache)
        .arg("--cache-source")
        .arg(&cache));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("are the same directory"), "{err}");
}

/// `cache info` on a cache dir that is one tool's own cache (`--cache-dir "$(go env
/// GOMODCACHE)"`, or uv's, pip's, npm's, cargo's, Maven's) puts it in that tool's area, not
/// in "other"; and prune removes whole entries of it, never the dir itself.
#[test]
fn a_tools_own_cache_as_the_cache_dir_is_that_tools_area() {
    let t = now();
    let cases: &[(&str, &[&str])] = &[
        (
            "gomodcache",
            &[
                "cache/download/example.com/m/@v/v1.0.0.zip",
                "example.com/m@v1.0.0/m.go",
            ],
        ),
        (
            "uv",
            &[
                "CACHEDIR.TAG",
                "archive-v0/abc/pkg/__init__.py",
                "wheels-v5/pypi/x.whl",
            ],
        ),
        (
            "pip",
            &[
                "http-v2/a/b/c/d/e/abc",
                "http-v2/a/b/c/d/e/abc.body",
                "selfcheck/x.json",
            ],
        ),
        (
            "npm",
            &[
                "_cacache/content-v2/sha512/aa/bb",
                "_cacache/index-v5/cc/dd",
            ],
        ),
        (
            "cargo",
            &["registry/cache/index.crates.io-6f17d22bba15001f/serde-1.0.0.crate"],
        ),
        (
            "m2repository",
            &[
                "org/example/lib/1.0/lib-1.0.pom",
                "org/example/lib/1.0/lib-1.0.jar",
            ],
        ),
    ];
    for (area, files) in cases {
        let tmp = open_tempdir();
        let cache = tmp.path().join("cache");
        for f in *files {
            put(&cache, f, 100, t - 40 * DAY);
        }
        let json = info_json(
            melwrap()
                .args(["cache", "info", "--format", "json", "--cache-dir"])
                .arg(&cache),
        );
        let areas = json["areas"].as_object().unwrap();
        assert_eq!(areas.keys().collect::<Vec<_>>(), [area], "{area}: {json}");
        assert_eq!(json["areas"][area]["bytes"], 100 * files.len() as u64);
        // Pruning everything leaves the dir itself.
        let (code, _, stderr) = run(melwrap()
            .args(["cache", "prune", "--older-than", "30d", "--cache-dir"])
            .arg(&cache));
        assert_eq!(code, 0, "{area}: {stderr}");
        assert!(cache.is_dir(), "{area}");
        assert!(
            crate::support::walk(&cache).iter().all(|p| !p.is_file()),
            "{area}: every file is pruned"
        );
    }
}
