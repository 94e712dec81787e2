//! The apk cache (`--apk-cache-dir`, default `$XDG_CACHE_HOME/melwrap/apk`, else
//! `~/.cache/melwrap/apk`): downloaded indexes and packages, each package verified against
//! its index entry before it is used.
//!
//! Layout: one directory per repository, `<host-and-path, sanitized>-<first 12 hex of the
//! SHA-256 of the full URL>` (so `https://a/os` and `http://a/os`, or two repositories whose
//! sanitized names meet, never share files), holding `url` (the URL, for people) and
//! `<arch>/APKINDEX.tar.gz`, `<arch>/<name>-<version>.apk`. Every file is written as a temporary
//! file in its directory and renamed into place only after it was checked; a per-file `flock`
//! (`<arch>/.<file>.lock`) makes a second process wait for the first one's download and then
//! use it instead of downloading again. Local repositories (`file://` or a path) are not
//! copied: their files are verified and read in place.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{self, WrapErr};
use sha2::{Digest, Sha256};

use super::fetch::{FetchError, FetchErrorKind, Fetcher, Location, join, location};
use super::integrity::{Expected, verify_package};
use super::progress::Downloads;
use crate::apk::INDEX_NAME;
use crate::apk::atomic::{FileLock, lock_exclusive};
use crate::apk::read::PackageFile;
use crate::diag::Diagnostic;
use crate::printer::Printer;

/// Whether melwrap may use the network (`--no-network` says no).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Online,
    Offline,
}

/// The apk cache directory.
#[derive(Debug, Clone)]
pub struct ApkCache {
    root: PathBuf,
    index_max_age: Duration,
}

/// How long a downloaded index is used before it is fetched again: apk-tools' default
/// (`--cache-max-age`, 4 hours).
pub const INDEX_MAX_AGE: Duration = Duration::from_secs(4 * 60 * 60);

/// One package to get: where from, and what its index entry says.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// The repository base as configured (`https://…/os`, `file:///…`, a path).
    pub repo: String,
    pub arch: String,
    pub name: String,
    /// `<version>-r<epoch>`.
    pub version: String,
    pub expected: Expected,
}

impl Wanted {
    /// The package an index entry describes, from `repo` (the resolver's answer).
    pub fn from_entry(repo: &str, entry: &crate::apk::IndexEntry) -> Result<Wanted, String> {
        let checksum = entry.checksum.clone().try_into().map_err(|_| {
            format!(
                "the index entry of {}-{} in {repo} has no SHA-1 (`C:Q1…`) checksum",
                entry.name, entry.version
            )
        })?;
        Ok(Wanted {
            repo: repo.to_string(),
            arch: entry.arch.clone(),
            name: entry.name.clone(),
            version: entry.version.clone(),
            expected: Expected {
                size: entry.size,
                checksum,
                datahash: None,
            },
        })
    }

    /// `<name>-<version>.apk`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.apk", self.name, self.version)
    }
    /// `<repo>/<arch>/<name>-<version>.apk`.
    pub fn url(&self) -> String {
        join(&self.repo, &format!("{}/{}", self.arch, self.file_name()))
    }
}

/// A package file that matched its index entry. It holds the file open: what was verified
/// is what [`VerifiedPackage::contents`] reads, even if the name in the cache is replaced in
/// between (a cache shared with other users, say).
#[derive(Debug, Clone)]
pub struct VerifiedPackage {
    /// Where it is (for messages).
    pub path: PathBuf,
    pub repo: String,
    pub package: PackageFile,
    /// Already in the cache (or in a local repository): nothing was downloaded.
    pub cached: bool,
    file: Arc<File>,
}

impl VerifiedPackage {
    /// A package the caller vouches for without an index entry (its own build output): read,
    /// not verified.
    pub fn trusting(path: &Path, repo: &str) -> eyre::Result<VerifiedPackage> {
        let file = File::open(path)
            .map_err(|e| located(path, format!("cannot read it: {e}"), "check the path"))?;
        let mut package = crate::apk::read_package(&fd_path(&file))?;
        package.path = path.to_path_buf();
        Ok(VerifiedPackage {
            path: path.to_path_buf(),
            repo: repo.to_string(),
            package,
            cached: true,
            file: Arc::new(file),
        })
    }

    /// A path that opens the verified file itself (`/proc/self/fd/N`), valid while `self` is.
    pub fn contents(&self) -> PathBuf {
        fd_path(&self.file)
    }
}

fn fd_path(f: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()))
}

/// Opens `path` without following a symlink at its last component and verifies the opened
/// file.
fn open_and_verify(path: &Path, expected: &Expected) -> Result<(File, PackageFile), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let mut pkg = verify_package(&fd_path(&file), expected)?;
    pkg.path = path.to_path_buf();
    Ok((file, pkg))
}

/// An index that passed its check.
#[derive(Debug, Clone)]
pub struct CachedIndex {
    pub path: PathBuf,
    /// The bytes that were checked (read once: a file replaced afterwards changes nothing).
    pub bytes: Vec<u8>,
    /// Downloaded now (false: a local repository, or the cached copy used offline).
    pub fresh: bool,
}

/// Largest index downloaded.
const MAX_INDEX_FILE: u64 = 256 << 20;

/// The default cache directory.
pub fn default_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| std::env::temp_dir().join("melwrap-cache"));
    base.join("melwrap").join("apk")
}

/// `<sanitized host/path>-<12 hex>` for a repository URL.
pub fn repo_key(repo: &str) -> String {
    let trimmed = repo.trim_end_matches('/');
    let shown = super::fetch::redact(trimmed);
    let without_scheme = shown.split_once("://").map_or(shown.as_str(), |(_, r)| r);
    let without_scheme = without_scheme
        .split_once(":***@")
        .map_or(without_scheme, |(_, host)| host);
    let mut name: String = without_scheme
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.truncate(80);
    let name = name.trim_matches(|c| c == '.' || c == '_').to_string();
    let digest = hex::encode(Sha256::digest(trimmed.as_bytes()));
    format!("{name}-{}", &digest[..12])
}

fn located(path: &Path, msg: impl Into<String>, hint: &str) -> eyre::Report {
    Diagnostic::new(path, msg).hint(hint).into()
}

impl ApkCache {
    /// The cache at `root`, created (0755) when missing.
    pub fn open(root: &Path) -> eyre::Result<ApkCache> {
        std::fs::create_dir_all(root).map_err(|e| {
            located(
                root,
                format!("cannot create the apk cache: {e}"),
                "choose a writable directory with `--apk-cache-dir`",
            )
        })?;
        Ok(ApkCache {
            root: root.to_path_buf(),
            index_max_age: INDEX_MAX_AGE,
        })
    }

    /// The cache at `root`, not created until a download needs it (for runs that may read
    /// only local repositories).
    pub fn lazy(root: &Path) -> ApkCache {
        ApkCache {
            root: root.to_path_buf(),
            index_max_age: INDEX_MAX_AGE,
        }
    }

    /// Use a cached index for `age` before downloading it again (zero: always download, as
    /// `apk update` does).
    pub fn with_index_max_age(mut self, age: Duration) -> ApkCache {
        self.index_max_age = age;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory for one repository's files.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root.join(repo_key(repo))
    }

    fn arch_dir(&self, repo: &str, arch: &str) -> eyre::Result<PathBuf> {
        let dir = self.repo_dir(repo);
        let arch_dir = dir.join(arch);
        std::fs::create_dir_all(&arch_dir).map_err(|e| {
            located(
                &arch_dir,
                format!("cannot create the apk cache: {e}"),
                "choose a writable directory with `--apk-cache-dir`",
            )
        })?;
        let url_file = dir.join("url");
        if !url_file.exists() {
            let _ = write_atomically(&url_file, |f| {
                use std::io::Write;
                let shown = super::fetch::redact(repo.trim_end_matches('/'));
                f.write_all(format!("{shown}\n").as_bytes())
            });
        }
        Ok(arch_dir)
    }

    /// `<repo>/<arch>/APKINDEX.tar.gz`: read in place for a local repository; otherwise the
    /// cached copy when it is younger than the index max age, else downloaded, passed to
    /// `check` (the signature check), and only then put in the cache.
    /// Offline, or when the repository cannot be reached, the cached copy is used (with a
    /// warning when it was a failed download).
    pub fn index(
        &self,
        fetcher: &Fetcher,
        network: Network,
        printer: &Printer,
        repo: &str,
        arch: &str,
        check: &dyn Fn(&[u8]) -> eyre::Result<()>,
    ) -> eyre::Result<CachedIndex> {
        let rel = format!("{arch}/{INDEX_NAME}");
        if let Location::Local(base) = location(repo) {
            let path = base.join(&rel);
            if !path.is_file() {
                return Err(located(
                    &path,
                    format!("repository {repo} has no index for {arch}"),
                    "check the repository path and `--arch`; `melwrap index` makes an index",
                ));
            }
            let bytes = read_checked(&path, check)?;
            return Ok(CachedIndex {
                path,
                bytes,
                fresh: false,
            });
        }
        let arch_dir = self.arch_dir(repo, arch)?;
        let dest = arch_dir.join(INDEX_NAME);
        let offline_use = |why: &str| -> eyre::Result<CachedIndex> {
            if dest.is_file() {
                return Ok(CachedIndex {
                    bytes: read_checked(&dest, check)?,
                    path: dest.clone(),
                    fresh: false,
                });
            }
            Err(located(
                &dest,
                format!(
                    "no cached index for {}: {why}",
                    super::fetch::redact(&join(repo, &rel))
                ),
                "run once with the network to fill the apk cache (`--apk-cache-dir`)",
            ))
        };
        if network == Network::Offline {
            return offline_use("melwrap runs with `--no-network`");
        }
        let _lock = file_lock(&arch_dir, INDEX_NAME)?;
        let young = dest
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < self.index_max_age);
        // A young copy that no longer passes the check (damaged, or the keyring changed) is
        // fetched again.
        if young && let Ok(bytes) = read_checked(&dest, check) {
            return Ok(CachedIndex {
                path: dest,
                bytes,
                fresh: false,
            });
        }
        let url = join(repo, &rel);
        let downloads = Downloads::new("fetching indexes", *printer, 1, 0);
        let mut tmp = temp_in(&arch_dir, INDEX_NAME)?;
        match fetcher.download(&url, tmp.as_file_mut(), MAX_INDEX_FILE, &|n| {
            downloads.bytes(n)
        }) {
            Ok(n) => {
                downloads.file_done(&super::fetch::redact(&url), n, false);
                downloads.finish();
                let bytes = read_checked(tmp.path(), check)?;
                persist(tmp, &dest)?;
                Ok(CachedIndex {
                    path: dest,
                    bytes,
                    fresh: true,
                })
            }
            Err(e) if e.kind == FetchErrorKind::Unreachable && dest.is_file() => {
                downloads.finish();
                printer.warn(format!(
                    "{}; using the cached index {}",
                    e.to_string().lines().next().unwrap_or_default(),
                    dest.display()
                ));
                offline_use("")
            }
            Err(e) => Err(eyre::Report::new(e)),
        }
    }

    /// Gets every wanted package (from the cache, a local repository, or downloaded on up to
    /// [`super::fetch::FetchOptions::parallel`] threads), each verified against its
    /// [`Expected`]. A download that fails verification is deleted and fetched once more, then
    /// refused. The first failure (in `wanted` order) is returned after all have finished.
    pub fn packages(
        &self,
        fetcher: &Fetcher,
        network: Network,
        printer: &Printer,
        wanted: &[Wanted],
    ) -> eyre::Result<Vec<VerifiedPackage>> {
        let bytes = wanted.iter().map(|w| w.expected.size).sum();
        let downloads = Downloads::new("fetching packages", *printer, wanted.len(), bytes);
        let results =
            fetcher.download_all(wanted, |w| self.package(fetcher, network, &downloads, w));
        downloads.finish();
        results.into_iter().collect()
    }

    fn package(
        &self,
        fetcher: &Fetcher,
        network: Network,
        downloads: &Downloads,
        w: &Wanted,
    ) -> eyre::Result<VerifiedPackage> {
        let url = w.url();
        let label = format!("{}-{} ({})", w.name, w.version, super::fetch::redact(&url));
        let refuse = |path: &Path, why: String, hint: &str| -> eyre::Report {
            located(
                path,
                format!("package {label} does not match its index entry: {why}"),
                hint,
            )
        };
        let done = |path: PathBuf, (file, package): (File, PackageFile), cached| VerifiedPackage {
            path,
            repo: w.repo.clone(),
            package,
            cached,
            file: Arc::new(file),
        };
        if let Location::Local(_) = location(&w.repo) {
            let Location::Local(path) = location(&url) else {
                unreachable!("a local repository gives local file names")
            };
            if !path.is_file() {
                return Err(located(
                    &path,
                    format!("package {label} is missing from its repository"),
                    "the index names a file that is not there; rebuild the index",
                ));
            }
            let pkg = open_and_verify(&path, &w.expected).map_err(|why| {
                refuse(
                    &path,
                    why,
                    "the repository is damaged; rebuild the package and index",
                )
            })?;
            downloads.file_done(&label, w.expected.size, true);
            return Ok(done(path, pkg, true));
        }
        let arch_dir = self.arch_dir(&w.repo, &w.arch)?;
        let name = w.file_name();
        let dest = arch_dir.join(&name);
        let _lock = file_lock(&arch_dir, &name)?;
        if dest.is_file() {
            match open_and_verify(&dest, &w.expected) {
                Ok(pkg) => {
                    downloads.file_done(&label, w.expected.size, true);
                    return Ok(done(dest, pkg, true));
                }
                // A damaged or stale cached copy: replaced by a fresh download below.
                Err(_) => {
                    let _ = std::fs::remove_file(&dest);
                }
            }
        }
        if network == Network::Offline {
            return Err(located(
                &dest,
                format!(
                    "package {label} is not in the apk cache, and melwrap runs with `--no-network`"
                ),
                "run once with the network to fill the apk cache (`--apk-cache-dir`)",
            ));
        }
        let mut last = String::new();
        for _attempt in 0..2 {
            let mut tmp = temp_in(&arch_dir, &name)?;
            let n = fetcher
                .download(&url, tmp.as_file_mut(), w.expected.size, &|n| {
                    downloads.bytes(n)
                })
                .map_err(|e: FetchError| eyre::Report::new(e))?;
            match verify_package(&fd_path(tmp.as_file()), &w.expected) {
                Ok(mut pkg) => {
                    let file = persist(tmp, &dest)?;
                    pkg.path = dest.clone();
                    downloads.file_done(&label, n, false);
                    return Ok(done(dest, (file, pkg), false));
                }
                // Dropping `tmp` deletes the bad download.
                Err(why) => last = why,
            }
        }
        Err(refuse(
            &dest,
            format!("{last} (downloaded twice; the download was deleted)"),
            "the repository or something between it and you serves a different file than \
             its signed index names; try again later or use another mirror",
        ))
    }
}

/// The index at `path` (a regular file, bounded), if `check` accepts it.
fn read_checked(path: &Path, check: &dyn Fn(&[u8]) -> eyre::Result<()>) -> eyre::Result<Vec<u8>> {
    let bytes = crate::bounded_read::read_regular(path, MAX_INDEX_FILE).map_err(|e| {
        located(
            path,
            format!("cannot read the index: {e}"),
            "check the repository",
        )
    })?;
    check(&bytes).wrap_err_with(|| format!("index {}", path.display()))?;
    Ok(bytes)
}

fn file_lock(dir: &Path, name: &str) -> eyre::Result<FileLock> {
    lock_exclusive(&dir.join(format!(".{name}.lock")))
}

fn temp_in(dir: &Path, name: &str) -> eyre::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempfile_in(dir)
        .map_err(|e| {
            located(
                dir,
                format!("cannot write in the apk cache: {e}"),
                "choose a writable directory with `--apk-cache-dir`",
            )
        })
}

fn persist(tmp: tempfile::NamedTempFile, dest: &Path) -> eyre::Result<File> {
    use std::os::unix::fs::PermissionsExt;
    let f = tmp.as_file();
    f.set_permissions(std::fs::Permissions::from_mode(0o644))
        .and_then(|_| f.sync_all())
        .map_err(|e| {
            located(
                dest,
                format!("cannot write in the apk cache: {e}"),
                "check the disk",
            )
        })?;
    tmp.persist(dest).map_err(|e| {
        located(
            dest,
            format!("cannot write in the apk cache: {}", e.error),
            "check the disk",
        )
    })
}

fn write_atomically(
    dest: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> eyre::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let mut tmp = temp_in(dir, &name)?;
    write(tmp.as_file_mut())?;
    persist(tmp, dest).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_keys_differ_by_url_and_stay_readable() {
        let a = repo_key("https://packages.wolfi.dev/os");
        assert!(a.starts_with("packages.wolfi.dev_os-"), "{a}");
        assert_ne!(a, repo_key("http://packages.wolfi.dev/os"));
        assert_eq!(a, repo_key("https://packages.wolfi.dev/os/"));
        assert_ne!(repo_key("https://a/b_c"), repo_key("https://a/b/c"));
        assert!(!repo_key("https://../..").contains('/'));
        assert!(!repo_key("https://h/..").starts_with('.'));
        let with_password = repo_key("https://me:secret@h/os");
        assert!(!with_password.contains("secret"), "{with_password}");
        assert!(with_password.starts_with("h_os-"), "{with_password}");
    }
}
