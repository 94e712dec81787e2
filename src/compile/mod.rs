//! Config → Plan: substitutions, `uses:` expansion, `if:` evaluation, inheritance of working
//! directory and environment. The [`plan`] types are what the runner consumes.
//!
//! Order of work follows melange's `Build.Compile` (`pkg/build/compile.go`): the substitution
//! map (`context`), the main pipeline, each subpackage's pipeline (including subpackages whose
//! `if:` is false: they are checked, then left out), then the tests. Every problem found is
//! reported, not only the first, each with the build file, line and field path.

pub mod arch;
pub mod context;
mod metadata;
mod overlay;
mod paths;
pub mod plan;
mod steps;

use std::collections::BTreeMap;

use crate::config::LoadedConfig;
use crate::diag::{Diagnostic, Diagnostics, Position};
use crate::limits::{MAX_PLAN_BYTES, MAX_STEPS};
use crate::pipelines::Library;
use crate::subst::{self, Budget, Scope, SubstErrors};

pub use crate::guest::env::build_environment;
pub use arch::Arch;
pub use plan::{Origin, PackageMetadata, PackagePlan, Plan, SourceStep, Step, TestPlan};

/// What a compile needs besides the config and the pipeline library.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Target architecture, apk (`x86_64`) or OCI (`amd64`) spelling.
    pub arch: String,
    /// `--var k=v`: override or add `vars` (applied after build options).
    pub vars: BTreeMap<String, String>,
    /// `--build-option NAME`: enabled `options:` entries, in order.
    pub build_options: Vec<String>,
    /// `SOURCE_DATE_EPOCH` for the plan environment (melange's default is 0).
    pub source_date_epoch: u64,
    /// Parsed `--env-file` maps in command-line order (an earlier file wins over a later one).
    pub env_files: Vec<BTreeMap<String, String>>,
    /// libc flavour of `host.triplet.*` (`gnu` when empty), melange's
    /// `--override-host-triplet-libc-substitution-flavor`.
    pub host_libc: String,
}

impl CompileOptions {
    /// Options for `arch` with everything else at its default.
    pub fn for_arch(arch: &str) -> Self {
        CompileOptions {
            arch: arch.to_string(),
            ..Default::default()
        }
    }
}

/// Compile a loaded build file into the plan for one architecture.
pub fn compile(
    loaded: &LoadedConfig,
    lib: &Library,
    opts: &CompileOptions,
) -> Result<Plan, Diagnostics> {
    let mut sink = Sink {
        loaded,
        errors: Vec::new(),
        limit_hit: false,
        steps: 0,
        plan_bytes: 0,
    };
    let budget = Budget::new();
    let config = &loaded.config;
    let Some(arch) = Arch::parse(&opts.arch) else {
        sink.errors.push(
            Diagnostic::new(
                &loaded.path,
                format!("unknown architecture `{}`", opts.arch),
            )
            .hint(format!("use one of: {}", arch::names().join(", "))),
        );
        return Err(Diagnostics(sink.errors));
    };
    for name in &opts.build_options {
        if !config.options.contains_key(name) {
            let declared: Vec<&str> = config.options.keys().map(String::as_str).collect();
            let hint = match crate::diag::did_you_mean(name, declared.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if declared.is_empty() => "this config declares no `options:`".into(),
                None => format!("declared options: {}", declared.join(", ")),
            };
            sink.error(
                "options",
                format!("build option `{name}` is not declared in `options:`"),
                Some(hint),
            );
        }
    }
    if !sink.errors.is_empty() {
        return Err(Diagnostics(sink.errors));
    }

    let Some(ctx) = context::build(config, opts, arch, &budget, &mut sink) else {
        return Err(Diagnostics(sink.errors));
    };
    let root = Scope::with_budget(ctx.map, &budget);

    let mut packages = Vec::new();
    let mut tests = Vec::new();
    let main = steps::compile_list(&mut sink, loaded, lib, &root, &config.pipeline, "pipeline");
    let metadata = metadata::for_main(&mut sink, &root, config);
    packages.push(PackagePlan {
        name: config.package.name.clone(),
        destdir: crate::guest::destdir(&config.package.name),
        steps: main.steps,
        needs: main.needs,
        fetches: main.fetches,
        sources: main.sources,
        metadata,
    });
    if let Some(test) = &config.test {
        tests.push(steps::compile_test(
            &mut sink,
            loaded,
            lib,
            &root,
            test,
            &config.package.name,
            "test",
        ));
    }
    for sub in &ctx.subpackages {
        if sink.limit_hit {
            break;
        }
        let scope = context::subpackage_scope(&root, sub);
        let base = format!("subpackages[{}]", sub.index);
        let keep = match subst::cond::evaluate(&sub.sub.if_, &scope) {
            Ok(b) => b,
            Err(subst::cond::CondError::Subst(e)) if e.is_limit() => {
                sink.subst(&format!("{base}.if"), &e);
                true
            }
            Err(e) => {
                sink.error(&format!("{base}.if"), format!("in `if:`: {e}"), e.hint());
                true
            }
        };
        let compiled = steps::compile_list(
            &mut sink,
            loaded,
            lib,
            &scope,
            &sub.sub.pipeline,
            &format!("{base}.pipeline"),
        );
        let test = sub.sub.test.as_ref().map(|t| {
            steps::compile_test(
                &mut sink,
                loaded,
                lib,
                &scope,
                t,
                &sub.name,
                &format!("{base}.test"),
            )
        });
        if keep {
            let metadata = metadata::for_sub(&mut sink, &scope, config, sub);
            packages.push(PackagePlan {
                name: sub.name.clone(),
                destdir: crate::guest::destdir(&sub.name),
                steps: compiled.steps,
                needs: compiled.needs,
                fetches: compiled.fetches,
                sources: compiled.sources,
                metadata,
            });
            tests.extend(test);
        }
    }

    let yaml_env = substitute_map(
        &mut sink,
        &root,
        &config.environment.environment,
        "environment.environment",
    );
    let environment = build_environment(&yaml_env, &opts.env_files, opts.source_date_epoch);

    if !sink.errors.is_empty() {
        return Err(Diagnostics(sink.errors));
    }
    Ok(Plan {
        arch: arch.apk.to_string(),
        environment,
        packages,
        tests,
    })
}

/// Substitute every value of a map; errors name `field.<key>`.
pub(crate) fn substitute_map(
    sink: &mut Sink,
    scope: &dyn subst::Lookup,
    map: &BTreeMap<String, String>,
    field: &str,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in map {
        match subst::substitute(v, scope) {
            Ok(s) => {
                out.insert(k.clone(), s);
            }
            Err(e) => sink.subst(&format!("{field}.{k}"), &e),
        }
    }
    out
}

/// Collects located diagnostics for one build file, and counts what the compile produced
/// against the size limits.
pub(crate) struct Sink<'a> {
    loaded: &'a LoadedConfig,
    pub errors: Vec<Diagnostic>,
    /// A size limit was hit: it was reported once, and the compile stops.
    limit_hit: bool,
    /// Steps compiled so far (all packages and tests, skipped steps included).
    steps: usize,
    /// Bytes of the steps compiled so far.
    plan_bytes: u64,
}

impl Sink<'_> {
    /// The position of `field`, or of the nearest enclosing field the loader knows.
    pub fn position(&self, field: &str) -> Option<Position> {
        let mut path = field;
        loop {
            if let Some(p) = self.loaded.spans.position(path) {
                return Some(p);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    /// Record an error about `field` of the build file.
    pub fn error(&mut self, field: &str, message: impl Into<String>, hint: Option<String>) {
        let mut d = Diagnostic::new(&self.loaded.path, message)
            .at(self.position(field))
            .field(field);
        d.hint = hint;
        self.errors.push(d);
    }

    /// Record a substitution failure in `field`. A size limit is reported once: after it,
    /// every substitution fails the same way.
    pub fn subst(&mut self, field: &str, e: &SubstErrors) {
        if e.is_limit() {
            if self.limit_hit {
                return;
            }
            self.limit_hit = true;
        }
        self.error(field, e.to_string(), e.hint());
    }

    /// Whether a size limit stopped the compile.
    pub fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    /// Record a size limit hit at `field` (once per compile).
    pub fn limit(&mut self, field: &str, message: String, hint: &str) {
        if !self.limit_hit {
            self.limit_hit = true;
            self.error(field, message, Some(hint.to_string()));
        }
    }

    /// Count one more compiled step at `field`; false when a limit is passed.
    pub fn count_step(&mut self, field: &str) -> bool {
        self.steps += 1;
        self.count_bytes(field, 0)
    }

    /// Count `bytes` more of compiled steps at `field`; false when a limit is passed.
    pub fn count_bytes(&mut self, field: &str, bytes: u64) -> bool {
        self.plan_bytes = self.plan_bytes.saturating_add(bytes);
        if self.steps > MAX_STEPS {
            self.limit(
                field,
                format!("the build compiles to more than {MAX_STEPS} steps (`uses:` expanded)"),
                "real build files have a few hundred steps at most; look for `uses:` pipelines that call each other many times",
            );
        } else if self.plan_bytes > MAX_PLAN_BYTES {
            self.limit(
                field,
                format!(
                    "the compiled steps hold more than {} of scripts and environment",
                    crate::bounded_read::human_bytes(MAX_PLAN_BYTES)
                ),
                "real build files compile to a few megabytes at most; look for large values repeated in many steps",
            );
        }
        !self.limit_hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn compile_text(text: &str, opts: &CompileOptions) -> Result<Plan, Diagnostics> {
        let loaded = crate::config::load_str(Path::new("t.yaml"), text).unwrap();
        compile(&loaded, &Library::new(vec![]), opts)
    }

    const HEAD: &str = "package:\n  name: p\n  version: '1'\n  epoch: 0\n";

    #[test]
    fn skipped_steps_are_still_checked() {
        // melange compiles every step, whatever its `if:`; so does melwrap.
        let text = format!(
            "{HEAD}pipeline:\n  - if: ${{{{build.arch}}}} == 'aarch64'\n    runs: echo ${{{{vars.nope}}}}\n"
        );
        let err = compile_text(&text, &CompileOptions::for_arch("x86_64")).unwrap_err();
        assert_eq!(err.0[0].field.as_deref(), Some("pipeline[0].runs"));
        assert_eq!(err.0[0].file, Path::new("t.yaml"));
    }

    #[test]
    fn substitutions_share_one_budget_and_stop_at_the_first_field_past_it() {
        // v19 is 512 KiB (the v chain 1 MiB); each of forty vars copies it: 21 MiB in all. The
        // budget of 16 MiB holds the chain and thirty copies.
        let mut text = format!("{HEAD}vars:\n  v00: x\n");
        for i in 1..20 {
            text.push_str(&format!(
                "  v{i:02}: ${{{{vars.v{:02}}}}}${{{{vars.v{:02}}}}}\n",
                i - 1,
                i - 1
            ));
        }
        for i in 0..40 {
            text.push_str(&format!("  w{i:02}: ${{{{vars.v19}}}}\n"));
        }
        text.push_str("pipeline:\n  - runs: x\n");
        let err = compile_text(&text, &CompileOptions::for_arch("x86_64")).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(
            err.0[0].message,
            "substitutions in this file produce more than 16 MiB of text in total (the limit)"
        );
        assert_eq!(err.0[0].field.as_deref(), Some("vars.w30"));
    }

    #[test]
    fn env_files_sit_under_the_config_environment() {
        let text =
            format!("{HEAD}environment:\n  environment:\n    A: yaml\npipeline:\n  - runs: x\n");
        let mut opts = CompileOptions::for_arch("aarch64");
        opts.env_files = vec![BTreeMap::from([
            ("A".to_string(), "file".to_string()),
            ("B".to_string(), "file".to_string()),
        ])];
        opts.source_date_epoch = 42;
        let plan = compile_text(&text, &opts).unwrap();
        assert_eq!(plan.arch, "aarch64");
        assert_eq!(plan.environment["A"], "yaml");
        assert_eq!(plan.environment["B"], "file");
        assert_eq!(plan.environment["SOURCE_DATE_EPOCH"], "42");
    }

    #[test]
    fn fetch_steps_name_the_cache_blobs_they_look_up() {
        let text = r#"
vars:
  sha: AAA
pipeline:
  - uses: fetch
    with: { uri: "http://x/1.tgz", expected-sha256: "${{vars.sha}}" }
  - uses: fetch
    with: { uri: "http://x/2.tgz", expected-sha512: BBB }
  - uses: fetch
    with: { uri: "http://x/3.tgz", expected-none: "yes" }
  - uses: fetch
    with: { uri: "http://x/4.tgz", expected-sha256: AAA, expected-sha512: BBB }
  - if: ${{build.arch}} == 'aarch64'
    pipeline:
      - uses: fetch
        with: { uri: "http://x/5.tgz", expected-sha256: CCC }
subpackages:
  - name: sub
    pipeline:
      - uses: fetch
        with: { uri: "http://x/6.tgz", expected-sha256: CCC }
test:
  pipeline:
    - uses: fetch
      with: { uri: "http://x/7.tgz", expected-sha256: DDD }
"#;
        let (a, b, c) = ("a".repeat(64), "b".repeat(128), "c".repeat(64));
        let text = format!("{HEAD}{text}")
            .replace("AAA", &a)
            .replace("BBB", &b)
            .replace("CCC", &c)
            .replace("DDD", &"d".repeat(64));
        let plan = compile_text(&text, &CompileOptions::for_arch("x86_64")).unwrap();
        // sha256 wins over sha512, expected-none has no blob, repeats count once, skipped
        // steps not at all, and tests (which a build does not run) are left out.
        assert_eq!(
            plan.packages[0].fetches,
            [format!("sha256:{a}"), format!("sha512:{b}")]
        );
        assert_eq!(plan.packages[1].fetches, [format!("sha256:{c}")]);
        let aarch64 = compile_text(&text, &CompileOptions::for_arch("aarch64")).unwrap();
        assert_eq!(aarch64.packages[0].fetches[2], format!("sha256:{c}"));
    }
}
