//! Assembling a root from verified packages, the way `apk add --root DIR --initdb` lays it
//! out, without running anything.
//!
//! The directory must be new or empty. apk's skeleton comes first (`etc/apk`, `lib/apk/db`,
//! `tmp` 1777, `var/cache/apk`, …; no device nodes: a rootless process cannot make them and
//! bubblewrap mounts `/dev`). Each package's data section is unpacked with
//! [`crate::apk::unpack::unpack_into`] (a symlink to a directory, from an earlier package or
//! entry, is followed as apk follows it, but inside the root only: `RESOLVE_IN_ROOT`, so
//! `lib -> usr/lib` then `lib/x` writes `usr/lib/x` and `evil -> /etc` then `evil/passwd`
//! writes `DIR/etc/passwd`, never the host's; no `..` or absolute names; hard links only to earlier files of the
//! same package; set-id bits kept, as this is a guest's root), in the order given (the
//! resolver's install order). Then the database: `lib/apk/db/installed` (apk's format: the
//! index fields, then per directory `F:`/`M:` and per file `R:`/`a:`/`Z:`, owners as the
//! package stores them, since a rootless install cannot set them on disk),
//! `lib/apk/db/scripts.tar` (the packages' scripts, stored as apk stores them, never run),
//! empty `lib/apk/db/triggers` and `lock`, `etc/apk/world`, `etc/apk/repositories`,
//! `etc/apk/arch` and `etc/apk/keys/*`.

use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;
use color_eyre::eyre::{self, WrapErr};

use super::cache::VerifiedPackage;
use super::installed_db::{db_entry, list_files};
use super::owners::{Facts, Owners, disown};
use crate::apk::read::layout;
use crate::apk::tar::{self as tarw, Header};
use crate::apk::unpack::{UnpackOptions, safe_name, unpack_into_root};
use crate::diag::Diagnostic;
use crate::safefs::{Dir, InRootDirs};

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

/// What [`assemble`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// In install order.
    pub packages: Vec<Installed>,
    /// Extended attributes the kernel refused (`path: name (why)`), for a note.
    pub xattrs_left_out: Vec<String>,
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

/// Refuses a `dir` that exists and is not an empty directory (before anything is fetched).
pub fn check_target(dir: &Path) -> eyre::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(not_empty(dir));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(
            Diagnostic::new(dir, format!("cannot use it as the root: {e}"))
                .hint("name a new or empty directory")
                .into(),
        ),
    }
}

fn not_empty(dir: &Path) -> eyre::Report {
    Diagnostic::new(
        dir,
        "is not empty; melwrap assembles a root only into a new or empty directory",
    )
    .hint("choose a new directory, or remove this one first")
    .into()
}

/// Installs `packages` (in order) into `dir` and writes apk's database. Refuses a non-empty
/// `dir`. An error names the package and, for its contents, the entry; what was unpacked
/// before it stays (remove the directory and try again).
pub fn assemble(
    dir: &Path,
    packages: &[VerifiedPackage],
    config: &RootConfig,
) -> eyre::Result<Assembled> {
    let (root, _) = Dir::create_anchor(dir, 0o755)
        .map_err(|e| Diagnostic::new(dir, format!("cannot create the root: {e}")))?;
    if !root.read_names()?.is_empty() {
        return Err(not_empty(dir));
    }
    for (path, mode) in SKELETON {
        let d = root.create_dir_all(path, 0o755)?;
        d.set_mode(*mode)?;
    }
    let opts = UnpackOptions {
        keep_set_id: true,
        links_in_root: true,
    };
    let facts: Vec<Facts> = packages
        .iter()
        .map(|p| Facts::of(&p.package.info))
        .collect();
    // One assembly, melwrap the only writer: directories stay open from package to package.
    let mut dirs = InRootDirs::new(&root)?;
    let mut owners = Owners::default();
    let mut listings = Vec::new();
    let mut scripts = Vec::new();
    let mut done = Vec::new();
    let mut metas = Vec::new();
    for p in packages {
        let name = p.package.name().to_string();
        let version = p.package.version().to_string();
        let label = format!("package {name}-{version} ({})", p.path.display());
        // The verified file itself, not whatever its name points at now.
        let contents = p.contents();
        let (lay, control) = layout(&contents).wrap_err_with(|| label.clone())?;
        // Decompressed once when it is small enough to hold (nearly every package), else
        // twice: listed first, so that a file another package owns is refused before anything
        // is written, then unpacked.
        let held = hold_data(&contents, lay.data.start).wrap_err_with(|| label.clone())?;
        let (files, entry_meta) = match &held {
            Some(data) => list_files(&data[..]),
            None => list_files(data_reader(&contents, lay.data.start)?),
        }
        .wrap_err_with(|| label.clone())?;
        for (prev, dir, file) in owners.claim(listings.len(), &facts, &files)? {
            disown(&mut listings[prev], &dir, &file);
        }
        let stats = match &held {
            Some(data) => unpack_into_root(&data[..], &mut dirs, &opts),
            None => unpack_into_root(data_reader(&contents, lay.data.start)?, &mut dirs, &opts),
        }
        .wrap_err_with(|| label.clone())?;
        metas.extend(entry_meta);
        listings.push(files);
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
    let xattrs_left_out =
        super::finish::apply(&root, &metas).wrap_err("cannot set the packages' file times")?;
    scripts.extend_from_slice(&tarw::END_OF_ARCHIVE);
    let db: String = packages
        .iter()
        .zip(&listings)
        .map(|(p, files)| db_entry(p, files))
        .collect();
    // Through links inside the root: with `lib -> usr/lib` the database is `usr/lib/apk/db`,
    // where apk inside finds it through the same link.
    let etc_apk = root.create_dir_all_in_root("etc/apk", 0o755)?;
    let lib_db = root.create_dir_all_in_root("lib/apk/db", 0o755)?;
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
    let keys = root.create_dir_all_in_root("etc/apk/keys", 0o755)?;
    for (name, pem) in &config.keys {
        let Some(base) = safe_name(name.as_bytes())?.filter(|p| p.components().count() == 1) else {
            eyre::bail!("key file name `{name}` is not a plain file name");
        };
        write_file(&keys, base.to_str().unwrap_or(name), pem)?;
    }
    Ok(Assembled {
        packages: done,
        xattrs_left_out,
    })
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
    // The mode itself, whatever the umask.
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(bytes)?;
    Ok(())
}

/// Data sections up to this size (decompressed) are held in memory between the listing and
/// the unpacking; larger ones are decompressed twice.
const HELD_DATA_MAX: u64 = 32 << 20;

/// The whole decompressed data section, or `None` when it is larger than [`HELD_DATA_MAX`].
fn hold_data(path: &Path, start: u64) -> eyre::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let n = data_reader(path, start)?
        .take(HELD_DATA_MAX + 1)
        .read_to_end(&mut data)?;
    Ok((n as u64 <= HELD_DATA_MAX).then_some(data))
}

pub(super) fn data_reader(path: &Path, start: u64) -> eyre::Result<impl Read> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(start))?;
    Ok(flate2::bufread::MultiGzDecoder::new(BufReader::new(f)))
}
