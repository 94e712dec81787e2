//! Writing into a cache that other builds read at the same time: every file appears under its
//! final name whole, or not at all (temporary name in the same directory, then `rename(2)`).
//! [`store_atomically`] is for other modules (`fetch` writing a verified download back as
//! `sha256:<hex>`); the helpers below are shared with [`super::preload`].

use fs_err::os::unix::fs::OpenOptionsExt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{CacheDir, TEMP_PREFIX};

/// What [`store_atomically`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The name was new and now holds the content.
    Written,
    /// The name already held the same bytes; nothing was written.
    AlreadyPresent,
    /// The name held different bytes and was replaced in one rename.
    Replaced,
}

/// Copies `from` into the cache as `name` (a relative path such as `sha256:<hex>`): a
/// temporary file in the same directory, fsync, rename, fsync of the directory. When `name`
/// already holds the same bytes it is kept untouched. Parent directories are created.
pub fn store_atomically(cache: &CacheDir, name: &Path, from: &Path) -> io::Result<Stored> {
    if name.as_os_str().is_empty() || !name.components().all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cache entry name `{}` must be a relative path without `..`",
                name.display()
            ),
        ));
    }
    let dest = cache.path().join(name);
    let dir = dest.parent().unwrap_or(cache.path()).to_path_buf();
    fs_err::create_dir_all(&dir)?;
    let existed = match std::fs::symlink_metadata(&dest) {
        Ok(_) => {
            if same_content(from, &dest)? {
                return Ok(Stored::AlreadyPresent);
            }
            true
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(with_path(e, &dest)),
    };
    let temp = copy_to_temp(from, &dir, 0o644, true)?;
    if let Err(e) = std::fs::rename(&temp, &dest) {
        let _ = std::fs::remove_file(&temp);
        return Err(with_path(e, &dest));
    }
    sync_dir(&dir)?;
    Ok(if existed {
        Stored::Replaced
    } else {
        Stored::Written
    })
}

/// A fresh name for a temporary file in `dir`, unique across processes and threads.
pub(crate) fn temp_path(dir: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()))
}

/// Copies `src` to a new temporary file in `dir` with permission bits `mode`; fsyncs it when
/// `sync` is set. The temporary file is removed again on any error.
pub(crate) fn copy_to_temp(src: &Path, dir: &Path, mode: u32, sync: bool) -> io::Result<PathBuf> {
    let mut input = fs_err::File::open(src)?;
    let temp = temp_path(dir);
    let result = (|| {
        let mut out = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        io::copy(&mut input, &mut out)?;
        out.set_permissions(std::fs::Permissions::from_mode(mode & 0o777))?;
        if sync {
            out.sync_all()?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Renames `from` to `to` unless `to` exists (then returns false and leaves both alone):
/// `renameat2(RENAME_NOREPLACE)`, or `link` + `unlink` on filesystems without it.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
    };
    let (cfrom, cto) = (c(from)?, c(to)?);
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cfrom.as_ptr(),
            libc::AT_FDCWD,
            cto.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EEXIST) => Ok(false),
        Some(libc::EINVAL | libc::ENOSYS) => match std::fs::hard_link(from, to) {
            Ok(()) => {
                std::fs::remove_file(from).map_err(|e| with_path(e, from))?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(with_path(e, to)),
        },
        _ => Err(with_path(err, to)),
    }
}

/// Whether two files hold the same bytes.
pub(crate) fn same_content(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) = (fs_err::File::open(a)?, fs_err::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// fsyncs a directory so a rename in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| with_path(e, dir))
}

pub(crate) fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_keeps_and_replaces() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CacheDir::open(&tmp.path().join("cache"), true).unwrap();
        let src = tmp.path().join("src");
        std::fs::write(&src, b"hello").unwrap();
        let name = Path::new("sha256:abc");
        assert_eq!(
            store_atomically(&cache, name, &src).unwrap(),
            Stored::Written
        );
        let stored = cache.path().join(name);
        let before = std::fs::metadata(&stored).unwrap();
        assert_eq!(
            store_atomically(&cache, name, &src).unwrap(),
            Stored::AlreadyPresent
        );
        // Kept means the same inode, not a rewrite.
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&stored).unwrap().ino(), before.ino());
        std::fs::write(&src, b"other").unwrap();
        assert_eq!(
            store_atomically(&cache, name, &src).unwrap(),
            Stored::Replaced
        );
        assert_eq!(std::fs::read(&stored).unwrap(), b"other");
        assert!(store_atomically(&cache, Path::new("../x"), &src).is_err());
        assert!(store_atomically(&cache, Path::new("/x"), &src).is_err());
        // No temporary file is left.
        let names: Vec<_> = std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("sha256:abc")]);
    }

    #[test]
    fn concurrent_stores_leave_whole_files() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CacheDir::open(&tmp.path().join("cache"), true).unwrap();
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let src = tmp.path().join("src");
        std::fs::write(&src, &content).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..5 {
                        let name = format!("blob{i}");
                        store_atomically(&cache, Path::new(&name), &src).unwrap();
                    }
                });
            }
        });
        for i in 0..5 {
            assert_eq!(
                std::fs::read(cache.path().join(format!("blob{i}"))).unwrap(),
                content
            );
        }
    }

    #[test]
    fn rename_noreplace_never_overwrites() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::write(&a, "new").unwrap();
        std::fs::write(&b, "old").unwrap();
        assert!(!rename_noreplace(&a, &b).unwrap());
        assert_eq!(std::fs::read(&b).unwrap(), b"old");
        std::fs::remove_file(&b).unwrap();
        assert!(rename_noreplace(&a, &b).unwrap());
        assert_eq!(std::fs::read(&b).unwrap(), b"new");
        assert!(!a.exists());
    }
}
