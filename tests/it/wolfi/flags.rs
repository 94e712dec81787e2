//! melange's flags that Wolfi and melange users pass, one by one, through the binary.

use crate::build::common::*;

#[test]
fn runner_bubblewrap_is_accepted_and_the_others_are_named() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config("pipeline:\n  - runs: echo ran > /var/cache/melange/ran\n");
    t.build(Who::Root, &["--runner", "bubblewrap"]).ok();
    assert_eq!(t.cached("ran"), "ran\n");
    for runner in ["docker", "qemu", "kubernetes"] {
        for command in ["build", "test"] {
            let run = Run::from(
                t.melwrap(Who::Root)
                    .args([command, "src/melange.yaml", "--runner", runner])
                    .output()
                    .unwrap(),
            );
            run.exit(2);
            assert!(run.stderr.contains("--runner"), "{run}");
            assert!(run.stderr.contains("not melwrap's"), "{run}");
            assert!(run.stderr.contains("bubblewrap"), "{run}");
        }
    }
}

#[test]
fn generate_provenance_is_refused_by_name_unless_false() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config("pipeline:\n  - runs: echo ran > /var/cache/melange/ran\n");
    let run = t.build(Who::Root, &["--generate-provenance"]);
    run.exit(2);
    assert!(run.stderr.contains("--generate-provenance"), "{run}");
    assert!(!t.cache().exists(), "nothing ran, nothing was created");
    t.build(Who::Root, &["--generate-provenance=false"]).ok();
    assert_eq!(t.cached("ran"), "ran\n");
}

#[test]
fn create_build_log_appends_melanges_lines_to_packages_log() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config(
        "pipeline:\n  - runs: mkdir -p ${{targets.destdir}}/x\nsubpackages:\n  - name: test-pkg-doc\n    \
         pipeline:\n      - runs: mkdir -p ${{targets.subpkgdir}}/y\n",
    );
    let arch = melwrap::compile::Arch::host().unwrap().apk;
    t.build(Who::Root, &["--arch", arch, "--create-build-log"])
        .ok();
    t.build(Who::Root, &["--arch", arch, "--create-build-log"])
        .ok();
    let log = fs_err::read_to_string(t.root().join("packages.log")).unwrap();
    let one = format!("{arch}|test-pkg|test-pkg|1.0.0-r0\n{arch}|test-pkg|test-pkg-doc|1.0.0-r0\n");
    assert_eq!(log, format!("{one}{one}"), "appended, one line per package");
    // Without the flag, nothing is written.
    fs_err::remove_file(t.root().join("packages.log")).unwrap();
    t.build(Who::Root, &[]).ok();
    assert!(!t.root().join("packages.log").exists());
}

#[test]
fn cleanup_false_keeps_the_workspace_and_cleanup_removes_it() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config("pipeline:\n  - runs: echo kept > /home/build/marker\n");
    t.build(Who::Root, &["--cleanup"]).ok();
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
    let run = t.build(Who::Root, &["--cleanup=false"]);
    run.ok();
    assert!(
        run.stderr.contains("workspace kept (--cleanup=false)"),
        "{run}"
    );
    let kept = t.leftovers();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let marker = crate::support::walk(&t.tmp().join(&kept[0]))
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "marker"));
    assert!(
        marker.is_some(),
        "the workspace with the step's file is kept"
    );
}

#[test]
fn empty_workspace_copies_nothing_from_the_source_dir() {
    require_bwrap!();
    let t = TestEnv::new();
    t.write("source.txt", "from the source dir\n");
    t.config(
        "pipeline:\n  - runs: |\n      if [ -e source.txt ]; then echo copied; else echo empty; fi \
         > /var/cache/melange/seen\n",
    );
    t.build(Who::Root, &[]).ok();
    assert_eq!(t.cached("seen"), "copied\n");
    t.build(Who::Root, &["--empty-workspace"]).ok();
    assert_eq!(t.cached("seen"), "empty\n");
}

#[test]
fn vars_file_sets_vars_under_the_command_line() {
    require_bwrap!();
    let t = TestEnv::new();
    t.write("vars.yaml", "greeting: from-the-file\nnumber: 7\n");
    t.config(
        "vars:\n  greeting: from-the-config\n  number: 1\npipeline:\n  - runs: echo \
         ${{vars.greeting}} ${{vars.number}} > /var/cache/melange/vars\n",
    );
    t.build(Who::Root, &["--vars-file", "src/vars.yaml"]).ok();
    assert_eq!(t.cached("vars"), "from-the-file 7\n");
    t.build(
        Who::Root,
        &["--vars-file", "src/vars.yaml", "--var", "number=9"],
    )
    .ok();
    assert_eq!(t.cached("vars"), "from-the-file 9\n");
    // A broken file is bad input naming it.
    t.write("bad.yaml", "- a list\n");
    let run = t.build(Who::Root, &["--vars-file", "src/bad.yaml"]);
    run.exit(2);
    assert!(run.stderr.contains("bad.yaml"), "{run}");
    // `compile` takes it too.
    let out = Run::from(
        t.melwrap(Who::Root)
            .args([
                "compile",
                "src/melange.yaml",
                "--vars-file",
                "src/vars.yaml",
            ])
            .output()
            .unwrap(),
    );
    out.ok();
    assert!(out.stdout.contains("from-the-file 7"), "{out}");
}

#[test]
fn log_level_maps_to_melwraps_verbosity() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config("pipeline:\n  - runs: echo ran\n");
    let normal = t.build(Who::Root, &[]);
    normal.ok();
    let quiet = t.build(Who::Root, &["--log-level", "error"]);
    quiet.ok();
    assert!(!quiet.stderr.contains("built 1 package"), "{quiet}");
    assert!(normal.stderr.contains("built 1 package"), "{normal}");
    let debug = Run::from(
        t.melwrap(Who::Root)
            .args([
                "--log-level=debug",
                "build",
                "src/melange.yaml",
                "--out-dir",
                "out",
            ])
            .args(["--cache-dir", "cache"])
            .output()
            .unwrap(),
    );
    debug.ok();
    // `debug` is `-v`: the workspace detail line appears only then.
    assert!(debug.stderr.contains(" files ("), "{debug}");
    assert!(!normal.stderr.contains(" files ("), "{normal}");
    let bad = t.build(Who::Root, &["--log-level", "chatty"]);
    bad.exit(2);
    assert!(bad.stderr.contains("--log-level"), "{bad}");
}

/// A `uses:` step whose own script is empty starts no sandbox and prints one header: here
/// four `uses:` of a one-step pipeline give four headers, not eight.
#[test]
fn uses_steps_print_one_header_each() {
    require_bwrap!();
    let t = TestEnv::new();
    let pipelines = t.src().join("pipelines");
    fs_err::create_dir_all(&pipelines).unwrap();
    fs_err::write(
        pipelines.join("say.yaml"),
        "inputs:\n  word:\n    required: true\npipeline:\n  - runs: echo said-${{inputs.word}}\n",
    )
    .unwrap();
    let mut body = String::from("pipeline:\n");
    for word in ["a", "b", "c", "d"] {
        body.push_str(&format!("  - uses: say\n    with:\n      word: {word}\n"));
    }
    t.config(&body);
    let run = t.build(Who::Root, &["--pipeline-dir", "src/pipelines"]);
    run.ok();
    let all = format!("{}{}", run.stdout, run.stderr);
    let headers: Vec<&str> = all
        .lines()
        .filter(|l| l.starts_with("==> test-pkg ["))
        .collect();
    for word in ["a", "b", "c", "d"] {
        assert!(all.contains(&format!("said-{word}")), "{run}");
    }
    assert_eq!(headers.len(), 4, "{headers:#?}\n{run}");
    assert!(headers[3].contains("[4/4] say"), "{headers:#?}");
}

/// The plan a build runs with, as `melwrap compile` prints it: `UV_LINK_MODE=copy` unless the
/// config or an env file says otherwise, and no GOCACHE default in a cache dir that is the
/// Go module cache.
#[test]
fn cache_environment_defaults_as_compiled() {
    let t = TestEnv::new();
    let env_of = |body: &str, extra: &[&str]| -> serde_json::Value {
        t.config(body);
        let run = Run::from(
            t.melwrap(Who::Root)
                .args(["compile", "--format", "json", "src/melange.yaml"])
                .args(extra)
                .output()
                .unwrap(),
        );
        run.ok();
        let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        plan["environment"].clone()
    };
    let steps = "pipeline:\n  - runs: 'true'\n";
    let env = env_of(steps, &[]);
    assert_eq!(env["UV_LINK_MODE"], "copy");
    assert_eq!(env["GOCACHE"], "/var/cache/melange/go");
    let env = env_of(
        &format!("environment:\n  environment:\n    UV_LINK_MODE: symlink\n{steps}"),
        &[],
    );
    assert_eq!(env["UV_LINK_MODE"], "symlink");
    t.write("uv.env", "UV_LINK_MODE=hardlink\n");
    let env = env_of(steps, &["--env-file", "src/uv.env"]);
    assert_eq!(env["UV_LINK_MODE"], "hardlink");
    let env = env_of(
        &format!("environment:\n  environment:\n    GOMODCACHE: /var/cache/melange\n{steps}"),
        &[],
    );
    assert!(env.get("GOCACHE").is_none(), "{env}");
    assert_eq!(env["GOMODCACHE"], "/var/cache/melange");
}
