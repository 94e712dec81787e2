//! Every config of the shared corpus compiles, for x86_64 and aarch64: `wolfi/` with
//! `--pipeline-dir wolfi-pipelines` (as Wolfi builds them), `melange-examples/` with the
//! built-ins only. Failures are listed grouped by reason.
//!
//! Until the built-in pipeline library is complete, a config whose only problems are
//! "unknown pipeline `X`" for a pipeline melange has built in is reported as skipped (with
//! its names), not failed. `MELWRAP_CORPUS_STRICT=1` turns those into failures too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use melwrap::compile::{CompileOptions, compile};
use melwrap::pipelines::Library;

/// The names of melange's built-in pipelines (`pkg/build/pipelines/**.yaml`, semantics doc 8).
const MELANGE_BUILTINS: &[&str] = &[
    "fetch",
    "git-checkout",
    "git-am",
    "patch",
    "strip",
    "autoconf/configure",
    "autoconf/make",
    "autoconf/make-install",
    "cmake/configure",
    "cmake/build",
    "cmake/install",
    "meson/configure",
    "meson/compile",
    "meson/install",
    "go/build",
    "go/build/v2",
    "go/install",
    "go/bump",
    "go/covdata",
    "cargo/build",
    "python/build",
    "python/build-wheel",
    "python/install",
    "python/import",
    "python/test",
    "ruby/build",
    "ruby/install",
    "ruby/clean",
    "npm/install",
    "perl/make",
    "perl/cleanup",
    "pecl/phpize",
    "pecl/install",
    "R/build",
    "maven/configure-mirror",
    "maven/pombump",
    "llvm/covreport",
    "split/alldocs",
    "split/bin",
    "split/debug",
    "split/dev",
    "split/infodir",
    "split/lib",
    "split/locales",
    "split/manpages",
    "split/static",
    "xcover/profile",
    "xcover/wait",
    "xcover/status",
    "xcover/stop",
    "xcover/ensure",
];

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

/// The built-in name in an "unknown pipeline" message, if that is what the message says.
fn missing_builtin(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown pipeline `")?;
    let name = &rest[..rest.find('`')?];
    let own = melwrap::pipelines::builtin(name).is_some();
    (MELANGE_BUILTINS.contains(&name) && !own).then_some(name)
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
    let strict = std::env::var_os("MELWRAP_CORPUS_STRICT").is_some();
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut skipped: BTreeMap<String, Vec<String>> = BTreeMap::new();
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
                let missing: Vec<&str> = diags
                    .0
                    .iter()
                    .filter_map(|d| missing_builtin(&d.message))
                    .collect();
                if !strict && missing.len() == diags.0.len() {
                    for m in missing {
                        skipped.entry(m.to_string()).or_default().push(name.clone());
                    }
                    continue;
                }
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
    if !skipped.is_empty() {
        eprintln!(
            "skipped until the built-in pipeline library has them ({} missing built-ins):",
            skipped.len()
        );
        for (builtin, users) in &skipped {
            let mut users = users.clone();
            users.dedup();
            eprintln!("  unknown pipeline `{builtin}`: {} configs", users.len());
        }
    }
    eprintln!("{compiled} of {total} (config, arch) pairs compiled");
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
