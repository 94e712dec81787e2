//! Steps never hold real host root, and their resources are bounded (issue 15). As root, a step
//! is uid 0 in a user namespace that is the unprivileged build ids on the host; as an ordinary
//! user (uid 65534 here), it is that user. Either way: root-only host files, `/proc/sys`, the
//! SysRq trigger and the invoking user's session keyring are out of reach with no mask list,
//! nothing a step creates is owned by host root, and `--pids` / `--memory` stop a fork bomb
//! and a memory hog with a clear message. Each scenario runs as root and as uid 65534.

use std::ffi::CString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use crate::build::common::*;

/// The host uid that owns what a step writes: the build ids as root, else the user.
fn step_owner(who: Who) -> u32 {
    match who.host_uid() {
        0 => melwrap::sandbox::DEFAULT_BUILD_ID,
        uid => uid,
    }
}

fn indent(script: &str) -> String {
    script.lines().map(|l| format!("      {l}\n")).collect()
}

/// A root-only (0600) file of the test's own in the host's /etc, which the guest shows;
/// removed on drop. Only root can make it.
struct RootOnlyFile(Option<PathBuf>);

impl RootOnlyFile {
    fn new() -> RootOnlyFile {
        if !crate::support::unpriv::is_root() {
            return RootOnlyFile(None);
        }
        let path = PathBuf::from(format!("/etc/melwrap-test-secret-{}", std::process::id()));
        fs_err::write(&path, "ROOT-ONLY\n").unwrap();
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        RootOnlyFile(Some(path))
    }
}

impl Drop for RootOnlyFile {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[test]
fn root_only_host_files_are_closed_without_a_mask_list() {
    require_bwrap!();
    let secret = RootOnlyFile::new();
    let mut files: Vec<String> = [
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/sudoers",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_rsa_key",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    files.extend(secret.0.iter().map(|p| p.display().to_string()));
    // /etc/ssl/private/* by name: the guest cannot even list that directory.
    if let Ok(dir) = std::fs::read_dir("/etc/ssl/private") {
        files.extend(dir.flatten().map(|e| e.path().display().to_string()));
    }
    for who in users() {
        let t = TestEnv::new();
        let inside = if who.host_uid() == 0 { "0" } else { "1000" };
        t.config(&format!(
            "pipeline:\n  - runs: |\n{}",
            indent(&format!(
                "[ \"$(id -u)\" = {inside} ] || echo \"LEAK: uid $(id -u), expected {inside}\"\n\
                 for f in {}; do\n\
                 \x20 if head -c 1 \"$f\" >/dev/null 2>&1; then echo \"LEAK: read $f\"; fi\n\
                 done\n\
                 head -c 1 /etc/passwd >/dev/null && echo control: passwd readable\n",
                files.join(" ")
            ))
        ));
        let run = t.build(who, &["--no-network"]);
        run.ok();
        assert!(!run.stderr.contains("| LEAK"), "{who:?}: {run}");
        assert!(run.stderr.contains("| control: passwd readable"), "{who:?}");
        // Permissions do it, not masks: nothing is bound over a host file.
        let dry = t.build(who, &["--no-network", "--dry-run"]);
        dry.ok();
        assert!(
            !dry.stdout.contains("--ro-bind /dev/null"),
            "{who:?}: {}",
            dry.stdout
        );
    }
}

#[test]
fn proc_sys_and_the_sysrq_trigger_are_out_of_reach() {
    require_bwrap!();
    let sysctl = "/proc/sys/vm/swappiness";
    let before = fs_err::read_to_string(sysctl).unwrap();
    let other = before.trim().parse::<u32>().unwrap() ^ 1;
    for who in users() {
        let t = TestEnv::new();
        t.config(&format!(
            "pipeline:\n  - runs: |\n{}",
            indent(&format!(
                "if echo {other} > {sysctl} 2>/dev/null; then echo LEAK: sysctl; fi\n\
                 if echo h > /proc/sysrq-trigger 2>/dev/null; then echo LEAK: sysrq; fi\n\
                 echo control: reached the end\n"
            ))
        ));
        let run = t.build(who, &["--no-network"]);
        let after = fs_err::read_to_string(sysctl).unwrap();
        if after != before {
            let _ = std::fs::write(sysctl, &before);
        }
        run.ok();
        assert_eq!(after, before, "{who:?}: the step changed a host sysctl");
        assert!(!run.stderr.contains("| LEAK"), "{who:?}: {run}");
        assert!(run.stderr.contains("| control: reached the end"), "{who:?}");
        // Permissions do it, not read-only binds over /proc.
        let dry = t.build(who, &["--no-network", "--dry-run"]);
        dry.ok();
        assert!(
            !dry.stdout.contains("-bind-try /proc/sys"),
            "{who:?}: {}",
            dry.stdout
        );
        assert!(
            !dry.stdout.contains("-bind /proc/sys"),
            "{who:?}: {}",
            dry.stdout
        );
    }
}

#[test]
fn nothing_a_step_creates_is_owned_by_host_root() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        let ws = t.make_workspace();
        t.config(
            "pipeline:\n  - runs: |\n      \
             cp /bin/sh suid-sh && chmod 6755 suid-sh\n      \
             mkdir -p /var/cache/melange/d && cp /bin/sh /var/cache/melange/d/suid-sh\n      \
             chmod 6755 /var/cache/melange/d/suid-sh\n      \
             exit 3\n",
        );
        let run = t.build(who, &["--no-network", "--workspace-dir", "ws"]);
        run.exit(1);
        let arch = fs_err::read_dir(&ws)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let owner_of = step_owner(who);
        for path in [
            arch.clone(),
            arch.join("suid-sh"),
            t.cache().join("d"),
            t.cache().join("d/suid-sh"),
        ] {
            let meta = fs_err::symlink_metadata(&path).unwrap();
            assert_ne!(meta.uid(), 0, "{who:?}: {path:?} is host root's\n{run}");
            assert_eq!(meta.uid(), owner_of, "{who:?}: owner of {path:?}");
        }
        if who.host_uid() == 0 {
            // The kept workspace and the cache are the build ids' alone.
            for dir in [arch.clone(), t.cache()] {
                let mode = fs_err::metadata(&dir).unwrap().mode();
                assert_eq!(mode & 0o777, 0o700, "{who:?}: {dir:?} mode {mode:o}");
            }
        }
    }
}

/// The test process puts a key in a session keyring of its own (possessor-only permissions,
/// so only possession shows it) and starts melwrap in that session: the step must not see it.
#[test]
fn a_step_does_not_possess_the_invoking_users_session_keyring() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        let marker = format!("melwrap-key-{}-{who:?}", std::process::id());
        t.config(&format!(
            "pipeline:\n  - runs: |\n      \
             if grep -q {marker} /proc/keys; then echo LEAK: key; fi\n      \
             echo control: reached the end\n"
        ));
        // Control: a plain process in that session sees the key.
        let mut control = std::process::Command::new("cat");
        control.arg("/proc/keys");
        in_keyed_session(&mut control, who, &marker);
        let out = control.output().unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&marker),
            "{who:?}: the key setup works: {}",
            String::from_utf8_lossy(&out.stdout)
        );

        let mut cmd = t.build_cmd(Who::Root, &["--no-network"]);
        in_keyed_session(&mut cmd, who, &marker);
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{who:?}: {stderr}");
        assert!(!stderr.contains("| LEAK"), "{who:?}: {stderr}");
        assert!(stderr.contains("| control: reached the end"), "{who:?}");
    }
}

/// Before `cmd` runs: become `who` (uid 65534 from a root suite), join a new session keyring
/// and add a `user` key described `marker` that only its possessor can see.
fn in_keyed_session(cmd: &mut std::process::Command, who: Who, marker: &str) {
    let switch = who == Who::Nobody && crate::support::unpriv::is_root();
    let (uid, gid) = (
        crate::support::unpriv::unprivileged_uid(),
        crate::support::unpriv::unprivileged_gid(),
    );
    let desc = CString::new(marker).unwrap();
    // SAFETY: only system calls on data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let check = |r: libc::c_long| {
                if r < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(r)
                }
            };
            if switch {
                check(libc::setgroups(0, std::ptr::null()) as libc::c_long)?;
                check(libc::setresgid(gid, gid, gid) as libc::c_long)?;
                check(libc::setresuid(uid, uid, uid) as libc::c_long)?;
            }
            check(libc::syscall(libc::SYS_keyctl, 1, c"melwrap-test".as_ptr()))?;
            let payload = b"SECRET";
            let serial = check(libc::syscall(
                libc::SYS_add_key,
                c"user".as_ptr(),
                desc.as_ptr(),
                payload.as_ptr(),
                payload.len(),
                -3, // KEY_SPEC_SESSION_KEYRING
            ))?;
            // KEYCTL_SETPERM: possessor may do anything, nobody else anything at all.
            check(libc::syscall(libc::SYS_keyctl, 5, serial, 0x3f00_0000u32))?;
            Ok(())
        });
    }
}

/// Processes of `uid` on the host now (tasks count towards RLIMIT_NPROC).
fn tasks_of(uid: u32) -> u64 {
    let mut n = 0;
    for entry in fs_err::read_dir("/proc").unwrap().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.uid() == uid && entry.file_name().to_string_lossy().parse::<u32>().is_ok() {
            n += std::fs::read_dir(entry.path().join("task")).map_or(1, |d| d.count() as u64);
        }
    }
    n
}

#[test]
fn pids_stops_a_fork_bomb_with_a_clear_message() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        // RLIMIT_NPROC counts the host uid's tasks. As root the build gets build ids of its
        // own, so concurrent tests' steps (the default build ids) do not count; an ordinary
        // uid runs other tests too, so leave room for what it runs now and may start meanwhile.
        let own_ids = "1879052345";
        let limit = if who.host_uid() == 0 {
            64
        } else {
            64 + 256 + tasks_of(who.host_uid())
        };
        let marker = 4_000_000 + std::process::id();
        t.config(&format!(
            "pipeline:\n  - runs: |\n      \
             /bin/sh -c 'n=0; while [ $n -lt 3000 ]; do sleep {marker} & n=$((n+1)); \
             echo $n > /var/cache/melange/started; done'\n      \
             echo LEAK: forked 3000 processes\n"
        ));
        let limit_arg = limit.to_string();
        let mut args = vec!["--no-network", "--pids", &limit_arg, "--timeout", "5m"];
        if who.host_uid() == 0 {
            args.extend(["--build-uid", own_ids]);
        }
        let run = t.build(who, &args);
        run.exit(1);
        assert!(!run.stderr.contains("| LEAK"), "{who:?}: {run}");
        let started: u64 = t.cached("started").trim().parse().unwrap();
        assert!(
            started < limit,
            "{who:?}: {started} processes under --pids {limit}"
        );
        assert!(run.stderr.contains("(`--pids`)"), "{who:?}: {run}");
        // The whole tree is gone with the step.
        assert!(
            pids_with(&format!("sleep {marker}")).is_empty(),
            "{who:?}: sleeps survived"
        );
    }
}

#[test]
fn memory_stops_a_memory_hog_with_a_clear_message() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        t.config(
            "pipeline:\n  - runs: |\n      \
             x=$(head -c 400000000 /dev/zero | tr '\\0' a)\n      \
             echo \"LEAK: allocated ${#x} bytes\"\n",
        );
        let run = t.build(who, &["--no-network", "--memory", "64M"]);
        run.exit(1);
        assert!(!run.stderr.contains("| LEAK"), "{who:?}: {run}");
        assert!(run.stderr.contains("(`--memory`)"), "{who:?}: {run}");
    }
}

#[test]
fn bad_limits_and_build_ids_are_refused_before_anything_runs() {
    for (flag, value, says) in [
        ("--pids", "0", "--pids"),
        ("--memory", "lots", "--memory"),
        ("--build-uid", "0", "host root"),
        ("--build-uid", "1000:0", "gid 0"),
    ] {
        let t = TestEnv::new();
        t.config("pipeline:\n  - runs: touch /var/cache/melange/ran\n");
        let run = t.build(Who::Root, &["--no-network", flag, value]);
        run.exit(2);
        assert!(run.stderr.contains(says), "{flag} {value}: {run}");
        assert!(!t.cache().join("ran").exists());
    }
}

/// As root, the workspace, the cache and the sources may sit below directories only root can
/// enter (a checkout under /root, a cache in a 0700 dir): melwrap stages them for the build
/// ids, and the build ids can write what they must.
#[test]
fn root_builds_work_below_directories_only_root_can_enter() {
    require_bwrap!();
    if crate::support::unpriv::skip_unless_root("a 0700 directory of root's") {
        return;
    }
    let t = TestEnv::new();
    let private = t.root().join("private");
    fs_err::create_dir(&private).unwrap();
    fs_err::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    fs_err::create_dir(private.join("src")).unwrap();
    fs_err::write(
        private.join("src/melange.yaml"),
        package_yaml(
            "private-pkg",
            "pipeline:\n  - runs: |\n      \
             cat input.txt > /var/cache/melange/copied\n      \
             cat \"$SSL_CERT_FILE\" > /var/cache/melange/ca\n      \
             mkdir -p \"${{targets.destdir}}/usr/share\" && cp input.txt \"${{targets.destdir}}/usr/share/\"\n",
        ),
    )
    .unwrap();
    fs_err::write(private.join("src/input.txt"), "from a private dir\n").unwrap();
    // A CA bundle only root can read, as `--ca-bundle` under /root would be.
    fs_err::write(private.join("ca.pem"), "MELWRAP-TEST-CA\n").unwrap();
    fs_err::set_permissions(
        private.join("ca.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let out = t
        .melwrap(Who::Root)
        .args(["build", "private/src/melange.yaml", "--no-network"])
        .args(["--cache-dir", "private/cache", "--out-dir", "private/out"])
        .args([
            "--workspace-dir",
            "private/ws",
            "--ca-bundle",
            "private/ca.pem",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        fs_err::read_to_string(private.join("cache/copied")).unwrap(),
        "from a private dir\n"
    );
    assert_eq!(
        owner(&private.join("cache/copied")),
        melwrap::sandbox::DEFAULT_BUILD_ID
    );
    assert_eq!(
        fs_err::read_to_string(private.join("cache/ca")).unwrap(),
        "MELWRAP-TEST-CA\n"
    );
}

/// Root builds get a process limit by default (the build ids run nothing else); rootless ones
/// keep the user's own, since the kernel would count all of the user's processes.
#[test]
fn root_builds_have_a_default_process_limit_and_rootless_ones_keep_their_own() {
    require_bwrap!();
    // SAFETY: getrlimit fills one rlimit.
    let own = unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NPROC, &mut lim);
        lim.rlim_cur
    };
    let own = if own == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        own.to_string()
    };
    for who in users() {
        let t = TestEnv::new();
        t.config("pipeline:\n  - runs: ulimit -u > /var/cache/melange/nproc\n");
        t.build(who, &["--no-network"]).ok();
        let expected = if who.host_uid() == 0 {
            melwrap::sandbox::limits::DEFAULT_ROOT_PIDS.to_string()
        } else {
            own.clone()
        };
        assert_eq!(t.cached("nproc").trim(), expected, "{who:?}");
    }
}
