//! The built-in pipeline library, checked as data (against melange's definitions and the real
//! configs of the corpus), and `melwrap pipelines` through the binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use melwrap::config::model::Pipeline;
use melwrap::pipelines::{BUILTINS, Library, parse_definition};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// Every `${{name}}` in `text`.
fn references(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\$\{\{\s*([A-Za-z0-9._-]+)\s*\}\}").unwrap();
    re.captures_iter(text).map(|c| c[1].to_string()).collect()
}

/// Each step's substitutable text: runs, working-directory, if, needs, with values.
fn step_texts(step: &Pipeline, out: &mut Vec<String>) {
    out.push(step.runs.clone());
    out.push(step.working_directory.clone());
    out.push(step.if_.clone());
    out.extend(step.with.values().cloned());
    if let Some(needs) = &step.needs {
        out.extend(needs.packages.iter().cloned());
    }
    for child in &step.pipeline {
        step_texts(child, out);
    }
}

#[test]
fn every_builtin_parses_is_described_and_uses_only_declared_inputs() {
    assert!(BUILTINS.len() >= 51, "only {} built-ins", BUILTINS.len());
    let known_prefixes = ["inputs.", "targets.", "package.", "host.triplet.", "build."];
    let mut problems = Vec::new();
    for (name, text) in BUILTINS {
        let def = match parse_definition(text) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{name}: does not parse: {e}"));
                continue;
            }
        };
        if def.name.trim().is_empty() {
            problems.push(format!("{name}: no name:"));
        }
        if def.pipeline.is_empty() {
            problems.push(format!("{name}: no steps"));
        }
        for (input, spec) in &def.inputs {
            if spec.description.trim().is_empty() {
                problems.push(format!("{name}: input {input} has no description"));
            }
        }
        let mut texts = Vec::new();
        for step in &def.pipeline {
            step_texts(step, &mut texts);
        }
        if let Some(needs) = &def.needs {
            texts.extend(needs.packages.iter().cloned());
        }
        texts.extend(def.inputs.values().map(|i| i.default.clone()));
        for var in texts.iter().flat_map(|t| references(t)) {
            if let Some(input) = var.strip_prefix("inputs.") {
                if !def.inputs.contains_key(input) {
                    problems.push(format!("{name}: uses undeclared ${{{{{var}}}}}"));
                }
            } else if var != "context.name" && !known_prefixes.iter().any(|p| var.starts_with(p)) {
                problems.push(format!("{name}: unexpected variable ${{{{{var}}}}}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// melange's built-ins (`pkg/build/pipelines/**.yaml`): `name | needs | inputs`, inputs as
/// `name!` (required) or `name=default`, sorted by name. Written down from melange's files.
const MELANGE: &str = "\
R/build | R R-dev R-doc busybox | package! path=. version!
autoconf/configure | autoconf automake libtool | build=${{host.triplet.gnu}} dir=. host=${{host.triplet.gnu}} opts
autoconf/make-install | make | dir=. opts targets=install
autoconf/make | make | dir=. opts targets
cargo/build | build-base busybox cargo-auditable rust | install-dir=bin jobs modroot=. opts=--release output output-dir=target/release prefix=usr rustflags
cmake/build | cmake ninja | opts output-dir=output
cmake/configure | cmake ninja | opts output-dir=output
cmake/install | cmake ninja | output-dir=output
fetch | wget | delete=false directory=. dns-timeout=20 expected-none expected-sha256 expected-sha512 extract=true purl-name=${{package.name}} purl-version=${{package.version}} reason retry-limit=5 strip-components=1 timeout=5 uri!
git-am | git | patches!
git-checkout | git | branch cherry-picks depth=unset destination=. expected-commit expected-commit-is-branch-tip=false initial-backoff=2 max-backoff=60 max-retries=3 reason recurse-submodules=false repository! shallow-submodules=false sparse-paths submodule-jobs=1 tag type-hint
go/build | ${{inputs.go-package}} build-base busybox ca-certificates-bundle | amd64=v2 arm64=v8.0 buildmode=default deps experiments extra-args go-package=go ignore-untracked-files=true install-dir=bin ldflags modroot=. output! packages! prefix=usr strip=-w tags tidy=false toolchaintags=netgo,osusergo vendor=false
go/build/v2 | busybox ca-certificates-bundle | amd64=v2 arm64=v8.0 buildmode=default experiments extra-args ignore-untracked-files=true install-dir=bin ldflags modroot=. output packages=. prefix=usr strip=-w tags toolchaintags=netgo,osusergo vendor=false
go/bump | git gobump | deps! go-version modroot=. replaces show-diff=false tidy=true tidy-compat work=false
go/covdata | ${{inputs.package}} busybox jq | cover-dir=/home/build package=go
go/install | ${{inputs.go-package}} busybox build-base ca-certificates-bundle git | amd64=v2 arm64=v8.0 experiments go-package=go install-dir=bin ldflags package! prefix=usr strip=-w tags toolchaintags=netgo,osusergo version
llvm/covreport | ${{inputs.package}} | ignore-filename-regex object package=llvm-19
maven/configure-mirror | busybox |
maven/pombump | busybox pombump | debug=false dependencies patch-file=./pombump-deps.yaml pom=pom.xml properties properties-file=./pombump-properties.yaml show-dependency-tree=false
meson/compile | meson | output-dir=output
meson/configure | meson | opts output-dir=output
meson/install | meson | output-dir=output
npm/install | busybox nodejs ${{inputs.npm-package}} npm | npm-package=npm overrides package! prefix=${{targets.contextdir}}/usr/ version!
patch | patch | fuzz=2 patches series strip-components=1
pecl/install | automake busybox | extension!
pecl/phpize | autoconf busybox | php-config=php-config prefix=/usr
perl/cleanup | busybox |
perl/make | busybox perl |
python/build-wheel | busybox py3-build py3-installer python3 |
python/build | busybox python3 |
python/import | wolfi-base | from import imports python=DEFAULT venv
python/install | busybox python3 |
python/test | wolfi-base | command!
ruby/build | busybox ca-certificates-bundle | dir=. gem! opts output
ruby/clean | busybox ca-certificates-bundle |
ruby/install | busybox ca-certificates-bundle | dir=. gem gem-file opts version!
split/alldocs | busybox | package
split/bin | busybox | package
split/debug | binutils busybox scanelf | package
split/dev | busybox | package prefix=/usr
split/infodir | busybox | package
split/lib | busybox | package paths patterns
split/locales | busybox | package
split/manpages | busybox | package
split/static | busybox | package
strip | binutils scanelf | opts=-g
xcover/ensure | busybox jq ${{inputs.package}} | min-coverage package=xcover
xcover/profile | busybox ${{inputs.package}} | exclude-functions executable-path! include-functions log-level=info package=xcover scope=project verbose=false wait-timeout=60
xcover/status | busybox ${{inputs.package}} | package=xcover
xcover/stop | busybox | package=xcover
xcover/wait | busybox ${{inputs.package}} | package=xcover wait-timeout=60";

#[test]
fn builtins_have_melanges_names_inputs_defaults_and_needs() {
    let library = Library::new(vec![]);
    let mut problems = Vec::new();
    let mut expected_names = BTreeSet::new();
    for line in MELANGE.lines() {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let (name, needs, inputs) = (parts[0], parts[1], parts[2]);
        expected_names.insert(name.to_string());
        let def = match library.resolve(name) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        let ours_needs = def.needs().join(" ");
        if ours_needs != needs {
            problems.push(format!(
                "{name}: needs `{ours_needs}`, melange has `{needs}`"
            ));
        }
        let ours_inputs: Vec<String> = def
            .pipeline
            .inputs
            .iter()
            .map(|(k, i)| match (i.required, i.default.as_str()) {
                (true, _) => format!("{k}!"),
                (false, "") => k.clone(),
                (false, d) => format!("{k}={d}"),
            })
            .collect();
        if ours_inputs.join(" ") != inputs {
            problems.push(format!(
                "{name}: inputs\n  ours    {}\n  melange {inputs}",
                ours_inputs.join(" ")
            ));
        }
    }
    let ours: BTreeSet<String> = BUILTINS.iter().map(|(n, _)| n.to_string()).collect();
    for extra in ours.difference(&expected_names) {
        problems.push(format!("{extra}: not a melange built-in"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `(uses name, with keys)` for every `uses:` step anywhere in a YAML document.
fn uses_in(value: &serde_yaml::Value, out: &mut Vec<(String, Vec<String>)>) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            if let Some(uses) = map.get("uses").and_then(|u| u.as_str()) {
                let with = map
                    .get("with")
                    .and_then(|w| w.as_mapping())
                    .map(|w| {
                        w.keys()
                            .filter_map(|k| k.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((uses.to_string(), with));
            }
            for v in map.values() {
                uses_in(v, out);
            }
        }
        serde_yaml::Value::Sequence(items) => items.iter().for_each(|v| uses_in(v, out)),
        _ => {}
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs_err::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

struct CorpusUses {
    /// name → number of wolfi/melange-examples configs using it.
    configs: BTreeMap<String, usize>,
    /// names used inside wolfi-pipelines definitions.
    in_wolfi_pipelines: BTreeSet<String>,
    /// names wolfi-pipelines defines itself.
    wolfi_defined: BTreeSet<String>,
    /// every (name, with keys) call, with the file it is in.
    calls: Vec<(PathBuf, String, Vec<String>)>,
}

fn corpus_uses() -> CorpusUses {
    let root = corpus();
    let mut result = CorpusUses {
        configs: BTreeMap::new(),
        in_wolfi_pipelines: BTreeSet::new(),
        wolfi_defined: BTreeSet::new(),
        calls: Vec::new(),
    };
    for sub in ["wolfi", "melange-examples", "wolfi-pipelines"] {
        let mut files = Vec::new();
        yaml_files(&root.join(sub), &mut files);
        for file in files {
            let text = fs_err::read_to_string(&file).unwrap();
            let value: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
            let mut uses = Vec::new();
            uses_in(&value, &mut uses);
            let names: BTreeSet<String> = uses.iter().map(|(n, _)| n.clone()).collect();
            if sub == "wolfi-pipelines" {
                let rel = file
                    .strip_prefix(root.join(sub))
                    .unwrap()
                    .with_extension("");
                result
                    .wolfi_defined
                    .insert(rel.to_string_lossy().into_owned());
                result.in_wolfi_pipelines.extend(names);
            } else {
                for n in names {
                    *result.configs.entry(n).or_default() += 1;
                }
            }
            for (n, with) in uses {
                result.calls.push((file.clone(), n, with));
            }
        }
    }
    result
}

#[test]
fn every_melange_builtin_the_corpus_relies_on_exists() {
    let uses = corpus_uses();
    let required: BTreeSet<&String> = uses
        .configs
        .iter()
        .filter(|(_, n)| **n >= 2)
        .map(|(name, _)| name)
        .chain(uses.in_wolfi_pipelines.iter())
        .filter(|name| !uses.wolfi_defined.contains(*name))
        .collect();
    // The corpus really exercises the library: fetch, git-checkout and friends are in it.
    for must in [
        "fetch",
        "git-checkout",
        "autoconf/make",
        "strip",
        "split/dev",
    ] {
        assert!(
            required.contains(&must.to_string()),
            "{must} not found in corpus"
        );
    }
    let library = Library::new(vec![]);
    let missing: Vec<String> = required
        .iter()
        .filter(|name| library.resolve(name).is_err())
        .map(|n| n.to_string())
        .collect();
    assert!(missing.is_empty(), "no built-in for: {missing:?}");
}

#[test]
fn every_with_key_the_corpus_passes_to_a_builtin_is_declared() {
    let uses = corpus_uses();
    let library = Library::new(vec![]);
    let mut checked = 0;
    let mut problems = Vec::new();
    for (file, name, with) in &uses.calls {
        if uses.wolfi_defined.contains(name) {
            continue;
        }
        let Ok(def) = library.resolve(name) else {
            continue;
        };
        for key in with {
            checked += 1;
            if !def.pipeline.inputs.contains_key(key) {
                problems.push(format!("{}: {name} has no input {key}", file.display()));
            }
        }
    }
    assert!(checked > 300, "only {checked} with: keys checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---- the `melwrap pipelines` command ----

fn melwrap(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_melwrap"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn list_shows_every_builtin_with_its_inputs() {
    let out = melwrap(&["pipelines"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    for (name, _) in BUILTINS {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(name) && l.contains("built-in")),
            "{name} missing from:\n{text}"
        );
    }
    let fetch = text.lines().find(|l| l.starts_with("fetch ")).unwrap();
    assert!(fetch.contains("uri*"), "{fetch}");
    assert!(fetch.contains("strip-components=1"), "{fetch}");
    assert!(fetch.contains("expected-sha256"), "{fetch}");
}

#[test]
fn list_as_json_marks_directory_pipelines_and_replaced_builtins() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(dir.path().join("my")).unwrap();
    fs_err::write(
        dir.path().join("my/step.yaml"),
        "name: mine\ninputs:\n  who:\n    description: whom\n    required: true\npipeline:\n  - runs: echo ${{inputs.who}}\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("fetch.yaml"),
        "name: my fetch\ninputs:\n  uri:\n    default: x\npipeline:\n  - runs: 'true'\n",
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let out = melwrap(&["pipelines", "--pipeline-dir", d, "--format", "json"]);
    assert!(out.status.success(), "{out:?}");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let find = |n: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == n)
            .unwrap_or_else(|| panic!("{n} not listed"))
            .clone()
    };
    let mine = find("my/step");
    assert_eq!(mine["builtin"], false);
    assert_eq!(mine["description"], "mine");
    assert_eq!(mine["inputs"][0]["name"], "who");
    assert_eq!(mine["inputs"][0]["required"], true);
    assert!(mine["source"].as_str().unwrap().ends_with("my/step.yaml"));
    let fetch = find("fetch");
    assert_eq!(fetch["replaces_builtin"], true);
    assert_eq!(fetch["inputs"][0]["default"], "x");
    let git = find("git-checkout");
    assert_eq!(git["builtin"], true);
    assert_eq!(git["needs"][0], "git");

    let table = stdout(&melwrap(&["pipelines", "--pipeline-dir", d]));
    let row = table.lines().find(|l| l.starts_with("my/step ")).unwrap();
    assert!(row.contains(d) && row.contains("who*"), "{row}");
    let row = table.lines().find(|l| l.starts_with("fetch ")).unwrap();
    assert!(row.contains("replaces built-in"), "{row}");
}

#[test]
fn show_prints_the_definition_text_and_its_source() {
    let out = melwrap(&["pipelines", "show", "autoconf/make"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let (first, rest) = text.split_once('\n').unwrap();
    assert_eq!(first, "# autoconf/make: built-in");
    assert_eq!(rest, melwrap::pipelines::builtin("autoconf/make").unwrap());
    // What is printed is a definition again.
    assert!(parse_definition(&text).is_ok());
}

#[test]
fn show_of_an_unknown_name_exits_2_with_suggestions() {
    let out = melwrap(&["pipelines", "show", "git-chekout"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown pipeline `git-chekout`"), "{err}");
    assert!(err.contains("`git-checkout`"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_pipeline_dir_is_bad_input() {
    let out = melwrap(&["pipelines", "--pipeline-dir", "/nonexistent/pipelines"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/pipelines"));
}

#[test]
fn an_invalid_definition_in_a_dir_is_reported_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("broken.yaml"), "pipeline: [runs: 1: 2\n").unwrap();
    let d = dir.path().to_str().unwrap();
    let out = melwrap(&["pipelines", "--pipeline-dir", d]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.yaml"));
    assert!(stdout(&out).lines().any(|l| l.starts_with("broken ")));
}
