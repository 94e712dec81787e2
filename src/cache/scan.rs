//! One walk over the cache dir that sorts every file into its area and prunable entry
//! ([`super::areas::place`]) and records sizes and last use. `info`, the build report and
//! `prune` all read this one walk.
//!
//! "Last use" is the later of a file's mtime and atime: with the usual `relatime` mount
//! option the kernel moves atime forward on a read at most once a day, which is enough for
//! least-recently-used ordering; on `noatime` mounts it degrades to last write. Sizes are
//! apparent sizes (`st_size`), as `du --apparent-size` counts them.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::areas::{Area, place};
use crate::safefs::{Dir, Visit};

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
    /// Regular files with the setuid or setgid bit (display paths) at the time of the walk:
    /// nothing a cache holds needs one, and a build step could plant one for other local
    /// users to run. [`scrub_and_scan`] lists here the ones it cleared.
    pub set_id: Vec<PathBuf>,
}

/// Walks the cache dir once, read-only. Files that vanish during the walk (a concurrent
/// build's temporary files) are skipped; unreadable ones are listed in [`Scan::unreadable`].
/// The walk goes through [`crate::safefs`] (directory descriptors, no symlink followed, no
/// `PATH_MAX` limit), because steps write the cache.
pub fn scan(root: &Path) -> Scan {
    walk_cache(root, false).unwrap_or_else(|_| Scan {
        unreadable: vec![root.to_path_buf()],
        ..Scan::default()
    })
}

/// The walk of [`scan`], clearing on the way the setuid and setgid bits of every regular
/// file that has them, through descriptors ([`Dir::update_mode_at`]): as root every such
/// file, as an ordinary user the user's own (a step run by the user can create no other).
/// A directory a step made unreadable (mode 000) is opened up (`u+rx`) and scrubbed too.
/// [`Scan::set_id`] lists the files it changed.
pub fn scrub_and_scan(root: &Path) -> io::Result<Scan> {
    walk_cache(root, true)
}

fn walk_cache(root: &Path, scrub: bool) -> io::Result<Scan> {
    let dir = Dir::open_anchor(root)?;
    // A cache dir that is one tool's own cache: its files are placed as if they were below
    // that tool's area directory, and keys and roots are given without that prefix.
    let layout = super::layout::detect(&dir);
    let mut entries: HashMap<String, Entry> = HashMap::new();
    let mut set_id = Vec::new();
    let visit = |item: &crate::safefs::Entry<'_>| {
        let name = item.name().to_string_lossy();
        if item.depth() == 1 && super::is_own_file(&name) {
            return Ok(Visit::Skip);
        }
        let meta = item.stat();
        if meta.is_dir() {
            return Ok(Visit::Descend);
        }
        if meta.is_file() && meta.mode() & 0o6000 != 0 {
            // Read-only: list every one. Scrub: list the ones cleared.
            let listed = !scrub || (meta.is_ours() && clear_set_id(item)?);
            if listed {
                set_id.push(item.path());
            }
        }
        let lossy: Vec<String> = layout
            .map(|area| area.name().to_string())
            .into_iter()
            .chain(item.rel().iter().map(|c| c.to_string_lossy().into_owned()))
            .collect();
        let names: Vec<&str> = lossy.iter().map(String::as_str).collect();
        let mut placement = place(&names);
        if let Some(area) = layout {
            placement.area = area;
            // Never the cache dir itself: at least one top-level name is an entry.
            placement.root_depth = placement.root_depth.saturating_sub(1).max(1);
            let prefix = format!("{}/", area.name());
            placement.key = match placement.key.strip_prefix(&prefix) {
                Some(rest) => rest.to_string(),
                None => item
                    .rel()
                    .iter()
                    .take(1)
                    .collect::<PathBuf>()
                    .to_string_lossy()
                    .into_owned(),
            };
        }
        let root_path: PathBuf = item.rel().iter().take(placement.root_depth).collect();
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
        entry.bytes += meta.size();
        entry.files += 1;
        entry.last_use = entry.last_use.max(last_use);
        Ok(Visit::Descend)
    };
    // The read-only scan changes nothing; the scrub opens up directories a step locked.
    let walked = if scrub {
        dir.walk_unlocking(visit)?
    } else {
        dir.walk(visit)?
    };
    let mut entries: Vec<Entry> = entries.into_values().collect();
    for e in &mut entries {
        e.roots.sort();
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    let mut unreadable = walked.unreadable;
    unreadable.sort();
    set_id.sort();
    Ok(Scan {
        entries,
        unreadable,
        set_id,
    })
}

/// Clears the set-id bits of one walked file through its parent's descriptor; false when it
/// vanished or changed into something else meanwhile.
fn clear_set_id(item: &crate::safefs::Entry<'_>) -> io::Result<bool> {
    let mut changed = false;
    let result = item.parent().update_mode_at(item.name(), |now| {
        changed = now.is_file() && now.mode() & 0o6000 != 0 && now.is_ours();
        changed.then_some(now.mode() & 0o1777)
    });
    match result {
        Ok(_) => Ok(changed),
        Err(e) if e.kind() == io::ErrorKind::NotFound || crate::safefs::is_link_refused(&e) => {
            Ok(false)
        }
        Err(e) => Err(e),
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

    #[test]
    fn a_go_module_cache_as_the_cache_dir_is_one_area_of_modules() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for (rel, len) in [
            ("cache/download/example.com/m/@v/v1.0.0.zip", 100),
            ("cache/download/example.com/m/@v/list", 7),
            ("example.com/m@v1.0.0/m.go", 30),
            ("cache/download/sumdb/sum.golang.org/lookup/x", 5),
        ] {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, vec![b'x'; len]).unwrap();
        }
        let scan = scan(root);
        let keys: Vec<(&str, Area)> = scan
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.area))
            .collect();
        assert_eq!(
            keys,
            [
                ("cache/download/sumdb", Area::Gomodcache),
                ("example.com/m", Area::Gomodcache)
            ]
        );
        assert_eq!(
            scan.entries[1].roots,
            [
                PathBuf::from("cache/download/example.com/m/@v"),
                PathBuf::from("example.com/m@v1.0.0"),
            ]
        );
    }

    #[test]
    fn scrub_clears_set_id_bits_below_unreadable_dirs() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let file = root.join("npm/locked/tool");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "x").unwrap();
        let set = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        set(&file, 0o6755);
        set(&root.join("npm/locked"), 0o000);
        // The read-only scan changes nothing: an ordinary user cannot see inside.
        let seen = scan(root);
        let unreadable = usize::from(crate::safefs::effective_uid() != 0);
        assert_eq!(seen.unreadable.len(), unreadable, "{seen:?}");
        let scrubbed = scrub_and_scan(root).unwrap();
        assert_eq!(scrubbed.set_id.len(), 1);
        assert_eq!(scrubbed.entries.len(), 1, "{scrubbed:?}");
        assert_eq!(scrubbed.entries[0].files, 1);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o755);
        assert!(scrub_and_scan(root).unwrap().set_id.is_empty());
    }
}
