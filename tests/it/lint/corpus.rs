//! The corpus configs whose steps only write files (the melange examples that build with the
//! host's tools, no network) still package under melange's default linters; with
//! `--fail-on-lint-warning` (as Wolfi builds), the ones listed in [`EXPECTED_WARNINGS`] fail,
//! for the reason given there, and no other.

use super::*;

/// The examples that build on the host root without a network (as in `build::examples`).
const FILE_WRITERS: &[&str] = &[
    "capabilities-add-drop.yaml",
    "conditional.yaml",
    "minimal.yaml",
    "one-arch.yaml",
    "pipelineless.yaml",
    "replacement-provides.yaml",
    "split-bin.yaml",
    "split-lib.yaml",
    "vars.yaml",
    "working-directory.yaml",
];

/// (example, package, linter): warnings melange's default set gives these examples.
/// `split-lib` installs `.so` files without a `test/ldd-check` test (`lddcheck`) and keeps the
/// static archive in the main package (`staticarchive`): melange warns about both too.
const EXPECTED_WARNINGS: &[(&str, &str, &str)] = &[
    ("split-lib.yaml", "split-lib-test", "lddcheck"),
    ("split-lib.yaml", "split-lib-test", "staticarchive"),
    ("split-lib.yaml", "split-lib-test-libs", "lddcheck"),
    ("split-lib.yaml", "split-lib-test-crypto", "lddcheck"),
];

#[test]
fn file_writing_examples_package_without_lint_errors() {
    require_bwrap!();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/melange-examples");
    for example in FILE_WRITERS {
        let config = dir.join(example);
        for strict in [false, true] {
            let t = TestEnv::new();
            let mut cmd = t.melwrap(Who::Root);
            cmd.arg("build").arg(&config).args([
                "--cache-dir",
                "cache",
                "--out-dir",
                "out",
                "--no-network",
                "--rootfs",
                "host",
            ]);
            if strict {
                cmd.arg("--fail-on-lint-warning");
            }
            let run = Run::from(cmd.output().unwrap());
            let mut got: Vec<(String, String)> = findings(&run.stderr)
                .into_iter()
                .map(|f| {
                    assert_eq!(f.error, strict, "{example}: {f:?}\n{run}");
                    (f.package, f.linter)
                })
                .collect();
            got.sort();
            let mut want: Vec<(String, String)> = EXPECTED_WARNINGS
                .iter()
                .filter(|(e, _, _)| e == example)
                .map(|(_, p, l)| (p.to_string(), l.to_string()))
                .collect();
            want.sort();
            assert_eq!(got, want, "{example} (strict: {strict})\n{run}");
            let fails = strict && !want.is_empty();
            run.exit(if fails { 1 } else { 0 });
            assert_eq!(apks(&t.out()).is_empty(), fails, "{example}");
        }
    }
}
