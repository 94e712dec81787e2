//! Automatic dependency scanning (melange's SCA, `pkg/sca`): what a package's files provide
//! and need, added to its `.PKGINFO` `provides` and `depend`.
//!
//! Per package, from the files it ships (see docs/dependency-scanning.md for the rules):
//! ELF interpreters, `DT_NEEDED` and `DT_SONAME` give `so:` dependencies and provides
//! ([`scan`]'s shared-object pass), executables in the command directories `cmd:` provides,
//! `.pc` files `pc:` provides and dependencies, shebangs `cmd:` dependencies, and Python,
//! Perl and Ruby module directories and `-doc` contents their runtimes. [`apply`] merges the
//! result into a [`PackageMeta`] the way melange's `GenerateDependencies` does.
//!
//! | file | owns |
//! |---|---|
//! | `rules` | the pure rules (directories, versions, shebangs, pkg-config, self-provided) |
//! | `tree` | a package's walked destdir: lookup, symlink resolution inside it, bounded reads |
//! | `elf` | interpreter, needed libraries and SONAMEs from a hostile ELF file, bounded |
//! | `scan` | the passes over one package |
//! | `log` | `--dependency-log` |
//!
//! Every file is read through the descriptor walk of [`crate::apk::walk`]: nothing a step
//! wrote is opened by path, no symlink is followed outside the package, and each read is
//! bounded ([`crate::limits`]).

pub mod elf;
pub mod log;
pub mod rules;
pub mod scan;
pub mod tree;

use serde::Serialize;

use crate::apk::PackageMeta;
use crate::config::model::PackageOptions;

pub use log::DependencyLog;
pub use scan::{Request, analyze};
pub use tree::PackageTree;

/// Why a value was generated: the file it came from and the rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// `depend`, `provides` or `vendored`.
    pub kind: &'static str,
    pub value: String,
    /// Package path of the file (or directory) that gave it.
    pub path: String,
    pub reason: String,
}

/// A file the scan looked at and left out, with why (unreadable ELF, oversized `.pc`, ...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What scanning one package found, after the package's options were applied: melange's
/// generated `Dependencies` (runtime, provides, vendored), each sorted and without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Generated {
    pub runtime: Vec<String>,
    pub provides: Vec<String>,
    pub vendored: Vec<String>,
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skipped>,
}

/// Switches from the package's `options:` that change what is generated.
pub fn options_in_effect(o: &PackageOptions) -> Vec<&'static str> {
    [
        (o.no_provides, "no-provides"),
        (o.no_depends, "no-depends"),
        (o.no_commands, "no-commands"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| name)
    .collect()
}

/// Merge generated dependencies into the config's (melange's `GenerateDependencies`):
/// generated dependencies a vendored library satisfies are dropped, the rest join the
/// config's `runtime`; generated provides join the config's `provides`; then every
/// dependency the package provides itself is dropped (config ones too). Vendored provides
/// become `# vendored` comments. Lists end sorted and without repeats.
pub fn apply(meta: &mut PackageMeta, generated: &Generated) {
    let unvendored = rules::remove_self_provided(&generated.runtime, &generated.vendored);
    meta.depends.extend(unvendored);
    meta.depends.sort();
    meta.depends.dedup();
    meta.provides.extend(generated.provides.iter().cloned());
    meta.provides.sort();
    meta.provides.dedup();
    meta.depends = rules::remove_self_provided(&meta.depends, &meta.provides);
    meta.vendored = generated.vendored.clone();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn apply_merges_as_melange() {
        let mut meta = PackageMeta {
            depends: s(&["busybox", "so:libown.so.1"]),
            provides: s(&["virtual-x"]),
            ..PackageMeta::default()
        };
        let g = Generated {
            runtime: s(&[
                "cmd:bash",
                "so:libc.so.6",
                "so:libown.so.1",
                "so:libvend.so.2",
            ]),
            provides: s(&["cmd:tool=1-r0", "so:libown.so.1=1"]),
            vendored: s(&["so:libvend.so.2=2"]),
            ..Generated::default()
        };
        apply(&mut meta, &g);
        // The vendored library satisfies its generated depend; the package's own library
        // satisfies both the generated and the configured one.
        assert_eq!(meta.depends, s(&["busybox", "cmd:bash", "so:libc.so.6"]));
        assert_eq!(
            meta.provides,
            s(&["cmd:tool=1-r0", "so:libown.so.1=1", "virtual-x"])
        );
        assert_eq!(meta.vendored, s(&["so:libvend.so.2=2"]));
    }

    #[test]
    fn a_configured_depend_on_a_vendored_library_is_kept() {
        let mut meta = PackageMeta {
            depends: s(&["so:libvend.so.2"]),
            ..PackageMeta::default()
        };
        let g = Generated {
            runtime: s(&["so:libvend.so.2"]),
            vendored: s(&["so:libvend.so.2=2"]),
            ..Generated::default()
        };
        apply(&mut meta, &g);
        assert_eq!(meta.depends, s(&["so:libvend.so.2"]));
    }
}
