//! The apk repository client: downloads ([`fetch`]), the verified package cache ([`cache`],
//! [`integrity`]) and assembling a root from verified packages ([`install`]).
//!
//! | file | owns |
//! |---|---|
//! | `fetch` | HTTP(S) and local reads: trust store, proxies, timeouts, retries, the download pool |
//! | `progress` | the download display |
//! | `integrity` | a package against its index entry (size, `C:`, `datahash`) |
//! | `cache` | `--apk-cache-dir`: per-repository directories, atomic writes, locks, offline use |
//! | `install` | unpacking verified packages into a new root with apk's database files |
//! | `installed_db` | `lib/apk/db/installed` entries |
//! | `finish` | mtimes and xattrs after unpacking |
//! | `owners` | which package owns a file; apk's rule for a later package carrying it |
//! | `rootfs` | [`rootfs::build_rootfs`]: wanted packages to an assembled root; key files and URLs |
//! | `source` | [`source::CachedIndexes`]: index bytes for the resolver, through the cache |

pub mod cache;
pub mod fetch;
pub mod finish;
pub mod install;
pub mod installed_db;
pub mod integrity;
pub mod owners;
pub mod progress;
pub mod rootfs;
pub mod source;
