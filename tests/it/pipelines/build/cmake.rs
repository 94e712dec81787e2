//! cmake/configure, cmake/build and cmake/install on a C program and a shared library, with
//! melange's defaults (Ninja, prefix /usr, libdir lib) and `opts` passed through.

use super::support::*;

#[test]
fn cmake_configure_build_install_fill_the_destdir() {
    if !bwrap_usable() || !require_commands(&["cmake", "ninja", "cc"], true) {
        return;
    }
    let p = Project::new("cmake-hello");
    p.build(&[])
        .ok()
        // Ninja's progress lines: the generator melange's cmake/configure picks.
        .says("[1/4] /usr/bin/cc")
        .says("Installing: /home/build/melange-out/cmake-hello/usr/bin/hello");

    let dest = p.destdir("cmake-hello");
    // GREETING comes from `opts: -DGREETING=hello-from-cmake`.
    assert_eq!(
        run_program(&dest.join("usr/bin/hello")),
        "hello-from-cmake\n"
    );
    assert_eq!(
        p.files("cmake-hello"),
        [
            "usr/bin/hello",
            "usr/lib/libgreet.so",
            "var/lib/db/sbom/cmake-hello-1.0.0-r0.spdx.json"
        ],
        "CMAKE_INSTALL_LIBDIR=lib, not lib64 or a multiarch dir"
    );
    // The build directory stays in the workspace, not in the package.
    assert!(p.workspace().join("output/build.ninja").is_file());

    let apk = p.apk_files("cmake-hello");
    assert_packaged(&apk, "usr/bin/hello", 0o755);
    assert!(apk.contains_key("usr/lib/libgreet.so"), "{apk:?}");
}

#[test]
fn cmake_pipelines_run_for_an_unprivileged_user() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: switching to uid 65534 needs root");
        return;
    }
    if !bwrap_usable() || !require_commands(&["cmake", "ninja", "cc"], true) {
        return;
    }
    let p = Project::new("cmake-hello").run_by(65534);
    p.build(&[]).ok();
    let hello = p.destdir("cmake-hello").join("usr/bin/hello");
    assert_eq!(run_program(&hello), "hello-from-cmake\n");
    // What the steps wrote belongs to the user who ran melwrap.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs_err::metadata(&hello).unwrap().uid(), 65534);
    assert_packaged(&p.apk_files("cmake-hello"), "usr/bin/hello", 0o755);
}
