//! Hostile steps: one test per promise the sandbox makes, each checked from inside, as root
//! (uid 0 in a user namespace over the build ids) and as an unprivileged uid (through
//! `setpriv`, in a user namespace).
//! Every test also runs a positive control, so it cannot pass just because the step failed.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use crate::sandbox::support::*;
use crate::support::unpriv;
use melwrap::sandbox::run::RunLimits;

/// The identities to test: both when the suite runs as root, else only the current user.
fn identities() -> Vec<Who> {
    if is_root() {
        BOTH.to_vec()
    } else {
        eprintln!("not root: testing only as the current user");
        vec![Who::Nobody]
    }
}

fn step(
    bwrap: &melwrap::sandbox::probe::Bwrap,
    who: Who,
    scratch: &Scratch,
    network: bool,
    script: &str,
) -> (run::StepOutcome, run::VecSink) {
    let mut cfg = scratch.config(who);
    cfg.network = network;
    run_script(
        bwrap,
        who,
        cfg,
        script,
        &BTreeMap::new(),
        RunLimits::default(),
    )
}

use melwrap::sandbox::run;

#[test]
fn cannot_read_the_invoking_users_home() {
    let Some(bwrap) = require_bwrap() else { return };
    if !is_root() {
        eprintln!("skipped: needs root to create a home under /home");
        return;
    }
    // A world-readable secret in a home directory: only the sandbox can keep it away.
    let home = tempfile::Builder::new()
        .prefix("melwrap-hostile-")
        .tempdir_in("/home")
        .unwrap();
    fs_err::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = home.path().join("secret.txt");
    fs_err::write(&secret, "TOP-SECRET-6f1c\n").unwrap();
    fs_err::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    for who in identities() {
        let scratch = Scratch::new();
        let script = format!(
            "cat {0} || true\ncat /home/*/secret.txt || true\nls -a /root /home || true\n\
             echo \"HOME=$HOME\"\necho control > /home/build/control",
            secret.display()
        );
        let (outcome, sink) = step(&bwrap, who, &scratch, true, &script);
        let text = all(&sink);
        assert!(outcome.success(), "{who:?}: {outcome:?}\n{text}");
        assert!(scratch.ws().join("control").exists(), "{who:?}: control");
        assert!(
            !text.contains("TOP-SECRET"),
            "{who:?} read the secret:\n{text}"
        );
        assert!(text.contains("HOME=/home/build"), "{who:?}:\n{text}");
        assert!(
            text.contains("cannot access '/root'"),
            "{who:?}: /root is visible:\n{text}"
        );
    }
}

#[test]
fn cannot_write_outside_the_workspace_and_cache() {
    let Some(bwrap) = require_bwrap() else { return };
    for who in identities() {
        let scratch = Scratch::new();
        let tag = format!("melwrap-hostile-{}-{who:?}", std::process::id());
        let targets = [
            format!("/usr/{tag}"),
            format!("/usr/bin/{tag}"),
            format!("/etc/{tag}"),
            format!("/opt/{tag}"),
            format!("/tmp/{tag}"),
            format!("/var/tmp/{tag}"),
            format!("/{tag}"),
        ];
        let mut script = String::new();
        for t in &targets {
            script.push_str(&format!(
                "(echo x > {t}) 2>/dev/null && echo \"wrote {t}\" || echo \"refused {t}\"\n"
            ));
        }
        script.push_str("echo ok > /home/build/ok\necho ok > /var/cache/melange/ok\n");
        let (outcome, sink) = step(&bwrap, who, &scratch, true, &script);
        let text = all(&sink);
        assert!(outcome.success(), "{who:?}: {outcome:?}\n{text}");
        for t in &targets {
            assert!(
                !std::path::Path::new(t).exists(),
                "{who:?}: {t} appeared on the host"
            );
            // Inside, only the fresh /tmp is writable, and it is thrown away.
            if !t.starts_with("/tmp/") {
                assert!(text.contains(&format!("refused {t}")), "{who:?}:\n{text}");
            }
        }
        assert!(scratch.ws().join("ok").exists());
        assert!(scratch.cache().join("ok").exists());
    }
}

#[test]
fn cannot_see_or_signal_host_processes() {
    let Some(bwrap) = require_bwrap() else { return };
    for who in identities() {
        // A host process owned by the same uid the sandbox runs as, so that only the PID
        // namespace stands between them.
        let mut sleeper = match who {
            Who::Root => Command::new("sleep").arg("300").spawn().unwrap(),
            Who::Nobody => unpriv::as_nobody("sleep").arg("300").spawn().unwrap(),
        };
        let pid = sleeper.id();
        let scratch = Scratch::new();
        let script = format!(
            "test -e /proc/{pid} && echo \"sees {pid}\"\n\
             kill -9 {pid} 2>/dev/null && echo \"killed {pid}\"\n\
             ls /proc | grep -c '^[0-9]' > /home/build/count\n\
             echo \"self $$\""
        );
        let (outcome, sink) = step(&bwrap, who, &scratch, true, &script);
        let text = all(&sink);
        let still_running = sleeper.try_wait().unwrap().is_none();
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert!(outcome.success(), "{who:?}: {outcome:?}\n{text}");
        assert!(
            still_running,
            "{who:?}: the host process was killed:\n{text}"
        );
        assert!(!text.contains("sees"), "{who:?}:\n{text}");
        assert!(!text.contains("killed"), "{who:?}:\n{text}");
        // The step is a low PID in its own namespace, with only a handful of processes.
        let count: u32 = fs_err::read_to_string(scratch.ws().join("count"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(count < 10, "{who:?}: sees {count} processes");
    }
}

#[test]
fn cannot_reach_the_network_when_it_is_off() {
    let Some(bwrap) = require_bwrap() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    // bash's /dev/tcp (the host rootfs runs steps with bash).
    let script = format!(
        "if exec 3<>/dev/tcp/127.0.0.1/{port}; then echo connected; echo hello >&3; \
         else echo refused; fi"
    );
    for who in identities() {
        for network in [true, false] {
            let scratch = Scratch::new();
            let (outcome, sink) = step(&bwrap, who, &scratch, network, &script);
            let text = all(&sink);
            assert!(outcome.success(), "{who:?}: {outcome:?}\n{text}");
            let accepted = accept_one(&listener);
            if network {
                // Control: with the network on the same step reaches the host.
                assert!(text.contains("connected"), "{who:?} control:\n{text}");
                assert_eq!(accepted.as_deref(), Some("hello\n"), "{who:?}");
            } else {
                assert!(text.contains("refused"), "{who:?}:\n{text}");
                assert_eq!(accepted, None, "{who:?}: a connection got through");
            }
        }
    }
}

/// A connection that already arrived, and what it sent (the step has ended by now).
fn accept_one(listener: &TcpListener) -> Option<String> {
    let (mut stream, _) = listener.accept().ok()?;
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = String::new();
    let _ = stream.read_to_string(&mut got);
    Some(got)
}

#[test]
fn gains_nothing_from_a_setuid_binary() {
    let Some(bwrap) = require_bwrap() else { return };
    if !is_root() {
        eprintln!("skipped: needs root to make a setuid-root binary");
        return;
    }
    for who in identities() {
        let scratch = Scratch::new();
        // A setuid-root copy of `id` in the workspace, the one place a step can write.
        let id = scratch.ws().join("suid-id");
        fs_err::copy("/usr/bin/id", &id).unwrap();
        std::os::unix::fs::chown(&id, Some(0), Some(0)).unwrap();
        fs_err::set_permissions(&id, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let script = "\
            grep -E '^(NoNewPrivs|CapEff|CapPrm):' /proc/self/status\n\
            echo \"euid $(/home/build/suid-id -u)\"\n\
            /home/build/suid-id -u > /dev/null && grep '^CapEff:' /proc/self/status > /home/build/caps\n\
            echo \"child $(sh -c 'grep ^CapEff: /proc/self/status')\"\n";
        let (outcome, sink) = step(&bwrap, who, &scratch, true, script);
        let text = all(&sink);
        assert!(outcome.success(), "{who:?}: {outcome:?}\n{text}");
        assert!(text.contains("NoNewPrivs:\t1"), "{who:?}:\n{text}");
        assert!(
            text.contains("CapEff:\t0000000000000000"),
            "{who:?}:\n{text}"
        );
        assert!(
            text.contains("CapPrm:\t0000000000000000"),
            "{who:?}:\n{text}"
        );
        assert!(
            text.contains("child CapEff:\t0000000000000000"),
            "{who:?}: a child regained capabilities:\n{text}"
        );
        match who {
            // The build user stays 1000: the setuid bit does nothing.
            Who::Nobody => assert!(text.contains("euid 1000"), "{who:?}:\n{text}"),
            // Root is uid 0 already, but holds no capability after the exec either.
            Who::Root => assert!(text.contains("euid 0"), "{who:?}:\n{text}"),
        }
    }
}

#[test]
fn the_sandbox_inherits_no_descriptors() {
    let Some(bwrap) = require_bwrap() else { return };
    // A descriptor melwrap holds without close-on-exec must not reach the step. F_DUPFD
    // gives a high number (above bwrap's status descriptor) without close-on-exec.
    let file = tempfile::tempfile().unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: duplicating a descriptor we own; the copy is closed below.
    let fd = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_DUPFD, 300) };
    assert!(fd >= 300);
    let scratch = Scratch::new();
    let (outcome, sink) = step(
        &bwrap,
        Who::Root,
        &scratch,
        true,
        &format!("test -e /proc/self/fd/{fd} && echo leaked || echo closed"),
    );
    // SAFETY: closing the duplicate made above.
    unsafe { libc::close(fd) };
    assert!(outcome.success(), "{}", all(&sink));
    assert_eq!(stdout(&sink), "closed", "fd {fd}");
}
