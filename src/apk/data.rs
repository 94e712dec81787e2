//! The data section: a destdir as a tar (with end blocks), gzip-compressed in parallel into a
//! temporary file, with the SHA-256 of the compressed bytes (`datahash`).
//!
//! Per entry (melange `pkg/tarball/write.go`, semantics doc 7.4): mtime = build date; regular
//! files keep their mode (setuid/setgid included) and their owner, except that the ids listed
//! in [`DataOptions::uid_map`]/[`DataOptions::gid_map`] are mapped (by default the invoking
//! user's and the build user's 1000 become root); directories and symlinks are root-owned;
//! every regular file, hard link and symlink gets a PAX `APK-TOOLS.checksum.SHA1` record (of
//! the contents, or of the link target), and regular files and directories get
//! `SCHILY.xattr.<name>` records for their extended attributes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use crate::safefs::Dir;

use color_eyre::eyre::{self, WrapErr};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::pgz::ParallelGzWriter;
use super::progress::Progress;
use super::tar::{self, Header, Kind};
use super::walk::{self, Contents, Walk, display_name};
use crate::diag::Diagnostic;

/// Files up to this size are read once (hashed from memory); larger ones are read twice,
/// once for the checksum that precedes them and once for the contents.
const IN_MEMORY_LIMIT: u64 = 8 << 20;

/// Knobs for the data section. [`DataOptions::default`] suits a rootless build.
#[derive(Debug, Clone)]
pub struct DataOptions {
    /// Host uid → package uid for regular files (and hard links, devices, fifos).
    pub uid_map: BTreeMap<u32, u32>,
    /// Host gid → package gid.
    pub gid_map: BTreeMap<u32, u32>,
    /// Extra extended attributes by package path (`usr/bin/ping`, no leading `/`), such as
    /// `security.capability` for melange's `setcap:`, which a rootless build cannot set on the
    /// host file. They override attributes of the same name read from the file.
    pub xattrs: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Compression threads (the output does not depend on it).
    pub threads: usize,
    /// Draw a progress line (only on a terminal; see [`super::progress::enabled`]).
    pub progress: bool,
}

impl Default for DataOptions {
    fn default() -> Self {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        // The invoking user owns everything a rootless build writes; inside the sandbox that
        // user is the build user, who stands for root in the package. melange maps the build
        // user (uid/gid 1000) the same way (`pkg/build/package.go`, `remapUIDs`).
        let map = |own: u32| BTreeMap::from([(own, 0), (1000, 0)]);
        DataOptions {
            uid_map: map(uid),
            gid_map: map(gid),
            xattrs: BTreeMap::new(),
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(8),
            progress: super::progress::enabled(),
        }
    }
}

/// A written data section.
#[derive(Debug)]
pub struct DataSection {
    /// The compressed member, in an unnamed temporary file, positioned at its start.
    pub file: File,
    /// Lowercase hex SHA-256 of the compressed bytes.
    pub datahash: String,
    pub installed_size: u64,
    pub len: u64,
}

/// Writes compressed bytes to a file while hashing and counting them.
struct HashingFile {
    out: BufWriter<File>,
    hash: Sha256,
    len: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Pack `destdir` (an opened directory: nothing below it is reached through a symlink, see
/// [`walk`]) into a temporary file created in `tmp_dir`.
pub fn write_data_section(
    destdir: &Dir,
    mtime: u64,
    label: &str,
    opts: &DataOptions,
    tmp_dir: &Path,
) -> eyre::Result<DataSection> {
    let walk = walk::walk(destdir)?;
    // `setcap:` paths are written absolute (`/usr/bin/ping`); package names are relative.
    let extra_xattrs: BTreeMap<String, &BTreeMap<String, Vec<u8>>> = opts
        .xattrs
        .iter()
        .map(|(p, x)| (p.trim_start_matches('/').to_string(), x))
        .collect();
    check_xattr_paths(&walk, extra_xattrs.keys(), destdir.path())?;
    let mut contents = Contents::new(destdir, &walk);
    let file =
        tempfile::tempfile_in(tmp_dir).map_err(|e| super::atomic::cannot_write(tmp_dir, &e))?;
    let sink = HashingFile {
        out: BufWriter::with_capacity(1 << 20, file),
        hash: Sha256::new(),
        len: 0,
    };
    let mut gz = ParallelGzWriter::new(sink, opts.threads, 6)?;
    let mut progress = Progress::new(label, walk.content_bytes, opts.progress);
    let mut buf = vec![0u8; 1 << 20];
    let mut sums: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    let write_err = |e: io::Error| super::atomic::cannot_write(tmp_dir, &e);
    for (i, e) in walk.entries.iter().enumerate() {
        let root_owned = matches!(e.kind, Kind::Dir | Kind::Symlink(_));
        let (uid, gid) = if root_owned {
            (0, 0)
        } else {
            (
                *opts.uid_map.get(&e.uid).unwrap_or(&e.uid),
                *opts.gid_map.get(&e.gid).unwrap_or(&e.gid),
            )
        };
        let mut h = Header {
            name: e.name.clone(),
            kind: e.kind.clone(),
            mode: e.mode,
            uid: u64::from(uid),
            gid: u64::from(gid),
            uname: if uid == 0 {
                "root".into()
            } else {
                String::new()
            },
            gname: if gid == 0 {
                "root".into()
            } else {
                String::new()
            },
            size: 0,
            mtime,
            pax: BTreeMap::new(),
        };
        // A regular file is opened first: its attributes are read from that descriptor.
        let mut opened = None;
        let mut xattrs = e.xattrs.clone();
        if matches!(e.kind, Kind::File) {
            let (f, x) = contents
                .open(i)
                .map_err(|err| unreadable(&contents.shown(i), err))?;
            opened = Some(f);
            xattrs = x;
        }
        if let Some(extra) = extra_xattrs.get(&display_name(&e.name)) {
            xattrs.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for (k, v) in xattrs {
            h.pax.insert(format!("SCHILY.xattr.{k}"), v);
        }
        match &e.kind {
            Kind::Symlink(target) => {
                h.pax.insert(
                    SUM_KEY.into(),
                    hex::encode(Sha1::digest(target)).into_bytes(),
                );
                gz.write_all(&h.encode()).map_err(write_err)?;
            }
            Kind::HardLink(first) => {
                let sum = sums.get(first).cloned().unwrap_or_default();
                h.pax.insert(SUM_KEY.into(), sum.into_bytes());
                gz.write_all(&h.encode()).map_err(write_err)?;
            }
            Kind::File => {
                let f = opened.take().expect("opened above");
                let shown = contents.shown(i);
                let (sum, size) = write_file(f, &shown, e.size, &mut h, &mut gz, &mut buf)?;
                sums.insert(e.name.clone(), sum);
                progress.add(size);
            }
            _ => gz.write_all(&h.encode()).map_err(write_err)?,
        }
    }
    gz.write_all(&tar::END_OF_ARCHIVE).map_err(write_err)?;
    let sink = gz.finish().map_err(write_err)?;
    progress.finish();
    let HashingFile { out, hash, len } = sink;
    let mut file = out.into_inner().map_err(|e| write_err(e.into_error()))?;
    use std::io::Seek;
    file.rewind().map_err(write_err)?;
    Ok(DataSection {
        file,
        datahash: hex::encode(hash.finalize()),
        installed_size: walk.installed_size,
        len,
    })
}

const SUM_KEY: &str = "APK-TOOLS.checksum.SHA1";

fn unreadable(path: &Path, e: io::Error) -> eyre::Report {
    if crate::safefs::is_link_refused(&e) {
        return walk::link_refused(&e);
    }
    Diagnostic::new(path, format!("cannot read this file of the package: {e}"))
        .hint("make it readable by the user running melwrap (for example with `chmod u+r`) in the build pipeline")
        .into()
}

/// Write one regular file's header (with its checksum) and contents from the opened `f`;
/// returns the checksum and the number of content bytes.
fn write_file(
    mut f: File,
    path: &Path,
    stat_size: u64,
    h: &mut Header,
    out: &mut dyn Write,
    buf: &mut [u8],
) -> eyre::Result<(String, u64)> {
    let unreadable = |e: io::Error| unreadable(path, e);
    if stat_size <= IN_MEMORY_LIMIT {
        let mut data = Vec::with_capacity(stat_size as usize);
        f.read_to_end(&mut data).map_err(unreadable)?;
        let sum = hex::encode(Sha1::digest(&data));
        h.size = data.len() as u64;
        h.pax.insert(SUM_KEY.into(), sum.clone().into_bytes());
        let mut bytes = h.encode();
        bytes.extend_from_slice(&data);
        bytes.resize(bytes.len() + tar::padding(h.size), 0);
        out.write_all(&bytes).wrap_err("writing the data section")?;
        return Ok((sum, h.size));
    }
    let mut hasher = Sha1::new();
    let mut size = 0u64;
    loop {
        let n = f.read(buf).map_err(unreadable)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let sum = hex::encode(hasher.finalize());
    h.size = size;
    h.pax.insert(SUM_KEY.into(), sum.clone().into_bytes());
    out.write_all(&h.encode())
        .wrap_err("writing the data section")?;
    use std::io::Seek;
    f.rewind().map_err(unreadable)?;
    tar::copy_contents(&mut f, out, size, buf)
        .map_err(|e| eyre::eyre!("{}: {e}", path.display()))?;
    Ok((sum, size))
}

fn check_xattr_paths<'a>(
    walk: &Walk,
    paths: impl Iterator<Item = &'a String>,
    destdir: &Path,
) -> eyre::Result<()> {
    for p in paths {
        let found = walk
            .entries
            .iter()
            .any(|e| matches!(e.kind, Kind::File | Kind::Dir) && display_name(&e.name) == *p);
        if !found {
            return Err(Diagnostic::new(
                destdir,
                format!("`{p}` is not a file or directory in this package, so its extended attributes (setcap) cannot be recorded"),
            )
            .hint("check the path in `setcap:`; it is relative to the package root")
            .into());
        }
    }
    Ok(())
}
