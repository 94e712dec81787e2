//! Index bytes for the resolver: local directories read in place, URLs through the apk cache
//! (downloaded when stale, checked, then cached; the cached copy offline).
//!
//! The resolver's `IndexSource` trait asks for `index_bytes(repository, arch)`; this is the
//! implementation for any location, with the signature check run *before* a download replaces
//! the cached copy (so a tampered download never evicts a good index).

use color_eyre::eyre;

use super::cache::{ApkCache, Network};
use super::fetch::Fetcher;
use crate::printer::Printer;

/// Where the resolver gets `<location>/<arch>/APKINDEX.tar.gz` from.
pub struct CachedIndexes<'a> {
    pub cache: &'a ApkCache,
    pub fetcher: &'a Fetcher,
    pub network: Network,
    pub printer: Printer,
    /// Run on an index's bytes before they are used, and on a download before it enters the
    /// cache (the signature check); an error keeps the download out.
    pub check: &'a (dyn Fn(&[u8]) -> eyre::Result<()> + Sync),
}

impl CachedIndexes<'_> {
    /// The index bytes of `location` (a URL, `file://` URL or directory) for `arch`.
    pub fn index_bytes(&self, location: &str, arch: &str) -> Result<Vec<u8>, String> {
        self.cache
            .index(
                self.fetcher,
                self.network,
                &self.printer,
                location,
                arch,
                self.check,
            )
            .map(|idx| idx.bytes)
            .map_err(|e| format!("{e:#}"))
    }
}
