//! Giving a tree to the build ids, for root builds: the workspace after it is filled, and a
//! cache whose root the build ids do not own yet. The walk goes through directory
//! descriptors only: each entry is changed with `fchownat(dirfd, name, AT_SYMLINK_NOFOLLOW)`
//! and each subdirectory entered with `openat(O_NOFOLLOW | O_DIRECTORY)`, so a symlink (even
//! one a step swaps in while this runs) is changed itself and never followed. Depth is
//! bounded only by open descriptors, not by `PATH_MAX`.
//!
//! One function on purpose: the fd-based module for every host-side touch of step-writable
//! trees (`safefs`) is meant to take it over.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::build_ids::BuildIds;

/// Make `dir` and everything below it owned by `ids`, without following symlinks (`dir`
/// itself must not be one). Returns how many entries changed owner.
pub fn chown_tree(dir: &Path, ids: BuildIds) -> io::Result<u64> {
    let path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::other("path contains a NUL byte"))?;
    let root = open_dir(libc::AT_FDCWD, &path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let mut changed = 0;
    chown_fd(&root, ids, &mut changed)?;
    // Explicit stack of open directories instead of recursion.
    let mut stack = vec![root];
    while let Some(dirfd) = stack.pop() {
        for (name, is_dir) in entries(&dirfd)? {
            // SAFETY: a valid descriptor and NUL-terminated name; AT_SYMLINK_NOFOLLOW changes
            // a symlink itself.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            if unsafe {
                libc::fstatat(
                    dirfd.as_raw_fd(),
                    name.as_ptr(),
                    &mut st,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            } != 0
            {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::NotFound {
                    continue;
                }
                return Err(err);
            }
            if st.st_uid != ids.uid || st.st_gid != ids.gid {
                // SAFETY: as above.
                if unsafe {
                    libc::fchownat(
                        dirfd.as_raw_fd(),
                        name.as_ptr(),
                        ids.uid,
                        ids.gid,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                } != 0
                {
                    return Err(io::Error::last_os_error());
                }
                changed += 1;
            }
            if is_dir || st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                match open_dir(dirfd.as_raw_fd(), &name) {
                    Ok(sub) => stack.push(sub),
                    // Replaced by a symlink or removed since: nothing to enter.
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR))
                            || e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(changed)
}

fn chown_fd(fd: &OwnedFd, ids: BuildIds, changed: &mut u64) -> io::Result<()> {
    // SAFETY: fstat and fchown on a valid descriptor.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if st.st_uid != ids.uid || st.st_gid != ids.gid {
        if unsafe { libc::fchown(fd.as_raw_fd(), ids.uid, ids.gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
        *changed += 1;
    }
    Ok(())
}

fn open_dir(at: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: openat with a NUL-terminated name; O_NOFOLLOW refuses a final symlink.
    let fd = unsafe {
        libc::openat(
            at,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The names in an open directory (without `.` and `..`), each with "is a directory" as far
/// as `d_type` tells.
fn entries(dir: &OwnedFd) -> io::Result<Vec<(CString, bool)>> {
    // fdopendir takes ownership of the descriptor it gets, so give it a duplicate.
    // SAFETY: dup of a valid descriptor.
    let dup = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: dup is ours; the DIR is closed below.
    let stream = unsafe { libc::fdopendir(dup) };
    if stream.is_null() {
        let err = io::Error::last_os_error();
        unsafe { libc::close(dup) };
        return Err(err);
    }
    let mut out = Vec::new();
    loop {
        // SAFETY: stream is a valid DIR; the entry is copied before the next readdir.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            break;
        }
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        if name == c"." || name == c".." {
            continue;
        }
        let is_dir = unsafe { (*entry).d_type } == libc::DT_DIR;
        out.push((name.to_owned(), is_dir));
    }
    // SAFETY: closes the DIR and the duplicate descriptor.
    unsafe { libc::closedir(stream) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn changes_the_tree_and_symlinks_themselves_but_never_follows_them() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: only root can give files away");
            return;
        }
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs_err::write(&victim, "x").unwrap();
        let tree = tempfile::tempdir().unwrap();
        let t = tree.path();
        fs_err::create_dir_all(t.join("a/b/c")).unwrap();
        fs_err::write(t.join("a/b/c/file"), "y").unwrap();
        std::os::unix::fs::symlink(&victim, t.join("a/link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), t.join("a/dirlink")).unwrap();
        let ids = BuildIds {
            uid: 4_000_123,
            gid: 4_000_124,
        };
        let changed = chown_tree(t, ids).unwrap();
        assert_eq!(changed, 7, "root, a, b, c, file, link, dirlink");
        for p in ["", "a", "a/b", "a/b/c", "a/b/c/file", "a/link", "a/dirlink"] {
            let m = fs_err::symlink_metadata(t.join(p)).unwrap();
            assert_eq!((m.uid(), m.gid()), (ids.uid, ids.gid), "{p}");
        }
        assert_eq!(fs_err::metadata(&victim).unwrap().uid(), 0);
        assert_eq!(fs_err::metadata(outside.path()).unwrap().uid(), 0);
        assert_eq!(chown_tree(t, ids).unwrap(), 0, "nothing left to change");
    }
}
