//! Atomic output files: written as `<name>.tmp-XXXXXX` in the destination directory, synced,
//! then renamed over the destination. An interrupted write leaves at most a stray temporary
//! file (removed on drop when the process survives), never a truncated package or index where
//! a good one was.

use std::fs::File;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};
use tempfile::NamedTempFile;

use crate::diag::Diagnostic;

/// A file being written; it appears at its destination only on [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    tmp: NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Start writing `dest` (its directory must exist).
    pub fn create(dest: &Path) -> eyre::Result<AtomicFile> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        let base = dest.file_name().unwrap_or_default().to_string_lossy();
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{base}.tmp-"))
            .tempfile_in(dir)
            .map_err(|e| cannot_write(dir, &e))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// Where the file will appear.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Sync, make it world-readable like any package (mode 0644), rename into place, and sync
    /// the directory so the rename survives a crash.
    pub fn commit(self) -> eyre::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let file = self.tmp.as_file();
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
            .and_then(|_| file.sync_all())
            .wrap_err_with(|| format!("cannot write {}", self.tmp.path().display()))?;
        let dest = self.dest;
        self.tmp
            .persist(&dest)
            .map_err(|e| cannot_write(&dest, &e.error))?;
        if let Some(dir) = dest.parent() {
            // Best effort: some filesystems refuse fsync on directories.
            if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

/// An exclusive `flock` on a lock file, held until dropped (the descriptor is closed).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// Take an exclusive lock on `path`, waiting for other holders. Read-modify-write updates of a
/// shared file (an index several builds merge into) hold it from the read to the rename, so no
/// update is lost. The lock file is created when missing; it is opened without following a
/// symbolic link, without blocking (a FIFO in its place) and without becoming a controlling
/// terminal, and must be a regular file. It is kept afterwards: removing it would let a waiter
/// lock a file that a newcomer no longer sees.
pub fn lock_exclusive(path: &Path) -> eyre::Result<FileLock> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::{AsRawFd, FromRawFd};
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Diagnostic::new(path, "the lock file path contains a NUL byte"))?;
    let flags = libc::O_RDONLY
        | libc::O_CREAT
        | libc::O_NOFOLLOW
        | libc::O_CLOEXEC
        | libc::O_NOCTTY
        | libc::O_NONBLOCK;
    // SAFETY: c_path is a valid NUL-terminated string; the mode is the variadic third argument.
    let fd = unsafe { libc::open(c_path.as_ptr(), flags, 0o644 as libc::c_uint) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ELOOP) {
            return Err(Diagnostic::new(path, "the lock file is a symbolic link")
                .hint("remove it; melwrap creates the lock file itself")
                .into());
        }
        return Err(cannot_write(path, &e));
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    let file = unsafe { File::from_raw_fd(fd) };
    let meta = file
        .metadata()
        .wrap_err_with(|| format!("cannot inspect {}", path.display()))?;
    if !meta.file_type().is_file() {
        return Err(Diagnostic::new(path, "the lock file is not a regular file")
            .hint("remove it; melwrap creates the lock file itself")
            .into());
    }
    loop {
        // SAFETY: the descriptor is open for the duration of the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(FileLock { _file: file });
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(eyre::Report::new(e).wrap_err(format!("cannot lock {}", path.display())));
        }
    }
}

/// A write failure about `path` as a located error with a hint.
pub fn cannot_write(path: &Path, e: &std::io::Error) -> eyre::Report {
    use std::io::ErrorKind as K;
    // Match on the kind: errors wrapped by tempfile (which adds the path) have no raw errno.
    let hint = match e.kind() {
        K::PermissionDenied | K::ReadOnlyFilesystem => {
            "choose a writable output directory (`--out-dir`)"
        }
        K::StorageFull | K::QuotaExceeded => {
            "free some disk space, or choose another output directory"
        }
        K::NotADirectory => "the output path runs through a file; choose a directory",
        _ => "check that the output directory exists and is writable",
    };
    Diagnostic::new(path, format!("cannot write here: {e}"))
        .hint(hint)
        .into()
}

/// Make sure `dir` is a directory (creating it and its parents), with errors that name it.
pub fn ensure_dir(dir: &Path) -> eyre::Result<()> {
    if let Ok(m) = dir.metadata() {
        if m.is_dir() {
            return Ok(());
        }
        return Err(Diagnostic::new(dir, "is a file, not a directory")
            .hint("choose a directory for the output (`--out-dir`)")
            .into());
    }
    // Find the first existing ancestor so a file in the way is named, not the leaf.
    for anc in dir.ancestors().skip(1) {
        if let Ok(m) = anc.metadata() {
            if !m.is_dir() {
                return Err(Diagnostic::new(anc, "is a file, not a directory")
                    .hint("choose a directory for the output (`--out-dir`)")
                    .into());
            }
            break;
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| cannot_write(dir, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn nothing_appears_until_commit() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("x.apk");
        let mut f = AtomicFile::create(&dest).unwrap();
        f.file().write_all(b"data").unwrap();
        assert!(!dest.exists());
        f.commit().unwrap();
        assert_eq!(fs_err::read(&dest).unwrap(), b"data");
        assert_eq!(fs_err::read_dir(t.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_dropped_file_leaves_nothing_behind() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("x.apk");
        fs_err::write(&dest, "old").unwrap();
        let mut f = AtomicFile::create(&dest).unwrap();
        f.file().write_all(b"half").unwrap();
        drop(f);
        assert_eq!(fs_err::read(&dest).unwrap(), b"old");
        assert_eq!(fs_err::read_dir(t.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_lock_is_exclusive_and_refuses_links_and_non_files() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join(".lock");
        let held = lock_exclusive(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        let waiter = std::thread::spawn(move || {
            let _lock = lock_exclusive(&p).unwrap();
            tx.send(()).unwrap();
        });
        // The waiter cannot have the lock while it is held (no timing: it is checked after
        // the release that it got it).
        assert!(rx.try_recv().is_err());
        drop(held);
        rx.recv().unwrap();
        waiter.join().unwrap();

        let link = t.path().join("link.lock");
        std::os::unix::fs::symlink(t.path().join("target"), &link).unwrap();
        let err = lock_exclusive(&link).unwrap_err();
        assert!(format!("{err}").contains("symbolic link"), "{err}");
        assert!(
            !t.path().join("target").exists(),
            "nothing created through the link"
        );
        let dir = t.path().join("dir.lock");
        fs_err::create_dir(&dir).unwrap();
        assert!(lock_exclusive(&dir).is_err());
    }

    #[test]
    fn a_file_in_the_way_is_named() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("out");
        fs_err::write(&f, "").unwrap();
        let err = ensure_dir(&f.join("x86_64")).unwrap_err();
        let msg = format!("{err}");
        assert!(msg.contains("is a file") && msg.contains("out"), "{msg}");
    }
}
