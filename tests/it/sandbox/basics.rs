//! The sandbox with real bwrap: environment, cache, exit codes, `set -e`, signals, timeouts,
//! interrupts, and a read-only directory rootfs built from the host's busybox.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::sandbox::support::*;
use crate::support::unpriv;
use melwrap::sandbox::run::{RunLimits, Status, Stream};
use melwrap::sandbox::*;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn environment_precedence_seen_from_inside() {
    let Some(bwrap) = require_bwrap() else { return };
    let scratch = Scratch::new();
    let ca = scratch.dir.path().join("corp-ca.pem");
    fs_err::write(&ca, "-----BEGIN CERTIFICATE----- corp\n").unwrap();
    let mut cfg = scratch.config(Who::Root);
    cfg.ca_bundle = Some(HostPath::new(&ca).unwrap());
    let sandbox = Sandbox::prepare(cfg.clone()).unwrap();
    let base = map(&[
        ("SOURCE_DATE_EPOCH", "1700000000"),
        ("HOME", "/home/build"),
        ("PATH", "/from/environment"),
        ("GIT_SSL_CAINFO", "/config/wins.pem"),
        ("FOO", "base"),
        ("BAR", "base"),
    ]);
    let step = map(&[("BAR", "step")]);
    let env = step_environment(&base, &step, &sandbox.env_defaults());
    let (outcome, sink) = run_step(
        &bwrap,
        Who::Root,
        &sandbox,
        "/home/build",
        "env | sort > /home/build/env.txt\ncat \"$SSL_CERT_FILE\" > /home/build/ca.txt",
        env,
        false,
        RunLimits::default(),
    );
    assert!(outcome.success(), "{outcome:?}\n{}", all(&sink));
    let inside = fs_err::read_to_string(scratch.ws().join("env.txt")).unwrap();
    let vars: BTreeMap<&str, &str> = inside.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(vars["SOURCE_DATE_EPOCH"], "1700000000");
    assert_eq!(
        vars["PATH"], DEFAULT_PATH,
        "PATH from the environment block is overridden"
    );
    assert_eq!(vars["FOO"], "base");
    assert_eq!(vars["BAR"], "step", "the step's environment wins");
    assert_eq!(vars["HOME"], "/home/build");
    assert_eq!(vars["SSL_CERT_FILE"], CA_GUEST_PATH);
    assert_eq!(vars["NODE_EXTRA_CA_CERTS"], CA_GUEST_PATH);
    assert_eq!(vars["GIT_SSL_CAINFO"], "/config/wins.pem");
    // The CA bundle the variables name is the one given, not the host's.
    assert_eq!(
        fs_err::read_to_string(scratch.ws().join("ca.txt")).unwrap(),
        "-----BEGIN CERTIFICATE----- corp\n"
    );
    // Nothing from the host: only what the layers set, plus what the shell itself adds.
    let shell_own = ["PWD", "SHLVL", "_", "OLDPWD"];
    let mut expected: Vec<&str> = ["SOURCE_DATE_EPOCH", "PATH", "FOO", "BAR", "HOME"].to_vec();
    expected.extend(CA_VARIABLES);
    for key in vars.keys() {
        assert!(
            expected.contains(key) || shell_own.contains(key),
            "`{key}` leaked into the sandbox:\n{inside}"
        );
    }
}

#[test]
fn cache_writes_land_in_the_host_cache_dir() {
    let Some(bwrap) = require_bwrap() else { return };
    for who in BOTH {
        let scratch = Scratch::new();
        let (outcome, sink) = run_script(
            &bwrap,
            who,
            scratch.config(who),
            "mkdir -p /var/cache/melange/go && echo cached > /var/cache/melange/go/mod",
            &BTreeMap::new(),
            RunLimits::default(),
        );
        assert!(outcome.success(), "{who:?}: {outcome:?}\n{}", all(&sink));
        let file = scratch.cache().join("go/mod");
        assert_eq!(fs_err::read_to_string(&file).unwrap(), "cached\n");
        // The file belongs to whoever ran melwrap (as root: the build ids, never root), not
        // to a uid from inside.
        let owner = fs_err::metadata(&file).unwrap().uid();
        let expected = match who {
            Who::Root if unpriv::is_root() => DEFAULT_BUILD_ID,
            Who::Root => unpriv::current_uid(),
            Who::Nobody => unpriv::unprivileged_uid(),
        };
        assert_eq!(owner, expected, "{who:?}");
    }
}

#[test]
fn a_failing_command_gives_its_exit_code() {
    let Some(bwrap) = require_bwrap() else { return };
    let scratch = Scratch::new();
    let (outcome, sink) = run_as_root(&bwrap, &scratch, "echo before\nexit 3\necho after");
    assert_eq!(outcome.status, Status::Exited(3));
    assert!(outcome.started);
    assert_eq!(stdout(&sink), "before");
}

#[test]
fn a_sandbox_that_never_starts_is_told_apart_from_exit_1() {
    let Some(bwrap) = require_bwrap() else { return };
    let scratch = Scratch::new();
    // Rootless, bwrap resolves the bind source itself (a root build has it open already).
    let mut cfg = scratch.config(Who::Nobody);
    cfg.extra_ro_binds = vec![(
        HostPath::new(scratch.dir.path().join("gone")).unwrap(),
        GuestPath::new("/opt/gone").unwrap(),
    )];
    // Prepare checks the source exists; remove it afterwards so bwrap itself fails.
    fs_err::write(scratch.dir.path().join("gone"), "").unwrap();
    let sandbox = Sandbox::prepare(cfg).unwrap();
    fs_err::remove_file(scratch.dir.path().join("gone")).unwrap();
    let (outcome, sink) = run_step(
        &bwrap,
        Who::Nobody,
        &sandbox,
        "/home/build",
        "exit 1",
        vec![],
        false,
        RunLimits::default(),
    );
    assert_eq!(outcome.status, Status::Exited(1));
    assert!(!outcome.started, "{outcome:?}");
    let stderr = sink.of(Stream::Stderr).join("\n");
    assert!(stderr.starts_with("bwrap: "), "{stderr}");

    // The same exit code from a step that did run.
    let (outcome, _) = run_as_root(&bwrap, &scratch, "exit 1");
    assert_eq!(outcome.status, Status::Exited(1));
    assert!(outcome.started);
}

#[test]
fn the_wrapper_has_melanges_set_e_semantics() {
    let Some(bwrap) = require_bwrap() else { return };
    let scratch = Scratch::new();
    let cases: &[(&str, bool, &str)] = &[
        // A failing simple command stops the step.
        ("false\necho after", false, ""),
        // pipefail: a failure anywhere in a pipeline counts.
        ("false | true\necho after", false, ""),
        // Not in conditions or non-final parts of && and || lists.
        (
            "if false; then :; fi\nfalse || true\nfalse && true\n! false\necho reached",
            true,
            "reached",
        ),
        // An explicit exit decides; the trailing `exit 0` covers falling off the end.
        ("exit 0\nfalse", true, ""),
        // ash syntax that dash rejects, as real configs use it.
        ("[ \"a\" == \"a\" ] && echo same", true, "same"),
    ];
    for (script, ok, out) in cases {
        let (outcome, sink) = run_as_root(&bwrap, &scratch, script);
        assert_eq!(
            outcome.success(),
            *ok,
            "{script:?}: {outcome:?}\n{}",
            all(&sink)
        );
        assert_eq!(stdout(&sink), *out, "{script:?}");
    }
}

#[test]
fn the_working_directory_is_created_and_entered() {
    let Some(bwrap) = require_bwrap() else { return };
    let scratch = Scratch::new();
    let sandbox = Sandbox::prepare(scratch.config(Who::Root)).unwrap();
    let (outcome, sink) = run_step(
        &bwrap,
        Who::Root,
        &sandbox,
        "/home/build/deep/er dir",
        "pwd",
        vec![],
        true,
        RunLimits::default(),
    );
    assert!(outcome.success(), "{}", all(&sink));
    assert_eq!(stdout(&sink), "/home/build/deep/er dir");
    assert!(scratch.ws().join("deep/er dir").is_dir());
    // --debug traces commands on stderr.
    assert!(
        sink.of(Stream::Stderr).iter().any(|l| l.contains("pwd")),
        "{}",
        all(&sink)
    );
}

#[test]
fn a_step_that_kills_itself_reports_the_signal() {
    let Some(bwrap) = require_bwrap() else { return };
    let scratch = Scratch::new();
    let (outcome, sink) = run_as_root(&bwrap, &scratch, "kill -SEGV $$");
    assert_eq!(
        outcome.status,
        Status::Signaled(libc::SIGSEGV),
        "{}",
        all(&sink)
    );
    assert!(outcome.status.to_string().contains("SIGSEGV"));
}

#[test]
fn a_timeout_kills_the_whole_tree() {
    let Some(bwrap) = require_bwrap() else { return };
    let scratch = Scratch::new();
    let marker = format!("{}", 4_000_000 + std::process::id());
    // A background sleep in its own session, and a foreground one.
    let script = format!("setsid sleep 1{marker} &\nsleep 2{marker}\n");
    let (outcome, sink) = run_script(
        &bwrap,
        Who::Root,
        scratch.config(Who::Root),
        &script,
        &BTreeMap::new(),
        RunLimits {
            timeout: Some(Duration::from_millis(500)),
            ..RunLimits::default()
        },
    );
    assert_eq!(outcome.status, Status::TimedOut, "{}", all(&sink));
    // run() returns only once the sandbox's PID namespace is gone: nothing may remain.
    assert_eq!(processes_with(&marker), Vec::<String>::new());
}

/// Runs in a child process (see `sigint_stops_the_step_and_reports_interrupted`), because
/// signal handlers are process-wide.
#[test]
#[ignore = "helper: run by sigint_stops_the_step_and_reports_interrupted"]
fn sigint_child() {
    let Some(bwrap) = require_bwrap() else { return };
    let ws = std::env::var("MELWRAP_TEST_WS").unwrap();
    let marker = std::env::var("MELWRAP_TEST_MARKER").unwrap();
    run::install_signal_handlers();
    let mut cfg = SandboxConfig::new(
        Rootfs::Host,
        HostPath::new(&ws).unwrap(),
        &melwrap::sandbox::HostDefaults::read(),
    );
    cfg.identity = Identity::for_current_user();
    let sandbox = Sandbox::prepare(cfg).unwrap();
    let (outcome, _) = run_step(
        &bwrap,
        Who::Root,
        &sandbox,
        "/home/build",
        // The step ignores SIGTERM itself: only the namespace teardown can end it.
        &format!("trap '' TERM INT\ntouch /home/build/started\nsleep 3{marker}\n"),
        vec![],
        false,
        RunLimits::default(),
    );
    println!("OUTCOME {:?}", outcome.status);
    assert_eq!(run::interrupted(), Some(libc::SIGINT));
    // Once interrupted, no new step starts.
    let (again, _) = run_step(
        &bwrap,
        Who::Root,
        &sandbox,
        "/home/build",
        "true",
        vec![],
        false,
        RunLimits::default(),
    );
    assert!(!again.started);
    println!("AGAIN {:?}", again.status);
}

#[test]
fn sigint_stops_the_step_and_reports_interrupted() {
    if require_bwrap().is_none() {
        return;
    }
    let scratch = Scratch::new();
    let marker = format!("{}", 5_000_000 + std::process::id());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--exact")
        .arg(crate::support::test_name(module_path!(), "sigint_child"))
        .args(["--ignored", "--nocapture"])
        .env("MELWRAP_TEST_WS", scratch.ws())
        .env("MELWRAP_TEST_MARKER", &marker)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (boundedly) for the step to be running, then press Ctrl-C.
    let started = scratch.ws().join("started");
    for _ in 0..600 {
        if started.exists() || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(started.exists(), "the step never started");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("OUTCOME Interrupted(2)"), "{text}");
    assert!(text.contains("AGAIN Interrupted(2)"), "{text}");
    assert_eq!(processes_with(&marker), Vec::<String>::new());
}

fn listing(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = crate::support::walk(root)
        .into_iter()
        .filter(|p| p != root)
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn a_read_only_busybox_rootfs_runs_steps() {
    let Some(bwrap) = require_bwrap() else { return };
    let Some(root) = busybox_rootfs() else { return };
    let before = listing(root.path());
    for who in BOTH {
        let scratch = Scratch::new();
        let mut cfg = scratch.config(who);
        cfg.rootfs = Rootfs::Dir(HostPath::new(root.path()).unwrap());
        cfg.network = true;
        cfg.resolv_conf = Some(HostPath::new("/etc/resolv.conf").unwrap());
        let script = "\
            [ \"$(readlink /proc/$$/exe)\" == /bin/busybox ]\n\
            echo hi > /var/cache/melange/from-rootfs\n\
            echo ws > /home/build/from-rootfs\n\
            ls /var/cache\n\
            cat /etc/hostname\n\
            test -s /etc/resolv.conf && echo resolv\n\
            touch /etc/nope 2>/dev/null || echo etc-ro\n\
            touch /bin/nope 2>/dev/null || echo bin-ro\n\
            touch /nope 2>/dev/null || echo root-ro\n\
            touch /tmp/yes && echo tmp-rw\n";
        let (outcome, sink) = run_script(
            &bwrap,
            who,
            cfg,
            script,
            &BTreeMap::new(),
            RunLimits::default(),
        );
        assert!(outcome.success(), "{who:?}: {outcome:?}\n{}", all(&sink));
        assert_eq!(
            sink.of(Stream::Stdout),
            [
                "apk", "melange", "rootfs", "resolv", "etc-ro", "bin-ro", "root-ro", "tmp-rw"
            ],
            "{who:?}"
        );
        assert_eq!(
            fs_err::read_to_string(scratch.cache().join("from-rootfs")).unwrap(),
            "hi\n"
        );
        assert!(scratch.ws().join("from-rootfs").exists());
    }
    assert_eq!(listing(root.path()), before, "the rootfs was modified");
}

#[test]
fn host_rootfs_runs_ash_style_scripts() {
    let Some(bwrap) = require_bwrap() else { return };
    let scratch = Scratch::new();
    let (outcome, sink) = run_as_root(
        &bwrap,
        &scratch,
        "a=x\nif [ \"$a\" == \"x\" ]; then echo eq; fi\nset -o pipefail\necho ok | cat",
    );
    assert!(outcome.success(), "{}", all(&sink));
    assert_eq!(stdout(&sink), "eq\nok");
}

fn melwrap() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_melwrap"));
    cmd.env_remove("MELWRAP_BWRAP")
        .env_remove("MELWRAP_CA_BUNDLE");
    cmd
}

#[test]
fn doctor_reports_a_working_sandbox() {
    if require_bwrap().is_none() {
        return;
    }
    let out = melwrap().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("builds can run here"), "{text}");
    assert!(text.contains("a step ran in the host rootfs"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    if is_root() {
        // The same as an ordinary user, who gets a user namespace.
        let out = unpriv::as_nobody(env!("CARGO_BIN_EXE_melwrap"))
            .arg("doctor")
            .current_dir("/")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(text.contains("uid 65534: steps run as uid 1000"), "{text}");
    }
}

#[test]
fn doctor_checks_a_directory_rootfs() {
    if require_bwrap().is_none() {
        return;
    }
    let Some(root) = busybox_rootfs() else { return };
    let out = melwrap()
        .args(["doctor", "--rootfs"])
        .arg(root.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("steps run with `/bin/sh`"), "{text}");
    // An empty directory has no shell: builds cannot run there.
    let empty = tempfile::tempdir().unwrap();
    let out = melwrap()
        .args(["doctor", "--rootfs"])
        .arg(empty.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("has no /bin/sh"), "{text}");
}

#[test]
fn doctor_says_how_to_install_a_missing_bwrap() {
    let out = melwrap()
        .arg("doctor")
        .env("MELWRAP_BWRAP", "/nonexistent/bwrap")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("FAIL  bwrap"), "{text}");
    assert!(text.contains("hint: install"), "{text}");
}

#[test]
fn doctor_checks_the_ca_bundle_option() {
    let out = melwrap()
        .args(["doctor", "--ca-bundle", "/nonexistent/corp.pem"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if require_bwrap().is_none() {
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("--ca-bundle: cannot use `/nonexistent/corp.pem`"),
        "{text}"
    );
}

#[test]
fn the_debug_shell_starts_in_the_failed_steps_directory() {
    let Some(bwrap) = require_bwrap() else { return };
    let scratch = Scratch::new();
    fs_err::create_dir_all(scratch.ws().join("src")).unwrap();
    let sandbox = Sandbox::prepare(scratch.config(Who::Root)).unwrap();
    let env = step_environment(&base_env(), &map(&[("STEP", "yes")]), &[]);
    let failed = StepCommand::script(
        &sandbox.shell(),
        GuestPath::new("/home/build/src").unwrap(),
        "false",
        env,
        false,
    );
    let launch = sandbox.launch_interactive(&failed, Some("vt100"));
    // What a user would type at the prompt, on a pipe instead of a terminal.
    let mut command = Command::new(&bwrap.path);
    launch.child.install(&mut command);
    let mut child = command
        .args(&launch.args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo \"$PWD $TERM $HISTFILE $STEP\"\nexit 5\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/home/build/src vt100 /home/build/.ash_history yes\n"
    );
}

/// `melwrap test` binds a package's files one by one where the guest root has their
/// directory, so a sandbox can have thousands of file binds. As root each is staged for the
/// build ids; the sandbox must still start and show every one (and, as anyone, the same).
#[test]
fn thousands_of_file_binds_are_shown() {
    let Some(bwrap) = require_bwrap() else { return };
    for who in BOTH {
        let scratch = Scratch::new();
        let files = scratch.dir.path().join("files");
        fs_err::create_dir(&files).unwrap();
        open_up(&files);
        let mut cfg = scratch.config(who);
        for i in 0..1100 {
            let src = files.join(format!("f{i}"));
            fs_err::write(&src, format!("{i}\n")).unwrap();
            cfg.extra_ro_binds.push((
                HostPath::new(&src).unwrap(),
                GuestPath::new(format!("/opt/many/f{i}")).unwrap(),
            ));
        }
        let (outcome, sink) = run_script(
            &bwrap,
            who,
            cfg,
            "ls /opt/many | wc -l; cat /opt/many/f1099",
            &BTreeMap::new(),
            RunLimits::default(),
        );
        assert!(outcome.success(), "{who:?}: {outcome:?}\n{}", all(&sink));
        assert_eq!(stdout(&sink), "1100\n1099", "{who:?}");
    }
}
