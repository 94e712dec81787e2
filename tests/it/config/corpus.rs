//! Compatibility: every real config in the shared corpus (Wolfi and melange's examples) loads
//! with zero problems, and the position pass places every pipeline step on one of its keys.

use std::path::{Path, PathBuf};

use melwrap::config::model::Pipeline;
use melwrap::config::{LoadedConfig, load};

fn corpus_files() -> Vec<PathBuf> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let mut files = Vec::new();
    for sub in ["wolfi", "melange-examples"] {
        for entry in fs_err::read_dir(corpus.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_corpus_config_validates_cleanly() {
    let files = corpus_files();
    assert_eq!(
        files.len(),
        180,
        "the corpus holds 150 Wolfi configs and 30 examples"
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| load(f).err().map(|d| d.to_string()))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} configs fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn the_binary_agrees_on_the_whole_corpus() {
    let files = corpus_files();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_melwrap"))
        .arg("validate")
        .args(&files)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(text, "180 files checked, 0 invalid\n");
}

/// Keys a step can start with in block style; a flow step starts with `{`.
const STEP_KEYS: [&str; 12] = [
    "uses",
    "runs",
    "name",
    "if",
    "with",
    "working-directory",
    "pipeline",
    "environment",
    "needs",
    "label",
    "assertions",
    "inputs",
];

fn check_steps(
    loaded: &LoadedConfig,
    lines: &[&str],
    base: &str,
    steps: &[Pipeline],
    problems: &mut Vec<String>,
) -> usize {
    let mut count = 0;
    for (i, step) in steps.iter().enumerate() {
        let path = format!("{base}[{i}]");
        count += 1;
        match loaded.spans.position(&path) {
            None => problems.push(format!("{}: no position for {path}", loaded.path.display())),
            Some(p) => {
                let line = lines[p.line - 1];
                let at: String = line.chars().skip(p.column - 1).collect();
                if !(at.starts_with('{') || STEP_KEYS.iter().any(|k| at.starts_with(k))) {
                    problems.push(format!(
                        "{}:{}:{}: {path} does not start a step: {line:?}",
                        loaded.path.display(),
                        p.line,
                        p.column
                    ));
                }
                // The step's keys are recorded beneath it.
                if !step.uses.is_empty() && loaded.spans.position(&format!("{path}.uses")).is_none()
                {
                    problems.push(format!(
                        "{}: no position for {path}.uses",
                        loaded.path.display()
                    ));
                }
            }
        }
        count += check_steps(
            loaded,
            lines,
            &format!("{path}.pipeline"),
            &step.pipeline,
            problems,
        );
    }
    count
}

#[test]
fn every_pipeline_step_is_located_on_its_first_key() {
    let mut problems = Vec::new();
    let mut steps = 0;
    for file in corpus_files() {
        let loaded = load(&file).unwrap();
        let text = fs_err::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let cfg = &loaded.config;
        steps += check_steps(&loaded, &lines, "pipeline", &cfg.pipeline, &mut problems);
        if let Some(test) = &cfg.test {
            steps += check_steps(
                &loaded,
                &lines,
                "test.pipeline",
                &test.pipeline,
                &mut problems,
            );
        }
        for (i, sp) in cfg.subpackages.iter().enumerate() {
            let base = format!("subpackages[{i}]");
            steps += check_steps(
                &loaded,
                &lines,
                &format!("{base}.pipeline"),
                &sp.pipeline,
                &mut problems,
            );
            if let Some(test) = &sp.test {
                steps += check_steps(
                    &loaded,
                    &lines,
                    &format!("{base}.test.pipeline"),
                    &test.pipeline,
                    &mut problems,
                );
            }
        }
    }
    assert!(steps > 1000, "only {steps} steps seen");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Damaged input never panics: every config cut short at many points, and with a line's
/// indentation broken, either loads or gives located problems.
#[test]
fn damaged_configs_give_errors_not_panics() {
    let mut tried = 0;
    for file in corpus_files().iter().step_by(15) {
        let text = fs_err::read_to_string(file).unwrap();
        let mut cuts: Vec<usize> = (0..text.len()).step_by(11.max(text.len() / 150)).collect();
        cuts.retain(|&i| text.is_char_boundary(i));
        for cut in cuts {
            let _ = melwrap::config::load_str(file, &text[..cut]);
            tried += 1;
        }
        let every = 3.max(text.lines().count() / 60);
        for (n, line) in text.lines().enumerate().step_by(every) {
            let mut broken: Vec<&str> = text.lines().collect();
            let shifted = format!(" {line}");
            broken[n] = &shifted;
            if let Err(problems) = melwrap::config::load_str(file, &broken.join("\n")) {
                assert!(
                    problems.0.iter().all(|d| d.position.is_some()),
                    "{}: unlocated problem after shifting line {}: {problems}",
                    file.display(),
                    n + 1
                );
            }
            tried += 1;
        }
    }
    assert!(tried > 500, "only {tried} variants tried");
}
