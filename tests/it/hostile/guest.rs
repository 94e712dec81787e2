//! Hostile steps in a cached guest: whatever a step does in its writable guest (delete,
//! truncate or chmod guest binaries, write `/etc`, plant set-id files, go after the cached
//! copy on the host by the path its mount options name), the cached guest is byte for byte and
//! mode for mode what was assembled, and the next build starts from it. A guest changed on
//! disk is noticed and assembled again; `cache prune` never removes a guest in use. As root
//! and as uid 65534.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::repo::fixture::ARCH;
use crate::repo::guest_auto::{build_as, s, the_guest};
use crate::repo::guest_root::{busybox_repo, host_has_busybox};
use crate::support::{Run, unpriv, wait_until};

fn config(repo: &str, key: &Path, script: &str) -> String {
    let script: String = script.lines().map(|l| format!("      {l}\n")).collect();
    format!(
        "package:\n  name: hostile-guest\n  version: 1.0.0\n  epoch: 0\n  description: d\n  \
         copyright:\n    - license: MIT\nenvironment:\n  contents:\n    repositories:\n      \
         - {repo}\n    keyring:\n      - {}\n    packages:\n      - busybox-host\npipeline:\n  \
         - runs: |\n{script}",
        key.display()
    )
}

/// Every entry of `dir`: its mode, owner, and bytes (files) or target (symlinks).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, u32, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs_err::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs_err::symlink_metadata(&p).unwrap();
            let content = if m.is_file() {
                fs_err::read(&p).unwrap()
            } else if m.file_type().is_symlink() {
                fs_err::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                Vec::new()
            };
            if m.is_dir() {
                todo.push(p.clone());
            }
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            out.insert(rel, (m.mode(), m.uid(), m.gid(), content));
        }
    }
    out
}

/// The hostile step: `lower` is the cached guest's host path (also in its mount options).
fn hostile_script(lower: &Path) -> String {
    format!(
        r#"bb=/usr/bin/busybox
$bb mkdir /tmp/t && $bb cp $bb /tmp/t/busybox
# A shell from the copy, so the guest's busybox is not busy (it is truncated below).
exec /tmp/t/busybox sh <<'HOSTILE'
bb=/usr/bin/busybox
B=/tmp/t/busybox
echo planted >> /etc/passwd
echo planted > /etc/planted
$B cp $bb /usr/bin/setuid-copy
$B chmod 6755 /usr/bin/setuid-copy
$B chmod 4755 $bb
: > $bb
$B rm -f $bb
echo "mountinfo-lower: $($B grep -c '{lower}' /proc/self/mountinfo)"
if $B ls '{lower}' >/dev/null 2>&1; then echo REACHED-LOWER; fi
if echo x > '{lower}/reached' 2>/dev/null; then echo WROTE-LOWER; fi
if $B ls '{cache}' >/dev/null 2>&1; then echo REACHED-CACHE; fi
echo "setuid-copy: $($B stat -c %a /usr/bin/setuid-copy) busybox-gone: $([ -e $bb ] || echo yes)"
$B rm -rf /usr/lib /etc
echo hostile-done
HOSTILE"#,
        lower = lower.display(),
        cache = lower.parent().unwrap().display(),
    )
}

const CHECK: &str = r#"bb=/usr/bin/busybox
test -x $bb
test ! -e /etc/planted
test ! -e /usr/bin/setuid-copy
test "$($bb grep -c planted /etc/passwd)" = 0
echo "pristine-ok"
"#;

/// Waits for `/home/build/go` (the test creates it), after saying it started.
const WAIT: &str = r#"bb=/usr/bin/busybox
: > /home/build/started
i=0
while [ ! -e /home/build/go ]; do
  $bb sleep 0.1; i=$((i+1)); [ $i -lt 600 ] || exit 1
done
echo waited
"#;

#[test]
fn hostile_steps_leave_the_cached_guest_unchanged_a_changed_guest_is_rebuilt_and_prune_waits() {
    if !host_has_busybox() {
        eprintln!("skipped: no busybox on this host to package");
        return;
    }
    let t = tempfile::Builder::new()
        .prefix("melwrap-hostile-guest-")
        .tempdir()
        .unwrap();
    fs_err::set_permissions(t.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let d = t.path();
    let server = busybox_repo(d);
    let key = d.join("guest.rsa.pub");
    fs_err::set_permissions(&key, PermissionsExt::from_mode(0o644)).unwrap();
    let runs = unpriv::runners();
    for (who, uid) in runs {
        let (home, bin) = unpriv::home_and_binary(d, who, uid);
        let apk_cache = home.join("apk-cache");
        let cfg = home.join("melange.yaml");
        let mut n = 0;
        let mut build = |script: &str, extra: &[&str]| -> (Run, String) {
            n += 1;
            fs_err::write(&cfg, config(&server.url("os"), &key, script)).unwrap();
            fs_err::set_permissions(&cfg, PermissionsExt::from_mode(0o644)).unwrap();
            let (cache, out) = (home.join("cache"), home.join(format!("out{n}")));
            let mut args = vec!["--arch", ARCH, "--apk-cache-dir", s(&apk_cache)];
            args.extend(["--cache-dir", s(&cache), "--out-dir", s(&out)]);
            args.extend(extra);
            args.push(s(&cfg));
            let run = build_as(uid, &bin, &args);
            let all = format!("{}{}", run.stdout, run.stderr);
            (run, all)
        };

        let (run, all) = build("echo first", &[]);
        assert_eq!(run.code, Some(0), "{who}: {all}");
        assert!(all.contains("packages) assembled, setup"), "{who}: {all}");
        let guest = the_guest(&apk_cache);
        let assembled = snapshot(&guest);
        assert!(assembled.contains_key(Path::new("usr/bin/busybox")));

        // The hostile build runs to its end in a writable guest...
        let (run, all) = build(&hostile_script(&guest), &["--no-network"]);
        assert_eq!(run.code, Some(0), "{who}: {all}");
        assert!(all.contains("hostile-done"), "{who}: {all}");
        assert!(
            all.contains("setuid-copy: 6755 busybox-gone: yes"),
            "{who}: {all}"
        );
        assert!(
            all.contains("packages) from the cache, setup"),
            "{who}: {all}"
        );
        for reached in ["REACHED-LOWER", "WROTE-LOWER", "REACHED-CACHE"] {
            assert!(!all.contains(reached), "{who}: {reached}: {all}");
        }
        // ...and the cached guest is exactly as assembled.
        assert_eq!(the_guest(&apk_cache), guest);
        let after = snapshot(&guest);
        assert!(
            after == assembled,
            "{who}: the cached guest changed: {:?}",
            after
                .iter()
                .filter(|(p, v)| assembled.get(*p) != Some(v))
                .map(|(p, _)| p)
                .collect::<Vec<_>>()
        );
        assert!(after.values().all(|(mode, ..)| mode & 0o6000 == 0), "{who}");

        // The next build starts from the pristine guest.
        let (run, all) = build(CHECK, &["--no-network"]);
        assert_eq!(run.code, Some(0), "{who}: {all}");
        assert!(all.contains("pristine-ok"), "{who}: {all}");

        // A guest changed on disk is said and assembled again, not used.
        let passwd = guest.join("etc/passwd");
        let mut text = fs_err::read_to_string(&passwd).unwrap();
        text.push_str("corrupt:x:0:0::/:/bin/sh\n");
        fs_err::write(&passwd, text).unwrap();
        let (run, all) = build(CHECK, &["--no-network"]);
        assert_eq!(run.code, Some(0), "{who}: {all}");
        assert!(
            all.contains("etc/passwd changed since it was assembled: assembling it again"),
            "{who}: {all}"
        );
        assert!(all.contains("packages) assembled, setup"), "{who}: {all}");
        assert!(!fs_err::read_to_string(&passwd).unwrap().contains("corrupt"));

        // `cache prune` leaves a guest in use alone, and removes it once unused.
        let ws = home.join("ws-wait");
        fs_err::write(&cfg, config(&server.url("os"), &key, WAIT)).unwrap();
        let mut cmd = match uid {
            Some(uid) => unpriv::as_user(uid, &bin),
            None => Command::new(&bin),
        };
        let waiting = cmd
            .arg("build")
            .args([
                "--no-network",
                "--arch",
                ARCH,
                "--apk-cache-dir",
                s(&apk_cache),
            ])
            .args(["--cache-dir", s(&home.join("cache"))])
            .args(["--out-dir", s(&home.join("out-wait"))])
            .args(["--workspace-dir", s(&ws), s(&cfg)])
            .env_remove("MELWRAP_CA_BUNDLE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = ws.join(ARCH).join("started");
        assert!(
            wait_until(Duration::from_secs(60), || started.exists()),
            "{who}: the waiting build did not start"
        );
        let prune_cache = home.join("prune-cache");
        fs_err::create_dir_all(&prune_cache).unwrap();
        if let Some(uid) = uid {
            std::os::unix::fs::chown(&prune_cache, Some(uid), Some(uid)).unwrap();
        }
        let prune = |what: &str| {
            let mut cmd = match uid {
                Some(uid) => unpriv::as_user(uid, &bin),
                None => Command::new(&bin),
            };
            let run = Run::from(
                cmd.args(["cache", "prune", "--older-than", "0s"])
                    .args(["--cache-dir", s(&prune_cache)])
                    .args(["--apk-cache-dir", s(&apk_cache)])
                    .output()
                    .unwrap(),
            );
            assert_eq!(
                run.code,
                Some(0),
                "{who} {what}: {}{}",
                run.stdout,
                run.stderr
            );
            run.stdout
        };
        let mut cmd = match uid {
            Some(uid) => unpriv::as_user(uid, &bin),
            None => Command::new(&bin),
        };
        let info = Run::from(
            cmd.args(["cache", "info", "--cache-dir", s(&prune_cache)])
                .args(["--apk-cache-dir", s(&apk_cache)])
                .output()
                .unwrap(),
        );
        assert_eq!(info.code, Some(0), "{who}: {}", info.stderr);
        let short = &guest.file_name().unwrap().to_string_lossy()[..12];
        assert!(
            info.stdout.contains("in 1 guest)") && info.stdout.contains(short),
            "{who}: {}",
            info.stdout
        );
        let out = prune("in use");
        assert!(out.contains("in use by a build or test"), "{who}: {out}");
        assert!(guest.join("usr/bin/busybox").is_file(), "{who}: {out}");
        fs_err::write(ws.join(ARCH).join("go"), "").unwrap();
        let run = Run::from(waiting.wait_with_output().unwrap());
        assert_eq!(run.code, Some(0), "{who}: {}", run.stderr);
        let out = prune("unused");
        assert!(out.contains("removed guest"), "{who}: {out}");
        assert!(!guest.exists(), "{who}: {out}");
    }
}
