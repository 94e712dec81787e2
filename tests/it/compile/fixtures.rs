//! End-to-end tests of `melwrap compile` against hand-written fixtures in `testdata/compile/`.
//!
//! - `ok/<name>.yaml` is a build file; `ok/<name>.expected.yaml` is the plan expected for it,
//!   written by reading the semantics doc (not by copying output). The expected document is
//!   matched as a subset: every key it names must be in the output with the same value, and
//!   every list it gives must have exactly the same length and items (so leaving out, say, the
//!   default environment is allowed, but an extra or missing step is not).
//!   `ok/<name>.args`, when present, holds extra arguments, one per line.
//! - `err/<name>.yaml` must fail with exit status 2, and every line of `err/<name>.expected`
//!   must appear in stderr.
//!
//! Every fixture gets `--pipeline-dir testdata/compile/pipelines` and runs in its own directory
//! with a relative config path, so `origin.file` is `<name>.yaml`. Until the config loader
//! records positions, every `origin.line` is 0; the expected files hold the real lines, which
//! are then compared only if the loader knows positions.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/compile")
}

fn melwrap(dir: &Path, args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_melwrap"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run melwrap")
}

fn loader_knows_positions() -> bool {
    let loaded = melwrap::config::load(&root().join("ok/package-vars.yaml")).unwrap();
    loaded.spans.position("package").is_some()
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".yaml") && !n.ends_with(".expected.yaml")
        })
        .collect();
    v.sort();
    v
}

fn args_for(config: &Path, format: &str) -> Vec<String> {
    let mut args = vec![
        "compile".to_string(),
        "--pipeline-dir".to_string(),
        root().join("pipelines").display().to_string(),
        "--format".to_string(),
        format.to_string(),
    ];
    let extra = config.with_extension("args");
    if extra.exists() {
        let text = std::fs::read_to_string(&extra).unwrap();
        args.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string),
        );
    }
    if !args.iter().any(|a| a == "--arch") {
        args.extend(["--arch".to_string(), "x86_64".to_string()]);
    }
    args.push(config.file_name().unwrap().to_string_lossy().into_owned());
    args
}

/// Check `expected` ⊆ `actual`, collecting the paths that differ.
fn subset(expected: &Value, actual: &Value, path: &str, lines: bool, diffs: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Mapping(e), Value::Mapping(a)) => {
            for (k, ev) in e {
                let key = k.as_str().unwrap_or("?");
                let p = format!("{path}.{key}");
                if key == "line" && !lines {
                    if a.get(k) != Some(&Value::from(0)) {
                        diffs.push(format!(
                            "{p}: expected 0 without positions, got {:?}",
                            a.get(k)
                        ));
                    }
                    continue;
                }
                match a.get(k) {
                    Some(av) => subset(ev, av, &p, lines, diffs),
                    None => diffs.push(format!("{p}: missing in output")),
                }
            }
        }
        (Value::Sequence(e), Value::Sequence(a)) => {
            if e.len() != a.len() {
                diffs.push(format!(
                    "{path}: expected {} items, got {}: {}",
                    e.len(),
                    a.len(),
                    serde_yaml::to_string(actual).unwrap()
                ));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset(ev, av, &format!("{path}[{i}]"), lines, diffs);
            }
        }
        // Expected scalars are written as YAML; compare as text (`0` vs `'0'`).
        (e, a) => {
            let text = |v: &Value| match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => serde_yaml::to_string(other).unwrap().trim_end().to_string(),
            };
            if text(e) != text(a) {
                diffs.push(format!("{path}: expected {:?}, got {:?}", text(e), text(a)));
            }
        }
    }
}

#[test]
fn golden_plans() {
    let lines = loader_knows_positions();
    let mut failures = Vec::new();
    let configs = fixtures("ok");
    assert!(configs.len() >= 20, "only {} fixtures", configs.len());
    for config in &configs {
        let out = melwrap(config.parent().unwrap(), &args_for(config, "yaml"));
        let name = config.file_name().unwrap().to_string_lossy().into_owned();
        if !out.status.success() {
            failures.push(format!(
                "{name}: exit {:?}\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let actual: Value = serde_yaml::from_slice(&out.stdout).unwrap();
        let expected_path = config.with_extension("expected.yaml");
        let expected: Value =
            serde_yaml::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
        let mut diffs = Vec::new();
        subset(&expected, &actual, "", lines, &mut diffs);
        if !diffs.is_empty() {
            failures.push(format!("{name}:\n  {}", diffs.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn error_fixtures_exit_2_and_say_what_and_where() {
    let mut failures = Vec::new();
    let configs = fixtures("err");
    assert!(configs.len() >= 5);
    for config in &configs {
        let out = melwrap(config.parent().unwrap(), &args_for(config, "yaml"));
        let name = config.file_name().unwrap().to_string_lossy().into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(2) {
            failures.push(format!(
                "{name}: exit {:?}, stderr:\n{stderr}",
                out.status.code()
            ));
            continue;
        }
        if !out.stdout.is_empty() {
            failures.push(format!("{name}: printed a plan despite the error"));
        }
        let expected = std::fs::read_to_string(config.with_extension("expected")).unwrap();
        for want in expected.lines().filter(|l| !l.trim().is_empty()) {
            if !stderr.contains(want) {
                failures.push(format!("{name}: stderr lacks {want:?}; stderr:\n{stderr}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn json_and_yaml_outputs_hold_the_same_plan_and_are_deterministic() {
    let config = root().join("ok/nested-uses.yaml");
    let dir = config.parent().unwrap();
    let yaml = melwrap(dir, &args_for(&config, "yaml"));
    let json = melwrap(dir, &args_for(&config, "json"));
    assert!(yaml.status.success() && json.status.success());
    let from_yaml: Value = serde_yaml::from_slice(&yaml.stdout).unwrap();
    let from_json: Value = serde_yaml::from_slice(&json.stdout).unwrap();
    assert_eq!(from_yaml, from_json);
    let again = melwrap(dir, &args_for(&config, "yaml"));
    assert_eq!(yaml.stdout, again.stdout);
}

#[test]
fn several_configs_give_a_yaml_stream_and_one_failure_fails_the_run() {
    let dir = root().join("ok");
    let mut args = args_for(&dir.join("package-vars.yaml"), "yaml");
    args.push("targets.yaml".into());
    let out = melwrap(&dir, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("---\n").count(), 2);
    args.push("../err/undefined-var.yaml".into());
    let out = melwrap(&dir, &args);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 of 3 configs failed to compile"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_are_bad_input() {
    let dir = root().join("ok");
    let out = melwrap(
        &dir,
        &[
            "compile".into(),
            "--arch".into(),
            "mips".into(),
            "package-vars.yaml".into(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown architecture `mips`"));
    let out = melwrap(
        &dir,
        &[
            "compile".into(),
            "--var".into(),
            "novalue".into(),
            "package-vars.yaml".into(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
}
