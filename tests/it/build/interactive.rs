//! `--interactive`: a failing step opens a shell in its own sandbox, in its working directory,
//! with its environment; `exit 0` continues the build as if the step had succeeded, any other
//! status stops it (melange's rule). Driven through a real pseudo-terminal with `script`, and
//! through one the test owns ([`crate::build::pty`]) to check that the shell has a terminal of its
//! own: no step-written startup file runs, TIOCSTI from inside cannot queue input for the
//! user's shell, the window size follows, output is filtered, the terminal is restored.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::build::common::{TestEnv, Who, users};
use crate::build::pty::{PtySession, command_like};

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
    if crate::support::require_bwrap().is_none() {
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

/// The file the config's `after` step writes in the workspace.
fn after_file(env: &TestEnv) -> std::path::PathBuf {
    env.root()
        .join("ws")
        .join(std::env::consts::ARCH)
        .join("after")
}

/// The build went on after `exit 0` from the debug shell: it said so and the later step ran.
#[track_caller]
fn assert_build_continued(env: &TestEnv, text: &str) {
    assert!(
        text.contains("continuing as if the step succeeded"),
        "{text}"
    );
    let after = after_file(env);
    assert_eq!(std::fs::read_to_string(after).unwrap(), "reached\n");
}

/// Runs `scenario` as root and, when the suite can switch users, as uid 65534; nothing
/// without a usable bwrap.
fn as_each_user(scenario: fn(Who)) {
    if crate::support::require_bwrap().is_none() {
        return;
    }
    for who in users() {
        scenario(who);
    }
}

/// `melwrap build -i` of `config` as `who` (no network), on a terminal of `rows` x `cols` the
/// test owns, whose debug shell opens when the first step fails. Keep the `TestEnv` until the
/// session ends: dropping it removes the build's directory.
fn debug_session(who: Who, config: &str, rows: u16, cols: u16) -> (TestEnv, PtySession) {
    let env = TestEnv::new();
    env.config(config);
    let cmd = env.build_cmd(who, &["-i", "--workspace-dir", "ws", "--no-network"]);
    let session = PtySession::start(command_like(&cmd), rows, cols);
    (env, session)
}

/// Up to ten times: `ask(session, attempt)`, then wait two seconds for `answer(attempt)`; for
/// what reaches the shell asynchronously. True once an answer came.
fn ask_until_answered(
    session: &mut PtySession,
    mut ask: impl FnMut(&mut PtySession, usize),
    answer: impl Fn(usize) -> String,
) -> bool {
    (0..10).any(|attempt| {
        ask(session, attempt);
        session.wait_for(&answer(attempt), Duration::from_secs(2))
    })
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
    assert_build_continued(&env, &text);
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
    let after = after_file(&env);
    assert!(!after.exists(), "no later step may run:\n{text}");
}

/// The step plants startup files for every shell and a program that pushes a command into
/// its terminal (TIOCSTI), then fails.
const PLANTING_CONFIG: &str = r#"pipeline:
  - name: plants
    runs: |
      for f in "$HOME/.bashrc" /home/build/.bashrc /home/build/.profile /home/build/.shrc; do
        echo 'echo PWN""ED-from-'"$f" > "$f"
      done
      echo 'ioctl(STDIN, 0x5412, $_) or die "TIOCSTI refused: $!\n" for split //, "echo INJ\$((6*7))\n"' > /home/build/inject.pl
      false
  - name: after
    runs: echo reached > /home/build/after
"#;

fn debug_shell_on_its_own_terminal(who: Who) {
    let (env, mut session) = debug_session(who, PLANTING_CONFIG, 37, 101);
    let outer = session.device();
    // One line: the shell has read all of it (up to `exit 0`) before the injector runs, so
    // whatever it pushes stays in the terminal it pushed into.
    session.send(
        "echo \"DEV=$(stat -L -c %t:%T /proc/self/fd/0) SIZE=$(stty size)\"; \
         perl /home/build/inject.pl; exit 0\n",
    );
    let end = session.finish(Duration::from_secs(60));
    let text = end.text();
    assert_eq!(end.code, Some(0), "{who:?}: {text}");
    assert!(
        !text.contains("PWNED"),
        "{who:?}: the shell read a step-written startup file: {text}"
    );
    let inner = text
        .split("DEV=")
        .skip(1)
        .map(|s| s.split_whitespace().next().unwrap_or(""))
        .find(|s| s.contains(':') && !s.contains('$'))
        .unwrap_or_else(|| panic!("{who:?}: no device printed: {text}"));
    let outer_dev = format!("{:x}:{:x}", libc::major(outer), libc::minor(outer));
    assert_ne!(
        inner, outer_dev,
        "{who:?}: the shell's terminal is the user's: {text}"
    );
    assert!(
        text.contains("SIZE=37 101"),
        "{who:?}: the window size is forwarded: {text}"
    );
    assert!(
        end.left_in_terminal.is_empty(),
        "{who:?}: the debug shell left input queued in the user's terminal: {:?}",
        String::from_utf8_lossy(&end.left_in_terminal)
    );
    assert!(
        !end.settings_changed,
        "{who:?}: the terminal's settings are restored"
    );
    assert_build_continued(&env, &text);
}

#[test]
fn the_debug_shell_has_its_own_terminal_and_reads_no_step_startup_files() {
    as_each_user(debug_shell_on_its_own_terminal);
}

fn window_changes_reach_the_shell(who: Who) {
    let (_env, mut session) = debug_session(who, CONFIG, 24, 80);
    session.send("echo \"SZ=$(stty size)=\"\n");
    assert!(session.wait_for("SZ=24 80=", Duration::from_secs(30)));
    session.resize(41, 103);
    // The resize reaches the relay as SIGWINCH, asynchronously: ask until it shows (bounded).
    let seen = ask_until_answered(
        &mut session,
        |session, attempt| session.send(&format!("echo \"SZ{attempt}=$(stty size)=\"\n")),
        |attempt| format!("SZ{attempt}=41 103="),
    );
    session.send("exit 0\n");
    let end = session.finish(Duration::from_secs(60));
    assert!(
        seen,
        "{who:?}: the new size never reached the shell: {}",
        end.text()
    );
    assert_eq!(end.code, Some(0), "{who:?}: {}", end.text());
}

#[test]
fn window_size_changes_reach_the_debug_shell() {
    as_each_user(window_changes_reach_the_shell);
}

fn filtered_shell_output(who: Who) {
    let (_env, mut session) = debug_session(who, CONFIG, 24, 80);
    session.send("printf 'X\\033]52;c;Y2xpcA==\\007Y\\033[2JZ\\033[31mred\\033[0m\\n'; exit 0\n");
    let end = session.finish(Duration::from_secs(60));
    let text = end.text();
    assert_eq!(end.code, Some(0), "{who:?}: {text}");
    assert!(
        !text.contains("\x1b]"),
        "{who:?}: OSC reached the terminal: {text:?}"
    );
    assert!(!text.contains("\x1b[2J"), "{who:?}: {text:?}");
    assert!(
        text.contains("XYZ\x1b[31mred\x1b[0m"),
        "{who:?}: text and colour pass: {text:?}"
    );
}

#[test]
fn the_debug_shell_output_is_filtered() {
    as_each_user(filtered_shell_output);
}

fn sigterm_in_the_debug_shell(who: Who) {
    let (env, mut session) = debug_session(who, CONFIG, 24, 80);
    session.send("echo \"READY-$((40+2))\"\n");
    assert!(session.wait_for("READY-42", Duration::from_secs(30)));
    // SAFETY: kill on a process this test started and has not reaped.
    assert_eq!(
        unsafe { libc::kill(session.pid() as i32, libc::SIGTERM) },
        0
    );
    let end = session.finish(Duration::from_secs(30));
    assert_eq!(end.code, Some(143), "{who:?}: {}", end.text());
    assert!(!end.settings_changed, "{who:?}: the terminal is restored");
    let after = after_file(&env);
    assert!(!after.exists(), "{who:?}: no later step runs");
}

#[test]
fn sigterm_ends_the_debug_shell_and_the_build() {
    as_each_user(sigterm_in_the_debug_shell);
}

fn ctrl_c_in_the_debug_shell(who: Who) {
    let (_env, mut session) = debug_session(who, CONFIG, 24, 80);
    session.send("echo \"SLEEPING-$((40+2))\"; sleep 1000\n");
    assert!(session.wait_for("SLEEPING-42", Duration::from_secs(30)));
    // Ctrl-C is a key for the shell's terminal: it stops the sleep, not the shell or melwrap.
    // (Sent until the prompt is back, in case it arrived before the sleep started.)
    let back = ask_until_answered(
        &mut session,
        |session, attempt| {
            session.send("\x03");
            session.send(&format!("echo \"BACK{attempt}-$((1+1))\"\n"));
        },
        |attempt| format!("BACK{attempt}-2"),
    );
    session.send("exit 0\n");
    let end = session.finish(Duration::from_secs(30));
    assert!(
        back,
        "{who:?}: Ctrl-C did not reach the shell: {}",
        end.text()
    );
    assert_eq!(end.code, Some(0), "{who:?}: {}", end.text());
    assert!(
        end.text().contains("continuing as if the step succeeded"),
        "{}",
        end.text()
    );
}

#[test]
fn ctrl_c_belongs_to_the_debug_shell() {
    as_each_user(ctrl_c_in_the_debug_shell);
}
