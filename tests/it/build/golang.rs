//! The seed's Go example: `GOMODCACHE: /var/cache/melange` in `environment.environment`. A
//! first build fills the module cache from a file GOPROXY; a second build with the network
//! off and `GOPROXY=off` finds the module there. Go is the system's.

use std::path::Path;

use crate::build::common::*;

const GO_ENV: &str = r#"environment:
  environment:
    GOMODCACHE: /var/cache/melange
    GOFLAGS: -mod=mod
    GOSUMDB: "off"
    GOTOOLCHAIN: local
"#;

/// Copy testdata/build/go into the source dir.
fn copy_fixture(t: &TestEnv) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/build/go");
    for (dir, files) in [
        ("app", &["go.mod", "main.go"][..]),
        ("dep", &["go.mod", "dep.go"][..]),
        ("mkproxy", &["main.go"][..]),
    ] {
        for file in files {
            let text = fs_err::read_to_string(root.join(dir).join(file)).unwrap();
            t.write(&format!("{dir}/{file}"), &text);
        }
    }
}

fn offline_config() -> String {
    format!(
        r#"{GO_ENV}pipeline:
  - name: build-offline
    working-directory: app
    environment:
      GOPROXY: "off"
    runs: |
      go build -o hello .
      ./hello > /var/cache/melange/hello-output
"#
    )
}

#[test]
fn go_modules_come_from_the_cache_with_the_network_off() {
    require_bwrap!();
    if which::which("go").is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "go must be installed under CI=true"
        );
        eprintln!("skipped: go is not installed");
        return;
    }
    let t = TestEnv::new();
    copy_fixture(&t);
    t.config(&format!(
        r#"{GO_ENV}pipeline:
  - name: make-proxy
    runs: go run mkproxy/main.go dep /home/build/goproxy example.com/dep v1.0.0
  - name: build-online
    working-directory: app
    environment:
      GOPROXY: file:///home/build/goproxy
    runs: |
      go build -o hello .
      ./hello
"#
    ));
    // The file GOPROXY needs no network either, but this is the "first build".
    t.build(Who::Root, &[]).ok();
    assert!(
        t.cache().join("example.com/dep@v1.0.0/dep.go").is_file(),
        "the module was extracted into the cache dir itself (GOMODCACHE=/var/cache/melange)"
    );
    assert!(
        t.cache()
            .join("cache/download/example.com/dep/@v/v1.0.0.zip")
            .is_file()
    );

    // Second build: no proxy, no network; only the cache can supply the module.
    t.config(&offline_config());
    let run = t.build(Who::Root, &["--no-network"]);
    run.ok();
    assert_eq!(
        t.cached("hello-output"),
        "hello from example.com/dep v1.0.0\n"
    );

    // Control: the same offline build against an empty cache cannot find the module.
    let run = t.build(Who::Root, &["--no-network", "--cache-dir", "empty-cache"]);
    run.exit(1);
    assert!(run.stderr.contains("example.com/dep"), "{run}");
}

/// The host's `go` with its own caches inside the test dir and no network: fills `modcache`
/// (the user's module cache, `go env GOMODCACHE`) with example.com/dep from a file proxy
/// made from testdata.
fn fill_users_module_cache(t: &TestEnv, modcache: &Path) {
    let go = |dir: &Path, args: &[&str]| {
        let out = std::process::Command::new("go")
            .args(args)
            .current_dir(dir)
            .env("GOMODCACHE", modcache)
            .env("GOCACHE", t.root().join("host-gocache"))
            .env("GOPATH", t.root().join("host-gopath"))
            .env(
                "GOPROXY",
                format!("file://{}", t.root().join("proxy").display()),
            )
            .env("GOFLAGS", "-mod=mod")
            .env("GOSUMDB", "off")
            .env("GOTOOLCHAIN", "local")
            .env("GOENV", "off")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "go {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let proxy = t.root().join("proxy");
    go(
        &t.src(),
        &[
            "run",
            "mkproxy/main.go",
            "dep",
            proxy.to_str().unwrap(),
            "example.com/dep",
            "v1.0.0",
        ],
    );
    go(
        &t.src().join("app"),
        &["mod", "download", "example.com/dep"],
    );
}

/// The relative paths below `dir`.
fn tree(dir: &Path) -> Vec<String> {
    crate::support::walk(dir)
        .into_iter()
        .skip(1)
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Issue 17's acceptance: the cache doc's example, `melwrap build --cache-dir "$(go env
/// GOMODCACHE)"` with `GOMODCACHE: /var/cache/melange`, through the built-in `go/build`
/// (which used to overwrite GOMODCACHE), offline. Afterwards the module cache holds exactly
/// what Go put there: no GOCACHE, no other tool's area, no lock file. As root and as uid
/// 65534.
#[test]
fn go_build_pipeline_uses_the_users_module_cache_offline_and_adds_nothing() {
    require_bwrap!();
    if which::which("go").is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "go must be installed under CI=true"
        );
        eprintln!("skipped: go is not installed");
        return;
    }
    for who in users() {
        let t = TestEnv::new();
        copy_fixture(&t);
        let modcache = t.root().join("gomodcache-of-the-user");
        fill_users_module_cache(&t, &modcache);
        if who == Who::Nobody {
            let uid = who.host_uid().to_string();
            let status = std::process::Command::new("chown")
                .args(["-R", &format!("{uid}:{uid}")])
                .arg(&modcache)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let before = tree(&modcache);
        assert!(
            before
                .iter()
                .any(|p| p.ends_with("example.com/dep@v1.0.0/dep.go"))
        );
        t.config(
            r#"environment:
  environment:
    GOMODCACHE: /var/cache/melange
    GOFLAGS: -mod=mod
    GOSUMDB: "off"
    GOPROXY: "off"
    GOTOOLCHAIN: local
pipeline:
  - uses: go/build
    with:
      modroot: app
      packages: .
      output: hello
"#,
        );
        let run = t.build(
            who,
            &["--cache-dir", modcache.to_str().unwrap(), "--no-network"],
        );
        run.ok();
        // The binary was built from the cached module and packaged.
        let arch = melwrap::compile::Arch::host().unwrap().apk;
        let apk = t.out().join(format!("{arch}/test-pkg-1.0.0-r0.apk"));
        let listing =
            crate::support::stdout_of(std::process::Command::new("tar").arg("-tzf").arg(&apk));
        assert!(listing.lines().any(|l| l == "usr/bin/hello"), "{listing}");
        // The module cache holds what it held: Go only read it.
        assert_eq!(
            tree(&modcache),
            before,
            "{who:?}: the module cache changed\n{run}"
        );
        for name in [
            ".melwrap.lock",
            "go",
            "gomodcache",
            "cargo",
            "m2repository",
            "uv",
        ] {
            assert!(
                !modcache.join(name).exists(),
                "{who:?}: {name} in the module cache"
            );
        }
        // `cache info` sees a Go module cache, not "other".
        let info = Run::from(
            t.melwrap(who)
                .args(["cache", "info", "--format", "json", "--cache-dir"])
                .arg(&modcache)
                .output()
                .unwrap(),
        );
        info.ok();
        let json: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
        assert!(
            json["areas"]["gomodcache"]["entries"].as_u64() >= Some(1),
            "{json}"
        );
        assert!(json["areas"].get("other").is_none(), "{json}");
    }
}

/// A plain build (melwrap's own cache layout) still creates no area a tool did not use: a
/// step that runs no tool leaves the cache dir empty, and the build says it created it.
#[test]
fn cache_areas_are_created_only_when_a_tool_uses_them() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        t.config("pipeline:\n  - runs: echo nothing cached\n");
        let run = t.build(who, &[]);
        run.ok();
        assert!(run.stderr.contains("cache: created"), "{run}");
        assert_eq!(tree(&t.cache()), Vec::<String>::new(), "{who:?}\n{run}");
        // A step that uses cargo's registry keeps that area, and only that one.
        t.config("pipeline:\n  - runs: echo crate > /home/build/.cargo/registry/index-entry\n");
        let run = t.build(who, &[]);
        run.ok();
        assert!(!run.stderr.contains("cache: created"), "{run}");
        assert_eq!(
            tree(&t.cache()),
            ["cargo", "cargo/registry", "cargo/registry/index-entry"],
            "{who:?}\n{run}"
        );
    }
}
