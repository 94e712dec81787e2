//! SIGINT and SIGTERM to melwrap mid-step: exit 130 or 143, no sandbox process left, the
//! temporary workspace removed. As root and as uid 65534.

use std::process::Stdio;
use std::time::Duration;

use crate::build::common::*;

fn interrupt_mid_step(who: Who, signal: i32, expected: i32) {
    let t = TestEnv::new();
    let seconds = format!("6{}{signal}", std::process::id());
    t.config(&format!(
        r#"pipeline:
  - name: long
    runs: |
      touch /var/cache/melange/started
      sleep {seconds}
      touch /var/cache/melange/finished
  - runs: touch /var/cache/melange/next
"#
    ));
    let mut child = t
        .build_cmd(who, &["--no-network"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = wait_until(Duration::from_secs(30), || {
        t.cache().join("started").exists()
    });
    if !started {
        let _ = child.kill();
    }
    assert!(started, "the step never started");
    assert!(
        !pids_with(&seconds).is_empty(),
        "the step's sleep is visible on the host"
    );
    // SAFETY: kill on a pid we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(expected), "{who:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!t.cache().join("finished").exists());
    assert!(
        !t.cache().join("next").exists(),
        "no step runs after the signal"
    );
    let gone = wait_until(Duration::from_secs(5), || pids_with(&seconds).is_empty());
    assert!(
        gone,
        "{who:?}: sandbox processes survived: {:?}",
        pids_with(&seconds)
    );
    assert!(
        t.leftovers().is_empty(),
        "{who:?}: the temporary workspace is gone: {:?}",
        t.leftovers()
    );
}

#[test]
fn sigint_stops_the_build_with_130() {
    require_bwrap!();
    for who in users() {
        interrupt_mid_step(who, libc::SIGINT, 130);
    }
}

#[test]
fn sigterm_stops_the_build_with_143() {
    require_bwrap!();
    for who in users() {
        interrupt_mid_step(who, libc::SIGTERM, 143);
    }
}
