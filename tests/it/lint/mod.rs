//! Linters, SBOMs and provenance (issue 16), through real builds on the host root.
//!
//! Findings are read from melwrap's output: `warning: lint: PKG: [LINTER] message` (or
//! `error: lint: ...`), each path on its own indented line after it.

mod corpus;
mod linters;
mod policy;
mod sbom;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::build::common::*;

/// One finding as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    pub error: bool,
    pub package: String,
    pub linter: String,
    pub paths: Vec<String>,
}

/// Every finding in `stderr`.
pub fn findings(stderr: &str) -> Vec<Printed> {
    let mut out: Vec<Printed> = Vec::new();
    for line in stderr.lines() {
        let (error, rest) = if let Some(r) = line.strip_prefix("warning: lint: ") {
            (false, r)
        } else if let Some(r) = line.strip_prefix("error: lint: ") {
            (true, r)
        } else {
            if let (Some(last), Some(path)) = (out.last_mut(), line.strip_prefix("    ")) {
                last.paths.push(path.to_string());
            }
            continue;
        };
        let (package, rest) = rest.split_once(": [").expect("PKG: [LINTER]");
        let (linter, _) = rest.split_once("] ").expect("[LINTER] message");
        out.push(Printed {
            error,
            package: package.to_string(),
            linter: linter.to_string(),
            paths: Vec::new(),
        });
    }
    out
}

/// The findings by package.
pub fn by_package(found: &[Printed]) -> BTreeMap<String, Vec<Printed>> {
    let mut map: BTreeMap<String, Vec<Printed>> = BTreeMap::new();
    for f in found {
        map.entry(f.package.clone()).or_default().push(f.clone());
    }
    map
}

/// `out/<arch>/*.apk` file names, sorted.
pub fn apks(out: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let Ok(arches) = fs_err::read_dir(out) else {
        return names;
    };
    for arch in arches.flatten() {
        if let Ok(files) = fs_err::read_dir(arch.path()) {
            for f in files.flatten() {
                let n = f.file_name().to_string_lossy().into_owned();
                if n.ends_with(".apk") {
                    names.push(n);
                }
            }
        }
    }
    names.sort();
    names
}

/// The one `.apk` called `name` under `out/<arch>/`.
pub fn apk_path(out: &Path, name: &str) -> PathBuf {
    for arch in fs_err::read_dir(out).unwrap().flatten() {
        let p = arch.path().join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("no {name} under {}", out.display());
}

/// The `.PKGINFO` text and the data files (path → bytes) of an `.apk`, read by the Python
/// reader (independent of melwrap's writer).
pub fn read_package(apk: &Path) -> (String, BTreeMap<String, Vec<u8>>) {
    let json = crate::apk::support::read_apk(apk, None);
    let mut pkginfo = String::new();
    let mut files = BTreeMap::new();
    for m in json["members"].as_array().unwrap() {
        for e in m["entries"].as_array().unwrap() {
            let name = e["name"].as_str().unwrap().to_string();
            let Some(hex) = e["hex"].as_str() else {
                continue;
            };
            let bytes = hex::decode(hex).unwrap();
            if name == ".PKGINFO" {
                pkginfo = String::from_utf8(bytes).unwrap();
            } else if !name.starts_with('.') {
                files.insert(name, bytes);
            }
        }
    }
    (pkginfo, files)
}

/// A build of `src/melange.yaml` on the host root with a fixed `SOURCE_DATE_EPOCH`.
pub fn build(t: &TestEnv, args: &[&str]) -> Run {
    build_into(t, "out", args)
}

/// [`build`] with packages in `t.root()/out`.
pub fn build_into(t: &TestEnv, out: &str, args: &[&str]) -> Run {
    let mut cmd = t.melwrap(Who::Root);
    cmd.args([
        "build",
        "src/melange.yaml",
        "--out-dir",
        out,
        "--cache-dir",
        "cache",
    ])
    .args(["--rootfs", "host"])
    .args(args)
    .env("SOURCE_DATE_EPOCH", "1700000000");
    Run::from(cmd.output().unwrap())
}
