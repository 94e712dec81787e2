//! Built-in pipelines run for real, under bash and busybox ash, through the test harness in
//! `pipelines_run/harness.rs` (no sandbox yet; see there for the test-only path rewriting).

#[path = "pipelines_run/harness.rs"]
mod harness;
#[path = "support/http.rs"]
mod http;
#[path = "support/unpriv.rs"]
mod unpriv;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use harness::{Build, HttpServer, Shell, tool_path};
use sha2::Digest;

const SHELLS: [Shell; 2] = [Shell::Bash, Shell::Ash];

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn every_builtin_step_is_valid_bash_and_ash() {
    let b = Build::new(Shell::Bash);
    let mut problems = Vec::new();
    for (name, _) in melwrap::pipelines::BUILTINS {
        let def = melwrap::pipelines::parse_definition(melwrap::pipelines::builtin(name).unwrap())
            .unwrap();
        let with: Vec<(&str, &str)> = def
            .inputs
            .iter()
            .filter(|(_, i)| i.required)
            .map(|(k, _)| (k.as_str(), "value"))
            .collect();
        let steps = b.render(name, &with).unwrap();
        assert!(!steps.is_empty(), "{name}");
        for step in steps {
            for (shell, args) in [
                ("bash", vec!["-n", "-c"]),
                ("busybox", vec!["ash", "-n", "-c"]),
            ] {
                let out = Command::new(shell)
                    .args(&args)
                    .arg(&step.script)
                    .output()
                    .unwrap();
                if !out.status.success() {
                    problems.push(format!(
                        "{name} under {shell}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn nested_uses_and_working_directories_render_as_melange_compiles_them() {
    let b = Build::new(Shell::Bash);
    // strip runs in the package directory, whatever the caller's directory.
    let strip = b.render("strip", &[]).unwrap();
    assert_eq!(strip.len(), 1);
    assert_eq!(strip[0].workdir, b.contextdir());
    // go/build/v2 ends with a nested `uses: strip`.
    let go = b.render("go/build/v2", &[]).unwrap();
    assert_eq!(go.len(), 2);
    assert_eq!(go[0].workdir, b.workspace);
    assert_eq!(go[1].workdir, b.contextdir());
    assert!(
        go[0]
            .script
            .contains(&format!("{}/gomodcache", b.cache.display()))
    );
    // Required inputs and undeclared ones are refused, as melange's compiler does.
    assert!(
        b.render("fetch", &[])
            .unwrap_err()
            .contains("required input")
    );
    assert!(
        b.render("strip", &[("nope", "1")])
            .unwrap_err()
            .contains("undefined input")
    );
}

// ---- fetch ----

/// A gzip tarball of `hello-1.0/README` and `hello-1.0/src/main.c`.
fn tarball(dir: &Path) -> Vec<u8> {
    sh(
        dir,
        "mkdir -p hello-1.0/src && echo 'read me' > hello-1.0/README && \
         echo 'int main(void){return 0;}' > hello-1.0/src/main.c && \
         tar -czf hello-1.0.tar.gz hello-1.0",
    );
    fs_err::read(dir.join("hello-1.0.tar.gz")).unwrap()
}

fn sha256(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

fn sha512(data: &[u8]) -> String {
    hex::encode(sha2::Sha512::digest(data))
}

fn cache_entries(cache: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs_err::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The downloaders fetch must cope with: (description, shell, PATH builder).
fn downloaders(dir: &Path) -> Vec<(&'static str, Shell, String)> {
    let common = [
        "basename",
        "cp",
        "mv",
        "rm",
        "mkdir",
        "mktemp",
        "chmod",
        "sha256sum",
        "sha512sum",
        "awk",
        "tar",
        "gzip",
        "cat",
        "grep",
        "sleep",
        "od",
        "tr",
    ];
    let mut curl_tools = common.to_vec();
    curl_tools.push("curl");
    let mut bb_tools = common.to_vec();
    bb_tools.push("wget");
    vec![
        ("GNU wget", Shell::Bash, std::env::var("PATH").unwrap()),
        (
            "curl (no wget)",
            Shell::Bash,
            tool_path(&dir.join("curl-bin"), &curl_tools, None),
        ),
        (
            "busybox wget and applets",
            Shell::Ash,
            tool_path(
                &dir.join("busybox-bin"),
                &bb_tools,
                Some(which::which("busybox").unwrap().to_str().unwrap()),
            ),
        ),
    ]
}

#[test]
fn fetch_downloads_verifies_caches_and_then_works_offline_from_the_cache() {
    let scratch = tempfile::tempdir().unwrap();
    let data = tarball(scratch.path());
    let digest = sha256(&data);
    for (what, shell, path) in downloaders(scratch.path()) {
        let mut server = HttpServer::start(BTreeMap::from([(
            "dl/hello-1.0.tar.gz".to_string(),
            data.clone(),
        )]));
        let uri = server.url("dl/hello-1.0.tar.gz");
        let with = [("uri", uri.as_str()), ("expected-sha256", digest.as_str())];

        let mut first = Build::new(shell);
        first.path = path.clone();
        let log = first.ok("fetch", &with);
        assert!(server.requests() >= 1);
        assert_eq!(
            fs_err::read_to_string(first.workspace.join("README")).unwrap(),
            "read me\n",
            "{what}: not extracted with strip-components=1\n{log}"
        );
        assert!(first.workspace.join("src/main.c").is_file(), "{what}");
        // Stored under its digest, whole, with no temporary file left behind.
        let key = format!("sha256:{digest}");
        assert_eq!(
            cache_entries(&first.cache),
            vec![key.clone()],
            "{what}\n{log}"
        );
        assert_eq!(
            fs_err::read(first.cache.join(&key)).unwrap(),
            data,
            "{what}"
        );

        // The server is gone: a second build is served by the cache alone.
        server.stop();
        let mut second = Build::with_cache(shell, &first.cache);
        second.path = path.clone();
        let log = second.ok("fetch", &with);
        assert!(log.contains("build cache"), "{what}: {log}");
        assert!(second.workspace.join("README").is_file(), "{what}");
        assert!(
            second.workspace.join("hello-1.0.tar.gz").is_file(),
            "{what}"
        );

        // And without the cache, the same offline build fails.
        let mut third = Build::new(shell);
        third.path = path;
        // (One attempt only: retrying a refused connection just takes time.)
        third.fails("fetch", &[with[0], with[1], ("retry-limit", "1")]);
    }
}

#[test]
fn fetch_with_a_wrong_digest_fails_and_caches_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let data = tarball(scratch.path());
    let server = HttpServer::start(BTreeMap::from([("a.tar.gz".to_string(), data.clone())]));
    let uri = server.url("a.tar.gz");
    let wrong = sha256(b"something else");
    for shell in SHELLS {
        let b = Build::new(shell);
        let log = b.fails(
            "fetch",
            &[("uri", uri.as_str()), ("expected-sha256", wrong.as_str())],
        );
        assert!(log.contains("expected"), "{log}");
        assert!(cache_entries(&b.cache).is_empty(), "{log}");
        assert!(!b.workspace.join("README").exists());

        let wrong512 = sha512(b"something else");
        let b = Build::new(shell);
        b.fails(
            "fetch",
            &[
                ("uri", uri.as_str()),
                ("expected-sha512", wrong512.as_str()),
            ],
        );
        assert!(cache_entries(&b.cache).is_empty());
    }
}

#[test]
fn fetch_caches_by_sha512_never_caches_unchecked_files_and_needs_a_digest() {
    let scratch = tempfile::tempdir().unwrap();
    let data = tarball(scratch.path());
    let server = HttpServer::start(BTreeMap::from([("a.tar.gz".to_string(), data.clone())]));
    let uri = server.url("a.tar.gz");
    for shell in SHELLS {
        let b = Build::new(shell);
        let digest = sha512(&data);
        b.ok(
            "fetch",
            &[
                ("uri", uri.as_str()),
                ("expected-sha512", digest.as_str()),
                ("delete", "true"),
            ],
        );
        assert_eq!(cache_entries(&b.cache), vec![format!("sha512:{digest}")]);
        assert!(!b.workspace.join("a.tar.gz").exists(), "delete: true");

        let b = Build::new(shell);
        b.ok(
            "fetch",
            &[
                ("uri", uri.as_str()),
                ("expected-none", "true"),
                ("extract", "false"),
            ],
        );
        assert!(cache_entries(&b.cache).is_empty());
        assert_eq!(fs_err::read(b.workspace.join("a.tar.gz")).unwrap(), data);
        assert!(!b.workspace.join("README").exists(), "extract: false");

        let b = Build::new(shell);
        let log = b.fails("fetch", &[("uri", uri.as_str())]);
        assert!(log.contains("expected-sha256"), "{log}");
    }
}

#[test]
fn fetch_without_a_cache_directory_still_works() {
    let scratch = tempfile::tempdir().unwrap();
    let data = tarball(scratch.path());
    let server = HttpServer::start(BTreeMap::from([("a.tar.gz".to_string(), data.clone())]));
    let mut b = Build::new(Shell::Bash);
    b.cache = scratch.path().join("no-such-cache");
    b.ok(
        "fetch",
        &[
            ("uri", server.url("a.tar.gz").as_str()),
            ("expected-sha256", sha256(&data).as_str()),
            ("directory", "unpacked"),
            ("strip-components", "0"),
        ],
    );
    assert!(!b.cache.exists());
    assert!(b.workspace.join("unpacked/hello-1.0/README").is_file());
}

#[test]
fn fetch_as_an_ordinary_user_skips_a_cache_it_cannot_write() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = tempfile::tempdir().unwrap();
    let data = tarball(scratch.path());
    let server = HttpServer::start(BTreeMap::from([("a.tar.gz".to_string(), data.clone())]));
    let uri = server.url("a.tar.gz");
    let digest = sha256(&data);
    for shell in SHELLS {
        let mut b = Build::new(shell);
        b.open_to_everyone();
        fs_err::set_permissions(&b.cache, std::fs::Permissions::from_mode(0o755)).unwrap();
        b.user = Some(65534);
        let log = b.ok(
            "fetch",
            &[("uri", uri.as_str()), ("expected-sha256", digest.as_str())],
        );
        assert!(b.workspace.join("README").is_file(), "{log}");
        assert!(cache_entries(&b.cache).is_empty(), "{log}");

        // A cache entry that is readable is still used.
        fs_err::write(b.cache.join(format!("sha256:{digest}")), &data).unwrap();
        let mut c = Build::with_cache(shell, &b.cache);
        c.open_to_everyone();
        c.user = Some(65534);
        let log = c.ok(
            "fetch",
            &[
                ("uri", "http://127.0.0.1:9/gone.tar.gz"),
                ("expected-sha256", digest.as_str()),
            ],
        );
        assert!(c.workspace.join("README").is_file(), "{log}");
    }
}

// ---- patch ----

const ORIGINAL: &str = "one\ntwo\nthree\n";

fn diff(from: &str, to: &str, file: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(dir.path().join("a")).unwrap();
    fs_err::create_dir_all(dir.path().join("b")).unwrap();
    fs_err::write(dir.path().join("a").join(file), from).unwrap();
    fs_err::write(dir.path().join("b").join(file), to).unwrap();
    let out = Command::new("diff")
        .args(["-u", &format!("a/{file}"), &format!("b/{file}")])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn patch_applies_a_list_and_a_series_file() {
    for shell in SHELLS {
        let b = Build::new(shell);
        let w = &b.workspace;
        fs_err::write(w.join("numbers.txt"), ORIGINAL).unwrap();
        fs_err::write(
            w.join("first.patch"),
            diff(ORIGINAL, "one\n2\nthree\n", "numbers.txt"),
        )
        .unwrap();
        fs_err::write(
            w.join("second.patch"),
            diff("one\n2\nthree\n", "one\n2\n3\n", "numbers.txt"),
        )
        .unwrap();
        b.ok("patch", &[("patches", "first.patch\n  second.patch")]);
        assert_eq!(
            fs_err::read_to_string(w.join("numbers.txt")).unwrap(),
            "one\n2\n3\n"
        );

        // The same through a quilt series file with comments and blank lines.
        let b = Build::new(shell);
        let w = &b.workspace;
        fs_err::create_dir_all(w.join("patches")).unwrap();
        fs_err::write(w.join("numbers.txt"), ORIGINAL).unwrap();
        fs_err::write(
            w.join("patches/1.patch"),
            diff(ORIGINAL, "one\n2\nthree\n", "numbers.txt"),
        )
        .unwrap();
        fs_err::write(
            w.join("patches/2.patch"),
            diff("one\n2\nthree\n", "one\n2\n3\n", "numbers.txt"),
        )
        .unwrap();
        fs_err::write(
            w.join("patches/series"),
            "# fixes\npatches/1.patch\n\npatches/2.patch\n",
        )
        .unwrap();
        let log = b.ok("patch", &[("series", "patches/series")]);
        assert!(log.contains("applying patches/2.patch"), "{log}");
        assert_eq!(
            fs_err::read_to_string(w.join("numbers.txt")).unwrap(),
            "one\n2\n3\n"
        );
    }
}

#[test]
fn patch_refuses_bad_input_and_fails_when_a_hunk_does_not_apply() {
    for shell in SHELLS {
        let b = Build::new(shell);
        let w = &b.workspace;
        fs_err::write(w.join("numbers.txt"), "completely\ndifferent\n").unwrap();
        fs_err::write(
            w.join("first.patch"),
            diff(ORIGINAL, "one\n2\nthree\n", "numbers.txt"),
        )
        .unwrap();
        b.fails("patch", &[("patches", "first.patch")]);
        b.fails("patch", &[]);
        let log = b.fails(
            "patch",
            &[("patches", "first.patch"), ("strip-components", "x")],
        );
        assert!(log.contains("non-negative integer"), "{log}");
        let log = b.fails("patch", &[("series", "a;b")]);
        assert!(log.contains("metacharacters"), "{log}");
        b.fails("patch", &[("series", "missing-series")]);
    }
}

// ---- git-checkout ----

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

// ---- autoconf ----

#[test]
fn autoconf_configure_make_and_make_install_on_a_tiny_project() {
    let b = Build::new(Shell::Bash);
    let w = &b.workspace;
    fs_err::write(
        w.join("configure.ac"),
        "AC_INIT([tiny], [1.0])\nAM_INIT_AUTOMAKE([foreign])\nAC_PROG_CC\n\
         AC_CONFIG_FILES([Makefile])\nAC_OUTPUT\n",
    )
    .unwrap();
    fs_err::write(
        w.join("Makefile.am"),
        "bin_PROGRAMS = tiny\ntiny_SOURCES = tiny.c\n\
         install-data-local:\n\tmkdir -p $(DESTDIR)$(libdir)\n\
         \techo libtool archive > $(DESTDIR)$(libdir)/libtiny.la\n\
         \techo keep > $(DESTDIR)$(libdir)/libtiny.txt\n",
    )
    .unwrap();
    fs_err::write(
        w.join("tiny.c"),
        "#include <stdio.h>\nint main(void) { puts(\"tiny works\"); return 0; }\n",
    )
    .unwrap();

    b.ok("autoconf/configure", &[]);
    assert!(w.join("configure").is_file(), "autoreconf did not run");
    let status = fs_err::read_to_string(w.join("config.log")).unwrap();
    assert!(status.contains("--prefix=/usr"), "configure options");
    b.ok("autoconf/make", &[]);
    assert!(w.join("tiny").is_file());
    b.ok("autoconf/make-install", &[]);

    let installed = b.destdir().join("usr/bin/tiny");
    let out = Command::new(&installed).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tiny works\n");
    assert!(!b.destdir().join("usr/lib/libtiny.la").exists(), ".la kept");
    assert!(b.destdir().join("usr/lib/libtiny.txt").exists());

    // A missing configure script and configure.ac is an error, not a silent skip.
    let empty = Build::new(Shell::Bash);
    empty.fails("autoconf/configure", &[]);
}

// ---- split/* ----

fn touch(root: &Path, rel: &str) {
    let p = root.join(rel);
    fs_err::create_dir_all(p.parent().unwrap()).unwrap();
    fs_err::write(p, rel).unwrap();
}

fn fake_install(dest: &Path) {
    for f in [
        "usr/bin/foo",
        "usr/bin/foo-config",
        "usr/include/foo.h",
        "usr/include/foo/bar.h",
        "usr/lib/libfoo.so.1.2",
        "usr/lib/libbar.so.3",
        "usr/lib/libfoo.a",
        "usr/lib/pkgconfig/foo.pc",
        "usr/share/man/man1/foo.1",
        "usr/share/doc/foo/README",
        "usr/share/info/foo.info",
        "usr/share/info/dir",
        "usr/share/locale/de/LC_MESSAGES/foo.mo",
    ] {
        touch(dest, f);
    }
    std::os::unix::fs::symlink("libfoo.so.1.2", dest.join("usr/lib/libfoo.so.1")).unwrap();
    std::os::unix::fs::symlink("libfoo.so.1", dest.join("usr/lib/libfoo.so")).unwrap();
}

fn exists(root: &Path, rel: &str) -> bool {
    root.join(rel).symlink_metadata().is_ok()
}

#[test]
fn split_static_dev_lib_and_docs_move_the_right_files() {
    for shell in SHELLS {
        let mut b = Build::new(shell);
        let dest = b.destdir();
        fake_install(&dest);

        b.enter_subpackage("foo-static");
        b.ok("split/static", &[]);
        let ctx = b.contextdir();
        assert!(exists(&ctx, "usr/lib/libfoo.a"));
        assert!(!exists(&dest, "usr/lib/libfoo.a"));

        b.enter_subpackage("foo-dev");
        b.ok("split/dev", &[]);
        let ctx = b.contextdir();
        for moved in [
            "usr/include/foo.h",
            "usr/include/foo/bar.h",
            "usr/lib/pkgconfig/foo.pc",
            "usr/bin/foo-config",
            "usr/lib/libfoo.so",
        ] {
            assert!(exists(&ctx, moved), "{shell:?}: {moved} not in -dev");
            assert!(!exists(&dest, moved), "{shell:?}: {moved} left behind");
        }
        assert!(exists(&dest, "usr/bin/foo"));
        assert!(exists(&dest, "usr/lib/libfoo.so.1"));

        b.enter_subpackage("foo-libs");
        b.ok("split/lib", &[("patterns", "foo")]);
        let ctx = b.contextdir();
        assert!(exists(&ctx, "usr/lib/libfoo.so.1") && exists(&ctx, "usr/lib/libfoo.so.1.2"));
        assert!(
            exists(&dest, "usr/lib/libbar.so.3"),
            "pattern foo took libbar"
        );
        b.enter_subpackage("bar-libs");
        b.ok("split/lib", &[]);
        assert!(exists(&b.contextdir(), "usr/lib/libbar.so.3"));
        assert!(!exists(&dest, "usr/lib"), "empty usr/lib not removed");

        b.enter_subpackage("foo-lang");
        b.ok("split/locales", &[]);
        assert!(exists(
            &b.contextdir(),
            "usr/share/locale/de/LC_MESSAGES/foo.mo"
        ));

        b.enter_subpackage("foo-doc");
        b.ok("split/alldocs", &[]);
        let ctx = b.contextdir();
        assert!(exists(&ctx, "usr/share/man/man1/foo.1"));
        assert!(exists(&ctx, "usr/share/doc/foo/README"));
        assert!(exists(&ctx, "usr/share/info/foo.info"));
        assert!(!exists(&ctx, "usr/share/info/dir"), "info dir index kept");
        assert!(!exists(&dest, "usr/share/man"));

        b.enter_subpackage("foo-bin");
        b.ok("split/bin", &[]);
        assert!(exists(&b.contextdir(), "usr/bin/foo"));
        assert!(!exists(&dest, "usr/bin"));

        // The main package cannot split from itself.
        b.subpackage = None;
        let log = b.fails("split/dev", &[]);
        assert!(log.contains("itself"), "{log}");
    }
}

// ---- strip ----

fn has_debug_info(file: &Path) -> bool {
    let out = Command::new("readelf")
        .arg("-S")
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).contains(".debug_info")
}

#[test]
fn strip_removes_debug_info_from_native_elf_files_only() {
    for shell in SHELLS {
        let b = Build::new(shell);
        let bin = b.destdir().join("usr/bin");
        fs_err::create_dir_all(&bin).unwrap();
        fs_err::write(
            b.workspace.join("hello.c"),
            "int main(void) { return 7; }\n",
        )
        .unwrap();
        sh(
            &b.workspace,
            &format!("gcc -g -O0 -o {}/hello hello.c", bin.display()),
        );
        assert!(has_debug_info(&bin.join("hello")));
        fs_err::write(bin.join("script.sh"), "#!/bin/sh\necho hi\n").unwrap();
        // An ELF header for another machine (ARM, 40): strip would choke on it.
        let mut foreign = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0];
        foreign.resize(16, 0);
        foreign.extend_from_slice(&[2, 0, 40, 0]);
        foreign.resize(64, 0);
        fs_err::write(bin.join("foreign"), &foreign).unwrap();

        let log = b.ok("strip", &[]);
        assert!(!has_debug_info(&bin.join("hello")), "{log}");
        assert!(
            !log.contains("foreign") && !log.contains("script.sh"),
            "{log}"
        );
        let status = Command::new(bin.join("hello")).status().unwrap();
        assert_eq!(status.code(), Some(7));
        assert_eq!(fs_err::read(bin.join("foreign")).unwrap(), foreign);
    }
}

#[test]
fn split_debug_keeps_debug_info_in_the_subpackage() {
    let mut b = Build::new(Shell::Bash);
    let lib = b.destdir().join("usr/lib");
    fs_err::create_dir_all(&lib).unwrap();
    fs_err::write(b.workspace.join("f.c"), "int f(void) { return 1; }\n").unwrap();
    sh(
        &b.workspace,
        &format!("gcc -g -shared -fPIC -o {}/libf.so.1 f.c", lib.display()),
    );
    b.enter_subpackage("hello-dbg");
    b.ok("split/debug", &[]);
    let dbg = b.contextdir().join("usr/lib/debug/usr/lib/libf.so.1.debug");
    assert!(has_debug_info(&dbg));
    assert!(!has_debug_info(&lib.join("libf.so.1")));
    assert!(!b.destdir().join(".dbg-tmp").exists());
}
