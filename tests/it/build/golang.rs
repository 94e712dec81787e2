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
