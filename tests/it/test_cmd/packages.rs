//! Each package's own files at `/`, and only those; a broken package fails only its test.

use std::path::Path;

use super::support::{Scratch, assert_summary, fingerprint};

/// Paths the fixture's packages install; none may appear on the host.
const INSTALLED: &[&str] = &[
    "/usr/bin/hello-melwrap",
    "/usr/bin/hello-extra-melwrap",
    "/usr/share/hello",
    "/usr/share/doc/hello-melwrap",
    "/opt/hello-extra",
];

fn assert_host_untouched() {
    for p in INSTALLED {
        assert!(
            Path::new(p).symlink_metadata().is_err(),
            "{p} appeared on the host"
        );
    }
}

#[test]
fn every_package_passes_then_a_broken_package_fails_alone() {
    let s = Scratch::new("hello.yaml");
    let build = s.melwrap(&["build", "hello.yaml"]);
    assert_eq!(build.code, Some(0), "{}", build.stderr);

    let out_before = fingerprint(&s.path().join("packages"));
    let config_before = fingerprint(&s.path().join("hello.yaml"));
    let run = s.melwrap(&["test", "hello.yaml"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for name in ["hello", "hello-doc", "hello-extra"] {
        assert_summary(&run, name, "ok");
    }
    assert!(run.stderr.contains("3 passed, 0 failed"), "{}", run.stderr);
    // stdout is for data; everything the tests say goes to stderr.
    assert_eq!(run.stdout, "");
    // hello-extra's test names the main package, which is installed with it; a package that
    // is not this config's is reported as not installable.
    assert!(
        run.stderr
            .contains("==> testing `hello-extra` (installed: hello, hello-extra)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("some-repository-package"),
        "{}",
        run.stderr
    );
    assert_eq!(fingerprint(&s.path().join("packages")), out_before);
    assert_eq!(fingerprint(&s.path().join("hello.yaml")), config_before);
    assert_host_untouched();

    // Rebuild with hello-doc's README left out: only hello-doc's test fails, the others still
    // run after it and pass.
    let broken = s.melwrap(&["build", "hello.yaml", "--var", "break-doc=yes"]);
    assert_eq!(broken.code, Some(0), "{}", broken.stderr);
    // A failed run keeps its workspace: keep it inside the scratch dir.
    let run = s.melwrap(&["test", "hello.yaml", "--workspace-dir", "ws"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("workspace kept:"), "{}", run.stderr);
    assert_summary(&run, "hello", "ok");
    assert_summary(&run, "hello-doc", "FAILED");
    assert_summary(&run, "hello-extra", "ok");
    assert!(
        run.stderr
            .contains("cat: /usr/share/doc/hello-melwrap/README: No such file or directory"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: 1 of 3 test(s) failed: hello-doc"),
        "{}",
        run.stderr
    );
    assert_host_untouched();
}

#[test]
fn a_missing_package_is_named_and_nothing_runs() {
    let s = Scratch::new("hello.yaml");
    let run = s.melwrap(&["test", "hello.yaml", "--out-dir", "elsewhere"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    for name in ["hello", "hello-doc", "hello-extra"] {
        let arch = std::env::consts::ARCH;
        let file = format!("elsewhere/{arch}/{name}-1.2.3-r4.apk does not exist");
        assert!(run.stderr.contains(&file), "{}", run.stderr);
    }
    assert!(
        run.stderr
            .contains("hint: build the packages first with `melwrap build hello.yaml`"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("==> testing"), "{}", run.stderr);
    assert!(!s.path().join("elsewhere").exists());
}

#[test]
fn build_test_as_an_ordinary_user() {
    let s = Scratch::new("hello.yaml");
    s.open_up();
    let run = s.melwrap_as_nobody(&["build", "hello.yaml", "--test"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // The tests ran after the build, in the same invocation.
    let built = run
        .stderr
        .find("built 3 package(s)")
        .expect("build finished");
    let summary = run.stderr.find("test summary:").expect("tests ran");
    assert!(built < summary, "{}", run.stderr);
    for name in ["hello", "hello-doc", "hello-extra"] {
        assert_summary(&run, name, "ok");
    }
    assert_host_untouched();
}

#[test]
fn a_package_name_tests_only_that_package_and_a_wrong_one_is_bad_input() {
    let s = Scratch::new("hello.yaml");
    let build = s.melwrap(&["build", "hello.yaml"]);
    assert_eq!(build.code, Some(0), "{}", build.stderr);

    let run = s.melwrap(&["test", "hello.yaml", "hello-doc"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_summary(&run, "hello-doc", "ok");
    assert!(run.stderr.contains("1 passed, 0 failed"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("==> testing `hello-extra`"),
        "{}",
        run.stderr
    );

    let run = s.melwrap(&["test", "hello.yaml", "hello-dcs"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("package `hello-dcs` has no `test:` pipeline"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("packages with tests: hello, hello-doc, hello-extra"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_timeout_stops_a_hanging_test() {
    let s = Scratch::new("hello.yaml");
    std::fs::write(
        s.path().join("slow.yaml"),
        "package:\n  name: slow\n  version: 1.0.0\npipeline:\n  - runs: mkdir -p ${{targets.destdir}}/usr/share/slow\n\
         test:\n  pipeline:\n    - runs: sleep 600\n",
    )
    .unwrap();
    let build = s.melwrap(&["build", "slow.yaml"]);
    assert_eq!(build.code, Some(0), "{}", build.stderr);
    let run = s.melwrap(&[
        "test",
        "slow.yaml",
        "--timeout",
        "1s",
        "--workspace-dir",
        "ws",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    assert_summary(&run, "slow", "FAILED");
}
