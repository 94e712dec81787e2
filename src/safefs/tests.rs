use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A tree root and, beside it, an "outside" directory holding a set-id file and a victim file
/// that no operation on the root may touch.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("victim"), "host").unwrap();
    set_mode(&outside.join("victim"), 0o4755);
    (tmp, root, outside)
}

fn assert_outside_untouched(outside: &Path) {
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"host");
    assert_eq!(mode_of(&outside.join("victim")), 0o4755);
    let mut names: Vec<_> = std::fs::read_dir(outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["victim"], "nothing created outside");
}

#[test]
fn a_symlink_in_the_middle_is_refused() {
    let (_tmp, root, outside) = setup();
    std::fs::create_dir_all(root.join("a")).unwrap();
    symlink(&outside, root.join("a/link")).unwrap();
    let dir = Dir::open_anchor(&root).unwrap();
    let err = dir.open_dir("a/link").unwrap_err();
    assert!(is_link_refused(&err), "{err}");
    assert!(
        err.to_string()
            .contains("a/link: is a symbolic link; refusing to follow it"),
        "{err}"
    );
    for err in [
        dir.create_file("a/link/new", 0o644).unwrap_err(),
        dir.create_dir_all("a/link/x/y", 0o755)
            .map(|_| ())
            .unwrap_err(),
        dir.chmod_at("a/link/victim", 0o755)
            .map(|_| ())
            .unwrap_err(),
        dir.open_file("a/link/victim").map(|_| ()).unwrap_err(),
        dir.remove_tree("a/link/victim").unwrap_err(),
        dir.stat_at("a/link/victim").map(|_| ()).unwrap_err(),
    ] {
        assert!(is_link_refused(&err), "{err}");
    }
    // The same through the component walk used where openat2 is missing.
    let err =
        resolve::open_by_component_walk(dir.as_fd(), Path::new("a/link/victim"), 0, dir.path())
            .unwrap_err();
    assert!(
        err.to_string().contains("a/link: is a symbolic link"),
        "{err}"
    );
    assert_outside_untouched(&outside);
}

#[test]
fn a_symlink_as_the_last_component_is_refused() {
    let (_tmp, root, outside) = setup();
    symlink(outside.join("victim"), root.join("lock")).unwrap();
    symlink(&outside, root.join("area")).unwrap();
    let dir = Dir::open_anchor(&root).unwrap();
    assert!(is_link_refused(&dir.open_file("lock").unwrap_err()));
    assert!(is_link_refused(
        &dir.open_or_create_file("lock", 0o644).unwrap_err()
    ));
    assert!(is_link_refused(&dir.chmod_at("lock", 0o600).unwrap_err()));
    assert!(is_link_refused(&dir.open_dir("area").unwrap_err()));
    assert!(is_link_refused(&dir.create_dir("area", 0o755).unwrap_err()));
    assert!(is_link_refused(
        &dir.create_dir_all("area", 0o755).unwrap_err()
    ));
    let err = dir.create_file("lock", 0o644).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    let err =
        resolve::open_by_component_walk(dir.as_fd(), Path::new("lock"), 0, dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("lock: is a symbolic link"),
        "{err}"
    );
    // Stat reports the link as a link; removal removes the link, not the target.
    assert!(dir.stat_at("area").unwrap().is_symlink());
    dir.remove_tree("area").unwrap();
    dir.remove_tree("lock").unwrap();
    assert_outside_untouched(&outside);
    // A FIFO is not a regular file, and opening it does not block.
    let fifo = root.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let err = dir.open_or_create_file("fifo", 0o644).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[test]
fn creates_opens_and_renames_below_the_anchor() {
    let (_tmp, root, _outside) = setup();
    let dir = Dir::open_anchor(&root).unwrap();
    let sub = dir.create_dir_all("x/y/z", 0o755).unwrap();
    assert_eq!(sub.path(), root.join("x/y/z"));
    let (_, created) = dir.create_dir("x/y/z", 0o755).unwrap();
    assert!(!created);
    use std::io::Write;
    dir.create_file("x/y/z/f", 0o600)
        .unwrap()
        .write_all(b"data")
        .unwrap();
    assert_eq!(
        io::read_to_string(dir.open_file("x/y/z/f").unwrap()).unwrap(),
        "data"
    );
    sub.create_file("g", 0o644).unwrap();
    assert!(!sub.rename_at("g", "f", false).unwrap(), "no replace");
    assert!(sub.rename_at("g", "f", true).unwrap());
    assert_eq!(std::fs::read(root.join("x/y/z/f")).unwrap(), b"");
    let err = dir.open_dir("../root").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(dir.open_dir("/etc").is_err());
    dir.open_or_create_file(".lock", 0o644).unwrap();
    dir.open_or_create_file(".lock", 0o644).unwrap();
}

/// 300 levels of 30-character names: about 9,300 bytes of path, far beyond PATH_MAX.
fn deep_tree(root: &Path) -> (Dir, PathBuf) {
    let dir = Dir::open_anchor(root).unwrap();
    let name = "d".repeat(30);
    let mut cur = dir.try_clone().unwrap();
    let mut rel = PathBuf::new();
    for _ in 0..300 {
        cur = cur.create_dir(&name, 0o755).unwrap().0;
        rel.push(&name);
    }
    let f = cur.create_file("suid", 0o755).unwrap();
    ops::chmod_fd(f.as_fd(), 0o6755).unwrap();
    assert_eq!(cur.stat_at("suid").unwrap().mode(), 0o6755);
    (cur, rel)
}

#[test]
fn a_tree_deeper_than_path_max_is_walked_scrubbed_and_removed() {
    let (_tmp, root, outside) = setup();
    let (bottom, rel) = deep_tree(&root);
    assert!(rel.as_os_str().len() > libc::PATH_MAX as usize);
    let dir = Dir::open_anchor(&root).unwrap();
    let mut deepest = 0;
    dir.walk(|e| {
        deepest = deepest.max(e.depth());
        Ok(Visit::Descend)
    })
    .unwrap();
    assert_eq!(deepest, 301);
    let report = dir.clear_set_id_bits().unwrap();
    assert_eq!(report.cleared.len(), 1, "{report:?}");
    assert!(report.unreadable.is_empty());
    assert_eq!(bottom.stat_at("suid").unwrap().mode(), 0o755);
    dir.remove_contents().unwrap();
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
    assert_outside_untouched(&outside);
}

#[test]
fn unreadable_directories_are_opened_up_and_walked() {
    let (_tmp, root, _outside) = setup();
    std::fs::create_dir_all(root.join("a/locked/inner")).unwrap();
    std::fs::write(root.join("a/locked/inner/suid"), "x").unwrap();
    set_mode(&root.join("a/locked/inner/suid"), 0o4755);
    set_mode(&root.join("a/locked/inner"), 0o000);
    set_mode(&root.join("a/locked"), 0o000);
    let dir = Dir::open_anchor(&root).unwrap();
    // The plain walk changes nothing (an ordinary user cannot enter; root can).
    let report = dir.walk(|_| Ok(Visit::Descend)).unwrap();
    let unreadable = usize::from(effective_uid() != 0);
    assert_eq!(report.unreadable.len(), unreadable, "{report:?}");
    assert_eq!(mode_of(&root.join("a/locked")), 0o000);
    let report = dir.clear_set_id_bits().unwrap();
    assert_eq!(report.cleared.len(), 1, "{report:?}");
    assert_eq!(mode_of(&root.join("a/locked/inner/suid")), 0o755);
    // Opened up only as far as needed to read it (owner read and search); root needs no
    // permission bits and changes nothing.
    let expected = if effective_uid() == 0 { 0o000 } else { 0o500 };
    assert_eq!(mode_of(&root.join("a/locked")), expected);
    set_mode(&root.join("a/locked"), 0o000);
    dir.remove_tree("a").unwrap();
    assert!(!root.join("a").exists());
}

#[test]
fn copy_in_replaces_planted_links_instead_of_writing_through_them() {
    let (_tmp, root, outside) = setup();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("sub")).unwrap();
    std::fs::write(src.path().join("victim"), "new").unwrap();
    std::fs::write(src.path().join("sub/b"), "b").unwrap();
    set_mode(&src.path().join("sub/b"), 0o4750);
    symlink(outside.join("victim"), root.join("victim")).unwrap();
    symlink(&outside, root.join("sub")).unwrap();
    let dir = Dir::open_anchor(&root).unwrap();
    let opts = CopyOptions {
        existing: Existing::Replace,
        ..CopyOptions::default()
    };
    let stats = dir.copy_tree_in(src.path(), &opts).unwrap();
    assert_eq!((stats.files, stats.bytes), (2, 4));
    assert_eq!(std::fs::read(root.join("victim")).unwrap(), b"new");
    assert!(root.join("sub").is_dir() && !root.join("sub").is_symlink());
    assert_eq!(mode_of(&root.join("sub/b")), 0o750, "set-id dropped");
    assert_outside_untouched(&outside);

    // Keep: the planted link stays, nothing is written through it.
    let (_tmp2, root2, outside2) = setup();
    symlink(outside2.join("victim"), root2.join("victim")).unwrap();
    symlink(&outside2, root2.join("sub")).unwrap();
    let dir2 = Dir::open_anchor(&root2).unwrap();
    let opts = CopyOptions {
        symlinks: true,
        empty_dirs: true,
        ..CopyOptions::default()
    };
    let stats = dir2.copy_tree_in(src.path(), &opts).unwrap();
    assert_eq!(
        (stats.files, stats.already_present, stats.skipped),
        (0, 1, 1)
    );
    assert!(root2.join("victim").is_symlink());
    assert_outside_untouched(&outside2);
}

#[test]
fn chown_tree_changes_entries_not_link_targets() {
    if effective_uid() != 0 {
        return;
    }
    let (_tmp, root, outside) = setup();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/f"), "x").unwrap();
    symlink(outside.join("victim"), root.join("a/link")).unwrap();
    let dir = Dir::open_anchor(&root).unwrap();
    dir.chown_tree(65534, 65534).unwrap();
    for p in ["", "a", "a/b", "a/b/f", "a/link"] {
        let m = std::fs::symlink_metadata(root.join(p)).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534), "{p}");
    }
    assert_eq!(std::fs::metadata(outside.join("victim")).unwrap().uid(), 0);
}

#[test]
fn owner_only_is_restored_through_the_descriptor() {
    let (_tmp, root, _outside) = setup();
    set_mode(&root, 0o777);
    let dir = Dir::open_anchor(&root).unwrap();
    assert_eq!(dir.ensure_owner_only().unwrap(), Some(0o777));
    assert_eq!(mode_of(&root), 0o700);
    assert_eq!(dir.ensure_owner_only().unwrap(), None);
}

/// A thread swaps `area` between a real directory and a link to the outside directory while
/// this thread creates, chmods, copies and scrubs through it: nothing outside changes.
#[test]
fn swapping_a_directory_for_a_link_never_redirects_an_operation() {
    let (tmp, root, outside) = setup();
    std::fs::create_dir_all(root.join("area")).unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("area")).unwrap();
    std::fs::write(src.path().join("area/victim"), "new").unwrap();
    std::fs::write(src.path().join("area/other"), "new").unwrap();
    let stop = AtomicBool::new(false);
    let spare = tmp.path().join("spare");
    std::fs::create_dir_all(&spare).unwrap();
    std::fs::write(spare.join("victim"), "x").unwrap();
    set_mode(&spare.join("victim"), 0o4755);
    let dir = Dir::open_anchor(&root).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            let area = root.join("area");
            let link = root.join("area.link");
            let parked = root.join("area.dir");
            let _ = std::fs::remove_file(&link);
            symlink(&outside, &link).unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) && n < 200_000 {
                // Real dir out, link in; then back.
                let _ = std::fs::rename(&area, &parked);
                let _ = std::fs::rename(&link, &area);
                let _ = std::fs::rename(&area, &link);
                let _ = std::fs::rename(&parked, &area);
                n += 1;
            }
        });
        let copy = CopyOptions {
            existing: Existing::Replace,
            ..CopyOptions::default()
        };
        for _ in 0..300 {
            let _ = dir.create_dir_all("area/new", 0o755);
            let _ = dir.chmod_at("area/victim", 0o644);
            let _ = dir.open_or_create_file("area/victim", 0o644);
            let _ = dir.create_file("area/created", 0o644);
            let _ = dir.copy_tree_in(src.path(), &copy);
            let _ = dir.clear_set_id_bits();
            let _ = dir.remove_tree("area/victim");
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert_outside_untouched(&outside);
}
