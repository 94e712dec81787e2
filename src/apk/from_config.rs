//! Filling a [`PackageMeta`] from a build config, the way melange's `Emit` does
//! (`pkg/build/package.go`): a subpackage uses its own description, url, commit, dependencies
//! and scriptlets, shares the origin's version and epoch, and repeats the origin's licenses.

use crate::config::model::{Configuration, Scriptlets as ConfigScriptlets, Subpackage};

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

/// The metadata of the main package (`sub = None`) or one subpackage. Generated dependencies
/// (SCA) are the caller's to add; lists are sorted and de-duplicated as melange does.
pub fn meta_for(cfg: &Configuration, sub: Option<&Subpackage>, b: &BuildInfo) -> PackageMeta {
    let p = &cfg.package;
    let pkg_commit = if p.commit.is_empty() {
        b.git_commit.clone()
    } else {
        p.commit.clone()
    };
    let (name, description, url, commit, deps, scriptlets) = match sub {
        None => (
            &p.name,
            p.description.clone(),
            p.url.clone(),
            pkg_commit,
            &p.dependencies,
            p.scriptlets.as_ref(),
        ),
        Some(s) => (
            &s.name,
            s.description.clone(),
            s.url.clone(),
            // config.go: an empty subpackage commit takes the package's.
            if s.commit.is_empty() {
                pkg_commit
            } else {
                s.commit.clone()
            },
            &s.dependencies,
            s.scriptlets.as_ref(),
        ),
    };
    let sorted = |v: &Vec<String>| {
        let mut v = v.clone();
        v.sort();
        v.dedup();
        v
    };
    PackageMeta {
        name: name.clone(),
        version: p.version.clone(),
        epoch: p.epoch,
        arch: b.arch.clone(),
        description,
        url,
        commit,
        origin: if b.strip_origin_name {
            name.clone()
        } else {
            p.name.clone()
        },
        licenses: p.copyright.iter().map(|c| c.license.clone()).collect(),
        depends: sorted(&deps.runtime),
        provides: sorted(&deps.provides),
        replaces: deps.replaces.clone(),
        vendored: Vec::new(),
        provider_priority: deps.provider_priority.clone(),
        replaces_priority: deps.replaces_priority.clone(),
        triggers: scriptlets
            .map(|s| s.trigger.paths.clone())
            .unwrap_or_default(),
        scriptlets: scriptlets.map(convert).unwrap_or_default(),
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
        let cfg: Configuration = serde_yaml::from_str(yaml).unwrap();
        let b = BuildInfo {
            arch: "aarch64".into(),
            builddate: 5,
            namespace: "unknown".into(),
            git_commit: "unknown".into(),
            strip_origin_name: false,
        };
        let main = meta_for(&cfg, None, &b);
        assert_eq!(main.full_version(), "1.0.0-r2");
        assert_eq!(main.depends, ["busybox", "zlib"]);
        assert_eq!(main.provider_priority, "10");
        assert_eq!(main.triggers, ["/usr/lib"]);
        assert_eq!(main.scriptlets.post_install, "echo hi");
        assert_eq!(main.commit, "unknown");
        let doc = meta_for(&cfg, Some(&cfg.subpackages[0]), &b);
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
