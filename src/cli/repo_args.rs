//! Flags `melwrap resolve` and `melwrap rootfs` share: where packages come from (melange's
//! `--repository-append`, `--keyring-append`, `--package-append`), trust
//! (`--ignore-signatures`), the apk cache and the network, and the arch.

use std::path::PathBuf;

use color_eyre::eyre;

use super::{ExitStatus, StatusError, Verbosity};
use crate::printer::Printer;
use crate::repo::cache::{ApkCache, Network};
use crate::repo::fetch::{FetchOptions, Fetcher};
use crate::repo::rootfs::Sources;
use crate::repo::{Environment, Keyring};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct RepoArgs {
    /// The architecture whose indexes are read (apk or OCI name) [default: the host's].
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,

    /// A repository added after the config's (repeatable): a URL (`https://…`, `http://…`,
    /// `file://…`) or a directory; `@tag REPO` for a tagged one.
    #[arg(long = "repository-append", short = 'r', value_name = "REPO")]
    pub repository_append: Vec<String>,

    /// A public key added to the config's keyring (repeatable): a file or a URL.
    #[arg(long = "keyring-append", short = 'k', value_name = "KEY")]
    pub keyring_append: Vec<String>,

    /// A package added to the config's list (repeatable; `name`, `name>=1.2`, `name@tag`).
    #[arg(long = "package-append", value_name = "PKG")]
    pub package_append: Vec<String>,

    /// Use indexes whose signature is missing or does not verify (with a warning).
    #[arg(long)]
    pub ignore_signatures: bool,

    /// Where downloaded indexes and packages are kept [default: $XDG_CACHE_HOME/melwrap/apk,
    /// else ~/.cache/melwrap/apk].
    #[arg(long, value_name = "DIR")]
    pub apk_cache_dir: Option<PathBuf>,

    /// Download nothing: use the indexes and packages the apk cache already holds.
    #[arg(long)]
    pub no_network: bool,

    /// Extra trusted CA certificates (PEM) for downloads, added to the system's.
    #[arg(long, env = "MELWRAP_CA_BUNDLE", value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
}

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

impl RepoArgs {
    /// The environment of `config` (when given) plus the appended flags, the arch, the cache
    /// and a downloader.
    pub fn prepare(
        &self,
        config: Option<&std::path::Path>,
        verbosity: Verbosity,
    ) -> eyre::Result<Prepared> {
        let contents = match config {
            Some(p) => crate::config::load(p)?.config.environment.contents,
            None => Default::default(),
        };
        self.prepare_contents(&contents, Printer::new(verbosity))
    }

    /// As [`RepoArgs::prepare`], for a config's `environment.contents` already loaded.
    pub fn prepare_contents(
        &self,
        contents: &crate::config::model::ImageContents,
        printer: Printer,
    ) -> eyre::Result<Prepared> {
        let env = Environment::from_contents(
            contents,
            &self.repository_append,
            &self.keyring_append,
            &self.package_append,
        )
        .map_err(bad)?;
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

/// The repository flags `melwrap build` and `melwrap test` take (melange's names): what the
/// guest a step runs in is assembled from with `--rootfs auto|apk`. The arch, the network and
/// the CA bundle are the command's own.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GuestArgs {
    /// A repository added after the config's (repeatable): a URL or a directory; `@tag REPO`
    /// for a tagged one.
    #[arg(
        long = "repository-append",
        short = 'r',
        value_name = "REPO",
        help_heading = "Guest"
    )]
    pub repository_append: Vec<String>,

    /// A public key added to the config's keyring (repeatable): a file or a URL.
    #[arg(
        long = "keyring-append",
        short = 'k',
        value_name = "KEY",
        help_heading = "Guest"
    )]
    pub keyring_append: Vec<String>,

    /// A package added to environment.contents.packages (repeatable).
    #[arg(long = "package-append", value_name = "PKG", help_heading = "Guest")]
    pub package_append: Vec<String>,

    /// Use indexes whose signature is missing or does not verify (with a warning).
    #[arg(long, help_heading = "Guest")]
    pub ignore_signatures: bool,

    /// Where downloaded indexes and packages, and assembled guests (`guests/`), are kept
    /// [default: $XDG_CACHE_HOME/melwrap/apk, else ~/.cache/melwrap/apk].
    #[arg(long, value_name = "DIR", help_heading = "Guest")]
    pub apk_cache_dir: Option<PathBuf>,
}

impl GuestArgs {
    /// As [`RepoArgs`] for `arch` (apk's name), offline when `no_network`.
    pub fn repo_args(&self, arch: &str, no_network: bool, ca_bundle: Option<PathBuf>) -> RepoArgs {
        RepoArgs {
            arch: Some(arch.to_string()),
            repository_append: self.repository_append.clone(),
            keyring_append: self.keyring_append.clone(),
            package_append: self.package_append.clone(),
            ignore_signatures: self.ignore_signatures,
            apk_cache_dir: self.apk_cache_dir.clone(),
            no_network,
            ca_bundle,
        }
    }
}
