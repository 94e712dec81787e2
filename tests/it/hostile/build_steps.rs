//! Hostile steps, through `melwrap build`, as root and as uid 65534: each tries to read the
//! invoking user's home, write outside the workspace and cache, see or kill a host process,
//! reach a host loopback listener with `--no-network`, and gain something from a setuid
//! binary. The step records every success as a `LEAK:` line; the host checks the effects too.
//! (hostile/sandbox.rs covers the same ground at the library level.)

use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command};

use crate::build::common::*;

/// Places a step must not be able to create a file in, besides the host paths of the scratch
/// directories (which are not in the guest at all).
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/usr/bin", "/etc", "/opt", "/", "/var", "/bin", "/sbin",
];

struct Fixture {
    t: TestEnv,
    marker: String,
    host_sleep: Child,
    listener: TcpListener,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.host_sleep.kill();
        let _ = self.host_sleep.wait();
    }
}

fn fixture(who: Who) -> Fixture {
    let t = TestEnv::new();
    let pid = std::process::id();
    let marker = format!("hostile-{pid}-{who:?}");
    // A secret in the invoking user's HOME, readable by anyone: only the sandbox protects it.
    fs_err::write(t.home().join("secret.txt"), format!("TOP-SECRET-{pid}\n")).unwrap();
    // A host process with a number on its command line that only the host knows.
    let host_sleep = Command::new("sleep")
        .arg(format!("86{pid}1"))
        .spawn()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    // A setuid-root copy of cat in the cache (the one place a step can exec a file the host
    // made).
    let cache = t.make_cache();
    let suid = cache.join("suid-cat");
    fs_err::copy("/usr/bin/cat", &suid).unwrap();
    fs_err::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    Fixture {
        t,
        marker,
        host_sleep,
        listener,
    }
}

fn hostile_script(f: &Fixture) -> String {
    let pid = std::process::id();
    let port = f.listener.local_addr().unwrap().port();
    let m = &f.marker;
    let home = f.t.home().display().to_string();
    let mut targets: Vec<String> = SYSTEM_DIRS.iter().map(|s| s.to_string()).collect();
    for p in [f.t.src(), f.t.out(), f.t.home(), f.t.root().to_path_buf()] {
        targets.push(p.display().to_string());
    }
    let targets = targets.join(" ");
    // Patterns are assembled at run time so the script's own text (on bwrap's and the shell's
    // command lines, and in the workspace's melange.yaml) never matches them.
    format!(
        r#"r=/var/cache/melange/report
: > "$r"
leak() {{ echo "LEAK: $*" >> "$r"; }}

# The invoking user's home.
if cat '{home}/secret.txt' >/dev/null 2>&1; then leak "read {home}/secret.txt"; fi
secret="TOP-SECRET""-{pid}"
if grep -rqs "$secret" /root /home /tmp /var /run /mnt /srv 2>/dev/null; then leak "found the secret"; fi

# Writes outside the workspace and the cache.
for d in {targets}; do
  if touch "$d/{m}" 2>/dev/null; then leak "created $d/{m}"; fi
done
if mkdir -p /usr/lib/{m} 2>/dev/null; then leak "mkdir under /usr"; fi
touch /tmp/{m}

# Host processes.
num="86""{pid}1"
for p in /proc/[0-9]*; do
  if grep -qs "$num" "$p/cmdline"; then leak "saw host process $p"; fi
done
kill -KILL {sleep_pid} 2>/dev/null || true

# The network.
if timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null; then leak "connected to {port}"; fi

# setuid and capabilities.
plain=$(grep -E '^(Uid|Gid|CapEff|CapPrm)' /proc/self/status)
suid=$(/var/cache/melange/suid-cat /proc/self/status | grep -E '^(Uid|Gid|CapEff|CapPrm)')
if [ "$plain" != "$suid" ]; then leak "setuid changed identity: $suid"; fi
case "$suid" in *"CapEff:	0000000000000000"*) ;; *) leak "capabilities: $suid" ;; esac
echo DONE >> "$r"
"#,
        sleep_pid = f.host_sleep.id(),
    )
}

fn indent(script: &str) -> String {
    script.lines().map(|l| format!("      {l}\n")).collect()
}

#[test]
fn hostile_steps_gain_nothing_as_root_or_as_an_ordinary_user() {
    require_bwrap!();
    for who in users() {
        let mut f = fixture(who);
        let script = hostile_script(&f);
        f.t.config(&format!(
            "pipeline:\n  - name: hostile\n    runs: |\n{}",
            indent(&script)
        ));
        let run = f.t.build(who, &["--no-network"]);
        run.ok();
        let report = f.t.cached("report");
        assert!(
            report.ends_with("DONE\n"),
            "{who:?}: the step ran to its end: {report}"
        );
        assert!(!report.contains("LEAK"), "{who:?}:\n{report}\n{run}");

        // The host's view.
        let mut places: Vec<PathBuf> = SYSTEM_DIRS.iter().map(PathBuf::from).collect();
        places.extend([
            f.t.src(),
            f.t.out(),
            f.t.home(),
            f.t.root().into(),
            "/tmp".into(),
            "/usr/lib".into(),
        ]);
        for dir in places {
            assert!(
                !dir.join(&f.marker).exists(),
                "{who:?}: {dir:?}/{} exists",
                f.marker
            );
        }
        assert!(
            f.host_sleep.try_wait().unwrap().is_none(),
            "{who:?}: the host process was killed"
        );
        match f.listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("{who:?}: the listener saw a connection: {other:?}"),
        }
    }
}

/// Control for the network check: with the network on, the same connect succeeds, so the
/// hostile test's failure to connect is the sandbox's doing.
#[test]
fn with_the_network_on_the_loopback_listener_is_reachable() {
    require_bwrap!();
    let f = fixture(Who::Root);
    let port = f.listener.local_addr().unwrap().port();
    f.t.config(&format!(
        "pipeline:\n  - runs: timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'\n"
    ));
    f.t.build(Who::Root, &[]).ok();
    f.listener.set_nonblocking(false).unwrap();
    f.listener.accept().expect("the step connected");
}
