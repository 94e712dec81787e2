//! One walk over the cache dir that sorts every file into its area and prunable entry
//! ([`super::areas::place`]) and records sizes and last use. `info`, the build report and
//! `prune` all read this one walk.
//!
//! "Last use" is the later of a file's mtime and atime: with the usual `relatime` mount
//! option the kernel moves atime forward on a read at most once a day, which is enough for
//! least-recently-used ordering; on `noatime` mounts it degrades to last write. Sizes are
//! apparent sizes (`st_size`), as `du --apparent-size` counts them.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::areas::{Area, place};

/// One prunable entry: a blob, a module, a file, or a directory that must go as a whole.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub area: Area,
    /// The entry's name relative to the cache dir (`gomodcache/github.com/foo/bar`).
    pub key: String,
    /// The paths, relative to the cache dir, removed together when the entry is pruned.
    pub roots: Vec<PathBuf>,
    /// Apparent size of all its files.
    pub bytes: u64,
    pub files: u64,
    /// Latest use of any of its files, in Unix seconds.
    pub last_use: i64,
}

/// The result of one walk.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Every entry, sorted by key.
    pub entries: Vec<Entry>,
    /// Directories or files that could not be read (permissions), so sizes may be low.
    pub unreadable: Vec<PathBuf>,
    /// Regular files with the setuid or setgid bit (absolute paths): nothing a cache holds
    /// needs one, and a build step could plant one for other local users to run.
    pub set_id: Vec<PathBuf>,
}

/// Walks the cache dir once. Files that vanish during the walk (a concurrent build's
/// temporary files) are skipped; unreadable ones are listed in [`Scan::unreadable`].
pub fn scan(root: &Path) -> Scan {
    let mut entries: HashMap<String, Entry> = HashMap::new();
    let mut unreadable = Vec::new();
    let mut set_id = Vec::new();
    // Directories still to read: absolute path and its components below the root.
    let mut stack: Vec<(PathBuf, Vec<OsString>)> = vec![(root.to_path_buf(), Vec::new())];
    while let Some((dir, components)) = stack.pop() {
        let reader = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) => {
                note_error(&mut unreadable, &dir, &e);
                continue;
            }
        };
        for item in reader {
            let item = match item {
                Ok(i) => i,
                Err(e) => {
                    note_error(&mut unreadable, &dir, &e);
                    continue;
                }
            };
            let name = item.file_name();
            if components.is_empty() && super::is_own_file(&name.to_string_lossy()) {
                continue;
            }
            let mut path_components = components.clone();
            path_components.push(name);
            // DirEntry::metadata does not follow symlinks: a link counts as itself.
            let meta = match item.metadata() {
                Ok(m) => m,
                Err(e) => {
                    note_error(&mut unreadable, &item.path(), &e);
                    continue;
                }
            };
            if meta.is_dir() {
                stack.push((item.path(), path_components));
                continue;
            }
            let lossy: Vec<String> = path_components
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            let names: Vec<&str> = lossy.iter().map(String::as_str).collect();
            let placement = place(&names);
            let root_path: PathBuf = path_components[..placement.root_depth].iter().collect();
            if meta.is_file() && meta.mode() & 0o6000 != 0 {
                set_id.push(item.path());
            }
            let last_use = meta.mtime().max(meta.atime());
            let entry = entries
                .entry(placement.key.clone())
                .or_insert_with(|| Entry {
                    area: placement.area,
                    key: placement.key,
                    roots: Vec::new(),
                    bytes: 0,
                    files: 0,
                    last_use: i64::MIN,
                });
            if !entry.roots.contains(&root_path) {
                entry.roots.push(root_path);
            }
            entry.bytes += meta.len();
            entry.files += 1;
            entry.last_use = entry.last_use.max(last_use);
        }
    }
    let mut entries: Vec<Entry> = entries.into_values().collect();
    for e in &mut entries {
        e.roots.sort();
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    unreadable.sort();
    set_id.sort();
    Scan {
        entries,
        unreadable,
        set_id,
    }
}

/// Clear the setuid and setgid bits of the files [`scan`] found with them. Returns the files
/// it changed. Only the caller's own files are touched: everything a build step writes belongs
/// to the invoking user, so a set-id file owned by someone else was not planted by a step (and
/// cannot be changed anyway). A file that vanished meanwhile is skipped.
pub fn clear_set_id_bits(scan: &Scan) -> io::Result<Vec<PathBuf>> {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    let mut cleared = Vec::new();
    for path in &scan.set_id {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_file() && (euid == 0 || m.uid() == euid) => m,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mode = meta.permissions().mode() & !0o6000;
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        cleared.push(path.clone());
    }
    Ok(cleared)
}

fn note_error(unreadable: &mut Vec<PathBuf>, path: &Path, e: &io::Error) {
    // A file removed between listing and reading is a concurrent build at work, not a problem.
    if e.kind() != io::ErrorKind::NotFound {
        unreadable.push(path.to_path_buf());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_files_into_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let write = |rel: &str, len: usize| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, vec![b'x'; len]).unwrap();
        };
        write("gomodcache/cache/download/example.com/m/@v/v1.0.0.zip", 100);
        write("gomodcache/cache/download/example.com/m/@v/v1.0.0.mod", 10);
        write("gomodcache/example.com/m@v1.0.0/go.mod", 10);
        write("gomodcache/example.com/m@v1.0.0/m.go", 30);
        write(&format!("sha256:{}", "c".repeat(64)), 7);
        write("pip/http-v2/a/x", 5);
        write("pip/http-v2/a/x.body", 50);
        write(".melwrap.lock", 0);
        std::fs::create_dir_all(root.join("npm/empty")).unwrap();
        let scan = scan(root);
        let keys: Vec<&str> = scan.entries.iter().map(|e| e.key.as_str()).collect();
        let blob = format!("sha256:{}", "c".repeat(64));
        assert_eq!(
            keys,
            ["gomodcache/example.com/m", "pip/http-v2/a/x", blob.as_str()]
        );
        let module = &scan.entries[0];
        assert_eq!((module.bytes, module.files), (150, 4));
        assert_eq!(
            module.roots,
            [
                PathBuf::from("gomodcache/cache/download/example.com/m/@v"),
                PathBuf::from("gomodcache/example.com/m@v1.0.0"),
            ]
        );
        assert_eq!(scan.entries[1].bytes, 55);
        assert!(scan.unreadable.is_empty());
    }
}
