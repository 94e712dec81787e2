//! Directory checks through the binary: overlapping or system directories are refused with
//! exit 2, a message naming both paths, no step run and nothing created; the defaults inside
//! the project are fine. (The full matrix is a unit test in `src/build/dirs.rs`.)

use crate::build::common::*;

/// A config whose step would leave a mark in the out dir's parent if it ran.
fn marking_config(t: &TestEnv) {
    t.config("pipeline:\n  - runs: touch /home/build/ran\n");
}

/// `melwrap build src/melange.yaml ARGS`, with `--out-dir out` and `--cache-dir cache` unless
/// ARGS has its own.
fn build(t: &TestEnv, who: Who, args: &[&str]) -> Run {
    let mut cmd = t.melwrap(who);
    cmd.args(["build", "src/melange.yaml"]);
    for (flag, default) in [("--out-dir", "out"), ("--cache-dir", "cache")] {
        if !args.contains(&flag) {
            cmd.args([flag, default]);
        }
    }
    Run::from_output(cmd.args(args).output().unwrap())
}

#[track_caller]
fn refused(run: &Run, both: &[&str]) {
    run.exit(2);
    for text in both {
        assert!(run.stderr.contains(text), "`{text}` not named:\n{run}");
    }
    assert!(!run.stderr.contains("==>"), "a step started:\n{run}");
}

#[test]
fn overlapping_directories_are_refused_before_anything_is_created() {
    require_bwrap!();
    let t = TestEnv::new();
    marking_config(&t);
    let src = t.src().display().to_string();
    let cache = t.cache().display().to_string();

    // The cache is the source dir: steps would rewrite melange.yaml.
    let run = build(&t, Who::Root, &["--cache-dir", &src]);
    refused(&run, &["`--cache-dir`", "same directory", &src]);

    // The out dir inside the cache: a step could plant packages in the index.
    let out_in_cache = format!("{cache}/packages");
    let run = build(&t, Who::Root, &["--out-dir", &out_in_cache]);
    refused(
        &run,
        &["`--out-dir`", "`--cache-dir`", "is inside", &out_in_cache],
    );
    assert!(!t.cache().exists(), "the cache was created");

    // The cache inside a named workspace.
    let ws = t.root().join("ws").display().to_string();
    let cache_in_ws = format!("{ws}/cache");
    let run = build(
        &t,
        Who::Nobody,
        &["--workspace-dir", &ws, "--cache-dir", &cache_in_ws],
    );
    refused(&run, &["`--cache-dir`", "`--workspace-dir`", &cache_in_ws]);
    assert!(!t.root().join("ws").exists(), "the workspace was created");

    // $TMPDIR (where the temporary workspace would go) inside the out dir.
    let tmp_in_out = t.out().join("tmp");
    let run = Run::from_output(
        t.build_cmd(Who::Root, &[])
            .env("TMPDIR", &tmp_in_out)
            .output()
            .unwrap(),
    );
    refused(
        &run,
        &["temporary workspace", "$TMPDIR", "`--out-dir`", "is inside"],
    );
    assert!(!tmp_in_out.exists());

    // The signing key inside the cache, reached through a symbolic link.
    let cache_dir = t.make_cache();
    fs_err::write(cache_dir.join("k.rsa"), "not read").unwrap();
    std::os::unix::fs::symlink(cache_dir.join("k.rsa"), t.root().join("key-link")).unwrap();
    let run = build(&t, Who::Root, &["--signing-key", "key-link"]);
    refused(
        &run,
        &["`--signing-key`", "key-link", "`--cache-dir`", "is inside"],
    );
    assert!(!t.out().join("x86_64").exists() && !t.out().join("aarch64").exists());
}

#[test]
fn system_directories_and_home_are_refused_even_through_a_link() {
    require_bwrap!();
    let t = TestEnv::new();
    marking_config(&t);
    let run = build(&t, Who::Root, &["--cache-dir", "/"]);
    refused(&run, &["`--cache-dir`", "system directory"]);
    let run = build(&t, Who::Nobody, &["--out-dir", "/usr"]);
    refused(&run, &["`--out-dir`", "system directory"]);
    // melwrap's HOME is the scratch home; a link to it is resolved.
    std::os::unix::fs::symlink(t.home(), t.root().join("home-link")).unwrap();
    let run = build(&t, Who::Root, &["--workspace-dir", "home-link"]);
    refused(
        &run,
        &["`--workspace-dir`", "home-link", "system directory"],
    );
    let run = build(&t, Who::Root, &["--cache-dir", "/tmp/"]);
    refused(&run, &["`--cache-dir`", "system directory"]);
}

#[test]
fn defaults_inside_the_project_dir_are_fine() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        marking_config(&t);
        let run = build(
            &t,
            who,
            &[
                "--cache-dir",
                "src/melange-cache",
                "--out-dir",
                "src/packages",
                "--workspace-dir",
                "src/ws",
            ],
        );
        run.ok();
        assert!(
            t.src()
                .join("packages")
                .read_dir()
                .unwrap()
                .next()
                .is_some()
        );
    }
}

#[test]
fn melwrap_test_applies_the_same_rules() {
    require_bwrap!();
    let t = TestEnv::new();
    t.config("pipeline:\n  - runs: 'true'\ntest:\n  pipeline:\n    - runs: 'true'\n");
    t.build(Who::Root, &[]).ok();
    let out = t.out().display().to_string();
    let run = t
        .melwrap(Who::Root)
        .args(["test", "src/melange.yaml", "--out-dir", "out"])
        .args(["--cache-dir", &format!("{out}/cache")])
        .output()
        .unwrap();
    let run = Run::from_output(run);
    refused(&run, &["`--cache-dir`", "`--out-dir`", "is inside"]);
    assert!(!t.out().join("cache").exists());
}
