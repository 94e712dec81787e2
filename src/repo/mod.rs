//! The apk repository client: repositories and keys, signed indexes and resolution that gives
//! apk-tools 2.14's answers; downloads, the verified package cache, and assembling a root from
//! verified packages.
//!
//! | file | owns |
//! |---|---|
//! | `repository` | [`Repository`] (`@tag` lines), [`Environment`], [`IndexSource`] (where index bytes come from; [`LocalSource`] for directories), [`load_repositories`] |
//! | `apkindex` | splitting an `APKINDEX.tar.gz` into signature, signed bytes and entries |
//! | `verify` | [`Keyring`]: `.SIGN.RSA.*` (SHA-1) and `.SIGN.RSA256.*` (SHA-256) checks |
//! | `version` | apk version comparison and fuzzy matching |
//! | `dep` | [`Dep`]: dependency atoms |
//! | `db` | the interned package database (names, providers, reverse links, tags) |
//! | `solver` | the port of apk-tools' solver |
//! | `resolve` | [`Universe`]: requests in, sorted package set or a chained explanation out |
//! | `fetch` | HTTP(S) and local reads: trust store, proxies, timeouts, retries, the download pool |
//! | `progress` | the download display |
//! | `integrity` | a package against its index entry (size, `C:`, `datahash`) |
//! | `cache` | `--apk-cache-dir`: per-repository directories, atomic writes, locks, offline use |
//! | `source` | [`source::CachedIndexes`]: index bytes through the cache; [`source::VerifiedIndexes`]: the resolver's [`IndexSource`] for any repository, signature checked before an index is cached |
//! | `order` | [`order::install_order`]: apk-tools' commit order (dependencies first) |
//! | `install` | unpacking verified packages into a new root with apk's database files |
//! | `installed_db` | `lib/apk/db/installed` entries |
//! | `finish` | mtimes and xattrs after unpacking |
//! | `owners` | which package owns a file; apk's rule for a later package carrying it |
//! | `rootfs` | [`rootfs::build_rootfs`]: wanted packages to an assembled root; [`rootfs::keyring`] from key files and URLs; [`rootfs::resolve_through_cache`]; [`rootfs::wanted_in_order`] |
//!
//! Typical use: [`load_keyring`], [`load_repositories`] with an [`IndexSource`], then
//! [`Universe::new`] once and [`Universe::resolve`] per request list.

pub mod apkindex;
pub mod cache;
pub mod db;
pub mod dep;
pub mod fetch;
pub mod finish;
pub mod guests;
pub mod install;
pub mod installed_db;
pub mod integrity;
pub mod order;
pub mod owners;
pub mod progress;
pub mod repository;
pub mod resolve;
pub mod rootfs;
pub mod setup;
pub mod solver;
pub mod source;
pub mod verify;
pub mod version;

pub use dep::Dep;
pub use repository::{
    Environment, IndexSource, LoadedRepo, LocalSource, Repository, load_keyring, load_repositories,
};
pub use resolve::{ResolveError, ResolvedPackage, Universe};
pub use verify::{Keyring, VerifyError};

use crate::config::model::ImageContents;

impl Environment {
    /// A config's `environment.contents` (repositories, keyring, packages) followed by the
    /// command line's `--repository-append`, `--keyring-append` and `--package-append`.
    pub fn from_contents(
        contents: &ImageContents,
        repository_append: &[String],
        keyring_append: &[String],
        package_append: &[String],
    ) -> Result<Environment, String> {
        let cat =
            |a: &[String], b: &[String]| -> Vec<String> { a.iter().chain(b).cloned().collect() };
        Environment::from_lists(
            &cat(&contents.repositories, repository_append),
            &cat(&contents.keyring, keyring_append),
            &cat(&contents.packages, package_append),
        )
    }
}

/// Load, verify and resolve an environment in one call: the keyring from `env.keyring` (files),
/// every repository's index for `arch` through `source`, then the requested packages. Returns
/// the universe (reusable for other requests over the same indexes) and the sorted set.
pub fn resolve_environment(
    env: &Environment,
    arch: &str,
    source: &dyn IndexSource,
    ignore_signatures: bool,
    warn: &mut dyn FnMut(String),
) -> Result<(Universe, Vec<ResolvedPackage>), String> {
    if env.repositories.is_empty() {
        return Err(
            "no repositories: name one in environment.contents.repositories or with \
                    --repository-append"
                .into(),
        );
    }
    let keyring = load_keyring(&env.keyring)?;
    let loaded = load_repositories(
        source,
        &env.repositories,
        arch,
        &keyring,
        ignore_signatures,
        warn,
    )?;
    let universe = Universe::new(loaded);
    let set = universe.resolve(&env.packages).map_err(|e| e.to_string())?;
    Ok((universe, set))
}
