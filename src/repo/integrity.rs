//! Checking a package file against its index entry before anything uses it.
//!
//! The index is signed (the resolver checks that), and its entry carries the package's size
//! (`S:`) and the SHA-1 of the package's compressed control member (`C:Q1<base64>`). The control
//! member holds `.PKGINFO`, whose `datahash` is the SHA-256 of the compressed data member. So
//! size + control SHA-1 + datahash tie every byte of the package to the signed index, without
//! the package's own signature (which apk-tools does not need either when the index vouches).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use base64::Engine as _;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::apk::read::{NO_NAME_OR_VERSION, PackageFile, layout, named_pkginfo};

/// Feeds written bytes to a hash.
struct HashWriter<'a, D: Digest>(&'a mut D);

impl<D: Digest> std::io::Write for HashWriter<'_, D> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the index says about a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// `S:`: the `.apk` file's size.
    pub size: u64,
    /// `C:` decoded: SHA-1 of the compressed control member.
    pub checksum: [u8; 20],
    /// Lowercase hex SHA-256 of the data member, when the caller knows it independently.
    /// `.PKGINFO`'s own `datahash` is always checked against the data member.
    pub datahash: Option<String>,
}

impl Expected {
    /// Decodes an index `C:` value (`Q1` + base64 of the SHA-1).
    pub fn parse_checksum(c: &str) -> Result<[u8; 20], String> {
        let b64 = c
            .strip_prefix("Q1")
            .ok_or_else(|| format!("checksum `{c}` is not a `Q1` (SHA-1) checksum"))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("checksum `{c}`: {e}"))?;
        raw.try_into()
            .map_err(|_| format!("checksum `{c}` is not 20 bytes"))
    }

    /// `Q1<base64>`, as the index writes it.
    pub fn checksum_text(&self) -> String {
        format!(
            "Q1{}",
            base64::engine::general_purpose::STANDARD.encode(self.checksum)
        )
    }
}

/// Checks `path` against `expected`; on success returns the package's control data. The
/// error says which check failed, with both values.
pub fn verify_package(path: &Path, expected: &Expected) -> Result<PackageFile, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read it: {e}"))?
        .len();
    if len != expected.size {
        return Err(format!(
            "its size is {len} bytes, the index says {}",
            expected.size
        ));
    }
    // One pass: the members' layout (which parses the control section), then the control
    // bytes and the data bytes read once each.
    let (lay, entries) = layout(path).map_err(|e| format!("{e:#}"))?;
    let info = named_pkginfo(&entries).ok_or(NO_NAME_OR_VERSION)?;
    let read_err = |e: std::io::Error| format!("cannot read it: {e}");
    let mut f = std::fs::File::open(path).map_err(read_err)?;
    f.seek(SeekFrom::Start(lay.control.start))
        .map_err(read_err)?;
    let mut control = Sha1::new();
    std::io::copy(
        &mut (&mut f).take(lay.control.end - lay.control.start),
        &mut HashWriter(&mut control),
    )
    .map_err(read_err)?;
    let pkg = PackageFile {
        path: path.to_path_buf(),
        info,
        control_sha1: control.finalize().into(),
        file_size: lay.data.end,
    };
    if pkg.control_sha1 != expected.checksum {
        let got = Expected {
            checksum: pkg.control_sha1,
            ..expected.clone()
        };
        return Err(format!(
            "its control section checksum is {}, the index says {}",
            got.checksum_text(),
            expected.checksum_text()
        ));
    }
    let mut hash = Sha256::new();
    std::io::copy(&mut f, &mut HashWriter(&mut hash)).map_err(read_err)?;
    let data = hex::encode(hash.finalize());
    let claimed = pkg.datahash();
    if claimed != data {
        return Err(format!(
            "its data section's SHA-256 is {data}, its .PKGINFO says datahash {}",
            if claimed.is_empty() {
                "(none)"
            } else {
                claimed
            }
        ));
    }
    if let Some(want) = expected.datahash.as_deref().filter(|w| *w != data) {
        return Err(format!(
            "its data section's SHA-256 is {data}, expected {want}"
        ));
    }
    Ok(pkg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_round_trip() {
        let e = Expected {
            size: 1,
            checksum: [7; 20],
            datahash: None,
        };
        let text = e.checksum_text();
        assert!(text.starts_with("Q1"));
        assert_eq!(Expected::parse_checksum(&text).unwrap(), [7; 20]);
        assert!(Expected::parse_checksum("Q2abc").is_err());
        assert!(Expected::parse_checksum("Q1AAAA").is_err());
    }
}
