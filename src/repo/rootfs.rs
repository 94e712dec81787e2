//! The assembly path of `melwrap rootfs` as one call: the resolver's answer (as [`Wanted`]
//! packages) in, a verified root out. Keys named by file or URL become `etc/apk/keys/*`.

use std::path::Path;

use color_eyre::eyre;

use super::cache::{ApkCache, Network, Wanted};
use super::fetch::{Fetcher, Location, location};
use super::install::{Assembled, RootConfig, assemble, check_target};
use crate::diag::Diagnostic;
use crate::printer::Printer;

/// Largest key file read.
const MAX_KEY: u64 = 1 << 20;

/// Everything [`build_rootfs`] needs besides the packages.
pub struct Sources<'a> {
    pub cache: &'a ApkCache,
    pub fetcher: &'a Fetcher,
    pub network: Network,
    pub printer: Printer,
}

/// `etc/apk/keys` entries for key locations (files, `file://` or `http(s)://` URLs), named by
/// their last path component as apk names keys.
pub fn key_files(sources: &Sources, keys: &[String]) -> eyre::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for k in keys {
        let name = k
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .ok_or_else(|| Diagnostic::new(k, "a key needs a file name"))?;
        let bytes = match location(k) {
            Location::Local(path) => crate::bounded_read::read_regular(&path, MAX_KEY)
                .map_err(|e| Diagnostic::new(&path, format!("cannot read the key: {e}")))?,
            Location::Remote(_) if sources.network == Network::Offline => {
                return Err(
                    Diagnostic::new(k, "a key URL, and melwrap runs with `--no-network`")
                        .hint("download the key once and name the file")
                        .into(),
                );
            }
            Location::Remote(url) => sources.fetcher.bytes(&url, MAX_KEY)?,
        };
        out.push((name.to_string(), bytes));
    }
    Ok(out)
}

/// Gets and verifies `wanted` (in install order) through the cache, then assembles them into
/// `dir` (new or empty) with `config`'s database files.
pub fn build_rootfs(
    dir: &Path,
    wanted: &[Wanted],
    config: &RootConfig,
    sources: &Sources,
) -> eyre::Result<Assembled> {
    check_target(dir)?;
    let packages =
        sources
            .cache
            .packages(sources.fetcher, sources.network, &sources.printer, wanted)?;
    assemble(dir, &packages, config)
}
