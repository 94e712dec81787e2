//! The per-build cache line says how many of the build's `fetch` sources the cache served:
//! none on a cold cache, one after a blob is removed, all of them with `--no-network`.

use std::collections::BTreeMap;

use super::support::*;

const CONFIG: &str = r#"
package:
  name: fetch-report
  version: 1.0.0
  epoch: 0
pipeline:
  - uses: fetch
    with:
      uri: URL/one-1.0.tar.gz
      expected-sha256: SHA_ONE
      directory: one
  - uses: fetch
    with:
      uri: URL/two-1.0.tar.gz
      expected-sha512: SHA_TWO
      directory: two
  - uses: fetch
    with:
      uri: URL/unchecked.tar.gz
      expected-none: "yes"
      directory: unchecked
  - runs: test -s one/one.bin && test -s two/two.bin && test -s unchecked/u.txt
subpackages:
  - name: fetch-report-extra
    pipeline:
      - uses: fetch
        with:
          uri: URL/one-1.0.tar.gz
          expected-sha256: SHA_ONE
          directory: again
"#;

#[test]
fn the_report_counts_fetch_sources_served_from_the_cache() {
    let one = tarball("one-1.0", &[("one.bin", noise(11, 200 << 10))]);
    let two = tarball("two-1.0", &[("two.bin", noise(12, 100 << 10))]);
    let unchecked = tarball("unchecked", &[("u.txt", b"not checked\n".to_vec())]);
    let server = HttpServer::start(BTreeMap::from([
        ("one-1.0.tar.gz".to_string(), one.clone()),
        ("two-1.0.tar.gz".to_string(), two.clone()),
        ("unchecked.tar.gz".to_string(), unchecked),
    ]));
    let (sha_one, sha_two) = (sha256_hex(&one), sha512_hex(&two));
    let tmp = open_tempdir();
    let root = tmp.path();
    let config = root.join("project/melange.yaml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let text = CONFIG
        .replace("URL", server.url("").trim_end_matches('/'))
        .replace("SHA_ONE", &sha_one)
        .replace("SHA_TWO", &sha_two);
    std::fs::write(&config, text).unwrap();
    let cache = root.join("cache");
    let out = root.join("out");
    let run = |extra: &[&str]| {
        let (code, stdout, stderr) =
            outcome(build(None, &config, &cache, &out, extra).output().unwrap());
        assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
        cache_line(&stderr)
            .unwrap_or_else(|| panic!("no cache line in\n{stderr}"))
            .to_string()
    };

    // Cold: nothing served; both checked downloads stored under their digests, the unchecked
    // one not at all. The subpackage fetches `one` again (from the cache, as the server's
    // count shows), but a source counts once per build, as it was before the build.
    let line = run(&[]);
    assert!(
        line.ends_with("; fetch served from cache: 0 of 2"),
        "{line}"
    );
    assert!(line.contains("fetch +"), "{line}");
    let blob_one = cache.join(format!("sha256:{sha_one}"));
    let blob_two = cache.join(format!("sha512:{sha_two}"));
    assert_eq!(sha256_hex(&std::fs::read(&blob_one).unwrap()), sha_one);
    assert_eq!(sha512_hex(&std::fs::read(&blob_two).unwrap()), sha_two);
    assert_eq!(
        (
            server.hits("one-1.0.tar.gz"),
            server.hits("two-1.0.tar.gz"),
            server.hits("unchecked.tar.gz")
        ),
        (1, 1, 1)
    );
    let blobs: Vec<_> = files_under(&cache)
        .into_keys()
        .filter(|p| p.to_str().unwrap().starts_with("sha"))
        .collect();
    assert_eq!(blobs.len(), 2, "{blobs:?}");

    // One blob gone: one served, the other downloaded again.
    std::fs::remove_file(&blob_two).unwrap();
    let line = run(&[]);
    assert!(
        line.ends_with("; fetch served from cache: 1 of 2"),
        "{line}"
    );
    assert_eq!(
        (server.hits("one-1.0.tar.gz"), server.hits("two-1.0.tar.gz")),
        (1, 2)
    );

    // Both there: served with no network at all. The unchecked source cannot be, so a
    // config without it builds offline.
    let offline_config = root.join("project/offline.yaml");
    let offline = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            "expected-none: \"yes\"",
            &format!("expected-sha256: {sha_one}"),
        )
        .replace("unchecked.tar.gz", "one-1.0.tar.gz")
        .replace("test -s unchecked/u.txt", "test -s unchecked/one.bin");
    std::fs::write(&offline_config, offline).unwrap();
    let (code, stdout, stderr) = outcome(
        build(None, &offline_config, &cache, &out, &["--no-network"])
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let line = cache_line(&stderr).unwrap();
    assert!(
        line.ends_with(" (nothing added); fetch served from cache: 2 of 2"),
        "{line}"
    );
    assert_eq!(
        (server.hits("one-1.0.tar.gz"), server.hits("two-1.0.tar.gz")),
        (1, 2)
    );
}
