//! Whole-tree operations built on [`Dir::walk`] and descriptor-relative calls: the set-id
//! scrub, owner changes, mode updates and removal.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::ops::{chmod_fd, chown_name, unlink_name};
use super::walk::open_child_dir;
use super::{Dir, Kind, Stat, Visit, cstring, fstat, fstatat_nofollow, link_refused, with_path};

pub use super::walk::WalkReport;

/// What [`Dir::clear_set_id_bits`] did.
#[derive(Debug, Default)]
pub struct ScrubReport {
    /// Display paths of the files whose setuid/setgid bits were cleared.
    pub cleared: Vec<PathBuf>,
    /// Set-id files that are not ours (an ordinary user cannot change them; a step run by
    /// that user cannot have made them either).
    pub not_ours: Vec<PathBuf>,
    /// Directories that could not be read, so set-id files below them may remain.
    pub unreadable: Vec<PathBuf>,
}

impl Dir {
    /// Changes the permission bits of the regular file or directory `rel` to what `update`
    /// returns for its current metadata (`None`: leave it). The metadata is taken from the
    /// opened `O_PATH | O_NOFOLLOW` descriptor that is then chmodded, so the decision and the
    /// change concern the same inode. A symlink is refused. Returns the metadata before.
    pub fn update_mode_at(
        &self,
        rel: impl AsRef<Path>,
        update: impl FnOnce(&Stat) -> Option<u32>,
    ) -> io::Result<Stat> {
        let rel = rel.as_ref();
        let shown = self.display(rel);
        let fd = self.open_entry(rel, libc::O_PATH, 0)?;
        let before = fstat(fd.as_fd()).map_err(|e| with_path(e, &shown))?;
        if before.is_symlink() {
            return Err(link_refused(&shown));
        }
        if let Some(mode) = update(&before) {
            if !matches!(before.kind(), Kind::File | Kind::Dir) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: not a regular file or directory", shown.display()),
                ));
            }
            match chmod_fd(fd.as_fd(), mode) {
                Ok(()) => {}
                // No /proc to chmod an O_PATH descriptor through: the fchmod fallback.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    self.chmod_reopened(rel, &before, mode)?;
                }
                Err(e) => return Err(with_path(e, &shown)),
            }
        }
        Ok(before)
    }

    /// Clears the setuid and setgid bits of every regular file below this directory, through
    /// descriptors (see [`Dir::update_mode_at`]). As root every such file is changed; as an
    /// ordinary user only the user's own (a step run by that user can create no other), the
    /// rest are listed in [`ScrubReport::not_ours`]. Unreadable directories that are ours are
    /// opened up (`u+rx`) and scrubbed too. Directories keep their setgid bit (it only
    /// chooses the group of new files).
    pub fn clear_set_id_bits(&self) -> io::Result<ScrubReport> {
        let mut report = ScrubReport::default();
        let walked = self.walk_unlocking(|entry| {
            let st = entry.stat();
            if !st.is_file() || st.mode() & 0o6000 == 0 {
                return Ok(Visit::Descend);
            }
            if !st.is_ours() {
                report.not_ours.push(entry.path());
                return Ok(Visit::Descend);
            }
            let mut changed = false;
            let result = entry.parent().update_mode_at(entry.name(), |now| {
                let set_id = now.is_file() && now.mode() & 0o6000 != 0;
                changed = set_id && now.is_ours();
                changed.then_some(now.mode() & 0o1777)
            });
            match result {
                Ok(_) if changed => report.cleared.push(entry.path()),
                Ok(_) => {}
                // Gone, or replaced by a link or a directory: nothing set-id remains here
                // (a directory put here is walked like any other).
                Err(e) if e.kind() == io::ErrorKind::NotFound || super::is_link_refused(&e) => {}
                Err(e) => return Err(e),
            }
            Ok(Visit::Descend)
        })?;
        report.unreadable = walked.unreadable;
        Ok(report)
    }

    /// Changes the owner of this directory and of everything below it (symlinks themselves,
    /// never their targets) through descriptors: for handing a tree to the ids a step runs
    /// as, or back. Entries they already own are left alone: `chown` clears the setuid and
    /// setgid bits, which would strip them from files an earlier step made (an earlier
    /// package's destdir is handed over again before each later package's steps).
    pub fn chown_tree(&self, uid: u32, gid: u32) -> io::Result<WalkReport> {
        self.chown_self(Some(uid), Some(gid))?;
        self.walk(|entry| {
            if entry.stat().uid() == uid && entry.stat().gid() == gid {
                return Ok(Visit::Descend);
            }
            let name = cstring(entry.name())?;
            match chown_name(entry.parent().as_fd(), &name, Some(uid), Some(gid)) {
                Ok(()) => Ok(Visit::Descend),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Visit::Skip),
                Err(e) => Err(with_path(e, &entry.path())),
            }
        })
    }

    /// Removes `rel` and, for a directory, everything below it, through descriptors
    /// (`unlinkat` relative to each opened directory; a symlink is removed, never followed).
    /// Directories of ours that a step made read-only are given `u+rwx` first. `rel` must not
    /// be empty; see [`Dir::remove_contents`] for this directory's own entries.
    pub fn remove_tree(&self, rel: impl AsRef<Path>) -> io::Result<()> {
        let rel = rel.as_ref();
        let (parent, name) = self.parent_and_name(rel)?;
        let shown = self.display(rel);
        let st = fstatat_nofollow(parent.as_fd(), &name).map_err(|e| with_path(e, &shown))?;
        if !st.is_dir() {
            return unlink_name(parent.as_fd(), &name, false).map_err(|e| with_path(e, &shown));
        }
        ensure_writable(&parent)?;
        if let Some(dir) = open_child_dir(&parent, &name, &shown, 0o700)? {
            dir.remove_contents()?;
        }
        match unlink_name(parent.as_fd(), &name, true) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(with_path(e, &shown)),
            _ => Ok(()),
        }
    }

    /// Removes everything below this directory (the directory itself stays), like
    /// [`Dir::remove_tree`].
    pub fn remove_contents(&self) -> io::Result<()> {
        struct Frame {
            dir: Dir,
            names: std::vec::IntoIter<OsString>,
            name_in_parent: Option<CString>,
        }
        ensure_writable(self)?;
        let mut stack = vec![Frame {
            dir: self.try_clone()?,
            names: self.read_names()?.into_iter(),
            name_in_parent: None,
        }];
        while let Some(top) = stack.last_mut() {
            let Some(name) = top.names.next() else {
                let done = stack.pop().expect("non-empty");
                if let (Some(name), Some(parent)) = (done.name_in_parent, stack.last()) {
                    match unlink_name(parent.dir.as_fd(), &name, true) {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => {
                            return Err(with_path(e, done.dir.path()));
                        }
                        _ => {}
                    }
                }
                continue;
            };
            let cname = cstring(&name)?;
            let shown = top.dir.path().join(&name);
            let st = match fstatat_nofollow(top.dir.as_fd(), &cname) {
                Ok(st) => st,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(with_path(e, &shown)),
            };
            if st.is_dir() {
                if let Some(child) = open_child_dir(&top.dir, &cname, &shown, 0o700)? {
                    let names = child.read_names()?.into_iter();
                    stack.push(Frame {
                        dir: child,
                        names,
                        name_in_parent: Some(cname),
                    });
                }
                continue;
            }
            match unlink_name(top.dir.as_fd(), &cname, false) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(with_path(e, &shown)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Gives an opened directory of ours `u+rwx` when it lacks them, so its entries can be
/// removed.
fn ensure_writable(dir: &Dir) -> io::Result<()> {
    let st = dir.stat()?;
    let owner = super::effective_uid();
    if st.mode() & 0o700 != 0o700 && owner != 0 && st.uid() == owner {
        dir.set_mode(st.mode() | 0o700)?;
    }
    Ok(())
}
