//! The source layout issue 12 settled, kept: the library never names the CLI, and each guest
//! path is spelled in one source file.

use std::path::{Path, PathBuf};

fn sources() -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    crate::support::walk(&src)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            let text = fs_err::read_to_string(&p).unwrap();
            (p.strip_prefix(&src).unwrap().to_path_buf(), text)
        })
        .collect()
}

#[test]
fn the_library_never_names_the_cli() {
    let offenders: Vec<_> = sources()
        .into_iter()
        .filter(|(p, text)| {
            !p.starts_with("cli") && p != Path::new("main.rs") && text.contains("crate::cli")
        })
        .map(|(p, _)| p)
        .collect();
    assert!(offenders.is_empty(), "crate::cli named in {offenders:?}");
}

#[test]
fn guest_paths_are_spelled_in_one_file() {
    for literal in ["\"/home/build\"", "\"/var/cache/melange\""] {
        let files: Vec<_> = sources()
            .into_iter()
            .filter(|(p, text)| {
                !p.to_string_lossy().ends_with("_tests.rs")
                    && !p.components().any(|c| c.as_os_str() == "tests")
                    && text.contains(literal)
            })
            .map(|(p, _)| p)
            .collect();
        assert_eq!(files, [PathBuf::from("guest/mod.rs")], "{literal}");
    }
}
