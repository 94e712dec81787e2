//! `melwrap validate` end to end through the binary: every broken config under
//! `testdata/invalid/` renders exactly its `.expected` text, the exit codes and summary, the
//! JSON format, and running as an ordinary user.

use crate::support::unpriv;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn melwrap(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_melwrap"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run melwrap")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

const VALID: &str = "package:\n  name: hello\n  version: 1.0.0\npipeline:\n  - runs: echo hello\n";

#[test]
fn every_invalid_fixture_renders_its_expected_error() {
    let dir = manifest_dir().join("testdata/invalid");
    let mut fixtures: Vec<PathBuf> = fs_err::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 25, "only {} fixtures", fixtures.len());

    let mut failures = Vec::new();
    for fixture in &fixtures {
        let name = fixture.file_name().unwrap().to_str().unwrap();
        let rel = format!("testdata/invalid/{name}");
        let expected_path = fixture.with_extension("expected");
        let Ok(expected) = fs_err::read_to_string(&expected_path) else {
            failures.push(format!("{rel}: no {}", expected_path.display()));
            continue;
        };
        // One defect per fixture: one problem line, then its hint.
        let problem_lines = expected
            .lines()
            .filter(|l| !l.starts_with("  hint: "))
            .count();
        if problem_lines != 1 || !expected.contains("\n  hint: ") {
            failures.push(format!(
                "{rel}: .expected should hold one problem with a hint"
            ));
        }
        let out = melwrap(&manifest_dir(), &["validate", "-q", &rel]);
        if out.status.code() != Some(2) {
            failures.push(format!("{rel}: exit {:?}, expected 2", out.status.code()));
        }
        let got = stdout(&out);
        if got != expected {
            failures.push(format!("{rel}:\n--- expected\n{expected}--- got\n{got}"));
        }
    }
    // Every .expected belongs to a fixture.
    for entry in fs_err::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "expected")
            && !path.with_extension("yaml").exists()
        {
            failures.push(format!("{}: no matching .yaml", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_and_invalid_files_together_summary_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("good.yaml"), VALID).unwrap();
    fs_err::write(
        dir.path().join("bad.yaml"),
        "package:\n  name: hello\n  version: 1.0.0\npipeline:\n  - uses: fetch\n    runs: x\n  - wiht: {a: b}\n",
    )
    .unwrap();

    let ok = melwrap(dir.path(), &["validate", "good.yaml"]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(stdout(&ok), "1 file checked, 0 invalid\n");

    let verbose = melwrap(dir.path(), &["validate", "-v", "good.yaml"]);
    assert_eq!(
        stdout(&verbose),
        "good.yaml: ok\n1 file checked, 0 invalid\n"
    );

    let mixed = melwrap(
        dir.path(),
        &["validate", "good.yaml", "bad.yaml", "missing.yaml"],
    );
    assert_eq!(mixed.status.code(), Some(2));
    let text = stdout(&mixed);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "bad.yaml:7:5: `pipeline[1].wiht`: unknown field `wiht`",
        "{text}"
    );
    assert_eq!(lines[1], "  hint: did you mean `with`?");
    assert!(lines[2].starts_with("missing.yaml: cannot read the file: No such file"));
    assert_eq!(*lines.last().unwrap(), "3 files checked, 2 invalid");

    let quiet = melwrap(dir.path(), &["validate", "-q", "good.yaml"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(stdout(&quiet), "");
}

#[test]
fn semantic_problems_of_one_file_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("m.yaml"),
        "package:\n  name: hello\n  version: 1.0.0\n  timeout: 60\npipeline:\n  - uses: fetch\n    runs: x\nsubpackages:\n  - name: hello\n",
    )
    .unwrap();
    let out = melwrap(dir.path(), &["validate", "m.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    let problems: Vec<&str> = text.lines().filter(|l| l.starts_with("m.yaml:")).collect();
    assert_eq!(
        problems,
        [
            "m.yaml:4:3: `package.timeout`: `60` is not a duration",
            "m.yaml:6:5: `pipeline[0]`: a step has `uses` or `runs`, not both (this one has `uses: fetch`)",
            "m.yaml:9:5: `subpackages[0].name`: subpackage name `hello` is the main package's name",
        ],
        "{text}"
    );
    assert!(text.ends_with("1 file checked, 1 invalid\n"));
}

#[test]
fn json_format_has_one_object_per_problem_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("good.yaml"), VALID).unwrap();
    fs_err::write(
        dir.path().join("bad.yaml"),
        "package:\n  name: hello\n  versoin: 1\n",
    )
    .unwrap();
    let out = melwrap(
        dir.path(),
        &[
            "validate",
            "--format",
            "json",
            "good.yaml",
            "bad.yaml",
            "nope.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let objects: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(objects.len(), 3);
    assert_eq!(
        objects[0],
        serde_json::json!({
            "file": "bad.yaml", "line": 3, "column": 3, "field": "package.versoin",
            "message": "unknown field `versoin`", "hint": "did you mean `version`?"
        })
    );
    assert_eq!(objects[1]["file"], "nope.yaml");
    assert_eq!(objects[1]["line"], serde_json::Value::Null);
    assert_eq!(objects[1]["field"], serde_json::Value::Null);
    assert_eq!(
        objects[2],
        serde_json::json!({"summary": {"files": 3, "invalid": 2, "problems": 2}})
    );
}

/// Runs the binary as an ordinary user (uid/gid 65534 through setpriv when the suite is root,
/// else the suite's own user) on a copy it can read, and on a file it cannot (mode 0 binds a
/// non-root owner too).
#[test]
fn works_as_an_ordinary_user() {
    let dir = tempfile::Builder::new()
        .prefix("melwrap-validate-")
        .tempdir_in("/tmp")
        .unwrap();
    fs_err::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let bin = unpriv::place_binary(dir.path());
    let corpus = manifest_dir().join("../shared/corpus/melange-examples/minimal.yaml");
    let readable = dir.path().join("minimal.yaml");
    fs_err::copy(&corpus, &readable).unwrap();
    fs_err::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let secret = dir.path().join("secret.yaml");
    fs_err::write(&secret, VALID).unwrap();
    fs_err::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();

    let run_as_nobody = |file: &str| {
        unpriv::as_nobody(&bin)
            .args(["validate", file])
            .current_dir(dir.path())
            .output()
            .expect("run setpriv")
    };
    let ok = run_as_nobody("minimal.yaml");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(&ok),
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(stdout(&ok), "1 file checked, 0 invalid\n");

    let denied = run_as_nobody("secret.yaml");
    assert_eq!(denied.status.code(), Some(2));
    let text = stdout(&denied);
    assert!(
        text.starts_with("secret.yaml: cannot read the file: Permission denied"),
        "{text}"
    );
    assert!(
        text.contains("hint: make the file readable by this user"),
        "{text}"
    );
}
