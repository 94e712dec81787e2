//! `--dependency-log FILE`: what scanning found for each package and why, as JSON in
//! `FILE.<arch>` (melange's name for it).
//!
//! melange encodes its generated `Dependencies` (`runtime`, `provides`) into that file once per
//! package, each package replacing the last. melwrap writes one document for the whole build:
//! per package the same `runtime` and `provides` keys, plus `vendored`, the findings (value,
//! file, rule), the files left out and why, and under `pkginfo` the final `depend` and
//! `provides` of `.PKGINFO`.

use std::io::Write;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};
use serde::Serialize;

use super::{Finding, Generated, Skipped};
use crate::apk::PackageMeta;

/// One package's entry.
#[derive(Debug, Clone, Serialize)]
pub struct PackageRecord {
    pub package: String,
    pub version: String,
    /// The `options:` switches that applied (`no-provides`, `no-depends`, `no-commands`).
    pub options: Vec<&'static str>,
    /// Generated dependencies (melange's `runtime`).
    pub runtime: Vec<String>,
    /// Generated provides.
    pub provides: Vec<String>,
    /// Provides of libraries and pkg-config files outside the standard directories: written
    /// as `# vendored` comments, and they satisfy the package's own generated dependencies.
    pub vendored: Vec<String>,
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skipped>,
    /// What `.PKGINFO` finally says (configured and generated, merged).
    pub pkginfo: PkgInfoLists,
}

/// The `depend` and `provides` lines of the written `.PKGINFO`.
#[derive(Debug, Clone, Serialize)]
pub struct PkgInfoLists {
    pub depend: Vec<String>,
    pub provides: Vec<String>,
}

/// The whole log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DependencyLog {
    pub arch: String,
    pub packages: Vec<PackageRecord>,
}

impl DependencyLog {
    pub fn new(arch: &str) -> DependencyLog {
        DependencyLog {
            arch: arch.to_string(),
            packages: Vec::new(),
        }
    }

    /// Record a package after [`super::apply`] merged `generated` into `meta`.
    pub fn record(&mut self, meta: &PackageMeta, options: Vec<&'static str>, g: &Generated) {
        self.packages.push(PackageRecord {
            package: meta.name.clone(),
            version: meta.full_version(),
            options,
            runtime: g.runtime.clone(),
            provides: g.provides.clone(),
            vendored: g.vendored.clone(),
            findings: g.findings.clone(),
            skipped: g.skipped.clone(),
            pkginfo: PkgInfoLists {
                depend: meta.depends.clone(),
                provides: meta.provides.clone(),
            },
        });
    }

    /// `FILE.<arch>` for `--dependency-log FILE`.
    pub fn path_for(file: &Path, arch: &str) -> PathBuf {
        let mut name = file.as_os_str().to_owned();
        name.push(format!(".{arch}"));
        PathBuf::from(name)
    }

    /// Write the log to `FILE.<arch>` (replaced whole, never half-written).
    pub fn write(&self, file: &Path) -> eyre::Result<PathBuf> {
        let dest = Self::path_for(file, &self.arch);
        let mut out = crate::apk::atomic::AtomicFile::create(&dest)
            .wrap_err("cannot write the --dependency-log file")?;
        let mut text = serde_json::to_vec_pretty(self).wrap_err("encoding the dependency log")?;
        text.push(b'\n');
        out.file()
            .write_all(&text)
            .map_err(|e| crate::apk::atomic::cannot_write(&dest, &e))?;
        out.commit()?;
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_goes_to_file_dot_arch_as_json() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(
            DependencyLog::path_for(Path::new("dir/deps"), "x86_64"),
            Path::new("dir/deps.x86_64")
        );
        let mut log = DependencyLog::new("aarch64");
        let meta = PackageMeta {
            name: "p".into(),
            version: "1".into(),
            depends: vec!["so:libc.so.6".into()],
            ..PackageMeta::default()
        };
        let g = Generated {
            runtime: vec!["so:libc.so.6".into()],
            ..Generated::default()
        };
        log.record(&meta, vec!["no-provides"], &g);
        let written = log.write(&t.path().join("deps")).unwrap();
        assert_eq!(written, t.path().join("deps.aarch64"));
        let doc: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(&written).unwrap()).unwrap();
        assert_eq!(doc["packages"][0]["version"], "1-r0");
        assert_eq!(doc["packages"][0]["options"][0], "no-provides");
        assert_eq!(doc["packages"][0]["pkginfo"]["depend"][0], "so:libc.so.6");
    }
}
