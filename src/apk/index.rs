//! `APKINDEX.tar.gz`: render, parse, merge, sign (semantics doc 7.7).
//!
//! The index is a gzip'd tar (with end blocks) of `APKINDEX` then `DESCRIPTION`, both mode
//! 0644 with mtime 0 (apko `pkg/apk/apk/apkindex.go` `ArchiveFromIndex`). Each package is a
//! block of `X:value` lines in apko's template order, ended by a blank line. When signed, a
//! signature member (`.SIGN.RSA256.<key>.pub`, mtime 0) over the SHA-256 of the whole unsigned
//! file comes first (melange `pkg/sign/index.go`).

use std::io::{Read, Write};
use std::path::Path;

use base64::Engine as _;
use color_eyre::eyre::{self, WrapErr};

use super::atomic::{AtomicFile, FileLock, cannot_write, ensure_dir, lock_exclusive};
use super::read::PackageFile;
use super::sign::{Signer, gzip_member};
use super::tar::{self, Header};
use crate::diag::Diagnostic;

/// The index file name inside an arch directory.
pub const INDEX_NAME: &str = "APKINDEX.tar.gz";

/// One package's index block. Fields melwrap does not know are dropped on rewrite, as apko does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexEntry {
    /// `C:` without the `Q1` (raw SHA-1 of the control member).
    pub checksum: Vec<u8>,
    pub name: String,
    pub version: String,
    pub arch: String,
    pub size: u64,
    pub installed_size: u64,
    pub description: String,
    pub url: String,
    pub license: String,
    pub origin: String,
    pub maintainer: String,
    pub build_time: i64,
    pub commit: String,
    pub depends: Vec<String>,
    pub install_if: Vec<String>,
    pub provides: Vec<String>,
    pub provider_priority: u64,
}

impl IndexEntry {
    /// The entry for a package file.
    pub fn from_package(p: &PackageFile) -> IndexEntry {
        let i = &p.info;
        let words = |k: &str| -> Vec<String> { i.all(k) };
        IndexEntry {
            checksum: p.control_sha1.to_vec(),
            name: i.get("pkgname").into(),
            version: i.get("pkgver").into(),
            arch: i.get("arch").into(),
            size: p.file_size,
            installed_size: i.get("size").parse().unwrap_or(0),
            description: i.get("pkgdesc").into(),
            url: i.get("url").into(),
            license: i.get("license").into(),
            origin: i.get("origin").into(),
            maintainer: i.get("maintainer").into(),
            build_time: i.get("builddate").parse().unwrap_or(0),
            commit: i.get("commit").into(),
            depends: words("depend"),
            install_if: words("install_if"),
            provides: words("provides"),
            provider_priority: i.get("provider_priority").parse().unwrap_or(0),
        }
    }

    /// The block of lines (with the trailing blank line).
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut line = |k: char, v: &str| {
            s.push(k);
            s.push(':');
            s.push_str(v);
            s.push('\n');
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.checksum);
        line('C', &format!("Q1{b64}"));
        line('P', &self.name);
        line('V', &self.version);
        if !self.arch.is_empty() {
            line('A', &self.arch);
        }
        if self.size != 0 {
            line('S', &self.size.to_string());
        }
        if self.installed_size != 0 {
            line('I', &self.installed_size.to_string());
        }
        line('T', &self.description);
        for (k, v) in [
            ('U', &self.url),
            ('L', &self.license),
            ('o', &self.origin),
            ('m', &self.maintainer),
        ] {
            if !v.is_empty() {
                line(k, v);
            }
        }
        line('t', &self.build_time.to_string());
        if !self.commit.is_empty() {
            line('c', &self.commit);
        }
        if !self.depends.is_empty() {
            line('D', &self.depends.join(" "));
        }
        if !self.install_if.is_empty() {
            line('i', &self.install_if.join(" "));
        }
        if !self.provides.is_empty() {
            line('p', &self.provides.join(" "));
        }
        if self.provider_priority != 0 {
            line('k', &self.provider_priority.to_string());
        }
        s.push('\n');
        s
    }
}

/// A whole index: its packages in order and the `DESCRIPTION` text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    pub entries: Vec<IndexEntry>,
    pub description: String,
}

impl Index {
    /// Parse `APKINDEX` text (apko `ParsePackageIndex`).
    pub fn parse_text(text: &str) -> eyre::Result<Vec<IndexEntry>> {
        let mut out = Vec::new();
        let mut cur = IndexEntry::default();
        let split = |v: &str| -> Vec<String> {
            v.split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() {
                if !cur.name.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                cur = IndexEntry::default();
                continue;
            }
            let Some((k, v)) = line.split_once(':').filter(|(k, _)| k.len() == 1) else {
                eyre::bail!(
                    "APKINDEX line {}: expected `X:value`, found {line:?}",
                    n + 1
                );
            };
            let num = |v: &str| -> eyre::Result<u64> {
                v.parse()
                    .wrap_err_with(|| format!("APKINDEX line {}: bad number {v:?}", n + 1))
            };
            match k {
                "C" => {
                    if let Some(b) = v.strip_prefix("Q1") {
                        cur.checksum = base64::engine::general_purpose::STANDARD
                            .decode(b)
                            .wrap_err_with(|| format!("APKINDEX line {}: bad checksum", n + 1))?;
                    }
                }
                "P" => cur.name = v.into(),
                "V" => cur.version = v.into(),
                "A" => cur.arch = v.into(),
                "S" => cur.size = num(v)?,
                "I" => cur.installed_size = num(v)?,
                "T" => cur.description = v.into(),
                "U" => cur.url = v.into(),
                "L" => cur.license = v.into(),
                "o" => cur.origin = v.into(),
                "m" => cur.maintainer = v.into(),
                "t" => {
                    cur.build_time = v.parse().wrap_err_with(|| {
                        format!("APKINDEX line {}: bad build time {v:?}", n + 1)
                    })?
                }
                "c" => cur.commit = v.into(),
                "D" => cur.depends = split(v),
                "i" => cur.install_if = split(v),
                "p" => cur.provides = split(v),
                "k" => cur.provider_priority = num(v)?,
                _ => {}
            }
        }
        if !cur.name.is_empty() {
            out.push(cur);
        }
        Ok(out)
    }

    /// Read an `APKINDEX.tar.gz` (signed or not).
    pub fn read(path: &Path) -> eyre::Result<Index> {
        let bad = |why: String| -> eyre::Report {
            Diagnostic::new(path, format!("not a readable APKINDEX.tar.gz: {why}"))
                .hint("move the damaged index away; melwrap then writes a fresh one")
                .into()
        };
        let f = fs_err::File::open(path)?;
        let mut raw = Vec::new();
        flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f))
            .take(300 << 20)
            .read_to_end(&mut raw)
            .map_err(|e| bad(e.to_string()))?;
        let mut idx = Index::default();
        let mut r = tar::Reader::new(&raw[..], 300 << 20);
        while let Some(e) = r.next_entry().map_err(|e| bad(e.to_string()))? {
            match e.header.name.as_slice() {
                b"APKINDEX" => {
                    idx.entries = Index::parse_text(&String::from_utf8_lossy(&e.data))
                        .map_err(|e| bad(e.to_string()))?;
                }
                b"DESCRIPTION" => idx.description = String::from_utf8_lossy(&e.data).into(),
                n if n.starts_with(b".SIGN.") => {}
                n => {
                    return Err(bad(format!(
                        "unexpected entry {}",
                        String::from_utf8_lossy(n)
                    )));
                }
            }
        }
        Ok(idx)
    }

    /// Add or replace (same name and version, in place) each package, keeping the others.
    pub fn merge(&mut self, new: impl IntoIterator<Item = IndexEntry>) {
        for n in new {
            match self
                .entries
                .iter_mut()
                .find(|e| e.name == n.name && e.version == n.version)
            {
                Some(e) => *e = n,
                None => self.entries.push(n),
            }
        }
    }

    /// The unsigned `APKINDEX.tar.gz` bytes.
    pub fn to_unsigned_bytes(&self) -> eyre::Result<Vec<u8>> {
        let text: String = self
            .entries
            .iter()
            .filter(|e| !e.name.is_empty())
            .map(IndexEntry::render)
            .collect();
        let mut t = Vec::new();
        for (name, data) in [
            ("APKINDEX", text.as_bytes()),
            ("DESCRIPTION", self.description.as_bytes()),
        ] {
            let mut h = Header::root_file(name, 0o644, data.len() as u64, 0);
            // apko builds these headers from a bare FileInfo: no owner names.
            h.uname.clear();
            h.gname.clear();
            tar::append_bytes(&mut t, &h, data);
        }
        t.extend_from_slice(&tar::END_OF_ARCHIVE);
        gzip_member(&t)
    }

    /// Write the index to `path` atomically, signed when `signer` is given.
    pub fn write(&self, path: &Path, signer: Option<&Signer>) -> eyre::Result<()> {
        let unsigned = self.to_unsigned_bytes()?;
        let mut out = AtomicFile::create(path)?;
        let write_err = |e: std::io::Error| cannot_write(path, &e);
        if let Some(s) = signer {
            let sig = s.signature_member(&unsigned, 0)?;
            out.file().write_all(&sig).map_err(write_err)?;
        }
        out.file().write_all(&unsigned).map_err(write_err)?;
        out.commit()
    }
}

/// The lock every read-merge-write of the index at `index_path` holds: `.<name>.lock` next to
/// it (`.APKINDEX.tar.gz.lock`), shared by `melwrap build` and `melwrap index --merge`.
pub fn lock_index(index_path: &Path) -> eyre::Result<FileLock> {
    let dir = index_path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = index_path.file_name().unwrap_or_default().to_string_lossy();
    let lock = dir.unwrap_or(Path::new(".")).join(format!(".{name}.lock"));
    lock_exclusive(&lock)
}

/// Merge `new` packages into `<out_arch_dir>/APKINDEX.tar.gz` (created when missing) and
/// write it back, signed when `signer` is given. This is what a build does after writing its
/// packages (melange `--generate-index`, on by default).
pub fn update_index(
    out_arch_dir: &Path,
    new: &[PackageFile],
    signer: Option<&Signer>,
) -> eyre::Result<()> {
    ensure_dir(out_arch_dir)?;
    let path = out_arch_dir.join(INDEX_NAME);
    // Builds sharing an out dir each merge into the same index: the lock spans the read, the
    // merge and the rename, so no build's entry is dropped by another's write.
    let _lock = lock_index(&path)?;
    let mut idx = if path.exists() {
        Index::read(&path)?
    } else {
        Index::default()
    };
    idx.merge(new.iter().map(IndexEntry::from_package));
    idx.write(&path, signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, version: &str) -> IndexEntry {
        IndexEntry {
            checksum: vec![1; 20],
            name: name.into(),
            version: version.into(),
            arch: "x86_64".into(),
            size: 100,
            installed_size: 4096,
            description: "d".into(),
            origin: name.into(),
            build_time: 0,
            provides: vec!["a=1".into(), "b=2".into()],
            ..IndexEntry::default()
        }
    }

    #[test]
    fn render_follows_apko_template() {
        let text = entry("x", "1-r0").render();
        assert_eq!(
            text,
            "C:Q1AQEBAQEBAQEBAQEBAQEBAQEBAQE=\nP:x\nV:1-r0\nA:x86_64\nS:100\nI:4096\nT:d\n\
             o:x\nt:0\np:a=1 b=2\n\n"
        );
        assert_eq!(Index::parse_text(&text).unwrap(), vec![entry("x", "1-r0")]);
    }

    #[test]
    fn merge_replaces_same_name_and_version_in_place() {
        let mut idx = Index {
            entries: vec![entry("a", "1"), entry("b", "1")],
            description: String::new(),
        };
        let mut a2 = entry("a", "1");
        a2.size = 7;
        idx.merge([a2.clone(), entry("a", "2")]);
        assert_eq!(idx.entries, vec![a2, entry("b", "1"), entry("a", "2")]);
    }

    #[test]
    fn index_round_trips_through_its_file() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join(INDEX_NAME);
        let idx = Index {
            entries: vec![entry("a", "1"), entry("b", "2")],
            description: "repo".into(),
        };
        idx.write(&p, None).unwrap();
        assert_eq!(Index::read(&p).unwrap(), idx);
    }

    #[test]
    fn garbage_index_is_named() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join(INDEX_NAME);
        fs_err::write(&p, "nope").unwrap();
        let err = Index::read(&p).unwrap_err();
        assert!(
            format!("{err}").contains("not a readable APKINDEX"),
            "{err}"
        );
    }
}
