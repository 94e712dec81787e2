//! cargo/build on a crate with no dependencies, offline. melange's pipeline runs
//! `cargo auditable build`, so both cargo and the cargo-auditable plugin must be visible in the
//! sandbox (under /usr): a rustup toolchain under ~/.cargo is hidden from steps. Debian has no
//! cargo-auditable package, so scripts/install-deps.sh does not provide this and the case may
//! skip under CI too.

use super::support::*;

#[test]
fn cargo_build_installs_the_named_binary() {
    if !bwrap_usable() || !require_commands(&["cargo", "cargo-auditable", "cc"], false) {
        return;
    }
    let p = Project::new("cargo-hello");
    p.build(&[]).ok();

    let dest = p.destdir("cargo-hello");
    assert_eq!(
        run_program(&dest.join("usr/bin/cargo-hello")),
        "hello from cargo/build\n"
    );
    assert_eq!(p.files("cargo-hello"), ["usr/bin/cargo-hello"]);
    assert_packaged(&p.apk_files("cargo-hello"), "usr/bin/cargo-hello", 0o755);
}
