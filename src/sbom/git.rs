//! The git state of the build file's directory, read from `.git` directly (no `git` binary):
//! melange's `detectGitHead` opens the repository holding the build file's directory
//! (searching parent directories for `.git`) and takes HEAD's commit.
//!
//! The directory is the user's (the build file's), not step-written; reads are still bounded
//! ([`crate::bounded_read`]) and every failure just means "unknown".

use std::path::{Path, PathBuf};

use crate::bounded_read::read_regular_text;

/// HEAD, `.git` files and loose refs are tiny.
const SMALL: u64 = 4096;
/// `packed-refs` of a big repository.
const PACKED_REFS_LIMIT: u64 = 64 << 20;

/// The repository a directory is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// The work tree's top directory (the one holding `.git`).
    pub top: PathBuf,
    /// HEAD's commit, when it could be resolved.
    pub commit: Option<String>,
}

/// The repository holding `dir`, searching its parents, or `None` outside any repository.
pub fn detect(dir: &Path) -> Option<GitState> {
    let start = std::path::absolute(dir).ok()?;
    for top in start.ancestors() {
        let dot_git = top.join(".git");
        let Ok(meta) = std::fs::symlink_metadata(&dot_git) else {
            continue;
        };
        let git_dir = if meta.is_dir() {
            dot_git
        } else {
            // A worktree or submodule: `gitdir: <path>`, relative to the work tree.
            let text = read_regular_text(&dot_git, SMALL).ok()?;
            let target = text.trim().strip_prefix("gitdir:")?.trim();
            top.join(target)
        };
        return Some(GitState {
            top: top.to_path_buf(),
            commit: head_commit(&git_dir),
        });
    }
    None
}

fn is_object_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// HEAD of the repository whose git directory is `git_dir`, following symbolic refs.
fn head_commit(git_dir: &Path) -> Option<String> {
    // Linked worktrees keep refs in the common directory.
    let common = match read_regular_text(&git_dir.join("commondir"), SMALL) {
        Ok(text) => git_dir.join(text.trim()),
        Err(_) => git_dir.to_path_buf(),
    };
    let mut text = read_regular_text(&git_dir.join("HEAD"), SMALL).ok()?;
    for _ in 0..8 {
        let value = text.trim();
        if is_object_id(value) {
            return Some(value.to_ascii_lowercase());
        }
        let name = value.strip_prefix("ref:")?.trim();
        if !name.starts_with("refs/") || name.split('/').any(|c| c == ".." || c.is_empty()) {
            return None;
        }
        text = match [git_dir, common.as_path()]
            .iter()
            .find_map(|d| read_regular_text(&d.join(name), SMALL).ok())
        {
            Some(t) => t,
            None => packed_ref(&common, name)?,
        };
    }
    None
}

fn packed_ref(common: &Path, name: &str) -> Option<String> {
    let text = read_regular_text(&common.join("packed-refs"), PACKED_REFS_LIMIT).ok()?;
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('^'))
        .find_map(|l| {
            let (id, r) = l.split_once(' ')?;
            (r.trim() == name).then(|| id.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn loose_packed_detached_and_worktree_heads() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("repo");
        let git = repo.join(".git");
        fs_err::create_dir_all(git.join("refs/heads")).unwrap();
        fs_err::create_dir_all(repo.join("pkgs/deep")).unwrap();
        fs_err::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        fs_err::write(git.join("refs/heads/main"), format!("{A}\n")).unwrap();
        let state = detect(&repo.join("pkgs/deep")).unwrap();
        assert_eq!(state.top, repo);
        assert_eq!(state.commit.as_deref(), Some(A));

        fs_err::remove_file(git.join("refs/heads/main")).unwrap();
        fs_err::write(
            git.join("packed-refs"),
            format!("# pack-refs with: peeled\n{B} refs/heads/main\n^{A}\n"),
        )
        .unwrap();
        assert_eq!(detect(&repo).unwrap().commit.as_deref(), Some(B));

        fs_err::write(git.join("HEAD"), format!("{A}\n")).unwrap();
        assert_eq!(detect(&repo).unwrap().commit.as_deref(), Some(A));

        // A linked worktree: `.git` is a file naming its git dir, refs live in the common dir.
        let wt_git = git.join("worktrees/wt");
        fs_err::create_dir_all(&wt_git).unwrap();
        fs_err::write(wt_git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        fs_err::write(wt_git.join("commondir"), "../..\n").unwrap();
        let wt = t.path().join("wt");
        fs_err::create_dir_all(&wt).unwrap();
        fs_err::write(wt.join(".git"), format!("gitdir: {}\n", wt_git.display())).unwrap();
        assert_eq!(detect(&wt).unwrap().commit.as_deref(), Some(B));

        // A HEAD naming a ref outside refs/ is not followed.
        fs_err::write(git.join("HEAD"), "ref: ../../etc/passwd\n").unwrap();
        assert_eq!(detect(&repo).unwrap().commit, None);
    }
}
