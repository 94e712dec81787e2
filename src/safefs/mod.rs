//! Every host-side operation on a tree a build step could have written: the workspace,
//! `melange-out`, the cache, kept workspaces and a reused `--workspace-dir`.
//!
//! A step controls what such a tree holds, and (with a concurrent build, or a process it left
//! behind in a shared cache) may even change it while melwrap works on it. A path-based
//! operation there (`chmod(path)`, `open(path, O_CREAT)`, `read_dir(path)` recursion) follows
//! whatever symlink the step put in the middle or at the end of the path, so host root or the
//! user could be made to chmod, create or read a host file. This module never resolves a path
//! below its anchor through a symlink:
//!
//! - A [`Dir`] holds an open directory descriptor. The anchor is opened once from a path the
//!   user or melwrap chose ([`Dir::open_anchor`]); everything below is reached relative to a
//!   descriptor with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`,
//!   or, where the kernel lacks `openat2` or a seccomp filter refuses it, one
//!   `openat(O_NOFOLLOW)` per component. A symlink where a directory or file is needed is an
//!   error naming the path: "is a symbolic link; refusing to follow it".
//! - Metadata comes from `fstatat(AT_SYMLINK_NOFOLLOW)` or `fstat` of the opened descriptor;
//!   modes change through the descriptor (an `O_PATH` descriptor's `/proc/self/fd` entry, or
//!   `fchmod`), owners through `fchownat(AT_SYMLINK_NOFOLLOW)`; nothing is chmodded by path.
//! - [`Dir::walk`] is iterative over a stack of directory descriptors: no absolute paths, so
//!   no `PATH_MAX` limit and no stack overflow on deep trees; a directory its owner cannot
//!   read (mode 000, set by a step) is made readable through its descriptor and walked.
//!
//! Operations on top of the walk: [`Dir::clear_set_id_bits`], [`Dir::update_mode_at`],
//! [`Dir::chown_tree`], [`Dir::remove_tree`] / [`Dir::remove_contents`], and
//! [`Dir::copy_tree_in`] (a host tree into a step-writable one, entries created with
//! `O_EXCL` under a temporary name and renamed into place, never written through a link).
//!
//! Paths passed to the methods are relative (`a/b/c`); `..` and absolute paths are refused.
//! Errors are [`std::io::Error`]s whose kind is the system's (`NotFound`, `AlreadyExists`…)
//! and whose message names the full display path.

mod copy;
mod in_root;
mod ops;
mod resolve;
mod tree;
mod walk;

#[cfg(test)]
mod tests;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub use copy::{CopyFilter, CopyOptions, CopyStats, Existing, temp_name};
pub use in_root::InRootDirs;
pub use tree::{ScrubReport, WalkReport};
pub use walk::{Entry, Visit};

/// Prefix of the temporary names this module (and the cache) create before renaming an entry
/// into place; a walk of the cache treats them as in-flight, not content.
pub const TEMP_PREFIX: &str = ".melwrap-tmp-";

/// An open directory inside (or at the root of) a step-writable tree.
///
/// The descriptor is opened `O_RDONLY | O_DIRECTORY | O_CLOEXEC`, or `O_PATH` when the
/// directory is not readable (it can still be the base of relative operations then). The path
/// is for messages only: no operation uses it.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// Opens the root of a tree from a path the user or melwrap chose (the cache dir, the
    /// workspace root). Symlinks in this path are followed: it is not step-written. Everything
    /// below is then reached through this descriptor.
    pub fn open_anchor(path: &Path) -> io::Result<Dir> {
        let c = cstring(path)?;
        // SAFETY: a valid NUL-terminated path; the returned descriptor is owned below.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(with_path(io::Error::last_os_error(), path));
        }
        Ok(Dir {
            // SAFETY: open returned a fresh descriptor we now own.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            path: path.to_path_buf(),
        })
    }

    /// Creates the anchor directory (and missing parents, all with `mode` before the umask)
    /// when it does not exist, then opens it like [`Dir::open_anchor`]. Returns the directory
    /// and whether this call created its last component.
    pub fn create_anchor(path: &Path, mode: u32) -> io::Result<(Dir, bool)> {
        use std::os::unix::fs::DirBuilderExt;
        let created = match std::fs::DirBuilder::new().mode(mode).create(path) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(mode)
                    .create(path)
                    .map_err(|e| with_path(e, path))?;
                true
            }
            Err(e) => return Err(with_path(e, path)),
        };
        Ok((Dir::open_anchor(path)?, created))
    }

    /// The display path (anchor path joined with the relative path used to reach this one).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A second descriptor for the same directory.
    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir {
            fd: self.fd.try_clone()?,
            path: self.path.clone(),
        })
    }

    /// `fstat` of the directory itself.
    pub fn stat(&self) -> io::Result<Stat> {
        fstat(self.fd.as_fd()).map_err(|e| with_path(e, &self.path))
    }

    /// Sets the directory's own permission bits through its descriptor.
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        ops::chmod_fd(self.fd.as_fd(), mode).map_err(|e| with_path(e, &self.path))
    }

    /// Makes the directory owner-only (clears the group and other bits) when a step loosened
    /// it. Returns the mode it had when it changed it, `None` when it was already owner-only.
    pub fn ensure_owner_only(&self) -> io::Result<Option<u32>> {
        let mode = self.stat()?.mode();
        if mode & 0o077 == 0 {
            return Ok(None);
        }
        self.set_mode(mode & 0o7700)?;
        Ok(Some(mode))
    }

    /// Flushes the filesystem holding the directory (`syncfs(2)`): one call after a large copy
    /// instead of an fsync per file.
    pub fn sync_filesystem(&self) -> io::Result<()> {
        // SAFETY: syncfs on a descriptor we own.
        if unsafe { libc::syncfs(self.fd.as_raw_fd()) } != 0 {
            return Err(with_path(io::Error::last_os_error(), &self.path));
        }
        Ok(())
    }

    fn from_fd(fd: OwnedFd, path: PathBuf) -> Dir {
        Dir { fd, path }
    }

    fn display(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }
}

impl AsRawFd for Dir {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// What a directory entry is (from `lstat`: a symlink is itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// Sockets, FIFOs, devices.
    Other,
}

/// The `stat` of an entry, taken without following a symlink.
#[derive(Clone, Copy)]
pub struct Stat(libc::stat);

impl std::fmt::Debug for Stat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stat")
            .field("kind", &self.kind())
            .field("mode", &format_args!("{:o}", self.mode()))
            .field("uid", &self.uid())
            .field("size", &self.size())
            .finish()
    }
}

impl Stat {
    /// The `stat` buffer itself, for callers that read fields this type has no method for.
    pub(crate) fn into_raw(self) -> libc::stat {
        self.0
    }

    pub fn kind(&self) -> Kind {
        match self.0.st_mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            _ => Kind::Other,
        }
    }
    pub fn is_file(&self) -> bool {
        self.kind() == Kind::File
    }
    pub fn is_dir(&self) -> bool {
        self.kind() == Kind::Dir
    }
    pub fn is_symlink(&self) -> bool {
        self.kind() == Kind::Symlink
    }
    /// Permission bits with setuid, setgid and sticky (`st_mode & 0o7777`).
    pub fn mode(&self) -> u32 {
        self.0.st_mode & 0o7777
    }
    pub fn uid(&self) -> u32 {
        self.0.st_uid
    }
    pub fn gid(&self) -> u32 {
        self.0.st_gid
    }
    /// Apparent size in bytes.
    pub fn size(&self) -> u64 {
        self.0.st_size as u64
    }
    pub fn mtime(&self) -> i64 {
        self.0.st_mtime
    }
    pub fn atime(&self) -> i64 {
        self.0.st_atime
    }
    /// Modification time, nanoseconds since the epoch.
    pub fn mtime_ns(&self) -> i128 {
        self.0.st_mtime as i128 * 1_000_000_000 + self.0.st_mtime_nsec as i128
    }
    /// Status-change time (any write, chmod, chown, link), nanoseconds since the epoch.
    pub fn ctime_ns(&self) -> i128 {
        self.0.st_ctime as i128 * 1_000_000_000 + self.0.st_ctime_nsec as i128
    }
    /// Space allocated on disk, in bytes.
    pub fn allocated(&self) -> u64 {
        self.0.st_blocks as u64 * 512
    }
    pub fn dev(&self) -> u64 {
        self.0.st_dev
    }
    pub fn ino(&self) -> u64 {
        self.0.st_ino
    }
    pub fn nlink(&self) -> u64 {
        self.0.st_nlink
    }
    /// Whether the running process owns the entry or is root: the owner test every repair
    /// (chmod of an unreadable directory, set-id scrub) applies before changing anything.
    pub fn is_ours(&self) -> bool {
        let euid = effective_uid();
        euid == 0 || self.uid() == euid
    }
    fn same_inode(&self, other: &Stat) -> bool {
        self.dev() == other.dev() && self.ino() == other.ino()
    }
}

pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn fstat(fd: BorrowedFd<'_>) -> io::Result<Stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a full stat into the buffer on success.
    if unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful call.
    Ok(Stat(unsafe { st.assume_init() }))
}

/// `fstatat(AT_SYMLINK_NOFOLLOW)`: the entry `name` of `dir` itself, never a link's target.
pub(crate) fn fstatat_nofollow(dir: BorrowedFd<'_>, name: &CString) -> io::Result<Stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid descriptor and NUL-terminated name; fstatat fills the buffer on success.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful call.
    Ok(Stat(unsafe { st.assume_init() }))
}

fn cstring(p: impl AsRef<std::ffi::OsStr>) -> io::Result<CString> {
    CString::new(p.as_ref().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: path contains a NUL byte",
                Path::new(p.as_ref()).display()
            ),
        )
    })
}

/// Adds the path to an error's message, keeping its kind.
pub(crate) fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The error for a symlink met where a directory or file was needed.
#[derive(Debug)]
struct LinkRefused(PathBuf);

impl std::fmt::Display for LinkRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: is a symbolic link; refusing to follow it",
            self.0.display()
        )
    }
}

impl std::error::Error for LinkRefused {}

fn link_refused(path: &Path) -> io::Error {
    io::Error::other(LinkRefused(path.to_path_buf()))
}

/// Whether an error says a symlink was met where a directory or file was needed ("is a
/// symbolic link; refusing to follow it").
pub fn is_link_refused(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<LinkRefused>())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit once per process: a walk keeps one
/// descriptor per directory level open, and a step can make the tree deep.
pub(crate) fn raise_open_file_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a valid struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    });
}
