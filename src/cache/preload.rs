//! `--cache-source DIR`: fill the cache from a seed directory (a shared or read-only cache on a
//! CI runner, a mounted volume). Entries missing from the cache are copied in; nothing already
//! there is ever overwritten, even when another build writes the same name at the same moment
//! (each file goes to a temporary name, then `renameat2(RENAME_NOREPLACE)`), so a concurrent
//! build never sees a torn file. Preloads from one seed run one at a time (an exclusive
//! `flock(2)` on the seed directory): see [`lock_preloads`].
//!
//! melange accepts `--cache-source` but does nothing with it since #1955 (it used to copy
//! `sha256:`/`sha512:` objects from a bucket); melwrap copies everything the seed holds.

use std::path::Path;

use color_eyre::eyre::{self, WrapErr};

use super::{CacheDir, TEMP_PREFIX};
use crate::diag::Diagnostic;
use crate::safefs::{CopyOptions, Dir, Existing};

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
/// shared lock held, so a prune cannot run at the same time. `source` is only read. The cache
/// side goes through [`crate::safefs`]: a symlink a step left where a directory of the seed
/// goes is left alone (counted as skipped), never followed; new entries are created under a
/// temporary name with `O_EXCL` and renamed into place without replacing anything.
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
    let dir = cache.dir()?;
    let seed = Dir::open_anchor(source)
        .map_err(|e| Diagnostic::new(source, format!("cannot open the cache source: {e}")))?;
    let _preloading = lock_preloads(&seed)?;
    let skip_own = |_: &Path, rel: &Path, _: &std::fs::Metadata| {
        let name = rel.file_name().unwrap_or_default().to_string_lossy();
        let at_top = rel.parent().is_none_or(|p| p.as_os_str().is_empty());
        !(name.starts_with(TEMP_PREFIX) || (at_top && super::is_own_file(&name)))
    };
    let opts = CopyOptions {
        existing: Existing::Keep,
        symlinks: true,
        empty_dirs: true,
        read_only_dir_modes: true,
        filter: Some(&skip_own),
        ..CopyOptions::default()
    };
    let copied = dir.copy_tree_in(source, &opts)?;
    dir.sync_filesystem()
        .wrap_err_with(|| format!("flushing {}", cache.path().display()))?;
    Ok(PreloadStats {
        copied: copied.files + copied.symlinks,
        already_present: copied.already_present,
        bytes: copied.bytes,
        // Temporary files and melwrap's own files in the seed are not content.
        skipped: copied.skipped,
    })
}

/// Waits for, then holds, an exclusive `flock(2)` on the seed directory, released when the
/// returned descriptor is dropped. Concurrent preloads raced: the one that created a read-only
/// directory (a Go module tree) made it read-only once its own copy was done, while another
/// was still creating or removing a temporary file inside it, which a non-root user can then
/// no longer do (a failed build, or a temporary file left behind). One at a time, a later
/// preload finds everything in place and writes nothing. The seed is locked, not the cache:
/// the cache directory's own lock is the build/prune lock ([`super::lock`]) that every build
/// holds shared for its whole run, and no file is added to either directory (a read-only seed
/// can still be locked). Concurrent preloads into one cache from *different* seeds are not
/// serialised; the usual case, CI jobs seeding one cache from one seed, is.
fn lock_preloads(dir: &Dir) -> eyre::Result<Dir> {
    use std::os::fd::AsRawFd;
    // A fresh open of the directory: the lock belongs to this open file description only.
    let held = dir.open_dir("")?;
    loop {
        // SAFETY: flock on a descriptor we own; no memory is passed.
        if unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(held);
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            let msg = format!(
                "cannot lock {} for the preload: {err}",
                dir.path().display()
            );
            return Err(std::io::Error::new(err.kind(), msg).into());
        }
    }
}
