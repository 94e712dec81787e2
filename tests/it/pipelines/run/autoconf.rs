//! `autoconf/*`: configure, make and make install on a tiny project.

use super::*;

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
