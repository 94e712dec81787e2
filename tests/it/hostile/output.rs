//! A step's output is untrusted: a flood without newlines does not grow melwrap, `--timeout`
//! fires while nobody reads melwrap's output, and control sequences that act on the terminal
//! never reach it (colours do). As root and as uid 65534.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::build::common::*;
use crate::build::pty::{PtySession, command_like};

/// Peak resident memory (VmHWM) of a live process, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Kill and reap `child` unless it has exited.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

const FLOOD_MIB: u64 = 256;
/// Far above what melwrap needs (tens of MiB), far below the flood.
const PEAK_LIMIT_KIB: u64 = 96 * 1024;

fn flood_without_newlines(who: Who) {
    let t = TestEnv::new();
    t.config(&format!(
        "pipeline:\n  - name: flood\n    runs: |\n      \
         head -c {FLOOD_MIB}M /dev/zero | tr '\\000' x\n      \
         touch /var/cache/melange/flooded\n"
    ));
    let mut child = t
        .build_cmd(who, &["--no-network"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    // Nobody reads melwrap's output for a while: a runner without bounds takes in the whole
    // flood meanwhile. A bounded one makes the step wait.
    wait_until(Duration::from_secs(8), || {
        peak = peak.max(peak_kib(pid).unwrap_or(0));
        peak > PEAK_LIMIT_KIB || t.cache().join("flooded").exists()
    });
    if peak > PEAK_LIMIT_KIB {
        stop(&mut child);
        panic!("{who:?}: melwrap grew to {peak} KiB while its output was not read");
    }
    // Now read it all, counting the step's bytes in the output.
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut shown = 0u64;
        let mut other = Vec::new();
        let mut lines = BufReader::new(stderr);
        let mut line = Vec::new();
        while lines.read_until(b'\n', &mut line).unwrap() > 0 {
            match line.strip_prefix(b"  | ") {
                Some(text) => shown += text.iter().filter(|&&b| b == b'x').count() as u64,
                None => other.extend_from_slice(&line),
            }
            line.clear();
        }
        (shown, String::from_utf8_lossy(&other).into_owned())
    });
    let exited = wait_until(Duration::from_secs(120), || {
        peak = peak.max(peak_kib(pid).unwrap_or(0));
        child.try_wait().unwrap().is_some()
    });
    if !exited {
        stop(&mut child);
    }
    let status = child.wait().unwrap();
    let (shown, messages) = reader.join().unwrap();
    assert!(exited, "{who:?}: the build did not finish: {messages}");
    assert_eq!(status.code(), Some(0), "{who:?}: {messages}");
    assert!(
        peak <= PEAK_LIMIT_KIB,
        "{who:?}: melwrap's peak memory was {peak} KiB"
    );
    assert_eq!(
        shown,
        FLOOD_MIB << 20,
        "{who:?}: every byte is shown, in pieces"
    );
    assert!(t.cache().join("flooded").exists());
    eprintln!("{who:?}: melwrap peak memory {peak} KiB for a {FLOOD_MIB} MiB flood");
}

#[test]
fn an_output_flood_without_newlines_does_not_grow_melwrap() {
    require_bwrap!();
    for who in users() {
        flood_without_newlines(who);
    }
}

/// How the flooding step is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `--timeout 2s`.
    Timeout,
    /// SIGTERM to melwrap once the step runs.
    Sigterm,
}

fn stop_with_unread_output(who: Who, how: Stop) {
    let t = TestEnv::new();
    let marker = format!("flood-{}-{who:?}-{how:?}", std::process::id());
    t.config(&format!(
        "pipeline:\n  - name: flood\n    runs: yes {marker}\n  - runs: touch /var/cache/melange/next\n"
    ));
    let args: &[&str] = match how {
        Stop::Timeout => &["--no-network", "--timeout", "2s"],
        Stop::Sigterm => &["--no-network"],
    };
    let start = Instant::now();
    let mut child = t
        .build_cmd(who, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Neither stdout nor stderr is read until the step's processes are gone.
    let started = wait_until(Duration::from_secs(30), || !pids_with(&marker).is_empty());
    if started && how == Stop::Sigterm {
        // SAFETY: kill on a pid we spawned and have not reaped.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    }
    let gone = started && wait_until(Duration::from_secs(30), || pids_with(&marker).is_empty());
    let stopped_after = start.elapsed();
    if !gone {
        stop(&mut child);
    }
    assert!(started, "{who:?}: the step never started");
    assert!(
        gone,
        "{who:?}: with its output unread, the step still ran {stopped_after:?} after the start \
         ({how:?})"
    );
    let mut stdout = child.stdout.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
    });
    let mut bytes = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let stderr = String::from_utf8_lossy(&bytes);
    let status = child.wait().unwrap();
    drain.join().unwrap();
    let summary = stderr.lines().rev().take(30).collect::<Vec<_>>().join("\n");
    match how {
        Stop::Timeout => {
            assert_eq!(status.code(), Some(1), "{who:?}: {summary}");
            assert!(summary.contains("timed out"), "{who:?}: {summary}");
        }
        Stop::Sigterm => assert_eq!(status.code(), Some(143), "{who:?}: {summary}"),
    }
    assert!(!t.cache().join("next").exists());
}

#[test]
fn the_timeout_fires_while_nobody_reads_the_output() {
    require_bwrap!();
    for who in users() {
        stop_with_unread_output(who, Stop::Timeout);
    }
}

#[test]
fn sigterm_stops_the_step_while_nobody_reads_the_output() {
    require_bwrap!();
    for who in users() {
        stop_with_unread_output(who, Stop::Sigterm);
    }
}

fn control_sequences_on_a_terminal(who: Who) {
    let t = TestEnv::new();
    // The escapes are made by printf at run time; the config text holds only their spelling,
    // except in the step's name, which melwrap prints itself.
    t.config(
        r#"pipeline:
  - name: "noisy\e]0;name-title\a"
    runs: |
      printf 'A\033]52;c;Y2xpcGJvYXJk\007B\n'
      printf 'C\033]0;pwned-title\033\\D\n'
      printf 'E\033[2J\033[H\033[?1049h\033[6nF\n'
      printf 'G\033[31mred\033[0mH\n'
      printf 'I\033P$q"p\033\\J\rK\n' >&2
      printf 'L\033]0;spans\nlines\007M\n'
"#,
    );
    let session = PtySession::start(command_like(&t.build_cmd(who, &["--no-network"])), 24, 80);
    let end = session.finish(Duration::from_secs(60));
    let text = end.text();
    assert_eq!(end.code, Some(0), "{who:?}: {text}");
    for (gone, what) in [
        ("\x1b]", "OSC"),
        ("\x1bP", "DCS"),
        ("\x1b[2J", "erase screen"),
        ("\x1b[H", "cursor home"),
        ("\x1b[?", "mode change"),
        ("\x1b[6n", "cursor report request"),
        ("pwned-title", "the title"),
        ("name-title", "the title in the step's name"),
        ("Y2xpcGJvYXJk", "the clipboard payload"),
    ] {
        assert!(
            !text.contains(gone),
            "{who:?}: {what} reached the terminal: {text:?}"
        );
    }
    // CR is not in step output either: the terminal's own ONLCR adds one before each LF.
    assert!(!text.replace("\r\n", "\n").contains('\r'), "{text:?}");
    for kept in [
        "noisy",
        "AB",
        "CD",
        "EF",
        "G\x1b[31mred\x1b[0mH",
        "IJK",
        "LM",
    ] {
        assert!(text.contains(kept), "{who:?}: {kept:?} is shown: {text:?}");
    }
}

#[test]
fn control_sequences_from_a_step_do_not_reach_the_terminal() {
    require_bwrap!();
    for who in users() {
        control_sequences_on_a_terminal(who);
    }
}
