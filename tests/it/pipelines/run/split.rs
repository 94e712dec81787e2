//! `split/*`: static, dev, lib and docs files moved into their subpackages.

use super::*;

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
