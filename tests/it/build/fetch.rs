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
