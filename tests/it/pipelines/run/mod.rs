//! Built-in pipelines run for real, under bash and busybox ash: each compiled by the real
//! compiler from a one-step build file and wrapped as the sandbox wraps it, then run without a
//! sandbox (see `harness.rs` for the test-only path rewriting). This file checks every
//! built-in step's syntax and the compiled form of nested `uses:`; one module per pipeline
//! family runs them.

mod harness;

mod autoconf;
mod fetch;
mod git_checkout;
mod patch;
mod split;
mod strip;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use harness::{Build, HttpServer, Shell, tool_path};
use sha2::Digest;

const SHELLS: [Shell; 2] = [Shell::Bash, Shell::Ash];

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn every_builtin_step_is_valid_bash_and_ash() {
    let b = Build::new(Shell::Bash);
    let mut problems = Vec::new();
    for (name, _) in melwrap::pipelines::BUILTINS {
        let def = melwrap::pipelines::parse_definition(melwrap::pipelines::builtin(name).unwrap())
            .unwrap();
        let with: Vec<(&str, &str)> = def
            .inputs
            .iter()
            .filter(|(_, i)| i.required)
            .map(|(k, _)| (k.as_str(), "value"))
            .collect();
        let steps = b.render(name, &with).unwrap();
        assert!(!steps.is_empty(), "{name}");
        for step in steps {
            for (shell, args) in [
                ("bash", vec!["-n", "-c"]),
                ("busybox", vec!["ash", "-n", "-c"]),
            ] {
                let out = Command::new(shell)
                    .args(&args)
                    .arg(&step.script)
                    .output()
                    .unwrap();
                if !out.status.success() {
                    problems.push(format!(
                        "{name} under {shell}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn nested_uses_and_working_directories_render_as_melange_compiles_them() {
    let b = Build::new(Shell::Bash);
    // strip runs in the package directory, whatever the caller's directory.
    // The compiler also emits each `uses:` as a step of its own with an empty script (it only
    // creates and enters its working directory); these checks are about the steps that run code.
    let runs_code = |steps: Vec<harness::Step>| -> Vec<harness::Step> {
        steps.into_iter().filter(|s| !s.runs.is_empty()).collect()
    };
    let strip = runs_code(b.render("strip", &[]).unwrap());
    assert_eq!(strip.len(), 1);
    assert_eq!(strip[0].workdir, b.contextdir());
    // go/build/v2 ends with a nested `uses: strip`.
    let go = runs_code(b.render("go/build/v2", &[]).unwrap());
    assert_eq!(go.len(), 2);
    assert_eq!(go[0].workdir, b.workspace);
    assert_eq!(go[1].workdir, b.contextdir());
    assert!(
        go[0]
            .script
            .contains(&format!("{}/gomodcache", b.cache.display()))
    );
    // Required inputs and undeclared ones are refused, as melange's compiler does.
    assert!(
        b.render("fetch", &[])
            .unwrap_err()
            .contains("required input")
    );
    assert!(
        b.render("strip", &[("nope", "1")])
            .unwrap_err()
            .contains("undefined input")
    );
}
