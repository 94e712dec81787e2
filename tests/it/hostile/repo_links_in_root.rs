//! A guest root follows symlinks to directories as apk does, inside the root only: a package
//! ships `lib -> usr/lib`, the next ships `lib/x`, which lands in `usr/lib/x`; `evil -> /etc`
//! then `evil/passwd` writes `DIR/etc/passwd`, never the host's. As root and as uid 65534,
//! through the same child process as the refusals in `crafted.rs`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use melwrap::apk::tar::Kind;

use crate::hostile::repo_crafted::{CHILD_PACKAGES, CHILD_ROOT, crafted, entry};
use crate::repo::fixture::{ARCH, fixture, hello_apk};

fn assemble_as(uid: u32, bin: &Path, packages: &[&Path], root: &Path) -> String {
    let list: Vec<String> = packages.iter().map(|p| p.display().to_string()).collect();
    let out = crate::support::unpriv::as_user(uid, bin)
        .args([
            "--ignored",
            "--exact",
            &crate::support::test_name("it::hostile::repo_crafted", "child_assemble"),
            "--nocapture",
        ])
        .env(CHILD_PACKAGES, list.join(":"))
        .env(CHILD_ROOT, root)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn links_to_directories_are_followed_inside_the_root_only() {
    use crate::support::unpriv;
    let f = fixture();
    let t = tempfile::Builder::new()
        .prefix("melwrap-links-in-root-")
        .tempdir_in("/tmp")
        .unwrap();
    fs_err::set_permissions(t.path(), PermissionsExt::from_mode(0o777)).unwrap();
    let hello = hello_apk(&f.repo_a);
    let doc = f.repo_a.join(ARCH).join("hello-doc-1.2.3-r1.apk");
    let symlink = |name: &str, target: &str| {
        let (mut h, d) = entry(
            name,
            Kind::Symlink(target.as_bytes().to_vec()),
            0o777,
            b"",
            "",
        );
        h.kind = Kind::Symlink(target.as_bytes().to_vec());
        (h, d)
    };
    // baselayout-like: `usr/lib` and `lib -> usr/lib`; `evil -> /etc`.
    let base = t.path().join("base.apk");
    crafted(
        &hello,
        &base,
        &[
            entry("usr", Kind::Dir, 0o755, b"", ""),
            entry("usr/lib", Kind::Dir, 0o755, b"", ""),
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
            entry("lib", Kind::Dir, 0o755, b"", ""),
            entry("lib/x", Kind::File, 0o644, b"in usr/lib\n", ""),
            entry("evil/passwd", Kind::File, 0o644, b"guest passwd\n", ""),
            entry("up/etc/group", Kind::File, 0o644, b"guest group\n", ""),
        ],
    );
    for p in [&base, &later] {
        fs_err::set_permissions(p, PermissionsExt::from_mode(0o644)).unwrap();
    }
    let bin_dir = t.path().join("bin");
    fs_err::create_dir(&bin_dir).unwrap();
    fs_err::set_permissions(&bin_dir, PermissionsExt::from_mode(0o755)).unwrap();
    let bin = bin_dir.join("repo-tests");
    if fs_err::hard_link(std::env::current_exe().unwrap(), &bin).is_err() {
        fs_err::copy(std::env::current_exe().unwrap(), &bin).unwrap();
    }
    let host_passwd = fs_err::read("/etc/passwd").unwrap();
    let host_group = fs_err::read("/etc/group").unwrap();
    let mut users = vec![unpriv::current_uid()];
    if unpriv::can_switch_users() {
        users.push(unpriv::NOBODY);
    }
    for uid in users {
        let root = t.path().join(format!("root-{uid}"));
        let text = assemble_as(uid, &bin, &[&base, &later], &root);
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
