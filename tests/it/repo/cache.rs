//! The verified package cache against a loopback HTTP server: downloads, cache hits,
//! tampered and truncated downloads, unreachable repositories, offline use, two
//! repositories with the same file names, concurrent processes, a proxy.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use melwrap::cli::Verbosity;
use melwrap::printer::Printer;
use melwrap::repo::cache::{ApkCache, CachedIndex, Network, VerifiedPackage, Wanted};
use melwrap::repo::fetch::{FetchOptions, Fetcher};

use crate::repo::fixture::{ARCH, fixture, hello_apk, served, wanted};
use crate::support::http::HttpServer;

fn quiet() -> Printer {
    Printer::new(Verbosity::Quiet)
}

fn fetcher() -> Fetcher {
    Fetcher::new(FetchOptions {
        backoff: Duration::from_millis(20),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        ..FetchOptions::default()
    })
    .unwrap()
}

/// Accepts a gzip'd tar holding an `APKINDEX` (the tests' stand-in for the signature check).
pub fn check_index(bytes: &[u8]) -> color_eyre::eyre::Result<()> {
    use std::io::Read;
    let mut raw = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut raw)?;
    color_eyre::eyre::ensure!(
        raw.windows(8).any(|w| w == b"APKINDEX"),
        "no APKINDEX in the index"
    );
    Ok(())
}

fn index(cache: &ApkCache, net: Network, repo: &str) -> color_eyre::eyre::Result<CachedIndex> {
    cache.index(&fetcher(), net, &quiet(), repo, ARCH, &check_index)
}

fn get(
    cache: &ApkCache,
    net: Network,
    wanted: &[Wanted],
) -> color_eyre::eyre::Result<Vec<VerifiedPackage>> {
    cache.packages(&fetcher(), net, &quiet(), wanted)
}

/// Repository A served at the root of a loopback server, and an empty cache in a fresh
/// directory (`dir`, removed when dropped).
struct ServedRepo {
    server: HttpServer,
    repo: String,
    cache: ApkCache,
    dir: tempfile::TempDir,
}

fn serve_repo_a() -> ServedRepo {
    let server = HttpServer::start(served(&fixture().repo_a, ""));
    let repo = server.url("");
    let dir = tempfile::tempdir().unwrap();
    let cache = ApkCache::open(dir.path()).unwrap();
    ServedRepo {
        server,
        repo,
        cache,
        dir,
    }
}

/// Names in a directory, sorted (to see leftover temporary files).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn downloads_verify_and_the_second_run_is_served_from_the_cache() {
    let f = fixture();
    let server = HttpServer::start(served(&f.repo_a, "os/"));
    let repo = server.url("os");
    let t = tempfile::tempdir().unwrap();
    let cache = ApkCache::open(&t.path().join("apk")).unwrap();

    let idx = index(&cache, Network::Online, &repo).unwrap();
    assert!(idx.fresh);
    assert_eq!(idx.bytes, fs_err::read(&idx.path).unwrap());
    // Young enough: used as it is, as apk does within its cache max age.
    assert!(!index(&cache, Network::Online, &repo).unwrap().fresh);
    assert_eq!(server.hits("os/x86_64/APKINDEX.tar.gz"), 1);
    let always = cache.clone().with_index_max_age(Duration::ZERO);
    assert!(index(&always, Network::Online, &repo).unwrap().fresh);
    assert_eq!(server.hits("os/x86_64/APKINDEX.tar.gz"), 2);
    assert_eq!(
        fs_err::read(&idx.path).unwrap(),
        fs_err::read(f.repo_a.join(ARCH).join("APKINDEX.tar.gz")).unwrap()
    );
    let want = wanted(&f.repo_a, &repo);
    assert_eq!(want.len(), 2);
    let got = get(&cache, Network::Online, &want).unwrap();
    assert!(got.iter().all(|p| !p.cached));
    for p in &got {
        assert!(
            p.path.starts_with(cache.repo_dir(&repo)),
            "{}",
            p.path.display()
        );
        let src = f.repo_a.join(ARCH).join(p.path.file_name().unwrap());
        assert_eq!(fs_err::read(&p.path).unwrap(), fs_err::read(src).unwrap());
    }
    assert_eq!(server.hits(&format!("os/{ARCH}/hello-1.2.3-r1.apk")), 1);

    let again = get(&cache, Network::Online, &want).unwrap();
    assert!(again.iter().all(|p| p.cached));
    assert_eq!(server.hits(&format!("os/{ARCH}/hello-1.2.3-r1.apk")), 1);
    assert_eq!(server.hits(&format!("os/{ARCH}/hello-doc-1.2.3-r1.apk")), 1);
    // Nothing but the files, their locks and the repository's `url` note.
    let arch_dir = cache.repo_dir(&repo).join(ARCH);
    assert!(
        names(&arch_dir).iter().all(|n| !n.contains(".tmp-")),
        "{:?}",
        names(&arch_dir)
    );
    assert_eq!(
        fs_err::read_to_string(cache.repo_dir(&repo).join("url")).unwrap(),
        format!("{repo}\n")
    );
}

/// Flips a byte in the middle of the data section: size and control checksum still match,
/// the data hash does not.
fn tampered(apk: &Path) -> Vec<u8> {
    let (layout, _) = melwrap::apk::read::layout(apk).unwrap();
    let mut bytes = fs_err::read(apk).unwrap();
    let mid = ((layout.data.start + layout.data.end) / 2) as usize;
    bytes[mid] ^= 0x55;
    bytes
}

#[test]
fn a_tampered_package_is_deleted_fetched_once_more_then_refused() {
    let f = fixture();
    let mut files = served(&f.repo_a, "");
    let key = format!("{ARCH}/hello-1.2.3-r1.apk");
    files.insert(key.clone(), tampered(&hello_apk(&f.repo_a)));
    let server = HttpServer::start(files);
    let repo = server.url("");
    let t = tempfile::tempdir().unwrap();
    let cache = ApkCache::open(t.path()).unwrap();
    let err = get(&cache, Network::Online, &wanted(&f.repo_a, &repo)).unwrap_err();
    let msg = format!("{err:?}");
    assert!(msg.contains("hello-1.2.3-r1"), "{msg}");
    assert!(msg.contains("does not match its index entry"), "{msg}");
    assert!(msg.contains("data section"), "{msg}");
    assert!(msg.contains("downloaded twice"), "{msg}");
    assert_eq!(server.hits(&key), 2, "fetched exactly once more");
    let arch_dir = cache.repo_dir(&repo).join(ARCH);
    let left = names(&arch_dir);
    assert!(
        !left
            .iter()
            .any(|n| n.starts_with("hello-1.2.3") || n.contains(".tmp-")),
        "the bad download is gone: {left:?}"
    );
}

#[test]
fn a_damaged_cached_package_is_replaced_by_a_fresh_download() {
    let f = fixture();
    let ServedRepo {
        server,
        repo,
        cache,
        dir: _dir,
    } = serve_repo_a();
    let want = wanted(&f.repo_a, &repo);
    let got = get(&cache, Network::Online, &want).unwrap();
    let hello = got.iter().find(|p| p.package.name() == "hello").unwrap();
    fs_err::write(&hello.path, tampered(&hello.path)).unwrap();
    let again = get(&cache, Network::Online, &want).unwrap();
    let hello = again.iter().find(|p| p.package.name() == "hello").unwrap();
    assert!(!hello.cached);
    assert_eq!(server.hits(&format!("{ARCH}/hello-1.2.3-r1.apk")), 2);
    assert_eq!(
        fs_err::read(&hello.path).unwrap(),
        fs_err::read(hello_apk(&f.repo_a)).unwrap()
    );
}

#[test]
fn truncated_and_non_gzip_downloads_are_refused() {
    let f = fixture();
    let good = fs_err::read(hello_apk(&f.repo_a)).unwrap();
    let key = format!("{ARCH}/hello-1.2.3-r1.apk");
    let mut huge = good.clone();
    huge.resize(good.len() + (4 << 20), 0);
    for (bad, says, hits) in [
        (good[..good.len() / 2].to_vec(), "its size is", 2),
        (vec![b'<'; good.len()], "not a valid apk package", 2),
        // Larger than the index says: cut off, not retried (a server cannot fill the disk).
        (huge, "larger than the", 1),
    ] {
        let mut files = served(&f.repo_a, "");
        files.insert(key.clone(), bad);
        let server = HttpServer::start(files);
        let repo = server.url("");
        let t = tempfile::tempdir().unwrap();
        let cache = ApkCache::open(t.path()).unwrap();
        let err = get(&cache, Network::Online, &wanted(&f.repo_a, &repo)).unwrap_err();
        let msg = format!("{err:?}");
        assert!(msg.contains(says), "{msg}");
        assert!(msg.contains(&server.url(&key)), "{msg}");
        assert_eq!(server.hits(&key), hits);
        assert!(!cache.repo_dir(&repo).join(&key).exists());
    }
}

#[test]
fn an_unreachable_repository_names_the_url_the_cause_and_the_cache() {
    let mut server = HttpServer::start(BTreeMap::new());
    let repo = server.url("os");
    server.stop();
    let t = tempfile::tempdir().unwrap();
    let cache = ApkCache::open(t.path()).unwrap();
    let msg = format!("{:?}", index(&cache, Network::Online, &repo).unwrap_err());
    assert!(
        msg.contains(&format!("{repo}/{ARCH}/APKINDEX.tar.gz")),
        "{msg}"
    );
    assert!(msg.contains("connection refused"), "{msg}");
    assert!(msg.contains("after 3 attempts"), "{msg}");
    assert!(msg.contains("--no-network"), "{msg}");

    // A missing index is no network problem: said once, no retry.
    let server = HttpServer::start(BTreeMap::new());
    let msg = format!(
        "{:?}",
        index(&cache, Network::Online, &server.url("x")).unwrap_err()
    );
    assert!(msg.contains("404"), "{msg}");
    assert_eq!(server.hits(&format!("x/{ARCH}/APKINDEX.tar.gz")), 1);
}

#[test]
fn offline_the_warm_cache_serves_and_a_missing_package_is_named() {
    let f = fixture();
    let ServedRepo {
        mut server,
        repo,
        cache,
        dir,
    } = serve_repo_a();
    let want = wanted(&f.repo_a, &repo);
    index(&cache, Network::Online, &repo).unwrap();
    get(&cache, Network::Online, &want).unwrap();
    server.stop();

    let idx = index(&cache, Network::Offline, &repo).unwrap();
    assert!(!idx.fresh);
    assert!(
        get(&cache, Network::Offline, &want)
            .unwrap()
            .iter()
            .all(|p| p.cached)
    );
    // Online but unreachable: the cached index, with a warning.
    let stale = cache.clone().with_index_max_age(Duration::ZERO);
    let idx = index(&stale, Network::Online, &repo).unwrap();
    assert!(!idx.fresh);

    let empty = ApkCache::open(&dir.path().join("empty")).unwrap();
    let msg = format!("{:?}", get(&empty, Network::Offline, &want).unwrap_err());
    assert!(msg.contains("hello"), "{msg}");
    assert!(msg.contains("not in the apk cache"), "{msg}");
    assert!(msg.contains("--no-network"), "{msg}");
    let msg = format!("{:?}", index(&empty, Network::Offline, &repo).unwrap_err());
    assert!(msg.contains("no cached index"), "{msg}");
}

#[test]
fn two_repositories_with_the_same_file_names_do_not_collide() {
    let f = fixture();
    let mut files = served(&f.repo_a, "a/os/");
    files.extend(served(&f.repo_b, "b/os/"));
    let server = HttpServer::start(files);
    let (ra, rb) = (server.url("a/os"), server.url("b/os"));
    let t = tempfile::tempdir().unwrap();
    let cache = ApkCache::open(t.path()).unwrap();
    let mut want = wanted(&f.repo_a, &ra);
    want.extend(wanted(&f.repo_b, &rb));
    let got = get(&cache, Network::Online, &want).unwrap();
    let hellos: Vec<_> = got.iter().filter(|p| p.package.name() == "hello").collect();
    assert_eq!(hellos.len(), 2);
    assert_ne!(hellos[0].path, hellos[1].path);
    assert_ne!(
        fs_err::read(&hellos[0].path).unwrap(),
        fs_err::read(&hellos[1].path).unwrap()
    );
    assert_ne!(cache.repo_dir(&ra), cache.repo_dir(&rb));
}

#[test]
fn local_repositories_are_verified_and_read_in_place() {
    let f = fixture();
    let t = tempfile::tempdir().unwrap();
    let cache = ApkCache::open(t.path()).unwrap();
    for repo in [
        f.repo_a.to_string_lossy().into_owned(),
        format!("file://{}", f.repo_a.display()),
    ] {
        let idx = index(&cache, Network::Offline, &repo).unwrap();
        assert_eq!(idx.path, f.repo_a.join(ARCH).join("APKINDEX.tar.gz"));
        let got = get(&cache, Network::Offline, &wanted(&f.repo_a, &repo)).unwrap();
        assert!(got.iter().all(|p| p.path.starts_with(&f.repo_a)));
    }
    assert!(names(t.path()).is_empty(), "nothing copied into the cache");
}

/// The environment a child process (`child_fetch`) reads.
const CHILD_REPO: &str = "MELWRAP_TEST_CHILD_REPO";
const CHILD_INDEX: &str = "MELWRAP_TEST_CHILD_INDEX";
const CHILD_CACHE: &str = "MELWRAP_TEST_CHILD_CACHE";

/// Not a test on its own: run by the tests below as a separate process.
#[test]
#[ignore = "a child process of other tests"]
fn child_fetch() {
    let (Ok(repo), Ok(index_dir), Ok(cache)) = (
        std::env::var(CHILD_REPO),
        std::env::var(CHILD_INDEX),
        std::env::var(CHILD_CACHE),
    ) else {
        return;
    };
    let cache = ApkCache::open(Path::new(&cache)).unwrap();
    let want = wanted(Path::new(&index_dir), &repo);
    let got = cache
        .packages(
            &Fetcher::new(FetchOptions::default()).unwrap(),
            Network::Online,
            &quiet(),
            &want,
        )
        .unwrap();
    assert_eq!(got.len(), want.len());
    println!("CHILD-OK {}", got.len());
}

fn child(repo: &str, index_dir: &Path, cache: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--ignored",
        "--exact",
        &crate::support::test_name(module_path!(), "child_fetch"),
        "--nocapture",
    ])
    .env(CHILD_REPO, repo)
    .env(CHILD_INDEX, index_dir)
    .env(CHILD_CACHE, cache)
    .env_remove("http_proxy")
    .env_remove("HTTP_PROXY")
    .env_remove("all_proxy")
    .env_remove("ALL_PROXY");
    c
}

#[test]
fn concurrent_processes_fill_one_cache_and_download_each_file_once() {
    let f = fixture();
    let server = HttpServer::start(served(&f.repo_a, ""));
    let repo = server.url("");
    let t = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            child(&repo, &f.repo_a, t.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("CHILD-OK 2"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(server.hits(&format!("{ARCH}/hello-1.2.3-r1.apk")), 1);
    assert_eq!(server.hits(&format!("{ARCH}/hello-doc-1.2.3-r1.apk")), 1);
}

#[test]
fn http_proxy_carries_the_downloads() {
    let f = fixture();
    let server = HttpServer::start(served(&f.repo_a, ""));
    let proxy = crate::repo::proxy::ConnectProxy::start(server.port);
    // A host name that does not resolve: only the proxy can reach it.
    let repo = "http://repo.melwrap.invalid/";
    let t = tempfile::tempdir().unwrap();
    let out = child(repo, &f.repo_a, t.path())
        .env("http_proxy", format!("http://127.0.0.1:{}", proxy.port))
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("CHILD-OK 2"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        proxy
            .targets()
            .iter()
            .all(|t| t == "repo.melwrap.invalid:80")
    );
    assert!(!proxy.targets().is_empty());
    assert_eq!(server.hits(&format!("{ARCH}/hello-1.2.3-r1.apk")), 1);

    // The same host in no_proxy: no proxy, so the name does not resolve.
    let out = child(repo, &f.repo_a, &t.path().join("2"))
        .env("http_proxy", format!("http://127.0.0.1:{}", proxy.port))
        .env("no_proxy", "localhost,.melwrap.invalid")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("repo.melwrap.invalid"), "{err}");
    assert!(err.contains("host not found"), "{err}");
}

#[test]
fn a_ca_bundle_without_certificates_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let bundle = t.path().join("ca.pem");
    fs_err::write(&bundle, "not a certificate\n").unwrap();
    let err = Fetcher::new(FetchOptions {
        ca_bundle: Some(bundle.clone()),
        ..FetchOptions::default()
    })
    .unwrap_err();
    assert!(
        err.contains("ca.pem") && err.contains("no PEM certificate"),
        "{err}"
    );
}

#[test]
fn an_index_that_fails_its_check_never_replaces_the_cached_one() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let f = fixture();
    let ServedRepo {
        server,
        repo,
        cache,
        dir: _dir,
    } = serve_repo_a();
    let cache = cache.with_index_max_age(Duration::ZERO);
    let refuse = AtomicBool::new(false);
    let check = |b: &[u8]| {
        if refuse.load(Ordering::SeqCst) {
            color_eyre::eyre::bail!("signature refused (test)");
        }
        check_index(b)
    };
    let fetcher = fetcher();
    let source = melwrap::repo::source::CachedIndexes {
        cache: &cache,
        fetcher: &fetcher,
        network: Network::Online,
        printer: quiet(),
        check: &check,
    };
    let good = fs_err::read(f.repo_a.join(ARCH).join("APKINDEX.tar.gz")).unwrap();
    assert_eq!(source.index_bytes(&repo, ARCH).unwrap(), good);
    refuse.store(true, Ordering::SeqCst);
    let err = source.index_bytes(&repo, ARCH).unwrap_err();
    assert!(err.contains("signature refused"), "{err}");
    assert_eq!(server.hits(&format!("{ARCH}/APKINDEX.tar.gz")), 2);
    let cached = cache.repo_dir(&repo).join(ARCH).join("APKINDEX.tar.gz");
    assert_eq!(fs_err::read(&cached).unwrap(), good);
    let arch_dir = cache.repo_dir(&repo).join(ARCH);
    assert!(names(&arch_dir).iter().all(|n| !n.contains(".tmp-")));
}
