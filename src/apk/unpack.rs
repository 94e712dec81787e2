//! Unpacking an apk data section (a tar stream) into an opened directory, safely against a
//! crafted package.
//!
//! A package is input from wherever it came from: its entries can name `../x` or `/etc/x`,
//! make `a` a symlink to `/etc` and then write `a/passwd` through it, or hard-link
//! `/etc/shadow` into the tree. Nothing here resolves a path outside the root or through a
//! symlink: every entry's parent directory is opened below the root [`Dir`] with
//! [`Dir::create_dir_all`] (no symlink followed, a link where a directory must be is an
//! error), files are created with `O_CREAT | O_EXCL | O_NOFOLLOW` and their modes set with
//! `fchmod` on that descriptor, symlinks are created as links and never followed, and a hard
//! link may only point at an earlier regular file of the same package (`linkat` between
//! descriptors opened below the root, without `AT_SYMLINK_FOLLOW`, after checking the target
//! is still the inode that entry created). Every error names the entry.
//!
//! For a guest root ([`UnpackOptions::links_in_root`], [`unpack_into_root`]) parents are
//! resolved in the root instead and kept open in an [`InRootDirs`] for the whole assembly;
//! removing a symlink or a directory (a later entry replacing it) forgets them all.
//!
//! Kept: directories, regular files, symlinks and hard links, with their permission bits;
//! setuid and setgid bits only when [`UnpackOptions::keep_set_id`] says so (an unprivileged
//! install, like `melwrap test`'s, drops them). Not done: owners (the files belong to whoever
//! unpacks), mtimes, xattrs. Device nodes and FIFOs are left out and listed.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};

use super::tar_read::Stream;
use crate::safefs::{Dir, InRootDirs, Kind};

/// How [`unpack_into`] treats what an unprivileged install cannot or should not keep.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Keep setuid and setgid bits on files and directories. Off by default: a test install
    /// is unprivileged, and a set-id file in a tree another user can reach is a gift.
    pub keep_set_id: bool,
    /// Follow symlinks already in the root (or made by earlier entries) to directories, inside
    /// the root only ([`Dir::create_dir_all_in_root`]): `lib -> usr/lib` then `lib/x` writes
    /// `usr/lib/x`, and `evil -> /etc` then `evil/passwd` writes `<root>/etc/passwd`. For a
    /// guest root melwrap assembles (as apk does); off for anything else, where a path through
    /// a symlink is refused.
    pub links_in_root: bool,
}

/// What [`unpack_into`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Names of entries not installed (device nodes, FIFOs, unknown types), for a note.
    pub skipped: Vec<String>,
}

/// Unpacks the tar stream `r` (a package's data section, decompressed) into `root`. The
/// caller adds which package it was to the error; the error names the entry.
pub fn unpack_into(r: impl Read, root: &Dir, opts: &UnpackOptions) -> eyre::Result<UnpackStats> {
    if opts.links_in_root {
        return unpack_into_root(r, &mut InRootDirs::new(root)?, opts);
    }
    unpack(r, Dirs::Beneath(root), opts)
}

/// [`unpack_into`] with links followed inside the root (whatever
/// [`UnpackOptions::links_in_root`] says), reusing the directories `dirs` already opened: for
/// the packages of one assembly, one after the other. Nothing else may change the root
/// meanwhile (see [`InRootDirs`]).
pub fn unpack_into_root(
    r: impl Read,
    dirs: &mut InRootDirs,
    opts: &UnpackOptions,
) -> eyre::Result<UnpackStats> {
    unpack(r, Dirs::InRoot(dirs), opts)
}

fn unpack(r: impl Read, dirs: Dirs<'_>, opts: &UnpackOptions) -> eyre::Result<UnpackStats> {
    let mut u = Unpacker {
        dirs,
        opts,
        stats: UnpackStats::default(),
        files: HashMap::new(),
        dir_modes: HashMap::new(),
    };
    let mut tar = Stream::new(r);
    while let Some(entry) = tar.next_header().wrap_err("cannot read the archive")? {
        let shown = OsStr::from_bytes(&entry.name)
            .to_string_lossy()
            .into_owned();
        u.entry(&entry, &mut tar)
            .wrap_err_with(|| format!("entry `{shown}`"))?;
    }
    u.apply_dir_modes()?;
    Ok(u.stats)
}

/// Where entries' parents come from.
enum Dirs<'a> {
    /// Opened in the root, links followed inside it, kept open ([`Dir::create_dir_all_in_root`]).
    InRoot(&'a mut InRootDirs),
    /// Opened below the root, no link followed ([`Dir::create_dir_all`]).
    Beneath(&'a Dir),
}

/// An entry's parent directory: a cached descriptor or one opened for it.
enum Parent<'d> {
    Cached(&'d Dir),
    Owned(Dir),
}

impl std::ops::Deref for Parent<'_> {
    type Target = Dir;
    fn deref(&self) -> &Dir {
        match self {
            Parent::Cached(d) => d,
            Parent::Owned(d) => d,
        }
    }
}

impl Parent<'_> {
    fn into_owned(self) -> io::Result<Dir> {
        match self {
            Parent::Cached(d) => d.try_clone(),
            Parent::Owned(d) => Ok(d),
        }
    }
}

impl Dirs<'_> {
    /// Opens (creating missing directories with mode 0755) the parent of `rel`; returns it
    /// with `rel`'s last name.
    fn parent_of<'d, 'r>(&'d mut self, rel: &'r Path) -> eyre::Result<(Parent<'d>, &'r Path)> {
        let base = Path::new(rel.file_name().expect("a normal last component"));
        let parent = rel.parent().filter(|p| !p.as_os_str().is_empty());
        let opened = match (self, parent) {
            (Dirs::InRoot(c), Some(p)) => Parent::Cached(c.create_all(p, 0o755)?),
            (Dirs::InRoot(c), None) => Parent::Cached(c.root()),
            (Dirs::Beneath(root), Some(p)) => Parent::Owned(root.create_dir_all(p, 0o755)?),
            (Dirs::Beneath(root), None) => Parent::Cached(root),
        };
        Ok((opened, base))
    }

    /// A symlink or directory below the root went away: cached resolutions may be stale.
    fn forget(&mut self) {
        if let Dirs::InRoot(c) = self {
            c.forget_all();
        }
    }
}

struct Unpacker<'a> {
    dirs: Dirs<'a>,
    opts: &'a UnpackOptions,
    stats: UnpackStats,
    /// Regular files created so far (hard-link targets), with the inode each one got.
    files: HashMap<PathBuf, (u64, u64)>,
    /// Directory modes, applied at the end (deepest first) so a read-only directory can
    /// still be filled.
    dir_modes: HashMap<PathBuf, u32>,
}

impl Unpacker<'_> {
    fn entry(
        &mut self,
        entry: &super::tar_read::EntryHeader,
        contents: &mut impl Read,
    ) -> eyre::Result<()> {
        let Some(rel) = safe_name(&entry.name)? else {
            // The root entry (`./`): nothing to create.
            return Ok(());
        };
        let mode = self.mode(entry.mode);
        match entry.typeflag {
            b'0' | 0 | b'7' => {
                let (parent, base) = self.dirs.parent_of(&rel)?;
                // Usually a new name: the exclusive create says so without a stat first.
                let (created, removed) = match parent.create_file(base, 0o600) {
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        let removed = make_room(&parent, base)?;
                        (parent.create_file(base, 0o600), removed)
                    }
                    other => (other, Removed::Nothing),
                };
                drop(parent);
                if removed == Removed::Link {
                    self.dirs.forget();
                }
                let mut out = created?;
                let copied = io::copy(contents, &mut out)?;
                if copied != entry.size {
                    eyre::bail!("the archive ends inside it");
                }
                out.set_permissions(std::fs::Permissions::from_mode(mode))?;
                let st = out.metadata()?;
                self.files.insert(rel, (st.dev(), st.ino()));
                self.stats.files += 1;
            }
            b'5' if matches!(self.dirs, Dirs::InRoot(_)) => {
                // An existing link to a directory stays and is used, as apk keeps it.
                if let Dirs::InRoot(c) = &mut self.dirs {
                    c.create_all(&rel, 0o755)?;
                }
                self.dir_modes.insert(rel, mode);
                self.stats.dirs += 1;
            }
            b'5' => {
                let (parent, base) = self.dirs.parent_of(&rel)?;
                parent.create_dir(base, 0o755)?;
                self.dir_modes.insert(rel, mode);
                self.stats.dirs += 1;
            }
            b'2' => {
                let in_root = matches!(self.dirs, Dirs::InRoot(_));
                let (parent, base) = self.dirs.parent_of(&rel)?;
                // `lib -> usr/lib` over the empty `lib/apk/db` skeleton of a new root.
                let emptied = in_root && remove_empty_tree(&parent, base)?;
                // An error ends the unpacking (and the assembly with its cache): no forget.
                let removed = make_room(&parent, base)?;
                let made = parent.symlink_at(OsStr::from_bytes(&entry.link), base);
                drop(parent);
                if emptied || removed == Removed::Link {
                    self.dirs.forget();
                }
                made?;
                self.stats.symlinks += 1;
            }
            b'1' => {
                self.hard_link(&rel, &entry.link)?;
                self.stats.hardlinks += 1;
            }
            _ => self.stats.skipped.push(rel.display().to_string()),
        }
        Ok(())
    }

    /// The permission bits to give an entry stored with `stored`.
    fn mode(&self, stored: u32) -> u32 {
        if self.opts.keep_set_id {
            stored & 0o7777
        } else {
            stored & 0o1777
        }
    }

    /// A hard link at `rel` to the earlier regular file `link` of this package.
    fn hard_link(&mut self, rel: &Path, link: &[u8]) -> eyre::Result<()> {
        let Some(target) = safe_name(link).wrap_err("the hard link's target")? else {
            eyre::bail!("a hard link to the package root");
        };
        let Some(&inode) = self.files.get(&target) else {
            eyre::bail!(
                "a hard link to `{}`, which is not an earlier file of the package",
                target.display()
            );
        };
        let (tparent, tbase) = self.dirs.parent_of(&target)?;
        // Two parents at once: the rare hard link pays for a second descriptor.
        let tparent = tparent.into_owned()?;
        let st = tparent.stat_at(tbase)?;
        if st.kind() != Kind::File || (st.dev(), st.ino()) != inode {
            eyre::bail!(
                "a hard link to `{}`, which a later entry replaced",
                target.display()
            );
        }
        let (parent, base) = self.dirs.parent_of(rel)?;
        let parent = parent.into_owned()?;
        if make_room(&parent, base)? == Removed::Link {
            self.dirs.forget();
        }
        let from = CString::new(tbase.as_os_str().as_bytes())?;
        let to = CString::new(base.as_os_str().as_bytes())?;
        // SAFETY: valid descriptors and NUL-terminated names. No AT_SYMLINK_FOLLOW: the entry
        // itself is linked (and it was just checked to be the regular file created earlier).
        let rc = unsafe {
            libc::linkat(
                tparent.as_raw_fd(),
                from.as_ptr(),
                parent.as_raw_fd(),
                to.as_ptr(),
                0,
            )
        };
        if rc != 0 {
            // A filesystem without hard links (or at its link limit): a copy.
            let mut src = tparent.open_file(tbase)?;
            let mut out = parent.create_file(base, 0o600)?;
            io::copy(&mut src, &mut out)?;
            out.set_permissions(std::fs::Permissions::from_mode(st.mode()))?;
        }
        let st = parent.stat_at(base)?;
        self.files.insert(rel.to_path_buf(), (st.dev(), st.ino()));
        Ok(())
    }

    fn apply_dir_modes(&mut self) -> eyre::Result<()> {
        let mut dirs: Vec<(&PathBuf, &u32)> = self.dir_modes.iter().collect();
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (rel, &mode) in dirs {
            let root = match &mut self.dirs {
                Dirs::InRoot(c) => {
                    c.open(rel)
                        .and_then(|d| d.set_mode(mode))
                        .wrap_err_with(|| format!("entry `{}`", rel.display()))?;
                    continue;
                }
                Dirs::Beneath(root) => *root,
            };
            // One component at a time: a package's paths may be longer than PATH_MAX.
            let mut dir = root.try_clone()?;
            for part in rel.components() {
                dir = dir
                    .open_dir(part)
                    .wrap_err_with(|| format!("entry `{}`", rel.display()))?;
            }
            dir.set_mode(mode)
                .wrap_err_with(|| format!("entry `{}`", rel.display()))?;
        }
        Ok(())
    }
}

/// What [`make_room`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removed {
    Nothing,
    /// A regular file or special file: no path resolves through it.
    NotALink,
    /// A symlink: paths through it resolve elsewhere now.
    Link,
}

/// Removes a non-directory already at `name` (a later entry of the same name wins, as in
/// apk). A directory there is an error: replacing it would drop what earlier entries put in
/// it.
fn make_room(parent: &Dir, name: &Path) -> eyre::Result<Removed> {
    match parent.stat_at(name) {
        Ok(st) if st.is_dir() => eyre::bail!("would replace a directory of the package"),
        Ok(st) => {
            parent.unlink_at(name)?;
            Ok(if st.is_symlink() {
                Removed::Link
            } else {
                Removed::NotALink
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Removed::Nothing),
        Err(e) => Err(e.into()),
    }
}

/// Removes the directory `name` in `parent` when it holds nothing but empty directories (a new
/// root's skeleton that a package replaces with a link, as merged-/usr layouts do). Anything
/// else is left for [`make_room`] to refuse. Says whether it removed something.
fn remove_empty_tree(parent: &Dir, name: &Path) -> eyre::Result<bool> {
    fn empty(dir: &Dir) -> io::Result<bool> {
        for n in dir.read_names()? {
            let st = dir.stat_at(&n)?;
            if !st.is_dir() || !empty(&dir.open_dir(&n)?)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
    fn remove(parent: &Dir, name: &Path) -> io::Result<()> {
        let dir = parent.open_dir(name)?;
        for n in dir.read_names()? {
            remove(&dir, Path::new(&n))?;
        }
        parent.remove_empty_dir_at(name)
    }
    match parent.stat_at(name) {
        Ok(st) if st.is_dir() && empty(&parent.open_dir(name)?)? => {
            remove(parent, name)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The entry's path relative to the package root, or `None` for the root itself. Absolute
/// names and `..` are refused.
pub fn safe_name(name: &[u8]) -> eyre::Result<Option<PathBuf>> {
    let path = Path::new(OsStr::from_bytes(name));
    if path.is_absolute() {
        eyre::bail!("`{}` is an absolute name", path.display());
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => eyre::bail!("`{}` points outside the package", path.display()),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

#[cfg(test)]
mod tests;
