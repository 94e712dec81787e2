//! The corpus configs whose steps only write files (the melange examples that build with the
//! host's tools, no network) still package under melange's default linters; with
//! `--fail-on-lint-warning` (as Wolfi builds), the ones listed in [`EXPECTED_WARNINGS`] fail,
//! for the reason given there, and no other. The Wolfi configs, whose steps download and
//! compile, are built with every step mocked by one that writes a file.

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

/// Every step of every package replaced by one that writes a file into the package's own
/// destdir; `test:`, `environment:` and `update:` dropped (nothing is installed or tested).
fn mocked(config: &Path) -> String {
    use serde_yaml::Value;
    let text = fs_err::read_to_string(config).unwrap();
    let mut doc: Value = serde_yaml::from_str(&text).unwrap();
    let step: Value = serde_yaml::from_str(
        "- runs: |\n    mkdir -p \"${{targets.contextdir}}/usr/share/mocked\"\n    echo mocked > \"${{targets.contextdir}}/usr/share/mocked/file\"\n",
    )
    .unwrap();
    let map = doc.as_mapping_mut().unwrap();
    for key in ["test", "environment", "update"] {
        map.remove(key);
    }
    map.insert("pipeline".into(), step.clone());
    if let Some(Value::Sequence(subs)) = map.get_mut("subpackages") {
        for sub in subs {
            let sub = sub.as_mapping_mut().unwrap();
            sub.remove("test");
            sub.insert("pipeline".into(), step.clone());
        }
    }
    serde_yaml::to_string(&doc).unwrap()
}

/// The Wolfi corpus with mocked steps: every package (range subpackages included) passes
/// melange's default linters even with `--fail-on-lint-warning`, the config's `checks:` are
/// accepted, and each package carries a schema-valid SBOM of its real metadata.
#[test]
fn wolfi_configs_with_mocked_steps_package_without_lint_findings() {
    require_bwrap!();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/wolfi");
    let mut configs: Vec<PathBuf> = fs_err::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 100, "the corpus is missing: {dir:?}");
    let schema = super::sbom::schema();
    let mut problems = Vec::new();
    let mut packages = 0;
    for config in &configs {
        let name = config.file_name().unwrap().to_string_lossy().into_owned();
        let t = TestEnv::new();
        t.write("melange.yaml", &mocked(config));
        let run = build(
            &t,
            &[
                "--arch",
                "x86_64",
                "--fail-on-lint-warning",
                "--generate-index=false",
            ],
        );
        let found = findings(&run.stderr);
        if run.code != Some(0) || !found.is_empty() {
            problems.push(format!("{name}: {found:?}\n{run}"));
            continue;
        }
        for apk in apks(&t.out()) {
            packages += 1;
            let extract = t.root().join("x").join(&apk);
            fs_err::create_dir_all(&extract).unwrap();
            let ok = std::process::Command::new("tar")
                .arg("-xzf")
                .arg(apk_path(&t.out(), &apk))
                .arg("-C")
                .arg(&extract)
                .status()
                .unwrap()
                .success();
            assert!(ok, "{name}: tar could not read {apk}");
            let sbom = extract
                .join("var/lib/db/sbom")
                .join(apk.replace(".apk", ".spdx.json"));
            let doc: serde_json::Value =
                serde_json::from_slice(&fs_err::read(&sbom).unwrap()).unwrap();
            let mut bad = Vec::new();
            super::sbom::violations(&schema, &doc, "$", &mut bad);
            if !bad.is_empty() {
                problems.push(format!("{name}: {apk}: {bad:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(packages > configs.len(), "{packages} packages");
}
