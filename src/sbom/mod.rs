//! SPDX 2.3 SBOMs written into each package, and the provenance flags they carry.
//!
//! melange writes `var/lib/db/sbom/<name>-<version>-r<epoch>.spdx.json` into every package's
//! destdir after linting and before the `.apk` is assembled; melwrap does the same, through
//! descriptors below the destdir (a step may have planted a symlink on the way; it is refused,
//! never followed).
//!
//! | file | owns |
//! |---|---|
//! | `spdx` | the document: model, content, rendering |
//! | `purl` | package URLs |
//! | `git` | HEAD of the build file's repository, read from `.git` |

pub mod git;
pub mod purl;
pub mod spdx;

use std::io::Write;
use std::path::Path;

use color_eyre::eyre::{self, WrapErr};

use crate::safefs::Dir;

pub use spdx::{ConfigSource, SbomInput};

/// The SBOM directory inside a package (melange's `SBOMDir`, without the leading `/`).
pub const SBOM_DIR: &str = "var/lib/db/sbom";

/// `--git-repo-url`, `--git-commit`, `--license` and `--namespace` of `melwrap build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The repository holding the build file (melange: `https://unknown/unknown/unknown`).
    pub git_repo_url: String,
    /// Its commit; empty means "detect HEAD of the build file's directory, else `unknown`".
    pub git_commit: String,
    /// The license of the build file itself (melange: `NOASSERTION`).
    pub license: String,
    /// The distribution namespace: `.PKGINFO` `maintainer`, the purls, the SBOM supplier.
    pub namespace: String,
}

impl Default for Provenance {
    fn default() -> Provenance {
        Provenance {
            git_repo_url: "https://unknown/unknown/unknown".into(),
            git_commit: String::new(),
            license: "NOASSERTION".into(),
            namespace: "unknown".into(),
        }
    }
}

impl Provenance {
    /// Fills the commit from the build file's repository when not given; returns the build
    /// file's source description for the SBOM.
    pub fn resolve(&self, config_file: &Path) -> ConfigSource {
        let dir = match config_file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let state = git::detect(dir);
        let commit = if self.git_commit.is_empty() {
            state
                .as_ref()
                .and_then(|s| s.commit.clone())
                .unwrap_or_else(|| "unknown".into())
        } else {
            self.git_commit.clone()
        };
        // Inside a repository the path is the file's place in it (as in a purl subpath); else
        // its name, so the SBOM does not depend on where the checkout is.
        let file_name = config_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = state
            .and_then(|s| {
                let abs = std::path::absolute(config_file).ok()?;
                let rel = abs.strip_prefix(&s.top).ok()?;
                Some(rel.to_string_lossy().into_owned())
            })
            .unwrap_or(file_name);
        ConfigSource {
            path,
            repo_url: self.git_repo_url.clone(),
            commit,
            license: self.license.clone(),
        }
    }
}

/// `<name>-<version>-r<epoch>.spdx.json`.
pub fn file_name(name: &str, full_version: &str) -> String {
    format!("{name}-{full_version}.spdx.json")
}

/// Writes the SBOM of `input` into the destdir `root` (opened below the workspace):
/// directories made `0755` when created, the file `0644` (whatever the umask), replacing a
/// regular file or symlink of the same name a step left there.
pub fn write_into(root: &Dir, input: &SbomInput<'_>) -> eyre::Result<()> {
    let bytes = spdx::render(&spdx::document(input));
    let mut dir = root.try_clone()?;
    for part in SBOM_DIR.split('/') {
        let (next, created) = dir
            .create_dir(part, 0o755)
            .wrap_err_with(|| format!("cannot create {}/{part}", dir.path().display()))?;
        if created {
            next.set_mode(0o755)?;
        }
        dir = next;
    }
    let name = file_name(input.name, &input.full_version);
    match dir.stat_at(&name) {
        Ok(st) if st.is_dir() => eyre::bail!(
            "{}/{name} is a directory; the package's SBOM goes there (remove it in the pipeline)",
            dir.path().display()
        ),
        Ok(_) => dir.unlink_at(&name)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let mut file = dir.create_file(&name, 0o644)?;
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    file.write_all(&bytes)
        .wrap_err_with(|| format!("cannot write {}/{name}", dir.path().display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(config: &'a ConfigSource) -> SbomInput<'a> {
        SbomInput {
            name: "p",
            full_version: "1-r0".into(),
            arch: "x86_64",
            namespace: "unknown",
            licenses: &[],
            attestations: vec![],
            source_date_epoch: 0,
            config,
            sources: vec![],
        }
    }

    #[test]
    fn replaces_a_planted_link_and_refuses_a_linked_directory() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("dest");
        fs_err::create_dir_all(dest.join(SBOM_DIR)).unwrap();
        fs_err::write(t.path().join("victim"), "host").unwrap();
        let target = dest.join(SBOM_DIR).join("p-1-r0.spdx.json");
        std::os::unix::fs::symlink(t.path().join("victim"), &target).unwrap();
        let config = ConfigSource {
            path: "p.yaml".into(),
            repo_url: String::new(),
            commit: "unknown".into(),
            license: "NOASSERTION".into(),
        };
        let root = Dir::open_anchor(&dest).unwrap();
        write_into(&root, &input(&config)).unwrap();
        assert_eq!(
            fs_err::read_to_string(t.path().join("victim")).unwrap(),
            "host"
        );
        let meta = fs_err::symlink_metadata(&target).unwrap();
        assert!(meta.is_file());
        let json: serde_json::Value =
            serde_json::from_slice(&fs_err::read(&target).unwrap()).unwrap();
        assert_eq!(json["spdxVersion"], "SPDX-2.3");

        // `var/lib/db` replaced by a link to a host directory: refused, nothing written there.
        let other = t.path().join("dest2");
        fs_err::create_dir_all(other.join("var/lib")).unwrap();
        fs_err::create_dir(t.path().join("hostdir")).unwrap();
        std::os::unix::fs::symlink(t.path().join("hostdir"), other.join("var/lib/db")).unwrap();
        let root = Dir::open_anchor(&other).unwrap();
        assert!(write_into(&root, &input(&config)).is_err());
        assert!(
            fs_err::read_dir(t.path().join("hostdir"))
                .unwrap()
                .next()
                .is_none()
        );
    }
}
