//! Resolution as callers see it: requests in, a sorted package set out, or an error that says
//! why as a chain (`build-base → gcc → so:libisl.so.23: no package provides it in the 2
//! repositories`).

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;

use super::db::{Db, DepRef, NameId, PkgId};
use super::dep::Dep;
use super::repository::LoadedRepo;
use super::solver::{Outcome, Solver};

/// One package of a resolved set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The repository it comes from (the first that carries it), as written.
    pub repository: String,
    /// Size of the `.apk` file (`S:`).
    pub size: u64,
    /// `C:` as written in the index (`Q1` + base64 SHA-1 of the control section).
    pub checksum: String,
    /// The full index entry (depends, provides, datahash-less fields) for the fetch layer.
    pub entry: crate::apk::index::IndexEntry,
}

impl ResolvedPackage {
    /// `NAME-VERSION.apk`, the file name in the repository's arch directory.
    pub fn file_name(&self) -> String {
        format!("{}-{}.apk", self.name, self.version)
    }
}

/// Why there is no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError {
    /// One line per problem, each a chain from a request to the cause.
    pub reasons: Vec<String>,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot resolve the requested packages:")?;
        for r in &self.reasons {
            write!(f, "\n  {r}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ResolveError {}

/// Every repository's packages, interned once; resolve as many requests as needed.
#[derive(Debug, Clone)]
pub struct Universe {
    db: Db,
}

impl Universe {
    /// Intern the repositories' packages (taking their entries: each index is parsed once).
    pub fn new(repos: Vec<LoadedRepo>) -> Universe {
        Universe { db: Db::new(repos) }
    }

    /// Number of distinct packages.
    pub fn len(&self) -> usize {
        self.db.pkgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.db.pkgs.is_empty()
    }

    /// Resolve `requests` (apk atoms) the way `apk add --simulate` on an empty root does.
    /// The result is sorted by name.
    pub fn resolve(&self, requests: &[String]) -> Result<Vec<ResolvedPackage>, ResolveError> {
        let db = &self.db;
        let mut world = Vec::new();
        let mut reasons = Vec::new();
        for r in requests {
            let d = match Dep::parse(r) {
                Ok(d) => d,
                Err(e) => {
                    reasons.push(format!("bad package request {e}"));
                    continue;
                }
            };
            let tag = match &d.tag {
                None => 0,
                Some(t) => match db.tags.iter().position(|(x, _)| x == t) {
                    Some(i) => i,
                    None => {
                        reasons.push(format!("{r}: no repository is tagged @{t}"));
                        continue;
                    }
                },
            };
            match db.by_name.get(&d.name) {
                // A later request for the same name replaces the earlier one, as `apk add`
                // does (`apk_deps_add`).
                Some(&name) => match world
                    .iter_mut()
                    .find(|(w, _): &&mut (DepRef, usize)| w.name == name)
                {
                    Some(w) => *w = (DepRef { name, dep: d }, tag),
                    None => world.push((DepRef { name, dep: d }, tag)),
                },
                // Conflicting with a name nothing provides is always satisfied.
                None if d.conflict => {}
                None => reasons.push(format!(
                    "{d}: no such package in the {}",
                    repos_phrase(db.repos.len())
                )),
            }
        }
        if !reasons.is_empty() {
            return Err(ResolveError { reasons });
        }
        let out = Solver::solve(db, &world);
        if out.error_count > 0 {
            return Err(ResolveError {
                reasons: explain(db, &out, &world),
            });
        }
        let mut pkgs: Vec<ResolvedPackage> = out.install.iter().map(|&p| describe(db, p)).collect();
        pkgs.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
        Ok(pkgs)
    }
}

fn repos_phrase(n: usize) -> String {
    if n == 1 {
        "1 repository".into()
    } else {
        format!("{n} repositories")
    }
}

fn describe(db: &Db, p: PkgId) -> ResolvedPackage {
    let e = &db.pkgs[p].entry;
    ResolvedPackage {
        name: e.name.clone(),
        version: e.version.clone(),
        arch: e.arch.clone(),
        repository: db.repos[db.first_repo(p)].clone(),
        size: e.size,
        checksum: format!(
            "Q1{}",
            base64::engine::general_purpose::STANDARD.encode(&e.checksum)
        ),
        entry: e.clone(),
    }
}

const GENERIC: &str = "conflicts with another selected package";

/// Chains from each failing request to a cause a person can act on.
fn explain(db: &Db, out: &Outcome, world: &[(DepRef, usize)]) -> Vec<String> {
    let mut reasons = Vec::new();
    let mut seen = HashSet::new();
    for (d, tag) in world {
        let mut path = Vec::new();
        if let Some(r) = explain_dep(db, out, d, *tag, &mut path, &mut seen) {
            reasons.push(r);
        }
    }
    // A package marked broken only because of another problem says nothing new.
    if reasons.iter().any(|r| !r.ends_with(GENERIC)) {
        reasons.retain(|r| !r.ends_with(GENERIC));
    }
    if reasons.is_empty() {
        // Errors the walk did not reach (two chosen packages providing one name).
        for &p in &out.errors {
            reasons.push(format!(
                "{}: conflicts with another selected package providing the same name",
                db.label(p)
            ));
        }
    }
    if reasons.is_empty() {
        reasons.push("the requests cannot be satisfied together".into());
    }
    reasons
}

fn explain_dep(
    db: &Db,
    out: &Outcome,
    d: &DepRef,
    tag: usize,
    path: &mut Vec<String>,
    seen: &mut HashSet<NameId>,
) -> Option<String> {
    let chain = |path: &[String], tail: String| -> String {
        let mut s = path.join(" → ");
        if !s.is_empty() {
            s.push_str(" → ");
        }
        s.push_str(&tail);
        s
    };
    let name = &db.names[d.name];
    let chosen = out.chosen[d.name];
    if d.dep.conflict {
        if d.is_provided(db, chosen) {
            return None;
        }
        let by = chosen.map(|c| db.label(c.pkg)).unwrap_or_default();
        return Some(chain(
            path,
            format!("{}: conflicts with {by}, which is also required", d.dep),
        ));
    }
    if name.providers.is_empty() {
        return Some(chain(
            path,
            format!(
                "{}: no package provides it in the {}",
                d.dep,
                repos_phrase(db.repos.len())
            ),
        ));
    }
    let matching: Vec<_> = name
        .providers
        .iter()
        .filter(|&&p| d.is_provided(db, Some(p)))
        .collect();
    if matching.is_empty() {
        let mut have: Vec<String> = name
            .providers
            .iter()
            .map(|&p| match db.provider_version(p) {
                Some(v) if db.pkgs[p.pkg].name == d.name => v.to_string(),
                Some(v) => format!("{} (from {})", v, db.label(p.pkg)),
                None => format!("unversioned (from {})", db.label(p.pkg)),
            })
            .collect();
        have.dedup();
        return Some(chain(
            path,
            format!(
                "{}: no version matches; available: {}",
                d.dep,
                have.join(", ")
            ),
        ));
    }
    let tag_allowed = if tag == 0 {
        db.mask_repos(1)
    } else {
        db.mask_repos(1 << tag)
    };
    if tag == 0
        && matching.iter().all(|p| {
            db.pkgs[p.pkg].repos & tag_allowed == 0 && db.pkgs[p.pkg].entry.installed_size != 0
        })
    {
        let tags: Vec<String> = matching
            .iter()
            .flat_map(|p| {
                db.tags
                    .iter()
                    .filter(|(_, r)| r & db.pkgs[p.pkg].repos != 0)
                    .map(|(t, _)| format!("{}@{t}", d.dep.name))
            })
            .collect();
        return Some(chain(
            path,
            format!(
                "{}: only in tagged repositories; pin it as {}",
                d.dep,
                tags.first().cloned().unwrap_or_default()
            ),
        ));
    }
    match chosen {
        Some(c) if d.is_provided(db, Some(c)) => {
            if !out.errors.contains(&c.pkg) || !seen.insert(d.name) {
                return None;
            }
            path.push(if db.pkgs[c.pkg].name == d.name {
                d.dep.name.clone()
            } else {
                format!("{} ({})", d.dep.name, db.label(c.pkg))
            });
            for dd in &db.pkgs[c.pkg].depends {
                if let Some(r) = explain_dep(db, out, dd, 0, path, seen) {
                    return Some(r);
                }
            }
            let r = chain(path, GENERIC.into());
            path.pop();
            Some(r)
        }
        Some(c) => Some(chain(
            path,
            format!(
                "{}: {} was selected instead, which does not match",
                d.dep,
                db.label(c.pkg)
            ),
        )),
        None if matching.iter().all(|p| {
            db.provider_version(**p).is_none() && db.pkgs[p.pkg].entry.provider_priority == 0
        }) =>
        {
            let cands: Vec<String> = matching.iter().map(|p| db.label(p.pkg)).collect();
            Some(chain(
                path,
                format!(
                    "{}: a virtual name provided by {} without a provider_priority; \
                     request one of them by name",
                    d.dep,
                    cands.join(", ")
                ),
            ))
        }
        None => {
            let cands: Vec<String> = matching.iter().map(|p| db.label(p.pkg)).collect();
            Some(chain(
                path,
                format!(
                    "{}: every candidate ({}) is excluded by a conflict or another requirement",
                    d.dep,
                    cands.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apk::index::IndexEntry;
    use crate::repo::Repository;

    fn pkg(spec: &str) -> IndexEntry {
        // "name version [D:a,b] [p:x,y] [i:u,v] [k:N]"
        let mut w = spec.split_whitespace();
        let mut e = IndexEntry {
            name: w.next().unwrap().into(),
            version: w.next().unwrap().into(),
            installed_size: 1,
            arch: "x86_64".into(),
            ..IndexEntry::default()
        };
        for f in w {
            let list = |v: &str| v.split(',').map(String::from).collect();
            match f.split_at(2) {
                ("D:", v) => e.depends = list(v),
                ("p:", v) => e.provides = list(v),
                ("i:", v) => e.install_if = list(v),
                ("k:", v) => e.provider_priority = v.parse().unwrap(),
                _ => panic!("{f}"),
            }
        }
        e.checksum = format!("{}-{}", e.name, e.version).into_bytes();
        e
    }

    fn repo(loc: &str, tag: Option<&str>, pkgs: &[&str]) -> LoadedRepo {
        LoadedRepo {
            repository: Repository {
                location: loc.into(),
                tag: tag.map(String::from),
                own_unsigned: false,
            },
            entries: pkgs.iter().map(|s| pkg(s)).collect(),
            verified_by: None,
        }
    }

    fn names(u: &Universe, req: &[&str]) -> Vec<String> {
        let req: Vec<String> = req.iter().map(|s| s.to_string()).collect();
        u.resolve(&req)
            .unwrap()
            .iter()
            .map(|p| format!("{}-{}@{}", p.name, p.version, p.repository))
            .collect()
    }

    #[test]
    fn highest_version_then_first_repository() {
        let mut second = repo("/r2", None, &["a 2", "b 1"]);
        // The same b (same checksum) in both repositories is one package from the first.
        let u = Universe::new(vec![repo("/r1", None, &["a 1", "b 1"]), second.clone()]);
        assert_eq!(names(&u, &["a", "b"]), ["a-2@/r2", "b-1@/r1"]);
        // Equal versions, different builds: the first repository wins.
        second.entries[1].checksum = b"other".to_vec();
        let u = Universe::new(vec![repo("/r1", None, &["b 1"]), second]);
        assert_eq!(names(&u, &["b"]), ["b-1@/r1"]);
    }

    #[test]
    fn provides_priority_and_install_if() {
        let u = Universe::new(vec![repo(
            "/r",
            None,
            &[
                "x 1 p:v k:1",
                "y 1 p:v k:5",
                "app 1 D:v,so:l.so",
                "lib 1 p:so:l.so=1",
                "app-doc 1 i:app,docs",
                "docs 1",
            ],
        )]);
        assert_eq!(names(&u, &["app"]), ["app-1@/r", "lib-1@/r", "y-1@/r"]);
        assert_eq!(
            names(&u, &["app", "docs"]),
            [
                "app-1@/r",
                "app-doc-1@/r",
                "docs-1@/r",
                "lib-1@/r",
                "y-1@/r"
            ]
        );
    }

    #[test]
    fn tagged_repositories_need_a_pin() {
        let u = Universe::new(vec![
            repo("/r", None, &["a 1"]),
            repo("/e", Some("edge"), &["a 2", "n 1"]),
        ]);
        assert_eq!(names(&u, &["a"]), ["a-1@/r"]);
        assert_eq!(names(&u, &["a@edge"]), ["a-2@/e"]);
        let err = u.resolve(&["n".into()]).unwrap_err().to_string();
        assert!(err.contains("pin it as n@edge"), "{err}");
        let err = u.resolve(&["a@nope".into()]).unwrap_err().to_string();
        assert!(err.contains("no repository is tagged @nope"), "{err}");
    }

    #[test]
    fn the_reason_is_a_chain_to_the_cause() {
        let u = Universe::new(vec![
            repo(
                "/r1",
                None,
                &["build-base 1 D:gcc", "gcc 1 D:so:libisl.so.23"],
            ),
            repo("/r2", None, &["c 1 D:!gcc"]),
        ]);
        let err = u.resolve(&["build-base".into()]).unwrap_err();
        assert_eq!(
            err.reasons,
            ["build-base → gcc → so:libisl.so.23: no package provides it in the 2 repositories"]
        );
        let err = u.resolve(&["c".into(), "gcc".into()]).unwrap_err();
        assert!(
            err.to_string().contains("!gcc: conflicts with gcc-1"),
            "{err}"
        );
    }
}
