//! Writing one `.apk` (apk v2): `[signature member] control member data member`, each a
//! separate gzip member (semantics doc 7.2, melange `pkg/build/package.go` `EmitPackage`).
//!
//! The data section is written first (into an unnamed temporary file next to the output)
//! because the control section must carry its `datahash`. The control section is a tar without
//! end blocks holding `.PKGINFO`, `.melange.yaml` when given, then the scriptlets; every entry
//! is root-owned with mtime = build date. The signature signs the compressed control member.
//! The three parts are written to `<name>.apk.tmp-XXXXXX` and renamed into place.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};
use sha1::{Digest, Sha1};

use super::atomic::{AtomicFile, cannot_write, ensure_dir};
use super::data::{DataOptions, write_data_section};
use super::pkginfo::{PackageMeta, PkgInfo};
use super::read::PackageFile;
use super::sign::{Signer, gzip_member};
use super::tar::{self, Header};
use crate::safefs::Dir;

/// Write `<out_dir>/<arch>/<name>-<version>-r<epoch>.apk` from `destdir` with default
/// [`DataOptions`] (rootless ownership mapping, all cores, progress on a terminal).
pub fn write_package(
    destdir: &Path,
    meta: &PackageMeta,
    out_dir: &Path,
    signer: Option<&Signer>,
) -> eyre::Result<PackageFile> {
    write_package_with(destdir, meta, out_dir, signer, &DataOptions::default())
}

/// [`write_package`] with explicit data-section options.
pub fn write_package_with(
    destdir: &Path,
    meta: &PackageMeta,
    out_dir: &Path,
    signer: Option<&Signer>,
    opts: &DataOptions,
) -> eyre::Result<PackageFile> {
    meta.check()?;
    let destdir = super::walk::open_destdir(destdir)
        .wrap_err_with(|| format!("packaging {} from {}", meta.name, destdir.display()))?;
    write_package_from(&destdir, meta, out_dir, signer, opts)
}

/// [`write_package_with`] from a destdir the caller opened (the build opens
/// `melange-out/<name>` below the workspace root without following any symlink).
pub fn write_package_from(
    destdir: &Dir,
    meta: &PackageMeta,
    out_dir: &Path,
    signer: Option<&Signer>,
    opts: &DataOptions,
) -> eyre::Result<PackageFile> {
    meta.check()?;
    let arch_dir = out_dir.join(&meta.arch);
    ensure_dir(&arch_dir)?;
    let dest = arch_dir.join(meta.file_name());
    // Fail on an unwritable directory before the (possibly long) compression.
    let mut out = AtomicFile::create(&dest)?;

    let mut data = write_data_section(destdir, meta.builddate, &meta.name, opts, &arch_dir)
        .wrap_err_with(|| format!("packaging {} from {}", meta.name, destdir.path().display()))?;
    let pkginfo = meta.render_pkginfo(data.installed_size, &data.datahash);
    let control = control_member(meta, &pkginfo)?;

    let write_err = |e: io::Error| cannot_write(&dest, &e);
    if let Some(s) = signer {
        let sig = s.signature_member(&control, meta.builddate)?;
        out.file().write_all(&sig).map_err(write_err)?;
    }
    out.file().write_all(&control).map_err(write_err)?;
    let copied = io::copy(&mut data.file, out.file()).map_err(write_err)?;
    if copied != data.len {
        eyre::bail!(
            "{}: copied {copied} of {} data bytes",
            dest.display(),
            data.len
        );
    }
    let file_size = out.file().metadata().map_err(write_err)?.len();
    out.commit()?;
    Ok(PackageFile {
        path: dest,
        info: PkgInfo::parse(&pkginfo),
        control_sha1: Sha1::digest(&control).into(),
        file_size,
    })
}

/// The compressed control member (tar without end-of-archive blocks).
fn control_member(meta: &PackageMeta, pkginfo: &str) -> eyre::Result<Vec<u8>> {
    let mut t = Vec::new();
    let mut add = |name: &str, mode: u32, data: &[u8]| {
        let h = Header::root_file(name, mode, data.len() as u64, meta.builddate);
        tar::append_bytes(&mut t, &h, data);
    };
    add(".PKGINFO", 0o644, pkginfo.as_bytes());
    if let Some(y) = &meta.melange_yaml {
        add(".melange.yaml", 0o644, y);
    }
    for (name, script) in meta.scriptlets.files() {
        add(name, 0o755, script.as_bytes());
    }
    gzip_member(&t)
}

/// The output path [`write_package`] uses.
pub fn package_path(out_dir: &Path, meta: &PackageMeta) -> PathBuf {
    out_dir.join(&meta.arch).join(meta.file_name())
}
