//! Semantic checks on a decoded build file: everything melange's `validate`,
//! `validatePipelines`, `validateCPE`, `validateCapabilities`, range expansion and var-transform
//! setup refuse (`pkg/config/config.go`, `pkg/config/vars.go`), plus the `uses:` path rule of
//! `pkg/build/compile.go`. melange stops at its first problem; melwrap collects every problem
//! of the file, each placed at the field it is about.

use std::collections::HashMap;

use crate::diag::{Diagnostic, did_you_mean};

use super::load::LoadedConfig;
use super::model::{Capability, Dependencies, Pipeline};
use super::rules;

/// Every semantic problem of the file, in file order.
pub fn check(loaded: &LoadedConfig) -> Vec<Diagnostic> {
    let mut c = Checker {
        loaded,
        out: Vec::new(),
    };
    c.package();
    c.subpackages();
    c.pipelines("pipeline", &loaded.config.pipeline, true);
    if let Some(test) = &loaded.config.test {
        c.pipelines("test.pipeline", &test.pipeline, false);
    }
    c.var_transforms();
    let mut out = c.out;
    out.extend(super::check_env::check(loaded));
    out.extend(super::check_accounts::check(loaded));
    out.sort_by(|a, b| (a.position, &a.field, &a.message).cmp(&(b.position, &b.field, &b.message)));
    out
}

/// Whether melange substitutes this text later, so its final value is unknown here.
fn substituted(text: &str) -> bool {
    text.contains("${{")
}

struct Checker<'a> {
    loaded: &'a LoadedConfig,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn report(&mut self, field: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.out
            .push(self.loaded.diagnostic(field, message).hint(hint));
    }

    fn package(&mut self) {
        let pkg = &self.loaded.config.package;
        if pkg.name.is_empty() {
            self.report(
                "package.name",
                "`name` is required",
                "add `name:` under `package:`; it names the package and its .apk file",
            );
        } else if !substituted(&pkg.name) && !rules::is_package_name(&pkg.name) {
            self.bad_name("package.name", &pkg.name);
        }
        if pkg.version.is_empty() {
            self.report(
                "package.version",
                "`version` is required",
                "add `version:` under `package:`, the upstream version such as `1.2.3`",
            );
        }
        if !pkg.timeout.is_empty() && !rules::is_go_duration(&pkg.timeout) {
            let hint = if pkg.timeout.chars().all(|c| c.is_ascii_digit()) {
                format!(
                    "write a duration with a unit, such as `{}s` or `1h`; melange refuses a bare number (it is not read as seconds)",
                    pkg.timeout
                )
            } else {
                "write a Go duration such as `90m`, `2h` or `1h30m` (units: ns, us, ms, s, m, h)"
                    .to_string()
            };
            self.report(
                "package.timeout",
                format!("`{}` is not a duration", pkg.timeout),
                hint,
            );
        }
        self.priorities("package.dependencies", &pkg.dependencies);
        self.setcap("package.setcap", &pkg.setcap);
        self.checks("package.checks", &pkg.checks.disabled);
        self.cpe();
    }

    /// `checks.disabled` names linters; melange refuses an unknown one when it lints, after the
    /// build. Refused here, before anything runs.
    fn checks(&mut self, base: &str, disabled: &[String]) {
        for (i, name) in disabled.iter().enumerate() {
            if crate::lint::find(name).is_none() {
                self.report(
                    &format!("{base}.disabled[{i}]"),
                    format!("unknown linter `{name}`"),
                    crate::lint::unknown_hint(name),
                );
            }
        }
    }

    fn bad_name(&mut self, field: &str, name: &str) {
        self.report(
            field,
            format!(
                "`{name}` is not a valid package name (it must match `{}`)",
                rules::PACKAGE_NAME_PATTERN
            ),
            "use ASCII letters, digits, `+`, `_`, `.` and `-`, starting with a letter or digit",
        );
    }

    fn subpackages(&mut self) {
        let cfg = &self.loaded.config;
        let data: Vec<&str> = cfg.data.iter().map(|d| d.name.as_str()).collect();
        // Index of the first package with each literal name; the main package is `None`.
        let mut seen: HashMap<&str, Option<usize>> = HashMap::new();
        seen.insert(cfg.package.name.as_str(), None);
        for (i, sp) in cfg.subpackages.iter().enumerate() {
            let base = format!("subpackages[{i}]");
            let name_field = format!("{base}.name");
            if sp.name.is_empty() {
                self.report(
                    &name_field,
                    "subpackage `name` is required",
                    "add `name:` to this subpackage",
                );
            } else if !substituted(&sp.name) && !rules::is_package_name(&sp.name) {
                self.bad_name(&name_field, &sp.name);
            }
            // Names made from `range:` differ per item once expanded; the compiler checks those.
            if !sp.name.is_empty() && !sp.name.contains("${{range.") {
                match seen.get(sp.name.as_str()) {
                    Some(None) => self.report(
                        &name_field,
                        format!("subpackage name `{}` is the main package's name", sp.name),
                        "give the subpackage its own name, such as `<package>-doc`",
                    ),
                    Some(Some(j)) => self.report(
                        &name_field,
                        format!(
                            "subpackage name `{}` is already used by subpackages[{j}]",
                            sp.name
                        ),
                        "give each subpackage a distinct name",
                    ),
                    None => {
                        seen.insert(sp.name.as_str(), Some(i));
                    }
                }
            }
            if !sp.range.is_empty() && !data.contains(&sp.range.as_str()) {
                let hint = match did_you_mean(&sp.range, data.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if data.is_empty() => format!(
                        "add a top-level `data:` entry with `name: {}` and its `items:`",
                        sp.range
                    ),
                    None => format!(
                        "defined in `data`: {}",
                        data.iter()
                            .map(|d| format!("`{d}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.report(
                    &format!("{base}.range"),
                    format!("range `{}` is not defined in `data`", sp.range),
                    hint,
                );
            }
            self.priorities(&format!("{base}.dependencies"), &sp.dependencies);
            self.checks(&format!("{base}.checks"), &sp.checks.disabled);
            self.setcap(&format!("{base}.setcap"), &sp.setcap);
            self.pipelines(&format!("{base}.pipeline"), &sp.pipeline, true);
            if let Some(test) = &sp.test {
                self.pipelines(&format!("{base}.test.pipeline"), &test.pipeline, false);
            }
        }
    }

    fn priorities(&mut self, base: &str, deps: &Dependencies) {
        for (key, value) in [
            ("provider-priority", &deps.provider_priority),
            ("replaces-priority", &deps.replaces_priority),
        ] {
            if !value.is_empty() && !substituted(value) && !rules::is_go_int(value) {
                self.report(
                    &format!("{base}.{key}"),
                    format!("priority `{value}` is not an integer"),
                    "write a whole number such as `100`; apk compares priorities as integers",
                );
            }
        }
    }

    /// melange's `validatePipelines` (main and subpackage pipelines only, as in melange) and,
    /// for every pipeline including tests, the `uses:` path rule from `compilePipeline`.
    fn pipelines(&mut self, base: &str, steps: &[Pipeline], structure: bool) {
        for (i, step) in steps.iter().enumerate() {
            let at = format!("{base}[{i}]");
            let has_with = self.loaded.spans.contains(&format!("{at}.with"));
            if structure && has_with && step.uses.is_empty() {
                let hint = if step.runs.is_empty() {
                    "add `uses: <pipeline>` to this step, or remove `with`"
                } else {
                    "`runs` takes no inputs: put the values in the script or in `environment:`, and remove `with`"
                };
                self.report(
                    &format!("{at}.with"),
                    "`with` needs `uses`: its values are inputs to a named pipeline",
                    hint,
                );
            } else if structure && !step.uses.is_empty() && !step.runs.is_empty() {
                self.report(
                    &at,
                    format!(
                        "a step has `uses` or `runs`, not both (this one has `uses: {}`)",
                        step.uses
                    ),
                    "split it into two steps",
                );
            }
            let uses = &step.uses;
            if step.pipeline.is_empty() && (uses.starts_with('/') || uses.contains("..")) {
                self.report(
                    &format!("{at}.uses"),
                    format!("`uses: {uses}` must name a pipeline, not a path outside the pipeline directories"),
                    "drop the leading `/` and any `..`: name the pipeline as in `go/build`, and pass its directory with `--pipeline-dir`",
                );
            }
            self.pipelines(&format!("{at}.pipeline"), &step.pipeline, structure);
        }
    }

    fn setcap(&mut self, base: &str, entries: &[Capability]) {
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("{base}[{i}]");
            if entry.path.is_empty() {
                self.report(
                    &format!("{at}.path"),
                    "setcap entry needs a `path`",
                    "name the file in the package, such as `/usr/bin/ping`",
                );
            }
            for (caps, flags) in &entry.add {
                let field = format!("{at}.add.{caps}");
                for cap in caps.split(',') {
                    if !rules::ALLOWED_CAPABILITIES.contains(&cap) {
                        let allowed = rules::ALLOWED_CAPABILITIES
                            .map(|c| format!("`{c}`"))
                            .join(", ");
                        self.report(
                            &field,
                            format!("capability `{cap}` is not allowed"),
                            format!("melange allows only {allowed}"),
                        );
                    }
                }
                if !rules::is_capability_flags(flags) {
                    self.report(
                        &field,
                        format!("capability flags `{flags}` are not valid"),
                        "write `+` and letters from `e` (effective), `p` (permitted) and `i` (inheritable), such as `+ep`",
                    );
                }
            }
            if entry.reason.is_empty() {
                self.report(
                    &format!("{at}.reason"),
                    "setcap entry needs a `reason`",
                    "say why the file needs these capabilities; melange refuses entries without one",
                );
            }
        }
    }

    fn cpe(&mut self) {
        let cpe = &self.loaded.config.package.cpe;
        if !cpe.part.is_empty() && !rules::ALLOWED_CPE_PARTS.contains(&cpe.part.as_str()) {
            self.report(
                "package.cpe.part",
                format!("CPE part `{}` is not valid", cpe.part),
                "use `a` (application, right for most packages) or `o` (operating system)",
            );
        }
        if cpe.vendor.is_empty() != cpe.product.is_empty() {
            let (missing, present) = if cpe.vendor.is_empty() {
                ("vendor", "product")
            } else {
                ("product", "vendor")
            };
            self.report(
                &format!("package.cpe.{present}"),
                format!("CPE `{present}` is set but `{missing}` is not"),
                format!("set both `vendor` and `product`, or neither; add `{missing}:`"),
            );
        }
        let fields = [
            ("vendor", &cpe.vendor),
            ("product", &cpe.product),
            ("edition", &cpe.edition),
            ("language", &cpe.language),
            ("sw_edition", &cpe.sw_edition),
            ("target_sw", &cpe.target_sw),
            ("target_hw", &cpe.target_hw),
            ("other", &cpe.other),
        ];
        for (key, value) in fields {
            if !value.is_empty() && !rules::is_cpe_field(value) {
                let hint = if value.as_str() == "*" {
                    "leave the field out instead of writing the `*` wildcard".to_string()
                } else {
                    format!(
                        "use lower-case letters, digits, `+`, `_`, `.` and `-` (it must match `{}`)",
                        rules::CPE_FIELD_PATTERN
                    )
                };
                self.report(
                    &format!("package.cpe.{key}"),
                    format!("CPE {key} `{value}` is not valid"),
                    hint,
                );
            }
        }
    }

    fn var_transforms(&mut self) {
        for (i, t) in self.loaded.config.var_transforms.iter().enumerate() {
            let at = format!("var-transforms[{i}]");
            for (key, value) in [("from", &t.from), ("match", &t.match_), ("to", &t.to)] {
                if value.is_empty() {
                    self.report(
                        &format!("{at}.{key}"),
                        format!("var-transform needs `{key}`"),
                        "a var-transform has `from` (such as `${{package.version}}`), `match` (a regex), `replace` and `to` (the new variable's name)",
                    );
                }
            }
            if let Some(problem) = rules::regex_problem(&t.match_) {
                self.report(
                    &format!("{at}.match"),
                    format!("`match` is not a valid regular expression: {problem}"),
                    "melange uses Go's RE2 syntax: no look-around or backreferences; escape literal `(`, `[`, `.` with `\\`",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::decode_only;
    use std::path::Path;

    fn problems(text: &str) -> Vec<String> {
        let loaded = decode_only(Path::new("m.yaml"), text).unwrap();
        check(&loaded).iter().map(|d| d.to_string()).collect()
    }

    const HEAD: &str = "package:\n  name: a\n  version: 1\n";

    #[test]
    fn a_clean_config_has_no_problems() {
        assert!(problems(HEAD).is_empty());
    }

    #[test]
    fn collects_every_problem_in_file_order() {
        let text = "package:\n  name: -bad\n  version: ''\n  timeout: 3600\npipeline:\n  - runs: x\n    with: {a: b}\n  - uses: /abs\n";
        let p = problems(text);
        assert_eq!(p.len(), 5, "{p:#?}");
        assert!(p[0].starts_with("m.yaml:2:3: `package.name`: `-bad` is not a valid package name"));
        assert!(p[1].starts_with("m.yaml:3:3: `package.version`"));
        assert!(p[2].starts_with("m.yaml:4:3: `package.timeout`: `3600` is not a duration"));
        assert!(p[3].starts_with("m.yaml:7:5: `pipeline[0].with`: `with` needs `uses`"));
        assert!(p[4].starts_with("m.yaml:8:5: `pipeline[1].uses`"));
    }

    #[test]
    fn substituted_names_and_priorities_are_left_for_later() {
        let text = format!(
            "{HEAD}  dependencies:\n    provider-priority: ${{{{vars.p}}}}\nsubpackages:\n  - name: ${{{{package.name}}}}-doc\n  - range: r\n    name: x-${{{{range.key}}}}\n  - range: r\n    name: x-${{{{range.key}}}}\ndata:\n  - name: r\n    items: {{a: b}}\n"
        );
        assert_eq!(problems(&text), Vec::<String>::new());
    }

    #[test]
    fn duplicate_and_clashing_subpackage_names() {
        let text = format!("{HEAD}subpackages:\n  - name: a\n  - name: b\n  - name: b\n");
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p[0].contains("main package's name"));
        assert!(p[1].contains("already used by subpackages[1]"));
    }

    #[test]
    fn test_pipelines_only_get_the_uses_path_rule() {
        let text = format!(
            "{HEAD}test:\n  pipeline:\n    - runs: x\n      with: {{a: b}}\n    - uses: ../x\n"
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].contains("`test.pipeline[1].uses`"));
    }

    #[test]
    fn setcap_rules() {
        let text = format!(
            "{HEAD}  setcap:\n    - path: /usr/bin/x\n      add:\n        cap_net_raw,cap_sys_ptrace: +ep\n        cap_net_admin: +ex\n"
        );
        let p = problems(&text);
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(
            p.iter()
                .any(|l| l.contains("`cap_sys_ptrace` is not allowed"))
        );
        assert!(p.iter().any(|l| l.contains("flags `+ex`")));
        assert!(p.iter().any(|l| l.contains("needs a `reason`")));
    }

    #[test]
    fn cpe_rules() {
        let text = format!("{HEAD}  cpe:\n    part: h\n    vendor: '*'\n    language: Go\n");
        let p = problems(&text);
        assert_eq!(p.len(), 4, "{p:#?}");
    }

    #[test]
    fn var_transform_rules() {
        let text = format!(
            "{HEAD}var-transforms:\n  - from: ${{{{package.version}}}}\n    match: ^(\\d+\n    replace: $1\n"
        );
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:#?}");
        // The missing `to` is placed at the entry (line of `from`), before `match`.
        assert!(p[0].contains("needs `to`"));
        assert!(p[1].contains("unclosed group"));
    }
}
