//! `uses: fetch` against a loopback HTTP server: the first build downloads the tarball and
//! stores it in the cache as `sha256:<hex>`; with the server gone and `--no-network`, the
//! second build gets it from the cache.

use std::process::Command;

use sha2::Digest;

use crate::build::common::*;
use crate::support::http::HttpServer;

/// A `.tar.gz` of `hello-1.0/greeting.txt`, made with the host's tar.
fn tarball(t: &TestEnv, text: &str) -> Vec<u8> {
    let dir = t.root().join("tarball");
    fs_err::create_dir_all(dir.join("hello-1.0")).unwrap();
    fs_err::write(dir.join("hello-1.0/greeting.txt"), text).unwrap();
    let status = Command::new("tar")
        .args(["-czf", "hello-1.0.tar.gz", "hello-1.0"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    fs_err::read(dir.join("hello-1.0.tar.gz")).unwrap()
}

#[test]
fn fetch_downloads_once_then_works_offline_from_the_cache() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        let body = tarball(&t, "greetings from the loopback server\n");
        let sha = hex::encode(sha2::Sha256::digest(&body));
        let mut server = HttpServer::one("hello-1.0.tar.gz", body.clone());
        t.config(&format!(
            r#"pipeline:
  - uses: fetch
    with:
      uri: {url}
      expected-sha256: {sha}
      retry-limit: 1
  - name: use-the-source
    runs: cp greeting.txt /var/cache/melange/seen-{{{{build.arch}}}}.txt
"#,
            url = server.url("hello-1.0.tar.gz")
        ));

        // First build: network on (the default), the server answers.
        t.build(who, &[]).ok();
        assert!(server.requests() >= 1, "{who:?}: no download");
        let blob = t.cache().join(format!("sha256:{sha}"));
        assert_eq!(
            fs_err::read(&blob).unwrap(),
            body,
            "{who:?}: the cache blob"
        );
        let seen = fs_err::read_dir(t.cache())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("seen-"))
            .expect("the step after fetch ran");
        assert_eq!(
            fs_err::read_to_string(seen.path()).unwrap(),
            "greetings from the loopback server\n"
        );
        fs_err::remove_file(seen.path()).unwrap();

        // Second build: server gone, no network: the cache must serve it.
        server.stop();
        let before = server.requests();
        let run = t.build(who, &["--no-network"]);
        run.ok();
        assert!(run.stderr.contains("from the build cache"), "{run}");
        assert_eq!(server.requests(), before);
        assert!(
            fs_err::read_dir(t.cache())
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("seen-")),
            "{who:?}: the offline build unpacked the cached tarball"
        );

        // Control: without the blob, the offline build cannot get the source.
        fs_err::remove_file(&blob).unwrap();
        t.build(who, &["--no-network"]).exit(1);
    }
}

/// A cached blob that does not match its name is deleted and downloaded again when the
/// network is on; with `--no-network` the build fails naming the blob and the fix, and the
/// hint says the step had no network (Go's and curl's wording matched case-insensitively).
#[test]
fn a_corrupt_cached_blob_is_refetched_or_named_with_the_fix() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        let body = tarball(&t, "the real source\n");
        let sha = hex::encode(sha2::Sha256::digest(&body));
        let server = HttpServer::one("hello-1.0.tar.gz", body.clone());
        t.config(&format!(
            r#"pipeline:
  - uses: fetch
    with:
      uri: {url}
      expected-sha256: {sha}
      retry-limit: 1
  - runs: cp greeting.txt /var/cache/melange/seen.txt
"#,
            url = server.url("hello-1.0.tar.gz")
        ));
        let cache = t.make_cache();
        let blob = cache.join(format!("sha256:{sha}"));
        fs_err::write(&blob, b"a torn download").unwrap();
        if who == Who::Nobody {
            std::os::unix::fs::chown(&cache, Some(who.host_uid()), Some(who.host_uid())).unwrap();
            std::os::unix::fs::chown(&blob, Some(who.host_uid()), Some(who.host_uid())).unwrap();
        }

        // Network on: deleted, downloaded, stored whole.
        let run = t.build(who, &[]);
        run.ok();
        assert!(run.stderr.contains("is corrupt"), "{who:?}\n{run}");
        assert_eq!(server.requests(), 1, "{who:?}");
        assert_eq!(fs_err::read(&blob).unwrap(), body, "{who:?}");
        assert_eq!(t.cached("seen.txt"), "the real source\n");

        // Network off: named, with the fix.
        fs_err::write(&blob, b"bit rot").unwrap();
        let run = t.build(who, &["--no-network"]);
        run.exit(1);
        assert!(run.stderr.contains(&format!("sha256:{sha}")), "{run}");
        assert!(
            run.stderr
                .contains("run the build once with the network on"),
            "{run}"
        );
        assert!(!blob.exists(), "{who:?}: the corrupt blob is gone");
        assert!(
            run.stderr.contains("hint: the step has no network"),
            "{run}"
        );
    }
}

/// The `--no-network` hint for the common network errors, whatever their case: a step that
/// tries a real connection inside the sandbox (refused on the sandbox's own loopback).
#[test]
fn no_network_hint_follows_a_refused_connection() {
    require_bwrap!();
    if which::which("busybox").is_err() {
        eprintln!("skipped: no busybox wget");
        return;
    }
    let t = TestEnv::new();
    t.config("pipeline:\n  - runs: |\n      busybox wget -q -O /dev/null http://127.0.0.1:9/x\n");
    let run = t.build(Who::Root, &["--no-network"]);
    run.exit(1);
    let lower = run.stderr.to_ascii_lowercase();
    assert!(
        lower.contains("connection refused") || lower.contains("network is unreachable"),
        "{run}"
    );
    assert!(
        run.stderr.contains("hint: the step has no network"),
        "{run}"
    );
    // With the network on, the same failure gets no such hint.
    let run = t.build(Who::Root, &[]);
    run.exit(1);
    assert!(
        !run.stderr.contains("hint: the step has no network"),
        "{run}"
    );
}
