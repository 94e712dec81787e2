//! What happens in bwrap's process between `fork` and `exec` besides descriptor plumbing:
//! staging bind sources, dropping to the build ids, the shared `melwrap-steps` session keyring and resource
//! limits. Everything here runs in a `pre_exec` closure, so it only makes system calls and
//! never allocates (all paths are prepared as C strings beforehand).
//!
//! # Why bind sources are staged
//!
//! As root, bwrap runs as the unprivileged build ids ([`BuildIds`]), and bwrap resolves every
//! bind source by path with those ids, even for `--bind-fd` (bwrap 0.8 `realpath`s
//! `/proc/self/fd/N` and mounts the path it names). A workspace in a root-only `/tmp/tmpXXXX`,
//! a cache under `/root`, or a `--rootfs` below a 0700 directory would then be out of reach.
//! So the child, still root, clones each directory source as a detached mount (`open_tree`
//! on a descriptor melwrap opened before the fork; file sources, which `melwrap test` can have
//! thousands of, are bound by path, as root), enters a private mount namespace, covers one
//! host directory ([`STAGE_DIRS`]) with a small tmpfs and attaches the clones there
//! (`move_mount`); bwrap's arguments name those staged paths. The tmpfs and the mounts exist
//! only in this one process's mount namespace and vanish with it; the host sees nothing.
//! A file the build ids could not read at all (a 0600 `--ca-bundle` of root's) is shown as a
//! read-only copy written into that tmpfs instead.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use super::arg::Arg;
use super::build_ids::BuildIds;
use super::limits::{self, Resources};
use super::overlay::OverlayNamespaces;
use super::path::HostPath;

/// Host directories that can hold the staging tmpfs, first existing one wins. bwrap needs
/// none of them itself (it uses `/tmp`, `/proc` and `/dev`), and every bind source is staged,
/// so covering one hides nothing a step is shown.
pub const STAGE_DIRS: &[&str] = &["/run", "/mnt", "/srv", "/media"];

/// How bwrap's process is set up before it starts.
#[derive(Debug, Clone, Default)]
pub struct ChildSetup {
    /// Run bwrap as these ids (melwrap is root); `None` keeps melwrap's own.
    pub drop_to: Option<BuildIds>,
    /// Bind sources to stage (only with `drop_to`).
    pub staging: Option<Arc<Staging>>,
    /// The namespaces holding the guest's writable overlay root ([`super::overlay`]).
    pub(crate) overlay: Option<Arc<OverlayNamespaces>>,
    pub resources: Resources,
}

/// One bind source, opened by melwrap, and where the child attaches it.
#[derive(Debug)]
struct Staged {
    /// A directory source, held open so the child clones exactly what melwrap checked. Files
    /// (resolv.conf, the CA bundle, a tested package's files, which can be thousands) are
    /// bound by path instead, so the number of open descriptors stays small; nothing a step
    /// writes is ever among them.
    source: Option<OwnedFd>,
    /// The source path: for files, and for kernels without `open_tree` (before 5.2).
    source_path: CString,
    target: CString,
    is_dir: bool,
    /// A file the build ids could not read (a 0600 `--ca-bundle` of root's): its bytes, written
    /// to a root-owned read-only copy in the staging tmpfs instead of a bind.
    copy: Option<Vec<u8>>,
}

/// The largest file copied for the build ids (a CA bundle is a few hundred KiB).
const MAX_COPY: u64 = 16 << 20;

/// The bind sources of a root build's sandbox and their staged paths.
#[derive(Debug)]
pub struct Staging {
    dir: CString,
    tmpfs_options: CString,
    entries: Vec<Staged>,
    /// (host source, staged path) pairs, for rewriting bwrap's arguments.
    map: Vec<(HostPath, HostPath)>,
}

impl Staging {
    /// Open every bind source among `args` (`O_PATH`, as root, so no directory is too
    /// private). Sources of `--ro-bind-try` that do not exist are left alone (bwrap skips
    /// them). `made_in_child` (the guest overlay's mount point) is left alone: the child
    /// mounts it there itself.
    pub fn open(
        args: &[Arg],
        ids: BuildIds,
        made_in_child: Option<&HostPath>,
    ) -> io::Result<Staging> {
        let dir = super::overlay::stage_dir()?;
        let mut entries = Vec::new();
        let mut map: Vec<(HostPath, HostPath)> = Vec::new();
        for arg in args {
            let (src, optional) = match arg {
                Arg::Bind { src, .. } | Arg::RoBind { src, .. } => (src, false),
                Arg::RoBindTry { src, .. } => (src, true),
                _ => continue,
            };
            if map.iter().any(|(s, _)| s == src) || made_in_child == Some(src) {
                continue;
            }
            let file = match std::fs::File::options()
                .read(true)
                .custom_flags(libc::O_PATH)
                .open(src.as_path())
            {
                Ok(f) => f,
                Err(e) if optional && e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot open bind source `{src}`: {e}"),
                    ));
                }
            };
            let meta = file.metadata()?;
            let is_dir = meta.is_dir();
            let copy = if meta.is_file() && !readable_by(&meta, ids) {
                if meta.len() > MAX_COPY {
                    return Err(io::Error::other(format!(
                        "`{src}` is larger than {MAX_COPY} bytes and the build {ids} cannot read it"
                    )));
                }
                Some(std::fs::read(src.as_path())?)
            } else {
                None
            };
            let staged = format!("{dir}/melwrap-bind-{}", entries.len());
            entries.push(Staged {
                source: is_dir.then(|| OwnedFd::from(file)),
                source_path: c_path(src.as_path())?,
                target: CString::new(staged.clone()).expect("no NUL"),
                is_dir,
                copy,
            });
            map.push((src.clone(), HostPath::new(staged).expect("absolute")));
        }
        let copied: usize = entries
            .iter()
            .filter_map(|e| e.copy.as_ref())
            .map(Vec::len)
            .sum();
        Ok(Staging {
            dir: CString::new(dir).expect("no NUL"),
            tmpfs_options: CString::new(format!("mode=0755,size={}", copied + (1 << 20)))
                .expect("no NUL"),
            entries,
            map,
        })
    }

    /// Also bind `source` (a path the child sees: the overlay's merged root in its namespace)
    /// at `target`, which bwrap's arguments already name.
    pub fn add_path_bind(&mut self, source: &Path, target: &HostPath) -> io::Result<()> {
        self.entries.push(Staged {
            source: None,
            source_path: c_path(source)?,
            target: c_path(target.as_path())?,
            is_dir: true,
            copy: None,
        });
        Ok(())
    }

    /// `args` with every staged bind source replaced by its staged path.
    pub fn rewrite(&self, args: &mut [Arg]) {
        for arg in args {
            if let Arg::Bind { src, .. } | Arg::RoBind { src, .. } | Arg::RoBindTry { src, .. } =
                arg
                && let Some((_, staged)) = self.map.iter().find(|(s, _)| s == src)
            {
                *src = staged.clone();
            }
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// In the child, as root: see the module doc. `trees` has one slot per entry.
    /// `enter` (the overlay's mount namespace, as root) is joined after the clones are taken
    /// (`open_tree` clones only mounts of the caller's own namespace) and before the private
    /// namespace is made from it.
    fn attach(&self, trees: &mut [i32], enter: Option<&OverlayNamespaces>) -> io::Result<()> {
        let check = |r: libc::c_long| {
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(r)
            }
        };
        let empty = c"";
        let mut have_open_tree = true;
        for (slot, e) in trees.iter_mut().zip(&self.entries) {
            let Some(source) = e.source.as_ref().filter(|_| e.copy.is_none()) else {
                continue;
            };
            // SAFETY: open_tree reads a valid descriptor and a NUL-terminated empty path.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_open_tree,
                    source.as_raw_fd(),
                    empty.as_ptr(),
                    libc::AT_EMPTY_PATH
                        | libc::OPEN_TREE_CLONE as libc::c_int
                        | libc::AT_RECURSIVE
                        | libc::OPEN_TREE_CLOEXEC as libc::c_int,
                )
            };
            if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                have_open_tree = false;
                break;
            }
            *slot = check(fd)? as i32;
        }
        if let Some(namespaces) = enter {
            namespaces.enter()?;
        }
        // SAFETY: plain system calls on NUL-terminated strings prepared before the fork.
        unsafe {
            check(libc::unshare(libc::CLONE_NEWNS) as libc::c_long)?;
            check(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) as libc::c_long)?;
            check(libc::mount(
                c"melwrap-stage".as_ptr(),
                self.dir.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                self.tmpfs_options.as_ptr().cast(),
            ) as libc::c_long)?;
            for (tree, e) in trees.iter().zip(&self.entries) {
                if let Some(bytes) = &e.copy {
                    write_copy(&e.target, bytes)?;
                    continue;
                }
                if e.is_dir {
                    check(libc::mkdir(e.target.as_ptr(), 0o755) as libc::c_long)?;
                } else {
                    let fd = check(libc::open(
                        e.target.as_ptr(),
                        libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                        0o644,
                    ) as libc::c_long)?;
                    libc::close(fd as i32);
                }
                if have_open_tree && *tree >= 0 {
                    check(libc::syscall(
                        libc::SYS_move_mount,
                        *tree,
                        empty.as_ptr(),
                        libc::AT_FDCWD,
                        e.target.as_ptr(),
                        libc::MOVE_MOUNT_F_EMPTY_PATH,
                    ))?;
                    libc::close(*tree);
                } else {
                    check(libc::mount(
                        e.source_path.as_ptr(),
                        e.target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | libc::MS_REC,
                        std::ptr::null(),
                    ) as libc::c_long)?;
                }
            }
        }
        Ok(())
    }
}

/// Could the build ids read this file by its permission bits (ACLs aside)?
fn readable_by(meta: &std::fs::Metadata, ids: BuildIds) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode();
    mode & 0o004 != 0
        || (meta.uid() == ids.uid && mode & 0o400 != 0)
        || (meta.gid() == ids.gid && mode & 0o040 != 0)
}

/// In the child: `target` as a new 0444 file holding `bytes`. System calls only.
fn write_copy(target: &CString, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: open/write/close on a NUL-terminated path and a live slice.
    unsafe {
        let fd = libc::open(
            target.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
            0o444,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut done = 0;
        while done < bytes.len() {
            let n = libc::write(fd, bytes[done..].as_ptr().cast(), bytes.len() - done);
            if n <= 0 {
                let err = io::Error::last_os_error();
                libc::close(fd);
                return Err(err);
            }
            done += n as usize;
        }
        libc::close(fd);
    }
    Ok(())
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::other(format!("`{}` contains a NUL byte", path.display())))
}

impl ChildSetup {
    /// Make `command` set up its process this way before it execs (for callers that spawn
    /// bwrap themselves; [`super::run::run`] does this too).
    pub fn install(&self, command: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        let setup = self.clone();
        let mut scratch = setup.scratch();
        // SAFETY: apply only makes system calls and writes to memory allocated before the fork.
        unsafe {
            command.pre_exec(move || setup.apply(&mut scratch));
        }
    }

    /// The closure-owned scratch space [`ChildSetup::apply`] needs (made before the fork).
    pub(crate) fn scratch(&self) -> Vec<i32> {
        vec![-1; self.staging.as_ref().map_or(0, |s| s.len())]
    }

    /// In the child before exec: stage and mount the guest overlay, drop to the build ids,
    /// join the `melwrap-steps` session keyring, set the limits. Only system calls; `trees` comes from
    /// [`ChildSetup::scratch`].
    pub(crate) fn apply(&self, trees: &mut [i32]) -> io::Result<()> {
        let rootless_overlay = self.overlay.as_ref().filter(|o| o.rootless());
        if let Some(overlay) = rootless_overlay {
            // Before the user namespace: the kernel finds the named keyring only among those
            // of the caller's own user namespace.
            join_fresh_session_keyring()?;
            overlay.enter()?;
        }
        if let Some(staging) = &self.staging {
            // As root: the staging namespace is made from the overlay's, still as root.
            let root_overlay = self.overlay.as_deref().filter(|o| !o.rootless());
            staging.attach(trees, root_overlay)?;
        }
        // SAFETY: chdir, setgroups, setresgid and setresuid take plain values.
        unsafe {
            // bwrap starts where melwrap was, which the build ids may not be allowed to enter.
            libc::chdir(c"/".as_ptr());
            if let Some(ids) = self.drop_to {
                for r in [
                    libc::setgroups(0, std::ptr::null()),
                    libc::setresgid(ids.gid, ids.gid, ids.gid),
                    libc::setresuid(ids.uid, ids.uid, ids.uid),
                ] {
                    if r != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
            }
        }
        if rootless_overlay.is_none() {
            join_fresh_session_keyring()?;
        }
        limits::apply(&self.resources)
    }
}

/// Joins melwrap's own session keyring (`melwrap-steps`), so the sandbox does not possess the
/// invoking user's session keyring (keys stored there, such as credentials a login or `keyctl`
/// put in, stay out of reach). Kernels without keys are fine as they are.
///
/// One named keyring per host uid (the kernel finds it by name only among the uid's own), not
/// a fresh one per step: when melwrap runs inside a login's session keyring, every new keyring
/// counts against the uid's key quota (200 keys, 20000 bytes) until the kernel collects it,
/// which takes seconds, so parallel builds would run out ("Disk quota exceeded"). Steps of the
/// same uid can thus see each other's keys there, as they see each other's cache. Should a
/// step have made the shared keyring unusable (revoked it, taken its permissions), a fresh
/// anonymous one is joined instead; while the quota is full, it waits up to 60 s for room.
fn join_fresh_session_keyring() -> io::Result<()> {
    let mut tries = 0;
    loop {
        let err = match join_session_keyring(c"melwrap-steps".as_ptr())
            .or_else(|_| join_session_keyring(std::ptr::null()))
        {
            Err(e) if e.raw_os_error() == Some(libc::EDQUOT) => e,
            other => return other,
        };
        tries += 1;
        if tries > 600 {
            return Err(err);
        }
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        // SAFETY: nanosleep is async-signal-safe and reads a valid timespec.
        unsafe { libc::nanosleep(&pause, std::ptr::null_mut()) };
    }
}

fn join_session_keyring(name: *const libc::c_char) -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: `name` is NULL (an anonymous keyring) or a NUL-terminated constant; nothing
    // is written.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name) };
    if r < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ENOSYS) {
            return Err(err);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::path::GuestPath;

    #[test]
    fn bind_sources_are_opened_once_and_rewritten_to_their_staged_paths() {
        let dir = tempfile::tempdir().unwrap();
        let ws = HostPath::new(dir.path().join("ws")).unwrap();
        std::fs::create_dir(ws.as_path()).unwrap();
        let guest = |p: &str| GuestPath::new(p).unwrap();
        let mut args = vec![
            Arg::Bind {
                src: ws.clone(),
                dest: guest(crate::guest::WORKSPACE),
            },
            Arg::RoBind {
                src: ws.clone(),
                dest: guest("/again"),
            },
            Arg::RoBindTry {
                src: HostPath::new(dir.path().join("missing")).unwrap(),
                dest: guest("/missing"),
            },
            Arg::Tmpfs(guest("/tmp")),
        ];
        let staging = Staging::open(&args, BuildIds::default(), None).unwrap();
        assert_eq!(
            staging.len(),
            1,
            "one source, opened once; the missing one skipped"
        );
        staging.rewrite(&mut args);
        let Arg::Bind { src, .. } = &args[0] else {
            panic!()
        };
        assert!(
            src.as_path().to_string_lossy().ends_with("/melwrap-bind-0"),
            "{src}"
        );
        let Arg::RoBind { src: again, .. } = &args[1] else {
            panic!()
        };
        assert_eq!(again, src);
        let Arg::RoBindTry { src: missing, .. } = &args[2] else {
            panic!()
        };
        assert!(missing.as_path().ends_with("missing"));
    }

    #[test]
    fn files_the_build_ids_cannot_read_are_copied_others_bound() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open.pem");
        let closed = dir.path().join("closed.pem");
        for (p, mode) in [(&open, 0o644), (&closed, 0o600)] {
            std::fs::write(p, "pem").unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let args: Vec<Arg> = [&open, &closed]
            .iter()
            .map(|p| Arg::RoBind {
                src: HostPath::new(p).unwrap(),
                dest: GuestPath::new("/x").unwrap(),
            })
            .collect();
        let staging = Staging::open(&args, BuildIds::default(), None).unwrap();
        assert!(staging.entries[0].copy.is_none());
        assert_eq!(staging.entries[1].copy.as_deref(), Some(&b"pem"[..]));
    }
}
