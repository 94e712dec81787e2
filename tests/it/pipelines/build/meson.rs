//! meson/configure, meson/compile and meson/install on a C program with a man page, with
//! `opts` passed to `meson setup`.

use super::support::*;

#[test]
fn meson_configure_compile_install_fill_the_destdir() {
    if !bwrap_usable() || !require_commands(&["meson", "ninja", "cc"], true) {
        return;
    }
    let p = Project::new("meson-hello");
    p.build(&[]).ok();

    let dest = p.destdir("meson-hello");
    // GREETING comes from `opts: -Dgreeting=hello-from-meson`.
    assert_eq!(
        run_program(&dest.join("usr/bin/hello")),
        "hello-from-meson\n"
    );
    assert_eq!(
        p.files("meson-hello"),
        [
            "usr/bin/hello",
            "usr/share/man/man1/hello.1",
            "var/lib/db/sbom/meson-hello-1.0.0-r0.spdx.json"
        ]
    );
    assert!(p.workspace().join("output/build.ninja").is_file());

    let apk = p.apk_files("meson-hello");
    assert_packaged(&apk, "usr/bin/hello", 0o755);
    assert_packaged(&apk, "usr/share/man/man1/hello.1", 0o644);
}
