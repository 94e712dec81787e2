//! Which findings fail a build: `--fail-on-lint-warning`, `checks.disabled`, unknown linter
//! names (refused before any step runs), and `--persist-lint-results`.

use super::*;

/// A main package writing to /usr/local (a warning) and a subpackage writing to /tmp (required).
fn config(t: &TestEnv, main_checks: &str, sub_checks: &str) {
    t.config(&format!(
        "{main_checks}pipeline:
  - runs: |
      mkdir -p ${{{{targets.destdir}}}}/usr/local/bin
      echo x > ${{{{targets.destdir}}}}/usr/local/bin/tool
subpackages:
  - name: test-pkg-tmp
{sub_checks}    pipeline:
      - runs: |
          mkdir -p ${{{{targets.contextdir}}}}/tmp
          echo x > ${{{{targets.contextdir}}}}/tmp/scratch
"
    ));
}

#[test]
fn fail_on_lint_warning_turns_warnings_into_failures() {
    require_bwrap!();
    let t = TestEnv::new();
    // Only the warning: the subpackage's /tmp file is allowed by its checks.
    config(&t, "", "    checks:\n      disabled: [tempdir]\n");
    let run = build(&t, &[]);
    run.ok();
    let found = findings(&run.stderr);
    assert!(
        found
            .iter()
            .any(|f| f.package == "test-pkg" && f.linter == "usrlocal" && !f.error),
        "{run}"
    );
    // The disabled linter still reports, as a warning (melange moves it to the warn list).
    assert!(
        found
            .iter()
            .any(|f| f.package == "test-pkg-tmp" && f.linter == "tempdir" && !f.error),
        "{run}"
    );
    assert_eq!(apks(&t.out()).len(), 2);

    let t = TestEnv::new();
    config(&t, "", "    checks:\n      disabled: [tempdir]\n");
    let run = build(&t, &["--fail-on-lint-warning"]);
    run.exit(1).says("test-pkg [usrlocal]");
    let found = findings(&run.stderr);
    assert!(
        found
            .iter()
            .any(|f| f.package == "test-pkg" && f.linter == "usrlocal" && f.error),
        "{run}"
    );
    // A linter the config disabled stays a warning even then.
    assert!(
        found
            .iter()
            .any(|f| f.package == "test-pkg-tmp" && f.linter == "tempdir" && !f.error),
        "{run}"
    );
    assert!(apks(&t.out()).is_empty());
}

#[test]
fn checks_disabled_downgrades_a_required_linter_for_that_package_only() {
    require_bwrap!();
    // Disabled on the main package, which does not trip it: the subpackage still fails.
    let t = TestEnv::new();
    config(&t, "  checks:\n    disabled: [tempdir]\n", "");
    let run = build(&t, &[]);
    run.exit(1).says("test-pkg-tmp [tempdir]");
    assert!(apks(&t.out()).is_empty());

    // Disabled on the subpackage: the build passes.
    let t = TestEnv::new();
    config(&t, "", "    checks:\n      disabled: [tempdir]\n");
    build(&t, &[]).ok();
    assert_eq!(
        apks(&t.out()),
        ["test-pkg-1.0.0-r0.apk", "test-pkg-tmp-1.0.0-r0.apk"]
    );
}

#[test]
fn unknown_linter_names_are_refused_before_any_step_runs() {
    require_bwrap!();
    let t = TestEnv::new();
    config(&t, "", "    checks:\n      disabled: [tempdri]\n");
    let run = build(&t, &[]);
    run.exit(2)
        .says("melange.yaml:")
        .says("subpackages[0].checks.disabled[0]")
        .says("unknown linter `tempdri`")
        .says("did you mean `tempdir`?");
    assert!(!run.stderr.contains("==> "), "a step ran:\n{run}");

    let t = TestEnv::new();
    config(&t, "", "");
    let run = build(&t, &["--lint-warn", "usrlocal,nosuch"]);
    run.exit(2)
        .says("--lint-warn")
        .says("unknown linter `nosuch`");
    assert!(!run.stderr.contains("==> "), "a step ran:\n{run}");
}

#[test]
fn persisted_results_name_each_finding() {
    require_bwrap!();
    let t = TestEnv::new();
    config(&t, "", "    checks:\n      disabled: [tempdir]\n");
    build(&t, &["--persist-lint-results"]).ok();
    let arch_dir = fs_err::read_dir(t.out())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .unwrap();
    let text = fs_err::read_to_string(arch_dir.join("lint-test-pkg-1.0.0-r0.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["package_name"], "test-pkg-1.0.0-r0");
    let usrlocal = &json["findings"]["usrlocal"][0];
    assert_eq!(usrlocal["details"]["paths"][0], "usr/local/bin/tool");
    assert_eq!(usrlocal["severity"], "warning");
    let sub = fs_err::read_to_string(arch_dir.join("lint-test-pkg-tmp-1.0.0-r0.json")).unwrap();
    assert!(sub.contains("tmp/scratch"), "{sub}");
}
