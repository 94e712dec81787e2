//! A step that replaces `melange-out`, a package dir, or a directory inside one with a symlink
//! to a host directory must not get host files into the world-readable `.apk`: the packager
//! refuses a link where a directory must be (naming it), and packages a link inside the
//! package as a symlink entry, never following it. As root the bait is a root-only file; as
//! an ordinary user it is the user's own private key.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::build::common::*;

/// A host directory the step cannot see, holding `test-pkg/usr/share/key` (mode 0600, owned
/// by the user melwrap runs as) with a marker only the host knows.
fn bait(t: &TestEnv, who: Who) -> (PathBuf, String) {
    let marker = format!("HOST-PRIVATE-KEY-{}-{who:?}", std::process::id());
    let dir = t.root().join("host-secret");
    let file = dir.join("test-pkg/usr/share/key");
    fs_err::create_dir_all(file.parent().unwrap()).unwrap();
    fs_err::write(&file, format!("{marker}\n")).unwrap();
    fs_err::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let uid = who.host_uid();
    std::os::unix::fs::chown(&file, Some(uid), None).unwrap();
    for d in ["", "test-pkg", "test-pkg/usr", "test-pkg/usr/share"] {
        fs_err::set_permissions(dir.join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (dir, marker)
}

/// Every byte of every `.apk` under `out`, decompressed.
fn apk_contents(out: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let apks = crate::support::walk(out)
        .into_iter()
        .filter(|p| !p.is_dir() && p.extension().is_some_and(|x| x == "apk"));
    apks.map(|p| {
        let raw = fs_err::read(&p).unwrap();
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut text)
            .unwrap();
        (p, text)
    })
    .collect()
}

fn assert_no_bait(out: &Path, marker: &str, what: &str) {
    for (path, text) in apk_contents(out) {
        assert!(
            !text.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "{what}: {} holds the host file's contents",
            path.display()
        );
    }
}

fn step(script: &str) -> String {
    format!("pipeline:\n  - runs: |\n{}", indent(script))
}

fn indent(script: &str) -> String {
    script.lines().map(|l| format!("      {l}\n")).collect()
}

#[test]
fn a_link_where_a_package_directory_must_be_fails_the_build_naming_it() {
    require_bwrap!();
    for who in users() {
        let cases = [
            (
                "melange-out replaced by a link",
                "rm -rf /home/build/melange-out\nln -s {bait} /home/build/melange-out\n",
                "melange-out",
            ),
            (
                "the package dir replaced by a link",
                "rm -rf /home/build/melange-out/test-pkg\n\
                 ln -s {bait}/test-pkg /home/build/melange-out/test-pkg\n",
                "melange-out/test-pkg",
            ),
        ];
        for (what, script, named) in cases {
            let t = TestEnv::new();
            let (dir, marker) = bait(&t, who);
            t.config(&step(&script.replace("{bait}", &dir.display().to_string())));
            let run = t.build(who, &[]);
            assert_ne!(
                run.code,
                Some(0),
                "{who:?}, {what}: the build succeeded\n{run}"
            );
            assert!(!run.stderr.contains("panicked"), "{who:?}, {what}:\n{run}");
            assert!(
                run.stderr.contains(&format!("{named}: is a symbolic link")),
                "{who:?}, {what}: the message names the link\n{run}"
            );
            assert_no_bait(&t.out(), &marker, what);
        }
    }
}

#[test]
fn a_link_inside_a_package_is_packaged_as_a_link() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        let (dir, marker) = bait(&t, who);
        let target = dir.join("test-pkg/usr/share");
        t.config(&step(&format!(
            "mkdir -p /home/build/melange-out/test-pkg/usr\n\
             ln -s {} /home/build/melange-out/test-pkg/usr/share\n",
            target.display()
        )));
        t.build(who, &[]).ok();
        let apks = apk_contents(&t.out());
        assert_eq!(apks.len(), 1, "{who:?}: one package");
        // The link's text is in the package (as a symlink entry), the file below it is not.
        let text = &apks[0].1;
        let target = target.display().to_string();
        assert!(
            text.windows(target.len()).any(|w| w == target.as_bytes()),
            "{who:?}: the symlink entry is kept"
        );
        assert_no_bait(&t.out(), &marker, "a link inside the package");
    }
}
