//! `--cache-source DIR`: fill the cache from a seed directory (a shared or read-only cache on a
//! CI runner, a mounted volume). Entries missing from the cache are copied in; nothing already
//! there is ever overwritten, even when another build writes the same name at the same moment
//! (each file goes to a temporary name, then `renameat2(RENAME_NOREPLACE)`), so a concurrent
//! build never sees a torn file. Preloads into one cache run one at a time (an exclusive
//! `flock(2)` on the cache directory itself): see [`lock_preloads`].
//!
//! melange accepts `--cache-source` but does nothing with it since #1955 (it used to copy
//! `sha256:`/`sha512:` objects from a bucket); melwrap copies everything the seed holds.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};

use super::store::{copy_to_temp, rename_noreplace, temp_path, with_path};
use super::{CacheDir, TEMP_PREFIX};
use crate::diag::Diagnostic;

/// What a preload did, for the build log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PreloadStats {
    /// Files and symlinks copied into the cache.
    pub copied: u64,
    /// Files and symlinks the cache already had (kept as they were).
    pub already_present: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Special files (sockets, devices, FIFOs) and paths where the cache holds a file and the
    /// source a directory (or the reverse), left alone.
    pub skipped: u64,
}

/// Copies what is missing from `source` into the cache, recursively. Call it with the build's
/// shared lock held, so a prune cannot run at the same time. `source` is only read.
pub fn preload(cache: &CacheDir, source: &Path) -> eyre::Result<PreloadStats> {
    let meta = std::fs::metadata(source).map_err(|e| {
        Diagnostic::new(source, format!("cannot read the cache source: {e}"))
            .hint("`--cache-source` takes a directory, such as a cache dir from another machine")
    })?;
    if !meta.is_dir() {
        return Err(
            Diagnostic::new(source, "the cache source is not a directory")
                .hint(
                    "`--cache-source` takes a directory, such as a cache dir from another machine",
                )
                .into(),
        );
    }
    let _preloading = lock_preloads(cache.path())?;
    let mut stats = PreloadStats::default();
    // Directories this run created whose source mode lacks owner write (Go's read-only module
    // trees): their mode is copied after their contents are in.
    let mut modes_to_apply: Vec<(PathBuf, u32)> = Vec::new();
    let mut stack: Vec<(PathBuf, PathBuf)> = vec![(source.to_path_buf(), cache.path().into())];
    while let Some((src_dir, dest_dir)) = stack.pop() {
        let at_top = src_dir == source;
        for item in fs_err::read_dir(&src_dir)? {
            let item = item?;
            let name = item.file_name();
            let name_str = name.to_string_lossy();
            if name_str.starts_with(TEMP_PREFIX) || (at_top && super::is_own_file(&name_str)) {
                continue;
            }
            let src = item.path();
            let dest = dest_dir.join(&name);
            let src_meta = fs_err::symlink_metadata(&src)?;
            let existing = std::fs::symlink_metadata(&dest).ok();
            let kind = src_meta.file_type();
            if kind.is_dir() {
                match existing {
                    Some(m) if m.is_dir() => {}
                    Some(_) => {
                        stats.skipped += 1;
                        continue;
                    }
                    None => {
                        match std::fs::DirBuilder::new().mode(0o755).create(&dest) {
                            Ok(()) => {
                                let mode = src_meta.mode() & 0o777;
                                if mode & 0o200 == 0 {
                                    modes_to_apply.push((dest.clone(), mode));
                                }
                            }
                            // Another build made it a moment ago.
                            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                            Err(e) => return Err(with_path(e, &dest).into()),
                        }
                    }
                }
                stack.push((src, dest));
            } else if existing.is_some() {
                stats.already_present += 1;
            } else if kind.is_file() {
                let temp = copy_to_temp(&src, &dest_dir, src_meta.mode(), false)?;
                place(&temp, &dest, &mut stats, src_meta.len())?;
            } else if kind.is_symlink() {
                let target = fs_err::read_link(&src)?;
                let temp = temp_path(&dest_dir);
                fs_err::os::unix::fs::symlink(&target, &temp)?;
                place(&temp, &dest, &mut stats, 0)?;
            } else {
                stats.skipped += 1;
            }
        }
    }
    for (dir, mode) in modes_to_apply.into_iter().rev() {
        fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(mode))?;
    }
    sync_filesystem(cache.path())
        .wrap_err_with(|| format!("flushing {}", cache.path().display()))?;
    Ok(stats)
}

/// Waits for, then holds, an exclusive `flock(2)` on the cache directory, released when the
/// returned descriptor is dropped. Concurrent preloads raced: the one that created a read-only
/// directory (a Go module tree) made it read-only once its own copy was done, while another
/// was still creating or removing a temporary file inside it, which a non-root user can then
/// no longer do (a failed build, or a temporary file left behind). One at a time, a later
/// preload finds everything in place and writes nothing. The directory itself is locked, so no
/// file is added to the cache and any user who can read it can take the lock.
fn lock_preloads(dir: &Path) -> eyre::Result<fs_err::File> {
    use std::os::fd::AsRawFd;
    let file = fs_err::File::open(dir)?;
    loop {
        // SAFETY: flock on a descriptor we own; no memory is passed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(file);
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            let msg = format!("cannot lock {} for the preload: {err}", dir.display());
            return Err(std::io::Error::new(err.kind(), msg).into());
        }
    }
}

/// Moves a finished temporary file to its name unless the name appeared meanwhile.
fn place(temp: &Path, dest: &Path, stats: &mut PreloadStats, bytes: u64) -> eyre::Result<()> {
    match rename_noreplace(temp, dest) {
        Ok(true) => {
            stats.copied += 1;
            stats.bytes += bytes;
            Ok(())
        }
        Ok(false) => {
            let _ = std::fs::remove_file(temp);
            stats.already_present += 1;
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(temp);
            Err(e.into())
        }
    }
}

/// One `syncfs(2)` for the whole copy instead of an fsync per file: a preload of a large seed
/// stays fast and still reaches the disk before the build relies on it.
fn sync_filesystem(dir: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let d = std::fs::File::open(dir)?;
    // SAFETY: syncfs on a descriptor we own.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
