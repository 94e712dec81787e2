//! The guest cache on disk: `<apk-cache-dir>/guests/`.
//!
//! - `<key>/`: an assembled guest (the overlay's read-only lower layer; never written after
//!   assembly).
//! - `<key>.lock`: `flock`ed shared by every session using the guest, for its whole run, and
//!   exclusive by whoever assembles, repairs or prunes it. Its mtime is the guest's last use.
//! - `<key>.manifest`: one line per entry of the guest (path, type and mode, owner, size,
//!   mtime, ctime, inode), written at assembly and compared on every use: a file changed on
//!   disk since (even with its mtime put back: the ctime moves) is noticed and the guest
//!   rebuilt instead of used.
//! - `.tmp-<key>-*`: a guest being assembled (renamed to `<key>` when done).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::safefs::{Dir, Visit};

/// How a guest's lock is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

/// A held lock on `<key>.lock` (released when dropped).
#[derive(Debug)]
pub struct GuestLock {
    file: File,
}

impl GuestLock {
    /// Lock `guests/<key>.lock` (created when missing). `wait` false: `None` when someone
    /// else holds a conflicting lock. A lock file unlinked by a prune while this process
    /// waited is noticed (its inode no longer is the path's) and the new one locked instead.
    pub fn take(guests: &Path, key: &str, mode: LockMode, wait: bool) -> io::Result<Option<Self>> {
        let path = lock_path(guests, key);
        loop {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            let lock = GuestLock { file };
            if !lock.set(mode, wait)? {
                return Ok(None);
            }
            let held = lock.file.metadata()?;
            match std::fs::symlink_metadata(&path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                    return Ok(Some(lock));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Change this lock's mode (`flock` converts it; not atomically: someone may get in
    /// between, so callers check the guest again afterwards). `false` when `wait` is false and
    /// it conflicts (the old lock is then gone too).
    pub fn set(&self, mode: LockMode, wait: bool) -> io::Result<bool> {
        let mut op = match mode {
            LockMode::Shared => libc::LOCK_SH,
            LockMode::Exclusive => libc::LOCK_EX,
        };
        if !wait {
            op |= libc::LOCK_NB;
        }
        loop {
            // SAFETY: flock on a descriptor this struct owns.
            if unsafe { libc::flock(self.file.as_raw_fd(), op) } == 0 {
                return Ok(true);
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) if !wait => return Ok(false),
                _ => return Err(err),
            }
        }
    }

    /// Record a use now (the lock file's mtime, which prune's age rule reads).
    pub fn touch(&self) {
        // SAFETY: futimens with NULL sets both times to now on a descriptor we own.
        unsafe { libc::futimens(self.file.as_raw_fd(), std::ptr::null()) };
    }
}

pub fn lock_path(guests: &Path, key: &str) -> PathBuf {
    guests.join(format!("{key}.lock"))
}

pub fn manifest_path(guests: &Path, key: &str) -> PathBuf {
    guests.join(format!("{key}.manifest"))
}

/// The prefix of a guest being assembled.
pub fn temp_prefix(key: &str) -> String {
    format!(".tmp-{key}-")
}

/// The manifest of the tree at `dir`: sorted lines, one per entry (the root included).
/// A plain `readdir` + `lstat` walk (no step ever writes the cached guest, and this runs on
/// every use, so it is kept to the fewest system calls); symlinks are never followed.
pub fn manifest(dir: &Path) -> io::Result<String> {
    let line = |rel: &Path, st: &std::fs::Metadata| {
        format!(
            "{}\t{:o}\t{}:{}\t{}\t{}\t{}\t{}",
            rel.display(),
            st.mode(),
            st.uid(),
            st.gid(),
            st.size(),
            st.mtime() as i128 * 1_000_000_000 + st.mtime_nsec() as i128,
            st.ctime() as i128 * 1_000_000_000 + st.ctime_nsec() as i128,
            st.ino()
        )
    };
    let mut lines = vec![line(Path::new("."), &std::fs::symlink_metadata(dir)?)];
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        for entry in std::fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let st = entry.metadata()?;
            let path = rel.join(entry.file_name());
            lines.push(line(&path, &st));
            if st.is_dir() {
                todo.push(path);
            }
        }
    }
    lines.sort();
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(text)
}

/// Compare the guest at `dir` with its recorded manifest: `None` when it is as assembled,
/// else the first difference, for a message.
pub fn changed_since_assembly(dir: &Path, recorded: &Path) -> io::Result<Option<String>> {
    let recorded = match std::fs::read_to_string(recorded) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Some("it has no manifest".into()));
        }
        Err(e) => return Err(e),
    };
    let now = match manifest(dir) {
        Ok(now) => now,
        Err(e) => return Ok(Some(format!("it cannot be read whole ({e})"))),
    };
    if now == recorded {
        return Ok(None);
    }
    let path_of = |l: &str| l.split('\t').next().unwrap_or("").to_string();
    let mut old = recorded.lines();
    let mut new = now.lines();
    loop {
        match (old.next(), new.next()) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(a), Some(b)) if path_of(a) == path_of(b) => {
                return Ok(Some(format!("{} changed", path_of(a))));
            }
            (Some(a), Some(b)) => {
                let (a, b) = (path_of(a), path_of(b));
                return Ok(Some(if a < b {
                    format!("{a} is gone")
                } else {
                    format!("{b} appeared")
                }));
            }
            (Some(a), None) => return Ok(Some(format!("{} is gone", path_of(a)))),
            (None, Some(b)) => return Ok(Some(format!("{} appeared", path_of(b)))),
            (None, None) => return Ok(None),
        }
    }
}

/// One cached guest, for `melwrap cache info` and `prune`.
#[derive(Debug, Clone)]
pub struct CachedGuest {
    pub key: String,
    /// Bytes on disk.
    pub size: u64,
    /// The last build or test that used it (its lock file's mtime).
    pub last_used: SystemTime,
}

/// Every assembled guest under `guests` (a missing directory has none).
pub fn list(guests: &Path) -> io::Result<Vec<CachedGuest>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(guests) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        let last_used = std::fs::metadata(lock_path(guests, &name))
            .or_else(|_| entry.metadata())
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        out.push(CachedGuest {
            size: tree_size(&entry.path())?,
            key: name,
            last_used,
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

fn tree_size(dir: &Path) -> io::Result<u64> {
    let root = Dir::open_anchor(dir)?;
    let mut size = root.stat()?.allocated();
    root.walk(|entry| {
        size += entry.stat().allocated();
        Ok(Visit::Descend)
    })?;
    Ok(size)
}

/// What [`prune`] removes.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuestPruneRules {
    /// Guests not used for this long.
    pub older_than: Option<Duration>,
    /// Then the least recently used until the guests fit.
    pub max_size: Option<u64>,
    pub dry_run: bool,
}

/// What [`prune`] did.
#[derive(Debug, Default)]
pub struct GuestPruneReport {
    pub removed: Vec<CachedGuest>,
    /// Chosen but in use by a build or test (left alone).
    pub in_use: Vec<String>,
    /// Leftovers of interrupted assemblies and lock files of guests no longer there.
    pub leftovers: usize,
}

/// Leftover `.tmp-*` directories older than this (with their lock free) are removed.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// Remove guests by `rules`, never one in use (its lock is taken exclusively, without
/// waiting, before anything is removed); then leftovers of interrupted assemblies.
pub fn prune(guests: &Path, rules: GuestPruneRules) -> io::Result<GuestPruneReport> {
    let mut report = GuestPruneReport::default();
    let mut all = list(guests)?;
    all.sort_by_key(|g| g.last_used);
    let now = SystemTime::now();
    let mut total: u64 = all.iter().map(|g| g.size).sum();
    let mut chosen = Vec::new();
    for guest in all {
        let old = rules.older_than.is_some_and(|age| {
            now.duration_since(guest.last_used)
                .is_ok_and(|used| used >= age)
        });
        let big = rules.max_size.is_some_and(|max| total > max);
        if old || big {
            total = total.saturating_sub(guest.size);
            chosen.push(guest);
        }
    }
    for guest in chosen {
        let Some(lock) = GuestLock::take(guests, &guest.key, LockMode::Exclusive, false)? else {
            report.in_use.push(guest.key);
            continue;
        };
        if !rules.dry_run {
            remove_guest(guests, &guest.key)?;
            // Unlinked while held: a session waiting on the old file sees the inode change.
            let _ = std::fs::remove_file(lock_path(guests, &guest.key));
        }
        drop(lock);
        report.removed.push(guest);
    }
    if !rules.dry_run {
        report.leftovers = remove_leftovers(guests, now)?;
    }
    Ok(report)
}

/// Remove guest `key` and its manifest (the caller holds its lock exclusively).
pub fn remove_guest(guests: &Path, key: &str) -> io::Result<()> {
    let _ = std::fs::remove_file(manifest_path(guests, key));
    let dir = Dir::open_anchor(guests)?;
    match dir.remove_tree(key) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// `.tmp-<key>-*` directories older than [`STALE_TEMP_AGE`] whose lock is free, and lock
/// files with neither guest nor assembly beside them and nobody holding them.
fn remove_leftovers(guests: &Path, now: SystemTime) -> io::Result<usize> {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(guests) else {
        return Ok(0);
    };
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let dir = Dir::open_anchor(guests)?;
    for name in &names {
        let path = guests.join(name);
        if let Some(rest) = name.strip_prefix(".tmp-") {
            let key = rest.split('-').next().unwrap_or_default();
            let old = std::fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|a| a >= STALE_TEMP_AGE));
            if key.is_empty() || !old {
                continue;
            }
            if let Some(_lock) = GuestLock::take(guests, key, LockMode::Exclusive, false)? {
                dir.remove_tree(name)?;
                removed += 1;
            }
        } else if let Some(key) = name.strip_suffix(".lock") {
            let busy = names
                .iter()
                .any(|n| n == key || n.starts_with(&temp_prefix(key)));
            if busy {
                continue;
            }
            if let Some(_lock) = GuestLock::take(guests, key, LockMode::Exclusive, false)? {
                let _ = std::fs::remove_file(manifest_path(guests, key));
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_notices_a_changed_file_even_with_its_mtime_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let guest = dir.path().join("g");
        std::fs::create_dir_all(guest.join("bin")).unwrap();
        std::fs::write(guest.join("bin/sh"), "sh").unwrap();
        let recorded = dir.path().join("g.manifest");
        std::fs::write(&recorded, manifest(&guest).unwrap()).unwrap();
        assert_eq!(changed_since_assembly(&guest, &recorded).unwrap(), None);

        let before = std::fs::metadata(guest.join("bin/sh")).unwrap();
        std::fs::write(guest.join("bin/sh"), "xx").unwrap();
        let f = File::options()
            .write(true)
            .open(guest.join("bin/sh"))
            .unwrap();
        f.set_modified(before.modified().unwrap()).unwrap();
        let said = changed_since_assembly(&guest, &recorded).unwrap().unwrap();
        assert_eq!(said, "bin/sh changed");

        std::fs::write(&recorded, manifest(&guest).unwrap()).unwrap();
        std::fs::write(guest.join("bin/extra"), "").unwrap();
        let said = changed_since_assembly(&guest, &recorded).unwrap().unwrap();
        // The directory's times changed first, then the new entry: either names it.
        assert!(
            said == "bin changed" || said == "bin/extra appeared",
            "{said}"
        );
    }

    #[test]
    fn prune_leaves_a_guest_in_use_and_removes_an_unused_one() {
        let dir = tempfile::tempdir().unwrap();
        let guests = dir.path();
        for key in ["aaa", "bbb"] {
            std::fs::create_dir_all(guests.join(key).join("etc")).unwrap();
            std::fs::write(guests.join(key).join("etc/f"), "x").unwrap();
        }
        let held = GuestLock::take(guests, "aaa", LockMode::Shared, true)
            .unwrap()
            .unwrap();
        let rules = GuestPruneRules {
            older_than: Some(Duration::ZERO),
            ..Default::default()
        };
        let report = prune(guests, rules).unwrap();
        assert_eq!(report.in_use, vec!["aaa".to_string()]);
        assert_eq!(report.removed.len(), 1);
        assert!(guests.join("aaa/etc/f").exists());
        assert!(!guests.join("bbb").exists());
        drop(held);
    }

    #[test]
    fn prune_removes_old_leftovers_and_stale_locks_but_not_fresh_or_held_ones() {
        let dir = tempfile::tempdir().unwrap();
        let guests = dir.path();
        let old = SystemTime::now() - Duration::from_secs(2 * 3600);
        for (name, age) in [(".tmp-aaa-1", Some(old)), (".tmp-bbb-1", None)] {
            std::fs::create_dir_all(guests.join(name).join("etc")).unwrap();
            if let Some(t) = age {
                File::open(guests.join(name))
                    .unwrap()
                    .set_modified(t)
                    .unwrap();
            }
        }
        // A held lock's assembly is left alone however old; a lock with nothing beside it goes.
        std::fs::create_dir_all(guests.join(".tmp-ccc-1")).unwrap();
        File::open(guests.join(".tmp-ccc-1"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let held = GuestLock::take(guests, "ccc", LockMode::Exclusive, true)
            .unwrap()
            .unwrap();
        std::fs::write(guests.join("ddd.lock"), "").unwrap();
        let report = prune(
            guests,
            GuestPruneRules {
                older_than: Some(Duration::from_secs(3600)),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!guests.join(".tmp-aaa-1").exists());
        assert!(guests.join(".tmp-bbb-1").exists(), "too young");
        assert!(guests.join(".tmp-ccc-1").exists(), "its lock is held");
        assert!(!guests.join("ddd.lock").exists());
        assert!(report.leftovers >= 2, "{report:?}");
        drop(held);
    }
}
