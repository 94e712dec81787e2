//! Bad input for the package writer: unreadable or malformed keys, an out-dir that is a file
//! or read-only, a destdir file that cannot be read. Each gives a clear error that names the
//! path, and nothing half-written is left behind.
//!
//! Root can read and write anything, so when the suite runs as root (as in CI) the permission
//! cases run as uid 65534 with `setpriv`: either the `melwrap` binary, or this test binary
//! re-running its own `child_write_package` helper test with the inputs in environment
//! variables. Run by an ordinary user, they run as that user directly; the modes used (0 for
//! an unreadable file, 0555 for a read-only dir) bind a non-root owner too.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::support::*;
use crate::support::unpriv;
use melwrap::apk::{self, Signer};

/// Every file under `dir` (recursively), for "nothing left behind" checks.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    crate::support::walk(dir)
        .into_iter()
        .filter(|p| p.symlink_metadata().is_ok_and(|m| !m.is_dir()))
        .collect()
}

/// A scratch dir that uid 65534 can use.
fn shared_tempdir() -> tempfile::TempDir {
    let t = tempfile::Builder::new()
        .prefix("melwrap-apk-")
        .tempdir_in("/tmp")
        .unwrap();
    fs_err::set_permissions(t.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    t
}

/// A copy of `exe` inside `dir`, so uid 65534 can run it even when the build tree is not
/// reachable for it (a checkout under a private home directory).
fn runnable_copy(exe: &Path, dir: &Path) -> PathBuf {
    let copy = dir.join(exe.file_name().unwrap());
    // A hard link where possible: a copy holds a writable descriptor for a moment, which a
    // fork in a concurrent test of this binary can inherit (exec then fails: Text file busy).
    if std::fs::hard_link(exe, &copy).is_err() {
        fs_err::copy(exe, &copy).unwrap();
    }
    fs_err::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// Run `child_write_package` in this test binary as the unprivileged user.
fn write_package_as_nobody(destdir: &Path, out: &Path) -> std::process::Output {
    let exe = runnable_copy(&std::env::current_exe().unwrap(), out.parent().unwrap());
    unpriv::as_nobody(exe)
        .arg("--exact")
        .arg(crate::support::test_name(
            module_path!(),
            "child_write_package",
        ))
        .args(["--ignored", "--nocapture"])
        .env("MELWRAP_CHILD_DESTDIR", destdir)
        .env("MELWRAP_CHILD_OUT", out)
        .env_remove("CI")
        .output()
        .unwrap()
}

/// Helper run by the tests above in a child process; does nothing when run directly.
#[test]
#[ignore = "run as a child process by the permission tests"]
fn child_write_package() {
    let (Some(d), Some(o)) = (
        std::env::var_os("MELWRAP_CHILD_DESTDIR"),
        std::env::var_os("MELWRAP_CHILD_OUT"),
    ) else {
        return;
    };
    match apk::write_package(Path::new(&d), &meta(), Path::new(&o), None) {
        Ok(p) => println!("CHILD-OK {}", p.path.display()),
        Err(e) => println!("CHILD-ERROR {e:#}"),
    }
}

fn child_result(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("CHILD-"),
        "child did not run: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn unreadable_destdir_file_is_named_and_nothing_is_written() {
    let t = shared_tempdir();
    let dest = t.path().join("dest");
    make_destdir(&dest);
    // Only the new file is unreadable (make_destdir makes a 0750 dir and a 0640 file).
    for (p, mode) in [("var/lib/hello", 0o755), ("etc/hello.conf", 0o644)] {
        fs_err::set_permissions(dest.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let secret = dest.join("etc/shadow-copy");
    fs_err::write(&secret, "root:x:0\n").unwrap();
    fs_err::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = t.path().join("out");
    fs_err::create_dir(&out).unwrap();
    fs_err::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();

    let res = child_result(&write_package_as_nobody(&dest, &out));
    assert!(res.contains("CHILD-ERROR"), "{res}");
    assert!(res.contains(&secret.display().to_string()), "{res}");
    assert!(
        res.contains("cannot read") && res.contains("Permission denied"),
        "{res}"
    );
    assert_eq!(files_under(&out), Vec::<PathBuf>::new());
}

#[test]
fn read_only_out_dir_is_named_and_untouched() {
    let t = shared_tempdir();
    let dest = t.path().join("dest");
    make_destdir(&dest);
    let out = t.path().join("out");
    fs_err::create_dir_all(out.join("x86_64")).unwrap();
    for d in [&out, &out.join("x86_64")] {
        fs_err::set_permissions(d, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let res = child_result(&write_package_as_nobody(&dest, &out));
    assert!(res.contains("CHILD-ERROR"), "{res}");
    assert!(
        res.contains(&out.join("x86_64").display().to_string()),
        "{res}"
    );
    assert!(res.contains("cannot write here"), "{res}");
    assert!(
        res.contains("hint: choose a writable output directory"),
        "{res}"
    );
    assert_eq!(files_under(&out), Vec::<PathBuf>::new());
    // So the tempdir can be removed.
    for d in [&out, &out.join("x86_64")] {
        fs_err::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn out_dir_that_is_a_file_is_named() {
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("dest");
    make_destdir(&dest);
    let out = t.path().join("packages");
    fs_err::write(&out, "I am a file").unwrap();
    let err = apk::write_package(&dest, &meta(), &out, None).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&out.display().to_string()) && msg.contains("is a file"),
        "{msg}"
    );
    assert_eq!(fs_err::read_to_string(&out).unwrap(), "I am a file");

    let st = melwrap()
        .arg("index")
        .arg("-o")
        .arg(out.join("APKINDEX.tar.gz"))
        .arg(&dest)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
}

#[test]
fn a_file_replaced_during_a_failed_write_keeps_its_old_contents() {
    // A good package exists; a second write fails (destdir gone): the old file stays intact.
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("dest");
    make_destdir(&dest);
    let out = t.path().join("out");
    let pkg = apk::write_package(&dest, &meta(), &out, None).unwrap();
    let before = fs_err::read(&pkg.path).unwrap();
    fs_err::remove_dir_all(&dest).unwrap();
    let err = apk::write_package(&dest, &meta(), &out, None).unwrap_err();
    assert!(
        format!("{err:#}").contains(&dest.display().to_string()),
        "{err:#}"
    );
    assert!(fs_err::read(&pkg.path).unwrap() == before);
    assert_eq!(files_under(&out), vec![pkg.path.clone()]);
}

#[test]
fn malformed_key_is_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let key = t.path().join("bad.rsa");
    fs_err::write(
        &key,
        "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = Signer::from_pem_file(&key).unwrap_err();
    assert!(
        format!("{err}").contains("not a usable RSA private key"),
        "{err}"
    );

    let dest = t.path().join("dest");
    make_destdir(&dest);
    let out = t.path().join("out");
    let pkg = apk::write_package(&dest, &meta(), &out, None).unwrap();
    let index = out.join("x86_64/APKINDEX.tar.gz");
    for bad in ["bad.rsa", "missing.rsa"] {
        let st = melwrap()
            .current_dir(t.path())
            .args(["index", "--signing-key", bad, "-o"])
            .arg(&index)
            .arg(&pkg.path)
            .output()
            .unwrap();
        assert_eq!(st.status.code(), Some(2), "{bad}");
        let msg = String::from_utf8_lossy(&st.stderr);
        assert!(msg.contains(bad) && msg.contains("hint:"), "{msg}");
        assert!(!index.exists());
    }
}

#[test]
fn unreadable_key_is_a_clear_error() {
    let t = shared_tempdir();
    let key = t.path().join("private.rsa");
    let st = melwrap()
        .arg("keygen")
        .arg(&key)
        .args(["--key-size", "2048"])
        .output()
        .unwrap();
    assert!(st.status.success());
    let dest = t.path().join("dest");
    make_destdir(&dest);
    let out = t.path().join("out");
    let pkg = apk::write_package(&dest, &meta(), &out, None).unwrap();
    fs_err::set_permissions(out.join("x86_64"), std::fs::Permissions::from_mode(0o777)).unwrap();
    // Mode 0: the unprivileged user cannot read it, even when it owns it.
    fs_err::set_permissions(&key, std::fs::Permissions::from_mode(0o000)).unwrap();
    let exe = runnable_copy(Path::new(env!("CARGO_BIN_EXE_melwrap")), t.path());
    let st = unpriv::as_nobody(exe)
        .arg("index")
        .arg("--signing-key")
        .arg(&key)
        .arg(&pkg.path)
        .current_dir(out.join("x86_64"))
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&st.stderr);
    assert!(msg.contains(&key.display().to_string()), "{msg}");
    assert!(
        msg.contains("cannot read signing key") && msg.contains("Permission denied"),
        "{msg}"
    );
    assert_eq!(files_under(&out.join("x86_64")), vec![pkg.path.clone()]);
}
