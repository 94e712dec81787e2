//! What melwrap does on the host with trees a step wrote (the cache, the workspace, a kept or
//! reused workspace): no set-id bit survives, however deep or unreadable the step made its
//! hiding place; no symlink a step planted (or swaps in while the host side works) makes
//! melwrap create, chmod or write a host file. As root and as uid 65534.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::build::common::*;

/// Plants `sh` copies with mode 6755 in `$1`: at the top, below a path longer than PATH_MAX
/// (150 levels of 60-character names, reached with relative `cd`s), and inside a directory
/// then made mode 000. Ends by opening up `$1` itself (chmod 777).
const PLANT: &str = r#"plant() {
  set -e
  cd "$1"
  cp /bin/sh top-sh; chmod 6755 top-sh
  mkdir -p locked/inner; cp /bin/sh locked/inner/sh; chmod 6755 locked/inner/sh
  chmod 000 locked/inner locked
  mkdir deep; cd deep
  n=dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
  i=0
  while [ $i -lt 150 ]; do mkdir $n; cd $n; i=$((i+1)); done
  cp /bin/sh sh; chmod 6755 sh
  echo "planted $(stat -c %a sh)"
  cd "$1"; chmod 777 "$1"
}"#;

fn indent(script: &str) -> String {
    script.lines().map(|l| format!("      {l}\n")).collect()
}

/// Files with a setuid or setgid bit below `dir`, found by `find` (which walks deep trees
/// through descriptors); panics when `find` cannot read everything (an unreadable directory
/// could hide one).
fn set_id_files(dir: &Path) -> Vec<String> {
    let out = Command::new("find")
        .arg(dir)
        .args(["-type", "f", "-perm", "/6000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "find could not read all of {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn set_id_files_hidden_deep_or_locked_in_the_cache_and_kept_workspaces_lose_their_bits() {
    require_bwrap!();
    for who in users() {
        // A failed build (temporary workspace kept), and a successful one with
        // `--workspace-dir` (kept too).
        for (outcome, extra) in [
            ("exit 3", &[][..]),
            ("true", &["--workspace-dir", "ws"][..]),
        ] {
            let t = TestEnv::new();
            t.config(&format!(
                "pipeline:\n  - runs: |\n{}",
                indent(&format!(
                    "{PLANT}\n(plant /var/cache/melange)\n(plant /home/build)\n{outcome}\n"
                ))
            ));
            let mut args = vec!["--no-network"];
            args.extend(extra);
            let run = t.build(who, &args);
            assert_eq!(
                run.stderr.matches("| planted 6755").count(),
                2,
                "{who:?}:\n{run}"
            );
            let kept = if outcome == "true" {
                run.ok();
                let ws = t.root().join("ws");
                let arch = std::fs::read_dir(&ws).unwrap().next().unwrap().unwrap();
                arch.path()
            } else {
                run.exit(1);
                run.kept_workspace()
                    .expect("the failed build keeps its workspace")
            };
            assert_eq!(
                set_id_files(&t.cache()),
                Vec::<String>::new(),
                "{who:?} {outcome}: cache\n{run}"
            );
            assert_eq!(
                set_id_files(&kept),
                Vec::<String>::new(),
                "{who:?} {outcome}: kept workspace\n{run}"
            );
            // The step opened both roots to everyone; melwrap made them owner-only again
            // (the cache was created by melwrap, 0700).
            assert_eq!(mode(&t.cache()), 0o700, "{who:?} {outcome}: cache mode");
            assert_eq!(mode(&kept), 0o700, "{who:?} {outcome}: workspace mode");
            assert!(
                run.stderr
                    .contains("cleared the setuid/setgid bit of 3 file(s)"),
                "{who:?} {outcome}:\n{run}"
            );
        }
    }
}

/// A host directory and file a step points links at; owned by `uid`, so that melwrap run as
/// that user could write them if it followed the links.
struct Victims {
    dir: PathBuf,
    file: PathBuf,
    missing: PathBuf,
}

fn victims(t: &TestEnv, uid: u32) -> Victims {
    let dir = t.root().join("victim-dir");
    std::fs::create_dir(&dir).unwrap();
    let file = t.root().join("victim-file");
    std::fs::write(&file, "host data\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o4755)).unwrap();
    for p in [&dir, &file] {
        std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
    }
    // chown clears the setuid bit; set it again.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o4755)).unwrap();
    Victims {
        missing: dir.join("created-through-a-link"),
        dir,
        file,
    }
}

impl Victims {
    #[track_caller]
    fn assert_untouched(&self, context: &str) {
        assert_eq!(
            std::fs::read_to_string(&self.file).unwrap(),
            "host data\n",
            "{context}"
        );
        assert_eq!(mode(&self.file), 0o4755, "{context}: victim file mode");
        let names: Vec<_> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            names.is_empty(),
            "{context}: created in the victim dir: {names:?}"
        );
    }
}

#[test]
fn links_a_step_plants_for_the_lock_file_and_cache_areas_are_refused() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        let v = victims(&t, who.host_uid());
        // The step plants a link where older melwraps kept their lock file, and replaces the
        // cargo area with a link to a host directory.
        t.config(&format!(
            "pipeline:\n  - runs: |\n      cd /var/cache/melange\n      \
             rm -f .melwrap.lock && ln -s {missing} .melwrap.lock\n      \
             mkdir -p cargo && rm -rf cargo && ln -s {dir} cargo\n      \
             ln -s {file} set-id-link\n",
            missing = v.missing.display(),
            dir = v.dir.display(),
            file = v.file.display(),
        ));
        t.build(who, &["--no-network"]).ok();
        v.assert_untouched(&format!("{who:?}: first build"));
        // The next build meets the links: the lock is the directory's own, so the lock-file
        // link is never opened; cargo's directories are not created through the link.
        let again = t.build(who, &["--no-network"]);
        v.assert_untouched(&format!("{who:?}: second build\n{again}"));
        assert_ne!(again.code, Some(0), "{who:?}:\n{again}");
        assert!(
            again
                .stderr
                .contains("cargo: is a symbolic link; refusing to follow it"),
            "{who:?}:\n{again}"
        );
        assert!(
            t.cache().join(".melwrap.lock").is_symlink(),
            "the planted link is left alone, not followed or replaced"
        );
    }
}

/// While `melwrap cache preload` copies a seed into the cache, a host thread keeps swapping
/// the cache's `area` directory with a link to a host directory, and the lock file with a
/// link to a host path. Whatever the interleaving, nothing is created or written outside.
#[test]
fn swapping_links_into_the_cache_while_preload_runs_redirects_nothing() {
    for who in users() {
        let uid = who.host_uid();
        let t = TestEnv::new();
        let v = victims(&t, uid);
        let seed = t.root().join("seed");
        for i in 0..400 {
            let p = seed.join(format!("area/sub{}/f{i}", i % 20));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "seed").unwrap();
        }
        for round in 0..6 {
            let cache = t.root().join(format!("cache{round}"));
            std::fs::create_dir_all(cache.join("area")).unwrap();
            std::fs::write(cache.join(".melwrap.lock"), "").unwrap();
            symlink(&v.dir, cache.join("area.link")).unwrap();
            symlink(&v.missing, cache.join("lock.link")).unwrap();
            for p in [".", "area", "area.link", ".melwrap.lock", "lock.link"] {
                std::os::unix::fs::lchown(cache.join(p), Some(uid), Some(uid)).unwrap();
            }
            let stop = AtomicBool::new(false);
            let run = std::thread::scope(|s| {
                const PAIRS: &[(&str, &str)] =
                    &[("area", "area.link"), (".melwrap.lock", "lock.link")];
                s.spawn(|| swap_until(&cache, PAIRS, &stop));
                let out = t
                    .melwrap(who)
                    .args(["cache", "preload", "--cache-source"])
                    .arg(&seed)
                    .arg("--cache-dir")
                    .arg(&cache)
                    .output()
                    .unwrap();
                stop.store(true, Ordering::Relaxed);
                out
            });
            let stderr = String::from_utf8_lossy(&run.stderr);
            assert!(!stderr.contains("panicked"), "{who:?}: {stderr}");
            if !run.status.success() {
                assert!(
                    stderr.contains("symbolic link; refusing to follow it")
                        || stderr.contains("No such file"),
                    "{who:?} round {round}: {stderr}"
                );
            }
            v.assert_untouched(&format!("{who:?} round {round}: {stderr}"));
        }
    }
}

/// A build's set-id scrub runs over a cache whose `area` directory (full of set-id files of
/// the user's) a host thread keeps swapping with a link to a host directory holding set-id
/// files of the same names: the host files keep their bits.
#[test]
fn swapping_links_into_the_cache_while_the_scrub_runs_changes_no_host_file() {
    require_bwrap!();
    for who in users() {
        const FILES: usize = 1000;
        let uid = who.host_uid();
        let t = TestEnv::new();
        let v = victims(&t, uid);
        let cache = t.make_cache();
        std::fs::create_dir(cache.join("area")).unwrap();
        for i in 0..FILES {
            for dir in [cache.join("area"), v.dir.clone()] {
                let f = dir.join(format!("f{i}"));
                std::fs::write(&f, "x").unwrap();
                std::os::unix::fs::lchown(&f, Some(uid), Some(uid)).unwrap();
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o4755)).unwrap();
            }
        }
        symlink(&v.dir, cache.join("area.link")).unwrap();
        for p in [".", "area", "area.link"] {
            std::os::unix::fs::lchown(cache.join(p), Some(uid), Some(uid)).unwrap();
        }
        t.config("pipeline:\n  - runs: \"true\"\n");
        for round in 0..8 {
            let stop = AtomicBool::new(false);
            let run = std::thread::scope(|s| {
                s.spawn(|| swap_until(&cache, &[("area", "area.link")], &stop));
                let run = t.build(who, &["--no-network"]);
                stop.store(true, Ordering::Relaxed);
                run
            });
            assert!(!run.stderr.contains("panicked"), "{who:?}:\n{run}");
            let host_set_id = (0..FILES)
                .filter(|i| mode(&v.dir.join(format!("f{i}"))) == 0o4755)
                .count();
            assert_eq!(
                host_set_id, FILES,
                "{who:?} round {round}: host files lost bits\n{run}"
            );
        }
    }
}

/// Swaps each pair of names (`area` <-> `area.link`) in a tight loop until `stop` (bounded),
/// leaving the real entries in place at the end.
fn swap_until(cache: &Path, pairs: &[(&str, &str)], stop: &AtomicBool) {
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) && n < 2_000_000 {
        for (real, link) in pairs {
            let (a, b) = (cache.join(real), cache.join(link));
            exchange(&a, &b);
            exchange(&a, &b);
        }
        n += 1;
    }
}

/// `renameat2(RENAME_EXCHANGE)`: the two names swap atomically, so each always exists.
fn exchange(a: &Path, b: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let ca = std::ffi::CString::new(a.as_os_str().as_bytes()).unwrap();
    let cb = std::ffi::CString::new(b.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid NUL-terminated paths.
    unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        );
    }
}

#[test]
fn populating_a_reused_workspace_never_writes_through_links_an_earlier_build_left() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        let v = victims(&t, who.host_uid());
        t.write("notes.txt", "from the source\n");
        t.write("sub/file.txt", "from the source\n");
        // The first build plants links where the source has a file and a directory, and
        // fails (so its workspace is kept and holds no packaged output).
        t.config(&format!(
            "pipeline:\n  - runs: |\n      cd /home/build\n      \
             rm -rf notes.txt sub melange-out\n      \
             ln -s {file} notes.txt\n      ln -s {dir} sub\n      exit 1\n",
            file = v.file.display(),
            dir = v.dir.display(),
        ));
        t.build(who, &["--no-network", "--workspace-dir", "ws"])
            .exit(1);
        v.assert_untouched(&format!("{who:?}: first build"));
        t.config("pipeline:\n  - runs: cat notes.txt sub/file.txt\n");
        let again = t.build(who, &["--no-network", "--workspace-dir", "ws"]);
        v.assert_untouched(&format!("{who:?}: second build\n{again}"));
        again.ok();
        assert_eq!(
            again.stderr.matches("from the source").count(),
            2,
            "{who:?}: the step read the copies:\n{again}"
        );
    }
}

#[test]
fn a_destdir_path_a_step_replaced_with_a_link_is_refused() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        let v = victims(&t, who.host_uid());
        // The main package's step points `melange-out` at a host directory; the subpackage's
        // destdir would be created through it. It also plants a set-id file in the cache,
        // which must be cleared although the build ends in an error.
        t.config(&format!(
            "pipeline:\n  - runs: |\n      cd /home/build\n      \
             cp /bin/sh /var/cache/melange/sh\n      chmod 6755 /var/cache/melange/sh\n      \
             rm -rf melange-out\n      ln -s {dir} melange-out\n\
             subpackages:\n  - name: test-pkg-sub\n    pipeline:\n      - runs: \"true\"\n",
            dir = v.dir.display(),
        ));
        let run = t.build(who, &["--no-network"]);
        v.assert_untouched(&format!("{who:?}:\n{run}"));
        run.exit(1);
        assert!(
            run.stderr
                .contains("melange-out: is a symbolic link; refusing to follow it"),
            "{who:?}:\n{run}"
        );
        assert_eq!(
            set_id_files(&t.cache()),
            Vec::<String>::new(),
            "{who:?}:\n{run}"
        );
        let kept = run.kept_workspace().expect("the workspace is kept");
        assert_eq!(mode(&kept), 0o700, "{who:?}");
    }
}

#[test]
fn set_id_files_a_test_step_leaves_in_the_cache_lose_their_bits() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        t.config(
            "pipeline:\n  - runs: \"true\"\ntest:\n  pipeline:\n    - runs: |\n        \
             cp /bin/sh /var/cache/melange/test-sh\n        \
             chmod 6755 /var/cache/melange/test-sh\n        \
             stat -c 'planted %a' /var/cache/melange/test-sh\n",
        );
        let run = t.build(who, &["--no-network", "--test"]);
        run.ok();
        assert!(run.stderr.contains("| planted 6755"), "{who:?}:\n{run}");
        assert_eq!(
            set_id_files(&t.cache()),
            Vec::<String>::new(),
            "{who:?}:\n{run}"
        );
    }
}

/// A step owns the workspace root and can open it up (`chmod 777 /home/build`) while it runs;
/// other local users still cannot reach it, because a temporary workspace sits in a private
/// directory the step never sees. Checked as uid 65534 while the step waits. Needs a second
/// uid, so it runs when the suite is root (the build as root, the prober as uid 65534).
#[test]
fn other_users_cannot_reach_a_workspace_a_step_opened_up() {
    require_bwrap!();
    if !crate::support::unpriv::can_switch_users() {
        eprintln!("skipped: needs a second uid (run the suite as root)");
        return;
    }
    let t = TestEnv::new();
    t.config(
        "pipeline:\n  - runs: |\n      \
         chmod 777 /home/build\n      \
         echo secret > /home/build/opened\n      \
         chmod 644 /home/build/opened\n      \
         touch /var/cache/melange/ready\n      \
         n=0; while [ ! -e /var/cache/melange/go ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done\n",
    );
    let mut child = t
        .build_cmd(Who::Root, &["--no-network"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = wait_until(std::time::Duration::from_secs(60), || {
        t.cache().join("ready").exists()
    });
    // The workspace: <TMPDIR>/melwrap-workspace-*/build, found as root.
    let parents: Vec<PathBuf> = fs_err::read_dir(t.tmp())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("melwrap-workspace-")
        })
        .collect();
    // Wherever the step's file is below it (root can see it either way).
    let probe = parents
        .iter()
        .flat_map(|p| [p.join("opened"), p.join("build/opened")])
        .find(|f| f.exists());
    // The path down to TMPDIR is open to everyone: only the workspace's own layout is tested.
    let tmp_open = crate::support::unpriv::as_nobody("test")
        .arg("-x")
        .arg(t.tmp())
        .status()
        .unwrap()
        .success();
    let reachable = probe.as_ref().map(|file| {
        crate::support::unpriv::as_nobody("cat")
            .arg(file)
            .output()
            .unwrap()
    });
    fs_err::write(t.cache().join("go"), "").unwrap();
    let status = child.wait().unwrap();
    assert!(ready, "the step never got ready");
    assert!(tmp_open, "uid 65534 cannot enter {}", t.tmp().display());
    let file = probe.expect("the step's file in a temporary workspace in TMPDIR");
    let out = reachable.unwrap();
    assert!(
        !out.status.success(),
        "uid 65534 read {} while the step ran: {}",
        file.display(),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(status.success(), "the build failed");
}
