//! Index bytes for the resolver: local directories read in place, URLs through the apk cache
//! (downloaded when stale, checked, then cached; the cached copy offline).
//!
//! The resolver's `IndexSource` trait asks for `index_bytes(repository, arch)`; this is the
//! implementation for any location, with the signature check run *before* a download replaces
//! the cached copy (so a tampered download never evicts a good index).

use std::path::Path;

use color_eyre::eyre;

use super::cache::{ApkCache, Network};
use super::fetch::Fetcher;
use crate::printer::Printer;

/// Largest index file read (compressed), as for local repositories.
const MAX_INDEX_FILE: u64 = 256 << 20;

/// Where the resolver gets `<location>/<arch>/APKINDEX.tar.gz` from.
pub struct CachedIndexes<'a> {
    pub cache: &'a ApkCache,
    pub fetcher: &'a Fetcher,
    pub network: Network,
    pub printer: Printer,
    /// Run on a downloaded index before it enters the cache (the signature check); an error
    /// keeps the download out.
    pub check: &'a (dyn Fn(&Path) -> eyre::Result<()> + Sync),
}

impl CachedIndexes<'_> {
    /// The index bytes of `location` (a URL, `file://` URL or directory) for `arch`.
    pub fn index_bytes(&self, location: &str, arch: &str) -> Result<Vec<u8>, String> {
        let idx = self
            .cache
            .index(
                self.fetcher,
                self.network,
                &self.printer,
                location,
                arch,
                self.check,
            )
            .map_err(|e| format!("{e:#}"))?;
        crate::bounded_read::read_regular(&idx.path, MAX_INDEX_FILE)
            .map_err(|e| format!("cannot read {}: {e}", idx.path.display()))
    }
}
