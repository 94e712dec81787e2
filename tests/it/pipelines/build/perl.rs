//! perl/make, autoconf/make and autoconf/make-install on an ExtUtils::MakeMaker module, then
//! perl/cleanup; a `test:` step loads the module from the package.

use super::support::*;

#[test]
fn perl_make_and_cleanup_ship_only_the_module() {
    if !bwrap_usable() || !require_commands(&["perl", "make"], true) {
        return;
    }
    let makemaker = std::process::Command::new("/usr/bin/perl")
        .args(["-MExtUtils::MakeMaker", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !makemaker {
        skip("/usr/bin/perl has no ExtUtils::MakeMaker", true);
        return;
    }
    let p = Project::new("perl-hello");
    let run = p.build(&["--test"]);
    run.ok()
        .says("Writing Makefile for PwHello")
        .says("hello from perl")
        .says("1 passed, 0 failed");
    // perl/cleanup names what it removed.
    run.says("/perllocal.pod\n")
        .says("/auto/PwHello/.packlist\n");

    // INSTALLDIRS=vendor: Debian's vendorlib.
    let shipped = [
        "usr/share/perl5/PwHello.pm",
        "var/lib/db/sbom/perl-hello-1.0.0-r0.spdx.json",
    ];
    assert_eq!(p.files("perl-hello"), shipped);
    let apk = p.apk_files("perl-hello");
    assert_eq!(apk.keys().collect::<Vec<_>>(), shipped);
}
