//! Walking a destdir into the ordered list of entries a data section holds.
//!
//! The order is Go's `fs.WalkDir` (melange `pkg/tarball/write.go`): depth first, each
//! directory's children sorted by name bytes, the root itself left out. So `a`, `a/b`, `a.txt`
//! (not the plain path sort, which would put `a.txt` before `a/b`).
//!
//! A build step wrote the destdir and may have planted a symlink where a directory was (to
//! `/etc`, or the user's `~/.ssh`): nothing here resolves a path. The walk holds a descriptor
//! per directory level ([`crate::safefs::Dir`]), stats each entry with
//! `fstatat(AT_SYMLINK_NOFOLLOW)` relative to its parent, enters a directory with
//! `openat(O_NOFOLLOW | O_DIRECTORY)` and checks the opened inode is the one it stat'ed; a
//! symlink is recorded as a symlink (`readlinkat`), never followed. [`Contents`] later opens
//! each regular file the same way, relative to its parent's descriptor, and refuses it when
//! it is no longer the inode the walk saw.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use color_eyre::eyre::{self, WrapErr};

use super::tar::Kind;
use crate::safefs::{Dir, Stat, fstatat_nofollow};

/// One path under the destdir, with what the tar header needs.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative name inside the package (`usr/bin/x`).
    pub name: Vec<u8>,
    pub kind: Kind,
    /// Permission and special bits (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Content size for regular files that are not hard links to an earlier entry.
    pub size: u64,
    /// Extended attributes worth keeping, for directories (a regular file's are read from
    /// the descriptor its contents are read from, see [`Contents::open`]).
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Index of the parent directory's entry; `None` for the destdir's own children.
    pub parent: Option<usize>,
    /// Device and inode the walk saw, so a later open can tell the entry was replaced.
    pub dev: u64,
    pub ino: u64,
}

impl Entry {
    /// The last component of the name.
    pub fn base_name(&self) -> &[u8] {
        match self.name.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.name[i + 1..],
            None => &self.name,
        }
    }
}

/// Extended attributes melange leaves out (`pkg/tarball` via apko's xattr filter): they
/// describe the build host, not the package.
fn ignored_xattr(name: &str) -> bool {
    matches!(
        name,
        "security.selinux"
            | "security.csm"
            | "com.apple.provenance"
            | "com.docker.grpcfuse.ownership"
    ) || name.starts_with("trusted.SGI_ACL_")
}

/// The whole walk: entries in order, plus the installed size.
#[derive(Debug, Default)]
pub struct Walk {
    pub entries: Vec<Entry>,
    /// Sum of every entry's size (root included), see [`installed_size_of`].
    pub installed_size: u64,
    /// Bytes of regular-file content that will be read (for progress).
    pub content_bytes: u64,
}

/// Directory entries count as this many bytes in the installed size, whatever the host
/// filesystem reports (ext4 says 4096 until a directory grows, tmpfs and btrfs say something
/// else): melange sums the host's `st_size` (semantics doc 7.5), which makes `size` depend on
/// where the build ran. A fixed value keeps packages byte-identical across workspaces.
pub const DIR_SIZE: u64 = 4096;

fn installed_size_of(kind: &Kind, st: &libc::stat) -> u64 {
    match kind {
        Kind::Dir => DIR_SIZE,
        // Hard links count their full size again, as melange's `fi.Size()` does.
        _ => st.st_size as u64,
    }
}

/// Opens a destdir given by path (a caller-chosen path, not step-written): its last component
/// must be a directory, not a symlink to one.
pub fn open_destdir(root: &Path) -> eyre::Result<Dir> {
    let meta = fs_err::symlink_metadata(root)?;
    if !meta.is_dir() {
        return Err(crate::diag::Diagnostic::new(root, "is not a directory")
            .hint("pass the package's destdir (melange-out/<name>)")
            .into());
    }
    let opened = match (root.parent(), root.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            Dir::open_anchor(parent).and_then(|p| p.open_dir(name))
        }
        _ => Dir::open_anchor(root),
    };
    opened.map_err(link_or_io)
}

fn link_or_io(e: io::Error) -> eyre::Report {
    if crate::safefs::is_link_refused(&e) {
        link_refused(&e)
    } else {
        eyre::Report::new(e)
    }
}

/// The error for a symlink met where the package needs a directory (`e` names it).
pub fn link_refused(e: &io::Error) -> eyre::Report {
    eyre::eyre!(
        "{e}\n  hint: a build step replaced a directory of the package with a symbolic link; \
         packages are read from real directories only, so fix the step that made it"
    )
}

struct Frame {
    dir: Dir,
    parent: Option<usize>,
    prefix: Vec<u8>,
    names: std::vec::IntoIter<Vec<u8>>,
}

/// Walk the destdir `root`, opened by the caller (see [`open_destdir`]).
pub fn walk(root: &Dir) -> eyre::Result<Walk> {
    let mut w = Walk {
        installed_size: DIR_SIZE,
        ..Walk::default()
    };
    let mut seen: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let mut stack = vec![Frame {
        dir: root.try_clone()?,
        parent: None,
        prefix: Vec::new(),
        names: sorted_names(root)?.into_iter(),
    }];
    while let Some(top) = stack.last_mut() {
        let Some(base) = top.names.next() else {
            stack.pop();
            continue;
        };
        let shown = top.dir.path().join(OsStr::from_bytes(&base));
        let cname = CString::new(base.clone()).expect("directory entries hold no NUL");
        let st = fstatat_nofollow(top.dir.as_fd(), &cname)
            .map(Stat::into_raw)
            .wrap_err_with(|| format!("cannot stat {}", shown.display()))?;
        let mut name = top.prefix.clone();
        if !name.is_empty() {
            name.push(b'/');
        }
        name.extend_from_slice(&base);
        let mut size = 0;
        let mut xattrs = BTreeMap::new();
        let mut child = None;
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                let dir = top
                    .dir
                    .open_dir(OsStr::from_bytes(&base))
                    .map_err(link_or_io)?;
                let now = dir.stat()?;
                if (now.dev(), now.ino()) != (st.st_dev, st.st_ino) {
                    return Err(replaced(&shown));
                }
                must_be_readable(&dir)?;
                xattrs = read_xattrs(dir.as_fd(), &shown)?;
                child = Some(dir);
                Kind::Dir
            }
            libc::S_IFLNK => {
                let target = match top.dir.read_link_at(OsStr::from_bytes(&base)) {
                    Ok(t) => t,
                    // No longer a symlink: swapped since the stat.
                    Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                        return Err(replaced(&shown));
                    }
                    Err(e) => return Err(e.into()),
                };
                Kind::Symlink(target.as_os_str().as_bytes().to_vec())
            }
            libc::S_IFREG => {
                let key = (st.st_dev, st.st_ino);
                match seen.get(&key) {
                    Some(first) if st.st_nlink > 1 => Kind::HardLink(first.clone()),
                    _ => {
                        if st.st_nlink > 1 {
                            seen.insert(key, name.clone());
                        }
                        size = st.st_size as u64;
                        Kind::File
                    }
                }
            }
            libc::S_IFCHR => {
                let (major, minor) = dev_numbers(st.st_rdev);
                Kind::CharDev { major, minor }
            }
            libc::S_IFBLK => {
                let (major, minor) = dev_numbers(st.st_rdev);
                Kind::BlockDev { major, minor }
            }
            libc::S_IFIFO => Kind::Fifo,
            _ => {
                return Err(crate::diag::Diagnostic::new(
                    &shown,
                    "is a socket, which a package cannot hold",
                )
                .hint("remove it from the destdir in the build pipeline")
                .into());
            }
        };
        w.installed_size += installed_size_of(&kind, &st);
        w.content_bytes += size;
        let index = w.entries.len();
        w.entries.push(Entry {
            name: name.clone(),
            kind,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size,
            xattrs,
            parent: top.parent,
            dev: st.st_dev,
            ino: st.st_ino,
        });
        if let Some(dir) = child {
            let names = sorted_names(&dir)?;
            stack.push(Frame {
                dir,
                parent: Some(index),
                prefix: name,
                names: names.into_iter(),
            });
        }
    }
    Ok(w)
}

/// Refuses a directory opened `O_PATH` ([`Dir::open_dir`]'s fallback for one it may not read).
fn must_be_readable(dir: &Dir) -> eyre::Result<()> {
    // SAFETY: F_GETFL on a descriptor we hold.
    let flags = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_GETFL) };
    if flags >= 0 && flags & libc::O_PATH != 0 {
        return Err(crate::diag::Diagnostic::new(
            dir.path(),
            "cannot read this directory of the package: permission denied",
        )
        .hint("make it readable by the user running melwrap (for example with `chmod u+rx`) in the build pipeline")
        .into());
    }
    Ok(())
}

fn sorted_names(dir: &Dir) -> eyre::Result<Vec<Vec<u8>>> {
    must_be_readable(dir)?;
    let mut names: Vec<Vec<u8>> = dir
        .read_names()
        .wrap_err_with(|| format!("cannot list {}", dir.path().display()))?
        .into_iter()
        .map(|n| n.as_bytes().to_vec())
        .collect();
    names.sort();
    Ok(names)
}

fn replaced(shown: &Path) -> eyre::Report {
    crate::diag::Diagnostic::new(shown, "was replaced while the package was being written")
        .hint("a process from the build is still changing the destdir; rebuild")
        .into()
}

fn dev_numbers(rdev: u64) -> (u32, u32) {
    (libc::major(rdev), libc::minor(rdev))
}

/// Opens the regular files of a [`Walk`] for reading, each relative to its parent
/// directory's descriptor. The chain of open directories follows the walk order, so at most
/// one descriptor per level is open.
pub struct Contents<'a> {
    root: &'a Dir,
    entries: &'a [Entry],
    /// Open directories from the root down: (entry index, descriptor).
    chain: Vec<(usize, Dir)>,
}

impl<'a> Contents<'a> {
    pub fn new(root: &'a Dir, walk: &'a Walk) -> Contents<'a> {
        Contents {
            root,
            entries: &walk.entries,
            chain: Vec::new(),
        }
    }

    /// The display path of entry `i`.
    pub fn shown(&self, i: usize) -> std::path::PathBuf {
        self.root
            .path()
            .join(OsStr::from_bytes(&self.entries[i].name))
    }

    /// Opens regular file entry `i` (`O_NOFOLLOW`, relative to its parent's descriptor) and
    /// checks it is still the inode the walk saw; also returns its extended attributes.
    pub fn open(&mut self, i: usize) -> io::Result<(File, BTreeMap<String, Vec<u8>>)> {
        let mut ancestors = Vec::new();
        let mut up = self.entries[i].parent;
        while let Some(p) = up {
            ancestors.push(p);
            up = self.entries[p].parent;
        }
        ancestors.reverse();
        let keep = self
            .chain
            .iter()
            .zip(&ancestors)
            .take_while(|((open, _), want)| open == *want)
            .count();
        self.chain.truncate(keep);
        for &a in &ancestors[keep..] {
            let parent = self.chain.last().map(|(_, d)| d).unwrap_or(self.root);
            let e = &self.entries[a];
            let dir = parent.open_dir(OsStr::from_bytes(e.base_name()))?;
            let st = dir.stat()?;
            if (st.dev(), st.ino()) != (e.dev, e.ino) {
                return Err(changed(&self.shown(a)));
            }
            self.chain.push((a, dir));
        }
        let parent = self.chain.last().map(|(_, d)| d).unwrap_or(self.root);
        let e = &self.entries[i];
        let file = parent.open_file(OsStr::from_bytes(e.base_name()))?;
        let st = file.metadata()?;
        use std::os::unix::fs::MetadataExt;
        if (st.dev(), st.ino()) != (e.dev, e.ino) {
            return Err(changed(&self.shown(i)));
        }
        let xattrs = read_xattrs(file.as_fd(), &self.shown(i)).map_err(io::Error::other)?;
        Ok((file, xattrs))
    }
}

fn changed(shown: &Path) -> io::Error {
    io::Error::other(format!(
        "{}: was replaced while the package was being written",
        shown.display()
    ))
}

/// The extended attributes of the opened entry `fd` (`flistxattr`/`fgetxattr`: the opened
/// inode, whatever its name points at now), minus the ignored ones. A filesystem without
/// xattr support simply has none.
fn read_xattrs(fd: BorrowedFd<'_>, shown: &Path) -> eyre::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let fd = fd.as_raw_fd();
    let names = loop {
        // SAFETY: a null buffer with size 0 asks for the needed size.
        let need = unsafe { libc::flistxattr(fd, std::ptr::null_mut(), 0) };
        if need < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENOTSUP) => Ok(out),
                _ => {
                    Err(err).wrap_err_with(|| format!("cannot list xattrs of {}", shown.display()))
                }
            };
        }
        let mut buf = vec![0u8; need as usize];
        if need == 0 {
            break buf;
        }
        // SAFETY: buf has exactly `need` bytes.
        let got = unsafe { libc::flistxattr(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if got >= 0 {
            buf.truncate(got as usize);
            break buf;
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) {
            return Err(io::Error::last_os_error())
                .wrap_err_with(|| format!("cannot list xattrs of {}", shown.display()));
        }
    };
    for raw in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(raw).into_owned();
        if ignored_xattr(&name) {
            continue;
        }
        let cname = CString::new(raw).expect("split on NUL");
        if let Some(value) = get_xattr(fd, &cname) {
            out.insert(name, value);
        }
    }
    Ok(out)
}

fn get_xattr(fd: libc::c_int, name: &CString) -> Option<Vec<u8>> {
    loop {
        // SAFETY: size query with a null buffer.
        let need = unsafe { libc::fgetxattr(fd, name.as_ptr(), std::ptr::null_mut(), 0) };
        if need < 0 {
            // Vanished or unreadable attributes are skipped, as melange ignores xattr errors.
            return None;
        }
        let mut buf = vec![0u8; need as usize];
        // SAFETY: buf has `need` bytes.
        let got = unsafe { libc::fgetxattr(fd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if got >= 0 {
            buf.truncate(got as usize);
            return Some(buf);
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) {
            return None;
        }
    }
}

/// The name as an `OsStr`, for messages.
pub fn display_name(name: &[u8]) -> String {
    Path::new(OsStr::from_bytes(name)).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_path(p: &Path) -> eyre::Result<Walk> {
        walk(&open_destdir(p)?)
    }

    #[test]
    fn order_is_walkdir_order_not_path_order() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs_err::create_dir_all(r.join("a/b")).unwrap();
        fs_err::write(r.join("a.txt"), "x").unwrap();
        fs_err::write(r.join("a/b/c"), "yy").unwrap();
        fs_err::create_dir(r.join("Z")).unwrap();
        let w = walk_path(r).unwrap();
        let names: Vec<String> = w.entries.iter().map(|e| display_name(&e.name)).collect();
        assert_eq!(names, ["Z", "a", "a/b", "a/b/c", "a.txt"]);
        assert_eq!(w.installed_size, 4 * DIR_SIZE + 3);
        assert_eq!(w.content_bytes, 3);
    }

    #[test]
    fn hard_links_point_at_the_first_path() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs_err::write(r.join("b"), "data").unwrap();
        fs_err::hard_link(r.join("b"), r.join("a")).unwrap();
        std::os::unix::fs::symlink("b", r.join("c")).unwrap();
        let w = walk_path(r).unwrap();
        assert_eq!(w.entries[0].kind, Kind::File);
        assert_eq!(w.entries[1].kind, Kind::HardLink(b"a".to_vec()));
        assert_eq!(w.entries[1].size, 0);
        assert_eq!(w.entries[2].kind, Kind::Symlink(b"b".to_vec()));
        // 4 + 4 (the link counts again) + 1 (symlink target length) + the root.
        assert_eq!(w.installed_size, DIR_SIZE + 9);
    }

    #[test]
    fn a_file_is_not_a_destdir() {
        let t = tempfile::tempdir().unwrap();
        fs_err::write(t.path().join("f"), "").unwrap();
        let err = walk_path(&t.path().join("f")).unwrap_err();
        assert!(format!("{err}").contains("is not a directory"), "{err}");
    }

    #[test]
    fn links_to_directories_are_entries_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("dest");
        fs_err::create_dir_all(r.join("d")).unwrap();
        fs_err::write(t.path().join("secret"), "host").unwrap();
        std::os::unix::fs::symlink(t.path(), r.join("d/up")).unwrap();
        let w = walk_path(&r).unwrap();
        let names: Vec<String> = w.entries.iter().map(|e| display_name(&e.name)).collect();
        assert_eq!(names, ["d", "d/up"]);
        assert!(matches!(w.entries[1].kind, Kind::Symlink(_)));
        // The destdir itself as a link is refused, naming it.
        std::os::unix::fs::symlink(&r, t.path().join("link")).unwrap();
        let err = walk_path(&t.path().join("link")).unwrap_err();
        assert!(format!("{err:#}").contains("link"), "{err:#}");
    }

    #[test]
    fn paths_longer_than_path_max_are_walked_and_read() {
        let t = tempfile::tempdir().unwrap();
        let root = Dir::open_anchor(t.path()).unwrap();
        let deep: std::path::PathBuf = (0..40)
            .map(|i| format!("{i:03}{}", "d".repeat(120)))
            .collect();
        let dir = root.create_dir_all(&deep, 0o755).unwrap();
        use std::io::Write;
        dir.create_file("f", 0o644)
            .unwrap()
            .write_all(b"deep")
            .unwrap();
        let w = walk(&root).unwrap();
        let last = w.entries.len() - 1;
        assert!(w.entries[last].name.len() > libc::PATH_MAX as usize);
        assert_eq!(w.entries[last].kind, Kind::File);
        let (mut f, _) = Contents::new(&root, &w).open(last).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut f, &mut text).unwrap();
        assert_eq!(text, "deep");
    }

    #[test]
    fn a_file_swapped_after_the_walk_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("dest");
        fs_err::create_dir_all(r.join("d")).unwrap();
        fs_err::write(r.join("d/f"), "pkg").unwrap();
        fs_err::write(t.path().join("secret"), "host").unwrap();
        let root = open_destdir(&r).unwrap();
        let w = walk(&root).unwrap();
        // The directory becomes a link to a tree holding a file of the same name.
        fs_err::rename(r.join("d"), r.join("d.old")).unwrap();
        fs_err::create_dir(t.path().join("host")).unwrap();
        fs_err::write(t.path().join("host/f"), "host").unwrap();
        std::os::unix::fs::symlink(t.path().join("host"), r.join("d")).unwrap();
        let mut c = Contents::new(&root, &w);
        let err = c.open(1).unwrap_err();
        assert!(crate::safefs::is_link_refused(&err), "{err}");
        // The file itself replaced by another regular file: a different inode, refused.
        fs_err::remove_file(r.join("d")).unwrap();
        fs_err::rename(r.join("d.old"), r.join("d")).unwrap();
        fs_err::write(r.join("d/f2"), "new").unwrap();
        fs_err::rename(r.join("d/f2"), r.join("d/f")).unwrap();
        let mut c = Contents::new(&root, &w);
        let err = c.open(1).unwrap_err();
        assert!(err.to_string().contains("was replaced"), "{err}");
    }
}
