//! The cache lock: `<cache>/.melwrap.lock`, held with `flock(2)`.
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

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock file's name inside the cache dir.
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
    _file: std::fs::File,
    mode: LockMode,
    path: PathBuf,
}

impl CacheLock {
    /// Whether this is a shared or an exclusive hold.
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the lock on `<dir>/.melwrap.lock`. With `wait` false, returns `Ok(None)` when a
/// conflicting lock is held instead of waiting for it. Steps write the cache dir, so the lock
/// file is opened relative to the opened directory with `O_NOFOLLOW` (and created with
/// `O_CREAT` there): a symlink or anything but a regular file at its name is refused, never
/// followed or created through.
pub(crate) fn acquire(dir: &Path, mode: LockMode, wait: bool) -> io::Result<Option<CacheLock>> {
    let path = dir.join(LOCK_FILE);
    let anchor = crate::safefs::Dir::open_anchor(dir)?;
    // flock needs only an open descriptor, not write access: a lock file created by another
    // user (0644) can still be locked through a read-only open.
    let file = match anchor.open_or_create_file(LOCK_FILE, 0o644) {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            anchor.open_file(LOCK_FILE)?
        }
        Err(e) => return Err(e),
    };
    let mut op = match mode {
        LockMode::Shared => libc::LOCK_SH,
        LockMode::Exclusive => libc::LOCK_EX,
    };
    if !wait {
        op |= libc::LOCK_NB;
    }
    loop {
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(Some(CacheLock {
                _file: file,
                mode,
                path,
            }));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(None),
            _ => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("cannot lock {}: {err}", path.display()),
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
    fn a_lock_file_replaced_by_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        let victim = dir.path().join("victim");
        std::os::unix::fs::symlink(&victim, cache.join(LOCK_FILE)).unwrap();
        let err = acquire(&cache, LockMode::Shared, false).unwrap_err();
        assert!(crate::safefs::is_link_refused(&err), "{err}");
        assert!(!victim.exists(), "nothing created through the link");
        std::fs::remove_file(cache.join(LOCK_FILE)).unwrap();
        std::fs::create_dir(cache.join(LOCK_FILE)).unwrap();
        let err = acquire(&cache, LockMode::Shared, false).unwrap_err();
        assert!(err.to_string().contains(LOCK_FILE), "{err}");
    }
}
