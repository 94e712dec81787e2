//! After unpacking: the modification times and extended attributes the packages carry, as
//! apk-tools applies them (the unpacker creates entries but keeps neither).
//!
//! Everything goes through descriptors opened below the root without following a link: a
//! time is set with `utimensat(parent, name, AT_SYMLINK_NOFOLLOW)` (a symlink's own time), an
//! attribute with `fsetxattr` on the entry opened `O_NOFOLLOW`. Directories come last, deepest
//! first, since filling a directory changes its time. An attribute the kernel refuses (a
//! `security.*` or `trusted.*` name without the privilege, a filesystem without xattrs) is
//! listed, not fatal: the root is still usable, and the caller says what was left out.

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use color_eyre::eyre::{self, WrapErr};

use crate::safefs::Dir;

/// One entry's times and attributes, from its tar header.
#[derive(Debug, Clone)]
pub struct EntryMeta {
    /// Relative to the root, without `./`.
    pub rel: String,
    pub is_dir: bool,
    pub is_file: bool,
    pub mtime: i64,
    /// `SCHILY.xattr.<name>` records: name without the prefix, value.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// Sets the times and attributes of `entries` (the later of two entries for one path wins,
/// as the later package's file does on disk). Returns the attributes not set, as
/// `path: name (why)`.
pub fn apply(root: &Dir, entries: &[EntryMeta]) -> eyre::Result<Vec<String>> {
    let mut last: BTreeMap<&str, &EntryMeta> = BTreeMap::new();
    for e in entries {
        last.insert(&e.rel, e);
    }
    let mut parents: HashMap<String, Dir> = HashMap::new();
    let mut skipped = Vec::new();
    let mut dirs: Vec<&EntryMeta> = Vec::new();
    for e in last.values() {
        if e.is_dir {
            dirs.push(e);
            continue;
        }
        one(root, &mut parents, e, &mut skipped).wrap_err_with(|| format!("`{}`", e.rel))?;
    }
    dirs.sort_by_key(|e| std::cmp::Reverse(e.rel.matches('/').count()));
    for e in dirs {
        one(root, &mut parents, e, &mut skipped).wrap_err_with(|| format!("`{}`", e.rel))?;
    }
    Ok(skipped)
}

fn one(
    root: &Dir,
    parents: &mut HashMap<String, Dir>,
    e: &EntryMeta,
    skipped: &mut Vec<String>,
) -> eyre::Result<()> {
    let (parent_rel, base) = e.rel.rsplit_once('/').unwrap_or(("", &e.rel));
    if !parents.contains_key(parent_rel) {
        let d = if parent_rel.is_empty() {
            root.try_clone()?
        } else {
            // Links to directories are followed inside the root, as the unpacking did.
            match root.open_dir_in_root(parent_rel) {
                Ok(d) => d,
                // Replaced or never made (a skipped device node's parent): nothing to set.
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(err) => return Err(err.into()),
            }
        };
        parents.insert(parent_rel.to_string(), d);
    }
    let parent = &parents[parent_rel];
    if !e.xattrs.is_empty() {
        // Kept open while the attributes are set: a directory's descriptor or a file's.
        let opened: io::Result<Box<dyn AsRawFd>> = if e.is_dir {
            root.open_dir_in_root(&e.rel)
                .map(|d| Box::new(d) as Box<dyn AsRawFd>)
        } else if e.is_file {
            parent
                .open_file(base)
                .map(|f| Box::new(f) as Box<dyn AsRawFd>)
        } else {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "attributes on links and special files are not set",
            ))
        };
        for (name, value) in &e.xattrs {
            let result = opened
                .as_ref()
                .map_err(|err| io::Error::new(err.kind(), err.to_string()))
                .and_then(|f| set_xattr(f.as_raw_fd(), name, value));
            if let Err(err) = result {
                skipped.push(format!("{}: {name} ({err})", e.rel));
            }
        }
    }
    let c = CString::new(Path::new(base).as_os_str().as_bytes())?;
    let t = libc::timespec {
        tv_sec: e.mtime as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: a valid directory descriptor, a NUL-terminated name and two timespecs.
    let rc = unsafe {
        libc::utimensat(
            parent.as_raw_fd(),
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::NotFound {
            return Err(err.into());
        }
    }
    Ok(())
}

fn set_xattr(fd: i32, name: &str, value: &[u8]) -> io::Result<()> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid descriptor, a NUL-terminated name and a buffer with its length.
    let rc = unsafe { libc::fsetxattr(fd, c.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
