//! Argument-list snapshots of typical steps, and the invariants every list must keep.

use super::*;
use crate::sandbox::root::MemTree;
use crate::sandbox::{BuildIds, display_command, to_argv};

/// One bwrap operation per line, as it would be typed.
fn render(args: &[Arg]) -> String {
    args.iter()
        .map(|a| {
            to_argv(std::slice::from_ref(a))
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn host_tree() -> MemTree {
    MemTree::new("/")
        .dir("/usr/bin")
        .symlink("/bin", "usr/bin")
        .symlink("/lib", "usr/lib")
        .symlink("/lib64", "usr/lib64")
        .symlink("/sbin", "usr/sbin")
        .file("/etc/resolv.conf")
        .file("/etc/ssl/certs/ca-certificates.crt")
        .dir("/opt")
}

fn hp(p: &str) -> HostPath {
    HostPath::new(p).unwrap()
}

fn gp(p: &str) -> GuestPath {
    GuestPath::new(p).unwrap()
}

fn config(rootfs: Rootfs) -> SandboxConfig {
    SandboxConfig {
        rootfs,
        workspace: hp("/work/ws"),
        cache: Some(hp("/work/cache")),
        network: true,
        identity: Identity::Build {
            uid: 1000,
            gid: 1000,
        },
        extra_ro_binds: Vec::new(),
        extra_symlinks: Vec::new(),
        resolv_conf: Some(hp("/etc/resolv.conf")),
        ca_bundle: None,
        resources: crate::sandbox::Resources::default(),
        step_ids: None,
        capabilities: Default::default(),
        extra_tmpfs: Vec::new(),
        ro_files: Vec::new(),
        overlay: None,
    }
}

fn step() -> StepCommand {
    StepCommand {
        argv: vec!["/bin/sh".into(), "-c".into(), "make".into()],
        env: vec![
            ("SOURCE_DATE_EPOCH".into(), "0".into()),
            ("PATH".into(), "/usr/bin:/bin".into()),
        ],
        workdir: gp("/home/build"),
    }
}

#[test]
fn host_rootfs_as_build_user() {
    let args = bwrap_args(&config(Rootfs::Host), &host_tree(), &step());
    assert_eq!(
        render(&args),
        "\
--symlink usr/bin /bin
--ro-bind /etc /etc
--symlink usr/lib /lib
--symlink usr/lib64 /lib64
--ro-bind /opt /opt
--symlink usr/sbin /sbin
--ro-bind /usr /usr
--dev /dev
--proc /proc
--tmpfs /tmp
--bind /work/ws /home/build
--bind /work/cache /var/cache/melange
--remount-ro /
--unshare-user
--uid 1000
--gid 1000
--clearenv
--setenv SOURCE_DATE_EPOCH 0
--setenv PATH /usr/bin:/bin
--unshare-pid
--unshare-ipc
--unshare-uts
--die-with-parent
--new-session
--json-status-fd 3
--chdir /home/build
-- /bin/sh -c make"
    );
}

#[test]
fn dir_rootfs_with_every_mount_point_is_bound_whole() {
    let tree = MemTree::new("/roots/wolfi")
        .dir("/bin")
        .dir("/dev")
        .dir("/proc")
        .dir("/tmp")
        .dir("/home/build")
        .dir("/var/cache/melange")
        .file("/etc/resolv.conf");
    let mut cfg = config(Rootfs::Dir(hp("/roots/wolfi")));
    cfg.network = false;
    cfg.identity = Identity::Root(BuildIds::default());
    let args = bwrap_args(&cfg, &tree, &step());
    assert_eq!(
        render(&args),
        "\
--ro-bind /roots/wolfi /
--dev /dev
--proc /proc
--tmpfs /tmp
--bind /work/ws /home/build
--bind /work/cache /var/cache/melange
--unshare-user
--uid 0
--gid 0
--cap-drop ALL
--clearenv
--setenv SOURCE_DATE_EPOCH 0
--setenv PATH /usr/bin:/bin
--unshare-pid
--unshare-ipc
--unshare-uts
--unshare-net
--die-with-parent
--new-session
--json-status-fd 3
--chdir /home/build
-- /bin/sh -c make"
    );
}

#[test]
fn missing_mount_points_splice_the_deepest_existing_dir() {
    // An Alpine-like root: /var/cache exists but not melange; no resolv.conf; no /home.
    let tree = MemTree::new("/r")
        .dir("/bin")
        .dir("/dev")
        .dir("/proc")
        .dir("/tmp")
        .dir("/etc/apk")
        .file("/etc/hostname")
        .symlink("/etc/mtab", "../proc/mounts")
        .dir("/var/cache/apk")
        .symlink("/var/run", "/run");
    let args = bwrap_args(&config(Rootfs::Dir(hp("/r"))), &tree, &step());
    let text = render(&args);
    let mounts: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("--unshare"))
        .collect();
    assert_eq!(
        mounts,
        [
            // `/home` is missing, so `/` is a tmpfs holding the rootfs's entries, except
            // those that are mount points or spliced themselves.
            "--ro-bind /r/bin /bin",
            "--ro-bind /r/var /var",
            // No /etc/resolv.conf: /etc is spliced so it can be created.
            "--tmpfs /etc",
            "--ro-bind /r/etc/apk /etc/apk",
            "--ro-bind /r/etc/hostname /etc/hostname",
            "--symlink ../proc/mounts /etc/mtab",
            // No /var/cache/melange: /var/cache is spliced.
            "--tmpfs /var/cache",
            "--ro-bind /r/var/cache/apk /var/cache/apk",
            "--dev /dev",
            "--proc /proc",
            "--tmpfs /tmp",
            "--bind /work/ws /home/build",
            "--bind /work/cache /var/cache/melange",
            "--ro-bind /etc/resolv.conf /etc/resolv.conf",
            "--remount-ro /",
            "--remount-ro /etc",
            "--remount-ro /var/cache",
        ]
    );
}

#[test]
fn host_resolv_conf_symlink_into_run_is_bound_where_it_points() {
    let tree = MemTree::new("/").dir("/usr").symlink(
        "/etc/resolv.conf",
        "../run/systemd/resolve/stub-resolv.conf",
    );
    let mut cfg = config(Rootfs::Host);
    cfg.resolv_conf = Some(hp("/run/systemd/resolve/stub-resolv.conf"));
    let text = render(&bwrap_args(&cfg, &tree, &step()));
    assert!(
        text.contains(
            "--ro-bind /run/systemd/resolve/stub-resolv.conf /run/systemd/resolve/stub-resolv.conf"
        ),
        "{text}"
    );
    // The plain-file case is already visible through /etc and needs no bind.
    let text = render(&bwrap_args(&config(Rootfs::Host), &host_tree(), &step()));
    assert!(!text.contains("resolv.conf"), "{text}");
}

#[test]
fn ca_bundle_is_bound_over_the_guest_bundle() {
    let tree = MemTree::new("/r")
        .dir("/dev")
        .dir("/proc")
        .dir("/tmp")
        .dir("/home/build")
        .dir("/var/cache/melange")
        .file("/etc/resolv.conf")
        .file("/etc/ssl/certs/ca-certificates.crt");
    let mut cfg = config(Rootfs::Dir(hp("/r")));
    cfg.ca_bundle = Some(hp("/home/me/corp-ca.pem"));
    let text = render(&bwrap_args(&cfg, &tree, &step()));
    assert!(text.starts_with("--ro-bind /r /\n"), "{text}");
    assert!(
        text.contains("--ro-bind /home/me/corp-ca.pem /etc/ssl/certs/ca-certificates.crt"),
        "{text}"
    );
    // On the host rootfs the host's own bundle is not bound again, another one is.
    let mut cfg = config(Rootfs::Host);
    cfg.ca_bundle = Some(hp("/etc/ssl/certs/ca-certificates.crt"));
    let text = render(&bwrap_args(&cfg, &host_tree(), &step()));
    assert!(!text.contains("ca-certificates.crt"), "{text}");
    cfg.ca_bundle = Some(hp("/home/me/corp-ca.pem"));
    let text = render(&bwrap_args(&cfg, &host_tree(), &step()));
    assert!(
        text.contains("--ro-bind /home/me/corp-ca.pem /etc/ssl/certs/ca-certificates.crt"),
        "{text}"
    );
}

fn count(args: &[Arg], pred: impl Fn(&Arg) -> bool) -> usize {
    args.iter().filter(|a| pred(a)).count()
}

fn position(args: &[Arg], pred: impl Fn(&Arg) -> bool) -> Option<usize> {
    args.iter().position(pred)
}

/// Every combination of rootfs, network, identity and cache the builder must handle.
fn all_variants() -> Vec<(SandboxConfig, MemTree)> {
    let dir_tree = MemTree::new("/r").dir("/bin").file("/etc/passwd");
    let mut out = Vec::new();
    for (rootfs, tree) in [
        (Rootfs::Host, host_tree()),
        (Rootfs::Dir(hp("/r")), dir_tree),
    ] {
        for network in [true, false] {
            for identity in [
                Identity::Root(BuildIds::default()),
                Identity::Build {
                    uid: 1000,
                    gid: 1000,
                },
            ] {
                for cache in [None, Some(hp("/work/cache"))] {
                    let mut cfg = config(rootfs.clone());
                    cfg.network = network;
                    cfg.identity = identity;
                    cfg.cache = cache;
                    out.push((cfg, tree.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn invariants_hold_for_every_variant() {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    for (cfg, tree) in all_variants() {
        let args = bwrap_args(&cfg, &tree, &step());
        let text = render(&args);
        let is_cache =
            |a: &Arg| matches!(a, Arg::Bind { dest, .. } if dest.as_str() == crate::guest::CACHE);
        let is_root = |a: &Arg| match a {
            Arg::RoBind { dest, .. } | Arg::Symlink { link: dest, .. } => {
                dest.components().count() <= 1
            }
            _ => false,
        };
        // Exactly one cache bind (when there is a cache), after the root.
        let caches = count(&args, is_cache);
        assert_eq!(caches, usize::from(cfg.cache.is_some()), "{text}");
        if caches == 1 {
            let cache_at = position(&args, is_cache).unwrap();
            let last_root = args.iter().rposition(is_root).unwrap();
            assert!(last_root < cache_at, "{text}");
        }
        // The invoking user's home is never a bind source.
        assert!(
            !args.iter().any(|a| matches!(a,
                Arg::Bind { src, .. } | Arg::RoBind { src, .. }
                    if src.as_path().starts_with(&home) && home != "/")),
            "{text}"
        );
        // --unshare-net exactly when the network is off.
        assert_eq!(
            count(&args, |a| *a == Arg::Unshare(Namespace::Net)),
            usize::from(!cfg.network),
            "{text}"
        );
        // Always: private PID, IPC, UTS; lifetime tied to melwrap; own session; env cleared.
        for must in [
            Arg::Unshare(Namespace::Pid),
            Arg::Unshare(Namespace::Ipc),
            Arg::Unshare(Namespace::Uts),
            Arg::DieWithParent,
            Arg::NewSession,
            Arg::ClearEnv,
        ] {
            assert_eq!(count(&args, |a| *a == must), 1, "{must:?} in\n{text}");
        }
        // --clearenv comes before every --setenv.
        let clear = position(&args, |a| *a == Arg::ClearEnv).unwrap();
        assert!(
            args.iter()
                .enumerate()
                .all(|(i, a)| !matches!(a, Arg::SetEnv(..)) || i > clear)
        );
        // Always a user namespace; as root the step is uid 0 in it, with no capabilities
        // (bwrap keeps them for uid 0 unless told).
        let userns = count(&args, |a| *a == Arg::Unshare(Namespace::User));
        assert_eq!(userns, 1, "{text}");
        if let Identity::Root(_) = cfg.identity {
            assert_eq!(count(&args, |a| *a == Arg::Uid(0)), 1, "{text}");
            assert_eq!(count(&args, |a| *a == Arg::CapDrop("ALL".into())), 1);
        }
        // No read-write bind except the workspace and the cache.
        for a in &args {
            if let Arg::Bind { dest, .. } = a {
                assert!(
                    dest.as_str() == crate::guest::WORKSPACE
                        || dest.as_str() == crate::guest::CACHE,
                    "{text}"
                );
            }
        }
        // The command comes last.
        assert!(matches!(args.last(), Some(Arg::Command(_))));
    }
}

#[test]
fn host_rootfs_shows_only_system_dirs() {
    let tree = host_tree()
        .dir("/home/me")
        .dir("/root")
        .dir("/run/user")
        .dir("/var/lib")
        .dir("/srv")
        .dir("/mnt");
    let args = bwrap_args(&config(Rootfs::Host), &tree, &step());
    for a in &args {
        if let Arg::RoBind { dest, .. } | Arg::Bind { dest, .. } = a {
            let top = dest.components().next().unwrap_or("");
            assert!(
                root::HOST_SYSTEM_DIRS.contains(&top)
                    || [crate::guest::WORKSPACE, crate::guest::CACHE].contains(&dest.as_str()),
                "{dest} is shown"
            );
        }
    }
}

#[test]
fn interactive_shell_keeps_the_sandbox_but_not_the_session() {
    let shell = vec!["/bin/sh".to_string(), "-c".to_string()];
    let mut failed = step();
    failed.workdir = gp("/home/build/src dir");
    failed.env.push(("HOME".into(), "/home/build".into()));
    failed.env.push(("TERM".into(), "dumb".into()));
    let cfg = config(Rootfs::Host);
    let args = interactive_args(&cfg, &host_tree(), &shell, &failed, Some("screen"));
    let step_args = bwrap_args(&cfg, &host_tree(), &failed);
    assert!(!args.contains(&Arg::NewSession));
    assert!(!args.contains(&Arg::JsonStatusFd(STATUS_FD)));
    assert!(args.contains(&Arg::DieWithParent));
    assert!(args.contains(&Arg::SetEnv(
        "HISTFILE".into(),
        "/home/build/.ash_history".into()
    )));
    assert!(args.contains(&Arg::SetEnv("TERM".into(), "screen".into())));
    assert_eq!(
        count(&args, |a| matches!(a, Arg::SetEnv(k, _) if k == "TERM")),
        1
    );
    assert_eq!(
        args.last(),
        Some(&Arg::Command(vec![
            "/bin/sh".into(),
            "-c".into(),
            "cd '/home/build/src dir' && exec /bin/sh".into()
        ]))
    );
    // Apart from the session, environment and command, it is the step's sandbox.
    let strip = |v: &[Arg]| -> Vec<Arg> {
        v.iter()
            .filter(|a| {
                !matches!(
                    a,
                    Arg::NewSession | Arg::JsonStatusFd(_) | Arg::SetEnv(..) | Arg::Command(_)
                )
            })
            .cloned()
            .collect()
    };
    assert_eq!(strip(&args), strip(&step_args));
    let args = interactive_args(&cfg, &host_tree(), &shell, &failed, None);
    assert!(args.contains(&Arg::SetEnv("TERM".into(), "xterm-256color".into())));
}

#[test]
fn the_interactive_shell_reads_no_startup_files_or_hooks() {
    let mut failed = step();
    for (k, v) in [
        ("ENV", "/home/build/.shrc"),
        ("BASH_ENV", "/home/build/.bashenv"),
        ("PROMPT_COMMAND", "evil"),
        ("PS1", "$(evil)"),
        ("BASH_FUNC_ls%%", "() { evil; }"),
        ("INPUTRC", "/home/build/.inputrc"),
        ("KEEP_ME", "yes"),
    ] {
        failed.env.push((k.into(), v.into()));
    }
    let cfg = config(Rootfs::Host);
    let bash = vec!["/bin/bash".to_string(), "-c".to_string()];
    let args = interactive_args(&cfg, &host_tree(), &bash, &failed, None);
    let env: Vec<(&str, &str)> = args
        .iter()
        .filter_map(|a| match a {
            Arg::SetEnv(k, v) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
        .collect();
    for gone in ["ENV", "BASH_ENV", "PROMPT_COMMAND", "PS1", "BASH_FUNC_ls%%"] {
        assert!(env.iter().all(|(k, _)| *k != gone), "{gone} in {env:?}");
    }
    assert!(env.contains(&("INPUTRC", "/dev/null")), "{env:?}");
    assert!(env.contains(&("KEEP_ME", "yes")));
    let Some(Arg::Command(argv)) = args.last() else {
        panic!("no command")
    };
    assert_eq!(
        argv[2],
        "cd '/home/build' && exec /bin/bash --norc --noprofile"
    );
    // Other shells get no bash flags; they read only $ENV, which is gone.
    let busybox = vec!["/bin/busybox".to_string(), "sh".into(), "-c".into()];
    let args = interactive_args(&cfg, &host_tree(), &busybox, &failed, None);
    assert_eq!(
        args.last(),
        Some(&Arg::Command(vec![
            "/bin/busybox".into(),
            "sh".into(),
            "-c".into(),
            "cd '/home/build' && exec /bin/busybox sh".into()
        ]))
    );
}

#[test]
fn display_command_is_pasteable() {
    let mut cmd = step();
    cmd.argv = vec!["/bin/sh".into(), "-c".into(), "echo 'hi there'".into()];
    let text = display_command(
        std::path::Path::new("/usr/bin/bwrap"),
        &bwrap_args(&config(Rootfs::Host), &host_tree(), &cmd),
    );
    assert!(
        text.starts_with("/usr/bin/bwrap --symlink usr/bin /bin "),
        "{text}"
    );
    assert!(!text.contains("--json-status-fd"), "{text}");
    let words = shell_words::split(&text).unwrap();
    assert_eq!(words.last().unwrap(), "echo 'hi there'");
}

#[test]
fn guest_paths_normalise() {
    assert_eq!(gp("/a//b/./c/..").as_str(), "/a/b");
    assert_eq!(gp("/../..").as_str(), "/");
    assert_eq!(gp("/a").join("../../etc").as_str(), "/etc");
    assert_eq!(gp("/a/b").join("/x").as_str(), "/x");
    assert!(GuestPath::new("relative").is_err());
    assert!(HostPath::new("relative").is_err());
    assert!(gp("/var/cache/melange").starts_with(&gp("/var")));
    assert!(!gp("/variable").starts_with(&gp("/var")));
    assert_eq!(gp("/").parent().as_str(), "/");
}

#[test]
fn run_as_and_capabilities_become_ids_and_cap_flags() {
    let tree = MemTree::new("/r")
        .dir("/bin")
        .dir("/dev")
        .dir("/proc")
        .dir("/tmp")
        .dir("/home/build")
        .dir("/var/cache/melange")
        .file("/etc/resolv.conf")
        .file("/etc/passwd");
    let flat = |args: &[Arg]| render(args).replace('\n', " ");
    let mut cfg = config(Rootfs::Dir(hp("/r")));
    cfg.identity = Identity::Root(BuildIds::default());
    cfg.step_ids = Some((12345, 12346));
    cfg.capabilities = crate::sandbox::caps::CapChanges {
        add: vec!["CAP_NET_ADMIN".into()],
        drop: vec!["CAP_SYS_CHROOT".into()],
    };
    cfg.ro_files = vec![(hp("/tmp/acc/passwd"), gp("/etc/passwd"))];
    cfg.extra_tmpfs = vec![gp("/home/nonroot")];
    let text = flat(&bwrap_args(&cfg, &tree, &step()));
    assert!(
        text.contains(
            "--unshare-user --uid 12345 --gid 12346 --cap-drop ALL --cap-add CAP_NET_ADMIN \
             --cap-drop CAP_SYS_CHROOT"
        ),
        "{text}"
    );
    assert!(
        text.contains("--ro-bind /tmp/acc/passwd /etc/passwd"),
        "{text}"
    );
    // /home/nonroot is missing: /home is spliced to hold the tmpfs.
    assert!(text.contains("--tmpfs /home/nonroot"), "{text}");
    // run-as root as an ordinary user: uid 0 inside, every capability dropped.
    let mut cfg = config(Rootfs::Dir(hp("/r")));
    cfg.step_ids = Some((0, 0));
    let text = flat(&bwrap_args(&cfg, &tree, &step()));
    assert!(text.contains("--uid 0 --gid 0 --cap-drop ALL"), "{text}");
    assert!(!text.contains("--cap-add"), "{text}");
    // The default build user gets no cap flags at all.
    let text = flat(&bwrap_args(&config(Rootfs::Dir(hp("/r"))), &tree, &step()));
    assert!(text.contains("--uid 1000 --gid 1000 --clearenv"), "{text}");
}

#[test]
fn a_guest_overlay_is_bound_read_write_at_the_root_and_missing_mount_points_are_not_spliced() {
    // /etc/resolv.conf and /home/build are missing: a read-only guest would need splices,
    // the writable overlay lets bwrap create them.
    let tree = MemTree::new("/g").file("/bin/sh").dir("/etc").dir("/var");
    let mut cfg = config(Rootfs::Dir(hp("/g")));
    cfg.overlay =
        Some(crate::sandbox::GuestOverlay::new(hp("/g"), hp("/tmp/s"), cfg.identity).unwrap());
    let args = bwrap_args(&cfg, &tree, &step());
    let text = render(&args);
    assert!(text.contains("--bind /tmp/s/root /"), "{text}");
    assert!(!text.contains("--ro-bind /g"), "{text}");
    assert!(!text.contains("--tmpfs /etc"), "{text}");
    assert!(!text.contains("--remount-ro"), "{text}");
    assert!(text.contains("--cap-drop ALL"), "{text}");
}
