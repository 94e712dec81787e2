//! Opening a relative path below a directory descriptor without following any symlink:
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`, or one
//! `openat(O_NOFOLLOW)` per component where `openat2` is missing (Linux < 5.6) or refused by a
//! seccomp filter (some container runtimes answer `EPERM` or `ENOSYS`).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{cstring, fstatat_nofollow, link_refused, raise_open_file_limit, with_path};

/// Set once `openat2` answered `ENOSYS`: later calls go straight to the component walk.
static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);

/// The components of a relative path, refusing absolute paths and `..` (`.` is dropped).
pub(super) fn components<'a>(rel: &'a Path, shown: &Path) -> io::Result<Vec<&'a std::ffi::OsStr>> {
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{}: `{}` must be a relative path without `..`",
                        shown.display(),
                        rel.display()
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Opens `rel` below `dir` with `flags` (`O_NOFOLLOW` and `O_CLOEXEC` are always added) and
/// `mode` (used with `O_CREAT`). `shown` is `dir`'s display path, for messages. An empty
/// `rel` opens `dir` itself again.
pub(super) fn open_beneath(
    dir: BorrowedFd<'_>,
    rel: &Path,
    flags: libc::c_int,
    mode: u32,
    shown: &Path,
) -> io::Result<OwnedFd> {
    let parts = components(rel, shown)?;
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let mut retried_emfile = false;
    loop {
        let result = if parts.is_empty() {
            openat_raw(dir, &CString::from(c"."), flags & !libc::O_NOFOLLOW, mode)
        } else if OPENAT2_MISSING.load(Ordering::Relaxed) {
            walk_components(dir, &parts, flags, mode, shown)
        } else {
            match openat2(dir, rel, flags, mode, shown) {
                Ok(fd) => Ok(fd),
                // ELOOP (or ENOTDIR for O_PATH|O_DIRECTORY on a final link): a symlink; the
                // component walk names it (or, when the link
                // was removed meanwhile, opens the path safely). EAGAIN: a concurrent rename
                // made the kernel give up; the walk does not need to.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ELOOP | libc::EAGAIN | libc::ENOTDIR)
                    ) =>
                {
                    walk_components(dir, &parts, flags, mode, shown)
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    OPENAT2_MISSING.store(true, Ordering::Relaxed);
                    walk_components(dir, &parts, flags, mode, shown)
                }
                // seccomp filters commonly answer EPERM for unknown syscalls; a real
                // permission problem shows up again in the walk with its real errno.
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    walk_components(dir, &parts, flags, mode, shown)
                }
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{}: `{}` leads outside its directory",
                        shown.display(),
                        rel.display()
                    ),
                )),
                Err(e) => Err(e),
            }
        };
        match result {
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) && !retried_emfile => {
                raise_open_file_limit();
                retried_emfile = true;
            }
            Err(e) if e.raw_os_error().is_some() => {
                return Err(with_path(e, &join(shown, rel)));
            }
            other => return other,
        }
    }
}

fn openat2(
    dir: BorrowedFd<'_>,
    rel: &Path,
    flags: libc::c_int,
    mode: u32,
    shown: &Path,
) -> io::Result<OwnedFd> {
    let c = cstring(rel).map_err(|e| with_path(e, shown))?;
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    // openat2 refuses a mode without O_CREAT / O_TMPFILE.
    how.mode = if flags & libc::O_CREAT != 0 {
        mode as u64
    } else {
        0
    };
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    openat2_raw(dir, &c, &how)
}

/// The bare `openat2(dir, path, how)` system call; the callers choose `how`.
pub(super) fn openat2_raw(
    dir: BorrowedFd<'_>,
    path: &CStr,
    how: &libc::open_how,
) -> io::Result<OwnedFd> {
    // SAFETY: valid descriptor, NUL-terminated path and open_how of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as libc::c_int) })
}

/// One `openat(O_NOFOLLOW)` per component: intermediate directories as `O_PATH` (search
/// permission is enough), the last with the caller's flags.
fn walk_components(
    dir: BorrowedFd<'_>,
    parts: &[&std::ffi::OsStr],
    flags: libc::c_int,
    mode: u32,
    shown: &Path,
) -> io::Result<OwnedFd> {
    let mut held: Option<OwnedFd> = None;
    let mut so_far = shown.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        let name = cstring(part)?;
        so_far.push(part);
        let base = held
            .as_ref()
            .map(|fd| {
                // SAFETY: borrowed from `held`, which outlives this use.
                unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) }
            })
            .unwrap_or(dir);
        let last = i + 1 == parts.len();
        let (f, m) = if last {
            (flags, mode)
        } else {
            (
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0,
            )
        };
        match openat_raw(base, &name, f, m) {
            Ok(fd) => held = Some(fd),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return Err(e),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                // O_NOFOLLOW on a link gives ELOOP, O_DIRECTORY|O_PATH on a link ENOTDIR. A
                // directory there now means the entry was swapped meanwhile: what the open
                // met was not a directory, and a link is what a swapper puts there.
                let now = fstatat_nofollow(base, &name);
                let was_link = e.raw_os_error() == Some(libc::ELOOP) && f & libc::O_PATH == 0
                    || now.is_ok_and(|st| st.is_symlink() || st.is_dir());
                if was_link {
                    return Err(link_refused(&so_far));
                }
                return Err(with_path(e, &so_far));
            }
            Err(e) => return Err(with_path(e, &so_far)),
        }
    }
    Ok(held.expect("at least one component"))
}

pub(super) fn openat_raw(
    dir: BorrowedFd<'_>,
    name: &CString,
    flags: libc::c_int,
    mode: u32,
) -> io::Result<OwnedFd> {
    // SAFETY: valid descriptor and NUL-terminated name; the result is owned below.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(super) fn join(shown: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        shown.to_path_buf()
    } else {
        shown.join(rel)
    }
}

/// The component walk alone, so tests cover the path taken where `openat2` is missing.
#[cfg(test)]
pub(super) fn open_by_component_walk(
    dir: BorrowedFd<'_>,
    rel: &Path,
    flags: libc::c_int,
    shown: &Path,
) -> io::Result<OwnedFd> {
    let parts = components(rel, shown)?;
    walk_components(
        dir,
        &parts,
        flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        0,
        shown,
    )
}
