//! Hostile steps against the holes a sandbox alone does not close: a step of a root build
//! (uid 0 to itself, the unprivileged build ids to the host) cannot read the host's password
//! hashes or SSH host keys, nor change kernel settings; and no step leaves a setuid file in
//! the cache for other users to run. hostile/identity.rs has the same scenarios as root
//! and as uid 65534, and shows no mask list is involved.

use std::path::Path;
use std::process::{Command, Output};

/// `melwrap build melange.yaml --cache-dir cache --out-dir out EXTRA...` in `dir`, with a
/// cleared environment.
fn build(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_melwrap"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .args([
            "build",
            "melange.yaml",
            "--cache-dir",
            "cache",
            "--out-dir",
            "out",
        ])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_step_run_as_root_cannot_read_etc_shadow() {
    if !std::path::Path::new("/etc/shadow").exists() || unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root and a host /etc/shadow");
        assert!(std::env::var("CI").as_deref() != Ok("true") || unsafe { libc::geteuid() } != 0);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("melange.yaml"),
        "package:\n  name: spy\n  version: 1.0.0\npipeline:\n  - runs: |\n      \
         [ \"$(id -u)\" = 0 ] || { echo 'LEAK: not root, test proves nothing'; exit 0; }\n      \
         if head -c 1 /etc/shadow >/dev/null 2>&1; then echo LEAK: shadow; fi\n      \
         if cat /etc/ssh/ssh_host_*_key 2>/dev/null | grep -q PRIVATE; then echo LEAK: ssh; fi\n      \
         head -c 1 /etc/passwd >/dev/null && echo control: passwd readable\n",
    )
    .unwrap();
    let out = build(dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("| LEAK"), "{stderr}");
    assert!(stderr.contains("| control: passwd readable"), "{stderr}");
}

#[test]
fn a_step_run_as_root_cannot_change_host_sysctls() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "skipped: only a step run as real root owns /proc/sys (not as {})",
            unsafe { libc::geteuid() }
        );
        return;
    }
    let sysctl = "/proc/sys/vm/swappiness";
    let before = std::fs::read_to_string(sysctl).unwrap();
    let other: u32 = before.trim().parse::<u32>().unwrap() ^ 1;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("melange.yaml"),
        format!(
            "package:\n  name: spy\n  version: 1.0.0\npipeline:\n  - runs: |\n      \
             [ \"$(id -u)\" = 0 ] || {{ echo 'not root: proves nothing'; exit 1; }}\n      \
             if echo {other} > {sysctl}; then echo LEAK: sysctl; fi\n      \
             if [ -e /proc/sysrq-trigger ] && echo h > /proc/sysrq-trigger; then echo LEAK: sysrq; fi\n      \
             echo control: reached the end\n"
        ),
    )
    .unwrap();
    let out = build(dir.path(), &[]);
    let after = std::fs::read_to_string(sysctl).unwrap();
    if after != before {
        // Put the host back before failing.
        let _ = std::fs::write(sysctl, &before);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(after, before, "the step changed a host sysctl:\n{stderr}");
    assert!(!stderr.contains("| LEAK"), "{stderr}");
    assert!(stderr.contains("| control: reached the end"), "{stderr}");
}

/// A setuid or setgid file left in the cache would outlive the sandbox, for any local user to
/// run with the builder's identity. melwrap clears those bits when the steps are over, whether
/// the build succeeded or failed. (As any user: the owner may always set the bits.)
#[test]
fn set_id_files_a_step_leaves_in_the_cache_lose_the_bits() {
    use std::os::unix::fs::PermissionsExt;
    for (name, outcome) in [("ok", "exit 0"), ("fail", "exit 3")] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("melange.yaml"),
            format!(
                "package:\n  name: planter\n  version: 1.0.0\npipeline:\n  - runs: |\n      \
                 cp /bin/sh /var/cache/melange/shell\n      \
                 chmod 6755 /var/cache/melange/shell\n      \
                 stat -c 'planted %a' /var/cache/melange/shell\n      \
                 {outcome}\n"
            ),
        )
        .unwrap();
        let out = build(dir.path(), &["--workspace-dir", "ws"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("| planted 6755"), "{name}: {stderr}");
        let mode = std::fs::metadata(dir.path().join("cache/shell"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755, "{name}: {stderr}");
        assert!(
            stderr.contains("cleared the setuid/setgid bit of 1 file(s)"),
            "{name}: {stderr}"
        );
    }
}
