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
    fn a_file_in_the_way_is_named() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("out");
        fs_err::write(&f, "").unwrap();
        let err = ensure_dir(&f.join("x86_64")).unwrap_err();
        let msg = format!("{err}");
        assert!(msg.contains("is a file") && msg.contains("out"), "{msg}");
    }
}
