//! Repositories, keys and requested packages: where they come from (a config's
//! `environment.contents`, then `--repository-append`, `--keyring-append`, `--package-append`),
//! `@tag` repositories, and loading each repository's index through an [`IndexSource`].

use std::path::{Path, PathBuf};

use crate::apk::index::IndexEntry;

use super::apkindex;
use super::verify::{Keyring, VerifyError};

/// One repository line: `[@tag ]location`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// A URL (`https://…`, `http://…`, `file://…`) or a local directory, as written.
    pub location: String,
    /// `@tag` without the `@`: its packages are installed only when pinned (`name@tag`).
    pub tag: Option<String>,
    /// The user's own output directory (`melwrap test`'s `--out-dir`): an unsigned index
    /// there is used as the user's own work; a signed one is still checked against the
    /// keyring.
    pub own_unsigned: bool,
}

impl Repository {
    /// Parse `@tag location` or `location` (apk's `/etc/apk/repositories` syntax).
    pub fn parse(line: &str) -> Result<Repository, String> {
        let line = line.trim();
        let (tag, location) = match line.strip_prefix('@') {
            Some(rest) => match rest.split_once(char::is_whitespace) {
                Some((t, l)) if !t.is_empty() => (Some(t.to_string()), l.trim()),
                _ => {
                    return Err(format!(
                        "{line:?}: a `@tag` must be followed by a repository"
                    ));
                }
            },
            None => (None, line),
        };
        if location.is_empty() {
            return Err(format!("{line:?}: empty repository"));
        }
        Ok(Repository {
            location: location.trim_end_matches('/').to_string(),
            tag,
            own_unsigned: false,
        })
    }

    /// True for `http://` and `https://` repositories (they need the fetch layer).
    pub fn is_remote(&self) -> bool {
        self.location.starts_with("https://") || self.location.starts_with("http://")
    }

    /// The local directory of a `file://` or plain-path repository.
    pub fn local_dir(&self) -> Option<PathBuf> {
        if self.is_remote() {
            return None;
        }
        Some(PathBuf::from(
            self.location
                .strip_prefix("file://")
                .unwrap_or(&self.location),
        ))
    }

    /// How messages name it: `@tag location` or `location`.
    pub fn display(&self) -> String {
        match &self.tag {
            Some(t) => format!("@{t} {}", self.location),
            None => self.location.clone(),
        }
    }
}

/// Everything a resolution starts from.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub repositories: Vec<Repository>,
    /// Key files (paths; URLs need the fetch layer).
    pub keyring: Vec<String>,
    /// Requested atoms, as written (`name`, `name>=1`, `name@tag`).
    pub packages: Vec<String>,
}

impl Environment {
    /// The config's lists followed by the appended ones, in order; duplicates dropped.
    pub fn from_lists(
        repositories: &[String],
        keyring: &[String],
        packages: &[String],
    ) -> Result<Environment, String> {
        let mut env = Environment::default();
        for r in repositories {
            let repo = Repository::parse(r)?;
            if !env.repositories.contains(&repo) {
                env.repositories.push(repo);
            }
        }
        for k in keyring {
            if !env.keyring.contains(k) {
                env.keyring.push(k.clone());
            }
        }
        env.packages = packages.to_vec();
        Ok(env)
    }
}

/// Where index bytes come from. The local implementation reads `<dir>/<arch>/APKINDEX.tar.gz`;
/// the fetch layer implements it for URLs (with its cache).
pub trait IndexSource {
    /// The bytes of `<repo>/<arch>/APKINDEX.tar.gz`, or why they cannot be had.
    fn index_bytes(&self, repo: &Repository, arch: &str) -> Result<Vec<u8>, String>;
}

/// Reads local directories; refuses URLs (no fetch layer connected).
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalSource;

/// Largest index file read (compressed).
const MAX_INDEX_FILE: u64 = 256 << 20;

impl IndexSource for LocalSource {
    fn index_bytes(&self, repo: &Repository, arch: &str) -> Result<Vec<u8>, String> {
        let Some(dir) = repo.local_dir() else {
            return Err("this source reads local directories only (URLs go through \
                        repo::source::VerifiedIndexes); use a local directory"
                .into());
        };
        let path = dir.join(arch).join(crate::apk::INDEX_NAME);
        crate::bounded_read::read_regular(&path, MAX_INDEX_FILE)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
    }
}

/// A repository with its index read and checked.
#[derive(Debug, Clone)]
pub struct LoadedRepo {
    pub repository: Repository,
    pub entries: Vec<IndexEntry>,
    /// The key that verified it; `None` when accepted unsigned with `--ignore-signatures`.
    pub verified_by: Option<String>,
}

/// Load a keyring from key files (file name = key name, as apk's `/etc/apk/keys`).
pub fn load_keyring(paths: &[String]) -> Result<Keyring, String> {
    let mut k = Keyring::default();
    for p in paths {
        if p.starts_with("https://") || p.starts_with("http://") {
            return Err(format!(
                "keyring entry {p}: load_keyring reads files only (repo::rootfs::keyring \
                 downloads keys); download it and pass the file"
            ));
        }
        k.add_file(Path::new(p.strip_prefix("file://").unwrap_or(p)))?;
    }
    Ok(k)
}

/// Read, verify and parse every repository's index for `arch`. With `ignore_signatures` an
/// index that does not verify is accepted and `warn` is told.
pub fn load_repositories(
    source: &dyn IndexSource,
    repositories: &[Repository],
    arch: &str,
    keyring: &Keyring,
    ignore_signatures: bool,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<LoadedRepo>, String> {
    // One bit per repository in the solver's masks (apk allows fewer still).
    if repositories.len() > 63 {
        return Err(format!(
            "{} repositories given; at most 63 are supported",
            repositories.len()
        ));
    }
    let mut out = Vec::new();
    for repo in repositories {
        let bytes = source
            .index_bytes(repo, arch)
            .map_err(|e| format!("repository {}: {e}", repo.display()))?;
        let invalid = |e: String| {
            format!(
                "repository {}: {arch}/APKINDEX.tar.gz is not a valid index: {e}",
                repo.display()
            )
        };
        // The signature is checked before the index is decompressed or parsed.
        let sig = apkindex::split_signature(&bytes).map_err(invalid)?;
        let verdict = keyring.verify(&sig.signatures, &bytes[sig.signed_from..]);
        let verified_by = match verdict {
            Ok(k) => Some(k),
            Err(VerifyError::Unsigned) if repo.own_unsigned => None,
            Err(why) => {
                let msg = untrusted_message(repo, arch, &why, keyring);
                if !ignore_signatures {
                    return Err(msg);
                }
                warn(format!("{msg} (accepted: --ignore-signatures)"));
                None
            }
        };
        let parsed = apkindex::parse_body(&bytes[sig.signed_from..]).map_err(invalid)?;
        out.push(LoadedRepo {
            repository: repo.clone(),
            entries: parsed.entries,
            verified_by,
        });
    }
    Ok(out)
}

pub(crate) fn untrusted_message(
    repo: &Repository,
    arch: &str,
    why: &VerifyError,
    keyring: &Keyring,
) -> String {
    let r = format!("repository {} ({arch}/APKINDEX.tar.gz)", repo.display());
    let have = if keyring.is_empty() {
        "the keyring is empty".to_string()
    } else {
        format!(
            "the keyring has {}",
            keyring.names().collect::<Vec<_>>().join(", ")
        )
    };
    match why {
        VerifyError::Unsigned => {
            format!("{r}: the index is not signed; pass --ignore-signatures to use it anyway")
        }
        VerifyError::UnknownKey(k) => format!(
            "{r}: signed with key {} which is not in the keyring ({have}); add it with \
             --keyring-append or environment.contents.keyring",
            k.join(", ")
        ),
        VerifyError::BadSignature(k) => format!(
            "{r}: the signature by key {} does not match the index (tampered or damaged)",
            k.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_and_locations() {
        let r = Repository::parse("@edge https://dl/edge/main/").unwrap();
        assert_eq!(
            (r.tag.as_deref(), r.location.as_str()),
            (Some("edge"), "https://dl/edge/main")
        );
        assert!(r.is_remote());
        let r = Repository::parse("/srv/repo").unwrap();
        assert_eq!(r.local_dir(), Some(PathBuf::from("/srv/repo")));
        let r = Repository::parse("file:///srv/repo").unwrap();
        assert_eq!(r.local_dir(), Some(PathBuf::from("/srv/repo")));
        assert!(Repository::parse("@edge").is_err());
        assert!(Repository::parse("  ").is_err());
    }

    #[test]
    fn environment_drops_duplicates_in_order() {
        let e = Environment::from_lists(
            &["/a".into(), "/b".into(), "/a".into()],
            &["k".into(), "k".into()],
            &["x".into()],
        )
        .unwrap();
        assert_eq!(e.repositories.len(), 2);
        assert_eq!(e.keyring, vec!["k".to_string()]);
    }

    #[test]
    fn url_repositories_need_the_fetch_layer() {
        let r = Repository::parse("https://example.invalid/os").unwrap();
        let err = LocalSource.index_bytes(&r, "x86_64").unwrap_err();
        assert!(err.contains("local directory"), "{err}");
    }
}
