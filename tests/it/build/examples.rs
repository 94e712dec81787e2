//! Every config under `../shared/corpus/melange-examples/`, built with `--no-network` on the
//! host root: those that need only tools the host has must build; the others (downloads, git
//! clones, tools not installed) must fail with a clear message: exit 1 or 2, an `error:` line
//! naming the config, never a panic. Those are given `--timeout 5s`, so a downloader that
//! retries for a minute ends as a timeout. The table is printed (`--nocapture` shows it).

use std::path::Path;

use crate::build::common::*;

/// Examples whose steps need no network and only tools a Debian build host has.
const MUST_BUILD: &[&str] = &[
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

#[test]
fn melange_examples_build_or_fail_clearly() {
    require_bwrap!();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/melange-examples");
    let mut configs: Vec<_> = fs_err::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 20, "the corpus is missing: {dir:?}");

    let mut table = Vec::new();
    let mut problems = Vec::new();
    for config in &configs {
        let name = config.file_name().unwrap().to_string_lossy().into_owned();
        let t = TestEnv::new();
        let mut cmd = t.melwrap(Who::Root);
        cmd.arg("build").arg(config).args([
            "--cache-dir",
            "cache",
            "--out-dir",
            "out",
            "--no-network",
            // The examples name Wolfi's repository; this checks what builds on the host's
            // tools (a guest would need Wolfi's packages in the apk cache).
            "--rootfs",
            "host",
        ]);
        if !MUST_BUILD.contains(&name.as_str()) {
            // git-checkout and npm retry for a minute without a network; the timeout cuts
            // that short (and is itself a clear failure).
            cmd.args(["--timeout", "5s"]);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code();
        let last = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("error"))
            .unwrap_or("")
            .to_string();
        let row = match code {
            Some(0) if stderr.contains("nothing to build") => "skipped (not for this arch)".into(),
            Some(0) => "built".to_string(),
            _ => format!(
                "failed ({code:?}): {}",
                last.chars().take(150).collect::<String>()
            ),
        };
        table.push(format!("{name:32} {row}"));
        if stderr.contains("panicked") {
            problems.push(format!("{name}: panicked:\n{stderr}"));
        }
        if MUST_BUILD.contains(&name.as_str()) {
            if code != Some(0) {
                problems.push(format!("{name}: must build, exit {code:?}:\n{stderr}"));
            }
        } else if code == Some(0) {
            continue;
        } else if !matches!(code, Some(1) | Some(2)) {
            problems.push(format!(
                "{name}: exit {code:?} (expected 1 or 2):\n{stderr}"
            ));
        } else if !last.starts_with("error") || !last.contains(&name) {
            problems.push(format!(
                "{name}: no `error:` line naming the config:\n{stderr}"
            ));
        }
    }
    println!(
        "melange-examples with --no-network on the host root:\n{}",
        table.join("\n")
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
