//! Single-entry operations of a [`Dir`]: open, create, stat, chmod, chown, link, rename,
//! unlink. Each reaches its target through [`super::resolve::open_beneath`] (no symlink
//! followed anywhere) and acts on the opened descriptor, or with an `*at` call on the opened
//! parent and a single name.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use super::resolve::{components, join, open_beneath, openat_raw};
use super::{Dir, Stat, cstring, fstat, fstatat_nofollow, link_refused, with_path};

const DIR_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_DIRECTORY;
const PATH_DIR_FLAGS: libc::c_int = libc::O_PATH | libc::O_DIRECTORY;

impl Dir {
    /// Opens an existing directory below this one. A symlink anywhere in `rel` is refused.
    /// An unreadable directory is opened `O_PATH` (usable as a base, not for listing).
    pub fn open_dir(&self, rel: impl AsRef<Path>) -> io::Result<Dir> {
        let rel = rel.as_ref();
        let shown = self.display(rel);
        let fd = match open_beneath(self.as_fd(), rel, DIR_FLAGS, 0, &self.path) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                open_beneath(self.as_fd(), rel, PATH_DIR_FLAGS, 0, &self.path)?
            }
            Err(e) => return Err(dir_error(self, rel, e)),
        };
        Ok(Dir::from_fd(fd, shown))
    }

    /// Creates the directory `rel` (its parent must exist) with `mode` (before the umask) and
    /// opens it; an existing directory is opened as it is. Returns whether this call created
    /// it. A symlink at `rel` or on the way is refused, never followed.
    pub fn create_dir(&self, rel: impl AsRef<Path>, mode: u32) -> io::Result<(Dir, bool)> {
        let rel = rel.as_ref();
        let (parent, name) = self.parent_and_name(rel)?;
        let created = parent.mkdir_name(&name, mode)?;
        Ok((
            parent.open_dir(Path::new(OsStr::from_bytes(name.as_bytes())))?,
            created,
        ))
    }

    /// Creates `rel` and every missing directory on the way (each with `mode` before the
    /// umask), like `mkdir -p`, and opens the last. A symlink on the way is refused.
    pub fn create_dir_all(&self, rel: impl AsRef<Path>, mode: u32) -> io::Result<Dir> {
        let rel = rel.as_ref();
        let mut cur = self.try_clone()?;
        for part in components(rel, &self.path)? {
            let name = cstring(part)?;
            cur.mkdir_name(&name, mode)?;
            cur = cur.open_dir(Path::new(part))?;
        }
        Ok(cur)
    }

    /// Opens an existing regular file for reading. A symlink is refused; so is anything that
    /// is not a regular file (a FIFO cannot block the open: `O_NONBLOCK` is used for it).
    pub fn open_file(&self, rel: impl AsRef<Path>) -> io::Result<File> {
        let rel = rel.as_ref();
        let fd = self.open_entry(rel, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY, 0)?;
        regular_file(fd, &self.display(rel))
    }

    /// Creates a new regular file for writing with `O_CREAT | O_EXCL` (an existing name, a
    /// symlink included, is `AlreadyExists`) and permission bits `mode` before the umask.
    pub fn create_file(&self, rel: impl AsRef<Path>, mode: u32) -> io::Result<File> {
        let rel = rel.as_ref();
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
        let fd = self.open_entry(rel, flags, mode)?;
        Ok(File::from(fd))
    }

    /// Opens a regular file for reading and writing, creating it (with `mode`) when missing:
    /// for lock files. A symlink or a non-regular file at `rel` is refused.
    pub fn open_or_create_file(&self, rel: impl AsRef<Path>, mode: u32) -> io::Result<File> {
        let rel = rel.as_ref();
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_NONBLOCK | libc::O_NOCTTY;
        let fd = self.open_entry(rel, flags, mode)?;
        regular_file(fd, &self.display(rel))
    }

    /// The metadata of `rel` itself (a symlink is reported as a symlink). An empty `rel` is
    /// this directory.
    pub fn stat_at(&self, rel: impl AsRef<Path>) -> io::Result<Stat> {
        let rel = rel.as_ref();
        if components(rel, &self.path)?.is_empty() {
            return self.stat();
        }
        let (parent, name) = self.parent_and_name(rel)?;
        fstatat_nofollow(parent.as_fd(), &name).map_err(|e| with_path(e, &self.display(rel)))
    }

    /// Sets the permission bits of the regular file or directory `rel` through a descriptor
    /// (`O_PATH | O_NOFOLLOW`, then its `/proc/self/fd` entry; or `fchmod` of an
    /// `O_RDONLY | O_NOFOLLOW` descriptor where `/proc` is missing). A symlink or special file
    /// is refused. Returns the metadata it had before. See [`Dir::update_mode_at`].
    pub fn chmod_at(&self, rel: impl AsRef<Path>, mode: u32) -> io::Result<Stat> {
        self.update_mode_at(rel, |_| Some(mode))
    }

    /// The `fchmod` fallback of [`Dir::update_mode_at`] where `/proc` is not mounted: reopens
    /// `rel` for reading (its kind is known to be a file or directory, so no device is
    /// opened) and checks it is still the inode `before` describes.
    pub(super) fn chmod_reopened(&self, rel: &Path, before: &Stat, mode: u32) -> io::Result<()> {
        let shown = self.display(rel);
        let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY;
        let again = self.open_entry(rel, flags, 0)?;
        let now = fstat(again.as_fd()).map_err(|e| with_path(e, &shown))?;
        if !now.same_inode(before) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                format!("{}: replaced while being changed", shown.display()),
            ));
        }
        chmod_fd(again.as_fd(), mode).map_err(|e| with_path(e, &shown))
    }

    /// Changes the owner of `rel` itself (`fchownat(AT_SYMLINK_NOFOLLOW)`: a symlink's own
    /// owner). `None` leaves that id as it is.
    pub fn chown_at(
        &self,
        rel: impl AsRef<Path>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> io::Result<()> {
        let rel = rel.as_ref();
        let (parent, name) = self.parent_and_name(rel)?;
        chown_name(parent.as_fd(), &name, uid, gid).map_err(|e| with_path(e, &self.display(rel)))
    }

    /// Changes the owner of this directory itself, through its descriptor.
    pub fn chown_self(&self, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        chown_name(self.as_fd(), &CString::from(c""), uid, gid)
            .map_err(|e| with_path(e, &self.path))
    }

    /// Creates a symlink `rel` pointing at `target` (the link's text, not resolved here).
    pub fn symlink_at(&self, target: impl AsRef<Path>, rel: impl AsRef<Path>) -> io::Result<()> {
        let rel = rel.as_ref();
        let (parent, name) = self.parent_and_name(rel)?;
        let target = cstring(target.as_ref())?;
        // SAFETY: valid descriptor and NUL-terminated strings.
        let rc = unsafe { libc::symlinkat(target.as_ptr(), parent.as_raw_fd(), name.as_ptr()) };
        check(rc).map_err(|e| with_path(e, &self.display(rel)))
    }

    /// Reads the text of the symlink `rel`.
    pub fn read_link_at(&self, rel: impl AsRef<Path>) -> io::Result<std::path::PathBuf> {
        let rel = rel.as_ref();
        let (parent, name) = self.parent_and_name(rel)?;
        let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
        // SAFETY: valid descriptor, name, and a buffer of the length passed.
        let n = unsafe {
            libc::readlinkat(
                parent.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(with_path(io::Error::last_os_error(), &self.display(rel)));
        }
        buf.truncate(n as usize);
        Ok(OsString::from_vec(buf).into())
    }

    /// Renames `from` to `to`, both below this directory. With `replace` false the rename
    /// fails quietly (returns `false`) when `to` exists (`RENAME_NOREPLACE`, or `link` +
    /// `unlink` on filesystems without it); with `replace` true an existing non-directory
    /// `to` (a symlink included: the link itself) is replaced atomically.
    pub fn rename_at(
        &self,
        from: impl AsRef<Path>,
        to: impl AsRef<Path>,
        replace: bool,
    ) -> io::Result<bool> {
        let (from, to) = (from.as_ref(), to.as_ref());
        let (fp, fname) = self.parent_and_name(from)?;
        let (tp, tname) = self.parent_and_name(to)?;
        let shown = self.display(to);
        let flags = if replace { 0 } else { libc::RENAME_NOREPLACE };
        // SAFETY: valid descriptors and NUL-terminated names.
        let rc = unsafe {
            libc::renameat2(
                fp.as_raw_fd(),
                fname.as_ptr(),
                tp.as_raw_fd(),
                tname.as_ptr(),
                flags,
            )
        };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EEXIST) if !replace => Ok(false),
            Some(libc::EINVAL | libc::ENOSYS) if !replace => {
                // SAFETY: as above; linkat without AT_SYMLINK_FOLLOW links the entry itself.
                let rc = unsafe {
                    libc::linkat(
                        fp.as_raw_fd(),
                        fname.as_ptr(),
                        tp.as_raw_fd(),
                        tname.as_ptr(),
                        0,
                    )
                };
                if rc != 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() == Some(libc::EEXIST) {
                        return Ok(false);
                    }
                    return Err(with_path(e, &shown));
                }
                unlink_name(fp.as_fd(), &fname, false)
                    .map_err(|e| with_path(e, &self.display(from)))?;
                Ok(true)
            }
            _ => Err(with_path(err, &shown)),
        }
    }

    /// Removes the non-directory entry `rel` (a symlink is removed itself).
    pub fn unlink_at(&self, rel: impl AsRef<Path>) -> io::Result<()> {
        let rel = rel.as_ref();
        let (parent, name) = self.parent_and_name(rel)?;
        unlink_name(parent.as_fd(), &name, false).map_err(|e| with_path(e, &self.display(rel)))
    }

    /// Removes the empty directory `rel`.
    pub fn remove_empty_dir_at(&self, rel: impl AsRef<Path>) -> io::Result<()> {
        let rel = rel.as_ref();
        let (parent, name) = self.parent_and_name(rel)?;
        unlink_name(parent.as_fd(), &name, true).map_err(|e| with_path(e, &self.display(rel)))
    }

    /// The names in this directory (without `.` and `..`), in directory order.
    pub fn read_names(&self) -> io::Result<Vec<OsString>> {
        read_names(self.as_fd()).map_err(|e| with_path(e, &self.path))
    }

    /// Opens `rel` (any kind) with `flags`; `O_NOFOLLOW` is implied.
    pub(super) fn open_entry(
        &self,
        rel: &Path,
        flags: libc::c_int,
        mode: u32,
    ) -> io::Result<OwnedFd> {
        open_beneath(self.as_fd(), rel, flags, mode, &self.path)
            .map_err(|e| dir_error(self, rel, e))
    }

    /// The opened parent directory of `rel` (through no symlink) and `rel`'s last name.
    pub(super) fn parent_and_name(&self, rel: &Path) -> io::Result<(ParentDir<'_>, CString)> {
        let parts = components(rel, &self.path)?;
        let Some((last, dirs)) = parts.split_last() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: an empty path names no entry", self.path.display()),
            ));
        };
        let parent_rel: std::path::PathBuf = dirs.iter().collect();
        let parent = if dirs.is_empty() {
            // A name in this directory: no second descriptor needed.
            ParentDir::This(self)
        } else {
            let fd = open_beneath(self.as_fd(), &parent_rel, PATH_DIR_FLAGS, 0, &self.path)?;
            ParentDir::Opened(Dir::from_fd(fd, self.display(&parent_rel)))
        };
        Ok((parent, cstring(last)?))
    }

    /// `mkdirat` of one name; `Ok(false)` when something already has the name (the open that
    /// follows refuses it when it is not a directory).
    pub(super) fn mkdir_name(&self, name: &CString, mode: u32) -> io::Result<bool> {
        // SAFETY: valid descriptor and NUL-terminated name.
        let rc = unsafe { libc::mkdirat(self.as_raw_fd(), name.as_ptr(), mode) };
        if rc == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EEXIST) {
            return Ok(false);
        }
        let shown = self.path.join(std::ffi::OsStr::from_bytes(name.as_bytes()));
        Err(with_path(e, &shown))
    }
}

/// A directory open that failed with ENOTDIR on a symlink is reported as the link it is.
fn dir_error(dir: &Dir, rel: &Path, e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::NotADirectory
        && let Ok(st) = dir.stat_at(rel)
        && st.is_symlink()
    {
        return link_refused(&join(&dir.path, rel));
    }
    e
}

fn regular_file(fd: OwnedFd, shown: &Path) -> io::Result<File> {
    let st = fstat(fd.as_fd()).map_err(|e| with_path(e, shown))?;
    if !st.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a regular file", shown.display()),
        ));
    }
    // Back to blocking I/O for the caller (O_NONBLOCK only guarded the open).
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if fl >= 0 {
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
    }
    Ok(File::from(fd))
}

/// Sets the mode of whatever `fd` refers to: `fchmod` for an ordinary descriptor, the
/// `/proc/self/fd/N` magic link for an `O_PATH` one (the caller has checked it is not a
/// symlink, which chmod through that entry would follow).
pub(super) fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: fcntl/fchmod/chmod on a descriptor we hold and a NUL-terminated path.
    unsafe {
        // Tried first (one call for the usual readable descriptor); an `O_PATH` one answers
        // EBADF and goes through its `/proc/self/fd` entry.
        if libc::fchmod(fd.as_raw_fd(), mode) == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if err.raw_os_error() != Some(libc::EBADF) || fl < 0 || fl & libc::O_PATH == 0 {
            return Err(err);
        }
        let proc_path =
            CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL in a number");
        check(libc::chmod(proc_path.as_ptr(), mode))
    }
}

pub(super) fn chown_name(
    dir: BorrowedFd<'_>,
    name: &CString,
    uid: Option<u32>,
    gid: Option<u32>,
) -> io::Result<()> {
    let flags = if name.as_bytes().is_empty() {
        libc::AT_EMPTY_PATH
    } else {
        libc::AT_SYMLINK_NOFOLLOW
    };
    // SAFETY: valid descriptor and NUL-terminated name; -1 (as uid_t) keeps an id.
    let rc = unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid.unwrap_or(u32::MAX),
            gid.unwrap_or(u32::MAX),
            flags,
        )
    };
    check(rc)
}

pub(super) fn unlink_name(dir: BorrowedFd<'_>, name: &CString, is_dir: bool) -> io::Result<()> {
    let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: valid descriptor and NUL-terminated name.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) })
}

/// Lists a directory through a duplicate of its descriptor (`fdopendir` takes ownership of
/// the one it is given, and the listing must start at the beginning).
pub(super) fn read_names(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that fdopendir then owns; closedir
    // closes it. readdir's entries are valid until the next readdir call.
    unsafe {
        let dup = libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0);
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        let stream = libc::fdopendir(dup);
        if stream.is_null() {
            let e = io::Error::last_os_error();
            libc::close(dup);
            return Err(e);
        }
        libc::rewinddir(stream);
        let mut names = Vec::new();
        loop {
            *libc::__errno_location() = 0;
            let ent = libc::readdir64(stream);
            if ent.is_null() {
                let errno = *libc::__errno_location();
                libc::closedir(stream);
                if errno != 0 {
                    return Err(io::Error::from_raw_os_error(errno));
                }
                return Ok(names);
            }
            let name = std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()).to_bytes();
            if name != b"." && name != b".." {
                names.push(OsString::from_vec(name.to_vec()));
            }
        }
    }
}

/// Opens one name below an opened directory, no symlink followed.
pub(super) fn open_name(
    dir: BorrowedFd<'_>,
    name: &CString,
    flags: libc::c_int,
) -> io::Result<OwnedFd> {
    openat_raw(dir, name, flags | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0)
}

pub(super) fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The parent directory [`Dir::parent_and_name`] found: the directory itself, or one it opened.
pub(super) enum ParentDir<'a> {
    This(&'a Dir),
    Opened(Dir),
}

impl std::ops::Deref for ParentDir<'_> {
    type Target = Dir;
    fn deref(&self) -> &Dir {
        match self {
            ParentDir::This(d) => d,
            ParentDir::Opened(d) => d,
        }
    }
}
