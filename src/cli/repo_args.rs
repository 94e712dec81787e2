//! Flags `melwrap resolve` and `melwrap rootfs` share: where packages come from (melange's
//! `--repository-append`, `--keyring-append`, `--package-append`), trust
//! (`--ignore-signatures`), the apk cache and the network, and the arch.

use std::path::PathBuf;

use color_eyre::eyre;

use super::Verbosity;
use crate::printer::Printer;
pub use crate::repo::setup::Prepared;
use crate::repo::setup::{GuestOptions, RepoOptions};

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

/// A refusal of bad input (exit 2).
pub fn bad(msg: impl Into<String>) -> eyre::Report {
    crate::repo::setup::bad(msg)
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
        RepoOptions::from(self.clone()).prepare_contents(&contents, Printer::new(verbosity))
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

    /// A package added to every test's guest (repeatable), as melange's flag.
    #[arg(
        long = "test-package-append",
        value_name = "PKG",
        help_heading = "Guest"
    )]
    pub test_package_append: Vec<String>,

    /// Where downloaded indexes and packages, and assembled guests (`guests/`), are kept
    /// [default: $XDG_CACHE_HOME/melwrap/apk, else ~/.cache/melwrap/apk].
    #[arg(long, value_name = "DIR", help_heading = "Guest")]
    pub apk_cache_dir: Option<PathBuf>,
}

impl From<RepoArgs> for RepoOptions {
    fn from(a: RepoArgs) -> RepoOptions {
        RepoOptions {
            arch: a.arch,
            repository_append: a.repository_append,
            keyring_append: a.keyring_append,
            package_append: a.package_append,
            ignore_signatures: a.ignore_signatures,
            apk_cache_dir: a.apk_cache_dir,
            no_network: a.no_network,
            ca_bundle: a.ca_bundle,
            own_unsigned: Vec::new(),
        }
    }
}

impl From<GuestArgs> for GuestOptions {
    fn from(a: GuestArgs) -> GuestOptions {
        GuestOptions {
            repository_append: a.repository_append,
            keyring_append: a.keyring_append,
            package_append: a.package_append,
            ignore_signatures: a.ignore_signatures,
            apk_cache_dir: a.apk_cache_dir,
            test_package_append: a.test_package_append,
            own_unsigned: Vec::new(),
        }
    }
}
