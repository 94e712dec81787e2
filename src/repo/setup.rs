//! Turning repository options (a config's `environment.contents` plus melange's
//! `--repository-append`, `--keyring-append`, `--package-append` and friends) into what
//! resolving and fetching need: the environment, the arch, the apk cache and a downloader.
//! Shared by `melwrap resolve`, `melwrap rootfs` and the guests of `build` and `test`.

use std::path::PathBuf;

use color_eyre::eyre;

use crate::printer::Printer;
use crate::repo::cache::{ApkCache, Network};
use crate::repo::fetch::{FetchOptions, Fetcher};
use crate::repo::install::RootConfig;
use crate::repo::rootfs::Sources;
use crate::repo::{Environment, Keyring};
use crate::status::{ExitStatus, StatusError};

/// What a command asks of the repositories (the plain values of its flags).
#[derive(Debug, Clone, Default)]
pub struct RepoOptions {
    /// apk's name or an OCI one; the host's when `None`.
    pub arch: Option<String>,
    pub repository_append: Vec<String>,
    pub keyring_append: Vec<String>,
    pub package_append: Vec<String>,
    pub ignore_signatures: bool,
    /// `None`: [`crate::repo::cache::default_dir`].
    pub apk_cache_dir: Option<PathBuf>,
    pub no_network: bool,
    pub ca_bundle: Option<PathBuf>,
    /// Repositories (as appended) that are the user's own output: used unsigned
    /// ([`crate::repo::Repository::own_unsigned`]).
    pub own_unsigned: Vec<String>,
}

/// The repository options of `build` and `test`, whose arch, network and CA bundle are their
/// own flags.
#[derive(Debug, Clone, Default)]
pub struct GuestOptions {
    pub repository_append: Vec<String>,
    pub keyring_append: Vec<String>,
    pub package_append: Vec<String>,
    pub ignore_signatures: bool,
    pub apk_cache_dir: Option<PathBuf>,
    /// Packages added to every test's guest (`--test-package-append`).
    pub test_package_append: Vec<String>,
    /// Appended repositories that are the user's own output (`melwrap test`'s out dir).
    pub own_unsigned: Vec<String>,
}

impl GuestOptions {
    /// As [`RepoOptions`] for `arch` (apk's name), offline when `no_network`.
    pub fn repo_options(
        &self,
        arch: &str,
        no_network: bool,
        ca_bundle: Option<PathBuf>,
    ) -> RepoOptions {
        RepoOptions {
            arch: Some(arch.to_string()),
            repository_append: self.repository_append.clone(),
            keyring_append: self.keyring_append.clone(),
            package_append: self.package_append.clone(),
            ignore_signatures: self.ignore_signatures,
            apk_cache_dir: self.apk_cache_dir.clone(),
            no_network,
            ca_bundle,
            own_unsigned: self.own_unsigned.clone(),
        }
    }
}

/// A refusal of bad input (exit 2).
pub fn bad(msg: impl Into<String>) -> eyre::Report {
    StatusError(ExitStatus::BadInput, msg.into()).into()
}

/// Everything a command needs to resolve and fetch: the environment, the arch, the cache and
/// the downloader.
pub struct Prepared {
    pub env: Environment,
    pub arch: String,
    pub cache: ApkCache,
    pub fetcher: Fetcher,
    pub network: Network,
    pub printer: Printer,
}

impl Prepared {
    pub fn sources(&self) -> Sources<'_> {
        Sources {
            cache: &self.cache,
            fetcher: &self.fetcher,
            network: self.network,
            printer: self.printer,
        }
    }

    /// The keyring (key files and URLs) and the keys as `etc/apk/keys` entries.
    pub fn keyring(&self) -> eyre::Result<(Keyring, crate::repo::rootfs::KeyFiles)> {
        crate::repo::rootfs::keyring(&self.sources(), &self.env.keyring)
    }

    /// What the root assembled from this environment records: its repositories, `keys` (from
    /// [`Prepared::keyring`]), the requested packages and the arch.
    pub fn root_config(&self, keys: crate::repo::rootfs::KeyFiles) -> RootConfig {
        RootConfig {
            repositories: self.env.repositories.iter().map(|r| r.display()).collect(),
            keys,
            world: self.env.packages.clone(),
            arch: self.arch.clone(),
        }
    }

    /// The resolver's answer (sorted by name); a failure is bad input (exit 2).
    pub fn resolve(
        &self,
        keyring: &Keyring,
        ignore_signatures: bool,
    ) -> eyre::Result<(crate::repo::Universe, Vec<crate::repo::ResolvedPackage>)> {
        let printer = self.printer;
        let mut warn = |m: String| printer.warn(m);
        crate::repo::rootfs::resolve_through_cache(
            &self.env,
            &self.arch,
            &self.sources(),
            keyring,
            ignore_signatures,
            &mut warn,
        )
        .map_err(bad)
    }
}

impl RepoOptions {
    /// The environment of `contents` plus the appended packages, repositories and keys, the
    /// arch, the cache and a downloader.
    pub fn prepare_contents(
        &self,
        contents: &crate::config::model::ImageContents,
        printer: Printer,
    ) -> eyre::Result<Prepared> {
        let mut env = Environment::from_contents(
            contents,
            &self.repository_append,
            &self.keyring_append,
            &self.package_append,
        )
        .map_err(bad)?;
        // The same directory however it is spelled (`packages`, `./packages/`, absolute).
        let same_dir = |a: &std::path::Path, b: &std::path::Path| match (
            std::fs::canonicalize(a),
            std::fs::canonicalize(b),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        for own in &self.own_unsigned {
            let own = std::path::Path::new(own);
            for r in env.repositories.iter_mut() {
                if r.local_dir().is_some_and(|d| same_dir(&d, own)) {
                    r.own_unsigned = true;
                }
            }
        }
        // Known names in either spelling become apk's (`amd64` is `x86_64`); any other name
        // is used as written.
        let arch = self
            .arch
            .as_deref()
            .map(|a| {
                crate::compile::arch::Arch::parse(a).map_or(a.to_string(), |k| k.apk.to_string())
            })
            .or_else(|| crate::compile::arch::Arch::host().map(|a| a.apk.to_string()))
            .ok_or_else(|| bad("cannot tell the host's architecture; pass --arch"))?;
        if let Some(ca) = &self.ca_bundle
            && !ca.is_file()
        {
            return Err(
                crate::diag::Diagnostic::new(ca, "--ca-bundle: no such file")
                    .hint("name a PEM file of CA certificates")
                    .into(),
            );
        }
        let cache_dir = self
            .apk_cache_dir
            .clone()
            .unwrap_or_else(crate::repo::cache::default_dir);
        // Created up front only when something may be downloaded: a run over local
        // directories works without a writable cache directory.
        let remote = env.repositories.iter().any(|r| r.is_remote())
            || env
                .keyring
                .iter()
                .any(|k| k.starts_with("https://") || k.starts_with("http://"));
        let cache = if remote {
            ApkCache::open(&cache_dir)?
        } else {
            ApkCache::lazy(&cache_dir)
        };
        let fetcher = Fetcher::new(FetchOptions {
            ca_bundle: self.ca_bundle.clone(),
            without_system_roots: self.no_network || !remote,
            ..FetchOptions::default()
        })
        .map_err(bad)?;
        Ok(Prepared {
            env,
            arch,
            cache,
            fetcher,
            network: if self.no_network {
                Network::Offline
            } else {
                Network::Online
            },
            printer,
        })
    }
}
