//! Package output: apk v2 files, `APKINDEX.tar.gz`, RSA signing and key generation.
//!
//! The build calls [`write_package_from`] once per package (main and subpackages) with the
//! package's destdir opened below the workspace (never through a symlink a step planted), then
//! [`update_index`] with the results. Everything here is
//! deterministic: the same destdir and [`PackageMeta`] give the same bytes.
//!
//! | file | owns |
//! |---|---|
//! | `tar`, `tar_read` | header encoding (Go `archive/tar` layout, PAX records); a streaming reader |
//! | `walk` | the destdir walk through descriptors: order, hard links, xattrs, installed size |
//! | `pgz` | parallel gzip that still writes one gzip member |
//! | `data` | the data section and `datahash` |
//! | `pkginfo` | [`PackageMeta`], `.PKGINFO` text |
//! | `from_config` | [`PackageMeta`] from a build config ([`meta_for`]) |
//! | `package` | assembling signature, control and data into the `.apk` |
//! | `read` | reading a package back ([`PackageFile`]) |
//! | `unpack` | unpacking a data section into a directory, refusing what a crafted package tries |
//! | `index` | `APKINDEX.tar.gz` |
//! | `sign`, `keys` | [`Signer`], `keygen` |
//! | `atomic`, `progress` | temp-and-rename writes; the terminal byte counter |

pub mod atomic;
pub mod data;
pub mod from_config;
pub mod index;
pub mod keys;
pub mod package;
pub mod pgz;
pub mod pkginfo;
pub mod progress;
pub mod read;
pub mod setcap;
pub mod sign;
pub mod tar;
pub mod tar_read;
pub mod unpack;
pub mod walk;

pub use data::DataOptions;
pub use from_config::{BuildInfo, meta_for};
pub use index::{INDEX_NAME, Index, IndexEntry, update_index};
pub use package::{package_path, write_package, write_package_from, write_package_with};
pub use pkginfo::{PackageMeta, PkgInfo, Scriptlets};
pub use read::{PackageFile, read_package};
pub use sign::Signer;
