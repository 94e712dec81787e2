//! `git-checkout`: branch tips, older commits, tags, mismatches and cherry-picks, against a
//! local repository.

use super::*;

struct Repo {
    _dir: tempfile::TempDir,
    url: String,
    commits: Vec<String>,
    tag_object: String,
    pick: String,
}

/// main: c0 ← c1 (tag v1, annotated) ← c2; branch feature: c1 ← f (adds extra.txt).
fn repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let git = "git -c user.name=T -c user.email=t@example.invalid";
    sh(p, "git init -q -b main repo");
    let r = p.join("repo");
    let mut commits = Vec::new();
    for i in 0..3 {
        sh(
            &r,
            &format!("echo {i} > version.txt && git add . && {git} commit -qm c{i}"),
        );
        commits.push(sh(&r, "git rev-parse HEAD"));
        if i == 1 {
            sh(&r, &format!("{git} tag -a v1 -m 'release 1'"));
            sh(
                &r,
                &format!(
                    "git checkout -q -b feature && echo extra > extra.txt && git add . && \
                     {git} commit -qm feature && git checkout -q main"
                ),
            );
        }
    }
    let tag_object = sh(&r, "git rev-parse refs/tags/v1");
    let pick = sh(&r, "git rev-parse feature");
    Repo {
        url: format!("file://{}", r.display()),
        _dir: dir,
        commits,
        tag_object,
        pick,
    }
}

fn head(dir: &Path) -> String {
    sh(dir, "git rev-parse HEAD")
}

#[test]
fn git_checkout_of_a_branch_tip_an_older_commit_and_a_tag() {
    let r = repo();
    for shell in SHELLS {
        // Branch tip.
        let b = Build::new(shell);
        b.ok(
            "git-checkout",
            &[
                ("repository", r.url.as_str()),
                ("branch", "main"),
                ("expected-commit", r.commits[2].as_str()),
            ],
        );
        assert_eq!(head(&b.workspace), r.commits[2]);
        assert_eq!(
            fs_err::read_to_string(b.workspace.join("version.txt")).unwrap(),
            "2\n"
        );

        // An older commit on the branch: full clone, then reset.
        let b = Build::new(shell);
        let log = b.ok(
            "git-checkout",
            &[
                ("repository", r.url.as_str()),
                ("branch", "main"),
                ("expected-commit", r.commits[0].as_str()),
                ("destination", "src"),
            ],
        );
        assert_eq!(head(&b.workspace.join("src")), r.commits[0], "{log}");
        assert_eq!(
            fs_err::read_to_string(b.workspace.join("src/version.txt")).unwrap(),
            "0\n"
        );

        // A tag, by commit and by annotated tag object.
        let b = Build::new(shell);
        b.ok(
            "git-checkout",
            &[
                ("repository", r.url.as_str()),
                ("tag", "v1"),
                ("expected-commit", r.commits[1].as_str()),
            ],
        );
        assert_eq!(head(&b.workspace), r.commits[1]);
        let b = Build::new(shell);
        let log = b.ok(
            "git-checkout",
            &[
                ("repository", r.url.as_str()),
                ("tag", "v1"),
                ("expected-commit", r.tag_object.as_str()),
            ],
        );
        assert!(log.contains("annotated tag object"), "{log}");
        assert_eq!(head(&b.workspace), r.commits[1]);
    }
}

#[test]
fn git_checkout_refuses_mismatches_and_applies_cherry_picks() {
    let r = repo();
    for shell in SHELLS {
        // Default HEAD, shallow: an older expected commit cannot be reached.
        let b = Build::new(shell);
        let log = b.fails(
            "git-checkout",
            &[
                ("repository", r.url.as_str()),
                ("expected-commit", r.commits[1].as_str()),
            ],
        );
        assert!(log.contains("depth to -1"), "{log}");

        // Tip-only mode wants exactly the tip.
        let b = Build::new(shell);
        b.fails(
            "git-checkout",
            &[
                ("repository", r.url.as_str()),
                ("branch", "main"),
                ("expected-commit", r.commits[1].as_str()),
                ("expected-commit-is-branch-tip", "true"),
            ],
        );

        // A tag that is not the expected commit.
        let b = Build::new(shell);
        b.fails(
            "git-checkout",
            &[
                ("repository", r.url.as_str()),
                ("tag", "v1"),
                ("expected-commit", r.commits[2].as_str()),
            ],
        );

        // branch and tag together.
        let b = Build::new(shell);
        let log = b.fails(
            "git-checkout",
            &[
                ("repository", r.url.as_str()),
                ("branch", "main"),
                ("tag", "v1"),
            ],
        );
        assert!(log.contains("cannot both"), "{log}");

        // A clone that fails is retried, then reported.
        let b = Build::new(shell);
        let log = b.fails(
            "git-checkout",
            &[
                ("repository", "file:///nonexistent/repo"),
                ("max-retries", "1"),
                ("initial-backoff", "0"),
            ],
        );
        assert!(log.contains("retry 1 of 1"), "{log}");

        // Cherry-pick from another branch, with a comment line.
        let b = Build::new(shell);
        let picks = format!("# backports\nfeature/{}: add extra.txt\n", r.pick);
        b.ok(
            "git-checkout",
            &[
                ("repository", r.url.as_str()),
                ("branch", "main"),
                ("expected-commit", r.commits[2].as_str()),
                ("cherry-picks", picks.as_str()),
            ],
        );
        assert!(b.workspace.join("extra.txt").is_file());
        let parent = sh(&b.workspace, "git rev-parse HEAD~1");
        assert_eq!(parent, r.commits[2]);
        // Committer date comes from SOURCE_DATE_EPOCH (0, raised to 1980-01-01).
        assert_eq!(sh(&b.workspace, "git log -1 --format=%ct"), "315532800");
    }
}
