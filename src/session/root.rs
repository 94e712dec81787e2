//! Which root a session's steps see (`--rootfs auto|apk|host|DIR`), and the cached guest.
//!
//! With `auto` (the default) a config or flags that name repositories and packages get a
//! guest assembled from them; anything else runs on the host's root, with one line saying
//! why. The guest for one resolved set (arch, names, versions, checksums, and the apk files
//! written into it) is assembled once under `<apk-cache-dir>/guests/<key>`: into a temporary
//! directory beside it, renamed into place under an exclusive `flock` on `<key>.lock`, so
//! concurrent builds do the work once and a half-assembled guest is never used. It is bound
//! read-only as the root, like `--rootfs DIR`.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use color_eyre::eyre::{self, WrapErr};
use sha2::{Digest, Sha256};

use super::{SandboxHost, SessionOptions, absolute};
use crate::config::model::ImageContents;
use crate::printer::{Printer, format_duration};
use crate::repo::install::RootConfig;
use crate::repo::rootfs::{build_rootfs, wanted_in_order};
use crate::repo::setup::{Prepared, bad};
use crate::sandbox::Rootfs;

/// Is `--rootfs` a directory (not one of the names `auto`, `apk`, `host`)?
pub fn is_directory(rootfs: &str) -> bool {
    !matches!(rootfs, "auto" | "apk" | "host")
}

/// The guest a session runs in.
#[derive(Debug, Clone)]
pub struct GuestRoot {
    pub dir: PathBuf,
    /// The SHA-256 of the resolved set (hex).
    pub key: String,
    pub packages: usize,
    /// Found already assembled (no package was installed).
    pub from_cache: bool,
    /// Resolving, and assembling when it was not cached.
    pub setup: Duration,
}

impl GuestRoot {
    /// For a summary: `guest from the cache, setup 12ms`.
    pub fn describe(&self) -> String {
        format!(
            "guest {} ({} packages) {}, setup {}",
            &self.key[..12],
            self.packages,
            if self.from_cache {
                "from the cache"
            } else {
                "assembled"
            },
            format_duration(self.setup)
        )
    }
}

/// Decide the root for `options.rootfs` and `contents` (the config's environment.contents);
/// for a guest, resolve and assemble it (or find it cached) and point `host` at it.
/// `--rootfs apk` with nothing to assemble from is bad input (exit 2).
pub fn choose(
    host: &mut SandboxHost,
    options: &SessionOptions,
    contents: &ImageContents,
    arch: &str,
    printer: Printer,
) -> eyre::Result<Option<GuestRoot>> {
    let rootfs = options.rootfs.as_str();
    if rootfs == "host" || is_directory(rootfs) {
        printer.detail(format!(
            "root: {} (--rootfs {rootfs})",
            if rootfs == "host" {
                "the host's, read-only"
            } else {
                "the directory, read-only"
            }
        ));
        return Ok(None);
    }
    let guest = &options.guest;
    let repositories = !contents.repositories.is_empty() || !guest.repository_append.is_empty();
    let packages = !contents.packages.is_empty() || !guest.package_append.is_empty();
    if !(repositories && packages) {
        let missing = match (repositories, packages) {
            (false, false) => "repositories or packages",
            (false, true) => "repositories",
            _ => "packages",
        };
        if rootfs == "apk" {
            return Err(bad(format!(
                "--rootfs apk: nothing to assemble a guest from: the config names no {missing}; \
                 name them in environment.contents (repositories, packages) or with \
                 --repository-append and --package-append"
            )));
        }
        printer.info(format!(
            "root: the host's, read-only: the config names no {missing} to assemble a guest \
             from (name them in environment.contents or with --repository-append and \
             --package-append)"
        ));
        return Ok(None);
    }
    let started = Instant::now();
    let (dir, key, packages, from_cache) =
        set_up(options, contents, arch, printer).wrap_err_with(|| {
            format!(
                "--rootfs {rootfs}: cannot set up the guest the config's environment.contents \
                 names (pass --rootfs host to run the steps on the host's root)"
            )
        })?;
    let guest = GuestRoot {
        dir: dir.clone(),
        key,
        packages,
        from_cache,
        setup: started.elapsed(),
    };
    host.rootfs = Rootfs::Dir(absolute(&dir, "--rootfs")?);
    printer.detail(format!("root: {} at {}", guest.describe(), dir.display()));
    Ok(Some(guest))
}

/// Resolve the guest's packages and find or assemble it: its directory, key, package count
/// and whether it was cached.
fn set_up(
    options: &SessionOptions,
    contents: &ImageContents,
    arch: &str,
    printer: Printer,
) -> eyre::Result<(PathBuf, String, usize, bool)> {
    let guest = &options.guest;
    let mut args = guest.repo_options(arch, !options.network, options.ca_bundle.clone());
    let own = crate::repo::cache::default_dir();
    if let Some(apk_cache) = &guest.apk_cache_dir
        && overlaps(apk_cache, &options.cache_dir)
        && !overlaps(&own, &options.cache_dir)
    {
        // Wolfi's Makefile passes one directory as both. Steps write the build cache, and an
        // assembled guest there could be changed by one build's steps under the next build's:
        // the apk cache and the guests stay in melwrap's own place instead.
        printer.info(format!(
            "--apk-cache-dir {} is (inside) the build cache, which steps can write: keeping \
             downloaded packages and assembled guests in {} instead",
            apk_cache.display(),
            own.display()
        ));
        args.apk_cache_dir = Some(own.clone());
    }
    let apk_cache = args.apk_cache_dir.clone().unwrap_or(own);
    if overlaps(&apk_cache, &options.cache_dir) {
        return Err(bad(format!(
            "the apk cache {} would be inside the build cache {}, which steps can write (they \
             could change the guests later builds run in); pass --apk-cache-dir or --cache-dir \
             so that neither holds the other",
            apk_cache.display(),
            options.cache_dir.display()
        )));
    }
    let prepared = args.prepare_contents(contents, printer)?;
    let (keyring, keys) = prepared.keyring()?;
    let (universe, set) = prepared.resolve(&keyring, guest.ignore_signatures)?;
    let root_config = prepared.root_config(keys);
    let key = guest_key(&set, &root_config);
    let guests = prepared.cache.root().join("guests");
    let (dir, from_cache) = assemble_once(&guests, &key, &prepared, &set, &root_config)?;
    drop(universe);
    Ok((dir, key, set.len(), from_cache))
}

/// Whether one of two directories is the other or lies inside it (compared by real path
/// where they exist, so a symlink or `..` does not hide it).
fn overlaps(a: &Path, b: &Path) -> bool {
    let real = |p: &Path| {
        std::fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or(p.into()))
    };
    let (a, b) = (real(a), real(b));
    a.starts_with(&b) || b.starts_with(&a)
}

/// SHA-256 over the arch, every resolved package (name, version, checksum, repository) and
/// the apk files the guest holds (repositories, keys, world).
fn guest_key(set: &[crate::repo::ResolvedPackage], config: &RootConfig) -> String {
    let mut lines = vec![format!("arch {}", config.arch)];
    let mut packages: Vec<String> = set
        .iter()
        .map(|p| {
            format!(
                "package {} {} {} {}",
                p.name, p.version, p.checksum, p.repository
            )
        })
        .collect();
    packages.sort();
    lines.extend(packages);
    lines.extend(
        config
            .repositories
            .iter()
            .map(|r| format!("repository {r}")),
    );
    lines.extend(
        config
            .keys
            .iter()
            .map(|(name, pem)| format!("key {name} {}", hex::encode(Sha256::digest(pem)))),
    );
    lines.extend(config.world.iter().map(|w| format!("world {w}")));
    let mut text = lines.join("\n");
    text.push('\n');
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `guests/<key>`, assembled unless it exists; under an exclusive lock on `guests/<key>.lock`
/// so one process assembles and the others wait and reuse it.
fn assemble_once(
    guests: &Path,
    key: &str,
    prepared: &Prepared,
    set: &[crate::repo::ResolvedPackage],
    config: &RootConfig,
) -> eyre::Result<(PathBuf, bool)> {
    let cannot = |what: &str, p: &Path| format!("guest cache: cannot {what} {}", p.display());
    fs_err::create_dir_all(guests).wrap_err_with(|| cannot("create", guests))?;
    let lock_path = guests.join(format!("{key}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .wrap_err_with(|| cannot("open", &lock_path))?;
    // SAFETY: flock on a descriptor this function owns; released when `lock` is dropped.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error()).wrap_err_with(|| cannot("lock", &lock_path));
    }
    let dir = guests.join(key);
    if dir.is_dir() {
        return Ok((dir, true));
    }
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".tmp-{}-", &key[..12]))
        .tempdir_in(guests)
        .wrap_err_with(|| cannot("create a directory in", guests))?;
    // Its root is `/` in the sandbox: steps (mapped ids) must be able to enter it.
    fs_err::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    let wanted = wanted_in_order(set, &config.world)?;
    let assembled = build_rootfs(tmp.path(), &wanted, config, &prepared.sources())?;
    for note in &assembled.xattrs_left_out {
        prepared
            .printer
            .detail(format!("extended attribute not set: {note}"));
    }
    for p in &assembled.packages {
        for s in &p.skipped {
            prepared
                .printer
                .warn(format!("{}-{}: not installed: {s}", p.name, p.version));
        }
    }
    fs_err::rename(tmp.keep(), &dir)?;
    drop(lock);
    Ok((dir, false))
}
