//! Who owns what a step writes: as an ordinary user, the invoking user on the host (uid 1000
//! inside, through a user namespace); as root, uid 0 inside and the unprivileged build ids
//! (never host root) outside. Also the representative
//! unprivileged build: the hello example as uid 65534 (or as the ordinary user running the tests).

use std::path::Path;

use crate::build::common::*;

#[test]
fn files_a_step_writes_belong_to_the_invoking_user() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        let ws = t.make_workspace();
        t.config(
            r#"pipeline:
  - runs: |
      id -u > /var/cache/melange/uid
      id -g > /var/cache/melange/gid
      mkdir -p /var/cache/melange/dir
      echo x > /var/cache/melange/dir/file
      echo y > made-in-workspace
      mkdir -p "${{targets.destdir}}/usr/bin"
      echo z > "${{targets.destdir}}/usr/bin/tool"
"#,
        );
        t.build(who, &["--no-network", "--workspace-dir", "ws"])
            .ok();
        let inside = t.cached("uid");
        // melwrap as root runs steps as uid 0 inside (melange's root); as anyone else, as uid
        // 1000 in a user namespace.
        let expected_inside = if who.host_uid() == 0 { "0" } else { "1000" };
        assert_eq!(inside.trim(), expected_inside, "{who:?}: uid inside");
        assert_eq!(
            t.cached("gid").trim(),
            expected_inside,
            "{who:?}: gid inside"
        );
        // As root, the build ids own what steps write: never host root.
        let uid = match who.host_uid() {
            0 => melwrap::sandbox::DEFAULT_BUILD_ID,
            other => other,
        };
        let arch = fs_err::read_dir(&ws)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        for path in [
            t.cache().join("uid"),
            t.cache().join("dir"),
            t.cache().join("dir/file"),
            arch.join("made-in-workspace"),
            arch.join("melange-out/test-pkg/usr/bin/tool"),
        ] {
            assert_eq!(owner(&path), uid, "{who:?}: owner of {path:?}");
        }
        // The cache dir melwrap created belongs to the same ids; packages stay the invoking
        // user's.
        assert_eq!(owner(&t.cache()), uid, "{who:?}");
        for arch_dir in fs_err::read_dir(t.out()).unwrap().flatten() {
            for file in fs_err::read_dir(arch_dir.path()).unwrap().flatten() {
                assert_eq!(owner(&file.path()), who.host_uid(), "{who:?}: {file:?}");
            }
        }
        // In the package the step's files are root's (melange's root), whoever ran melwrap.
        let apk = fs_err::read_dir(t.out())
            .unwrap()
            .flatten()
            .flat_map(|d| fs_err::read_dir(d.path()).unwrap().flatten())
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "apk"))
            .unwrap();
        let listing = std::process::Command::new("tar")
            .args(["--numeric-owner", "-tvzif"])
            .arg(&apk)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        let tool = listing
            .lines()
            .find(|l| l.ends_with("usr/bin/tool"))
            .unwrap_or_else(|| panic!("{who:?}: no usr/bin/tool in\n{listing}"));
        assert!(tool.contains(" 0/0 "), "{who:?}: {tool}");
    }
}

#[test]
fn the_hello_example_builds_as_an_ordinary_user() {
    require_bwrap!();
    // As root this drops to uid 65534; as an ordinary user it runs as that user.
    let t = TestEnv::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
    for file in ["melange.yaml", "hello.c"] {
        t.write(file, &fs_err::read_to_string(example.join(file)).unwrap());
    }
    let run = t.build(Who::Nobody, &["--no-network"]);
    run.ok();
    assert!(run.stderr.contains("compiling hello.c"), "{run}");
    // The second build reuses the compiled object from the cache.
    let run = t.build(Who::Nobody, &["--no-network"]);
    run.ok();
    assert!(run.stderr.contains("reusing cached object"), "{run}");
    let objects = t.cache().join("hello-objects");
    for entry in fs_err::read_dir(&objects).unwrap().flatten() {
        assert_eq!(owner(&entry.path()), Who::Nobody.host_uid());
    }
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}
