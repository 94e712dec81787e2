//! go/build and go/install on a module that needs `example.com/greet`, served from a file
//! GOPROXY inside the workspace, so the download really goes through GOMODCACHE
//! (`/var/cache/melange/gomodcache`, melange's `pkg/build/pipelines/go/build.yaml`) offline.

use super::support::*;

#[test]
fn go_build_and_go_install_put_working_binaries_in_usr_bin() {
    if !bwrap_usable() || !require_commands(&["go", "python3"], true) {
        return;
    }
    let p = Project::new("go-hello");
    p.build(&[])
        .ok()
        .says("go: downloading example.com/greet v1.0.0");

    // go/build: `output` under prefix/install-dir.
    let dest = p.destdir("go-hello");
    assert_eq!(
        run_program(&dest.join("usr/bin/hello-built")),
        "hello from go/build via example.com/greet v1.0.0\n"
    );
    // go/install of path@version: named by go, moved out of the private GOBIN.
    assert_eq!(
        run_program(&dest.join("usr/bin/greet")),
        "hello from go/install via example.com/greet v1.0.0\n"
    );
    assert_eq!(
        p.files("go-hello"),
        [
            "usr/bin/greet",
            "usr/bin/hello-built",
            "var/lib/db/sbom/go-hello-1.0.0-r0.spdx.json"
        ]
    );

    // The module went to the build cache's gomodcache, where the next build finds it.
    assert!(
        p.cache()
            .join("gomodcache/example.com/greet@v1.0.0/greet.go")
            .is_file(),
        "the module was downloaded into the cache dir's gomodcache"
    );
    assert!(
        p.cache()
            .join("gomodcache/cache/download/example.com/greet/@v/v1.0.0.zip")
            .is_file()
    );

    let apk = p.apk_files("go-hello");
    assert_packaged(&apk, "usr/bin/hello-built", 0o755);
    assert_packaged(&apk, "usr/bin/greet", 0o755);
}
