//! `--rootfs auto` (the default) and `apk`: a config that names repositories and packages runs
//! its steps in a guest assembled from them, cached under `<apk-cache-dir>/guests/<key>` and
//! reused by the next build; one without runs on the host's root and says why. Packages are
//! the host's busybox built by melwrap (see `guest_root.rs`), served over loopback HTTP.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::repo::fixture::ARCH;
use crate::repo::guest_root::{busybox_repo, host_has_busybox};
use crate::support::Run;
use crate::support::unpriv;

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A step that passes only in the guest: busybox there, the host's bwrap absent.
fn guest_config(repo: &str, key: &Path) -> String {
    format!(
        r#"package:
  name: in-auto-guest
  version: 1.0.0
  epoch: 0
  description: runs in the guest its environment names
  copyright:
    - license: MIT
environment:
  contents:
    repositories:
      - {repo}
    keyring:
      - {key}
    packages:
      - busybox-host
pipeline:
  - runs: |
      # The guest is writable everywhere, as melange's is.
      test ! -e /usr/bin/bwrap
      bb=/usr/bin/busybox
      $bb mkdir -p /usr/local/share/x /root/.config /var/tmp/x
      echo usr-local > /usr/local/share/x/marker
      echo root-home > /root/.config/marker
      echo "in-guest-ok uid=$($bb id -u) $($bb cat /usr/local/share/x/marker /root/.config/marker)"
      # Nothing a step does reaches the cached copy: the next build checks it is pristine.
      echo planted > /etc/passwd
      $bb cp $bb /usr/bin/planted-setuid
      $bb chmod 4755 /usr/bin/planted-setuid
      $bb mkdir /tmp/t && $bb cp $bb /tmp/t/busybox
      /tmp/t/busybox rm -f $bb
      test ! -e $bb
test:
  pipeline:
    - runs: |
        test ! -e /usr/bin/bwrap
        echo "test-in-guest-ok"
"#,
        key = key.display()
    )
}

const HOST_CONFIG: &str = "package:
  name: on-host
  version: 1.0.0
  epoch: 0
  description: names no repositories
  copyright:
    - license: MIT
pipeline:
  - runs: echo on-host
";

/// `melwrap build` as `uid` (the suite's own when it is that uid) with `args`.
pub fn build_as(uid: Option<u32>, bin: &Path, args: &[&str]) -> Run {
    let mut cmd = match uid {
        Some(uid) => unpriv::as_user(uid, bin),
        None => Command::new(bin),
    };
    Run::from(
        cmd.arg("build")
            .args(args)
            .env_remove("MELWRAP_CA_BUNDLE")
            .output()
            .unwrap(),
    )
}

/// The one guest under `apk_cache/guests`: its path.
pub fn the_guest(apk_cache: &Path) -> PathBuf {
    let guests: Vec<PathBuf> = fs_err::read_dir(apk_cache.join("guests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(guests.len(), 1, "{guests:?}");
    let name = guests[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}"
    );
    guests[0].clone()
}

#[test]
fn auto_runs_steps_in_a_cached_guest_as_root_and_as_nobody() {
    if !host_has_busybox() {
        eprintln!("skipped: no busybox on this host to package");
        return;
    }
    let t = tempfile::Builder::new()
        .prefix("melwrap-guest-auto-")
        .tempdir()
        .unwrap();
    fs_err::set_permissions(t.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let d = t.path();
    let server = busybox_repo(d);
    let key = d.join("guest.rsa.pub");
    fs_err::set_permissions(&key, PermissionsExt::from_mode(0o644)).unwrap();
    let own = env!("CARGO_BIN_EXE_melwrap");
    let runs = unpriv::runners();
    for (who, uid) in runs {
        let (home, bin) = unpriv::home_and_binary(d, who, uid);
        let config = home.join("melange.yaml");
        fs_err::write(&config, guest_config(&server.url("os"), &key)).unwrap();
        fs_err::set_permissions(&config, PermissionsExt::from_mode(0o644)).unwrap();
        let apk_cache = home.join("apk-cache");
        let args = |n: &str| -> Vec<String> {
            [
                "--arch",
                ARCH,
                "--apk-cache-dir",
                s(&apk_cache),
                "--cache-dir",
                s(&home.join("cache")),
                "--out-dir",
                s(&home.join(format!("out{n}"))),
                "--workspace-dir",
                s(&home.join(format!("ws{n}"))),
                s(&config),
            ]
            .iter()
            .map(|a| a.to_string())
            .collect()
        };
        let first_args = args("1");
        let first: Vec<&str> = first_args.iter().map(String::as_str).collect();
        let b = build_as(uid, &bin, &first);
        let all = format!("{}{}", b.stdout, b.stderr);
        assert_eq!(b.code, Some(0), "{who}: {all}");
        assert!(
            all.contains("in-guest-ok uid=")
                && all.contains("usr-local\n")
                && all.contains("root-home"),
            "{who}: {all}"
        );
        assert!(all.contains("packages) assembled, setup"), "{who}: {all}");
        let guest = the_guest(&apk_cache);
        assert!(guest.join("usr/bin/busybox").is_file());
        let before = fs_err::metadata(&guest).unwrap();

        // The second build resolves offline from the warm apk cache and reuses the guest.
        let mut second: Vec<String> = args("2");
        second.insert(0, "--no-network".into());
        let second: Vec<&str> = second.iter().map(String::as_str).collect();
        let b = build_as(uid, &bin, &second);
        let all = format!("{}{}", b.stdout, b.stderr);
        assert_eq!(b.code, Some(0), "{who}: {all}");
        assert!(all.contains("in-guest-ok uid="), "{who}: {all}");
        assert!(
            all.contains("packages) from the cache, setup"),
            "{who}: {all}"
        );
        assert_eq!(the_guest(&apk_cache), guest);
        let after = fs_err::metadata(&guest).unwrap();
        assert_eq!(
            (before.ino(), before.mtime(), before.mtime_nsec()),
            (after.ino(), after.mtime(), after.mtime_nsec()),
            "{who}: the cached guest was assembled again"
        );
        assert!(guest.join("usr/bin/busybox").is_file());
        let passwd = fs_err::read_to_string(guest.join("etc/passwd")).unwrap();
        assert!(passwd.starts_with("root:x:0:0:"), "{who}: {passwd}");

        // `melwrap test` runs the config's test in a guest of its own (the guest's packages
        // and the package under test, from the out dir): assembled once, then cached.
        for expected in ["assembled", "from the cache"] {
            let mut cmd = match uid {
                Some(uid) => unpriv::as_user(uid, &bin),
                None => Command::new(&bin),
            };
            let run = Run::from(
                cmd.arg("test")
                    .args(["--arch", ARCH, "--apk-cache-dir", s(&apk_cache)])
                    .args(["-r", &server.url("os"), "-k", s(&key)])
                    .args(["--test-package-append", "busybox-host"])
                    .args(["--cache-dir", s(&home.join("cache"))])
                    .args(["--out-dir", s(&home.join("out1")), s(&config)])
                    .env_remove("MELWRAP_CA_BUNDLE")
                    .output()
                    .unwrap(),
            );
            let all = format!("{}{}", run.stdout, run.stderr);
            assert_eq!(run.code, Some(0), "{who}: {all}");
            assert!(all.contains("test-in-guest-ok"), "{who}: {all}");
            assert!(
                all.contains("`in-auto-guest` is tested in the guest")
                    && all.contains(&format!("(3 packages) {expected}")),
                "{who}: {all}"
            );
        }
    }

    // Two builds of the same set on a fresh apk cache: one assembles, the other waits for
    // the lock and reuses its guest (whichever comes first).
    let home = d.join("concurrent");
    fs_err::create_dir(&home).unwrap();
    // The config (so the source dir) in a directory of its own: each build copies its source
    // dir, which must not hold the other build's workspace while that one is written.
    fs_err::create_dir(home.join("src")).unwrap();
    let config = home.join("src/melange.yaml");
    fs_err::write(&config, guest_config(&server.url("os"), &key)).unwrap();
    let apk_cache = home.join("apk-cache");
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|n| {
            Command::new(own)
                .arg("build")
                .args(["--arch", ARCH, "--apk-cache-dir", s(&apk_cache)])
                .args(["--cache-dir", s(&home.join(format!("cache-{n}")))])
                .args(["--out-dir", s(&home.join(format!("out-{n}")))])
                .args([
                    "--workspace-dir",
                    s(&home.join(format!("ws-{n}"))),
                    s(&config),
                ])
                .env_remove("MELWRAP_CA_BUNDLE")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<String> = children
        .into_iter()
        .map(|c| {
            let run = Run::from(c.wait_with_output().unwrap());
            assert_eq!(run.code, Some(0), "{}", run.stderr);
            format!("{}{}", run.stdout, run.stderr)
        })
        .collect();
    let assembled = outputs
        .iter()
        .filter(|o| o.contains("packages) assembled, setup"))
        .count();
    let reused = outputs
        .iter()
        .filter(|o| o.contains("packages) from the cache, setup"))
        .count();
    assert_eq!((assembled, reused), (1, 1), "{outputs:#?}");
    the_guest(&apk_cache);
}

fn host_only_config(d: &Path) -> PathBuf {
    let config = d.join("melange.yaml");
    fs_err::write(&config, HOST_CONFIG).unwrap();
    config
}

#[test]
fn auto_without_repositories_runs_on_the_host_and_says_why() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let config = host_only_config(d);
    let b = build_as(
        None,
        Path::new(env!("CARGO_BIN_EXE_melwrap")),
        &[
            "--arch",
            ARCH,
            "--cache-dir",
            s(&d.join("cache")),
            "--out-dir",
            s(&d.join("out")),
            "--workspace-dir",
            s(&d.join("ws")),
            s(&config),
        ],
    );
    let all = format!("{}{}", b.stdout, b.stderr);
    assert_eq!(b.code, Some(0), "{all}");
    assert!(all.contains("on-host"), "{all}");
    assert!(
        all.contains("root: the host's, read-only: the config names no repositories or packages")
            && all.contains("--repository-append"),
        "{all}"
    );
    assert!(all.contains("(host root)"), "{all}");
}

#[test]
fn rootfs_apk_without_repositories_is_bad_input() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let config = host_only_config(d);
    let b = build_as(
        None,
        Path::new(env!("CARGO_BIN_EXE_melwrap")),
        &[
            "--rootfs",
            "apk",
            "--cache-dir",
            s(&d.join("cache")),
            "--out-dir",
            s(&d.join("out")),
            s(&config),
        ],
    );
    assert_eq!(b.code, Some(2), "{}", b.stderr);
    assert!(
        b.stderr
            .contains("--rootfs apk: nothing to assemble a guest from"),
        "{}",
        b.stderr
    );
    assert!(
        !d.join("cache").exists(),
        "nothing is created before the error"
    );
}

#[test]
fn a_guest_that_cannot_be_set_up_is_bad_input_naming_the_way_out() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let config = d.join("melange.yaml");
    let text = HOST_CONFIG.replace(
        "pipeline:",
        "environment:\n  contents:\n    repositories:\n      - http://127.0.0.1:9/os\n    \
         packages:\n      - busybox\npipeline:",
    );
    fs_err::write(&config, text).unwrap();
    let b = build_as(
        None,
        Path::new(env!("CARGO_BIN_EXE_melwrap")),
        &[
            "--no-network",
            "--ignore-signatures",
            "--apk-cache-dir",
            s(&d.join("apk-cache")),
            "--cache-dir",
            s(&d.join("cache")),
            "--out-dir",
            s(&d.join("out")),
            s(&config),
        ],
    );
    assert_eq!(b.code, Some(2), "{}", b.stderr);
    assert!(
        b.stderr.contains("--rootfs auto: cannot set up the guest")
            && b.stderr.contains("--rootfs host"),
        "{}",
        b.stderr
    );
    assert!(
        !d.join("cache").exists(),
        "nothing is created before the error"
    );
}

#[test]
fn writing_usr_local_and_root_on_the_host_root_fails_with_a_hint_naming_guests() {
    let t = tempfile::Builder::new()
        .prefix("melwrap-host-ro-")
        .tempdir()
        .unwrap();
    fs_err::set_permissions(t.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let d = t.path();
    let text = HOST_CONFIG.replace(
        "  - runs: echo on-host",
        "  - runs: |\n      mkdir -p /usr/local/share/x\n      mkdir -p /root/.config",
    );
    let runs = unpriv::runners();
    for (who, uid) in runs {
        let (home, bin) = unpriv::home_and_binary(d, who, uid);
        let config = home.join("melange.yaml");
        fs_err::write(&config, &text).unwrap();
        fs_err::set_permissions(&config, PermissionsExt::from_mode(0o644)).unwrap();
        let b = build_as(
            uid,
            &bin,
            &[
                "--rootfs",
                "host",
                "--arch",
                ARCH,
                "--cache-dir",
                s(&home.join("cache")),
                "--out-dir",
                s(&home.join("out")),
                s(&config),
            ],
        );
        let all = format!("{}{}", b.stdout, b.stderr);
        assert_eq!(b.code, Some(1), "{who}: {all}");
        assert!(all.contains("Read-only file system"), "{who}: {all}");
        assert!(
            all.contains("hint: the step ran on the host's root, which is read-only")
                && all.contains("environment.contents"),
            "{who}: {all}"
        );
    }
}

#[test]
fn a_dry_run_in_a_guest_prints_a_script_that_runs_when_pasted() {
    if !host_has_busybox() {
        eprintln!("skipped: no busybox on this host to package");
        return;
    }
    let t = tempfile::Builder::new()
        .prefix("melwrap-guest-dry-")
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
        let config = home.join("melange.yaml");
        let text = guest_config(&server.url("os"), &key).replace(
            "      bb=/usr/bin/busybox\n",
            "      bb=/usr/bin/busybox\n      $bb mkdir -p /usr/local\n      \
             echo pasted > /usr/local/pasted\n      \
             echo \"pasted-ok $($bb cat /usr/local/pasted)\"\n",
        );
        fs_err::write(&config, text).unwrap();
        fs_err::set_permissions(&config, PermissionsExt::from_mode(0o644)).unwrap();
        let apk_cache = home.join("apk-cache");
        let b = build_as(
            uid,
            &bin,
            &[
                "--dry-run",
                "--arch",
                ARCH,
                "--apk-cache-dir",
                s(&apk_cache),
                "--cache-dir",
                s(&home.join("cache")),
                "--out-dir",
                s(&home.join("out")),
                s(&config),
            ],
        );
        assert_eq!(b.code, Some(0), "{who}: {}", b.stderr);
        assert!(b.stdout.contains("GUEST="), "{who}: {}", b.stdout);
        assert!(b.stdout.contains(" rootfs --arch "), "{who}: {}", b.stdout);
        assert!(b.stdout.contains("mount -t overlay"), "{who}: {}", b.stdout);
        let guest = the_guest(&apk_cache);
        let before = fs_err::read(guest.join("etc/passwd")).unwrap();
        let script = home.join("pasted.sh");
        fs_err::write(&script, format!("set -e\n{}", b.stdout)).unwrap();
        fs_err::set_permissions(&script, PermissionsExt::from_mode(0o644)).unwrap();
        let mut cmd = match uid {
            Some(uid) => unpriv::as_user(uid, "sh"),
            None => Command::new("sh"),
        };
        let run = Run::from(cmd.arg(&script).output().unwrap());
        let all = format!("{}{}", run.stdout, run.stderr);
        assert_eq!(run.code, Some(0), "{who}: {all}\n{}", b.stdout);
        assert!(all.contains("pasted-ok pasted"), "{who}: {all}");
        assert!(all.contains("in-guest-ok uid="), "{who}: {all}");
        assert_eq!(fs_err::read(guest.join("etc/passwd")).unwrap(), before);
        assert!(guest.join("usr/bin/busybox").is_file());
        // The dry run kept its layers for the script (said on stderr): remove them.
        let layers = b
            .stderr
            .split("writable layers ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .map(PathBuf::from)
            .expect("the dry run names its layers");
        assert!(
            layers.join("upper/usr/local/pasted").is_file(),
            "{layers:?}"
        );
        // overlayfs leaves `work/work` mode 000: open it up for an unprivileged test run.
        Command::new("chmod")
            .arg("-R")
            .arg("u+rwX")
            .arg(&layers)
            .status()
            .unwrap();
        fs_err::remove_dir_all(&layers).unwrap();
    }
}
