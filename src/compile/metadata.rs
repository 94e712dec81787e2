//! Package metadata with its `${{...}}` resolved, for `.PKGINFO`: description, url, commit,
//! licenses, dependencies and scriptlets of the main package and of each subpackage.
//!
//! melange fills these at parse time (`pkg/config/config.go`): free text (description, url,
//! scriptlets, licenses) by exact-token replacement, which leaves unknown names as written, and
//! the dependency lists strictly, where an unknown name is an error. melwrap does the same with
//! the full build map (range copies included), so subpackage fields see `range.key`.

use crate::config::model::{Configuration, Dependencies, Scriptlets};
use crate::subst::{self, Lookup};

use super::Sink;
use super::context::Expanded;
use super::plan::PackageMetadata;

/// Metadata of the main package.
pub(crate) fn for_main(
    sink: &mut Sink,
    scope: &dyn Lookup,
    config: &Configuration,
) -> PackageMetadata {
    let p = &config.package;
    PackageMetadata {
        description: subst::substitute_lenient(&p.description, scope),
        url: subst::substitute_lenient(&p.url, scope),
        commit: p.commit.clone(),
        licenses: licenses(scope, config),
        dependencies: dependencies(sink, scope, &p.dependencies, "package.dependencies"),
        scriptlets: p.scriptlets.as_ref().map(|s| scriptlets(scope, s)),
        options: p.options.clone().unwrap_or_default(),
        checks_disabled: p.checks.disabled.clone(),
    }
}

/// Metadata of a subpackage: its own description, url and dependencies (melange does not
/// inherit the main package's), the package's licenses, and its commit or the package's.
pub(crate) fn for_sub(
    sink: &mut Sink,
    scope: &dyn Lookup,
    config: &Configuration,
    sub: &Expanded,
) -> PackageMetadata {
    let s = sub.sub;
    let field = format!("subpackages[{}].dependencies", sub.index);
    PackageMetadata {
        description: subst::substitute_lenient(&s.description, scope),
        url: subst::substitute_lenient(&s.url, scope),
        commit: if s.commit.is_empty() {
            config.package.commit.clone()
        } else {
            s.commit.clone()
        },
        licenses: licenses(scope, config),
        dependencies: dependencies(sink, scope, &s.dependencies, &field),
        scriptlets: s.scriptlets.as_ref().map(|x| scriptlets(scope, x)),
        options: s.options.clone().unwrap_or_default(),
        checks_disabled: s.checks.disabled.clone(),
    }
}

fn licenses(scope: &dyn Lookup, config: &Configuration) -> Vec<String> {
    config
        .package
        .copyright
        .iter()
        .map(|c| subst::substitute_lenient(&c.license, scope))
        .collect()
}

fn dependencies(
    sink: &mut Sink,
    scope: &dyn Lookup,
    deps: &Dependencies,
    field: &str,
) -> Dependencies {
    let mut strict = |value: &str, at: String| match subst::substitute(value, scope) {
        Ok(v) => v,
        Err(e) => {
            sink.subst(&at, &e);
            value.to_string()
        }
    };
    let mut list = |items: &[String], name: &str| -> Vec<String> {
        items
            .iter()
            .enumerate()
            .map(|(i, v)| strict(v, format!("{field}.{name}[{i}]")))
            .collect()
    };
    let runtime = list(&deps.runtime, "runtime");
    let provides = list(&deps.provides, "provides");
    let replaces = list(&deps.replaces, "replaces");
    Dependencies {
        runtime,
        provides,
        replaces,
        provider_priority: strict(
            &deps.provider_priority,
            format!("{field}.provider-priority"),
        ),
        replaces_priority: strict(
            &deps.replaces_priority,
            format!("{field}.replaces-priority"),
        ),
    }
}

fn scriptlets(scope: &dyn Lookup, s: &Scriptlets) -> Scriptlets {
    let text = |t: &str| subst::substitute_lenient(t, scope);
    let mut out = s.clone();
    out.trigger.script = text(&s.trigger.script);
    out.trigger.paths = s.trigger.paths.iter().map(|p| text(p)).collect();
    out.pre_install = text(&s.pre_install);
    out.post_install = text(&s.post_install);
    out.pre_deinstall = text(&s.pre_deinstall);
    out.post_deinstall = text(&s.post_deinstall);
    out.pre_upgrade = text(&s.pre_upgrade);
    out.post_upgrade = text(&s.post_upgrade);
    out
}
