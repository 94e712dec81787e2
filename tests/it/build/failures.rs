//! Failing builds: the exit status and report of a failing step, `set -e` semantics, a step
//! killed by a signal, the build timeout, the kept workspace, and the order of steps (nothing
//! after a failure; subpackages after the main pipeline).

use std::time::Duration;

use crate::build::common::*;

/// 1-based line of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn a_failing_step_stops_the_build_and_is_reported_with_its_workspace() {
    require_bwrap!();
    let t = TestEnv::new();
    let config = t.config(
        r#"pipeline:
  - name: first
    runs: echo first > /var/cache/melange/first
  - name: breaks
    runs: |
      echo "work in progress" > made-by-step.txt
      echo "some context line"
      echo "the last words" >&2
      exit 3
  - name: never
    runs: echo never > /var/cache/melange/never
subpackages:
  - name: test-pkg-sub
    pipeline:
      - runs: echo sub > /var/cache/melange/sub
"#,
    );
    let text = fs_err::read_to_string(&config).unwrap();
    let run = t.build(Who::Root, &["--no-network"]);
    run.exit(1);
    assert!(t.cache().join("first").exists());
    assert!(!t.cache().join("never").exists(), "a later step ran: {run}");
    assert!(
        !t.cache().join("sub").exists(),
        "a subpackage step ran: {run}"
    );
    // Named with its config line and status; its last lines repeated.
    let origin = format!("src/melange.yaml:{}", line_of(&text, "name: breaks"));
    let summary = run.stderr.lines().last().unwrap();
    assert!(summary.contains("`breaks`"), "{run}");
    assert!(summary.contains(&origin), "{origin} in {run}");
    assert!(summary.contains("exit status 3"), "{run}");
    let tail_at = run.stderr.find("last ").expect("a tail section");
    assert!(run.stderr[tail_at..].contains("the last words"), "{run}");
    assert!(run.stderr[tail_at..].contains("some context line"), "{run}");
    // The workspace is kept, named, and holds the sources and what the step made.
    let kept = run.kept_workspace().expect("the kept workspace is named");
    assert!(kept.starts_with(t.tmp()), "{kept:?}");
    assert_eq!(
        fs_err::read_to_string(kept.join("made-by-step.txt")).unwrap(),
        "work in progress\n"
    );
    assert!(kept.join("melange.yaml").is_file());
}

#[test]
fn set_e_stops_a_script_but_not_inside_conditions() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config("pipeline:\n  - runs: |\n      false\n      echo after > /var/cache/melange/after\n");
    t.build(Who::Root, &["--no-network"]).exit(1);
    assert!(!t.cache().join("after").exists());

    // pipefail, as in melange's wrapper.
    t.config(
        "pipeline:\n  - runs: |\n      false | cat\n      echo after > /var/cache/melange/after\n",
    );
    t.build(Who::Root, &["--no-network"]).exit(1);
    assert!(!t.cache().join("after").exists());

    t.config(
        r#"pipeline:
  - runs: |
      if false; then echo no; fi
      false || true
      ! false
      while false; do :; done
      echo after > /var/cache/melange/after
"#,
    );
    t.build(Who::Root, &["--no-network"]).ok();
    assert_eq!(t.cached("after"), "after\n");
}

#[test]
fn a_step_killed_by_a_signal_fails_the_build() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config(
        "pipeline:\n  - name: suicide\n    runs: |\n      kill -TERM $$\n      echo survived > /var/cache/melange/survived\n",
    );
    let run = t.build(Who::Root, &["--no-network"]);
    run.exit(1);
    assert!(!t.cache().join("survived").exists());
    assert!(run.stderr.contains("SIGTERM"), "{run}");
    assert!(run.stderr.contains("`suicide`"), "{run}");
}

#[test]
fn the_timeout_stops_the_build_and_leaves_no_process() {
    require_bwrap!();
    let t = TestEnv::new();
    // A number no other process has on its command line.
    let seconds = format!("7{}1", std::process::id());
    t.write(
        "melange.yaml",
        &format!(
            "package:\n  name: slow\n  version: 1.0.0\n  epoch: 0\n  timeout: 2s\n  \
             copyright:\n    - license: MIT\npipeline:\n  - name: sleeper\n    runs: |\n      \
             touch /var/cache/melange/started\n      sleep {seconds}\n  - runs: touch \
             /var/cache/melange/next\n"
        ),
    );
    let run = t.build(Who::Root, &["--no-network"]);
    run.exit(1);
    assert!(t.cache().join("started").exists(), "{run}");
    assert!(!t.cache().join("next").exists());
    assert!(run.stderr.contains("timed out"), "{run}");
    assert!(
        run.stderr.contains("timeout"),
        "the hint names the timeout: {run}"
    );
    let gone = wait_until(Duration::from_secs(5), || pids_with(&seconds).is_empty());
    assert!(
        gone,
        "sandbox processes survived: {:?}",
        pids_with(&seconds)
    );
}

#[test]
fn subpackages_run_after_the_main_pipeline_in_order() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config(
        r#"pipeline:
  - runs: echo main-1 >> /var/cache/melange/order
  - runs: |
      echo main-2 >> /var/cache/melange/order
      if [ -d /home/build/melange-out/test-pkg-b ]; then echo early >> /var/cache/melange/order; fi
subpackages:
  - name: test-pkg-b
    pipeline:
      - runs: echo sub-b >> /var/cache/melange/order
  - name: test-pkg-a
    pipeline:
      - runs: |
          echo sub-a-1 >> /var/cache/melange/order
          test -d "${{targets.subpkgdir}}"
      - runs: echo sub-a-2 >> /var/cache/melange/order
"#,
    );
    t.build(Who::Root, &["--no-network"]).ok();
    // YAML order, not name order; a subpackage's destdir appears only at its turn (melange).
    assert_eq!(
        t.cached("order"),
        "main-1\nmain-2\nsub-b\nsub-a-1\nsub-a-2\n"
    );
    assert!(
        t.leftovers().is_empty(),
        "the temporary workspace is removed after success"
    );
}

#[test]
fn a_download_without_network_gets_the_no_network_hint() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config(
        "pipeline:\n  - name: download\n    runs: |\n      wget -O /dev/null http://melwrap-test.invalid/x\n",
    );
    let run = t.build(Who::Root, &["--no-network"]);
    run.exit(1);
    assert!(
        run.stderr
            .contains("hint: the step has no network (`--no-network`)"),
        "{run}"
    );
}

#[test]
fn a_foreign_arch_is_refused_before_anything_is_created() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config("pipeline:\n  - runs: echo ran > /var/cache/melange/ran\n");
    let foreign = if std::env::consts::ARCH == "aarch64" {
        "x86_64"
    } else {
        "aarch64"
    };
    let run = t.build(Who::Root, &["--arch", foreign]);
    run.exit(2);
    assert!(run.stderr.contains("steps run natively"), "{run}");
    assert!(!t.cache().exists(), "nothing may be created: {run}");
    assert!(!t.out().join(foreign).exists(), "{run}");
}
