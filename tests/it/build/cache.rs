//! The build cache at /var/cache/melange: writes persist on the host, a second build sees
//! them, a missing cache dir is created, and a cache path that is not a directory stops the
//! build before any step.

use crate::build::common::*;

const COUNTER: &str = r#"pipeline:
  - name: count
    runs: |
      n=$(cat /var/cache/melange/counter 2>/dev/null || echo 0)
      echo $((n + 1)) > /var/cache/melange/counter
      mkdir -p /var/cache/melange/deep/er
      echo "build $((n + 1))" > /var/cache/melange/deep/er/file
"#;

#[test]
fn writes_persist_and_the_next_build_sees_them() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        t.config(COUNTER);
        assert!(!t.cache().exists());
        t.build(who, &["--no-network"]).ok();
        // The missing cache dir was created, and the step's files are in it on the host.
        assert_eq!(t.cached("counter").trim(), "1", "{who:?}");
        assert_eq!(t.cached("deep/er/file").trim(), "build 1");
        t.build(who, &["--no-network"]).ok();
        assert_eq!(
            t.cached("counter").trim(),
            "2",
            "{who:?}: the second build saw the first's file"
        );
        assert_eq!(t.cached("deep/er/file").trim(), "build 2");
    }
}

#[test]
fn a_missing_nested_cache_dir_is_created() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config(COUNTER);
    let run = t.build(Who::Root, &["--no-network", "--cache-dir", "cache/a/b"]);
    run.ok();
    let file = t.cache().join("a/b/counter");
    assert_eq!(fs_err::read_to_string(file).unwrap().trim(), "1");
}

#[test]
fn a_cache_path_that_is_a_file_stops_the_build_before_any_step() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config("pipeline:\n  - name: marker\n    runs: echo STEP-RAN-MARKER\n");
    fs_err::write(t.root().join("not-a-dir"), "x").unwrap();
    let run = t.build(Who::Root, &["--no-network", "--cache-dir", "not-a-dir"]);
    run.exit(2);
    assert!(!run.stderr.contains("STEP-RAN-MARKER"), "{run}");
    assert!(!run.stderr.contains("==>"), "no step may start: {run}");
    assert!(
        run.stderr.contains("not-a-dir"),
        "the error names the path: {run}"
    );
    assert_eq!(
        fs_err::read_to_string(t.root().join("not-a-dir")).unwrap(),
        "x"
    );
    assert!(
        t.leftovers().is_empty(),
        "no workspace was made: {:?}",
        t.leftovers()
    );
}

#[test]
fn an_unwritable_cache_stops_an_ordinary_user_before_any_step() {
    require_bwrap!();
    if !can_drop_privileges() {
        return;
    }
    let t = TestEnv::new();
    t.config("pipeline:\n  - name: marker\n    runs: echo STEP-RAN-MARKER\n");
    // Owned by root, mode 0755: uid 65534 cannot write there.
    fs_err::create_dir(t.cache()).unwrap();
    let run = t.build(Who::Nobody, &["--no-network"]);
    run.exit(2);
    assert!(!run.stderr.contains("STEP-RAN-MARKER"), "{run}");
    assert!(run.stderr.contains("cache"), "{run}");
}
