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

/// The resolver's [`super::IndexSource`] for any repository, through the cache: each index is
/// checked (signature against `keyring`, unless `ignore_signatures`; a body that parses) before
/// it is used and before a download enters the cache, so a tampered or damaged download never
/// replaces a good cached copy.
pub struct VerifiedIndexes<'a> {
    pub cache: &'a ApkCache,
    pub fetcher: &'a Fetcher,
    pub network: Network,
    pub printer: Printer,
    pub keyring: &'a super::Keyring,
    pub ignore_signatures: bool,
}

impl super::IndexSource for VerifiedIndexes<'_> {
    fn index_bytes(&self, repo: &super::Repository, arch: &str) -> Result<Vec<u8>, String> {
        let check = |bytes: &[u8]| -> eyre::Result<()> {
            let sig = super::apkindex::split_signature(bytes).map_err(|e| eyre::eyre!(e))?;
            let verified = match self.ignore_signatures {
                true => false,
                false => match self
                    .keyring
                    .verify(&sig.signatures, &bytes[sig.signed_from..])
                {
                    Ok(_) => true,
                    // The user's own unsigned output (see `Repository::own_unsigned`).
                    Err(super::verify::VerifyError::Unsigned) if repo.own_unsigned => false,
                    Err(why) => {
                        return Err(eyre::eyre!(super::repository::untrusted_message(
                            repo,
                            arch,
                            &why,
                            self.keyring
                        )));
                    }
                },
            };
            if !verified {
                super::apkindex::parse_body(&bytes[sig.signed_from..])
                    .map_err(|e| eyre::eyre!("not a valid index: {e}"))?;
            }
            Ok(())
        };
        CachedIndexes {
            cache: self.cache,
            fetcher: self.fetcher,
            network: self.network,
            printer: self.printer,
            check: &check,
        }
        .index_bytes(&repo.location, arch)
    }
}
