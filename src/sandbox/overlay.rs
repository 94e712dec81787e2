//! A writable root over a read-only guest: kernel overlayfs, mounted in bwrap's process before
//! it execs.
//!
//! The cached guest is the overlay's lower layer and is never written; each build gets its
//! own upper and work directories in a private (0700) scratch directory on disk, so steps can
//! write anywhere in the guest (`/usr/local`, `/root`, `/etc`, even delete `/usr/bin/...`)
//! and the next build starts from the pristine cached copy.
//!
//! bubblewrap 0.8 (Debian 12) has no overlay options, and 0.9's `--overlay` family mounts the
//! overlay inside bwrap's own user namespace with the step's mapping (a root build's guest could
//! not be given to the build ids) and `--tmp-overlay` keeps the upper layer in memory. So melwrap
//! mounts the overlay itself, once per session ([`OverlayNamespaces`]): a forked helper enters
//! new namespaces, mounts it there, and is gone once melwrap holds those namespaces open; each
//! step's process joins them before it execs bwrap, which is handed the merged directory with
//! `--bind DIR /`:
//!
//! - **rootless**: a new user namespace (the invoking uid and gid mapped to 0, `setgroups`
//!   denied) and mount namespace; the overlay uses `userxattr` (the kernel only lets a user
//!   namespace use `user.*` extended attributes) and is mounted on `<scratch>/root`. bwrap runs
//!   as uid 0 of that namespace and nests its own user namespace as usual, mapping the step's
//!   uid onto it (the invoking user on the host).
//! - **root**: a new mount namespace; each step's staging namespace ([`super::child`]) is made
//!   from it and binds `<scratch>/root` on the staging tmpfs (so the build ids, which bwrap runs
//!   as, can reach it). The cached guest is owned by the build ids (the step's uid 0), so the
//!   step can change any guest file.
//!
//! One mount per session keeps every step on one overlay instance. The host's mount table never
//! shows it; it goes when the last descriptor of its namespaces is closed.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use super::build_ids::Identity;
use super::child::STAGE_DIRS;
use super::path::HostPath;

/// Where a root build's overlay is mounted, below the staging tmpfs.
const ROOT_MOUNT_NAME: &str = "melwrap-root";

/// The directories of one build's writable guest root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestOverlay {
    /// The cached guest (never written).
    pub lower: HostPath,
    /// A private per-build directory holding `upper/`, `work/` and, rootless, `root/`.
    pub scratch: HostPath,
    /// Where the merged root is mounted in bwrap's mount namespace (bound as `/`).
    pub mount_point: HostPath,
    /// Mounted by a root melwrap (no new user namespace).
    pub as_root: bool,
}

impl GuestOverlay {
    /// The overlay of `lower` with its writable layers in `scratch`, for `identity`.
    pub fn new(lower: HostPath, scratch: HostPath, identity: Identity) -> io::Result<Self> {
        let as_root = matches!(identity, Identity::Root(_));
        let mount_point = if as_root {
            let stage = stage_dir()?;
            HostPath::new(format!("{stage}/{ROOT_MOUNT_NAME}")).expect("absolute")
        } else {
            HostPath::new(scratch.as_path().join("root")).expect("absolute")
        };
        Ok(GuestOverlay {
            lower,
            scratch,
            mount_point,
            as_root,
        })
    }

    /// Where the overlay is mounted in its namespace (`<scratch>/root`); rootless this is
    /// also the mount point bwrap binds, as root the staging attaches it at `mount_point`.
    pub fn merged(&self) -> std::path::PathBuf {
        self.scratch.as_path().join("root")
    }

    pub fn upper(&self) -> std::path::PathBuf {
        self.scratch.as_path().join("upper")
    }

    pub fn work(&self) -> std::path::PathBuf {
        self.scratch.as_path().join("work")
    }

    /// The overlay's mount options.
    pub fn options(&self) -> String {
        let mut options = format!(
            "lowerdir={},upperdir={},workdir={}",
            escape(&self.lower.as_path().to_string_lossy()),
            escape(&self.upper().to_string_lossy()),
            escape(&self.work().to_string_lossy()),
        );
        if !self.as_root {
            options.push_str(",userxattr");
        }
        options
    }

    /// Before the overlay is mounted: write each of `files` (host source, guest path) into
    /// the upper layer, so steps see an ordinary guest file they may change (as in melange's
    /// image) rather than a read-only bind. Each directory on the way is made in the upper
    /// layer with the lower layer's mode (0755 where it has none) and, as root, handed to
    /// `owner` (the build ids, who own the guest). The upper layer is melwrap's own and not yet
    /// reachable by any step. Returns the files that stay binds: those whose way in the lower
    /// layer is not plain directories (a symlinked `/etc`, say).
    pub fn seed(
        &self,
        files: Vec<(HostPath, super::path::GuestPath)>,
        owner: Option<(u32, u32)>,
    ) -> io::Result<Vec<(HostPath, super::path::GuestPath)>> {
        use crate::safefs::Dir;
        use std::io::Write;
        if files.is_empty() {
            return Ok(files);
        }
        let lower = Dir::open_anchor(self.lower.as_path())?;
        let upper = Dir::open_anchor(&self.upper())?;
        let mut kept = Vec::new();
        'files: for (source, dest) in files {
            let parts: Vec<&str> = dest.components().collect();
            let Some((name, dirs)) = parts.split_last() else {
                kept.push((source, dest));
                continue;
            };
            let mut rel = std::path::PathBuf::new();
            for dir in dirs {
                rel.push(dir);
                let mode = match lower.stat_at(&rel) {
                    Ok(st) if st.is_dir() => st.mode() & 0o7777,
                    Ok(_) => {
                        kept.push((source, dest));
                        continue 'files;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => 0o755,
                    Err(e) => return Err(e),
                };
                let (made, created) = upper.create_dir(&rel, mode)?;
                if created {
                    made.set_mode(mode)?;
                    if let Some((uid, gid)) = owner {
                        made.chown_self(Some(uid), Some(gid))?;
                    }
                }
            }
            // melwrap generated it (a private temporary file), so it is read by path.
            let bytes = std::fs::read(source.as_path())?;
            let file_rel = rel.join(name);
            let mut file = upper.create_file(&file_rel, 0o644)?;
            file.write_all(&bytes)?;
            drop(file);
            upper.chmod_at(&file_rel, 0o644)?;
            if let Some((uid, gid)) = owner {
                upper.chown_at(&file_rel, Some(uid), Some(gid))?;
            }
        }
        Ok(kept)
    }

    /// Everything the child needs, as C strings made before the fork.
    pub(crate) fn mount_spec(&self) -> io::Result<OverlayMount> {
        let c = |s: String| {
            CString::new(s).map_err(|_| io::Error::other("an overlay path contains a NUL byte"))
        };
        let userns = if self.as_root {
            None
        } else {
            // SAFETY: getuid and getgid cannot fail.
            let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
            Some((c(format!("0 {uid} 1\n"))?, c(format!("0 {gid} 1\n"))?))
        };
        Ok(OverlayMount {
            mount_point: CString::new(self.merged().as_os_str().as_bytes())
                .map_err(|_| io::Error::other("the overlay mount point contains a NUL byte"))?,
            options: c(self.options())?,
            userns,
        })
    }
}

/// The first of [`STAGE_DIRS`] that exists (where a root build stages its mounts).
pub(crate) fn stage_dir() -> io::Result<&'static str> {
    STAGE_DIRS
        .iter()
        .copied()
        .find(|d| std::fs::symlink_metadata(d).is_ok_and(|m| m.is_dir()))
        .ok_or_else(|| {
            io::Error::other(format!(
                "none of {} exists to stage the sandbox's mounts in",
                STAGE_DIRS.join(", ")
            ))
        })
}

/// overlayfs splits its options at `,` and its layer lists at `:`; a backslash escapes them.
fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for ch in path.chars() {
        if matches!(ch, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// [`GuestOverlay`] for the child: C strings only.
#[derive(Debug)]
pub(crate) struct OverlayMount {
    mount_point: CString,
    options: CString,
    /// Rootless: the `uid_map` and `gid_map` lines of the new user namespace.
    userns: Option<(CString, CString)>,
}

impl OverlayMount {
    fn rootless(&self) -> bool {
        self.userns.is_some()
    }

    /// In a forked child: enter new namespaces (a user namespace too, rootless) and mount the
    /// overlay there. System calls only.
    fn mount_in_new_namespaces(&self) -> io::Result<()> {
        let check = |r: libc::c_int| {
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        // SAFETY: system calls on NUL-terminated strings prepared before the fork.
        unsafe {
            match &self.userns {
                Some((uid_map, gid_map)) => {
                    check(libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS))?;
                    write_proc(c"/proc/self/setgroups", c"deny")?;
                    write_proc(c"/proc/self/uid_map", uid_map)?;
                    write_proc(c"/proc/self/gid_map", gid_map)?;
                }
                None => check(libc::unshare(libc::CLONE_NEWNS))?,
            }
            check(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                c"melwrap-guest".as_ptr(),
                self.mount_point.as_ptr(),
                c"overlay".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                self.options.as_ptr().cast(),
            ))?;
        }
        Ok(())
    }
}

/// The namespaces holding one session's overlay mount: mounted once, in a helper process
/// that is gone as soon as its namespaces are held open here; every step's process enters
/// them ([`OverlayNamespaces::enter`]) instead of mounting again. One mount per session
/// keeps the steps on one overlay instance (the kernel warns, or with `index=on` refuses,
/// when a second mount uses an upper layer whose last mount is still being torn down).
#[derive(Debug)]
pub(crate) struct OverlayNamespaces {
    /// Rootless: the user namespace the mount belongs to.
    user: Option<OwnedFd>,
    mnt: OwnedFd,
}

impl OverlayNamespaces {
    /// Mount the overlay in new namespaces of a forked helper and keep those namespaces. The
    /// error is the kernel's (the mount refused, say).
    pub(crate) fn create(spec: &OverlayMount) -> io::Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the two descriptors were just created and are owned here.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: the child only makes system calls, then waits to be killed or leaves with
        // _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            let code: i32 = match spec.mount_in_new_namespaces() {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
            };
            // SAFETY: write of a live i32; pause and _exit take nothing.
            unsafe {
                libc::write(write_end.as_raw_fd(), (&code as *const i32).cast(), 4);
                if code != 0 {
                    libc::_exit(1);
                }
                loop {
                    libc::pause();
                }
            }
        }
        drop(write_end);
        let mut file = std::fs::File::from(read_end);
        let mut bytes = [0u8; 4];
        let code = match std::io::Read::read_exact(&mut file, &mut bytes) {
            Ok(()) => i32::from_ne_bytes(bytes),
            Err(_) => libc::EIO,
        };
        let opened = (|| -> io::Result<Self> {
            if code != 0 {
                return Err(io::Error::from_raw_os_error(code));
            }
            let open = |ns: &str| -> io::Result<OwnedFd> {
                Ok(OwnedFd::from(std::fs::File::open(format!(
                    "/proc/{pid}/ns/{ns}"
                ))?))
            };
            Ok(OverlayNamespaces {
                user: if spec.rootless() {
                    Some(open("user")?)
                } else {
                    None
                },
                mnt: open("mnt")?,
            })
        })();
        // SAFETY: kill and waitpid on the helper just forked.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            let mut status = 0;
            while libc::waitpid(pid, &mut status, 0) < 0
                && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
        }
        opened
    }

    pub(crate) fn rootless(&self) -> bool {
        self.user.is_some()
    }

    /// In the child: join the overlay's namespaces (its user namespace first, rootless).
    /// System calls only.
    pub(crate) fn enter(&self) -> io::Result<()> {
        // SAFETY: setns on descriptors owned by self; chdir on a constant.
        unsafe {
            if let Some(user) = &self.user
                && libc::setns(user.as_raw_fd(), libc::CLONE_NEWUSER) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if libc::setns(self.mnt.as_raw_fd(), libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::chdir(c"/".as_ptr());
        }
        Ok(())
    }
}

/// Write `text` to a `/proc/self` file. System calls only.
unsafe fn write_proc(path: &std::ffi::CStr, text: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: open/write/close on NUL-terminated strings.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let bytes = text.to_bytes();
        let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        let err = io::Error::last_os_error();
        libc::close(fd);
        if n != bytes.len() as isize {
            return Err(err);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_escape_separators_and_rootless_uses_user_xattrs() {
        let overlay = GuestOverlay::new(
            HostPath::new("/c/guests/a,b:c").unwrap(),
            HostPath::new("/tmp/s").unwrap(),
            Identity::Build {
                uid: 1000,
                gid: 1000,
            },
        )
        .unwrap();
        assert_eq!(
            overlay.options(),
            "lowerdir=/c/guests/a\\,b\\:c,upperdir=/tmp/s/upper,workdir=/tmp/s/work,userxattr"
        );
        assert_eq!(
            overlay.mount_point.as_path(),
            std::path::Path::new("/tmp/s/root")
        );
    }
}
