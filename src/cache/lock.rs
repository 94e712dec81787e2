//! The cache lock: `flock(2)` on the cache directory itself.
//!
//! Builds hold it *shared* for their whole run, so any number of builds share one cache;
//! `prune` holds it *exclusive*, so it never removes anything while a build runs, and a build
//! that starts during a prune waits for it. What it does not do: it is advisory, so a process
//! that does not take it (melange itself, a host `go` or `pip` pointed at the same directory, a
//! user's `rm`) is not held back; and builds do not exclude each other: entries they write
//! concurrently are kept whole by the tools' own locking and by atomic renames
//! ([`super::store_atomically`], [`super::preload`]). flock locks follow the open file, so the
//! lock ends when the holder exits, even on a crash; the descriptor is close-on-exec, so the
//! sandbox does not inherit it.
//!
//! The lock is taken on the directory's own descriptor, so it puts no file in the cache: a
//! cache dir that is someone's Go module cache (`--cache-dir "$(go env GOMODCACHE)"`) holds
//! only what Go wrote. (Earlier melwrap versions locked a `.melwrap.lock` file inside the cache; one
//! left by it is ignored and counted as melwrap's own, not as content.) Anyone may `flock` a
//! directory they can open, steps included; the worst a step can do with that is hold up a
//! `prune` until the build it runs in ends.

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock file older melwrap versions kept inside the cache dir (ignored now).
pub const LOCK_FILE: &str = ".melwrap.lock";

/// Shared (builds) or exclusive (prune).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

/// A held cache lock; dropping it releases the lock.
#[derive(Debug)]
pub struct CacheLock {
    _dir: crate::safefs::Dir,
    mode: LockMode,
    path: PathBuf,
}

impl CacheLock {
    /// Whether this is a shared or an exclusive hold.
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// The locked directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the lock on the directory `dir`. With `wait` false, returns `Ok(None)` when a
/// conflicting lock is held instead of waiting for it. Only the directory is opened (read-only,
/// by the path the user gave, as the cache's anchor); nothing is created.
pub(crate) fn acquire(dir: &Path, mode: LockMode, wait: bool) -> io::Result<Option<CacheLock>> {
    let anchor = crate::safefs::Dir::open_anchor(dir)?;
    let mut op = match mode {
        LockMode::Shared => libc::LOCK_SH,
        LockMode::Exclusive => libc::LOCK_EX,
    };
    if !wait {
        op |= libc::LOCK_NB;
    }
    loop {
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(anchor.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(Some(CacheLock {
                _dir: anchor,
                mode,
                path: dir.to_path_buf(),
            }));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(None),
            _ => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("cannot lock {}: {err}", dir.display()),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_locks_coexist_and_exclude_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let a = acquire(dir.path(), LockMode::Shared, false).unwrap();
        let b = acquire(dir.path(), LockMode::Shared, false).unwrap();
        assert!(a.is_some() && b.is_some());
        assert!(
            acquire(dir.path(), LockMode::Exclusive, false)
                .unwrap()
                .is_none()
        );
        drop((a, b));
        let x = acquire(dir.path(), LockMode::Exclusive, false).unwrap();
        assert_eq!(x.as_ref().map(|l| l.mode()), Some(LockMode::Exclusive));
        assert!(
            acquire(dir.path(), LockMode::Shared, false)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_lock_puts_nothing_in_the_cache_and_ignores_an_old_lock_file_link() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        let victim = dir.path().join("victim");
        std::os::unix::fs::symlink(&victim, cache.join(LOCK_FILE)).unwrap();
        let held = acquire(&cache, LockMode::Shared, false).unwrap().unwrap();
        assert_eq!(held.path(), cache.as_path());
        assert!(!victim.exists(), "nothing created through the link");
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
        std::fs::remove_file(cache.join(LOCK_FILE)).unwrap();
        drop(held);
        let held = acquire(&cache, LockMode::Exclusive, false).unwrap();
        assert!(held.is_some());
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
    }
}
