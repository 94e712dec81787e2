//! Running the linters over a build's packages: which linters, at which level, the output, and
//! `--persist-lint-results`.
//!
//! melange (`pkg/build/build.go`) lints every package after all pipelines ran and before any
//! SBOM or `.apk` is written; a failing required linter fails the build there. melwrap does the
//! same: [`lint_packages`] runs before the first package is written, so a failed lint leaves
//! no `.apk` behind.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use color_eyre::eyre::{self, WrapErr};
use serde::Serialize;

use crate::apk::tar::Kind as TarKind;
use crate::apk::walk::{self, Contents, Walk};
use crate::diag::{Diagnostic, did_you_mean};
use crate::printer::Printer;
use crate::safefs::Dir;

use super::linters::{Entry, Kind, Opener, Subject};
use super::{Linter, find};

/// The linter flags of `melwrap build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintOptions {
    /// `--lint-require`: findings fail the build.
    pub require: Vec<String>,
    /// `--lint-warn`: findings are printed.
    pub warn: Vec<String>,
    /// `--fail-on-lint-warning`: findings of `--lint-warn` linters fail the build too
    /// (linters a package's `checks.disabled` downgraded stay warnings).
    pub fail_on_warning: bool,
    /// `--persist-lint-results`: write `<out>/<arch>/lint-<pkg>-<ver>-r<epoch>.json`.
    pub persist: bool,
}

impl Default for LintOptions {
    fn default() -> LintOptions {
        LintOptions {
            require: super::default_required(),
            warn: super::default_warn(),
            fail_on_warning: false,
            persist: false,
        }
    }
}

impl LintOptions {
    /// Every linter name in the flags must exist (melange refuses unknown ones too).
    pub fn check(&self) -> Result<(), Diagnostic> {
        for (flag, names) in [
            ("--lint-require", &self.require),
            ("--lint-warn", &self.warn),
        ] {
            if let Some(bad) = names.iter().find(|n| find(n).is_none()) {
                return Err(unknown_linter(flag, bad));
            }
        }
        Ok(())
    }
}

/// The error for a linter name that does not exist, reported at `place` (a flag or a file).
pub fn unknown_linter(place: impl AsRef<Path>, name: &str) -> Diagnostic {
    Diagnostic::new(place, format!("unknown linter `{name}`")).hint(unknown_hint(name))
}

/// "did you mean" or the list of linters.
pub fn unknown_hint(name: &str) -> String {
    match did_you_mean(name, super::all_names()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("linters: {}", super::all_names().join(", ")),
    }
}

/// How a finding counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One linter's finding in one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub package: String,
    pub linter: &'static str,
    pub severity: Severity,
    pub message: String,
    pub explain: &'static str,
    pub paths: Vec<String>,
}

impl Finding {
    /// `package: [linter] message`, then each path, then the explanation.
    pub fn render(&self) -> String {
        let mut s = format!("{}: [{}] {}", self.package, self.linter, self.message);
        for p in &self.paths {
            // Names are the step's: a line break or escape in one must not forge output lines.
            if p.chars().any(char::is_control) {
                s.push_str(&format!("\n    {p:?}"));
            } else {
                s.push_str(&format!("\n    {p}"));
            }
        }
        s.push_str(&format!("\n  → {}", self.explain));
        s
    }
}

/// What the build knows about one package for linting.
#[derive(Debug, Clone, Default)]
pub struct PackageLint {
    pub name: String,
    /// `checks.disabled` of this package.
    pub disabled: Vec<String>,
    /// The top-level `uses:` of the package's `test:` steps.
    pub test_uses: Vec<String>,
    /// `<version>-r<epoch>`, for the persisted results' file name.
    pub full_version: String,
}

/// The linters for one package, each with its severity: the warnings first, then the
/// required ones, as melange runs them. A linter in `checks.disabled` is a warning.
fn selection(pkg: &PackageLint, opts: &LintOptions) -> Vec<(&'static Linter, Severity)> {
    let disabled = |n: &String| pkg.disabled.contains(n);
    let required: Vec<&String> = opts.require.iter().filter(|n| !disabled(n)).collect();
    let mut out: Vec<(&'static Linter, Severity)> = Vec::new();
    let mut push = |name: &String, severity| {
        if let Some(l) = find(name)
            && !out.iter().any(|(seen, _)| seen.name == l.name)
        {
            out.push((l, severity));
        }
    };
    for name in &opts.warn {
        if required.contains(&name) {
            continue;
        }
        let fail = opts.fail_on_warning && !disabled(name);
        push(
            name,
            if fail {
                Severity::Error
            } else {
                Severity::Warning
            },
        );
    }
    for name in &pkg.disabled {
        push(name, Severity::Warning);
    }
    for name in required {
        push(name, Severity::Error);
    }
    out
}

struct WalkOpener<'a> {
    contents: Contents<'a>,
}

impl Opener for WalkOpener<'_> {
    fn open(&mut self, index: usize) -> io::Result<File> {
        self.contents.open(index).map(|(f, _)| f)
    }
}

fn entries_of(w: &Walk) -> Vec<Entry> {
    w.entries
        .iter()
        .map(|e| Entry {
            path: String::from_utf8_lossy(&e.name).into_owned(),
            kind: match e.kind {
                TarKind::Dir => Kind::Dir,
                TarKind::File | TarKind::HardLink(_) => Kind::File,
                TarKind::Symlink(_) => Kind::Symlink,
                _ => Kind::Other,
            },
            mode: e.mode,
            size: match e.kind {
                TarKind::File => e.size,
                _ => 0,
            },
        })
        .collect()
}

/// Lints the destdir `root` (opened by the caller below the workspace) as package `pkg`.
pub fn lint_destdir(
    root: &Dir,
    pkg: &PackageLint,
    opts: &LintOptions,
) -> eyre::Result<Vec<Finding>> {
    let walked = walk::walk(root)?;
    let mut entries = entries_of(&walked);
    // Hard links carry no size in the walk; melange sees the file's size through each name.
    let mut sizes: HashMap<Vec<u8>, u64> = HashMap::new();
    for e in &walked.entries {
        if e.kind == TarKind::File {
            sizes.insert(e.name.clone(), e.size);
        }
    }
    for (entry, raw) in entries.iter_mut().zip(&walked.entries) {
        if let TarKind::HardLink(target) = &raw.kind {
            entry.size = sizes.get(target).copied().unwrap_or(0);
        }
    }
    let mut opener = WalkOpener {
        contents: Contents::new(root, &walked),
    };
    let mut subject = Subject {
        name: &pkg.name,
        entries: &entries,
        test_uses: &pkg.test_uses,
        opener: &mut opener,
        elf_cache: HashMap::new(),
    };
    let mut findings = Vec::new();
    for (linter, severity) in selection(pkg, opts) {
        let found = (linter.check)(&mut subject).map_err(|e| {
            let shown = root.path().display();
            eyre::Report::new(e)
                .wrap_err(format!("linter `{}` could not read {shown}", linter.name))
        })?;
        if let Some(found) = found {
            findings.push(Finding {
                package: pkg.name.clone(),
                linter: linter.name,
                severity,
                message: found.message,
                explain: linter.explain,
                paths: found.paths,
            });
        }
    }
    Ok(findings)
}

/// The result of linting a build.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
}

impl Outcome {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// The one-line reason a build with failing linters stops, or `None` when none failed.
    pub fn failure(&self) -> Option<String> {
        let errors: Vec<String> = self
            .errors()
            .map(|f| format!("{} [{}]", f.package, f.linter))
            .collect();
        (!errors.is_empty()).then(|| {
            format!(
                "required linters failed, no package was written: {}",
                errors.join(", ")
            )
        })
    }
}

/// Lints each `(destdir, package)`, prints every finding (warnings as warnings, failures as
/// errors) and, with `--persist-lint-results`, writes the results into `arch_dir`.
pub fn lint_packages(
    packages: &[(&Dir, PackageLint)],
    opts: &LintOptions,
    arch_dir: &Path,
    printer: Printer,
) -> eyre::Result<Outcome> {
    let mut outcome = Outcome::default();
    for (dir, pkg) in packages {
        let findings = lint_destdir(dir, pkg, opts)
            .wrap_err_with(|| format!("cannot lint package `{}`", pkg.name))?;
        for f in &findings {
            match f.severity {
                Severity::Warning => printer.warn(format!("lint: {}", f.render())),
                Severity::Error => printer.error(format!("lint: {}", f.render())),
            }
        }
        if opts.persist && !findings.is_empty() {
            persist(arch_dir, pkg, &findings)?;
        }
        outcome.findings.extend(findings);
    }
    Ok(outcome)
}

#[derive(Serialize)]
struct PersistedFinding<'a> {
    message: &'a str,
    explain: &'a str,
    severity: Severity,
    details: PersistedDetails<'a>,
}

#[derive(Serialize)]
struct PersistedDetails<'a> {
    paths: &'a [String],
}

#[derive(Serialize)]
struct Persisted<'a> {
    package_name: String,
    findings: std::collections::BTreeMap<&'a str, Vec<PersistedFinding<'a>>>,
}

/// melange's `lint-<name>-<version>-r<epoch>.json` in the architecture's output directory.
fn persist(arch_dir: &Path, pkg: &PackageLint, findings: &[Finding]) -> eyre::Result<()> {
    let mut doc = Persisted {
        package_name: format!("{}-{}", pkg.name, pkg.full_version),
        findings: Default::default(),
    };
    for f in findings {
        doc.findings
            .entry(f.linter)
            .or_default()
            .push(PersistedFinding {
                message: &f.message,
                explain: f.explain,
                severity: f.severity,
                details: PersistedDetails { paths: &f.paths },
            });
    }
    let name = format!("lint-{}-{}.json", pkg.name, pkg.full_version);
    let path = arch_dir.join(OsStr::from_bytes(name.as_bytes()));
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    let mut file = crate::apk::atomic::AtomicFile::create(&path)?;
    io::Write::write_all(file.file(), text.as_bytes())
        .wrap_err_with(|| format!("cannot write {}", path.display()))?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> LintOptions {
        LintOptions::default()
    }

    fn pkg(disabled: &[&str]) -> PackageLint {
        PackageLint {
            name: "p".into(),
            disabled: disabled.iter().map(|s| s.to_string()).collect(),
            ..PackageLint::default()
        }
    }

    fn severity_of(sel: &[(&Linter, Severity)], name: &str) -> Option<Severity> {
        sel.iter().find(|(l, _)| l.name == name).map(|(_, s)| *s)
    }

    #[test]
    fn disabled_linters_become_warnings_and_fail_on_warning_spares_them() {
        let sel = selection(&pkg(&["setuidgid", "empty"]), &opts());
        assert_eq!(severity_of(&sel, "setuidgid"), Some(Severity::Warning));
        assert_eq!(severity_of(&sel, "empty"), Some(Severity::Warning));
        assert_eq!(severity_of(&sel, "dev"), Some(Severity::Error));
        assert_eq!(severity_of(&sel, "opt"), Some(Severity::Warning));
        let strict = LintOptions {
            fail_on_warning: true,
            ..opts()
        };
        let sel = selection(&pkg(&["setuidgid"]), &strict);
        assert_eq!(severity_of(&sel, "opt"), Some(Severity::Error));
        assert_eq!(severity_of(&sel, "setuidgid"), Some(Severity::Warning));
        assert_eq!(severity_of(&sel, "documentation"), None);
    }

    #[test]
    fn control_characters_in_names_are_escaped() {
        let f = Finding {
            package: "p".into(),
            linter: "opt",
            severity: Severity::Warning,
            message: "p writes to /opt".into(),
            explain: "x",
            paths: vec!["opt/a\nerror: lint: forged".into(), "opt/b".into()],
        };
        let text = f.render();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.contains("\"opt/a\\nerror: lint: forged\""), "{text}");
        assert!(text.contains("\n    opt/b\n"), "{text}");
    }

    #[test]
    fn unknown_flag_names_are_refused_with_a_suggestion() {
        let bad = LintOptions {
            warn: vec!["usrlocl".into()],
            ..opts()
        };
        let err = bad.check().unwrap_err().to_string();
        assert!(
            err.contains("--lint-warn") && err.contains("did you mean `usrlocal`"),
            "{err}"
        );
        assert!(opts().check().is_ok());
    }
}
