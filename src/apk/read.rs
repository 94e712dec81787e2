//! Reading an apk back: split it into its gzip members and parse the control section. This is
//! what an index needs (apko `pkg/apk/apk/package.go` `ParsePackage`): the `.PKGINFO` fields,
//! the file size and the SHA-1 of the compressed control member.

use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use color_eyre::eyre;
use sha1::{Digest, Sha1};

use super::pkginfo::PkgInfo;
use super::tar;
use crate::diag::Diagnostic;

/// A package file on disk, as an index sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    pub path: PathBuf,
    /// The `.PKGINFO` fields.
    pub info: PkgInfo,
    /// SHA-1 of the compressed control member (the index's `C:Q1…`).
    pub control_sha1: [u8; 20],
    /// Size of the `.apk` file in bytes (`S:`).
    pub file_size: u64,
}

impl PackageFile {
    pub fn name(&self) -> &str {
        self.info.get("pkgname")
    }
    /// `<version>-r<epoch>`.
    pub fn version(&self) -> &str {
        self.info.get("pkgver")
    }
    pub fn arch(&self) -> &str {
        self.info.get("arch")
    }
    pub fn datahash(&self) -> &str {
        self.info.get("datahash")
    }
}

/// Byte ranges of an apk's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The signature member, when the package is signed.
    pub signature: Option<std::ops::Range<u64>>,
    pub control: std::ops::Range<u64>,
    /// From the end of the control member to the end of the file.
    pub data: std::ops::Range<u64>,
}

/// A `BufRead` that counts consumed bytes, to find where one gzip member ends.
struct Counting<R> {
    inner: R,
    pos: u64,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.pos += amt as u64;
        self.inner.consume(amt);
    }
}

/// Decompress one gzip member starting at the reader's position; returns its tar entries'
/// names and (for small entries) contents.
fn read_member<R: BufRead>(r: &mut Counting<R>) -> io::Result<Vec<tar::ReadEntry>> {
    let mut dec = flate2::bufread::GzDecoder::new(&mut *r);
    let mut raw = Vec::new();
    (&mut dec).take(64 << 20).read_to_end(&mut raw)?;
    let mut entries = Vec::new();
    let mut t = tar::Reader::new(&raw[..], 64 << 20);
    while let Some(e) = t.next_entry()? {
        entries.push(e);
    }
    Ok(entries)
}

/// Find the members of the apk at `path` and return them with the control entries.
pub fn layout(path: &Path) -> eyre::Result<(Layout, Vec<tar::ReadEntry>)> {
    let bad = |why: String| -> eyre::Report {
        Diagnostic::new(path, format!("not a valid apk package: {why}"))
            .hint("give melwrap `.apk` files written by melange, melwrap or abuild")
            .into()
    };
    let file = fs_err::File::open(path)?;
    let len = file.metadata()?.len();
    let mut r = Counting {
        inner: BufReader::new(file),
        pos: 0,
    };
    let first = read_member(&mut r).map_err(|e| bad(format!("first section: {e}")))?;
    let first_end = r.pos;
    let signed = first
        .first()
        .is_some_and(|e| e.header.name.starts_with(b".SIGN."));
    let (signature, control, entries) = if signed {
        let entries = read_member(&mut r).map_err(|e| bad(format!("control section: {e}")))?;
        (Some(0..first_end), first_end..r.pos, entries)
    } else {
        (None, 0..first_end, first)
    };
    if !entries.iter().any(|e| e.header.name == b".PKGINFO") {
        return Err(bad("the control section has no .PKGINFO".into()));
    }
    if control.end >= len {
        return Err(bad(
            "there is no data section after the control section".into()
        ));
    }
    Ok((
        Layout {
            signature,
            control: control.clone(),
            data: control.end..len,
        },
        entries,
    ))
}

/// What [`named_pkginfo`] refusing a package means.
pub(crate) const NO_NAME_OR_VERSION: &str = ".PKGINFO has no pkgname or pkgver";

/// The `.PKGINFO` among a control section's `entries`, parsed; `None` when it (or the file)
/// lacks `pkgname` or `pkgver`.
pub(crate) fn named_pkginfo(entries: &[tar::ReadEntry]) -> Option<PkgInfo> {
    let pkginfo = entries
        .iter()
        .find(|e| e.header.name == b".PKGINFO")
        .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        .unwrap_or_default();
    let info = PkgInfo::parse(&pkginfo);
    if info.get("pkgname").is_empty() || info.get("pkgver").is_empty() {
        return None;
    }
    Some(info)
}

/// Read an apk's control section into a [`PackageFile`].
pub fn read_package(path: &Path) -> eyre::Result<PackageFile> {
    let (layout, entries) = layout(path)?;
    let Some(info) = named_pkginfo(&entries) else {
        return Err(Diagnostic::new(path, NO_NAME_OR_VERSION)
            .hint("the package is damaged; rebuild it")
            .into());
    };
    let mut f = fs_err::File::open(path)?;
    f.seek(SeekFrom::Start(layout.control.start))?;
    let mut control = vec![0u8; (layout.control.end - layout.control.start) as usize];
    f.read_exact(&mut control)?;
    Ok(PackageFile {
        path: path.to_path_buf(),
        info,
        control_sha1: Sha1::digest(&control).into(),
        file_size: layout.data.end,
    })
}
