//! Usage snapshots of the cache and the per-build report made from two of them: how large the
//! cache was, what the build added and read per area, and which `fetch` sources it found in
//! the cache.
//!
//! The difference between two snapshots is everything that changed in between, so when
//! several builds share a cache at once each report also counts what the others wrote.
//!
//! Reads: a `fetch` source served from the cache is known exactly (the build names the blobs
//! it looks up). For the other areas a read is seen only when the file system moves a file's
//! access time forward, which the usual `relatime` mount option does at most once a day per
//! file and `noatime` never: an entry counted as read was read, but one not counted may have
//! been read too. The report therefore says "read" only for what it saw, and never calls an
//! area "unchanged".

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::CacheDir;
use super::areas::Area;
use super::scan::{Scan, scan};
use super::units::{format_bytes, format_delta};

/// Size and use of one area (or of the whole cache).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AreaUsage {
    pub bytes: u64,
    pub files: u64,
    /// Prunable entries (see the table of granularity per area in docs/cache.md).
    pub entries: u64,
    /// Last use of the least recently used entry, in Unix seconds.
    pub oldest_use: Option<i64>,
    /// Last use of the most recently used entry, in Unix seconds.
    pub newest_use: Option<i64>,
}

impl AreaUsage {
    fn add(&mut self, bytes: u64, files: u64, entries: u64, oldest: i64, newest: i64) {
        self.bytes += bytes;
        self.files += files;
        self.entries += entries;
        self.oldest_use = Some(self.oldest_use.map_or(oldest, |o| o.min(oldest)));
        self.newest_use = Some(self.newest_use.map_or(newest, |n| n.max(newest)));
    }
}

/// The cache's usage at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub path: PathBuf,
    /// Only the areas that hold something.
    pub areas: BTreeMap<Area, AreaUsage>,
    /// Names of the `sha256:`/`sha512:` blobs present.
    pub blobs: BTreeSet<String>,
    /// Paths that could not be read, so the sizes may be low.
    pub unreadable: Vec<PathBuf>,
    /// Every entry by key: its area, size and last use (for what a build read).
    pub entries: BTreeMap<String, EntryUse>,
}

/// One entry of a [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryUse {
    pub area: Area,
    pub bytes: u64,
    pub last_use: i64,
}

impl Snapshot {
    /// Sums a walk per area.
    pub fn from_scan(path: PathBuf, scan: &Scan) -> Snapshot {
        let mut areas: BTreeMap<Area, AreaUsage> = BTreeMap::new();
        let mut blobs = BTreeSet::new();
        let mut entries = BTreeMap::new();
        for e in &scan.entries {
            entries.insert(
                e.key.clone(),
                EntryUse {
                    area: e.area,
                    bytes: e.bytes,
                    last_use: e.last_use,
                },
            );
            areas
                .entry(e.area)
                .or_default()
                .add(e.bytes, e.files, 1, e.last_use, e.last_use);
            if e.area == Area::Fetch {
                blobs.insert(e.key.clone());
            }
        }
        Snapshot {
            path,
            areas,
            blobs,
            unreadable: scan.unreadable.clone(),
            entries,
        }
    }

    /// The whole cache.
    pub fn total(&self) -> AreaUsage {
        let mut total = AreaUsage::default();
        for u in self.areas.values() {
            if let (Some(o), Some(n)) = (u.oldest_use, u.newest_use) {
                total.add(u.bytes, u.files, u.entries, o, n);
            }
        }
        total
    }

    /// One area's usage (zero when empty).
    pub fn area(&self, area: Area) -> AreaUsage {
        self.areas.get(&area).copied().unwrap_or_default()
    }
}

/// Walks the cache once and sums it per area.
pub fn snapshot(cache: &CacheDir) -> Snapshot {
    Snapshot::from_scan(cache.path().to_path_buf(), &scan(cache.path()))
}

/// What changed in one area during a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AreaDelta {
    pub area: Area,
    pub bytes: i64,
    pub entries: i64,
}

/// Which of the build's `fetch` sources were already in the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FetchHits {
    /// Blob names found in the cache before the build.
    pub served: Vec<String>,
    /// Blob names that were not (downloaded, or failed).
    pub missed: Vec<String>,
}

/// The cache part of a build's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BuildCacheReport {
    pub size_before: u64,
    pub size_after: u64,
    /// Areas whose size or entry count changed, largest change first.
    pub added: Vec<AreaDelta>,
    /// Blobs present after the build and not before.
    pub new_blobs: Vec<String>,
    /// Set by [`BuildCacheReport::with_fetch_sources`].
    pub fetch: Option<FetchHits>,
    /// Per area that holds something or changed: what the build added and what it was seen
    /// to read, in [`Area::ALL`] order.
    pub areas: Vec<AreaReport>,
    #[serde(skip)]
    blobs_before: BTreeMap<String, u64>,
}

/// One area in a build's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AreaReport {
    pub area: Option<Area>,
    /// Size and entries after the build.
    pub bytes: u64,
    pub entries: u64,
    /// Change in size over the build (negative when something was removed).
    pub added_bytes: i64,
    /// Entries that were not there before.
    pub new_entries: u64,
    /// Entries that were there before, unchanged in size, and were seen to be read (their
    /// access time moved; `fetch`: served from the cache).
    pub read_entries: u64,
    pub read_bytes: u64,
}

/// Compares the snapshots taken before and after a build.
pub fn summarize(before: &Snapshot, after: &Snapshot) -> BuildCacheReport {
    let mut added: Vec<AreaDelta> = Area::ALL
        .into_iter()
        .map(|area| {
            let (b, a) = (before.area(area), after.area(area));
            AreaDelta {
                area,
                bytes: a.bytes as i64 - b.bytes as i64,
                entries: a.entries as i64 - b.entries as i64,
            }
        })
        .filter(|d| d.bytes != 0 || d.entries != 0)
        .collect();
    added.sort_by(|x, y| {
        y.bytes
            .unsigned_abs()
            .cmp(&x.bytes.unsigned_abs())
            .then(x.area.cmp(&y.area))
    });
    BuildCacheReport {
        size_before: before.total().bytes,
        size_after: after.total().bytes,
        added,
        new_blobs: after.blobs.difference(&before.blobs).cloned().collect(),
        fetch: None,
        areas: area_reports(before, after),
        blobs_before: before
            .entries
            .iter()
            .filter(|(_, e)| e.area == Area::Fetch)
            .map(|(k, e)| (k.clone(), e.bytes))
            .collect(),
    }
}

/// Per area: size after, what was added, what was seen to be read.
fn area_reports(before: &Snapshot, after: &Snapshot) -> Vec<AreaReport> {
    let mut by_area: BTreeMap<Area, AreaReport> = BTreeMap::new();
    for (key, now) in &after.entries {
        let r = by_area.entry(now.area).or_default();
        r.bytes += now.bytes;
        r.entries += 1;
        match before.entries.get(key) {
            None => r.new_entries += 1,
            Some(was) if was.bytes == now.bytes && now.last_use > was.last_use => {
                r.read_entries += 1;
                r.read_bytes += now.bytes;
            }
            Some(_) => {}
        }
    }
    for area in Area::ALL {
        let delta = after.area(area).bytes as i64 - before.area(area).bytes as i64;
        if delta != 0 || by_area.contains_key(&area) {
            by_area.entry(area).or_default().added_bytes = delta;
        }
    }
    Area::ALL
        .into_iter()
        .filter_map(|area| {
            by_area.remove(&area).map(|mut r| {
                r.area = Some(area);
                r
            })
        })
        .collect()
}

impl BuildCacheReport {
    /// Records which blobs the build's `fetch` steps asked for (`sha256:<hex>` or
    /// `sha512:<hex>`, the names `fetch` looks up), to report how many the cache served.
    pub fn with_fetch_sources<I, S>(mut self, wanted: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut hits = FetchHits::default();
        let wanted: BTreeSet<String> = wanted.into_iter().map(Into::into).collect();
        let (mut read_entries, mut read_bytes) = (0, 0);
        for name in wanted {
            if let Some(bytes) = self.blobs_before.get(&name) {
                read_entries += 1;
                read_bytes += bytes;
                hits.served.push(name);
            } else {
                hits.missed.push(name);
            }
        }
        // What `fetch` read is known exactly: the served blobs, not access times.
        if let Some(r) = self.areas.iter_mut().find(|r| r.area == Some(Area::Fetch)) {
            r.read_entries = read_entries;
            r.read_bytes = read_bytes;
        }
        self.fetch = Some(hits);
        self
    }

    /// The lines printed after a build: [`BuildCacheReport::render_line`], then one line per
    /// area that holds something, e.g.
    /// `  gomodcache 20.8 MiB in 12 entries: nothing added; read 20.8 MiB (12 entries)`.
    pub fn render_lines(&self) -> Vec<String> {
        let mut lines = vec![self.render_line()];
        for r in &self.areas {
            let Some(area) = r.area else { continue };
            let mut parts = Vec::new();
            if r.added_bytes == 0 && r.new_entries == 0 {
                parts.push("nothing added".to_string());
            } else {
                parts.push(format!(
                    "added {} ({} new {})",
                    format_delta(r.added_bytes),
                    r.new_entries,
                    if r.new_entries == 1 {
                        "entry"
                    } else {
                        "entries"
                    }
                ));
            }
            if r.read_entries > 0 {
                parts.push(format!(
                    "read {} ({} {})",
                    format_bytes(r.read_bytes),
                    r.read_entries,
                    if r.read_entries == 1 {
                        "entry"
                    } else {
                        "entries"
                    }
                ));
            }
            lines.push(format!(
                "  {area} {} in {} {}: {}",
                format_bytes(r.bytes),
                r.entries,
                if r.entries == 1 { "entry" } else { "entries" },
                parts.join("; ")
            ));
        }
        lines
    }

    /// The one line printed after a build, e.g.
    /// `cache: 1.2 GiB (+35.0 MiB: gomodcache +30.0 MiB, pip +5.0 MiB); fetch served from cache: 2 of 3`.
    pub fn render_line(&self) -> String {
        let mut line = format!("cache: {}", format_bytes(self.size_before));
        if self.added.is_empty() {
            line.push_str(" (nothing added)");
        } else {
            let parts: Vec<String> = self
                .added
                .iter()
                .map(|d| format!("{} {}", d.area, format_delta(d.bytes)))
                .collect();
            let total = self.size_after as i64 - self.size_before as i64;
            line.push_str(&format!(" ({}: {})", format_delta(total), parts.join(", ")));
        }
        if let Some(f) = &self.fetch
            && !(f.served.is_empty() && f.missed.is_empty())
        {
            line.push_str(&format!(
                "; fetch served from cache: {} of {}",
                f.served.len(),
                f.served.len() + f.missed.len()
            ));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::scan::Entry;

    fn entry(area: Area, key: &str, bytes: u64, last_use: i64) -> Entry {
        Entry {
            area,
            key: key.to_string(),
            roots: vec![PathBuf::from(key)],
            bytes,
            files: 1,
            last_use,
        }
    }

    fn snap(entries: Vec<Entry>) -> Snapshot {
        Snapshot::from_scan(
            PathBuf::from("/c"),
            &Scan {
                entries,
                ..Scan::default()
            },
        )
    }

    #[test]
    fn renders_the_summary_line() {
        let blob = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let before = snap(vec![
            entry(Area::Go, "go/a", (12 << 30) / 10, 10),
            entry(Area::Fetch, &blob('a'), 0, 10),
            entry(Area::Fetch, &blob('b'), 0, 10),
        ]);
        let mut more = vec![
            entry(Area::Gomodcache, "gomodcache/x", 30 << 20, 20),
            entry(Area::Pip, "pip/y", 5 << 20, 20),
            entry(Area::Fetch, &blob('c'), 1 << 20, 20),
        ];
        more.extend([
            entry(Area::Go, "go/a", (12 << 30) / 10, 10),
            entry(Area::Fetch, &blob('a'), 0, 10),
            entry(Area::Fetch, &blob('b'), 0, 10),
        ]);
        let after = snap(more);
        let report =
            summarize(&before, &after).with_fetch_sources([blob('a'), blob('b'), blob('c')]);
        assert_eq!(
            report.render_line(),
            "cache: 1.2 GiB (+36.0 MiB: gomodcache +30.0 MiB, pip +5.0 MiB, fetch +1.0 MiB); \
             fetch served from cache: 2 of 3"
        );
        assert_eq!(report.new_blobs, [blob('c')]);
        let same = summarize(&before, &before);
        assert_eq!(same.render_line(), "cache: 1.2 GiB (nothing added)");
        let lines = report.render_lines();
        assert_eq!(lines[0], report.render_line());
        assert!(
            lines.contains(
                &"  fetch 1.0 MiB in 3 entries: added +1.0 MiB (1 new entry); read 0 B (2 entries)"
                    .to_string()
            ),
            "{lines:#?}"
        );
        assert!(
            lines.contains(
                &"  gomodcache 30.0 MiB in 1 entry: added +30.0 MiB (1 new entry)".to_string()
            ),
            "{lines:#?}"
        );
        assert!(
            lines.contains(&"  go 1.2 GiB in 1 entry: nothing added".to_string()),
            "{lines:#?}"
        );
    }

    #[test]
    fn an_entry_whose_access_time_moved_was_read() {
        let before = snap(vec![
            entry(Area::Gomodcache, "gomodcache/a", 100, 10),
            entry(Area::Gomodcache, "gomodcache/b", 50, 10),
        ]);
        let after = snap(vec![
            entry(Area::Gomodcache, "gomodcache/a", 100, 20),
            entry(Area::Gomodcache, "gomodcache/b", 50, 10),
        ]);
        let report = summarize(&before, &after);
        assert_eq!(report.render_line(), "cache: 150 B (nothing added)");
        assert_eq!(
            report.render_lines()[1],
            "  gomodcache 150 B in 2 entries: nothing added; read 100 B (1 entry)"
        );
    }

    #[test]
    fn totals_and_ages() {
        let s = snap(vec![
            entry(Area::Npm, "npm/a", 10, 100),
            entry(Area::Npm, "npm/b", 20, 300),
            entry(Area::Uv, "uv", 5, 200),
        ]);
        let npm = s.area(Area::Npm);
        assert_eq!(
            (npm.bytes, npm.entries, npm.oldest_use, npm.newest_use),
            (30, 2, Some(100), Some(300))
        );
        let total = s.total();
        assert_eq!((total.bytes, total.entries), (35, 3));
        assert_eq!(s.area(Area::Cargo), AreaUsage::default());
    }
}
