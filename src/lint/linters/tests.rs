//! The linters on hand-made file lists (the integration tests trip each one in a real build).

use std::collections::HashMap;
use std::fs::File;
use std::io;

use super::*;

struct NoFiles;

impl Opener for NoFiles {
    fn open(&mut self, _: usize) -> io::Result<File> {
        Err(io::Error::other("no contents in this test"))
    }
}

fn entry(spec: &str) -> Entry {
    // `d path`, `f path [mode]`, `l path`.
    let mut parts = spec.split_whitespace();
    let kind = match parts.next().unwrap() {
        "d" => Kind::Dir,
        "f" => Kind::File,
        "l" => Kind::Symlink,
        _ => Kind::Other,
    };
    let path = parts.next().unwrap().to_string();
    let mode = parts
        .next()
        .map_or(0o644, |m| u32::from_str_radix(m, 8).unwrap());
    Entry {
        path,
        kind,
        mode,
        size: 10,
    }
}

fn run(check: fn(&mut Subject<'_>) -> Outcome, name: &str, specs: &[&str]) -> Option<Found> {
    let entries: Vec<Entry> = specs.iter().map(|s| entry(s)).collect();
    let mut opener = NoFiles;
    let mut s = Subject {
        name,
        entries: &entries,
        test_uses: &[],
        opener: &mut opener,
        elf_cache: HashMap::new(),
    };
    check(&mut s).unwrap()
}

#[test]
fn run_directories_need_a_tmpfiles_snippet_files_never_pass() {
    let dirs = ["d run", "d run/app"];
    assert_eq!(run(tempdir, "p", &dirs).unwrap().paths, ["run/app"]);
    let with_snippet = ["d run", "d run/app", "f usr/lib/tmpfiles.d/app.conf"];
    assert!(run(tempdir, "p", &with_snippet).is_none());
    let file = ["d run", "f run/app.pid", "f usr/lib/tmpfiles.d/app.conf"];
    assert_eq!(run(tempdir, "p", &file).unwrap().paths, ["run/app.pid"]);
    // A directory /tmp alone is fine; so is a file named tmp elsewhere.
    assert!(run(tempdir, "p", &["d tmp", "f usr/share/tmp"]).is_none());
}

#[test]
fn compat_packages_may_use_compat_locations() {
    let files = ["d usr/local", "f usr/local/bin/x"];
    assert!(run(usrlocal, "p", &files).is_some());
    assert!(run(usrlocal, "p-compat", &files).is_none());
    assert!(run(usrlocal, "p", &["d usr/local", "d usr/local/bin"]).is_none());
}

#[test]
fn usrmerge_names_links_and_directories_too() {
    let found = run(
        usrmerge,
        "p",
        &["l bin", "d usr", "d usr/bin", "f usr/bin/x"],
    )
    .unwrap();
    assert_eq!(found.paths, ["bin"]);
    assert!(run(usrmerge, "p", &["d usr/sbin-tools", "f binary"]).is_none());
}

#[test]
fn infodir_matches_the_file_and_below_a_directory() {
    assert!(run(infodir, "p", &["f usr/share/info/dir"]).is_some());
    assert!(
        run(
            infodir,
            "p",
            &["d usr/share/info/dir", "f usr/share/info/dir/x"]
        )
        .is_some()
    );
    assert!(run(infodir, "p", &["f usr/share/info/dir.info"]).is_none());
}

#[test]
fn modes_are_only_checked_on_regular_files() {
    assert!(run(worldwrite, "p", &["d tmp 1777", "l usr/bin/x 777"]).is_none());
    let found = run(worldwrite, "p", &["f usr/share/a 666", "f usr/bin/b 777"]).unwrap();
    assert_eq!(found.message, "p contains 2 world-writeable files");
    let found = run(setuidgid, "p", &["f usr/bin/s 2755", "d var/mail 2775"]).unwrap();
    assert_eq!(found.paths, ["usr/bin/s (mode 2755: setgid)"]);
}

#[test]
fn unsupported_arch_names_are_excused_by_a_supported_one() {
    assert!(run(unsupportedarch, "p", &["f usr/share/x/tool-mips.bin"]).is_some());
    assert!(run(unsupportedarch, "p", &["f usr/lib/x86_64/tool-mips.bin"]).is_none());
    // A directory named after an architecture is not excused.
    assert!(
        run(
            unsupportedarch,
            "p",
            &["f usr/lib/i386-linux-gnu/x86_64.so"]
        )
        .is_some()
    );
}

#[test]
fn python_linters_refuse_two_versions_and_count_packages() {
    let two = ["d usr/lib/python3.11", "d usr/lib/python3.12"];
    let found = run(python_docs, "p", &two).unwrap();
    assert!(found.message.contains("more than one Python version"));
    let one = [
        "d usr/lib/python3.12",
        "d usr/lib/python3.12/site-packages",
        "d usr/lib/python3.12/site-packages/foo",
        "d usr/lib/python3.12/site-packages/foo-1.0.dist-info",
        "f usr/lib/python3.12/site-packages/_private.py",
        "d usr/lib/python3.12/site-packages/tests",
    ];
    assert!(run(python_multiple, "p", &one).is_none());
    assert!(run(python_test, "p", &one).is_some());
    assert!(run(python_docs, "p", &one).is_none());
    let mut two_packages = one.to_vec();
    two_packages.push("f usr/lib/python3.12/site-packages/six.py");
    let found = run(python_multiple, "p", &two_packages).unwrap();
    assert_eq!(
        found.message,
        "multiple Python packages detected: 2 found (\"foo\", \"six\")"
    );
}

#[test]
fn an_empty_package_may_hold_directories_and_its_sbom_only() {
    assert!(run(empty, "p", &["d usr", "d usr/share"]).is_some());
    assert!(run(empty, "p", &["f var/lib/db/sbom/p-1-r0.spdx.json"]).is_some());
    assert!(run(empty, "p", &["l usr/bin/x"]).is_none());
}

#[test]
fn tests_excuse_pkgconfig_files_and_shared_objects() {
    let entries: Vec<Entry> = ["f usr/lib/pkgconfig/x.pc", "f usr/lib/libx.so.1.2"]
        .iter()
        .map(|s| entry(s))
        .collect();
    let uses = vec!["test/pkgconf".to_string(), "test/tw/ldd-check".to_string()];
    let mut opener = NoFiles;
    let mut s = Subject {
        name: "p",
        entries: &entries,
        test_uses: &uses,
        opener: &mut opener,
        elf_cache: HashMap::new(),
    };
    assert!(pkgconf(&mut s).unwrap().is_none());
    assert!(lddcheck(&mut s).unwrap().is_none());
    s.test_uses = &[];
    assert!(pkgconf(&mut s).unwrap().is_some());
    assert!(lddcheck(&mut s).unwrap().is_some());
}
