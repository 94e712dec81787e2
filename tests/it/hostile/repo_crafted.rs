//! Crafted packages (built by melwrap, data section replaced): set-id bits, times and xattrs
//! kept in a guest root; `..`, absolute names, links out of the root (from the same package or
//! an earlier one) and hard links outside refused with the package and entry named, nothing
//! written outside. The refusals run as root and as uid 65534.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use melwrap::apk::tar::{Header, Kind};
use melwrap::repo::cache::VerifiedPackage;
use melwrap::repo::install::{RootConfig, assemble};

use super::craft::{Entry, entry, place_test_binary, replace_data, symlink, test_users};
use crate::repo::fixture::{ARCH, fixture, hello_apk};
use crate::repo::install::{config, read_db};

/// A copy of `apk` with its data section replaced by `entries`; read back unverified (the
/// data hash no longer matches: these tests are about extraction, past the cache).
pub fn crafted(apk: &Path, out: &Path, entries: &[(Header, &[u8])]) -> VerifiedPackage {
    replace_data(apk, out, entries);
    VerifiedPackage::trusting(out, "crafted").unwrap()
}

#[test]
fn set_id_bits_are_kept_in_a_guest_root() {
    let f = fixture();
    let t = tempfile::tempdir().unwrap();
    let pkg = crafted(
        &hello_apk(&f.repo_a),
        &t.path().join("suid.apk"),
        &[
            entry("usr", Kind::Dir, 0o755, b""),
            entry("usr/bin", Kind::Dir, 0o755, b""),
            entry("usr/bin/su-ish", Kind::File, 0o4755, b"x\n"),
            entry("usr/bin/sg-ish", Kind::File, 0o2755, b"y\n"),
            entry("var/mail", Kind::Dir, 0o1777, b""),
            {
                let (mut h, d) = entry("usr/bin/tagged", Kind::File, 0o644, b"t\n");
                h.mtime = 1_234_567_890;
                h.pax
                    .insert("SCHILY.xattr.user.melwrap".into(), b"yes".to_vec());
                (h, d)
            },
        ],
    );
    let root = t.path().join("root");
    let done = assemble(&root, &[pkg], &config(&f.repo_a)).unwrap();
    let tagged = root.join("usr/bin/tagged");
    assert_eq!(fs_err::metadata(&tagged).unwrap().mtime(), 1_234_567_890);
    let mut buf = [0u8; 16];
    let c = std::ffi::CString::new(tagged.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid NUL-terminated strings and a buffer with its length.
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"user.melwrap".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n >= 0 {
        assert_eq!(&buf[..n as usize], b"yes");
    } else {
        // A filesystem without user xattrs: listed, not fatal.
        assert!(
            done.xattrs_left_out
                .iter()
                .any(|x| x.contains("usr/bin/tagged: user.melwrap")),
            "{:?}",
            done.xattrs_left_out
        );
    }
    let mode = |rel: &str| fs_err::metadata(root.join(rel)).unwrap().mode() & 0o7777;
    assert_eq!(mode("usr/bin/su-ish"), 0o4755);
    assert_eq!(mode("usr/bin/sg-ish"), 0o2755);
    assert_eq!(mode("var/mail"), 0o1777);
    let db = read_db(&fs_err::read_to_string(root.join("lib/apk/db/installed")).unwrap());
    assert_eq!(db["hello"].1["usr/bin/su-ish"].0, "0:0:4755");
}

/// A directory outside the root that a crafted package aims at.
fn host_dir(t: &Path) -> PathBuf {
    let d = t.join("host");
    fs_err::create_dir(&d).unwrap();
    fs_err::set_permissions(&d, PermissionsExt::from_mode(0o777)).unwrap();
    fs_err::write(d.join("secret"), "host secret\n").unwrap();
    d
}

fn assert_untouched(d: &Path) {
    let names: Vec<_> = fs_err::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["secret"], "nothing added in {}", d.display());
    assert_eq!(
        fs_err::read_to_string(d.join("secret")).unwrap(),
        "host secret\n"
    );
}

/// One crafted scenario: the packages installed in order, and what the error must name.
struct Scenario {
    name: &'static str,
    packages: Vec<PathBuf>,
    package: &'static str,
    entry: String,
}

fn scenarios(f: &crate::repo::fixture::Fixture, dir: &Path, host: &Path) -> Vec<Scenario> {
    let host_s = host.display().to_string();
    let secret = format!("{host_s}/secret");
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let hardlink = |name: &str, target: &str| {
        entry(name, Kind::HardLink(target.as_bytes().to_vec()), 0o644, b"")
    };
    let file = |name: &str| entry(leak(name.to_string()), Kind::File, 0o644, b"x");
    let hello = hello_apk(&f.repo_a);
    let doc = f.repo_a.join(ARCH).join("hello-doc-1.2.3-r1.apk");
    let one = |name: &'static str, entries: Vec<Entry>, bad: &str| -> Scenario {
        let apk = dir.join(format!("{name}.apk"));
        crafted(&hello, &apk, &entries);
        Scenario {
            name,
            packages: vec![apk],
            package: "package hello-1.2.3-r1",
            entry: bad.to_string(),
        }
    };
    // The symlink scenarios aim at the host's directory. A guest root follows links inside
    // the root only, where that path does not exist: the entry is refused, the host untouched
    // (`links_in_root.rs` has links that resolve inside the root).
    let mut out = vec![
        one("dotdot", vec![file("../../escape")], "../../escape"),
        one("absolute", vec![file(&secret)], &secret),
        one(
            "through-symlink",
            vec![symlink("evil", &host_s), file("evil/planted")],
            "evil/planted",
        ),
        one(
            "relative-symlink",
            vec![
                entry("a/b", Kind::Dir, 0o755, b""),
                symlink("a/b/up", "../../../host"),
                file("a/b/up/planted"),
            ],
            "a/b/up/planted",
        ),
        one(
            "hardlink-outside",
            vec![hardlink("stolen", &secret)],
            "stolen",
        ),
        one(
            "hardlink-dotdot",
            vec![hardlink("stolen", "../host/secret")],
            "stolen",
        ),
    ];
    // A symlink installed by one package, then a file through it by the next.
    let first = dir.join("first.apk");
    crafted(&hello, &first, &[symlink("etc/evil", &host_s)]);
    let second = dir.join("second.apk");
    crafted(&doc, &second, &[file("etc/evil/planted")]);
    out.push(Scenario {
        name: "across-packages",
        packages: vec![first, second],
        package: "package hello-doc-1.2.3-r1",
        entry: "etc/evil/planted".into(),
    });
    out
}

const CHILD_PACKAGES: &str = "MELWRAP_TEST_ASSEMBLE_PACKAGES";
const CHILD_ROOT: &str = "MELWRAP_TEST_ASSEMBLE_ROOT";

/// Runs [`child_assemble`] as `uid` from `bin` (this test binary, placed where `uid` can run
/// it): `packages` assembled in order into `root`.
pub fn assemble_as(
    uid: u32,
    bin: &Path,
    packages: &[impl AsRef<Path>],
    root: &Path,
) -> std::process::Output {
    let list: Vec<String> = packages
        .iter()
        .map(|p| p.as_ref().display().to_string())
        .collect();
    crate::support::unpriv::as_user(uid, bin)
        .args([
            "--ignored",
            "--exact",
            &crate::support::test_name(module_path!(), "child_assemble"),
            "--nocapture",
        ])
        .env(CHILD_PACKAGES, list.join(":"))
        .env(CHILD_ROOT, root)
        .output()
        .unwrap()
}

/// Not a test on its own: assembles the packages the parent names, as the user it runs as.
#[test]
#[ignore = "a child process of crafted_packages_cannot_write_outside_the_root"]
fn child_assemble() {
    let (Ok(pkgs), Ok(root)) = (std::env::var(CHILD_PACKAGES), std::env::var(CHILD_ROOT)) else {
        return;
    };
    let pkgs: Vec<VerifiedPackage> = pkgs
        .split(':')
        .map(|p| VerifiedPackage::trusting(Path::new(p), "crafted").unwrap())
        .collect();
    match assemble(Path::new(&root), &pkgs, &RootConfig::default()) {
        Ok(_) => println!("ASSEMBLED"),
        Err(e) => println!("REFUSED: {e:?}"),
    }
}

#[test]
fn crafted_packages_cannot_write_outside_the_root() {
    let f = fixture();
    // Readable and writable by the unprivileged user too.
    let t = crate::support::open_tempdir("melwrap-crafted-");
    let host = host_dir(t.path());
    let cases = scenarios(f, t.path(), &host);
    for p in cases.iter().flat_map(|c| &c.packages) {
        fs_err::set_permissions(p, PermissionsExt::from_mode(0o644)).unwrap();
    }
    let bin = place_test_binary(t.path());
    for uid in test_users() {
        for c in &cases {
            let root = t.path().join(format!("root-{}-{uid}", c.name));
            let out = assemble_as(uid, &bin, &c.packages, &root);
            let text = String::from_utf8_lossy(&out.stdout);
            let why = format!(
                "{} as uid {uid}: {text}{}",
                c.name,
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success() && text.contains("REFUSED:"), "{why}");
            assert!(text.contains(c.package), "{why}");
            assert!(text.contains(&c.entry), "{why}");
            assert_untouched(&host);
            assert!(!t.path().parent().unwrap().join("escape").exists(), "{why}");
        }
    }
}
