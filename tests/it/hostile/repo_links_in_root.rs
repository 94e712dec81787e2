//! A guest root follows symlinks to directories as apk does, inside the root only: a package
//! ships `lib -> usr/lib`, the next ships `lib/x`, which lands in `usr/lib/x`; `evil -> /etc`
//! then `evil/passwd` writes `DIR/etc/passwd`, never the host's. As root and as uid 65534,
//! through the same child process as the refusals in `crafted.rs`.

use std::os::unix::fs::PermissionsExt;

use melwrap::apk::tar::Kind;

use super::craft::{entry, place_test_binary, symlink, test_users};
use super::repo_crafted::{assemble_as, crafted};
use crate::repo::fixture::{ARCH, fixture, hello_apk};

#[test]
fn links_to_directories_are_followed_inside_the_root_only() {
    let f = fixture();
    let t = crate::support::open_tempdir("melwrap-links-in-root-");
    let hello = hello_apk(&f.repo_a);
    let doc = f.repo_a.join(ARCH).join("hello-doc-1.2.3-r1.apk");
    // baselayout-like: `usr/lib` and `lib -> usr/lib`; `evil -> /etc`.
    let base = t.path().join("base.apk");
    crafted(
        &hello,
        &base,
        &[
            entry("usr", Kind::Dir, 0o755, b""),
            entry("usr/lib", Kind::Dir, 0o755, b""),
            symlink("lib", "usr/lib"),
            symlink("evil", "/etc"),
            symlink("up", "../../../../.."),
        ],
    );
    let later = t.path().join("later.apk");
    crafted(
        &doc,
        &later,
        &[
            entry("lib", Kind::Dir, 0o755, b""),
            entry("lib/x", Kind::File, 0o644, b"in usr/lib\n"),
            entry("evil/passwd", Kind::File, 0o644, b"guest passwd\n"),
            entry("up/etc/group", Kind::File, 0o644, b"guest group\n"),
        ],
    );
    for p in [&base, &later] {
        fs_err::set_permissions(p, PermissionsExt::from_mode(0o644)).unwrap();
    }
    let bin = place_test_binary(t.path());
    let host_passwd = fs_err::read("/etc/passwd").unwrap();
    let host_group = fs_err::read("/etc/group").unwrap();
    for uid in test_users() {
        let root = t.path().join(format!("root-{uid}"));
        let out = assemble_as(uid, &bin, &[&base, &later], &root);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("ASSEMBLED"), "as uid {uid}: {text}");
        assert_eq!(
            fs_err::read_to_string(root.join("usr/lib/x")).unwrap(),
            "in usr/lib\n"
        );
        assert!(
            root.join("lib").is_symlink(),
            "the link stays, as apk keeps it"
        );
        assert_eq!(
            fs_err::read_to_string(root.join("etc/passwd")).unwrap(),
            "guest passwd\n"
        );
        assert_eq!(
            fs_err::read_to_string(root.join("etc/group")).unwrap(),
            "guest group\n"
        );
        assert_eq!(fs_err::read("/etc/passwd").unwrap(), host_passwd);
        assert_eq!(fs_err::read("/etc/group").unwrap(), host_group);
    }
}

/// Directories stay open from entry to entry and package to package during one assembly;
/// a directory or link that a later entry removes must not keep its place. `usr/lib` (with
/// `usr/lib/sub`) is used, then replaced by `usr/lib -> /`; `lnk -> usr/lib` (and `a -> lnk`)
/// are used, then `lnk` becomes `../../../..`: each later write lands where the root's links
/// lead now, inside the root, and nothing appears outside it.
#[test]
fn replaced_directories_and_links_are_resolved_again() {
    let f = fixture();
    let t = crate::support::open_tempdir("melwrap-links-replaced-");
    let hello = hello_apk(&f.repo_a);
    let doc = f.repo_a.join(ARCH).join("hello-doc-1.2.3-r1.apk");
    let first = t.path().join("first.apk");
    crafted(
        &hello,
        &first,
        &[
            entry("usr", Kind::Dir, 0o755, b""),
            entry("usr/lib", Kind::Dir, 0o755, b""),
            entry("usr/lib/sub", Kind::Dir, 0o755, b""),
            entry("usr/share", Kind::Dir, 0o755, b""),
            entry("usr/share/a", Kind::File, 0o644, b"a\n"),
            symlink("lnk", "usr/share"),
            entry("lnk/b", Kind::File, 0o644, b"b\n"),
            symlink("a", "lnk"),
            entry("a/c", Kind::File, 0o644, b"c\n"),
        ],
    );
    let later = t.path().join("later.apk");
    crafted(
        &doc,
        &later,
        &[
            // The empty `usr/lib` tree, opened before, becomes a link to the root.
            symlink("usr/lib", "/"),
            entry("usr/lib/x", Kind::File, 0o644, b"x\n"),
            entry("usr/lib/sub/y", Kind::File, 0o644, b"y\n"),
            // `lnk` (and `a` through it) used before, now pointing up and out.
            symlink("lnk", "../../../.."),
            entry("lnk/escaped", Kind::File, 0o644, b"z\n"),
            entry("a/escaped2", Kind::File, 0o644, b"w\n"),
        ],
    );
    for p in [&first, &later] {
        fs_err::set_permissions(p, PermissionsExt::from_mode(0o644)).unwrap();
    }
    let bin = place_test_binary(t.path());
    for uid in test_users() {
        let root = t.path().join(format!("root-{uid}"));
        let out = assemble_as(uid, &bin, &[&first, &later], &root);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("ASSEMBLED"), "as uid {uid}: {text}");
        let read = |p: &str| fs_err::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("usr/share/b"), "b\n", "as uid {uid}");
        assert_eq!(read("usr/share/c"), "c\n", "as uid {uid}");
        assert!(root.join("usr/lib").is_symlink(), "as uid {uid}");
        // Through the new `usr/lib -> /`: the root's own `x` and `sub/y`.
        assert_eq!(read("x"), "x\n", "as uid {uid}");
        assert_eq!(read("sub/y"), "y\n", "as uid {uid}");
        // Through the new `lnk -> ../../../..` (and `a -> lnk`): the root, never above it.
        assert_eq!(read("escaped"), "z\n", "as uid {uid}");
        assert_eq!(read("escaped2"), "w\n", "as uid {uid}");
        assert!(!root.join("usr/share/escaped").exists(), "as uid {uid}");
        assert!(!root.join("usr/share/escaped2").exists(), "as uid {uid}");
        for name in ["x", "sub", "escaped", "escaped2"] {
            assert!(
                !t.path().join(name).exists(),
                "as uid {uid}: {name} outside"
            );
        }
        for host in ["/escaped", "/escaped2", "/tmp/escaped"] {
            assert!(!std::path::Path::new(host).exists(), "as uid {uid}: {host}");
        }
    }
}
