//! Crafted archives against [`unpack_into`]: each attack is refused with the entry named and
//! nothing written, linked or chmodded outside the root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;
use crate::apk::tar::{BLOCK, Header, Kind as TarKind, append_bytes};

fn header(name: &str, kind: TarKind, mode: u32, size: u64) -> Header {
    let mut h = Header::root_file(name, mode, size, 0);
    h.kind = kind;
    h
}

fn file(name: &str, data: &'static [u8]) -> (Header, &'static [u8]) {
    (header(name, TarKind::File, 0o644, data.len() as u64), data)
}

fn symlink(name: &str, to: &str) -> (Header, &'static [u8]) {
    (header(name, TarKind::Symlink(to.into()), 0o777, 0), b"")
}

fn hard(name: &str, to: &str) -> (Header, &'static [u8]) {
    (header(name, TarKind::HardLink(to.into()), 0o644, 0), b"")
}

fn dir(name: &str, mode: u32) -> (Header, &'static [u8]) {
    (header(name, TarKind::Dir, mode, 0), b"")
}

fn archive(entries: &[(Header, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (h, data) in entries {
        append_bytes(&mut out, h, data);
    }
    out.extend_from_slice(&[0u8; 2 * BLOCK]);
    out
}

/// A scratch dir with `root/` (the unpack target) and `host/` (a writable host directory
/// holding `secret`, mode 0600), returned with the root opened.
struct Scene {
    t: tempfile::TempDir,
    root: Dir,
}

impl Scene {
    fn new() -> Scene {
        let t = tempfile::tempdir().unwrap();
        fs_err::create_dir(t.path().join("root")).unwrap();
        fs_err::create_dir(t.path().join("host")).unwrap();
        fs_err::set_permissions(t.path().join("host"), PermissionsExt::from_mode(0o755)).unwrap();
        fs_err::write(t.path().join("host/secret"), "host secret").unwrap();
        fs_err::set_permissions(
            t.path().join("host/secret"),
            PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let root = Dir::open_anchor(&t.path().join("root")).unwrap();
        Scene { t, root }
    }
    fn host(&self) -> std::path::PathBuf {
        self.t.path().join("host")
    }
    fn host_str(&self) -> String {
        self.host().display().to_string()
    }
    fn unpack(&self, entries: &[(Header, &[u8])]) -> eyre::Result<UnpackStats> {
        unpack_into(&archive(entries)[..], &self.root, &UnpackOptions::default())
    }
    /// The host directory is exactly as made: one file, same modes, same contents.
    fn assert_host_untouched(&self) {
        let names: Vec<_> = fs_err::read_dir(self.host())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret"], "host dir changed");
        let dir = fs_err::metadata(self.host()).unwrap();
        assert_eq!(dir.mode() & 0o7777, 0o755, "host dir mode changed");
        let secret = fs_err::metadata(self.host().join("secret")).unwrap();
        assert_eq!(secret.mode() & 0o7777, 0o600, "host file mode changed");
        assert_eq!(secret.nlink(), 1, "host file was hard-linked");
        assert_eq!(
            fs_err::read_to_string(self.host().join("secret")).unwrap(),
            "host secret"
        );
    }
}

#[track_caller]
fn assert_refused(result: eyre::Result<UnpackStats>, entry: &str, why: &str) {
    let err = format!("{:#}", result.expect_err("the archive must be refused"));
    assert!(
        err.contains(&format!("entry `{entry}`")),
        "names the entry: {err}"
    );
    assert!(err.contains(why), "says why ({why}): {err}");
}

#[test]
fn a_file_below_an_earlier_symlink_is_refused() {
    let s = Scene::new();
    let r = s.unpack(&[
        symlink("etc", &s.host_str()),
        file("etc/passwd", b"root::0:0::/:/bin/sh\n"),
    ]);
    assert_refused(r, "etc/passwd", "is a symbolic link; refusing to follow it");
    s.assert_host_untouched();
}

#[test]
fn a_file_over_an_earlier_symlink_replaces_the_link() {
    let s = Scene::new();
    let target = s.host().join("secret").display().to_string();
    s.unpack(&[symlink("f", &target), file("f", b"package")])
        .unwrap();
    let f = s.t.path().join("root/f");
    assert!(fs_err::symlink_metadata(&f).unwrap().is_file());
    assert_eq!(fs_err::read_to_string(&f).unwrap(), "package");
    s.assert_host_untouched();
}

#[test]
fn directories_and_modes_below_an_earlier_symlink_are_refused() {
    let s = Scene::new();
    let r = s.unpack(&[symlink("d", &s.host_str()), dir("d", 0o777)]);
    assert_refused(r, "d", "is a symbolic link; refusing to follow it");
    let r = s.unpack(&[symlink("e", &s.host_str()), dir("e/sub", 0o777)]);
    assert_refused(r, "e/sub", "is a symbolic link; refusing to follow it");
    let r = s.unpack(&[
        dir("x", 0o755),
        symlink("x/y", &s.host_str()),
        symlink("x/y/z", "anything"),
    ]);
    assert_refused(r, "x/y/z", "is a symbolic link; refusing to follow it");
    s.assert_host_untouched();
}

#[test]
fn hard_links_only_reach_earlier_files_of_the_package() {
    let s = Scene::new();
    let secret = s.host().join("secret").display().to_string();
    // Absolute and `..` targets.
    assert_refused(
        s.unpack(&[hard("shadow", &secret)]),
        "shadow",
        "absolute name",
    );
    assert_refused(
        s.unpack(&[hard("h", "../../host/secret")]),
        "h",
        "points outside the package",
    );
    // Through an earlier symlink, or to the symlink itself.
    assert_refused(
        s.unpack(&[symlink("l", &s.host_str()), hard("h2", "l/secret")]),
        "h2",
        "not an earlier file of the package",
    );
    assert_refused(
        s.unpack(&[symlink("l2", &secret), hard("h3", "l2")]),
        "h3",
        "not an earlier file of the package",
    );
    // A name that exists but was not unpacked by this package (left by an earlier run).
    fs_err::write(s.t.path().join("root/planted"), "x").unwrap();
    assert_refused(
        s.unpack(&[hard("h4", "planted")]),
        "h4",
        "not an earlier file of the package",
    );
    s.assert_host_untouched();
    // An honest hard link works and shares the inode.
    s.unpack(&[file("usr/a", b"same"), hard("usr/b", "usr/a")])
        .unwrap();
    let a = fs_err::metadata(s.t.path().join("root/usr/a")).unwrap();
    let b = fs_err::metadata(s.t.path().join("root/usr/b")).unwrap();
    assert_eq!(a.ino(), b.ino());
}

#[test]
fn names_outside_the_root_are_refused() {
    let s = Scene::new();
    for (bad, why) in [
        ("../host/x", "points outside the package"),
        ("/tmp/x", "absolute name"),
        ("a/../../host/x", "points outside the package"),
    ] {
        assert_refused(s.unpack(&[file(bad, b"x")]), bad, why);
    }
    s.assert_host_untouched();
}

#[test]
fn set_id_bits_are_dropped_unless_asked_for() {
    let s = Scene::new();
    let entries = [
        (header("suid", TarKind::File, 0o6755, 1), &b"x"[..]),
        dir("sgid-dir", 0o2775),
        (header("sticky", TarKind::Dir, 0o1777, 0), &b""[..]),
    ];
    s.unpack(&entries).unwrap();
    let mode = |n: &str| {
        fs_err::metadata(s.t.path().join("root").join(n))
            .unwrap()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("suid"), 0o755);
    assert_eq!(mode("sgid-dir"), 0o775);
    assert_eq!(mode("sticky"), 0o1777);
    let keep = Scene::new();
    unpack_into(
        &archive(&entries)[..],
        &keep.root,
        &UnpackOptions {
            keep_set_id: true,
            ..UnpackOptions::default()
        },
    )
    .unwrap();
    let mode = |n: &str| {
        fs_err::metadata(keep.t.path().join("root").join(n))
            .unwrap()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("suid"), 0o6755);
    assert_eq!(mode("sgid-dir"), 0o2775);
}

#[test]
fn a_directory_is_not_replaced_by_a_later_entry() {
    let s = Scene::new();
    let r = s.unpack(&[dir("d", 0o755), file("d/keep", b"k"), symlink("d", "/")]);
    assert_refused(r, "d", "would replace a directory");
    assert!(s.t.path().join("root/d/keep").is_file());
}

#[test]
fn paths_longer_than_path_max_are_unpacked() {
    let s = Scene::new();
    let deep: Vec<String> = (0..40)
        .map(|i| format!("{i:03}{}", "d".repeat(120)))
        .collect();
    let dir_name = deep.join("/");
    let file_name = format!("{dir_name}/f");
    assert!(file_name.len() > libc::PATH_MAX as usize);
    let entries = [
        (header(&dir_name, TarKind::Dir, 0o555, 0), &b""[..]),
        (header(&file_name, TarKind::File, 0o644, 2), &b"ok"[..]),
    ];
    let stats = s.unpack(&entries).unwrap();
    assert_eq!((stats.files, stats.dirs), (1, 1));
    let mut d = Dir::open_anchor(&s.t.path().join("root")).unwrap();
    for part in &deep {
        d = d.open_dir(part).unwrap();
    }
    assert_eq!(d.stat().unwrap().mode(), 0o555);
    let mut text = String::new();
    d.open_file("f").unwrap().read_to_string(&mut text).unwrap();
    assert_eq!(text, "ok");
    crate::driver::test::extract::remove_unpacked(&s.t.path().join("root"));
}
