use super::*;

fn gp(p: &str) -> GuestPath {
    GuestPath::new(p).unwrap()
}

#[test]
fn absolute_symlinks_resolve_inside_the_root() {
    let tree = MemTree::new("/r")
        .symlink("/etc/ssl/certs", "/etc/pki/tls/certs")
        .dir("/etc/pki/tls/certs");
    let r = resolve(&tree, &gp("/etc/ssl/certs/ca-certificates.crt"));
    assert_eq!(r.path, gp("/etc/pki/tls/certs/ca-certificates.crt"));
    assert_eq!(r.node, Node::Missing);
    assert_eq!(r.existing, gp("/etc/pki/tls/certs"));
}

#[test]
fn dotdot_in_a_symlink_stops_at_the_root() {
    let tree = MemTree::new("/r")
        .symlink("/a/b", "../../../../x")
        .file("/x/f");
    let r = resolve(&tree, &gp("/a/b/f"));
    assert_eq!(r.path, gp("/x/f"));
    assert_eq!(r.node, Node::File);
}

#[test]
fn symlink_loops_end() {
    let tree = MemTree::new("/r").symlink("/a", "/b").symlink("/b", "/a");
    let r = resolve(&tree, &gp("/a/c"));
    assert_ne!(r.node, Node::Dir);
}

#[test]
fn a_file_in_the_way_is_replaced_by_a_splice() {
    // /home is a file: /home/build cannot be created inside it.
    let tree = MemTree::new("/r")
        .file("/home")
        .dir("/dev")
        .dir("/proc")
        .dir("/tmp");
    let r = resolve(&tree, &gp("/home/build"));
    assert_eq!(r.blocker, Some(gp("/home")));
    let reqs = [MountRequest::new(
        MountKind::Bind(HostPath::new("/ws").unwrap()),
        gp("/home/build"),
    )];
    let plan = plan(&Rootfs::Dir(HostPath::new("/r").unwrap()), &tree, &reqs);
    let text = format!("{:?}", plan.root);
    assert!(!text.contains("\"/home\""), "{text}");
    assert_eq!(plan.remount_ro, vec![GuestPath::root()]);
}

#[test]
fn mounts_inside_earlier_mounts_need_no_splice() {
    let tree = MemTree::new("/r").dir("/home/build").dir("/tmp");
    let reqs = [
        MountRequest::new(
            MountKind::Bind(HostPath::new("/ws").unwrap()),
            gp("/home/build"),
        ),
        MountRequest::new(
            MountKind::RoBind(HostPath::new("/src").unwrap()),
            gp("/home/build/src"),
        ),
    ];
    let plan = plan(&Rootfs::Dir(HostPath::new("/r").unwrap()), &tree, &reqs);
    assert!(plan.remount_ro.is_empty());
    assert_eq!(plan.requests[1].1, gp("/home/build/src"));
}

#[test]
fn a_recorded_snapshot_plans_like_the_disk() {
    let root = tempfile::tempdir().unwrap();
    let p = root.path();
    for d in ["bin", "etc/apk", "var/cache/apk", "usr/lib"] {
        fs_err::create_dir_all(p.join(d)).unwrap();
    }
    fs_err::write(p.join("etc/hostname"), "x").unwrap();
    std::os::unix::fs::symlink("usr/lib", p.join("lib")).unwrap();
    let rootfs = Rootfs::Dir(HostPath::new(p).unwrap());
    let reqs = [
        MountRequest::new(MountKind::Tmpfs, gp("/tmp")),
        MountRequest::new(
            MountKind::Bind(HostPath::new("/cache").unwrap()),
            gp("/var/cache/melange"),
        ),
        MountRequest::new(
            MountKind::RoFile(HostPath::new("/etc/resolv.conf").unwrap()),
            gp("/etc/resolv.conf"),
        ),
    ];
    let live = LiveTree::new(&rootfs);
    let snapshot = MemTree::record(&rootfs, &live, &reqs);
    let from_disk = plan(&rootfs, &live, &reqs);
    let from_snapshot = plan(&rootfs, &snapshot, &reqs);
    assert_eq!(from_disk.root, from_snapshot.root);
    assert_eq!(from_disk.requests, from_snapshot.requests);
    assert_eq!(from_disk.remount_ro, from_snapshot.remount_ro);
    let text = format!("{:?}", from_disk.root);
    assert!(text.contains("target: \"usr/lib\""), "{text}");
    assert!(text.contains("Tmpfs(GuestPath(\"/etc\"))"), "{text}");
}

#[test]
fn a_symlink_request_splices_its_parent_and_never_follows_itself() {
    // /lib is a guest symlink to usr/lib; /usr/bin/tool exists as a file.
    let tree = MemTree::new("/r")
        .symlink("/lib", "usr/lib")
        .dir("/usr/lib")
        .file("/usr/bin/tool")
        .file("/usr/bin/other");
    let reqs = [
        // Replaces the file /usr/bin/tool by a link.
        MountRequest::new(MountKind::Symlink("other".into()), gp("/usr/bin/tool")),
        // The parent is resolved (/lib → /usr/lib), the link itself is not.
        MountRequest::new(MountKind::Symlink("libx.so.1".into()), gp("/lib/libx.so")),
    ];
    let plan = plan(&Rootfs::Dir(HostPath::new("/r").unwrap()), &tree, &reqs);
    assert_eq!(plan.requests[0].1, gp("/usr/bin/tool"));
    assert_eq!(plan.requests[1].1, gp("/usr/lib/libx.so"));
    assert_eq!(plan.remount_ro, vec![gp("/usr/bin"), gp("/usr/lib")]);
    let text = format!("{:?}", plan.root);
    // The spliced /usr/bin binds `other` back but not the shadowed `tool`.
    assert!(text.contains("\"/usr/bin/other\""), "{text}");
    assert!(!text.contains("\"/usr/bin/tool\""), "{text}");
    // A link over a guest symlink replaces the link, not its target.
    let r = resolve_parent(&tree, &gp("/lib"));
    assert_eq!(r.path, gp("/lib"));
    assert_eq!(r.node, Node::Symlink("usr/lib".into()));
}
