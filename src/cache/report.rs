//! Usage snapshots of the cache and the per-build report made from two of them: how large the
//! cache was, what the build added per area, and which `fetch` sources it found in the cache.
//!
//! The difference between two snapshots is everything that changed in between, so when
//! several builds share a cache at once each report also counts what the others wrote.

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
}

impl Snapshot {
    /// Sums a walk per area.
    pub fn from_scan(path: PathBuf, scan: &Scan) -> Snapshot {
        let mut areas: BTreeMap<Area, AreaUsage> = BTreeMap::new();
        let mut blobs = BTreeSet::new();
        for e in &scan.entries {
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
    #[serde(skip)]
    blobs_before: BTreeSet<String>,
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
        blobs_before: before.blobs.clone(),
    }
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
        for name in wanted {
            if self.blobs_before.contains(&name) {
                hits.served.push(name);
            } else {
                hits.missed.push(name);
            }
        }
        self.fetch = Some(hits);
        self
    }

    /// The one line printed after a build, e.g.
    /// `cache: 1.2 GiB (+35.0 MiB: gomodcache +30.0 MiB, pip +5.0 MiB); fetch served from cache: 2 of 3`.
    pub fn render_line(&self) -> String {
        let mut line = format!("cache: {}", format_bytes(self.size_before));
        if self.added.is_empty() {
            line.push_str(" (unchanged)");
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
        assert_eq!(same.render_line(), "cache: 1.2 GiB (unchanged)");
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
