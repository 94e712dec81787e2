//! git-am applies a `git format-patch` series to the source checkout: a git repository the
//! test makes in the source dir (one commit), copied into the workspace by melwrap.

use std::path::Path;
use std::process::Command;

use super::support::*;

/// Run host git in `dir` with a fixed identity and no user or system config.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Base")
        .env("GIT_AUTHOR_EMAIL", "base@example.com")
        .env("GIT_COMMITTER_NAME", "Base")
        .env("GIT_COMMITTER_EMAIL", "base@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn git_am_applies_the_series_in_order() {
    if !bwrap_usable() || !require_commands(&["git"], true) {
        return;
    }
    let p = Project::new("git-am");
    let src = p.src();
    git(&src, &["init", "-q", "-b", "main"]);
    git(&src, &["add", "greeting.txt"]);
    git(&src, &["commit", "-q", "-m", "base"]);

    // The repository has no identity of its own: git-am must still be able to commit.
    p.build(&[])
        .ok()
        .says("Applying: greeting: add a second line\n")
        .says("Applying: greeting: add a third line and a file\n");

    let shipped = p.destdir("git-am").join("usr/share/git-am");
    assert_eq!(
        fs_err::read_to_string(shipped.join("greeting.txt")).unwrap(),
        "hello\nfrom patch one\nfrom patch two\n"
    );
    assert_eq!(
        fs_err::read_to_string(shipped.join("added.txt")).unwrap(),
        "new file\n"
    );
    // One commit per patch, authored as in the patch, committed by the build identity.
    assert_eq!(
        fs_err::read_to_string(shipped.join("log")).unwrap(),
        "Patch Author|Melange Build|greeting: add a third line and a file\n\
         Patch Author|Melange Build|greeting: add a second line\n\
         Base|Base|base\n"
    );

    // The source repository itself is untouched: the steps worked on a copy.
    assert_eq!(git(&src, &["log", "--format=%s"]), "base\n");
    assert_eq!(
        fs_err::read_to_string(src.join("greeting.txt")).unwrap(),
        "hello\n"
    );
}
