//! The solver on small in-memory databases.

use super::*;
use crate::apk::index::IndexEntry;
use crate::repo::dep::Dep;
use crate::repo::repository::{LoadedRepo, Repository};

fn db(pkgs: &[(&str, &str, &[&str], &[&str])]) -> Db {
    let entries = pkgs
        .iter()
        .map(|(n, v, d, i)| IndexEntry {
            name: n.to_string(),
            version: v.to_string(),
            installed_size: 1,
            depends: d.iter().map(|s| s.to_string()).collect(),
            install_if: i.iter().map(|s| s.to_string()).collect(),
            checksum: format!("{n:0>12}{v:0>8}").into_bytes()[..20].to_vec(),
            ..IndexEntry::default()
        })
        .collect();
    Db::new(vec![LoadedRepo {
        repository: Repository::parse("/r").unwrap(),
        entries,
        verified_by: None,
    }])
}

fn world(db: &mut Db, atoms: &[&str]) -> Vec<(DepRef, usize)> {
    atoms
        .iter()
        .map(|a| (db.dep_ref(Dep::parse(a).unwrap()), 0))
        .collect()
}

#[test]
fn install_order_follows_dependencies_then_install_if() {
    let mut d = db(&[
        ("app", "1", &["lib"], &[]),
        ("lib", "1", &[], &[]),
        ("app-doc", "1", &[], &["app", "docs"]),
        ("docs", "1", &[], &[]),
    ]);
    let w = world(&mut d, &["app", "docs"]);
    let out = Solver::solve(&d, &w);
    assert_eq!(out.error_count, 0);
    let names: Vec<&str> = out
        .install
        .iter()
        .map(|&p| d.pkgs[p].entry.name.as_str())
        .collect();
    // app-doc comes once both of its install_if names are in.
    assert_eq!(names, ["lib", "app", "docs", "app-doc"]);
}

#[test]
fn a_dependency_constraint_picks_an_older_version() {
    let mut d = db(&[
        ("a", "1", &[], &[]),
        ("a", "2", &[], &[]),
        ("b", "1", &["a<2"], &[]),
    ]);
    let w = world(&mut d, &["b"]);
    let out = Solver::solve(&d, &w);
    assert_eq!(out.error_count, 0);
    let labels: Vec<String> = out.install.iter().map(|&p| d.label(p)).collect();
    assert_eq!(labels, ["a-1", "b-1"]);
    let w = world(&mut d, &["b", "a>=2"]);
    assert!(Solver::solve(&d, &w).error_count > 0);
}
