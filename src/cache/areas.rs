//! The cache's known areas (one directory per package manager, plus the `sha256:`/`sha512:`
//! source blobs that `fetch` keeps), the guest environment that points each tool at its area,
//! and what counts as one prunable *entry* in each area.
//!
//! melange itself only sets the variables of `pkg/config/config.go` (`setIfEmpty`, GOMODCACHE,
//! UV_CACHE_DIR, PIP_CACHE_DIR, COMPOSER_CACHE_DIR, npm_config_cache) and, in the
//! `maven/configure-mirror` pipeline, symlinks `~/.m2/repository` to `m2repository`.

use std::fmt;

use crate::guest::concat_guest;

/// The directory the cache is mounted at inside the sandbox (melange's fixed path).
pub const GUEST_CACHE_DIR: &str = crate::guest::CACHE;

/// One part of the cache, named after the directory it lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    /// `sha256:<hex>` / `sha512:<hex>` files at the top level, read by the `fetch` pipeline.
    Fetch,
    Uv,
    Pip,
    Npm,
    Composer,
    /// Go modules (`GOMODCACHE`).
    Gomodcache,
    /// Go's build cache (`GOCACHE`).
    Go,
    /// Maven's local repository (`~/.m2/repository`).
    M2repository,
    /// Cargo's registry and git caches (`$CARGO_HOME/registry`, `$CARGO_HOME/git`).
    Cargo,
    /// Anything else at the top level of the cache.
    Other,
}

impl Area {
    /// Every area, in display order.
    pub const ALL: [Area; 10] = [
        Area::Fetch,
        Area::Uv,
        Area::Pip,
        Area::Npm,
        Area::Composer,
        Area::Gomodcache,
        Area::Go,
        Area::M2repository,
        Area::Cargo,
        Area::Other,
    ];

    /// The area's name: its directory name, `fetch` for source blobs, `other` for the rest.
    pub fn name(self) -> &'static str {
        match self {
            Area::Fetch => "fetch",
            Area::Uv => "uv",
            Area::Pip => "pip",
            Area::Npm => "npm",
            Area::Composer => "composer",
            Area::Gomodcache => "gomodcache",
            Area::Go => "go",
            Area::M2repository => "m2repository",
            Area::Cargo => "cargo",
            Area::Other => "other",
        }
    }

    /// The area of a top-level name in the cache dir.
    pub fn of_top_level(name: &str) -> Area {
        if is_blob_name(name) {
            return Area::Fetch;
        }
        Area::ALL
            .into_iter()
            .find(|a| !matches!(a, Area::Fetch | Area::Other) && a.name() == name)
            .unwrap_or(Area::Other)
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `sha256:<64 hex>` or `sha512:<128 hex>`, the names `fetch` looks up (lowercase hex, as
/// sha256sum prints and as configs write them).
pub fn is_blob_name(name: &str) -> bool {
    let hex_of_len = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    match name.split_once(':') {
        Some(("sha256", hex)) => hex_of_len(hex, 64),
        Some(("sha512", hex)) => hex_of_len(hex, 128),
        _ => false,
    }
}

/// The guest environment defaults that point into the cache, applied only where the config
/// leaves the variable missing or empty (defined with the other layers in
/// [`crate::guest::env`]).
pub fn default_env() -> Vec<(&'static str, &'static str)> {
    crate::guest::env::cache_variables().collect()
}

/// A symlink the build may create under the guest's `$HOME` (`/home/build`), so a tool that
/// has no variable for its download cache alone still stores it in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HomeLink {
    /// Path of the link, relative to `$HOME`.
    pub link: &'static str,
    /// Where it points, inside the guest.
    pub target: &'static str,
}

/// Links for Maven and Cargo, created only where nothing exists yet (a project's own
/// `.cargo/` or `.m2/` wins).
///
/// - Maven: `~/.m2/repository` → `m2repository`, exactly what melange's
///   `maven/configure-mirror` pipeline does, but for every build.
/// - Cargo: `CARGO_HOME` also holds installed binaries, `config.toml` and credentials, which
///   must not leak between builds, so only the download caches are shared: `registry/`
///   (index, `.crate` files, unpacked sources) and `git/`, plus `.package-cache`, the lock file
///   cargo holds while it writes them, so concurrent builds serialise on one lock.
pub fn home_links() -> &'static [HomeLink] {
    &[
        HomeLink {
            link: ".m2/repository",
            target: concat_guest!(cache "m2repository"),
        },
        HomeLink {
            link: ".cargo/registry",
            target: concat_guest!(cache "cargo/registry"),
        },
        HomeLink {
            link: ".cargo/git",
            target: concat_guest!(cache "cargo/git"),
        },
        HomeLink {
            link: ".cargo/.package-cache",
            target: concat_guest!(cache "cargo/.package-cache"),
        },
    ]
}

/// Where one file of the cache belongs for pruning: the entry it is part of (`key`, relative
/// to the cache dir with `/` separators; what `prune` prints) and the path removed with that
/// entry, given as how many leading components of the file's path it keeps (`root_depth`:
/// the file itself, or a directory above it). A depth rather than a string keeps file names
/// that are not UTF-8 exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub area: Area,
    pub key: String,
    pub root_depth: usize,
}

/// Places a file given its path components below the cache dir (`["gomodcache", "cache",
/// "download", ...]`). Each area's granularity is chosen so that removing one entry leaves
/// the tool's cache consistent: the tool sees a miss and downloads again.
pub fn place(components: &[&str]) -> Placement {
    let top = components[0];
    let area = Area::of_top_level(top);
    let inner = &components[1..];
    let joined = |parts: &[&str]| {
        let mut s = top.to_string();
        for p in parts {
            s.push('/');
            s.push_str(p);
        }
        s
    };
    let unit = |depth: usize| {
        let depth = depth.min(inner.len());
        Placement {
            area,
            key: joined(&inner[..depth]),
            root_depth: 1 + depth,
        }
    };
    if inner.is_empty() {
        // A file at the top level: a blob, or an unknown file.
        return unit(0);
    }
    match area {
        // One file per entry: these caches are content-addressed and every tool treats a
        // missing file as a miss (Go's build cache `xx/<hash>-a|-d`, npm's cacache).
        Area::Go | Area::Npm => unit(inner.len()),
        // pip's HTTP cache keeps `<hash>` and `<hash>.body` side by side: one entry.
        Area::Pip => {
            let path = joined(inner);
            let key = path.strip_suffix(".body").unwrap_or(&path).to_string();
            Placement {
                area,
                key,
                root_depth: components.len(),
            }
        }
        // Composer: `vcs/<repo>` is a git mirror (one unit); `files/` and `repo/` are files.
        Area::Composer if inner[0] == "vcs" => unit(2),
        Area::Composer => unit(inner.len()),
        // uv's wheel entries point into `archive-v0/` and older uv versions fail on a missing
        // archive (astral-sh/uv#6147), so uv's cache is one entry; `uv cache prune` does finer.
        Area::Uv => unit(0),
        Area::Gomodcache => place_go_module(area, top, inner),
        // Maven: a version directory (jar, pom, checksums, `_remote.repositories`) is one
        // entry; metadata files at the artifact level are entries of their own.
        Area::M2repository => {
            let name = inner[inner.len() - 1];
            if inner.len() == 1
                || name.starts_with("maven-metadata")
                || name == "resolver-status.properties"
            {
                unit(inner.len())
            } else {
                unit(inner.len() - 1)
            }
        }
        Area::Cargo => match inner {
            // `.crate` files are single files; unpacked sources carry a `.cargo-ok` marker
            // that is only meaningful with the rest of their directory.
            ["registry", "cache" | "src", _, _, ..] => unit(4),
            ["registry", "index", _, ..] | ["git", "db" | "checkouts", _, ..] => unit(3),
            _ => unit(1),
        },
        Area::Fetch | Area::Other => unit(0),
    }
}

/// Go's module cache: one entry per module, made of its download directory
/// `cache/download/<module>/@v` and its extracted trees `<module>@<version>`, so an entry is
/// never half a module (Go re-extracts a tree whose `.ziphash` is gone, and downloads a
/// version whose files are gone; cmd/go/internal/modfetch). Module paths are compared in
/// Go's escaped form (`!`+lowercase), which both places use.
fn place_go_module(area: Area, top: &str, inner: &[&str]) -> Placement {
    let with_top = |parts: &[&str]| format!("{top}/{}", parts.join("/"));
    let fixed = |depth: usize| {
        let depth = depth.min(inner.len());
        Placement {
            area,
            key: with_top(&inner[..depth]),
            root_depth: 1 + depth,
        }
    };
    match inner {
        ["cache", "download", rest @ ..] => match rest.iter().position(|c| *c == "@v") {
            Some(at) if at > 0 => Placement {
                area,
                key: with_top(&rest[..at]),
                root_depth: 1 + 2 + at + 1,
            },
            // `sumdb/` and anything else without an `@v`.
            _ => fixed(3),
        },
        // `cache/vcs/<hash>` with its `<hash>.info` and `<hash>.lock` beside it.
        ["cache", "vcs", name, ..] => Placement {
            area,
            key: format!("{top}/cache/vcs/{}", name.split('.').next().unwrap_or(name)),
            root_depth: 1 + 3,
        },
        ["cache", ..] => fixed(2),
        _ => match inner.iter().position(|c| c.contains('@')) {
            Some(at) => {
                let mut module: Vec<&str> = inner[..at].to_vec();
                module.push(inner[at].split('@').next().unwrap_or(""));
                Placement {
                    area,
                    key: with_top(&module),
                    root_depth: 1 + at + 1,
                }
            }
            None => fixed(1),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(path: &str) -> (Area, String, String) {
        let parts: Vec<&str> = path.split('/').collect();
        let p = place(&parts);
        (p.area, p.key, parts[..p.root_depth].join("/"))
    }

    #[test]
    fn recognises_blobs_and_areas() {
        let sha256 = format!("sha256:{}", "a".repeat(64));
        let sha512 = format!("sha512:{}", "0f".repeat(64));
        assert_eq!(Area::of_top_level(&sha256), Area::Fetch);
        assert_eq!(Area::of_top_level(&sha512), Area::Fetch);
        assert_eq!(
            Area::of_top_level(&format!("sha256:{}", "A".repeat(64))),
            Area::Other
        );
        assert_eq!(Area::of_top_level("sha256:abc"), Area::Other);
        assert_eq!(Area::of_top_level("gomodcache"), Area::Gomodcache);
        assert_eq!(Area::of_top_level("m2repository"), Area::M2repository);
        assert_eq!(Area::of_top_level("fetch"), Area::Other);
        assert_eq!(Area::of_top_level("other"), Area::Other);
    }

    #[test]
    fn go_modules_group_download_and_extracted_trees() {
        let a = placed("gomodcache/cache/download/github.com/!foo/bar/@v/v1.2.3.zip");
        let b = placed("gomodcache/github.com/!foo/bar@v1.2.3/go.mod");
        assert_eq!(a.1, "gomodcache/github.com/!foo/bar");
        assert_eq!(a.1, b.1);
        assert_eq!(a.2, "gomodcache/cache/download/github.com/!foo/bar/@v");
        assert_eq!(b.2, "gomodcache/github.com/!foo/bar@v1.2.3");
        // A nested module is its own entry and its root does not contain the parent's.
        let v2 = placed("gomodcache/cache/download/github.com/!foo/bar/v2/@v/list");
        assert_eq!(v2.1, "gomodcache/github.com/!foo/bar/v2");
        let x = placed("gomodcache/github.com/!foo/bar/v2@v2.0.0/x.go");
        assert_eq!(x.1, v2.1);
        assert_eq!(
            placed("gomodcache/cache/download/sumdb/sum.golang.org/lookup/x").2,
            "gomodcache/cache/download/sumdb"
        );
        let vcs = placed("gomodcache/cache/vcs/abc123.info");
        assert_eq!(vcs.1, "gomodcache/cache/vcs/abc123");
        assert_eq!(vcs.2, "gomodcache/cache/vcs/abc123.info");
    }

    #[test]
    fn granularity_per_area() {
        assert_eq!(placed("uv/archive-v0/xyz/a.py").2, "uv");
        assert_eq!(placed("go/3f/3fab-d").2, "go/3f/3fab-d");
        let body = placed("pip/http-v2/a/b/c/d/e/abc.body");
        assert_eq!(body.1, "pip/http-v2/a/b/c/d/e/abc");
        assert_eq!(body.2, "pip/http-v2/a/b/c/d/e/abc.body");
        assert_eq!(placed("composer/vcs/repo-x/HEAD").2, "composer/vcs/repo-x");
        assert_eq!(
            placed("m2repository/org/x/lib/1.0/lib-1.0.jar").2,
            "m2repository/org/x/lib/1.0"
        );
        assert_eq!(
            placed("m2repository/org/x/lib/maven-metadata-central.xml").2,
            "m2repository/org/x/lib/maven-metadata-central.xml"
        );
        assert_eq!(
            placed("cargo/registry/src/index.x-1/serde-1.0.0/src/lib.rs").2,
            "cargo/registry/src/index.x-1/serde-1.0.0"
        );
        assert_eq!(
            placed("cargo/registry/cache/index.x-1/serde-1.0.0.crate").2,
            "cargo/registry/cache/index.x-1/serde-1.0.0.crate"
        );
        assert_eq!(placed("cargo/.package-cache").2, "cargo/.package-cache");
        assert_eq!(placed("random/deep/file").2, "random");
        let blob = format!("sha256:{}", "b".repeat(64));
        assert_eq!(placed(&blob), (Area::Fetch, blob.clone(), blob));
    }

    #[test]
    fn env_defaults_live_under_the_guest_cache() {
        for (key, value) in default_env() {
            assert!(value.starts_with(GUEST_CACHE_DIR), "{key}={value}");
        }
        for link in home_links() {
            assert!(link.target.starts_with(GUEST_CACHE_DIR));
            assert!(!link.link.starts_with('/'));
        }
    }
}
