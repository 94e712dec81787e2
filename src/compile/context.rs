//! The substitution map of a build (semantics doc 2.1; melange `pkg/build/pipeline.go`,
//! `NewSubstitutionMap` and `Subpackage`), and the expansion of `range:` subpackages
//! (`pkg/config/config.go`, `replaceSubpackages`).
//!
//! melange fills `${{...}}` in two phases (an exact-token pass over the YAML at parse time, a
//! strict pass at compile time) with different maps, which is where several footguns come from
//! (semantics doc section 10, items 3, 4, 6, 7, 8). melwrap builds one map, complete before
//! anything is substituted, and applies it strictly everywhere:
//! - `vars` see `package.*`, the build names and each other, resolved in dependency order
//!   (a cycle is an error) instead of Go map order;
//! - build-option `vars` and `--var` overrides are merged before anything is substituted, so
//!   they reach every `${{vars.x}}`;
//! - `package.description` is defined everywhere;
//! - `range.key` / `range.value` are part of the range subpackage's map.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::config::model::Subpackage;
use crate::guest;
use crate::limits::MAX_VAR_CHAIN;
use crate::subst::{self, Budget, Lookup, Metered, Scope, transforms};

use super::arch::Arch;
use super::{CompileOptions, Sink};

/// A subpackage after `range:` expansion.
#[derive(Debug)]
pub struct Expanded<'c> {
    /// Index of the template in `subpackages:` (for locating errors).
    pub index: usize,
    pub name: String,
    pub sub: &'c Subpackage,
    /// `(range.key, range.value)` for a range copy.
    pub range: Option<(String, String)>,
}

/// The package-level map and the expanded subpackages.
pub struct Context<'c> {
    pub map: HashMap<String, String>,
    pub subpackages: Vec<Expanded<'c>>,
}

/// The overlay a subpackage adds to the package map (`SubstitutionMap.Subpackage`).
pub fn subpackage_scope<'s>(parent: &'s Scope<'s>, sub: &Expanded) -> Scope<'s> {
    let mut s = Scope::child(parent);
    let dir = guest::destdir(&sub.name);
    s.set("subpkg.name", sub.name.clone());
    s.set("context.name", sub.name.clone());
    s.set("targets.subpkgdir", dir.clone());
    s.set("targets.contextdir", dir);
    if let Some((k, v)) = &sub.range {
        s.set("range.key", k.clone());
        s.set("range.value", v.clone());
    }
    s
}

/// Build the package map. Problems go to `sink`; `None` when the map could not be built.
pub(crate) fn build<'c>(
    config: &'c crate::config::Configuration,
    opts: &CompileOptions,
    arch: Arch,
    budget: &Budget,
    sink: &mut Sink,
) -> Option<Context<'c>> {
    let pkg = &config.package;
    let mut map: HashMap<String, String> = HashMap::new();
    let mut put = |k: &str, v: String| {
        map.insert(k.to_string(), v);
    };
    put("package.name", pkg.name.clone());
    put("package.version", pkg.version.clone());
    put("package.epoch", pkg.epoch.to_string());
    put(
        "package.full-version",
        format!("{}-r{}", pkg.version, pkg.epoch),
    );
    put("package.description", pkg.description.clone());
    put("package.srcdir", guest::WORKSPACE.to_string());
    put("targets.outdir", guest::OUT_DIR.to_string());
    put("targets.destdir", guest::destdir(&pkg.name));
    put("targets.contextdir", guest::destdir(&pkg.name));
    put("context.name", pkg.name.clone());
    let libc = if opts.host_libc.is_empty() {
        "gnu"
    } else {
        opts.host_libc.as_str()
    };
    put("host.triplet.gnu", arch.gnu_triplet(libc));
    put("host.triplet.rust", arch.rust_triplet(libc));
    put("cross.triplet.gnu.glibc", arch.gnu_triplet("gnu"));
    put("cross.triplet.gnu.musl", arch.gnu_triplet("musl"));
    put("cross.triplet.rust.glibc", arch.rust_triplet("gnu"));
    put("cross.triplet.rust.musl", arch.rust_triplet("musl"));
    put("build.arch", arch.apk.to_string());
    put("build.goarch", arch.oci.to_string());
    for name in config.options.keys() {
        put(&format!("options.{name}.enabled"), "false".to_string());
    }
    for name in &opts.build_options {
        put(&format!("options.{name}.enabled"), "true".to_string());
    }

    // vars: the file's, then enabled build options' (`applyBuildOption`), then `--var`.
    let mut raw: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (k, v) in &config.vars {
        raw.insert(k.clone(), (v.clone(), format!("vars.{k}")));
    }
    for name in &opts.build_options {
        if let Some(opt) = config.options.get(name) {
            for (k, v) in &opt.vars {
                raw.insert(k.clone(), (v.clone(), format!("options.{name}.vars.{k}")));
            }
        }
    }
    for (k, v) in &opts.vars {
        raw.insert(k.clone(), (v.clone(), format!("--var {k}")));
    }
    let ok = resolve_vars(&raw, &mut map, budget, sink);
    if sink.limit_hit() {
        return None;
    }

    for (i, t) in config.var_transforms.iter().enumerate() {
        let field = format!("var-transforms[{i}]");
        let metered = Metered {
            lookup: &map,
            budget,
        };
        let from = match subst::substitute(&t.from, &metered) {
            Ok(v) => v,
            Err(e) => {
                sink.subst(&format!("{field}.from"), &e);
                continue;
            }
        };
        match transforms::replace_all(&from, &t.match_, &t.replace, budget) {
            Ok(v) => {
                map.insert(format!("vars.{}", t.to), v);
            }
            Err(transforms::TransformError::Regex(message)) => {
                sink.error(&format!("{field}.match"), message, None)
            }
            Err(transforms::TransformError::Limit(e)) => {
                sink.subst(&format!("{field}.replace"), &subst::SubstErrors(vec![e]));
                return None;
            }
        }
    }
    if !ok {
        return None;
    }

    let subpackages = expand(config, &map, budget, sink)?;
    map.insert(
        format!("targets.package.{}", pkg.name),
        guest::destdir(&pkg.name),
    );
    for sp in &subpackages {
        map.insert(
            format!("targets.package.{}", sp.name),
            guest::destdir(&sp.name),
        );
    }
    Some(Context { map, subpackages })
}

/// Resolve `vars` against the map and each other, in dependency order. Each value is
/// substituted once; a value produced by substitution is not rescanned.
fn resolve_vars(
    raw: &BTreeMap<String, (String, String)>,
    map: &mut HashMap<String, String>,
    budget: &Budget,
    sink: &mut Sink,
) -> bool {
    // Order: a var after the vars it refers to (depth-first), cycles reported.
    let mut order: Vec<&str> = Vec::new();
    let mut state: HashMap<&str, bool> = HashMap::new(); // false = visiting, true = done
    let mut ok = true;
    fn visit<'r>(
        k: &'r str,
        raw: &'r BTreeMap<String, (String, String)>,
        state: &mut HashMap<&'r str, bool>,
        order: &mut Vec<&'r str>,
        stack: &mut Vec<&'r str>,
    ) -> Result<(), Vec<&'r str>> {
        // A chain longer than any real file is refused before it can exhaust the stack.
        if stack.len() >= MAX_VAR_CHAIN {
            let mut chain = stack[..2].to_vec();
            chain.push(k);
            return Err(chain);
        }
        match state.get(k) {
            Some(true) => return Ok(()),
            Some(false) => {
                let from = stack.iter().position(|s| *s == k).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(k);
                return Err(cycle);
            }
            None => {}
        }
        state.insert(k, false);
        stack.push(k);
        for dep in referenced_vars(&raw[k].0) {
            if let Some((name, _)) = raw.get_key_value(dep) {
                visit(name, raw, state, order, stack)?;
            }
        }
        stack.pop();
        state.insert(k, true);
        order.push(k);
        Ok(())
    }
    let mut reported: HashSet<String> = HashSet::new();
    for k in raw.keys() {
        let mut stack = Vec::new();
        if let Err(cycle) = visit(k, raw, &mut state, &mut order, &mut stack) {
            ok = false;
            let names: Vec<String> = cycle.iter().map(|c| format!("vars.{c}")).collect();
            let too_deep = stack.len() >= MAX_VAR_CHAIN;
            if too_deep {
                sink.error(
                    &raw[cycle[0]].1,
                    format!(
                        "vars refer to each other more than {MAX_VAR_CHAIN} levels deep: {} -> ...",
                        names[..2].join(" -> ")
                    ),
                    Some(
                        "real build files chain a few vars at most; is the file generated wrongly?"
                            .into(),
                    ),
                );
                return false;
            }
            if reported.insert(cycle[0].to_string()) {
                sink.error(
                    &raw[cycle[0]].1,
                    format!("vars refer to each other in a loop: {}", names.join(" -> ")),
                    Some("break the loop; derive values with `var-transforms`".into()),
                );
            }
            // Mark the rest done so each loop is reported once.
            for c in cycle {
                state.insert(c, true);
            }
        }
    }
    for k in order {
        let (value, field) = &raw[k];
        let metered = Metered {
            lookup: &*map,
            budget,
        };
        match subst::substitute(value, &metered) {
            Ok(v) => {
                map.insert(format!("vars.{k}"), v);
            }
            Err(e) => {
                ok = false;
                sink.subst(field, &e);
                if e.is_limit() {
                    return false;
                }
                map.insert(format!("vars.{k}"), String::new());
            }
        }
    }
    ok
}

/// The `vars.X` names referred to inside `${{ }}` in `text` (bare or in an expression).
fn referenced_vars(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${{") {
        let inner = &rest[i + 3..];
        let end = inner.find("}}").unwrap_or(inner.len());
        let segment = &inner[..end];
        let mut s = segment;
        while let Some(j) = s.find("vars.") {
            let before_ok = j == 0 || !subst::is_name_char(s.as_bytes()[j - 1]);
            let name_start = j + 5;
            let len = s[name_start..]
                .bytes()
                .take_while(|c| subst::is_name_char(*c))
                .count();
            if before_ok && len > 0 {
                out.push(&s[name_start..name_start + len]);
            }
            s = &s[name_start + len..];
        }
        rest = &inner[end.min(inner.len())..];
    }
    out
}

/// Expand `range:` subpackages in place (sorted keys) and substitute every subpackage name.
fn expand<'c>(
    config: &'c crate::config::Configuration,
    map: &HashMap<String, String>,
    budget: &Budget,
    sink: &mut Sink,
) -> Option<Vec<Expanded<'c>>> {
    let base = Scope::with_budget(map.clone(), budget);
    let mut out = Vec::new();
    let mut ok = true;
    for (index, sub) in config.subpackages.iter().enumerate() {
        let field = format!("subpackages[{index}]");
        let mut name_of = |range: Option<(String, String)>, sink: &mut Sink| {
            let mut scope = Scope::child(&base);
            if let Some((k, v)) = &range {
                scope.set("range.key", k.clone());
                scope.set("range.value", v.clone());
            }
            match subst::substitute(&sub.name, &scope) {
                Ok(name) => out.push(Expanded {
                    index,
                    name,
                    sub,
                    range,
                }),
                Err(e) => {
                    ok = false;
                    sink.subst(&format!("{field}.name"), &e);
                }
            }
        };
        if sub.range.is_empty() {
            name_of(None, sink);
            continue;
        }
        let Some(data) = config.data.iter().find(|d| d.name == sub.range) else {
            ok = false;
            let names: Vec<&str> = config.data.iter().map(|d| d.name.as_str()).collect();
            let hint = crate::diag::did_you_mean(&sub.range, names.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .or_else(|| {
                    Some(if names.is_empty() {
                        "define it under top-level `data:`".to_string()
                    } else {
                        format!("defined ranges: {}", names.join(", "))
                    })
                });
            sink.error(
                &format!("{field}.range"),
                format!(
                    "subpackage `{}` uses undefined range `{}`",
                    sub.name, sub.range
                ),
                hint,
            );
            continue;
        };
        // `items` is a BTreeMap: keys come out sorted bytewise, as Go's sort.Strings does.
        for (k, v) in &data.items {
            name_of(Some((k.clone(), v.clone())), sink);
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for sp in &out {
        if sp.name == config.package.name {
            ok = false;
            sink.error(
                &format!("subpackages[{}].name", sp.index),
                format!("subpackage `{}` has the same name as the package", sp.name),
                None,
            );
        } else if let Some(first) = seen.insert(&sp.name, sp.index) {
            ok = false;
            sink.error(
                &format!("subpackages[{}].name", sp.index),
                format!(
                    "subpackage name `{}` is used twice (also subpackages[{first}])",
                    sp.name
                ),
                None,
            );
        }
    }
    ok.then_some(out)
}

/// Every defined name of a scope, sorted (for tests and listings).
pub fn sorted_names(l: &dyn Lookup) -> Vec<String> {
    let mut v: Vec<String> = l.names().into_iter().map(str::to_string).collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_var_references_bare_and_in_expressions() {
        assert_eq!(
            referenced_vars(
                "${{vars.a}}-${{ vars.b-c == 'x' && vars.d || '' }} vars.e ${{xvars.f}}"
            ),
            vec!["a", "b-c", "d"]
        );
    }
}
