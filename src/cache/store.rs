//! Writing into a cache that other builds read at the same time: every file appears under its
//! final name whole, or not at all (temporary name in the same directory, then `rename(2)`).
//! [`store_atomically`] is for other modules (`fetch` writing a verified download back as
//! `sha256:<hex>`). Everything goes through [`crate::safefs`]: a step may have replaced a
//! directory on the way with a symlink, which is refused rather than followed.

use std::io::{self, Read};
use std::path::{Component, Path};

use super::CacheDir;
use crate::safefs::{CopyOptions, Dir, Existing};

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
    let root = cache.dir()?;
    let dir = match name.parent() {
        Some(p) if !p.as_os_str().is_empty() => root.create_dir_all(p, 0o755)?,
        _ => root,
    };
    let file_name = Path::new(name.file_name().expect("a normal last component"));
    let existed = match dir.open_file(file_name) {
        Ok(mut existing) => {
            let mut input = fs_err::File::open(from)?;
            if same_content(&mut input, &mut existing)? {
                return Ok(Stored::AlreadyPresent);
            }
            true
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        // A directory or a link at the name: the rename below replaces a link and fails on a
        // directory, naming it.
        Err(_) => true,
    };
    let opts = CopyOptions {
        existing: Existing::Replace,
        sync: true,
        ..CopyOptions::default()
    };
    dir.copy_file_in(from, file_name, 0o644, &opts)?;
    sync_dir(&dir)?;
    Ok(if existed {
        Stored::Replaced
    } else {
        Stored::Written
    })
}

/// Whether two open files hold the same bytes.
fn same_content(fa: &mut fs_err::File, fb: &mut std::fs::File) -> io::Result<bool> {
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(fa, &mut ba)?;
        let m = read_full(fb, &mut bb)?;
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
fn sync_dir(dir: &Dir) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fsync on a descriptor the Dir owns.
    if unsafe { libc::fsync(dir.as_raw_fd()) } != 0 {
        return Err(crate::safefs::with_path(
            io::Error::last_os_error(),
            dir.path(),
        ));
    }
    Ok(())
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
    fn a_planted_link_on_the_way_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CacheDir::open(&tmp.path().join("cache"), true).unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, cache.path().join("pip")).unwrap();
        let src = tmp.path().join("src");
        std::fs::write(&src, b"hello").unwrap();
        let err = store_atomically(&cache, Path::new("pip/x"), &src).unwrap_err();
        assert!(crate::safefs::is_link_refused(&err), "{err}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
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
}
