//! Directories below a root with symlinks resolved *inside* it, as a package manager assembling
//! a guest's root must: a package ships `lib -> usr/lib`, a later one ships `lib/libfoo.so`,
//! and the file belongs in `usr/lib`. `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! resolves every link as if the root directory were `/` (an absolute target or `..` never
//! leaves it; `/proc` magic links are refused), atomically in the kernel, so a link swapped
//! meanwhile cannot lead out either. Only for a root melwrap assembles; everything else uses
//! the no-symlink operations of [`Dir`]. There is no fallback without `openat2` (Linux < 5.6,
//! or a seccomp filter that refuses it): the error says so.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::resolve::{components, openat_raw, openat2_raw};
use super::{Dir, cstring, with_path};

impl Dir {
    /// Opens the existing directory `rel` (relative, no `..`) with symlinks on the way and at
    /// its end followed inside this directory, which acts as `/`.
    pub fn open_dir_in_root(&self, rel: impl AsRef<Path>) -> io::Result<Dir> {
        let rel = rel.as_ref();
        let parts = components(rel, &self.path)?;
        let joined: PathBuf = parts.iter().collect();
        self.open_in_root(&joined)
    }

    /// `mkdir -p rel` with symlinks followed inside this directory (as `/`): an existing link
    /// to a directory is used as that directory; missing directories are created with `mode`
    /// (before the umask). Returns the last, opened.
    pub fn create_dir_all_in_root(&self, rel: impl AsRef<Path>, mode: u32) -> io::Result<Dir> {
        let rel = rel.as_ref();
        let parts = components(rel, &self.path)?;
        // Usually all of it is there already: one open, the same one the walk ends with (each
        // name on the way resolves the same whether opened alone or as part of the whole).
        let whole: PathBuf = parts.iter().collect();
        if let Ok(d) = self.open_in_root(&whole) {
            return Ok(d);
        }
        let mut cur = self.try_clone()?;
        let mut so_far = PathBuf::new();
        for part in parts {
            so_far.push(part);
            cur = match self.open_in_root(&so_far) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // `cur` is the resolved parent: the name is made there, not followed.
                    cur.mkdir_name(&cstring(part)?, mode)?;
                    self.open_in_root(&so_far)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(cur)
    }

    fn open_in_root(&self, rel: &Path) -> io::Result<Dir> {
        let shown = self.path.join(rel);
        if rel.as_os_str().is_empty() {
            return self.try_clone();
        }
        let c: CString = cstring(rel).map_err(|e| with_path(e, &shown))?;
        // Readable when it may be (its mode can be set, it can be listed); `O_PATH` when only
        // search permission is granted.
        match openat2_in_root(self, &c, libc::O_RDONLY | libc::O_DIRECTORY) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                openat2_in_root(self, &c, libc::O_PATH | libc::O_DIRECTORY)
            }
            other => other,
        }
        .map(|fd| Dir::from_fd(fd, shown.clone()))
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOSYS | libc::EPERM) => io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{}: following links inside the root needs openat2 (Linux 5.6), \
                     which this system refuses: {e}",
                    shown.display()
                ),
            ),
            _ => with_path(e, &shown),
        })
    }
}

/// Directories below a root melwrap assembles, opened in the root ([`Dir::open_dir_in_root`],
/// [`Dir::create_dir_all_in_root`]) and kept open for the rest of the assembly, keyed by the
/// path they were asked for: a package's entries share few parents, and each was resolved from
/// the root again, component by component, for every entry.
///
/// Safe by construction: every descriptor here was resolved by the kernel with
/// `RESOLVE_IN_ROOT`, and a directory descriptor keeps naming the same directory whatever
/// happens to the names that led to it, so a cached one is always a directory inside the root
/// (melwrap never moves a directory out of it). What a cached descriptor can get wrong is only
/// *which* directory a path names now; the owner of the cache calls [`InRootDirs::forget_all`]
/// whenever a name that a resolution may have passed through goes away or changes kind: a
/// symlink or a directory removed (or replaced). Creating a name where none was, or replacing a
/// regular file, cannot change any cached resolution: a successful resolution only passed
/// through names that existed and were directories or symlinks. A path not cached (or any
/// path after `forget_all`) is resolved from the root again, links inside the root only.
const MAX_OPEN_DIRS: usize = 256;

#[derive(Debug)]
pub struct InRootDirs {
    root: Dir,
    open: std::collections::HashMap<PathBuf, Dir>,
}

impl InRootDirs {
    /// An empty cache for the root `root` (a second descriptor of it is kept).
    pub fn new(root: &Dir) -> io::Result<InRootDirs> {
        Ok(InRootDirs {
            root: root.try_clone()?,
            open: std::collections::HashMap::new(),
        })
    }

    /// The root itself.
    pub fn root(&self) -> &Dir {
        &self.root
    }

    /// [`Dir::open_dir_in_root`], cached.
    pub fn open(&mut self, rel: &Path) -> io::Result<&Dir> {
        if !self.open.contains_key(rel) {
            let d = self.root.open_dir_in_root(rel)?;
            self.keep(rel, d);
        }
        Ok(&self.open[rel])
    }

    /// [`Dir::create_dir_all_in_root`], cached (a cached directory is the existing one it would
    /// have found).
    pub fn create_all(&mut self, rel: &Path, mode: u32) -> io::Result<&Dir> {
        if !self.open.contains_key(rel) {
            let d = match self.in_cached_parent(rel, mode) {
                Some(d) => d,
                None => self.root.create_dir_all_in_root(rel, mode)?,
            };
            self.keep(rel, d);
        }
        Ok(&self.open[rel])
    }

    /// The last name of `rel` as a real directory (made when missing) in the cached directory
    /// of its parent, opened with no link followed: then it is exactly what `rel` resolves to
    /// in the root (the parent part resolves to the cached directory, and a plain directory name
    /// in it to itself). `None` when the parent is not cached or the name is anything else,
    /// a symlink included: that is left to the resolution in the root.
    fn in_cached_parent(&self, rel: &Path, mode: u32) -> Option<Dir> {
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return None;
        };
        let Some(std::path::Component::Normal(_)) = rel.components().next_back() else {
            return None;
        };
        let parent = if parent.as_os_str().is_empty() {
            &self.root
        } else {
            self.open.get(parent)?
        };
        let c = cstring(Path::new(name)).ok()?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let fd = match openat_raw(parent.as_fd(), &c, flags, 0) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Made in the resolved parent, then opened there (nothing else writes the root).
                parent.mkdir_name(&c, mode).ok()?;
                openat_raw(parent.as_fd(), &c, flags, 0).ok()?
            }
            Err(_) => return None,
        };
        Some(Dir::from_fd(fd, parent.path.join(name)))
    }

    fn keep(&mut self, rel: &Path, d: Dir) {
        // Bounded well below the usual 1024 open files: a large package has thousands of
        // directories, but its entries come grouped by directory.
        if self.open.len() >= MAX_OPEN_DIRS {
            self.open.clear();
        }
        self.open.insert(rel.to_path_buf(), d);
    }

    /// Drops every cached directory: a symlink or a directory below the root was removed or
    /// replaced, so any path may now resolve elsewhere.
    pub fn forget_all(&mut self) {
        self.open.clear();
    }
}

fn openat2_in_root(dir: &Dir, c: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    openat2_raw(dir.as_fd(), c, &how)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_followed_inside_the_root_only() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let root_path = t.path().join("root");
        std::fs::create_dir_all(root_path.join("usr/lib")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root_path.join("lib")).unwrap();
        std::fs::create_dir(root_path.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root_path.join("evil")).unwrap();
        std::os::unix::fs::symlink(&outside, root_path.join("dangling")).unwrap();
        std::os::unix::fs::symlink("../../..", root_path.join("up")).unwrap();
        let root = Dir::open_anchor(&root_path).unwrap();
        let d = root.create_dir_all_in_root("lib/sub", 0o755).unwrap();
        drop(d);
        assert!(root_path.join("usr/lib/sub").is_dir());
        // `evil -> /etc` is the root's etc.
        root.create_dir_all_in_root("evil/x", 0o755).unwrap();
        assert!(root_path.join("etc/x").is_dir());
        // A link to a directory the root does not have leads nowhere (never to the host's).
        assert!(root.create_dir_all_in_root("dangling/x", 0o755).is_err());
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        root.create_dir_all_in_root("up/y", 0o755).unwrap();
        assert!(root_path.join("y").is_dir());
        assert!(!t.path().join("y").exists());
        assert!(root.open_dir_in_root("../x").is_err());
    }
}
