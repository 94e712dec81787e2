//! `cache prune`: choose entries least recently used first, then remove them under the
//! exclusive lock, so nothing a running build uses disappears.
//!
//! An entry goes as a whole (see [`super::areas::place`] for the granularity per area). Go's
//! module cache makes its trees read-only (`chmod a-w`), so directories are made writable
//! before their contents are removed, as `go clean -modcache` does. Removal goes through
//! [`crate::safefs`]: a directory a step replaced with a symlink is removed as the link, and
//! nothing is ever removed or chmodded through one.

use std::io;

use super::CacheDir;
use super::lock::{CacheLock, LockMode};
use super::scan::{Entry, Scan};

/// What to prune. With both set, entries older than `older_than` go first, then more of the
/// least recently used until the cache fits in `max_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneOptions {
    /// Remove entries not used for this many seconds.
    pub older_than: Option<u64>,
    /// Remove least recently used entries until the cache holds at most this many bytes.
    pub max_size: Option<u64>,
    /// The current time, in Unix seconds.
    pub now: i64,
}

/// The entries a prune removes, least recently used first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrunePlan {
    pub remove: Vec<Entry>,
    /// Bytes the removed entries hold.
    pub free_bytes: u64,
    /// Bytes left afterwards.
    pub keep_bytes: u64,
}

/// Chooses what to remove. Pure: the same scan and options give the same plan.
pub fn plan_prune(scan: &Scan, options: &PruneOptions) -> PrunePlan {
    let mut order: Vec<&Entry> = scan.entries.iter().collect();
    order.sort_by(|a, b| a.last_use.cmp(&b.last_use).then(a.key.cmp(&b.key)));
    let mut remaining: u64 = order.iter().map(|e| e.bytes).sum();
    let cutoff = options
        .older_than
        .map(|age| options.now.saturating_sub(age.min(i64::MAX as u64) as i64));
    let mut plan = PrunePlan::default();
    for e in order {
        let too_old = cutoff.is_some_and(|c| e.last_use < c);
        let too_big = options.max_size.is_some_and(|max| remaining > max);
        if !(too_old || too_big) {
            // Entries are in age order and `remaining` only shrinks: once neither rule
            // applies, none applies to a later entry.
            break;
        }
        remaining -= e.bytes;
        plan.free_bytes += e.bytes;
        plan.remove.push(e.clone());
    }
    plan.keep_bytes = remaining;
    plan
}

/// The result of [`execute_prune`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneOutcome {
    pub removed: Vec<Entry>,
    pub freed_bytes: u64,
    /// Entries that could not be removed entirely, with the reason.
    pub failed: Vec<(Entry, String)>,
}

/// Removes the planned entries. Takes the exclusive lock as proof that no build runs.
pub fn execute_prune(cache: &CacheDir, plan: &PrunePlan, lock: &CacheLock) -> PruneOutcome {
    assert_eq!(
        lock.mode(),
        LockMode::Exclusive,
        "prune needs the exclusive cache lock"
    );
    let mut outcome = PruneOutcome::default();
    let dir = match cache.dir() {
        Ok(d) => d,
        Err(e) => {
            let why = e.to_string();
            outcome.failed = plan
                .remove
                .iter()
                .map(|en| (en.clone(), why.clone()))
                .collect();
            return outcome;
        }
    };
    for entry in &plan.remove {
        let result = entry
            .roots
            .iter()
            .try_for_each(|root| remove_tree(&dir, root));
        match result {
            Ok(()) => {
                outcome.freed_bytes += entry.bytes;
                outcome.removed.push(entry.clone());
            }
            Err(e) => outcome.failed.push((entry.clone(), e.to_string())),
        }
    }
    outcome
}

/// Removes a file or a whole tree below the cache dir; a missing one is fine.
fn remove_tree(cache: &crate::safefs::Dir, rel: &std::path::Path) -> io::Result<()> {
    match cache.remove_tree(rel) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Area;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    fn entry(key: &str, bytes: u64, last_use: i64) -> Entry {
        Entry {
            area: Area::Other,
            key: key.into(),
            roots: vec![PathBuf::from(key)],
            bytes,
            files: 1,
            last_use,
        }
    }

    fn keys(plan: &PrunePlan) -> Vec<&str> {
        plan.remove.iter().map(|e| e.key.as_str()).collect()
    }

    #[test]
    fn plans_by_age_then_size() {
        let scan = Scan {
            entries: vec![
                entry("new", 100, 1000),
                entry("old", 10, 100),
                entry("mid", 50, 500),
                entry("older", 20, 50),
            ],
            ..Scan::default()
        };
        let opts = |older_than, max_size| PruneOptions {
            older_than,
            max_size,
            now: 1100,
        };
        let by_age = plan_prune(&scan, &opts(Some(700), None));
        assert_eq!(keys(&by_age), ["older", "old"]);
        assert_eq!((by_age.free_bytes, by_age.keep_bytes), (30, 150));
        let by_size = plan_prune(&scan, &opts(None, Some(120)));
        assert_eq!(keys(&by_size), ["older", "old", "mid"]);
        assert_eq!(by_size.keep_bytes, 100);
        let nothing = plan_prune(&scan, &opts(Some(10_000), Some(1000)));
        assert!(nothing.remove.is_empty());
        let both = plan_prune(&scan, &opts(Some(1001), Some(150)));
        assert_eq!(keys(&both), ["older", "old"]);
        assert_eq!(keys(&plan_prune(&scan, &opts(None, Some(0)))).len(), 4);
    }

    #[test]
    fn removes_read_only_trees() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("m@v1/sub");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("f"), "x").unwrap();
        for p in [tree.join("f"), tree.clone(), tmp.path().join("m@v1")] {
            let mode = if p.is_dir() { 0o555 } else { 0o444 };
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let dir = crate::safefs::Dir::open_anchor(tmp.path()).unwrap();
        remove_tree(&dir, Path::new("m@v1")).unwrap();
        assert!(!tmp.path().join("m@v1").exists());
        remove_tree(&dir, Path::new("absent")).unwrap();
        // A link where a module tree was is removed itself, its target left alone.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        std::fs::create_dir(tmp.path().join("gomod")).unwrap();
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("gomod/m@v2")).unwrap();
        remove_tree(&dir, Path::new("gomod/m@v2")).unwrap();
        assert!(outside.path().join("keep").exists());
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("link")).unwrap();
        let err = remove_tree(&dir, Path::new("link/keep")).unwrap_err();
        assert!(crate::safefs::is_link_refused(&err), "{err}");
        assert!(outside.path().join("keep").exists());
    }
}
