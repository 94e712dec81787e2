//! The assembly path of `melwrap rootfs` as one call: the resolver's answer (as [`Wanted`]
//! packages) in, a verified root out. Keys named by file or URL become `etc/apk/keys/*`.

use std::path::Path;

use color_eyre::eyre;

use super::cache::{ApkCache, Network, Wanted};
use super::fetch::{Fetcher, Location, location};
use super::install::{Assembled, RootConfig, assemble, check_target};
use crate::diag::Diagnostic;
use crate::printer::Printer;

/// `etc/apk/keys` entries: file name and PEM contents.
pub type KeyFiles = Vec<(String, Vec<u8>)>;

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

/// The keyring of `keys` (files or URLs, named by their last path component) and the same keys
/// as `etc/apk/keys` entries.
pub fn keyring(sources: &Sources, keys: &[String]) -> eyre::Result<(super::Keyring, KeyFiles)> {
    let files = key_files(sources, keys)?;
    let mut ring = super::Keyring::default();
    for ((name, pem), from) in files.iter().zip(keys) {
        ring.add_pem(name, &String::from_utf8_lossy(pem))
            .map_err(|e| Diagnostic::new(from, e).hint("a keyring entry is a PEM public key"))?;
    }
    Ok((ring, files))
}

/// Resolves `env` for `arch` with every index read through the cache (downloaded when stale,
/// checked against `keyring` before it is used or cached). Returns the resolver's answer
/// (sorted by name) or why there is none.
pub fn resolve_through_cache(
    env: &super::Environment,
    arch: &str,
    sources: &Sources,
    keyring: &super::Keyring,
    ignore_signatures: bool,
    warn: &mut dyn FnMut(String),
) -> Result<(super::Universe, Vec<super::ResolvedPackage>), String> {
    if env.repositories.is_empty() {
        return Err(
            "no repositories: name one in environment.contents.repositories or with \
             --repository-append"
                .into(),
        );
    }
    let source = super::source::VerifiedIndexes {
        cache: sources.cache,
        fetcher: sources.fetcher,
        network: sources.network,
        printer: sources.printer,
        keyring,
        ignore_signatures,
    };
    let loaded = super::load_repositories(
        &source,
        &env.repositories,
        arch,
        keyring,
        ignore_signatures,
        warn,
    )?;
    let universe = super::Universe::new(loaded);
    let set = universe.resolve(&env.packages).map_err(|e| e.to_string())?;
    Ok((universe, set))
}

/// The resolver's answer as packages to get, in apk's install order
/// ([`super::order::install_order`]).
pub fn wanted_in_order(
    set: &[super::ResolvedPackage],
    requests: &[String],
) -> eyre::Result<Vec<Wanted>> {
    super::order::install_order(set, requests)
        .into_iter()
        .map(|i| {
            let p = &set[i];
            Wanted::from_entry(&p.repository, &p.entry).map_err(|e| eyre::eyre!(e))
        })
        .collect()
}
