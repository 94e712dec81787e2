//! `--rootfs DIR`: the packages are layered over a root filesystem directory that has no
//! `/usr` at all, so whole package directories are bound (and merged where two packages share
//! one).

use std::path::Path;
use std::process::Command;

use super::support::{Scratch, assert_summary, fingerprint};

/// A minimal root: the host's busybox, its shared libraries, and a link for every applet.
fn busybox_root(root: &Path) -> bool {
    let Ok(busybox) = which_busybox() else {
        return false;
    };
    fs_err::create_dir_all(root.join("bin")).unwrap();
    fs_err::copy(&busybox, root.join("bin/busybox")).unwrap();
    let ldd = Command::new("ldd").arg(&busybox).output().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or `/lib64/ld-linux-x86-64.so.2 (0x...)`
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(Path::new);
        if let Some(lib) = path {
            let dest = root.join(lib.strip_prefix("/").unwrap());
            fs_err::create_dir_all(dest.parent().unwrap()).unwrap();
            fs_err::copy(lib, &dest).unwrap();
        }
    }
    let list = Command::new(&busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    }
    true
}

fn which_busybox() -> Result<std::path::PathBuf, ()> {
    ["/usr/bin/busybox", "/bin/busybox"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn packages_layer_over_a_rootfs_directory() {
    let s = Scratch::new("hello.yaml");
    let root = s.path().join("root");
    if !busybox_root(&root) {
        eprintln!("skipped: no busybox on this host to build a root filesystem from");
        return;
    }
    let build = s.melwrap(&["build", "hello.yaml"]);
    assert_eq!(build.code, Some(0), "{}", build.stderr);
    let before = fingerprint(&root);
    let run = s.melwrap(&["test", "hello.yaml", "--rootfs", "root"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for name in ["hello", "hello-doc", "hello-extra"] {
        assert_summary(&run, name, "ok");
    }
    // The rootfs is shown read-only and never written: no /usr appeared in it.
    assert_eq!(fingerprint(&root), before);
    assert!(!root.join("usr").exists());
}
