//! [`Dir::walk`]: an iterative, descriptor-based walk of a step-writable tree.
//!
//! One open descriptor per level on an explicit stack (no recursion, no absolute path, so no
//! `PATH_MAX` limit and no stack overflow however deep a step made the tree); entries are
//! `fstatat(AT_SYMLINK_NOFOLLOW)`ed relative to their parent's descriptor and a directory is
//! entered with `openat(O_NOFOLLOW | O_DIRECTORY)`, so a symlink is never followed even when a
//! directory is swapped for one during the walk.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::ops::{chmod_fd, open_name};
use super::{Dir, Stat, cstring, fstat, fstatat_nofollow, raise_open_file_limit};

/// One entry met by [`Dir::walk`].
#[derive(Debug)]
pub struct Entry<'a> {
    parent: &'a Dir,
    name: &'a OsStr,
    rel: &'a Path,
    stat: Stat,
    depth: usize,
}

impl<'a> Entry<'a> {
    /// The opened directory holding the entry: act on the entry with `parent().chmod_at(name())`
    /// and friends, never through [`Entry::path`].
    pub fn parent(&self) -> &'a Dir {
        self.parent
    }
    /// The entry's name in its parent.
    pub fn name(&self) -> &'a OsStr {
        self.name
    }
    /// The path relative to the walked directory (it may be longer than `PATH_MAX`).
    pub fn rel(&self) -> &'a Path {
        self.rel
    }
    /// `lstat` of the entry, taken just before the visit.
    pub fn stat(&self) -> &Stat {
        &self.stat
    }
    /// 1 for the walked directory's children, 2 for their children, ...
    pub fn depth(&self) -> usize {
        self.depth
    }
    /// The display path, for messages.
    pub fn path(&self) -> PathBuf {
        self.parent.path().join(self.name)
    }
}

/// What the walk does after visiting a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Enter it (ignored for entries that are not directories).
    Descend,
    /// Do not enter it.
    Skip,
}

/// What a walk could not read.
#[derive(Debug, Default)]
pub struct WalkReport {
    /// Display paths of entries or directories that could not be read (not ours, or an I/O
    /// error); whatever is below them was not visited.
    pub unreadable: Vec<PathBuf>,
}

struct Frame {
    dir: Dir,
    rel: PathBuf,
    names: std::vec::IntoIter<OsString>,
}

impl Dir {
    /// Visits every entry below this directory, depth first, parents before their children,
    /// changing nothing. Entries that vanish during the walk are skipped; directories that
    /// cannot be read are listed in the report (see [`Dir::walk_unlocking`] to open them up).
    /// An error returned by `visit` stops the walk.
    pub fn walk(
        &self,
        visit: impl FnMut(&Entry<'_>) -> io::Result<Visit>,
    ) -> io::Result<WalkReport> {
        self.walk_with(0, visit)
    }

    /// [`Dir::walk`], except that a directory the owner cannot read or search (mode 000 left
    /// by a step) is given `u+rx` through its descriptor when it is ours (see
    /// [`Stat::is_ours`]; root needs no bits and changes none), then entered; one that stays
    /// unreadable is listed in the report. For repairs such as the set-id scrub.
    pub fn walk_unlocking(
        &self,
        visit: impl FnMut(&Entry<'_>) -> io::Result<Visit>,
    ) -> io::Result<WalkReport> {
        self.walk_with(0o500, visit)
    }

    /// The walk; `need` is the owner bits a directory of ours is given to be listed (0: none,
    /// nothing is changed).
    fn walk_with(
        &self,
        need: u32,
        mut visit: impl FnMut(&Entry<'_>) -> io::Result<Visit>,
    ) -> io::Result<WalkReport> {
        let mut report = WalkReport::default();
        let names = self.read_names()?;
        let mut stack = vec![Frame {
            dir: self.try_clone()?,
            rel: PathBuf::new(),
            names: names.into_iter(),
        }];
        loop {
            let depth = stack.len();
            let Some(top) = stack.last_mut() else { break };
            let Some(name) = top.names.next() else {
                stack.pop();
                continue;
            };
            let cname = cstring(&name)?;
            let stat = match fstatat_nofollow(top.dir.as_fd(), &cname) {
                Ok(st) => st,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(_) => {
                    report.unreadable.push(top.dir.path().join(&name));
                    continue;
                }
            };
            let rel = top.rel.join(&name);
            let entry = Entry {
                parent: &top.dir,
                name: &name,
                rel: &rel,
                stat,
                depth,
            };
            let next = visit(&entry)?;
            if !stat.is_dir() || next == Visit::Skip {
                continue;
            }
            let shown = top.dir.path().join(&name);
            let child = match open_child_dir(&top.dir, &cname, &shown, need) {
                Ok(Some(dir)) => dir,
                Ok(None) => continue,
                Err(_) => {
                    report.unreadable.push(shown);
                    continue;
                }
            };
            match child.read_names() {
                Ok(names) => stack.push(Frame {
                    dir: child,
                    rel,
                    names: names.into_iter(),
                }),
                Err(_) => report.unreadable.push(shown),
            }
        }
        Ok(report)
    }
}

/// Opens the subdirectory `name` of `parent` for listing. When its owner bits lack any of
/// `need` (0o500 to list it, 0o700 to also remove entries; 0 changes nothing) and it is ours,
/// they are added through the descriptor first. `Ok(None)` when it vanished or is no longer a
/// directory.
pub(super) fn open_child_dir(
    parent: &Dir,
    name: &CString,
    shown: &Path,
    need: u32,
) -> io::Result<Option<Dir>> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY;
    let mut raised = false;
    loop {
        match open_name(parent.as_fd(), name, flags) {
            Ok(fd) => {
                let st = fstat(fd.as_fd())?;
                let dir = Dir::from_fd(fd, shown.to_path_buf());
                // Root needs no permission bits to list or remove; leave its modes alone.
                let owner = super::effective_uid();
                if need != 0 && st.mode() & need != need && owner != 0 && st.uid() == owner {
                    dir.set_mode(st.mode() | need)?;
                }
                return Ok(Some(dir));
            }
            Err(e) if e.raw_os_error() == Some(libc::EACCES) && need != 0 => {
                let Some(st) = unlock(parent, name, need)? else {
                    return Ok(None);
                };
                if !st.is_ours() {
                    return Err(e);
                }
                // Unlocked; the next open succeeds unless the entry changed meanwhile.
                if raised {
                    return Err(e);
                }
                raised = true;
            }
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) && !raised => {
                raise_open_file_limit();
                raised = true;
            }
            Err(e) if is_gone(&e) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// The entry is no longer there as a directory: removed, or replaced by a file or a symlink.
fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
    )
}

/// Adds `need` to the owner bits of the directory `name` through an `O_PATH` descriptor when
/// it is ours; returns its metadata, `None` when it is gone or not a directory.
fn unlock(parent: &Dir, name: &CString, need: u32) -> io::Result<Option<Stat>> {
    let fd = match open_name(parent.as_fd(), name, libc::O_PATH | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) if is_gone(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let st = fstat(fd.as_fd())?;
    if st.is_ours() {
        chmod_fd(fd.as_fd(), st.mode() | need)?;
    }
    Ok(Some(st))
}
