//! Recognising a cache dir that is one tool's own cache rather than melwrap's layout of
//! areas: `--cache-dir "$(go env GOMODCACHE)"`, or uv's, pip's, npm's, cargo's (`CARGO_HOME`)
//! or Maven's (`~/.m2/repository`) cache given as the whole cache. Its files then belong to
//! that tool's area, placed as they would be below the area's own directory.

use super::areas::Area;
use crate::safefs::{Dir, Visit};

/// How many entries the Maven search looks at before it gives up.
const MAVEN_PROBE_LIMIT: usize = 4000;

/// The tool whose cache `dir` is, judged by the names at its top level (and, for Maven, a
/// bounded look for a `.pom` file); `None` for melwrap's own layout or an unknown one.
pub fn detect(dir: &Dir) -> Option<Area> {
    let names: Vec<String> = dir
        .read_names()
        .ok()?
        .into_iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let has = |n: &str| names.iter().any(|x| x == n);
    let has_prefix = |p: &str| names.iter().any(|x| x.starts_with(p));
    let is_dir = |rel: &str| dir.stat_at(rel).is_ok_and(|s| s.is_dir());
    // melwrap's own areas at the top level: this is melwrap's layout.
    let own = names
        .iter()
        .any(|n| !matches!(Area::of_top_level(n), Area::Other));
    if own {
        return None;
    }
    if is_dir("cache/download") {
        return Some(Area::Gomodcache);
    }
    if has("CACHEDIR.TAG")
        && (has_prefix("archive-v") || has_prefix("wheels-v") || has_prefix("simple-v"))
    {
        return Some(Area::Uv);
    }
    if has("http-v2") || (has("http") && (has("wheels") || has("selfcheck"))) {
        return Some(Area::Pip);
    }
    if has("_cacache") {
        return Some(Area::Npm);
    }
    if is_dir("registry/index") || is_dir("registry/cache") || is_dir("git/db") {
        return Some(Area::Cargo);
    }
    if looks_like_maven(dir) {
        return Some(Area::M2repository);
    }
    None
}

/// A Maven local repository: `group/artifact/version/artifact-version.pom`, or the
/// `_remote.repositories` / `maven-metadata-*.xml` files Maven writes beside them.
fn looks_like_maven(dir: &Dir) -> bool {
    let mut seen = 0usize;
    let mut found = false;
    let _ = dir.walk(|item: &crate::safefs::Entry<'_>| {
        seen += 1;
        if found || seen > MAVEN_PROBE_LIMIT {
            return Ok(Visit::Skip);
        }
        let name = item.name().to_string_lossy();
        if item.stat().is_file()
            && (name.ends_with(".pom")
                || name == "_remote.repositories"
                || name.starts_with("maven-metadata"))
        {
            found = true;
            return Ok(Visit::Skip);
        }
        Ok(Visit::Descend)
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_in(files: &[&str]) -> Option<Area> {
        let tmp = tempfile::tempdir().unwrap();
        for f in files {
            let p = tmp.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        detect(&Dir::open_anchor(tmp.path()).unwrap())
    }

    #[test]
    fn each_tool_is_recognised_by_its_own_layout() {
        assert_eq!(
            detect_in(&[
                "cache/download/example.com/m/@v/list",
                "example.com/m@v1/go.mod"
            ]),
            Some(Area::Gomodcache)
        );
        assert_eq!(
            detect_in(&["CACHEDIR.TAG", "archive-v0/x/y", "wheels-v5/z"]),
            Some(Area::Uv)
        );
        assert_eq!(detect_in(&["http-v2/a/b", "selfcheck/x"]), Some(Area::Pip));
        assert_eq!(detect_in(&["_cacache/index-v5/a"]), Some(Area::Npm));
        assert_eq!(
            detect_in(&["registry/index/x/.cache", "registry/cache/x/a.crate"]),
            Some(Area::Cargo)
        );
        assert_eq!(
            detect_in(&[
                "org/example/lib/1.0/lib-1.0.pom",
                "org/example/lib/1.0/lib-1.0.jar"
            ]),
            Some(Area::M2repository)
        );
        // melwrap's layout, and unknown things, are not a tool's.
        assert_eq!(detect_in(&["gomodcache/cache/download/x/@v/list"]), None);
        assert_eq!(detect_in(&["stuff/file"]), None);
    }
}
