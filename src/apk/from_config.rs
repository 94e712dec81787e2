//! Filling a [`PackageMeta`] from a compiled package, the way melange's `Emit` does
//! (`pkg/build/package.go`): a subpackage uses its own description, url, commit, dependencies
//! and scriptlets, shares the origin's version and epoch, and repeats the origin's licenses.
//! The compiler has already resolved every `${{...}}` in those fields
//! ([`crate::compile::PackageMetadata`]).

use crate::compile::PackagePlan;
use crate::config::model::{Package, Scriptlets as ConfigScriptlets};

use super::pkginfo::{PackageMeta, Scriptlets};

/// Build-wide values that are not in the config.
#[derive(Debug, Clone, Default)]
pub struct BuildInfo {
    /// apk architecture (`x86_64`).
    pub arch: String,
    /// SOURCE_DATE_EPOCH (0 leaves `builddate` out).
    pub builddate: u64,
    /// `--namespace` (melange's default: `unknown`), written as `maintainer`.
    pub namespace: String,
    /// `--git-commit`: used when the config has no `commit` (melange: HEAD, else `unknown`).
    pub git_commit: String,
    /// `--strip-origin-name`: each package is its own origin.
    pub strip_origin_name: bool,
}

/// The metadata of one compiled package (main or subpackage) of `origin`. Generated
/// dependencies (SCA) are the caller's to add; lists are sorted and de-duplicated as melange does.
pub fn meta_for(origin: &Package, package: &PackagePlan, b: &BuildInfo) -> PackageMeta {
    let m = &package.metadata;
    let deps = &m.dependencies;
    let sorted = |v: &Vec<String>| {
        let mut v = v.clone();
        v.sort();
        v.dedup();
        v
    };
    PackageMeta {
        name: package.name.clone(),
        version: origin.version.clone(),
        epoch: origin.epoch,
        arch: b.arch.clone(),
        description: m.description.clone(),
        url: m.url.clone(),
        commit: if m.commit.is_empty() {
            b.git_commit.clone()
        } else {
            m.commit.clone()
        },
        origin: if b.strip_origin_name {
            package.name.clone()
        } else {
            origin.name.clone()
        },
        licenses: m.licenses.clone(),
        depends: sorted(&deps.runtime),
        provides: sorted(&deps.provides),
        replaces: deps.replaces.clone(),
        vendored: Vec::new(),
        provider_priority: deps.provider_priority.clone(),
        replaces_priority: deps.replaces_priority.clone(),
        triggers: m
            .scriptlets
            .as_ref()
            .map(|s| s.trigger.paths.clone())
            .unwrap_or_default(),
        scriptlets: m.scriptlets.as_ref().map(convert).unwrap_or_default(),
        builddate: b.builddate,
        maintainer: b.namespace.clone(),
        melange_yaml: None,
    }
}

fn convert(s: &ConfigScriptlets) -> Scriptlets {
    Scriptlets {
        pre_install: s.pre_install.clone(),
        post_install: s.post_install.clone(),
        pre_deinstall: s.pre_deinstall.clone(),
        post_deinstall: s.post_deinstall.clone(),
        pre_upgrade: s.pre_upgrade.clone(),
        post_upgrade: s.post_upgrade.clone(),
        trigger: s.trigger.script.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subpackages_take_their_own_fields_and_the_origins_version() {
        let yaml = "
package:
  name: hello
  version: 1.0.0
  epoch: 2
  description: main
  url: https://example.com
  copyright:
    - license: MIT
  dependencies:
    runtime: [zlib, busybox, zlib]
    provider-priority: 10
  scriptlets:
    post-install: echo hi
    trigger:
      paths: [/usr/lib]
      script: echo t
subpackages:
  - name: hello-doc
    description: docs
    dependencies:
      runtime: [hello]
";
        let loaded = crate::config::load_str(std::path::Path::new("t.yaml"), yaml).unwrap();
        let lib = crate::pipelines::Library::new(vec![]);
        let plan = crate::compile::compile(
            &loaded,
            &lib,
            &crate::compile::CompileOptions::for_arch("aarch64"),
        )
        .unwrap();
        let cfg = &loaded.config;
        let b = BuildInfo {
            arch: "aarch64".into(),
            builddate: 5,
            namespace: "unknown".into(),
            git_commit: "unknown".into(),
            strip_origin_name: false,
        };
        let main = meta_for(&cfg.package, &plan.packages[0], &b);
        assert_eq!(main.full_version(), "1.0.0-r2");
        assert_eq!(main.depends, ["busybox", "zlib"]);
        assert_eq!(main.provider_priority, "10");
        assert_eq!(main.triggers, ["/usr/lib"]);
        assert_eq!(main.scriptlets.post_install, "echo hi");
        assert_eq!(main.commit, "unknown");
        let doc = meta_for(&cfg.package, &plan.packages[1], &b);
        assert_eq!(
            (
                doc.name.as_str(),
                doc.description.as_str(),
                doc.url.as_str()
            ),
            ("hello-doc", "docs", "")
        );
        assert_eq!(
            (doc.origin.as_str(), doc.licenses.clone()),
            ("hello", vec!["MIT".to_string()])
        );
        assert_eq!(doc.file_name(), "hello-doc-1.0.0-r2.apk");
        assert!(doc.scriptlets.files().is_empty());
    }
}
