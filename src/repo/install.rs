//! Assembling a root from verified packages, the way `apk add --root DIR --initdb` lays it
//! out, without running anything.
//!
//! The directory must be new or empty. apk's skeleton comes first (`etc/apk`, `lib/apk/db`,
//! `tmp` 1777, `var/cache/apk`, …; no device nodes: a rootless process cannot make them and
//! bubblewrap mounts `/dev`). Each package's data section is unpacked with
//! [`crate::apk::unpack::unpack_into`] (nothing written through a symlink, in the package or
//! already in the root; no `..` or absolute names; hard links only to earlier files of the
//! same package; set-id bits kept, as this is a guest's root), in the order given (the
//! resolver's install order). Then the database: `lib/apk/db/installed` (apk's format: the
//! index fields, then per directory `F:`/`M:` and per file `R:`/`a:`/`Z:`, owners as the
//! package stores them, since a rootless install cannot set them on disk),
//! `lib/apk/db/scripts.tar` (the packages' scripts, stored as apk stores them, never run),
//! empty `lib/apk/db/triggers` and `lock`, `etc/apk/world`, `etc/apk/repositories`,
//! `etc/apk/arch` and `etc/apk/keys/*`.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use base64::Engine as _;
use color_eyre::eyre::{self, WrapErr};
use sha1::{Digest, Sha1};

use super::cache::VerifiedPackage;
use crate::apk::read::layout;
use crate::apk::tar::{self as tarw, Header};
use crate::apk::tar_read::Stream;
use crate::apk::unpack::{UnpackOptions, safe_name, unpack_into};
use crate::diag::Diagnostic;
use crate::safefs::Dir;

/// What goes into `etc/apk` besides the packages.
#[derive(Debug, Clone, Default)]
pub struct RootConfig {
    /// `etc/apk/repositories` lines, as configured (`@tag` prefixes kept).
    pub repositories: Vec<String>,
    /// `etc/apk/keys/<name>` files: name and PEM contents.
    pub keys: Vec<(String, Vec<u8>)>,
    /// `etc/apk/world`: the requested names (with constraints and pins as given).
    pub world: Vec<String>,
    /// `etc/apk/arch`.
    pub arch: String,
}

/// One installed package, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub files: u64,
    /// Entries not installed (device nodes, FIFOs).
    pub skipped: Vec<String>,
}

const SKELETON: &[(&str, u32)] = &[
    ("etc", 0o755),
    ("etc/apk", 0o755),
    ("etc/apk/keys", 0o755),
    ("lib", 0o755),
    ("lib/apk", 0o755),
    ("lib/apk/db", 0o755),
    ("tmp", 0o1777),
    ("dev", 0o755),
    ("proc", 0o555),
    ("var", 0o755),
    ("var/cache", 0o755),
    ("var/cache/apk", 0o755),
    ("var/cache/misc", 0o755),
];

/// Installs `packages` (in order) into `dir` and writes apk's database. Refuses a non-empty
/// `dir`. An error names the package and, for its contents, the entry; what was unpacked
/// before it stays (remove the directory and try again).
pub fn assemble(
    dir: &Path,
    packages: &[VerifiedPackage],
    config: &RootConfig,
) -> eyre::Result<Vec<Installed>> {
    let (root, _) = Dir::create_anchor(dir, 0o755)
        .map_err(|e| Diagnostic::new(dir, format!("cannot create the root: {e}")))?;
    if !root.read_names()?.is_empty() {
        return Err(Diagnostic::new(
            dir,
            "is not empty; melwrap assembles a root only into a new or empty directory",
        )
        .hint("choose a new directory, or remove this one first")
        .into());
    }
    for (path, mode) in SKELETON {
        let d = root.create_dir_all(path, 0o755)?;
        d.set_mode(*mode)?;
    }
    let opts = UnpackOptions { keep_set_id: true };
    let mut db = String::new();
    let mut scripts = Vec::new();
    let mut done = Vec::new();
    for p in packages {
        let name = p.package.name().to_string();
        let version = p.package.version().to_string();
        let label = format!("package {name}-{version} ({})", p.path.display());
        let (lay, control) = layout(&p.path).wrap_err_with(|| label.clone())?;
        let stats = unpack_into(data_reader(&p.path, lay.data.start)?, &root, &opts)
            .wrap_err_with(|| label.clone())?;
        let files = list_files(&p.path, lay.data.start).wrap_err_with(|| label.clone())?;
        db.push_str(&db_entry(p, &files));
        for e in &control {
            let n = String::from_utf8_lossy(&e.header.name);
            if n.starts_with('.')
                && n != ".PKGINFO"
                && !n.starts_with(".SIGN.")
                && n != ".melange.yaml"
            {
                let stored = format!(
                    "{name}-{version}.Q1{}{n}",
                    base64::engine::general_purpose::STANDARD.encode(p.package.control_sha1)
                );
                let h = Header::root_file(&stored, 0o755, e.data.len() as u64, 0);
                tarw::append_bytes(&mut scripts, &h, &e.data);
            }
        }
        done.push(Installed {
            name,
            version,
            files: stats.files + stats.symlinks + stats.hardlinks,
            skipped: stats.skipped,
        });
    }
    scripts.extend_from_slice(&tarw::END_OF_ARCHIVE);
    let etc_apk = root.open_dir("etc/apk")?;
    let lib_db = root.open_dir("lib/apk/db")?;
    write_file(&lib_db, "installed", db.as_bytes())?;
    write_file(&lib_db, "scripts.tar", &scripts)?;
    write_file(&lib_db, "triggers", b"")?;
    write_file_mode(&lib_db, "lock", b"", 0o600)?;
    write_file(&etc_apk, "world", lines(&config.world).as_bytes())?;
    write_file(
        &etc_apk,
        "repositories",
        lines(&config.repositories).as_bytes(),
    )?;
    if !config.arch.is_empty() {
        write_file(&etc_apk, "arch", format!("{}\n", config.arch).as_bytes())?;
    }
    let keys = etc_apk.open_dir("keys")?;
    for (name, pem) in &config.keys {
        let Some(base) = safe_name(name.as_bytes())?.filter(|p| p.components().count() == 1) else {
            eyre::bail!("key file name `{name}` is not a plain file name");
        };
        write_file(&keys, base.to_str().unwrap_or(name), pem)?;
    }
    Ok(done)
}

fn lines(items: &[String]) -> String {
    items.iter().map(|l| format!("{l}\n")).collect()
}

fn write_file(dir: &Dir, name: &str, bytes: &[u8]) -> eyre::Result<()> {
    write_file_mode(dir, name, bytes, 0o644)
}

/// Writes `name` in `dir`, replacing what a package may have put there (the link itself if it
/// is one: nothing is followed).
fn write_file_mode(dir: &Dir, name: &str, bytes: &[u8], mode: u32) -> eyre::Result<()> {
    match dir.unlink_at(name) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(eyre::Report::new(e).wrap_err(format!(
                "cannot replace {}",
                dir.path().join(name).display()
            )));
        }
    }
    let mut f = dir
        .create_file(name, mode)
        .wrap_err_with(|| format!("cannot write {}", dir.path().join(name).display()))?;
    f.write_all(bytes)?;
    Ok(())
}

fn data_reader(path: &Path, start: u64) -> eyre::Result<impl Read> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(start))?;
    Ok(flate2::bufread::MultiGzDecoder::new(BufReader::new(f)))
}

/// One entry of a package's data section, as the installed database records it.
struct FileEntry {
    /// Owner, group and permission bits, as stored in the package.
    acl: (u64, u64, u32),
    /// SHA-1 of the contents (regular files, hard links) or of the link target (symlinks).
    sha1: Option<[u8; 20]>,
}

/// Directories in first-seen order, each with its files in order.
type Listing = Vec<(String, Option<(u64, u64, u32)>, Vec<(String, FileEntry)>)>;

fn list_files(path: &Path, start: u64) -> eyre::Result<Listing> {
    let mut out: Listing = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut slot = |out: &mut Listing, dir: &str| -> usize {
        *index.entry(dir.to_string()).or_insert_with(|| {
            out.push((dir.to_string(), None, Vec::new()));
            out.len() - 1
        })
    };
    let mut sums: BTreeMap<String, [u8; 20]> = BTreeMap::new();
    let mut tar = Stream::new(data_reader(path, start)?);
    while let Some(h) = tar.next_header()? {
        let Some(rel) = safe_name(&h.name)? else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        let acl = (h.uid, h.gid, h.mode & 0o7777);
        let (dir, base) = match rel.rsplit_once('/') {
            Some((d, b)) => (d.to_string(), b.to_string()),
            None => (String::new(), rel.clone()),
        };
        let sha1 = match h.typeflag {
            b'5' => {
                let i = slot(&mut out, &rel);
                out[i].1 = Some(acl);
                continue;
            }
            b'0' | 0 | b'7' => {
                let mut hash = Sha1::new();
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = tar.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hash.update(&buf[..n]);
                }
                let sum: [u8; 20] = hash.finalize().into();
                sums.insert(rel.clone(), sum);
                Some(sum)
            }
            b'1' => {
                let target = safe_name(&h.link)?.map(|t| t.to_string_lossy().into_owned());
                target.and_then(|t| sums.get(&t).copied())
            }
            b'2' => Some(Sha1::digest(&h.link).into()),
            _ => continue,
        };
        let i = slot(&mut out, &dir);
        out[i].2.push((base, FileEntry { acl, sha1 }));
    }
    Ok(out)
}

/// One package's block of `lib/apk/db/installed`, in apk-tools 2.x's field order.
fn db_entry(p: &VerifiedPackage, files: &Listing) -> String {
    let i = &p.package.info;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut s = String::new();
    // As apk-tools 2.14 writes it: `T:`, `U:`, `L:` even when empty; the rest only when set.
    let mut field = |k: char, v: &str, always: bool| {
        if always || !v.is_empty() {
            s.push_str(&format!("{k}:{v}\n"));
        }
    };
    field('C', &format!("Q1{}", b64(&p.package.control_sha1)), true);
    field('P', i.get("pkgname"), true);
    field('V', i.get("pkgver"), true);
    field('A', i.get("arch"), false);
    field('S', &p.package.file_size.to_string(), true);
    field('I', i.get("size"), true);
    field('T', i.get("pkgdesc"), true);
    field('U', i.get("url"), true);
    field('L', i.get("license"), true);
    field('o', i.get("origin"), false);
    field('m', i.get("maintainer"), false);
    let t = i.get("builddate");
    field('t', if t == "0" { "" } else { t }, false);
    field('c', i.get("commit"), false);
    let k = i.get("provider_priority");
    field('k', if k == "0" { "" } else { k }, false);
    field('D', &i.all("depend").join(" "), false);
    field('p', &i.all("provides").join(" "), false);
    field('i', &i.all("install_if").join(" "), false);
    field('r', &i.all("replaces").join(" "), false);
    field('q', i.get("replaces_priority"), false);
    for (dir, acl, entries) in files {
        s.push_str(&format!("F:{dir}\n"));
        if let Some((u, g, m)) = acl.filter(|a| *a != (0, 0, 0o755)) {
            s.push_str(&format!("M:{u}:{g}:{m:o}\n"));
        }
        for (name, e) in entries {
            s.push_str(&format!("R:{name}\n"));
            let (u, g, m) = e.acl;
            if e.acl != (0, 0, 0o644) {
                s.push_str(&format!("a:{u}:{g}:{m:o}\n"));
            }
            if let Some(sum) = e.sha1 {
                s.push_str(&format!("Z:Q1{}\n", b64(&sum)));
            }
        }
    }
    s.push('\n');
    s
}
