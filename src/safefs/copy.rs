//! Copying host files into a step-writable tree ([`Dir::copy_tree_in`], [`Dir::copy_file_in`]):
//! the workspace populate and the cache preload.
//!
//! The source is a host tree the user chose (the source dir, `--cache-source`) and is read by
//! path, with `O_NOFOLLOW` on every file. The destination is reached only through [`Dir`]
//! descriptors: each file is written to a fresh temporary name created with
//! `O_CREAT | O_EXCL` (so never through a link a step left), owned and chmodded through its
//! descriptor, then renamed into place, which replaces a link at the name rather than writing
//! through it.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::ops::{check, chmod_fd};
use super::{Dir, TEMP_PREFIX, cstring, link_refused, with_path};

/// What to do when the destination already has an entry with a name being copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// Leave it as it is, whatever it is (the cache preload: nothing is overwritten, even an
    /// entry another build writes at the same moment).
    #[default]
    Keep,
    /// Replace a file or symlink by the source's entry (atomically, by rename; the link itself
    /// is replaced, never written through); a directory where a directory is copied is
    /// entered, a non-directory there is removed first.
    Replace,
}

/// Decides per source entry: `filter(source_path, relative_path, lstat of the source)`.
pub type CopyFilter<'a> = &'a dyn Fn(&Path, &Path, &std::fs::Metadata) -> bool;

/// How [`Dir::copy_tree_in`] and [`Dir::copy_file_in`] copy.
#[derive(Clone, Copy, Default)]
pub struct CopyOptions<'a> {
    pub existing: Existing,
    /// Copy symlinks (their text) as symlinks; without it they are skipped.
    pub symlinks: bool,
    /// Create directories that end up empty; without it a directory is created only when a
    /// file or link is copied into it.
    pub empty_dirs: bool,
    /// Give directories this copy created the source directory's mode when it lacks owner
    /// write (Go's read-only module trees), after their contents are in.
    pub read_only_dir_modes: bool,
    /// Owner (uid, gid) for every created entry, set with `fchown` on the new descriptor.
    pub owner: Option<(u32, u32)>,
    /// `fsync` each file before its rename.
    pub sync: bool,
    /// Called as `filter(source_path, relative_path, lstat)`; `false` skips the entry (and
    /// everything below a directory).
    pub filter: Option<CopyFilter<'a>>,
}

/// What a copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    pub files: u64,
    pub symlinks: u64,
    pub bytes: u64,
    /// Entries kept as they were ([`Existing::Keep`]).
    pub already_present: u64,
    /// Special files, symlinks when not copied, and entries whose destination directory is
    /// taken by a non-directory ([`Existing::Keep`]).
    pub skipped: u64,
    /// Entries the filter refused.
    pub filtered: u64,
}

enum Dest {
    Pending,
    Open(Dir),
    Blocked,
}

struct Frame {
    src: PathBuf,
    rel: PathBuf,
    names: std::vec::IntoIter<OsString>,
    dest: Dest,
    src_mode: u32,
    created: bool,
}

impl Dir {
    /// Copies the regular files (and, per `opts`, symlinks and empty directories) of the
    /// host directory `source` into this directory, recursively. Set-id and sticky bits are
    /// dropped; other permission bits are kept. Sockets, FIFOs and devices are skipped.
    pub fn copy_tree_in(&self, source: &Path, opts: &CopyOptions<'_>) -> io::Result<CopyStats> {
        let mut stats = CopyStats::default();
        let mut modes_to_apply: Vec<(PathBuf, u32)> = Vec::new();
        let mut stack = vec![Frame {
            src: source.to_path_buf(),
            rel: PathBuf::new(),
            names: sorted_names(source)?.into_iter(),
            dest: Dest::Open(self.try_clone()?),
            src_mode: 0,
            created: false,
        }];
        while let Some(top) = stack.last_mut() {
            let Some(name) = top.names.next() else {
                let done = stack.pop().expect("non-empty");
                if opts.read_only_dir_modes && done.created && done.src_mode & 0o200 == 0 {
                    modes_to_apply.push((done.rel, done.src_mode & 0o777));
                }
                continue;
            };
            let src = top.src.join(&name);
            let rel = top.rel.join(&name);
            let meta = match std::fs::symlink_metadata(&src) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(with_path(e, &src)),
            };
            let kind = meta.file_type();
            if opts.filter.is_some_and(|f| !f(&src, &rel, &meta)) {
                stats.filtered += 1;
                continue;
            }
            if kind.is_dir() {
                let names = sorted_names(&src)?.into_iter();
                stack.push(Frame {
                    src,
                    rel,
                    names,
                    dest: Dest::Pending,
                    src_mode: meta.mode(),
                    created: false,
                });
                if opts.empty_dirs && ensure_dest(&mut stack, opts)?.is_none() {
                    stats.skipped += 1;
                    stack.pop();
                }
                continue;
            }
            if !(kind.is_file() || kind.is_symlink() && opts.symlinks) {
                stats.skipped += 1;
                continue;
            }
            let Some(dest) = ensure_dest(&mut stack, opts)? else {
                stats.skipped += 1;
                continue;
            };
            let name = Path::new(&name);
            let copied = if kind.is_file() {
                dest.copy_file_in(&src, name, meta.mode(), opts)?
            } else {
                dest.copy_link_in(&src, name, opts)?
            };
            match copied {
                Some(_) if kind.is_symlink() => stats.symlinks += 1,
                Some(bytes) => {
                    stats.files += 1;
                    stats.bytes += bytes;
                }
                None => stats.already_present += 1,
            }
        }
        for (rel, mode) in modes_to_apply {
            self.chmod_at(&rel, mode)?;
        }
        Ok(stats)
    }

    /// Copies the host file `source` into this tree as `rel` (its parent must exist), with
    /// permission bits `mode & 0o777`, through a temporary `O_EXCL` file and a rename. Returns
    /// the bytes written, or `None` when [`Existing::Keep`] found the name taken.
    pub fn copy_file_in(
        &self,
        source: &Path,
        rel: impl AsRef<Path>,
        mode: u32,
        opts: &CopyOptions<'_>,
    ) -> io::Result<Option<u64>> {
        let rel = rel.as_ref();
        let (parent, name) = self.parent_and_name(rel)?;
        let name = Path::new(std::ffi::OsStr::from_bytes(name.as_bytes()));
        if opts.existing == Existing::Keep && exists(&parent, name)? {
            return Ok(None);
        }
        let mut input = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(source)
            .map_err(|e| with_path(e, source))?;
        if !input.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a regular file", source.display()),
            ));
        }
        let temp = temp_name();
        let written = (|| {
            let mut out = parent.create_file(&temp, 0o600)?;
            let bytes = io::copy(&mut input, &mut out).map_err(|e| with_path(e, source))?;
            if let Some((uid, gid)) = opts.owner {
                // SAFETY: fchown on a descriptor we own.
                check(unsafe { libc::fchown(out.as_raw_fd(), uid, gid) })?;
            }
            chmod_fd(out.as_fd(), mode & 0o777)?;
            if opts.sync {
                out.sync_all()?;
            }
            Ok::<u64, io::Error>(bytes)
        })();
        let bytes = match written {
            Ok(b) => b,
            Err(e) => {
                let _ = parent.unlink_at(&temp);
                return Err(with_path(e, &parent.display(name)));
            }
        };
        parent
            .place(&temp, name, opts)
            .map(|placed| placed.then_some(bytes))
    }

    /// Copies the symlink `source` (its text) into this tree as `rel`.
    fn copy_link_in(
        &self,
        source: &Path,
        rel: &Path,
        opts: &CopyOptions<'_>,
    ) -> io::Result<Option<u64>> {
        if opts.existing == Existing::Keep && exists(self, rel)? {
            return Ok(None);
        }
        let target = std::fs::read_link(source).map_err(|e| with_path(e, source))?;
        let temp = temp_name();
        self.symlink_at(&target, &temp)?;
        if let Some((uid, gid)) = opts.owner
            && let Err(e) = self.chown_at(&temp, Some(uid), Some(gid))
        {
            let _ = self.unlink_at(&temp);
            return Err(e);
        }
        self.place(&temp, rel, opts)
            .map(|placed| placed.then_some(0))
    }

    /// Renames a finished temporary entry to `name`; `false` when [`Existing::Keep`] found
    /// the name taken meanwhile. The temporary entry is removed on failure.
    fn place(&self, temp: &Path, name: &Path, opts: &CopyOptions<'_>) -> io::Result<bool> {
        let result = self.rename_at(temp, name, opts.existing == Existing::Replace);
        if !matches!(result, Ok(true)) {
            let _ = self.unlink_at(temp);
        }
        result
    }
}

/// The destination directory of the frame on top, creating it (and pending ancestors) on
/// first use. `None` when a non-directory holds the name and it is kept.
fn ensure_dest<'s>(stack: &'s mut [Frame], opts: &CopyOptions<'_>) -> io::Result<Option<&'s Dir>> {
    for i in 1..stack.len() {
        if !matches!(stack[i].dest, Dest::Pending) {
            continue;
        }
        let (before, rest) = stack.split_at_mut(i);
        let frame = &mut rest[0];
        frame.dest = match &before[i - 1].dest {
            Dest::Open(parent) => open_or_make(parent, frame, opts)?,
            _ => Dest::Blocked,
        };
    }
    Ok(match &stack.last().expect("non-empty").dest {
        Dest::Open(dir) => Some(dir),
        _ => None,
    })
}

fn open_or_make(parent: &Dir, frame: &mut Frame, opts: &CopyOptions<'_>) -> io::Result<Dest> {
    let name = frame.rel.file_name().expect("a named subdirectory");
    let cname = cstring(name)?;
    let mut created = parent.mkdir_name(&cname, 0o755)?;
    if !created {
        let st = parent.stat_at(name)?;
        if !st.is_dir() {
            if opts.existing == Existing::Keep {
                return Ok(Dest::Blocked);
            }
            // A file or a link (planted by an earlier build in a reused workspace) where the
            // source has a directory: remove the entry itself, then make the directory.
            parent.unlink_at(name)?;
            created = parent.mkdir_name(&cname, 0o755)?;
        }
    }
    let dir = match parent.open_dir(name) {
        Err(e) if super::is_link_refused(&e) && opts.existing == Existing::Keep => {
            return Ok(Dest::Blocked);
        }
        Err(e) if super::is_link_refused(&e) => {
            return Err(link_refused(&parent.display(Path::new(name))));
        }
        other => other?,
    };
    if created && let Some((uid, gid)) = opts.owner {
        dir.chown_self(Some(uid), Some(gid))?;
    }
    frame.created = created;
    Ok(Dest::Open(dir))
}

fn exists(dir: &Dir, name: &Path) -> io::Result<bool> {
    match dir.stat_at(name) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn sorted_names(dir: &Path) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for item in std::fs::read_dir(dir).map_err(|e| with_path(e, dir))? {
        names.push(item.map_err(|e| with_path(e, dir))?.file_name());
    }
    names.sort();
    Ok(names)
}

/// A fresh temporary name, unique across processes and threads.
pub fn temp_name() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(format!("{TEMP_PREFIX}{}-{n}", std::process::id()))
}
