//! `melwrap cache prune` while a build holds the cache: refused with nothing removed, and
//! allowed once the build has finished.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use super::support::*;

/// A build whose only step says it runs, then waits for a go-ahead file (bounded).
const CONFIG: &str = r#"
package:
  name: holds-the-cache
  version: 1.0.0
  epoch: 0
pipeline:
  - runs: |
      touch /var/cache/melange/step-running
      n=0
      until [ -e /var/cache/melange/go-ahead ]; do
        n=$((n + 1))
        if [ "$n" -gt 2400 ]; then echo "no go-ahead" >&2; exit 1; fi
        sleep 0.05
      done
"#;

/// `ROOT/project/melange.yaml` holding [`CONFIG`].
fn write_config(root: &std::path::Path) -> std::path::PathBuf {
    let config = root.join("project/melange.yaml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, CONFIG).unwrap();
    config
}

/// `melwrap cache prune --max-size 0` on `cache`, without waiting: exit code, stdout, stderr.
fn prune_to_nothing(cache: &std::path::Path) -> (i32, String, String) {
    outcome(
        melwrap(None)
            .args(["cache", "prune", "--max-size", "0", "--cache-dir"])
            .arg(cache)
            .output()
            .unwrap(),
    )
}

#[test]
fn prune_is_refused_while_a_build_runs_and_works_after() {
    let tmp = open_tempdir();
    let root = tmp.path();
    let config = write_config(root);
    let cache = root.join("cache");
    let known = [
        ("pip/http-v2/a/b/abc.body", 3000),
        ("npm/_cacache/content-v2/sha512/aa/bb/cc", 2000),
        (
            "gomodcache/cache/download/example.com/m/@v/v1.0.0.zip",
            4000,
        ),
    ];
    for (rel, len) in known {
        let path = cache.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, noise(len as u64, len)).unwrap();
    }

    let child = build(None, &config, &cache, &root.join("out"), &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let running = wait_until(Duration::from_secs(120), || {
        cache.join("step-running").exists()
    });
    if !running {
        let _ = std::fs::write(cache.join("go-ahead"), "");
        let (code, _, stderr) = outcome(child.wait_with_output().unwrap());
        panic!("the build's step never started (exit {code}):\n{stderr}");
    }
    let before = files_under(&cache);

    let (code, stdout, stderr) = prune_to_nothing(&cache);
    assert_eq!(code, 2, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("a build is using this cache"), "{stderr}");
    assert!(stderr.contains("--wait"), "the hint names --wait: {stderr}");
    assert_eq!(files_under(&cache), before, "prune removed something");

    std::fs::write(cache.join("go-ahead"), "").unwrap();
    let (code, _, stderr) = outcome(child.wait_with_output().unwrap());
    assert_eq!(code, 0, "{stderr}");
    assert!(cache_line(&stderr).is_some(), "{stderr}");

    // With the build gone the same prune runs and removes every entry that has a size (the
    // empty marker files already fit in a size of 0).
    let (code, stdout, stderr) = prune_to_nothing(&cache);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let left = files_under(&cache);
    assert!(left.values().all(Vec::is_empty), "{:?}", left.keys());
    assert!(known.iter().all(|(rel, _)| !cache.join(rel).exists()));
}

#[test]
fn prune_with_wait_runs_once_the_build_has_finished() {
    let tmp = open_tempdir();
    let root = tmp.path();
    let config = write_config(root);
    let cache = root.join("cache");
    std::fs::create_dir_all(cache.join("pip")).unwrap();
    std::fs::write(cache.join("pip/old"), noise(9, 5000)).unwrap();

    let build_child = build(None, &config, &cache, &root.join("out"), &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(120), || cache
        .join("step-running")
        .exists()));
    let prune = melwrap(None)
        .args(["cache", "prune", "--wait", "--max-size", "0", "--cache-dir"])
        .arg(&cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The prune says it waits, and the cache stays as it is while the build runs.
    let mut prune = prune;
    let mut line = String::new();
    BufReader::new(prune.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("waiting for the builds"), "{line}");
    assert!(cache.join("pip/old").exists(), "prune ran during the build");
    std::fs::write(cache.join("go-ahead"), "").unwrap();
    let (code, _, stderr) = outcome(build_child.wait_with_output().unwrap());
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = outcome(prune.wait_with_output().unwrap());
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(!cache.join("pip/old").exists());
}
