//! Every config of the shared corpus compiles, for x86_64 and aarch64: `wolfi/` with
//! `--pipeline-dir wolfi-pipelines` (as Wolfi builds them), `melange-examples/` with the
//! built-ins only. Failures are listed grouped by reason.
//! Every compile must succeed: no failure is skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use melwrap::compile::{CompileOptions, compile};
use melwrap::pipelines::Library;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

fn configs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

/// A short reason for grouping: the message with quoted names and numbers blurred.
fn reason(message: &str) -> String {
    let first = message.lines().next().unwrap_or("");
    let mut out = String::new();
    let mut quoted = false;
    for c in first.chars() {
        match c {
            '`' => {
                quoted = !quoted;
                out.push_str(if quoted { "`…" } else { "`" });
            }
            _ if quoted => {}
            _ => out.push(c),
        }
    }
    // Drop the "in `uses: …` (path), " prefix that only says where.
    match out.find("), ") {
        Some(i) if out.starts_with("in ") => out[i + 3..].to_string(),
        _ => out,
    }
}

#[test]
fn corpus_compiles_for_x86_64_and_aarch64() {
    let root = corpus();
    let sets = [
        (
            "wolfi",
            Library::new(vec![root.join("wolfi-pipelines")]),
            configs(&root.join("wolfi")),
        ),
        (
            "melange-examples",
            Library::new(vec![]),
            configs(&root.join("melange-examples")),
        ),
    ];
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut compiled = 0usize;
    let mut total = 0usize;
    for (set, lib, files) in &sets {
        assert!(!files.is_empty(), "no configs in {set}");
        for file in files {
            let name = format!("{set}/{}", file.file_name().unwrap().to_string_lossy());
            let loaded = match melwrap::config::load(file) {
                Ok(l) => l,
                Err(d) => {
                    for diag in &d.0 {
                        let key = format!("load: {}", reason(&diag.message));
                        failures.entry(key).or_default().push(name.clone());
                    }
                    total += 2;
                    continue;
                }
            };
            for arch in ["x86_64", "aarch64"] {
                total += 1;
                let Err(diags) = compile(&loaded, lib, &CompileOptions::for_arch(arch)) else {
                    compiled += 1;
                    continue;
                };
                for d in &diags.0 {
                    let key = reason(&d.message);
                    let entry = failures.entry(key).or_default();
                    let item = format!("{name} ({arch}): {d}");
                    if !entry.contains(&item) {
                        entry.push(item);
                    }
                }
            }
        }
    }
    eprintln!("{compiled} of {total} (config, arch) pairs compiled");
    assert!(total >= 360, "expected 180 configs x 2 archs, saw {total}");
    if !failures.is_empty() {
        let mut report = String::new();
        for (why, items) in &failures {
            report.push_str(&format!("\n== {why} ({} cases)\n", items.len()));
            for i in items.iter().take(10) {
                report.push_str(&format!("  {i}\n"));
            }
        }
        panic!("corpus configs failed to compile, by reason:{report}");
    }
}
