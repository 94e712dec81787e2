//! `melwrap resolve` and `melwrap rootfs` through the binary, over a loopback HTTP repository
//! built and signed by melwrap: cold and warm cache, `--no-network`, a key by URL, and the bad
//! cases (non-empty DIR, unknown package, tampered package, unreachable repository).

use std::path::Path;
use std::process::Command;

use crate::repo::fixture::{ARCH, fixture, hello_apk, served};
use crate::support::http::HttpServer;
use crate::support::{Run, walk};

/// melwrap with `args`, without a CA bundle from the environment.
pub fn melwrap(args: &[&str]) -> Run {
    Run::from(
        Command::new(env!("CARGO_BIN_EXE_melwrap"))
            .args(args)
            .env_remove("MELWRAP_CA_BUNDLE")
            .output()
            .unwrap(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `melwrap COMMAND --arch ARCH -r REPO -k KEY --package-append PACKAGE --apk-cache-dir CACHE`
/// followed by `rest` (more flags, the rootfs DIR).
pub fn from_repo(
    command: &str,
    repo: &str,
    key: &str,
    package: &str,
    cache: &Path,
    rest: &[&str],
) -> Run {
    let mut args = vec![
        command,
        "--arch",
        ARCH,
        "-r",
        repo,
        "-k",
        key,
        "--package-append",
        package,
        "--apk-cache-dir",
        s(cache),
    ];
    args.extend_from_slice(rest);
    melwrap(&args)
}

const INDEX: &str = "os/x86_64/APKINDEX.tar.gz";

#[test]
fn resolve_over_http_cold_warm_and_offline() {
    let f = fixture();
    let mut server = HttpServer::start(served(&f.repo_a, "os/"));
    let repo = server.url("os");
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    let args = [
        "resolve",
        "--arch",
        ARCH,
        "--repository-append",
        &repo,
        "--keyring-append",
        s(&f.public_key),
        "--package-append",
        "hello-doc",
        "--apk-cache-dir",
        s(&cache),
    ];
    let cold = melwrap(&args);
    assert_eq!(cold.code, Some(0), "{}", cold.stderr);
    assert_eq!(cold.stdout, "hello-1.2.3-r1\nhello-doc-1.2.3-r1\n");
    assert_eq!(server.hits(INDEX), 1);
    // Warm: the cached index is young, nothing is downloaded.
    let warm = melwrap(&args);
    assert_eq!(warm.code, Some(0), "{}", warm.stderr);
    assert_eq!(warm.stdout, cold.stdout);
    assert_eq!(server.hits(INDEX), 1);
    // No server at all, --no-network: the cache answers.
    server.stop();
    let mut offline = args.to_vec();
    offline.push("--no-network");
    let off = melwrap(&offline);
    assert_eq!(off.code, Some(0), "{}", off.stderr);
    assert_eq!(off.stdout, cold.stdout);
    // A cold cache offline names what is missing.
    let empty = t.path().join("empty-cache");
    let cold_offline: Vec<&str> = offline
        .iter()
        .map(|a| if *a == s(&cache) { s(&empty) } else { a })
        .collect();
    let miss = melwrap(&cold_offline);
    assert_eq!(miss.code, Some(2), "{}", miss.stderr);
    assert!(miss.stderr.contains("no cached index"), "{}", miss.stderr);
}

#[test]
fn unreachable_repository_names_the_url_and_hints_at_the_cache() {
    let f = fixture();
    let mut server = HttpServer::start(served(&f.repo_a, "os/"));
    let repo = server.url("os");
    server.stop();
    let t = tempfile::tempdir().unwrap();
    let r = from_repo(
        "resolve",
        &repo,
        s(&f.public_key),
        "hello",
        &t.path().join("cache"),
        &[],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("{repo}/x86_64/APKINDEX.tar.gz")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--no-network"), "{}", r.stderr);
}

#[test]
fn an_index_signed_by_another_key_never_enters_the_cache() {
    let f = fixture();
    let server = HttpServer::start(served(&f.repo_a, "os/"));
    let t = tempfile::tempdir().unwrap();
    let other = t.path().join("other.rsa");
    let k = melwrap(&["keygen", "-q", "--key-size", "2048", s(&other)]);
    assert_eq!(k.code, Some(0), "{}", k.stderr);
    let cache = t.path().join("cache");
    let r = from_repo(
        "resolve",
        &server.url("os"),
        s(&t.path().join("other.rsa.pub")),
        "hello",
        &cache,
        &[],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("test.rsa.pub"),
        "names the key it needs: {}",
        r.stderr
    );
    let cached: Vec<_> = walk(&cache)
        .into_iter()
        .filter(|p| p.ends_with("APKINDEX.tar.gz"))
        .collect();
    assert!(cached.is_empty(), "{cached:?}");
    // --ignore-signatures: used (and cached), with a warning naming the key.
    let r = from_repo(
        "resolve",
        &server.url("os"),
        s(&t.path().join("other.rsa.pub")),
        "hello",
        &cache,
        &["--ignore-signatures"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout, "hello-1.2.3-r1\n");
    assert!(r.stderr.contains("--ignore-signatures"), "{}", r.stderr);
    assert!(walk(&cache).iter().any(|p| p.ends_with("APKINDEX.tar.gz")));
}

#[test]
fn rootfs_over_http_with_a_key_by_url() {
    let f = fixture();
    let mut files = served(&f.repo_a, "os/");
    files.insert(
        "keys/test.rsa.pub".into(),
        fs_err::read(&f.public_key).unwrap(),
    );
    let server = HttpServer::start(files);
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    let root = t.path().join("root");
    let key_url = server.url("keys/test.rsa.pub");
    let repo = server.url("os");
    let args = [
        "rootfs",
        "--arch",
        ARCH,
        "-r",
        &repo,
        "-k",
        &key_url,
        "--package-append",
        "hello-doc",
        "--apk-cache-dir",
        s(&cache),
        s(&root),
    ];
    let r = melwrap(&args);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // Dependencies first.
    assert_eq!(r.stdout, "hello-1.2.3-r1\nhello-doc-1.2.3-r1\n");
    assert!(root.join("usr/bin/hello").is_file());
    assert!(root.join("usr/share/doc/hello/README").is_file());
    assert_eq!(
        fs_err::read_to_string(root.join("etc/apk/repositories")).unwrap(),
        format!("{repo}\n")
    );
    assert_eq!(
        fs_err::read_to_string(root.join("etc/apk/world")).unwrap(),
        "hello-doc\n"
    );
    assert_eq!(
        fs_err::read(root.join("etc/apk/keys/test.rsa.pub")).unwrap(),
        fs_err::read(&f.public_key).unwrap()
    );
    let db = fs_err::read_to_string(root.join("lib/apk/db/installed")).unwrap();
    assert!(
        db.find("P:hello\n").unwrap() < db.find("P:hello-doc\n").unwrap(),
        "{db}"
    );
    assert_eq!(server.hits("os/x86_64/hello-1.2.3-r1.apk"), 1);

    // A non-empty DIR is refused before anything is downloaded.
    let before = server.requests();
    let again = melwrap(&args);
    assert_eq!(again.code, Some(2), "{}", again.stderr);
    assert!(again.stderr.contains("is not empty"), "{}", again.stderr);
    assert_eq!(server.requests(), before);

    // Warm cache, no network: the same root again (the key from a file, the URL is offline).
    let root2 = t.path().join("root2");
    let off = from_repo(
        "rootfs",
        &repo,
        s(&f.public_key),
        "hello-doc",
        &cache,
        &["--no-network", s(&root2)],
    );
    assert_eq!(off.code, Some(0), "{}", off.stderr);
    assert_eq!(off.stdout, r.stdout);
    assert!(root2.join("usr/share/doc/hello/README").is_file());
}

#[test]
fn unknown_package_is_named() {
    let f = fixture();
    let server = HttpServer::start(served(&f.repo_a, "os/"));
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let r = from_repo(
        "rootfs",
        &server.url("os"),
        s(&f.public_key),
        "no-such-thing",
        &t.path().join("cache"),
        &[s(&root)],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("no-such-thing"), "{}", r.stderr);
    assert!(!root.exists() || fs_err::read_dir(&root).unwrap().next().is_none());
}

#[test]
fn a_tampered_package_is_refused_and_not_cached() {
    let f = fixture();
    let mut files = served(&f.repo_a, "os/");
    // Same size, one byte changed near the end (inside the data section).
    let mut apk = fs_err::read(hello_apk(&f.repo_a)).unwrap();
    let n = apk.len();
    apk[n - 20] ^= 0xff;
    files.insert("os/x86_64/hello-1.2.3-r1.apk".into(), apk);
    let server = HttpServer::start(files);
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    let root = t.path().join("root");
    let r = from_repo(
        "rootfs",
        &server.url("os"),
        s(&f.public_key),
        "hello",
        &cache,
        &[s(&root)],
    );
    assert_ne!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("hello-1.2.3-r1"), "{}", r.stderr);
    assert!(
        r.stderr.contains("does not match its index entry"),
        "{}",
        r.stderr
    );
    // Fetched twice, then refused; nothing of it kept.
    assert_eq!(server.hits("os/x86_64/hello-1.2.3-r1.apk"), 2);
    assert!(
        !walk(&cache)
            .iter()
            .any(|p| p.ends_with("hello-1.2.3-r1.apk"))
    );
    assert!(!root.join("usr/bin/hello").exists());
}
