//! Walking a destdir into the ordered list of entries a data section holds.
//!
//! The order is Go's `fs.WalkDir` (melange `pkg/tarball/write.go`): depth first, each
//! directory's children sorted by name bytes, the root itself left out. So `a`, `a/b`, `a.txt`
//! (not the plain path sort, which would put `a.txt` before `a/b`). Nothing follows symlinks.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};

use super::tar::Kind;

/// One path under the destdir, with what the tar header needs.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Host path, for reading contents.
    pub path: PathBuf,
    /// Relative name inside the package (`usr/bin/x`).
    pub name: Vec<u8>,
    pub kind: Kind,
    /// Permission and special bits (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Content size for regular files that are not hard links to an earlier entry.
    pub size: u64,
    /// Extended attributes worth keeping (regular files and directories only).
    pub xattrs: BTreeMap<String, Vec<u8>>,
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

fn installed_size_of(kind: &Kind, meta: &std::fs::Metadata) -> u64 {
    match kind {
        Kind::Dir => DIR_SIZE,
        // Hard links count their full size again, as melange's `fi.Size()` does.
        _ => meta.len(),
    }
}

/// Walk `root` (which must be a directory).
pub fn walk(root: &Path) -> eyre::Result<Walk> {
    let meta = fs_err::symlink_metadata(root)?;
    if !meta.is_dir() {
        return Err(crate::diag::Diagnostic::new(root, "is not a directory")
            .hint("pass the package's destdir (melange-out/<name>)")
            .into());
    }
    let mut w = Walk {
        installed_size: DIR_SIZE,
        ..Walk::default()
    };
    let mut seen_inodes: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    walk_dir(root, &[], &mut w, &mut seen_inodes)?;
    Ok(w)
}

fn walk_dir(
    dir: &Path,
    prefix: &[u8],
    w: &mut Walk,
    seen: &mut HashMap<(u64, u64), Vec<u8>>,
) -> eyre::Result<()> {
    let mut children: Vec<(Vec<u8>, PathBuf)> = Vec::new();
    for ent in fs_err::read_dir(dir)? {
        let ent = ent.wrap_err_with(|| format!("cannot list {}", dir.display()))?;
        children.push((ent.file_name().as_bytes().to_vec(), ent.path()));
    }
    children.sort();
    for (base, path) in children {
        let meta = fs_err::symlink_metadata(&path)?;
        let mut name = prefix.to_vec();
        if !name.is_empty() {
            name.push(b'/');
        }
        name.extend_from_slice(&base);
        let ft = meta.file_type();
        let mut size = 0;
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            let target = fs_err::read_link(&path)?;
            Kind::Symlink(target.as_os_str().as_bytes().to_vec())
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            match seen.get(&key) {
                Some(first) if meta.nlink() > 1 => Kind::HardLink(first.clone()),
                _ => {
                    if meta.nlink() > 1 {
                        seen.insert(key, name.clone());
                    }
                    size = meta.len();
                    Kind::File
                }
            }
        } else if ft.is_char_device() {
            let (major, minor) = dev_numbers(meta.rdev());
            Kind::CharDev { major, minor }
        } else if ft.is_block_device() {
            let (major, minor) = dev_numbers(meta.rdev());
            Kind::BlockDev { major, minor }
        } else if ft.is_fifo() {
            Kind::Fifo
        } else {
            return Err(crate::diag::Diagnostic::new(
                &path,
                "is a socket, which a package cannot hold",
            )
            .hint("remove it from the destdir in the build pipeline")
            .into());
        };
        let xattrs = match kind {
            Kind::File | Kind::Dir => read_xattrs(&path)?,
            _ => BTreeMap::new(),
        };
        w.installed_size += installed_size_of(&kind, &meta);
        w.content_bytes += size;
        let is_dir = matches!(kind, Kind::Dir);
        w.entries.push(Entry {
            path: path.clone(),
            name: name.clone(),
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            size,
            xattrs,
        });
        if is_dir {
            walk_dir(&path, &name, w, seen)?;
        }
    }
    Ok(())
}

fn dev_numbers(rdev: u64) -> (u32, u32) {
    (libc::major(rdev), libc::minor(rdev))
}

/// The extended attributes of `path` (not following symlinks), minus the ignored ones.
/// A filesystem without xattr support simply has none.
fn read_xattrs(path: &Path) -> eyre::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let c = CString::new(path.as_os_str().as_bytes())
        .wrap_err_with(|| format!("{}: path contains a NUL byte", path.display()))?;
    let names = loop {
        // SAFETY: a null buffer with size 0 asks for the needed size.
        let need = unsafe { libc::llistxattr(c.as_ptr(), std::ptr::null_mut(), 0) };
        if need < 0 {
            let err = std::io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENOTSUP) => Ok(out),
                _ => Err(err).wrap_err_with(|| format!("cannot list xattrs of {}", path.display())),
            };
        }
        let mut buf = vec![0u8; need as usize];
        if need == 0 {
            break buf;
        }
        // SAFETY: buf has exactly `need` bytes.
        let got = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if got >= 0 {
            buf.truncate(got as usize);
            break buf;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) {
            return Err(std::io::Error::last_os_error())
                .wrap_err_with(|| format!("cannot list xattrs of {}", path.display()));
        }
    };
    for raw in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(raw).into_owned();
        if ignored_xattr(&name) {
            continue;
        }
        let cname = CString::new(raw).expect("split on NUL");
        if let Some(value) = get_xattr(&c, &cname) {
            out.insert(name, value);
        }
    }
    Ok(out)
}

fn get_xattr(path: &CString, name: &CString) -> Option<Vec<u8>> {
    loop {
        // SAFETY: size query with a null buffer.
        let need =
            unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
        if need < 0 {
            // Vanished or unreadable attributes are skipped, as melange ignores xattr errors.
            return None;
        }
        let mut buf = vec![0u8; need as usize];
        // SAFETY: buf has `need` bytes.
        let got = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if got >= 0 {
            buf.truncate(got as usize);
            return Some(buf);
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) {
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

    #[test]
    fn order_is_walkdir_order_not_path_order() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs_err::create_dir_all(r.join("a/b")).unwrap();
        fs_err::write(r.join("a.txt"), "x").unwrap();
        fs_err::write(r.join("a/b/c"), "yy").unwrap();
        fs_err::create_dir(r.join("Z")).unwrap();
        let w = walk(r).unwrap();
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
        let w = walk(r).unwrap();
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
        let err = walk(&t.path().join("f")).unwrap_err();
        assert!(format!("{err}").contains("is not a directory"), "{err}");
    }
}
