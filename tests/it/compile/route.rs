//! `melwrap compile` and `melwrap build --dry-run` reach the plan by one route: with the same
//! `SOURCE_DATE_EPOCH`, `--env-file`, `--var` and `--build-option`, the environment and script
//! of every step that `compile` prints are exactly what the dry run's bwrap command gives the
//! step (the guest defaults, such as `GOCACHE`, included).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use melwrap::guest::env::step_environment;
use melwrap::sandbox::{GuestPath, wrap_script};
use serde_json::Value;

const CONFIG: &str = r#"package:
  name: routed
  version: 1.0.0
  epoch: 0
  description: one route to the plan
vars:
  greeting: hello
  who: nobody
options:
  loud:
    vars:
      greeting: HELLO
environment:
  environment:
    FROM_CONFIG: config
    EMPTY_IN_CONFIG: ""
pipeline:
  - name: greet
    runs: |
      echo "${{vars.greeting}} ${{vars.who}}"
      echo "$FROM_FILE $SOURCE_DATE_EPOCH $GOCACHE"
    environment:
      STEP_VAR: step
  - working-directory: sub
    runs: echo second
subpackages:
  - name: routed-doc
    pipeline:
      - runs: echo "${{targets.contextdir}}"
"#;

const ENV_FILE: &str = "FROM_FILE=file\nFROM_CONFIG=file\nEMPTY_IN_CONFIG=file\n";

fn melwrap(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_melwrap"))
        .current_dir(dir)
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("NO_COLOR", "1")
        .env_remove("MELWRAP_CA_BUNDLE")
        .output()
        .expect("run melwrap")
}

fn bwrap_usable() -> bool {
    match melwrap::sandbox::probe::probe() {
        Ok(_) => true,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("bwrap must work under CI=true: {e}")
        }
        Err(e) => {
            eprintln!("skipped: bwrap is not usable here: {e}");
            false
        }
    }
}

/// One step as the dry run gives it to bwrap: its `--setenv`s in order and its script.
#[derive(Debug, PartialEq)]
struct Launched {
    env: Vec<(String, String)>,
    script: String,
}

/// The steps of a dry run's output, in order (each follows a `# package / step` header).
fn dry_run_steps(stdout: &str) -> Vec<Launched> {
    let mut steps = Vec::new();
    let mut lines = stdout.lines();
    while let Some(line) = lines.next() {
        let Some(header) = line.strip_prefix("# ").filter(|h| h.contains(" / ")) else {
            continue;
        };
        // The script holds newlines: the command runs to the wrapper's last line, `exit 0`.
        let mut command = String::new();
        for l in lines.by_ref() {
            command.push_str(l);
            command.push('\n');
            if l.ends_with("exit 0'") {
                break;
            }
        }
        let words = shell_words::split(command.trim_end()).expect("a shell-quoted command");
        let bwrap_words = words.iter().skip_while(|w| !w.ends_with("bwrap"));
        let mut env = Vec::new();
        let mut it = bwrap_words.clone();
        while let Some(w) = it.next() {
            if w == "--setenv" {
                env.push((it.next().unwrap().clone(), it.next().unwrap().clone()));
            }
        }
        let script = words.last().unwrap().clone();
        assert!(header.starts_with("routed"), "{header}");
        steps.push(Launched { env, script });
    }
    steps
}

/// What `compile` says each step gets, through the same layering the runner uses.
fn compiled_steps(plan: &Value) -> Vec<Launched> {
    let strings = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect()
    };
    let base = strings(&plan["environment"]);
    let mut steps = Vec::new();
    for package in plan["packages"].as_array().unwrap() {
        for step in package["steps"].as_array().unwrap() {
            let workdir = GuestPath::new(step["workdir"].as_str().unwrap()).unwrap();
            let script = wrap_script(&workdir, step["script"].as_str().unwrap(), false);
            let env = step_environment(&base, &strings(&step["environment"]), &[]);
            steps.push(Launched { env, script });
        }
    }
    steps
}

#[test]
fn compile_prints_what_build_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("routed.yaml"), CONFIG).unwrap();
    std::fs::write(d.join("proxy.env"), ENV_FILE).unwrap();
    let inputs = [
        "--env-file",
        "proxy.env",
        "--var",
        "who=world",
        "--build-option",
        "loud",
    ];

    let mut compile_args = vec!["compile", "--format", "json"];
    compile_args.extend(inputs);
    compile_args.push("routed.yaml");
    let compiled = melwrap(d, &compile_args);
    assert!(compiled.status.success(), "{compiled:?}");
    let plan: Value = serde_json::from_slice(&compiled.stdout).unwrap();
    let env = &plan["environment"];
    assert_eq!(env["SOURCE_DATE_EPOCH"], "1700000000");
    assert_eq!(env["FROM_FILE"], "file");
    assert_eq!(env["FROM_CONFIG"], "config");
    assert_eq!(env["EMPTY_IN_CONFIG"], "");
    assert_eq!(env["GOCACHE"], "/var/cache/melange/go");
    let expected = compiled_steps(&plan);
    assert_eq!(expected.len(), 3, "{expected:?}");
    assert!(expected[0].script.contains("echo \"HELLO world\""));

    if !bwrap_usable() {
        return;
    }
    let mut build_args = vec![
        "build",
        "--dry-run",
        "--cache-dir",
        "cache",
        "--out-dir",
        "out",
        "--workspace-dir",
        "ws",
    ];
    build_args.extend(inputs);
    build_args.push("routed.yaml");
    let dry = melwrap(d, &build_args);
    assert!(dry.status.success(), "{dry:?}");
    let launched = dry_run_steps(&String::from_utf8_lossy(&dry.stdout));
    assert_eq!(launched, expected);
}

#[test]
fn compile_takes_the_build_date_as_build_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("routed.yaml"), CONFIG).unwrap();
    let epoch = |args: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_melwrap"));
        cmd.current_dir(d)
            .args(["compile", "--format", "json"])
            .args(args)
            .arg("routed.yaml");
        match env {
            Some(v) => cmd.env("SOURCE_DATE_EPOCH", v),
            None => cmd.env_remove("SOURCE_DATE_EPOCH"),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["environment"]["SOURCE_DATE_EPOCH"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(epoch(&[], None), "0");
    assert_eq!(epoch(&[], Some("1700000000")), "1700000000");
    assert_eq!(
        epoch(&["--build-date", "2024-01-01T00:00:00Z"], None),
        "1704067200"
    );
    // SOURCE_DATE_EPOCH wins over --build-date, as in `melwrap build`.
    assert_eq!(
        epoch(&["--build-date", "2024-01-01T00:00:00Z"], Some("5")),
        "5"
    );
    // An explicit --source-date-epoch wins over both.
    assert_eq!(epoch(&["--source-date-epoch", "7"], Some("5")), "7");
}
