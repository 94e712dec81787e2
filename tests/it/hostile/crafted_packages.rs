//! `melwrap test` on a crafted package: entries that write, chmod or hard-link through a
//! symlink an earlier entry made are refused, naming the package and the entry, and the
//! host directory the links point at is left exactly as it was. As root and as uid 65534.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use melwrap::apk::tar::Kind;

use super::craft::{Entry, entry, replace_data, symlink};
use crate::test_cmd::support::Scratch;

/// The main package's `.apk` under `packages/`.
fn main_apk(s: &Scratch) -> PathBuf {
    crate::support::walk(&s.path().join("packages"))
        .into_iter()
        .find(|p| {
            !p.is_dir()
                && p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("hello-1.2.3")
        })
        .expect("no hello package was built")
}

/// A host directory anyone may write to, holding a root-owned `secret`.
struct HostDir {
    dir: tempfile::TempDir,
}

impl HostDir {
    fn new() -> HostDir {
        let dir = tempfile::Builder::new()
            .prefix("melwrap-host-")
            .tempdir_in("/tmp")
            .unwrap();
        fs_err::set_permissions(dir.path(), PermissionsExt::from_mode(0o777)).unwrap();
        fs_err::write(dir.path().join("secret"), "host secret\n").unwrap();
        fs_err::set_permissions(dir.path().join("secret"), PermissionsExt::from_mode(0o644))
            .unwrap();
        HostDir { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    #[track_caller]
    fn assert_untouched(&self, what: &str) {
        let names: Vec<_> = fs_err::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret"], "{what}: a file appeared in the host dir");
        let mode = fs_err::metadata(self.path()).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o777, "{what}: the host dir was chmodded");
        let secret = fs_err::metadata(self.path().join("secret")).unwrap();
        assert_eq!(
            secret.mode() & 0o7777,
            0o644,
            "{what}: the host file was chmodded"
        );
        assert_eq!(secret.nlink(), 1, "{what}: the host file was hard-linked");
    }
}

#[test]
fn crafted_packages_cannot_reach_host_files_through_links() {
    let s = Scratch::new("hello.yaml");
    let build = s.melwrap(&["build", "hello.yaml"]);
    assert_eq!(build.code, Some(0), "{}", build.stderr);
    s.open_up();
    let apk = main_apk(&s);
    let host = HostDir::new();
    let h = host.path().display().to_string();
    let link = |name: &str| symlink(name, &h);
    let attacks: Vec<(&str, Vec<Entry>, &str)> = vec![
        (
            "write through a link",
            vec![
                link("evil"),
                entry("evil/passwd", Kind::File, 0o644, b"PWNED\n"),
            ],
            "evil/passwd",
        ),
        (
            "chmod through a link",
            vec![link("evil"), entry("evil", Kind::Dir, 0o700, b"")],
            "evil",
        ),
        (
            "hard link through a link",
            vec![
                link("evil"),
                entry(
                    "stolen",
                    Kind::HardLink(b"evil/secret".to_vec()),
                    0o644,
                    b"",
                ),
            ],
            "stolen",
        ),
        (
            "hard link to an absolute path",
            vec![entry(
                "shadow",
                Kind::HardLink(format!("{h}/secret").into_bytes()),
                0o644,
                b"",
            )],
            "shadow",
        ),
    ];
    for (what, entries, named) in attacks {
        replace_data(&apk, &apk, &entries);
        // Each identity its own cache: a root run hands its cache to the build ids (0700).
        let root = s.melwrap(&["test", "hello.yaml", "--cache-dir", "cache-root"]);
        let nobody = s.melwrap_as_nobody(&["test", "hello.yaml", "--cache-dir", "cache-nobody"]);
        for (who, run) in [("root", root), ("uid 65534", nobody)] {
            assert_ne!(
                run.code,
                Some(0),
                "{who}, {what}: the test ran\n{}",
                run.stderr
            );
            assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
            assert!(
                run.stderr.contains("package `hello`")
                    && run.stderr.contains(&format!("entry `{named}`")),
                "{who}, {what}: names the package and the entry\n{}",
                run.stderr
            );
            host.assert_untouched(&format!("{who}, {what}"));
        }
    }
}
