//! Creating the [`super::home_links`] for a build: the link targets inside the cache, and the
//! links themselves under the workspace that the sandbox shows as `/home/build`.

use std::io;
use std::path::{Path, PathBuf};

use super::CacheDir;
use super::areas::{GUEST_CACHE_DIR, home_links};
use crate::safefs::Dir;

impl CacheDir {
    /// Creates the directories the home links point to (`cargo/registry`, `cargo/git`,
    /// `m2repository`). Tools create their directories with `mkdir -p`, which fails on a link
    /// to a missing directory, so the targets must exist before the first step. A symlink a
    /// step left on the way is refused, not followed. Returns the directories this call
    /// created, parents first, for [`CacheDir::remove_unused_areas`].
    pub fn prepare_link_targets(&self) -> io::Result<Vec<PathBuf>> {
        let cache = self.dir()?;
        let mut created = Vec::new();
        for link in home_links() {
            let rel = guest_to_cache_relative(link.target);
            // `.package-cache` is a file cargo creates itself; its directory must exist.
            let dir = if rel.ends_with(".package-cache") {
                rel.parent().map(Path::to_path_buf).unwrap_or_default()
            } else {
                rel
            };
            let mut so_far = PathBuf::new();
            for part in dir.components() {
                so_far.push(part);
                if cache.create_dir(&so_far, 0o755)?.1 {
                    created.push(so_far.clone());
                }
            }
        }
        Ok(created)
    }

    /// After the steps: removes each directory of `created` (from
    /// [`CacheDir::prepare_link_targets`]) that no tool wrote to, deepest first, so a cache
    /// holds only the areas a build used. Anything a step put in its place (a file, a link,
    /// a non-empty directory) is left alone: `rmdir` removes only empty directories and never
    /// follows a link.
    pub fn remove_unused_areas(&self, created: &[PathBuf]) -> io::Result<()> {
        let cache = self.dir()?;
        for rel in created.iter().rev() {
            match cache.remove_empty_dir_at(rel) {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::DirectoryNotEmpty
                            | io::ErrorKind::AlreadyExists
                            | io::ErrorKind::NotFound
                            | io::ErrorKind::NotADirectory
                    ) || crate::safefs::is_link_refused(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Creates each home link under `home` (the workspace shown at `/home/build`) where nothing
/// exists yet, and returns the links it made (display paths). A project's own
/// `.cargo/registry` or `.m2/repository` is left alone; a symlink in a reused workspace where
/// `.cargo` or `.m2` should be a directory is refused, not followed.
pub fn install_home_links(home: &Dir) -> io::Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    for link in home_links() {
        let rel = Path::new(link.link);
        match home.stat_at(rel) {
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let parent = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => home.create_dir_all(p, 0o755)?,
            _ => home.try_clone()?,
        };
        let name = rel.file_name().expect("a named link");
        match parent.symlink_at(link.target, name) {
            Ok(()) => made.push(home.path().join(rel)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(made)
}

fn guest_to_cache_relative(target: &str) -> PathBuf {
    PathBuf::from(
        target
            .strip_prefix(GUEST_CACHE_DIR)
            .unwrap_or(target)
            .trim_start_matches('/'),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_below(root: &Path, rel: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(root.join(rel)).unwrap() {
            let rel = rel.join(entry.unwrap().file_name());
            out.push(rel.to_string_lossy().into_owned());
            if root.join(&rel).is_dir() {
                names_below(root, &rel, out);
            }
        }
    }

    #[test]
    fn links_resolve_into_the_cache_when_it_is_mounted() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CacheDir::open(&tmp.path().join("cache"), true).unwrap();
        let created = cache.prepare_link_targets().unwrap();
        assert!(cache.path().join("cargo/registry").is_dir());
        assert!(cache.path().join("m2repository").is_dir());
        assert_eq!(created.first(), Some(&PathBuf::from("m2repository")));
        assert!(created.contains(&PathBuf::from("cargo")));
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join(".cargo/git")).unwrap();
        let home_dir = Dir::open_anchor(&home).unwrap();
        let made = install_home_links(&home_dir).unwrap();
        // The existing `.cargo/git` directory is kept; the others are links.
        assert_eq!(made.len(), 3);
        assert!(home.join(".cargo/git").is_dir());
        assert!(!home.join(".cargo/git").is_symlink());
        assert_eq!(
            std::fs::read_link(home.join(".m2/repository")).unwrap(),
            PathBuf::from("/var/cache/melange/m2repository")
        );
        assert!(
            install_home_links(&home_dir).unwrap().is_empty(),
            "idempotent"
        );
        // A tool used cargo's registry; nothing else was touched.
        std::fs::write(cache.path().join("cargo/registry/index"), "x").unwrap();
        cache.remove_unused_areas(&created).unwrap();
        let mut left = Vec::new();
        names_below(cache.path(), Path::new(""), &mut left);
        left.sort();
        assert_eq!(left, ["cargo", "cargo/registry", "cargo/registry/index"]);
    }
}
