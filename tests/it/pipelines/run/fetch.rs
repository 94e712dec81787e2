//! `fetch`: downloads from a loopback server with each downloader, digest checks, the cache
//! (sha256 and sha512 entries, never unchecked files) and offline reuse.

use super::*;

/// A gzip tarball of `hello-1.0/README` and `hello-1.0/src/main.c`.
fn tarball(dir: &Path) -> Vec<u8> {
    sh(
        dir,
        "mkdir -p hello-1.0/src && echo 'read me' > hello-1.0/README && \
         echo 'int main(void){return 0;}' > hello-1.0/src/main.c && \
         tar -czf hello-1.0.tar.gz hello-1.0",
    );
    fs_err::read(dir.join("hello-1.0.tar.gz")).unwrap()
}

fn sha256(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

fn sha512(data: &[u8]) -> String {
    hex::encode(sha2::Sha512::digest(data))
}

fn cache_entries(cache: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs_err::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The downloaders fetch must cope with: (description, shell, PATH builder).
fn downloaders(dir: &Path) -> Vec<(&'static str, Shell, String)> {
    let common = [
        "basename",
        "cp",
        "mv",
        "rm",
        "mkdir",
        "mktemp",
        "chmod",
        "sha256sum",
        "sha512sum",
        "awk",
        "tar",
        "gzip",
        "cat",
        "grep",
        "sleep",
        "od",
        "tr",
    ];
    let mut curl_tools = common.to_vec();
    curl_tools.push("curl");
    let mut bb_tools = common.to_vec();
    bb_tools.push("wget");
    vec![
        ("GNU wget", Shell::Bash, std::env::var("PATH").unwrap()),
        (
            "curl (no wget)",
            Shell::Bash,
            tool_path(&dir.join("curl-bin"), &curl_tools, None),
        ),
        (
            "busybox wget and applets",
            Shell::Ash,
            tool_path(
                &dir.join("busybox-bin"),
                &bb_tools,
                Some(which::which("busybox").unwrap().to_str().unwrap()),
            ),
        ),
    ]
}

#[test]
fn fetch_downloads_verifies_caches_and_then_works_offline_from_the_cache() {
    let scratch = tempfile::tempdir().unwrap();
    let data = tarball(scratch.path());
    let digest = sha256(&data);
    for (what, shell, path) in downloaders(scratch.path()) {
        let mut server = HttpServer::start(BTreeMap::from([(
            "dl/hello-1.0.tar.gz".to_string(),
            data.clone(),
        )]));
        let uri = server.url("dl/hello-1.0.tar.gz");
        let with = [("uri", uri.as_str()), ("expected-sha256", digest.as_str())];

        let mut first = Build::new(shell);
        first.path = path.clone();
        let log = first.ok("fetch", &with);
        assert!(server.requests() >= 1);
        assert_eq!(
            fs_err::read_to_string(first.workspace.join("README")).unwrap(),
            "read me\n",
            "{what}: not extracted with strip-components=1\n{log}"
        );
        assert!(first.workspace.join("src/main.c").is_file(), "{what}");
        // Stored under its digest, whole, with no temporary file left behind.
        let key = format!("sha256:{digest}");
        assert_eq!(
            cache_entries(&first.cache),
            vec![key.clone()],
            "{what}\n{log}"
        );
        assert_eq!(
            fs_err::read(first.cache.join(&key)).unwrap(),
            data,
            "{what}"
        );

        // The server is gone: a second build is served by the cache alone.
        server.stop();
        let mut second = Build::with_cache(shell, &first.cache);
        second.path = path.clone();
        let log = second.ok("fetch", &with);
        assert!(log.contains("build cache"), "{what}: {log}");
        assert!(second.workspace.join("README").is_file(), "{what}");
        assert!(
            second.workspace.join("hello-1.0.tar.gz").is_file(),
            "{what}"
        );

        // And without the cache, the same offline build fails.
        let mut third = Build::new(shell);
        third.path = path;
        // (One attempt only: retrying a refused connection just takes time.)
        third.fails("fetch", &[with[0], with[1], ("retry-limit", "1")]);
    }
}

#[test]
fn fetch_with_a_wrong_digest_fails_and_caches_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let data = tarball(scratch.path());
    let server = HttpServer::start(BTreeMap::from([("a.tar.gz".to_string(), data.clone())]));
    let uri = server.url("a.tar.gz");
    let wrong = sha256(b"something else");
    for shell in SHELLS {
        let b = Build::new(shell);
        let log = b.fails(
            "fetch",
            &[("uri", uri.as_str()), ("expected-sha256", wrong.as_str())],
        );
        assert!(log.contains("expected"), "{log}");
        assert!(cache_entries(&b.cache).is_empty(), "{log}");
        assert!(!b.workspace.join("README").exists());

        let wrong512 = sha512(b"something else");
        let b = Build::new(shell);
        b.fails(
            "fetch",
            &[
                ("uri", uri.as_str()),
                ("expected-sha512", wrong512.as_str()),
            ],
        );
        assert!(cache_entries(&b.cache).is_empty());
    }
}

#[test]
fn fetch_caches_by_sha512_never_caches_unchecked_files_and_needs_a_digest() {
    let scratch = tempfile::tempdir().unwrap();
    let data = tarball(scratch.path());
    let server = HttpServer::start(BTreeMap::from([("a.tar.gz".to_string(), data.clone())]));
    let uri = server.url("a.tar.gz");
    for shell in SHELLS {
        let b = Build::new(shell);
        let digest = sha512(&data);
        b.ok(
            "fetch",
            &[
                ("uri", uri.as_str()),
                ("expected-sha512", digest.as_str()),
                ("delete", "true"),
            ],
        );
        assert_eq!(cache_entries(&b.cache), vec![format!("sha512:{digest}")]);
        assert!(!b.workspace.join("a.tar.gz").exists(), "delete: true");

        let b = Build::new(shell);
        b.ok(
            "fetch",
            &[
                ("uri", uri.as_str()),
                ("expected-none", "true"),
                ("extract", "false"),
            ],
        );
        assert!(cache_entries(&b.cache).is_empty());
        assert_eq!(fs_err::read(b.workspace.join("a.tar.gz")).unwrap(), data);
        assert!(!b.workspace.join("README").exists(), "extract: false");

        let b = Build::new(shell);
        let log = b.fails("fetch", &[("uri", uri.as_str())]);
        assert!(log.contains("expected-sha256"), "{log}");
    }
}

#[test]
fn fetch_without_a_cache_directory_still_works() {
    let scratch = tempfile::tempdir().unwrap();
    let data = tarball(scratch.path());
    let server = HttpServer::start(BTreeMap::from([("a.tar.gz".to_string(), data.clone())]));
    let mut b = Build::new(Shell::Bash);
    b.cache = scratch.path().join("no-such-cache");
    b.ok(
        "fetch",
        &[
            ("uri", server.url("a.tar.gz").as_str()),
            ("expected-sha256", sha256(&data).as_str()),
            ("directory", "unpacked"),
            ("strip-components", "0"),
        ],
    );
    assert!(!b.cache.exists());
    assert!(b.workspace.join("unpacked/hello-1.0/README").is_file());
}

#[test]
fn fetch_as_an_ordinary_user_skips_a_cache_it_cannot_write() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = tempfile::tempdir().unwrap();
    let data = tarball(scratch.path());
    let server = HttpServer::start(BTreeMap::from([("a.tar.gz".to_string(), data.clone())]));
    let uri = server.url("a.tar.gz");
    let digest = sha256(&data);
    for shell in SHELLS {
        let mut b = Build::new(shell);
        b.open_to_everyone();
        // Readable, not writable for the unprivileged user (0555 binds a non-root owner too).
        fs_err::set_permissions(&b.cache, std::fs::Permissions::from_mode(0o555)).unwrap();
        b.user = Some(crate::support::unpriv::unprivileged_uid());
        let log = b.ok(
            "fetch",
            &[("uri", uri.as_str()), ("expected-sha256", digest.as_str())],
        );
        assert!(b.workspace.join("README").is_file(), "{log}");
        assert!(cache_entries(&b.cache).is_empty(), "{log}");

        // A cache entry that is readable is still used.
        fs_err::set_permissions(&b.cache, std::fs::Permissions::from_mode(0o755)).unwrap();
        fs_err::write(b.cache.join(format!("sha256:{digest}")), &data).unwrap();
        fs_err::set_permissions(&b.cache, std::fs::Permissions::from_mode(0o555)).unwrap();
        let mut c = Build::with_cache(shell, &b.cache);
        c.open_to_everyone();
        c.user = Some(crate::support::unpriv::unprivileged_uid());
        let log = c.ok(
            "fetch",
            &[
                ("uri", "http://127.0.0.1:9/gone.tar.gz"),
                ("expected-sha256", digest.as_str()),
            ],
        );
        assert!(c.workspace.join("README").is_file(), "{log}");
        // So the tempdir can be removed.
        fs_err::set_permissions(&b.cache, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
