//! `--interactive`: a failing step opens a shell in its own sandbox, in its working directory,
//! with its environment; `exit 0` continues the build as if the step had succeeded, any other
//! status stops it (melange's rule). Driven through a real pseudo-terminal with `script`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{TestEnv, Who, bwrap_usable};

const CONFIG: &str = "pipeline:
  - name: breaks
    working-directory: sub/dir
    environment:
      STEP_VAR: from-the-step
    runs: |
      false
  - name: after
    runs: echo reached > /home/build/after
";

/// Run the build with `-i` under `script` (which gives it a terminal) and type `input`.
fn interactive_build(env: &TestEnv, input: &str) -> (i32, String) {
    let cmd = env.build_cmd(Who::Root, &["-i", "--workspace-dir", "ws"]);
    let mut argv = vec![cmd.get_program().to_string_lossy().into_owned()];
    argv.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    let mut script = Command::new("script");
    script
        .args(["-qec", &shell_words::join(&argv), "/dev/null"])
        .env_clear()
        .current_dir(env.root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    script.env("SHELL", "/bin/sh");
    let mut child = script.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn usable() -> bool {
    if !bwrap_usable() {
        return false;
    }
    if which::which("script").is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`script` (util-linux) is needed under CI"
        );
        eprintln!("skipped: no `script` to give melwrap a terminal");
        return false;
    }
    true
}

#[test]
fn exit_0_from_the_debug_shell_continues_the_build() {
    if !usable() {
        return;
    }
    let env = TestEnv::new();
    env.config(CONFIG);
    let (code, text) = interactive_build(&env, "echo \"at=$(pwd) var=$STEP_VAR\"\nexit 0\n");
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("at=/home/build/sub/dir var=from-the-step"),
        "the shell starts in the step's directory with its environment:\n{text}"
    );
    assert!(
        text.contains("continuing as if the step succeeded"),
        "{text}"
    );
    let after = env
        .root()
        .join("ws")
        .join(std::env::consts::ARCH)
        .join("after");
    assert_eq!(std::fs::read_to_string(after).unwrap(), "reached\n");
}

#[test]
fn a_failing_debug_shell_stops_the_build() {
    if !usable() {
        return;
    }
    let env = TestEnv::new();
    env.config(CONFIG);
    let (code, text) = interactive_build(&env, "exit 3\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("step `breaks`"), "{text}");
    let after = env
        .root()
        .join("ws")
        .join(std::env::consts::ARCH)
        .join("after");
    assert!(!after.exists(), "no later step may run:\n{text}");
}
