//! Compiling one pipeline tree into plan steps (melange `pkg/build/compile.go`,
//! `compilePipeline` and `gatherDeps`; `pkg/build/pipeline.go`, `validateWith`, `MutateWith`
//! and `runPipeline`).
//!
//! For each step, depth first: resolve `uses:` and lay the definition over the step; work out
//! the inputs (`with` over defaults, in a scope over the caller's, so nested definitions see
//! the caller's `inputs.*`); substitute `needs`, `working-directory`, `runs`, `name` and
//! `environment`; evaluate `if:`; then the children, which inherit the substituted working
//! directory (when they have none) and the merged environment. A step whose `if:` is false is
//! still compiled (its errors count, as in melange) but it and its children are left out of
//! the plan, contribute no `needs`, and count as not run for the parent's `assertions`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use crate::config::LoadedConfig;
use crate::config::model::{Pipeline, Test};
use crate::limits::{MAX_STEP_DEPTH, MAX_USES_DEPTH};
use crate::subst::{self, Lookup, Scope, SubstErrors, cond};

use super::overlay::overlay;
use super::paths::absolute_workdir;
use super::plan::{Origin, Step, TestPlan};
use super::{Sink, substitute_map};

/// Where a step sits, for messages: the nearest step written in the build file, and the chain
/// of `uses:` definitions entered since.
#[derive(Debug, Clone)]
struct Trail {
    file_path: String,
    frames: Vec<Frame>,
}

#[derive(Debug, Clone)]
struct Frame {
    uses: String,
    source: String,
    path: String,
}

impl Trail {
    fn child(&self, i: usize) -> Trail {
        let mut t = self.clone();
        match t.frames.last_mut() {
            None => t.file_path = format!("{}.pipeline[{i}]", t.file_path),
            Some(f) if f.path.is_empty() => f.path = format!("pipeline[{i}]"),
            Some(f) => f.path = format!("{}.pipeline[{i}]", f.path),
        }
        t
    }

    /// The build-file field to report, and a prefix naming the place inside definitions. An
    /// empty `field` means the step itself.
    fn locate(&self, field: &str) -> (String, String) {
        if self.frames.is_empty() {
            if field.is_empty() {
                return (self.file_path.clone(), String::new());
            }
            return (format!("{}.{field}", self.file_path), String::new());
        }
        let chain: Vec<String> = self
            .frames
            .iter()
            .map(|f| format!("`uses: {}`", f.uses))
            .collect();
        let last = self.frames.last().unwrap();
        let inner = match (last.path.is_empty(), field.is_empty()) {
            (true, _) => field.to_string(),
            (false, true) => last.path.clone(),
            (false, false) => format!("{}.{field}", last.path),
        };
        let place = if inner.is_empty() {
            String::new()
        } else {
            format!(", `{inner}`")
        };
        (
            self.file_path.clone(),
            format!("in {} ({}){place}: ", chain.join(" > "), last.source),
        )
    }
}

/// What a step inherits from its parent.
struct Parent<'s> {
    scope: &'s Scope<'s>,
    workdir: String,
    env: BTreeMap<String, String>,
    depth: usize,
    active: bool,
    chain: Vec<String>,
    line: usize,
    /// The name of a step that got no step of its own (an empty `uses:` or group step): its
    /// unnamed children are called after it.
    skipped_name: Option<String>,
}

struct Walker<'w, 's> {
    sink: &'w mut Sink<'s>,
    loaded: &'w LoadedConfig,
    lib: &'w crate::pipelines::Library,
    steps: Vec<Step>,
    needs: Vec<String>,
    fetches: Vec<String>,
    sources: Vec<super::plan::SourceStep>,
    /// `uses:` loops already reported (each once, wherever it is entered).
    reported_cycles: HashSet<String>,
}

/// What [`compile_list`] produces: the plan steps, the `needs` of the steps that run, and the
/// cache blob names their `fetch` steps look up.
pub(super) struct Compiled {
    pub steps: Vec<Step>,
    pub needs: Vec<String>,
    pub fetches: Vec<String>,
    pub sources: Vec<super::plan::SourceStep>,
}

/// Compile a list of top-level steps (`pipeline:` of a package) at field path `base`.
pub(super) fn compile_list(
    sink: &mut Sink,
    loaded: &LoadedConfig,
    lib: &crate::pipelines::Library,
    scope: &Scope,
    list: &[Pipeline],
    base: &str,
) -> Compiled {
    let mut w = Walker {
        sink,
        loaded,
        lib,
        steps: Vec::new(),
        needs: Vec::new(),
        fetches: Vec::new(),
        sources: Vec::new(),
        reported_cycles: HashSet::new(),
    };
    for (i, step) in list.iter().enumerate() {
        let trail = Trail {
            file_path: format!("{base}[{i}]"),
            frames: Vec::new(),
        };
        let parent = Parent {
            scope,
            workdir: String::new(),
            env: BTreeMap::new(),
            depth: 0,
            active: true,
            chain: Vec::new(),
            line: 0,
            skipped_name: None,
        };
        w.step(step, &trail, &parent);
    }
    let mut seen = HashSet::new();
    let needs = w
        .needs
        .into_iter()
        .filter(|n| seen.insert(n.clone()))
        .collect();
    let mut seen = HashSet::new();
    let fetches = w
        .fetches
        .into_iter()
        .filter(|n| seen.insert(n.clone()))
        .collect();
    Compiled {
        steps: w.steps,
        needs,
        fetches,
        sources: w.sources,
    }
}

/// Compile a `test:` block for package `name` at field path `base` (`test` or
/// `subpackages[i].test`).
pub(super) fn compile_test(
    sink: &mut Sink,
    loaded: &LoadedConfig,
    lib: &crate::pipelines::Library,
    scope: &Scope,
    test: &Test,
    name: &str,
    base: &str,
) -> TestPlan {
    let Compiled { steps, needs, .. } = compile_list(
        sink,
        loaded,
        lib,
        scope,
        &test.pipeline,
        &format!("{base}.pipeline"),
    );
    let environment = substitute_map(
        sink,
        scope,
        &test.environment.environment,
        &format!("{base}.environment.environment"),
    );
    let mut packages = Vec::new();
    for (i, p) in test.environment.contents.packages.iter().enumerate() {
        match subst::substitute(p, scope) {
            Ok(v) => packages.push(v),
            Err(e) => sink.subst(&format!("{base}.environment.contents.packages[{i}]"), &e),
        }
    }
    packages.push(name.to_string());
    packages.extend(needs);
    packages.sort();
    packages.dedup();
    TestPlan {
        name: name.to_string(),
        environment,
        packages,
        steps,
        environment_field: format!("{base}.environment"),
        written_environment: test.environment.clone(),
    }
}

/// `set -eu` and the like say nothing about what a step does; labels skip them.
fn is_shell_setup(line: &str) -> bool {
    line.starts_with("set -") || line.starts_with("set +") || line == "set"
}

/// At most `max` characters of `text`, with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

const HEX_INPUTS: &[(&str, usize)] = &[
    ("expected-sha256", 64),
    ("expected-sha512", 128),
    ("expected-commit", 40),
];

/// The cache blob a `fetch` step looks up (`pipelines/fetch.yaml`): `sha256:<expected-sha256>`,
/// else `sha512:<expected-sha512>`, with the digest as written; `None` for `expected-none`.
fn fetch_blob(scope: &Scope) -> Option<String> {
    let own = scope.own();
    let input = |k: &str| {
        own.get(&format!("inputs.{k}"))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    input("expected-sha256")
        .map(|h| format!("sha256:{h}"))
        .or_else(|| input("expected-sha512").map(|h| format!("sha512:{h}")))
}

/// The inputs of a top-level source step, for the SBOM.
fn source_step(uses: &str, scope: &Scope) -> super::plan::SourceStep {
    let inputs = scope
        .own()
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("inputs.")?.to_string(), v.clone())))
        .collect();
    super::plan::SourceStep {
        uses: uses.to_string(),
        inputs,
    }
}

impl Walker<'_, '_> {
    fn err(&mut self, trail: &Trail, field: &str, message: String, hint: Option<String>) {
        let (path, prefix) = trail.locate(field);
        self.sink.error(&path, format!("{prefix}{message}"), hint);
    }

    fn subst_err(&mut self, trail: &Trail, field: &str, e: &SubstErrors) {
        let (path, prefix) = trail.locate(field);
        if e.is_limit() {
            self.sink
                .limit(&path, format!("{prefix}{e}"), &e.hint().unwrap_or_default());
        } else {
            self.sink.error(&path, format!("{prefix}{e}"), e.hint());
        }
    }

    fn limit(&mut self, trail: &Trail, message: String, hint: &str) {
        let (path, prefix) = trail.locate("");
        self.sink.limit(&path, format!("{prefix}{message}"), hint);
    }

    fn sub(&mut self, trail: &Trail, field: &str, text: &str, scope: &dyn Lookup) -> String {
        match subst::substitute(text, scope) {
            Ok(v) => v,
            Err(e) => {
                self.subst_err(trail, field, &e);
                String::new()
            }
        }
    }

    /// Compile one step and its children. Returns whether it runs.
    fn step(&mut self, step: &Pipeline, trail: &Trail, parent: &Parent) -> bool {
        // Limits first, before any work: a hostile file fans out or nests without end.
        if self.sink.limit_hit() {
            return false;
        }
        if !self.sink.count_step(&trail.locate("").0) {
            return false;
        }
        if parent.depth >= MAX_STEP_DEPTH {
            self.limit(
                trail,
                format!(
                    "steps nest more than {MAX_STEP_DEPTH} levels deep (`uses:` levels included)"
                ),
                "real build files nest a few levels at most; is the file generated wrongly?",
            );
            return false;
        }
        let mut trail = trail.clone();
        let line = if trail.frames.is_empty() {
            self.sink
                .position(&trail.file_path)
                .map_or(parent.line, |p| p.line)
        } else {
            parent.line
        };
        let mut chain = parent.chain.clone();
        let mut p: Cow<Pipeline> = Cow::Borrowed(step);
        let mut uses_name = None;
        // `uses` plus an inline `pipeline` only warns in melange, and `uses` is then ignored.
        if !step.uses.is_empty() && step.pipeline.is_empty() {
            if let Some(from) = chain.iter().position(|u| *u == step.uses) {
                let mut cycle = chain[from..].to_vec();
                cycle.push(step.uses.clone());
                let cycle = cycle.join(" → ");
                if self.reported_cycles.insert(cycle.clone()) {
                    self.err(
                        &trail,
                        "uses",
                        format!("`uses:` pipelines call each other in a loop: {cycle}"),
                        Some("a pipeline cannot use itself, directly or through others".into()),
                    );
                }
                return false;
            }
            if chain.len() >= MAX_USES_DEPTH {
                let (path, prefix) = trail.locate("uses");
                self.sink.limit(
                    &path,
                    format!(
                        "{prefix}`uses:` pipelines nest more than {MAX_USES_DEPTH} levels deep: {} → {}",
                        chain.join(" → "),
                        step.uses
                    ),
                    "real pipelines nest a few levels at most",
                );
                return false;
            }
            let def = match self.lib.resolve(&step.uses) {
                Ok(def) => def,
                Err(e) => {
                    let hint = match &e {
                        crate::pipelines::ResolveError::NotFound { .. } => {
                            Some("add the directory holding it with `--pipeline-dir`".to_string())
                        }
                        _ => None,
                    };
                    self.err(&trail, "uses", e.to_string(), hint);
                    return false;
                }
            };
            for k in step.with.keys() {
                if !def.pipeline.inputs.contains_key(k) {
                    let declared: Vec<&str> =
                        def.pipeline.inputs.keys().map(String::as_str).collect();
                    let hint = match crate::diag::did_you_mean(k, declared.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if declared.is_empty() => {
                            format!("`{}` declares no inputs", step.uses)
                        }
                        None => format!("`{}` declares: {}", step.uses, declared.join(", ")),
                    };
                    self.err(
                        &trail,
                        &format!("with.{k}"),
                        format!("undefined input `{k}` to pipeline `{}`", step.uses),
                        Some(hint),
                    );
                }
            }
            p = Cow::Owned(overlay(step, &def.pipeline));
            chain.push(step.uses.clone());
            uses_name = Some(step.uses.clone());
            trail.frames.push(Frame {
                uses: step.uses.clone(),
                source: def.source.to_string(),
                path: String::new(),
            });
        }

        // Inputs: the caller's `with` (written on `step`) over the declared defaults.
        let caller_trail = {
            let mut t = trail.clone();
            if uses_name.is_some() {
                t.frames.pop();
            }
            t
        };
        let mut scope = Scope::child(parent.scope);
        let mut values: Vec<(&str, &str, bool)> = Vec::new(); // (input, raw, from default)
        for (k, input) in &p.inputs {
            match step.with.get(k).filter(|v| !v.is_empty()) {
                Some(v) => values.push((k, v, false)),
                None => values.push((k, &input.default, true)),
            }
        }
        for (k, v) in &step.with {
            if !p.inputs.contains_key(k) && uses_name.is_none() {
                values.push((k, v, false));
            }
        }
        // Resolve against the caller's scope first (so `x: ${{inputs.x}}` takes the caller's
        // value), then once more against the new scope for references to sibling inputs.
        let mut pending = Vec::new();
        for &(k, raw, dflt) in &values {
            match subst::substitute(raw, parent.scope) {
                Ok(v) => scope.set(format!("inputs.{k}"), v),
                Err(_) => pending.push((k, raw, dflt)),
            }
        }
        let mut resolved = Vec::new();
        for (k, raw, dflt) in pending {
            match subst::substitute(raw, &scope) {
                Ok(v) => resolved.push((k, v)),
                Err(e) if dflt => self.subst_err(&trail, &format!("inputs.{k}.default"), &e),
                Err(e) => self.subst_err(&caller_trail, &format!("with.{k}"), &e),
            }
        }
        for (k, v) in resolved {
            scope.set(format!("inputs.{k}"), v);
        }
        for (k, input) in &p.inputs {
            let value = scope
                .own()
                .get(&format!("inputs.{k}"))
                .cloned()
                .unwrap_or_default();
            if let Some((_, len)) = HEX_INPUTS.iter().find(|(n, _)| n == k)
                && !value.is_empty()
                && (value.len() != *len || !value.bytes().all(|c| c.is_ascii_hexdigit()))
            {
                self.err(
                    &caller_trail,
                    &format!("with.{k}"),
                    format!("input `{k}` must be {len} hexadecimal characters, got `{value}`"),
                    None,
                );
            }
            if input.required && value.is_empty() {
                let what = uses_name.as_deref().unwrap_or("this step");
                self.err(
                    &caller_trail,
                    "with",
                    format!("required input `{k}` for pipeline `{what}` is missing"),
                    Some(format!("add `{k}:` under `with:`")),
                );
            }
        }

        // The step's own fields.
        let mut needs = Vec::new();
        if let Some(n) = &p.needs {
            for (i, pkg) in n.packages.iter().enumerate() {
                needs.push(self.sub(&trail, &format!("needs.packages[{i}]"), pkg, &scope));
            }
        }
        let workdir = if p.working_directory.is_empty() {
            parent.workdir.clone()
        } else {
            self.sub(&trail, "working-directory", &p.working_directory, &scope)
        };
        let script = self.sub(&trail, "runs", &p.runs, &scope);
        let runs_if = match cond::evaluate(&p.if_, &scope) {
            Ok(b) => b,
            Err(cond::CondError::Subst(e)) if e.is_limit() => {
                self.subst_err(&trail, "if", &e);
                false
            }
            Err(e) => {
                self.err(&trail, "if", format!("in `if:`: {e}"), e.hint());
                false
            }
        };
        let mut env = parent.env.clone();
        for (k, v) in &p.environment {
            let value = self.sub(&trail, &format!("environment.{k}"), v, &scope);
            env.insert(k.clone(), value);
        }
        // melange never substitutes `name` at compile time; a label must not fail the build.
        let name = subst::substitute_lenient(&p.name, &scope);
        // Counted for every compiled step, run or not: the environment is copied into each.
        let bytes = script.len()
            + name.len()
            + workdir.len()
            + env.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if !self.sink.count_bytes(&trail.locate("").0, bytes as u64) {
            return false;
        }

        let active = parent.active && runs_if;
        // A `uses:` or grouping step whose own script is empty would only start a sandbox to
        // create its working directory, which each of its children does again: it gets no
        // step (and no header) of its own.
        let runs_nothing =
            script.trim().is_empty() && (uses_name.is_some() || !p.pipeline.is_empty());
        if active && !runs_nothing {
            // Unnamed steps are called after their `uses:` pipeline (a definition's own steps
            // included: "git-checkout", not its first shell line), else after their first line.
            let label = if !name.is_empty() {
                name.clone()
            } else if let Some(n) = &parent.skipped_name {
                n.clone()
            } else if let Some(u) = uses_name.as_ref().or(chain.last()) {
                u.clone()
            } else if let Some(l) = script
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#') && !is_shell_setup(l))
            {
                shorten(l, 72)
            } else {
                "(group)".to_string()
            };
            self.steps.push(Step {
                name: label,
                uses: (!chain.is_empty()).then(|| chain.join(" > ")),
                depth: parent.depth,
                origin: Origin {
                    file: self.loaded.path.clone(),
                    line,
                },
                workdir: absolute_workdir(&workdir),
                environment: env.clone(),
                script,
            });
        }
        if active {
            self.needs.extend(needs);
            if uses_name.as_deref() == Some("fetch") {
                self.fetches.extend(fetch_blob(&scope));
            }
            if let Some(uses @ ("fetch" | "git-checkout")) = uses_name.as_deref()
                && parent.depth == 0
            {
                self.sources.push(source_step(uses, &scope));
            }
        }

        let child_parent = Parent {
            scope: &scope,
            workdir,
            env,
            depth: parent.depth + 1,
            active,
            chain,
            line,
            skipped_name: (runs_nothing && !name.is_empty()).then_some(name),
        };
        let mut ran = 0i64;
        for (i, child) in p.pipeline.iter().enumerate() {
            if self.step(child, &trail.child(i), &child_parent) {
                ran += 1;
            }
        }
        if active
            && let Some(a) = &p.assertions
            && a.required_steps != ran
        {
            self.err(
                &trail,
                "assertions.required-steps",
                format!(
                    "pipeline did not run the required {} steps, only {ran} (steps whose `if:` is false do not run)",
                    a.required_steps
                ),
                None,
            );
        }
        active
    }
}
