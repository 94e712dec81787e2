//! The build cache dir, as a first-class feature: opening (resolve, create, check writable),
//! the lock builds and prune share, usage snapshots and per-build reports, pruning, preloading
//! from `--cache-source`, and atomic stores for other modules.
//!
//! The build calls, in order: [`CacheDir::open`] (before any step), [`CacheDir::lock_shared`]
//! (held for the whole build), [`preload`] when `--cache-source` is given, [`snapshot`],
//! [`CacheDir::prepare_link_targets`] and [`install_home_links`] on the workspace, the steps
//! (with [`default_env`] applied where the config leaves a variable missing or empty),
//! [`snapshot`] again and [`summarize`] for the one-line report.
//!
//! melange (`pkg/build/build.go`, `pkg/container/bubblewrap_runner.go`) binds the cache dir at
//! `/var/cache/melange` only when it exists, after resolving symlinks, and never creates it.
//! melwrap creates it, and refuses one it cannot write to before anything runs.

mod areas;
mod layout;
mod links;
mod lock;
mod preload;
mod prune;
mod report;
mod scan;
mod store;
pub mod units;

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::diag::Diagnostic;
use crate::safefs::Dir;

pub use areas::{Area, GUEST_CACHE_DIR, HomeLink, default_env, home_links, is_blob_name};
pub use links::install_home_links;
pub use lock::{CacheLock, LOCK_FILE, LockMode};
pub use preload::{PreloadStats, preload};
pub use prune::{PruneOptions, PruneOutcome, PrunePlan, execute_prune, plan_prune};
pub use report::{
    AreaDelta, AreaReport, AreaUsage, BuildCacheReport, EntryUse, FetchHits, Snapshot, snapshot,
    summarize,
};
pub use scan::{Entry, Scan, scan, scrub_and_scan};
pub use store::{Stored, store_atomically};

/// Prefix of the temporary names melwrap writes before renaming into place.
pub(crate) const TEMP_PREFIX: &str = crate::safefs::TEMP_PREFIX;
const PROBE_PREFIX: &str = ".melwrap-probe-";

/// An existing cache directory, by its real path (symlinks resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDir {
    path: PathBuf,
    /// Whether opening it created it.
    created: bool,
}

impl CacheDir {
    /// Opens a cache dir for a build or a prune: resolves symlinks, creates it with mode 0700
    /// (owner-only: steps write it, and other users must not reach what they wrote) when missing and `create` is set, and refuses it when it is not a directory or cannot be
    /// written to (checked by creating and removing a probe file, because mode bits do not tell
    /// the truth for root or on a read-only mount).
    pub fn open(path: &Path, create: bool) -> Result<CacheDir, Diagnostic> {
        let cache = Self::resolve(path, create)?;
        cache.probe_writable()?;
        Ok(cache)
    }

    /// Opens an existing cache dir for reading only (`cache info`): no creation, no write check.
    pub fn inspect(path: &Path) -> Result<CacheDir, Diagnostic> {
        Self::resolve(path, false)
    }

    /// The real path of the cache dir.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether [`CacheDir::open`] created it (it did not exist before).
    pub fn was_created(&self) -> bool {
        self.created
    }

    /// Opens the cache dir as the anchor of every host-side operation inside it: steps write
    /// the cache, so nothing below it is reached by path (see [`crate::safefs`]).
    pub fn dir(&self) -> io::Result<Dir> {
        Dir::open_anchor(&self.path)
    }

    /// The cache dir's permission bits, to compare after the steps ([`CacheDir::restore_mode`]).
    pub fn mode(&self) -> io::Result<u32> {
        Ok(self.dir()?.stat()?.mode())
    }

    /// Puts back the permission bits the cache dir had before the steps (`before`, from
    /// [`CacheDir::mode`]) when a step changed them, through the directory's descriptor.
    /// Returns the mode the step left, when it differed.
    pub fn restore_mode(&self, before: u32) -> io::Result<Option<u32>> {
        let dir = self.dir()?;
        let now = dir.stat()?.mode();
        if now == before {
            return Ok(None);
        }
        dir.set_mode(before)?;
        Ok(Some(now))
    }

    /// Takes the shared lock a build holds for its whole run; waits while a prune holds it.
    pub fn lock_shared(&self) -> Result<CacheLock, Diagnostic> {
        self.lock(LockMode::Shared, true)
    }

    /// Takes the shared lock if no prune holds the exclusive one; `None` otherwise, so the
    /// caller can say it is waiting and then call [`CacheDir::lock_shared`].
    pub fn try_lock_shared(&self) -> Result<Option<CacheLock>, Diagnostic> {
        lock::acquire(&self.path, LockMode::Shared, false).map_err(|e| self.io_diag(e))
    }

    /// Takes the exclusive lock prune needs. Without `wait`, fails at once when a build holds
    /// the cache.
    pub fn lock_exclusive(&self, wait: bool) -> Result<CacheLock, Diagnostic> {
        self.lock(LockMode::Exclusive, wait)
    }

    fn lock(&self, mode: LockMode, wait: bool) -> Result<CacheLock, Diagnostic> {
        match lock::acquire(&self.path, mode, wait) {
            Ok(Some(lock)) => Ok(lock),
            Ok(None) => Err(Diagnostic::new(
                &self.path,
                "a build is using this cache, so nothing was removed",
            )
            .hint("run it again when the build has finished, or add `--wait` to wait for it")),
            Err(e) => Err(self.io_diag(e)),
        }
    }

    fn io_diag(&self, e: io::Error) -> Diagnostic {
        Diagnostic::new(&self.path, e.to_string())
    }

    fn resolve(path: &Path, create: bool) -> Result<CacheDir, Diagnostic> {
        let hint = "pass `--cache-dir` with a directory you can write to";
        let mut created = false;
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(
                    Diagnostic::new(path, "the cache dir exists but is not a directory")
                        .hint(format!("remove or rename it, or {hint}")),
                );
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A symlink whose target is gone; anything else appearing here now is
                // another build creating the same dir a moment ago, which is fine.
                let dangling = std::fs::symlink_metadata(path)
                    .is_ok_and(|m| m.file_type().is_symlink() && !path.exists());
                if dangling {
                    return Err(Diagnostic::new(
                        path,
                        "the cache dir is a symlink to a path that does not exist",
                    )
                    .hint("create the directory it points to, or remove the symlink"));
                }
                if !create {
                    return Err(Diagnostic::new(path, "there is no cache dir here")
                        .hint("a build creates it; or pass `--cache-dir` with an existing one"));
                }
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(path)
                    .map_err(|e| {
                        Diagnostic::new(path, format!("cannot create the cache dir: {e}"))
                            .hint(hint)
                    })?;
                created = true;
            }
            Err(e) => {
                return Err(
                    Diagnostic::new(path, format!("cannot use the cache dir: {e}")).hint(hint),
                );
            }
        }
        let real = std::fs::canonicalize(path).map_err(|e| {
            Diagnostic::new(path, format!("cannot resolve the cache dir: {e}")).hint(hint)
        })?;
        Ok(CacheDir {
            path: real,
            created,
        })
    }

    fn probe_writable(&self) -> Result<(), Diagnostic> {
        let probe = format!("{PROBE_PREFIX}{}", std::process::id());
        let created = self
            .dir()
            .and_then(|dir| dir.create_file(&probe, 0o600).map(|_| dir));
        match created {
            Ok(dir) => {
                let _ = dir.unlink_at(&probe);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // A probe left by a killed process with our pid: writing worked before.
                let _ = self.dir().and_then(|dir| dir.unlink_at(&probe));
                Ok(())
            }
            Err(e) => {
                let why = match e.kind() {
                    io::ErrorKind::ReadOnlyFilesystem => {
                        "it is on a read-only filesystem".to_string()
                    }
                    io::ErrorKind::PermissionDenied => {
                        // SAFETY: getuid has no preconditions.
                        let uid = unsafe { libc::getuid() };
                        format!("uid {uid} may not write to it")
                    }
                    _ => e.to_string(),
                };
                Err(
                    Diagnostic::new(&self.path, format!("the cache dir is not writable: {why}"))
                        .hint(
                            "fix its owner or mode (`chown`/`chmod`), or pass `--cache-dir` \
                             with a directory you can write to; a read-only seed cache belongs \
                             in `--cache-source`",
                        ),
                )
            }
        }
    }
}

/// Whether a top-level name in the cache dir is melwrap's own bookkeeping, not cache content.
pub(crate) fn is_own_file(name: &str) -> bool {
    name == LOCK_FILE || name.starts_with(PROBE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_missing_dir_and_resolves_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let wanted = tmp.path().join("a/b/cache");
        let opened = CacheDir::open(&wanted, true).unwrap();
        assert!(wanted.is_dir());
        assert!(opened.was_created());
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&wanted, &link).unwrap();
        let via_link = CacheDir::open(&link, false).unwrap();
        assert!(!via_link.was_created());
        assert_eq!(via_link.path(), opened.path());
        assert_eq!(via_link.path(), std::fs::canonicalize(&wanted).unwrap());
        // No probe file is left behind.
        assert_eq!(std::fs::read_dir(&wanted).unwrap().count(), 0);
    }

    #[test]
    fn refuses_missing_without_create_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let err = CacheDir::open(&missing, false).unwrap_err();
        assert!(err.message.contains("no cache dir"), "{err}");
        assert!(!missing.exists());
        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = CacheDir::open(&file, true).unwrap_err();
        assert!(err.message.contains("not a directory"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
        let dangling = tmp.path().join("dangling");
        std::os::unix::fs::symlink(tmp.path().join("gone"), &dangling).unwrap();
        let err = CacheDir::open(&dangling, true).unwrap_err();
        assert!(err.message.contains("does not exist"), "{err}");
    }
}
