//! A root assembled by `melwrap rootfs` is a root `melwrap build --rootfs DIR` runs in: a
//! merged-/usr base package (`bin -> usr/bin`, `lib -> usr/lib`, `lib64 -> usr/lib64`) and a
//! package with the host's busybox and its shared libraries under `bin/` and `lib*/` (which
//! land in `usr/` through the links), built and signed by melwrap, served over loopback HTTP.
//! The base package sorts last by name: only apk's install order (dependencies first) makes
//! the links exist before the files that go through them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::repo::cli::{from_repo, melwrap};
use crate::repo::fixture::ARCH;
use crate::support::http::HttpServer;

/// What [`host_busybox_config`] packages: the host's busybox as `name`, with a merged-/usr
/// `baselayout` subpackage it depends on.
pub struct HostBusybox<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub baselayout: &'a str,
    /// Link every applet into `/bin` (otherwise only `/bin/sh`).
    pub all_applets: bool,
    /// Give the baselayout a root-only `/etc/passwd` (otherwise melwrap writes the guest's).
    pub passwd: bool,
}

/// A melange config that packages the host's busybox and the libraries it needs (a host
/// root's layout, so melange's usrmerge linter is disabled), plus its baselayout subpackage.
pub fn host_busybox_config(p: &HostBusybox) -> String {
    let applets = if p.all_applets {
        "for applet in $(busybox --list); do\n        [ -e \"$d/bin/$applet\" ] || ln -s busybox \"$d/bin/$applet\"\n      done"
    } else {
        "ln -s busybox \"$d/bin/sh\""
    };
    let passwd = if p.passwd {
        "\n          echo 'root:x:0:0:root:/root:/bin/sh' > \"$d/etc/passwd\""
    } else {
        ""
    };
    format!(
        r#"package:
  name: {name}
  version: {version}
  epoch: 0
  description: the host's busybox and the libraries it needs
  copyright:
    - license: GPL-2.0-only
  dependencies:
    runtime:
      - {baselayout}
  # A host root's layout (not merged /usr): melange's usrmerge linter would refuse it.
  checks:
    disabled: [usrmerge]
pipeline:
  - runs: |
      d="${{{{targets.destdir}}}}"
      mkdir -p "$d/bin"
      cp "$(command -v busybox)" "$d/bin/busybox"
      {applets}
      for lib in $(ldd "$(command -v busybox)" 2>/dev/null | grep -o '/[^ ]*'); do
        mkdir -p "$d$(dirname "$lib")"
        cp -L "$lib" "$d$lib"
      done
subpackages:
  - name: {baselayout}
    description: merged /usr links
    checks:
      disabled: [usrmerge]
    pipeline:
      - runs: |
          d="${{{{targets.subpkgdir}}}}"
          mkdir -p "$d/usr/bin" "$d/usr/lib" "$d/usr/lib64" "$d/etc"
          ln -s usr/bin "$d/bin"
          ln -s usr/lib "$d/lib"
          ln -s usr/lib64 "$d/lib64"{passwd}
"#,
        name = p.name,
        version = p.version,
        baselayout = p.baselayout,
    )
}

const GUEST_STEP: &str = r#"package:
  name: in-guest
  version: 1.0.0
  epoch: 0
  description: runs in the assembled root
  copyright:
    - license: MIT
pipeline:
  - runs: |
      busybox echo "hello from the guest: $(busybox uname -s)"
      busybox mkdir -p "${{targets.destdir}}/usr/share"
      busybox echo guest > "${{targets.destdir}}/usr/share/proof"
"#;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Is there a busybox on this host to package?
pub fn host_has_busybox() -> bool {
    ["/usr/bin/busybox", "/bin/busybox"]
        .iter()
        .any(|p| Path::new(p).is_file())
}

/// Build `busybox-host` and `zz-baselayout` in `d` (key `d/guest.rsa`, packages in
/// `d/repo`) and serve them over loopback HTTP at `server.url("os")`.
pub fn busybox_repo(d: &Path) -> HttpServer {
    let key = d.join("guest.rsa");
    let k = melwrap(&["keygen", "-q", "--key-size", "2048", s(&key)]);
    assert_eq!(k.code, Some(0), "{}", k.stderr);
    let src = d.join("src");
    fs_err::create_dir(&src).unwrap();
    fs_err::write(
        src.join("melange.yaml"),
        host_busybox_config(&HostBusybox {
            name: "busybox-host",
            version: "1.0.0",
            baselayout: "zz-baselayout",
            all_applets: false,
            passwd: true,
        }),
    )
    .unwrap();
    let out = d.join("repo");
    let b = melwrap(&[
        "build",
        "-q",
        "--arch",
        ARCH,
        "--signing-key",
        s(&key),
        "--out-dir",
        s(&out),
        "--cache-dir",
        s(&d.join("build-cache")),
        "--workspace-dir",
        s(&d.join("ws")),
        s(&src.join("melange.yaml")),
    ]);
    assert_eq!(b.code, Some(0), "{}", b.stderr);
    let served = crate::repo::fixture::served(&out, "os/");
    HttpServer::start(served)
}

#[test]
fn an_assembled_root_runs_a_build() {
    if !host_has_busybox() {
        eprintln!("skipped: no busybox on this host to package");
        return;
    }
    let t = tempfile::Builder::new()
        .prefix("melwrap-guest-root-")
        .tempdir()
        .unwrap();
    // The build uid (as root) must reach the root directory.
    fs_err::set_permissions(t.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let d = t.path();
    let server = busybox_repo(d);
    let root = d.join("root");
    let r = from_repo(
        "rootfs",
        &server.url("os"),
        s(&d.join("guest.rsa.pub")),
        "busybox-host",
        &d.join("apk-cache"),
        &[s(&root)],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout, "zz-baselayout-1.0.0-r0\nbusybox-host-1.0.0-r0\n");
    assert!(root.join("bin").is_symlink());
    assert!(root.join("usr/bin/busybox").is_file());
    assert!(root.join("lib").is_symlink());
    // The database went through `lib -> usr/lib`, where apk inside finds it too.
    assert!(root.join("usr/lib/apk/db/installed").is_file());

    let step_dir = d.join("step");
    fs_err::create_dir(&step_dir).unwrap();
    fs_err::write(step_dir.join("melange.yaml"), GUEST_STEP).unwrap();
    let g = melwrap(&[
        "build",
        "--arch",
        ARCH,
        "--rootfs",
        s(&root),
        "--out-dir",
        s(&d.join("guest-out")),
        "--cache-dir",
        s(&d.join("build-cache")),
        "--workspace-dir",
        s(&d.join("ws-guest")),
        s(&step_dir.join("melange.yaml")),
    ]);
    assert_eq!(g.code, Some(0), "{}{}", g.stdout, g.stderr);
    let all = format!("{}{}", g.stdout, g.stderr);
    assert!(all.contains("hello from the guest: Linux"), "{all}");
}
