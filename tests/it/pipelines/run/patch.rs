//! `patch`: a list of patches and a series file; bad input and hunks that do not apply.

use super::*;

const ORIGINAL: &str = "one\ntwo\nthree\n";

fn diff(from: &str, to: &str, file: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(dir.path().join("a")).unwrap();
    fs_err::create_dir_all(dir.path().join("b")).unwrap();
    fs_err::write(dir.path().join("a").join(file), from).unwrap();
    fs_err::write(dir.path().join("b").join(file), to).unwrap();
    let out = Command::new("diff")
        .args(["-u", &format!("a/{file}"), &format!("b/{file}")])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn patch_applies_a_list_and_a_series_file() {
    for shell in SHELLS {
        let b = Build::new(shell);
        let w = &b.workspace;
        fs_err::write(w.join("numbers.txt"), ORIGINAL).unwrap();
        fs_err::write(
            w.join("first.patch"),
            diff(ORIGINAL, "one\n2\nthree\n", "numbers.txt"),
        )
        .unwrap();
        fs_err::write(
            w.join("second.patch"),
            diff("one\n2\nthree\n", "one\n2\n3\n", "numbers.txt"),
        )
        .unwrap();
        b.ok("patch", &[("patches", "first.patch\n  second.patch")]);
        assert_eq!(
            fs_err::read_to_string(w.join("numbers.txt")).unwrap(),
            "one\n2\n3\n"
        );

        // The same through a quilt series file with comments and blank lines.
        let b = Build::new(shell);
        let w = &b.workspace;
        fs_err::create_dir_all(w.join("patches")).unwrap();
        fs_err::write(w.join("numbers.txt"), ORIGINAL).unwrap();
        fs_err::write(
            w.join("patches/1.patch"),
            diff(ORIGINAL, "one\n2\nthree\n", "numbers.txt"),
        )
        .unwrap();
        fs_err::write(
            w.join("patches/2.patch"),
            diff("one\n2\nthree\n", "one\n2\n3\n", "numbers.txt"),
        )
        .unwrap();
        fs_err::write(
            w.join("patches/series"),
            "# fixes\npatches/1.patch\n\npatches/2.patch\n",
        )
        .unwrap();
        let log = b.ok("patch", &[("series", "patches/series")]);
        assert!(log.contains("applying patches/2.patch"), "{log}");
        assert_eq!(
            fs_err::read_to_string(w.join("numbers.txt")).unwrap(),
            "one\n2\n3\n"
        );
    }
}

#[test]
fn patch_refuses_bad_input_and_fails_when_a_hunk_does_not_apply() {
    for shell in SHELLS {
        let b = Build::new(shell);
        let w = &b.workspace;
        fs_err::write(w.join("numbers.txt"), "completely\ndifferent\n").unwrap();
        fs_err::write(
            w.join("first.patch"),
            diff(ORIGINAL, "one\n2\nthree\n", "numbers.txt"),
        )
        .unwrap();
        b.fails("patch", &[("patches", "first.patch")]);
        b.fails("patch", &[]);
        let log = b.fails(
            "patch",
            &[("patches", "first.patch"), ("strip-components", "x")],
        );
        assert!(log.contains("non-negative integer"), "{log}");
        let log = b.fails("patch", &[("series", "a;b")]);
        assert!(log.contains("metacharacters"), "{log}");
        b.fails("patch", &[("series", "missing-series")]);
    }
}
