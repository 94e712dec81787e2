//! Three `melwrap build` processes at once on one cache dir, all preloading the same seed,
//! fetching the same tarballs and writing the same entries, as root and as an unprivileged
//! user. Afterwards every build has succeeded and every cache entry is whole.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use super::support::*;

const BUILDS: usize = 3;
/// Lines each build appends to the shared log, one `write(2)` each.
const APPENDS: usize = 200;
/// Wheel-like files every build writes under the same names.
const WHEELS: usize = 30;
const WHEEL_BYTES: usize = 256 * 1024;

/// Writes to the cache the way package managers do: objects named by their hash and wheels
/// under fixed names through a unique temporary name and `mv`; an unpacked archive directory
/// built aside and renamed into place, or dropped when another build won (uv's way); appends
/// to one shared log. A first step waits until every build has started, so they overlap.
const CONFIG: &str = r#"
package:
  name: shared-cache
  version: 1.0.0
  epoch: 0
pipeline:
  - name: wait for the other builds
    runs: |
      mkdir -p /var/cache/melange/started
      touch /var/cache/melange/started/${{vars.id}}
      n=0
      while [ "$(ls /var/cache/melange/started | wc -l)" -lt BUILDS ]; do
        n=$((n + 1))
        if [ "$n" -gt 1200 ]; then echo "the other builds never started" >&2; exit 1; fi
        sleep 0.05
      done
  - uses: fetch
    with:
      uri: URL_ALPHA
      expected-sha256: SHA_ALPHA
      directory: alpha
  - uses: fetch
    with:
      uri: URL_BETA
      expected-sha512: SHA_BETA
      directory: beta
  - name: store objects by hash
    runs: |
      d=/var/cache/melange/objects
      mkdir -p "$d"
      for f in alpha/* beta/*; do
        key=$(sha256sum "$f" | cut -d' ' -f1)
        tmp=$(mktemp "$d/.tmp.XXXXXX")
        cat "$f" > "$tmp"
        mv -f "$tmp" "$d/$key"
      done
  - name: write wheels and append to the log
    runs: |
      d=/var/cache/melange/pip/wheels
      mkdir -p "$d"
      for i in $(seq 1 WHEELS); do
        tmp=$(mktemp "$d/.tmp.XXXXXX")
        awk -v s="wheel $i" -v n=WHEEL_BYTES 'BEGIN {
          out = s "\n"; while (length(out) < n) out = out out; printf "%s", substr(out, 1, n)
        }' > "$tmp"
        mv -f "$tmp" "$d/pkg_$i-1.0-py3-none-any.whl"
        echo "build ${{vars.id}} line $i" >> /var/cache/melange/pip/log
      done
      for i in $(seq $((WHEELS + 1)) APPENDS); do
        echo "build ${{vars.id}} line $i" >> /var/cache/melange/pip/log
      done
  - name: unpack an archive the uv way
    runs: |
      d=/var/cache/melange/uv/archive-v0
      mkdir -p "$d"
      for n in 1 2 3 4 5; do
        tmp=$(mktemp -d "$d/.tmp.XXXXXX")
        mkdir -p "$tmp/pkg"
        cp alpha/* beta/* "$tmp/pkg/"
        echo "archive $n" > "$tmp/pkg/RECORD"
        mv -T "$tmp" "$d/archive-$n" 2>/dev/null || rm -rf "$tmp"
      done
"#;

struct Sources {
    alpha_files: Vec<(&'static str, Vec<u8>)>,
    beta_files: Vec<(&'static str, Vec<u8>)>,
    alpha: Vec<u8>,
    beta: Vec<u8>,
}

fn sources() -> Sources {
    let alpha_files = vec![
        ("a.bin", noise(1, 700 << 10)),
        ("b.txt", b"alpha\n".repeat(1000)),
    ];
    let beta_files = vec![("c.bin", noise(2, 500 << 10))];
    Sources {
        alpha: tarball("alpha-1.0", &alpha_files),
        beta: tarball("beta-2.0", &beta_files),
        alpha_files,
        beta_files,
    }
}

fn run_concurrent_builds(uid: Option<u32>) {
    let src = sources();
    let server = HttpServer::start(BTreeMap::from([
        ("alpha-1.0.tar.gz".to_string(), src.alpha.clone()),
        ("beta-2.0.tar.gz".to_string(), src.beta.clone()),
    ]));
    let (sha_alpha, sha_beta) = (sha256_hex(&src.alpha), sha512_hex(&src.beta));
    let tmp = open_tempdir();
    let root = tmp.path();
    let config = root.join("project/melange.yaml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let text = CONFIG
        .replace("URL_ALPHA", &server.url("alpha-1.0.tar.gz"))
        .replace("URL_BETA", &server.url("beta-2.0.tar.gz"))
        .replace("SHA_ALPHA", &sha_alpha)
        .replace("SHA_BETA", &sha_beta)
        .replace("WHEEL_BYTES", &WHEEL_BYTES.to_string())
        .replace("WHEELS", &WHEELS.to_string())
        .replace("APPENDS", &APPENDS.to_string())
        .replace("BUILDS", &BUILDS.to_string());
    std::fs::write(&config, text).unwrap();

    // A seed every build preloads at once: beta's blob (so no build downloads it) and a Go
    // module tree with read-only directories, as Go leaves them.
    let seed = root.join("seed");
    let module = seed.join("gomodcache/example.com/m@v1.0.0");
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(module.join("m.go"), noise(3, 300 << 10)).unwrap();
    std::fs::write(seed.join(format!("sha512:{sha_beta}")), &src.beta).unwrap();
    let chmod = std::process::Command::new("chmod")
        .args(["-R", "a-w,a+rX"])
        .arg(seed.join("gomodcache"))
        .status()
        .unwrap();
    assert!(chmod.success());
    let seed_before = files_under(&seed);

    let cache = root.join("cache");
    let children: Vec<_> = (1..=BUILDS)
        .map(|id| {
            build(
                uid,
                &config,
                &cache,
                &root.join(format!("out-{id}")),
                &[
                    "--var",
                    &format!("id={id}"),
                    "--cache-source",
                    seed.to_str().unwrap(),
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn melwrap build")
        })
        .collect();
    let results: Vec<_> = children
        .into_iter()
        .map(|c| outcome(c.wait_with_output().unwrap()))
        .collect();
    for (i, (code, stdout, stderr)) in results.iter().enumerate() {
        assert_eq!(
            *code,
            0,
            "build {} failed\nstdout: {stdout}\nstderr: {stderr}",
            i + 1
        );
        // beta came from the seed; alpha from the cache too when another build stored it first.
        let line = cache_line(stderr).unwrap_or_else(|| panic!("no cache line in\n{stderr}"));
        assert!(
            line.ends_with("fetch served from cache: 1 of 2")
                || line.ends_with("fetch served from cache: 2 of 2"),
            "{line}"
        );
    }
    assert_eq!(server.hits("beta-2.0.tar.gz"), 0, "beta was preloaded");
    let alpha_hits = server.hits("alpha-1.0.tar.gz");
    assert!((1..=BUILDS).contains(&alpha_hits), "{alpha_hits}");

    check_cache_is_whole(&cache, &src, &sha_alpha, &sha_beta);
    assert_eq!(files_under(&seed), seed_before, "the seed must not change");
}

/// Every entry the builds wrote is complete and correct, and no temporary file is left.
fn check_cache_is_whole(cache: &Path, src: &Sources, sha_alpha: &str, sha_beta: &str) {
    let files = files_under(cache);
    let leftovers: Vec<_> = files
        .keys()
        .filter(|p| {
            p.file_name().unwrap().to_str().is_some_and(|n| {
                n.starts_with(".tmp.") || n.starts_with(".fetch.") || n.starts_with(".melwrap-")
            })
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // The fetch blobs: named by the digest of their content.
    let alpha = &files[Path::new(&format!("sha256:{sha_alpha}"))];
    assert_eq!(sha256_hex(alpha), sha_alpha);
    let beta = &files[Path::new(&format!("sha512:{sha_beta}"))];
    assert_eq!(sha512_hex(beta), sha_beta);

    // Objects: one per source file, each named by the hash of its content.
    let objects: Vec<_> = files
        .iter()
        .filter(|(p, _)| p.starts_with("objects"))
        .collect();
    assert_eq!(objects.len(), src.alpha_files.len() + src.beta_files.len());
    for (path, content) in &objects {
        assert_eq!(
            path.file_name().unwrap().to_str().unwrap(),
            sha256_hex(content),
            "{} is torn",
            path.display()
        );
    }

    // Wheels: each exactly what every build wrote.
    for i in 1..=WHEELS {
        let path = format!("pip/wheels/pkg_{i}-1.0-py3-none-any.whl");
        let want: Vec<u8> = format!("wheel {i}\n")
            .into_bytes()
            .into_iter()
            .cycle()
            .take(WHEEL_BYTES)
            .collect();
        assert!(files[Path::new(&path)] == want, "{path} is torn");
    }

    // The shared log: every line of every build, none lost or mixed.
    let log = String::from_utf8(files[Path::new("pip/log")].clone()).unwrap();
    let mut lines: Vec<&str> = log.lines().collect();
    lines.sort_unstable();
    let mut want: Vec<String> = (1..=BUILDS)
        .flat_map(|b| (1..=APPENDS).map(move |i| format!("build {b} line {i}")))
        .collect();
    want.sort_unstable();
    assert_eq!(lines, want);

    // Archives: exactly one whole copy each.
    let everything: Vec<_> = src.alpha_files.iter().chain(&src.beta_files).collect();
    for n in 1..=5 {
        let dir = format!("uv/archive-v0/archive-{n}/pkg");
        for (name, content) in &everything {
            let path = Path::new(&dir).join(name);
            assert!(
                files.get(&path) == Some(content),
                "{} is torn",
                path.display()
            );
        }
        let record = Path::new(&dir).join("RECORD");
        assert_eq!(files[&record], format!("archive {n}\n").into_bytes());
        let in_archive = files
            .keys()
            .filter(|p| p.starts_with(format!("uv/archive-v0/archive-{n}")))
            .count();
        assert_eq!(
            in_archive,
            everything.len() + 1,
            "archive-{n} has extra files"
        );
    }

    // The preloaded module: whole, its directories read-only as in the seed.
    let module = Path::new("gomodcache/example.com/m@v1.0.0");
    assert_eq!(files[&module.join("m.go")], noise(3, 300 << 10));
    let mode = std::fs::metadata(cache.join(module)).unwrap().permissions();
    assert!(mode.readonly(), "{mode:?}");
    // Every build passed the first step, which waits for all of them: they overlapped.
    assert_eq!(cache.join("started").read_dir().unwrap().count(), BUILDS);
}

#[test]
fn concurrent_builds_share_one_cache_as_root() {
    if skip_unless_root("sharing a cache between builds run as root") {
        return;
    }
    run_concurrent_builds(None);
}

#[test]
fn concurrent_builds_share_one_cache_as_an_unprivileged_user() {
    run_concurrent_builds(Some(unprivileged_uid()));
}
