//! Which root a session's steps see (`--rootfs auto|apk|host|DIR`), and the cached guest.
//!
//! With `auto` (the default) a config or flags that name repositories and packages get a
//! guest assembled from them; anything else runs on the host's root, with one line saying
//! why. The guest for one resolved set (arch, names, versions, checksums, and the apk files
//! written into it) is assembled once under `<apk-cache-dir>/guests/<key>`: into a temporary
//! directory beside it, renamed into place under an exclusive `flock` on `<key>.lock`, so
//! concurrent builds do the work once and a half-assembled guest is never used. Each session
//! then holds a shared lock on it and mounts it as the read-only lower layer of its own
//! writable overlay ([`crate::sandbox::overlay`], [`super::layers`]), so steps can write
//! anywhere in the guest and the next session still starts from the cached copy.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{self, WrapErr};
use sha2::{Digest, Sha256};

use super::{SandboxHost, SessionOptions, absolute};
use crate::config::model::ImageContents;
use crate::printer::{Printer, format_duration};
use crate::repo::guests::{self, GuestLock, LockMode};
use crate::repo::install::RootConfig;
use crate::repo::rootfs::{build_rootfs, wanted_in_order};
use crate::repo::setup::{Prepared, bad};
use crate::sandbox::{BuildIds, Identity, Rootfs};

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
    /// Held shared while the session runs: `melwrap cache prune` leaves the guest alone.
    pub lock: Arc<GuestLock>,
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
    let owner = match host.identity {
        Identity::Root(ids) => Some(ids),
        Identity::Build { .. } => None,
    };
    let (dir, key, packages, from_cache, lock) = set_up(options, contents, arch, owner, printer)
        .wrap_err_with(|| {
            format!(
                "--rootfs {rootfs}: cannot set up the guest the config's environment.contents \
                 names (pass --rootfs host to run the steps on the host's root)"
            )
        })?;
    let lower = absolute(&dir, "--rootfs")?;
    let lock = Arc::new(lock);
    let mut layers = super::layers::GuestLayers::create(&lower, host.identity, printer)?;
    layers.hold(Arc::clone(&lock));
    host.overlay = Some(layers);
    host.rootfs = Rootfs::Dir(lower);
    let guest = GuestRoot {
        dir: dir.clone(),
        key,
        packages,
        from_cache,
        setup: started.elapsed(),
        lock,
    };
    printer.detail(format!("root: {} at {}", guest.describe(), dir.display()));
    Ok(Some(guest))
}

/// For a `--dry-run` script: the lines that set `$GUEST` to the cached guest, or, when it has
/// been pruned since, assemble the same guest with `melwrap rootfs` into `layers/guest`.
pub fn dry_run_assembly(
    guest: &GuestRoot,
    options: &SessionOptions,
    config: &Path,
    arch: &str,
    identity: Identity,
    layers: &Path,
) -> String {
    let q = |p: &Path| shell_words::quote(&p.to_string_lossy()).into_owned();
    let melwrap = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("melwrap"));
    let mut words = vec![q(&melwrap), "rootfs".into(), "--arch".into(), arch.into()];
    let g = &options.guest;
    let apk_cache = g
        .apk_cache_dir
        .clone()
        .unwrap_or_else(crate::repo::cache::default_dir);
    words.extend(["--apk-cache-dir".into(), q(&apk_cache)]);
    for (flag, values) in [
        ("--repository-append", &g.repository_append),
        ("--keyring-append", &g.keyring_append),
        ("--package-append", &g.package_append),
    ] {
        for v in values {
            words.extend([flag.into(), shell_words::quote(v).into_owned()]);
        }
    }
    if g.ignore_signatures {
        words.push("--ignore-signatures".into());
    }
    if !options.network {
        words.push("--no-network".into());
    }
    words.extend([q(config), "\"$GUEST\"".into()]);
    let mut assemble = words.join(" ");
    if let Identity::Root(ids) = identity {
        // melwrap gives a root build's guest to the build ids (the steps' uid 0).
        assemble.push_str(&format!(" && chown -R {}:{} \"$GUEST\"", ids.uid, ids.gid));
    }
    format!(
        "# {}: the config's environment.contents, cached at the path below\n\
         GUEST={}\n\
         if [ ! -d \"$GUEST\" ]; then  # pruned since: assemble the same guest here\n  \
         GUEST={}\n  [ -d \"$GUEST\" ] || {{ {assemble}; }}\nfi",
        guest.describe(),
        q(&guest.dir),
        q(&layers.join("guest")),
    )
}

/// Resolve the guest's packages and find or assemble it: its directory, key, package count,
/// whether it was cached, and its shared lock.
fn set_up(
    options: &SessionOptions,
    contents: &ImageContents,
    arch: &str,
    owner: Option<BuildIds>,
    printer: Printer,
) -> eyre::Result<(PathBuf, String, usize, bool, GuestLock)> {
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
    let key = guest_key(&set, &root_config, owner);
    let guests = prepared.cache.root().join("guests");
    let (dir, lock, from_cache) =
        assemble_once(&guests, &key, owner, &prepared, &set, &root_config)?;
    drop(universe);
    Ok((dir, key, set.len(), from_cache, lock))
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
/// the apk files the guest holds (repositories, keys, world), and the owner of its files (a
/// root build's guest belongs to the build ids).
fn guest_key(
    set: &[crate::repo::ResolvedPackage],
    config: &RootConfig,
    owner: Option<BuildIds>,
) -> String {
    let mut lines = vec![format!("arch {}", config.arch)];
    if let Some(ids) = owner {
        lines.push(format!("owner {}:{}", ids.uid, ids.gid));
    }
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

/// `guests/<key>`, assembled unless it exists and is as assembled, with a shared lock held
/// on it for the session (see [`crate::repo::guests`]). One process assembles (exclusive
/// lock); the others wait for it and reuse the guest. A guest changed on disk since its
/// assembly is said in one line and assembled again.
fn assemble_once(
    guests: &Path,
    key: &str,
    owner: Option<BuildIds>,
    prepared: &Prepared,
    set: &[crate::repo::ResolvedPackage],
    config: &RootConfig,
) -> eyre::Result<(PathBuf, GuestLock, bool)> {
    let cannot = |what: &str, p: &Path| format!("guest cache: cannot {what} {}", p.display());
    fs_err::create_dir_all(guests).wrap_err_with(|| cannot("create", guests))?;
    let dir = guests.join(key);
    let manifest = guests::manifest_path(guests, key);
    let lock_path = guests::lock_path(guests, key);
    let mut busy_tries = 0;
    loop {
        let lock = GuestLock::take(guests, key, LockMode::Shared, true)
            .wrap_err_with(|| cannot("lock", &lock_path))?
            .expect("a waiting lock is always taken");
        let problem = if dir.is_dir() {
            guests::changed_since_assembly(&dir, &manifest)
                .wrap_err_with(|| cannot("check", &dir))?
        } else {
            None
        };
        if dir.is_dir() && problem.is_none() {
            lock.touch();
            return Ok((dir, lock, true));
        }
        // Missing or changed: take it over exclusively, or wait for whoever is at it.
        if !lock
            .set(LockMode::Exclusive, busy_tries >= 100)
            .wrap_err_with(|| cannot("lock", &lock_path))?
        {
            busy_tries += 1;
            if busy_tries == 100 {
                prepared.printer.info(format!(
                    "guest {}: waiting for the builds using it to finish",
                    &key[..12]
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        if dir.is_dir() {
            match guests::changed_since_assembly(&dir, &manifest)
                .wrap_err_with(|| cannot("check", &dir))?
            {
                // Assembled meanwhile by another process.
                None => continue,
                Some(why) => {
                    prepared.printer.warn(format!(
                        "guest {}: {why} since it was assembled: assembling it again",
                        &key[..12]
                    ));
                    guests::remove_guest(guests, key).wrap_err_with(|| cannot("remove", &dir))?;
                }
            }
        }
        assemble(guests, key, owner, prepared, set, config)?;
        let recorded = guests::manifest(&dir).wrap_err_with(|| cannot("read", &dir))?;
        fs_err::write(&manifest, recorded)?;
        lock.set(LockMode::Shared, true)
            .wrap_err_with(|| cannot("lock", &lock_path))?;
        // A prune could get in while the lock was converted: check again.
        if dir.is_dir() {
            lock.touch();
            return Ok((dir, lock, false));
        }
    }
}

/// Assemble the guest into `.tmp-<key>-*` and rename it to `<key>` (the caller holds the
/// lock exclusively). As root its files become the build ids' (see SECURITY.md).
fn assemble(
    guests: &Path,
    key: &str,
    owner: Option<BuildIds>,
    prepared: &Prepared,
    set: &[crate::repo::ResolvedPackage],
    config: &RootConfig,
) -> eyre::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix(&guests::temp_prefix(key))
        .tempdir_in(guests)
        .wrap_err_with(|| {
            format!(
                "guest cache: cannot create a directory in {}",
                guests.display()
            )
        })?;
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
    if let Some(ids) = owner {
        // The step's uid 0 is the build ids on the host: it must own the guest's files to
        // change them in its overlay (set-id bits are dropped by the kernel on chown).
        crate::safefs::Dir::open_anchor(tmp.path())?
            .chown_tree(ids.uid, ids.gid)
            .wrap_err_with(|| format!("cannot give the guest to the build {ids}"))?;
    }
    fs_err::rename(tmp.keep(), guests.join(key))?;
    Ok(())
}
