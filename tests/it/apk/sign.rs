//! Signing: `melwrap keygen` output, package and index signatures verified with
//! `openssl dgst -verify`, and compatibility with keys made by `openssl genrsa`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::support::*;
use melwrap::apk::{self, Signer};

fn keygen(dir: &Path, name: &str, extra: &[&str]) -> std::process::Output {
    melwrap()
        .current_dir(dir)
        .arg("keygen")
        .arg(name)
        .args(extra)
        .output()
        .unwrap()
}

/// Verify `sig` over `data` with the PEM public key, using openssl.
fn openssl_verify(dir: &Path, public: &Path, data: &[u8], sig: &[u8]) -> bool {
    let d = dir.join("signed.bin");
    let s = dir.join("sig.bin");
    fs_err::write(&d, data).unwrap();
    fs_err::write(&s, sig).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public)
        .arg("-signature")
        .arg(&s)
        .arg(&d)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && text.contains("Verified OK")
}

/// Sign a package with `key` and check its signature member with openssl against `public`.
fn check_signed_package(dir: &Path, key: &Path, public: &Path) {
    let dest = dir.join("dest");
    make_destdir(&dest);
    let signer = Signer::from_pem_file(key).unwrap();
    let pkg = apk::write_package(&dest, &meta(), &dir.join("out"), Some(&signer)).unwrap();
    let r = read_apk(&pkg.path, None);
    let members = r["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "signature, control, data");
    let sig_member = &members[0];
    assert_eq!(sig_member["end_of_archive"], false);
    let entries = sig_member["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    let key_name = key.file_name().unwrap().to_str().unwrap();
    assert_eq!(e["name"], format!(".SIGN.RSA256.{key_name}.pub"));
    assert_eq!(e["mode"], 0o644);
    assert_eq!(
        (&e["uname"], &e["mtime"]),
        (&"root".into(), &1_700_000_000.into())
    );
    let sig = hex::decode(e["hex"].as_str().unwrap()).unwrap();

    let bytes = fs_err::read(&pkg.path).unwrap();
    let c = &members[1];
    let (off, len) = (
        c["offset"].as_u64().unwrap() as usize,
        c["length"].as_u64().unwrap() as usize,
    );
    let control = &bytes[off..off + len];
    assert!(
        openssl_verify(dir, public, control, &sig),
        "openssl rejects the package signature"
    );
    // And the check is real: another message does not verify.
    assert!(!openssl_verify(
        dir,
        public,
        &bytes[off..off + len - 1],
        &sig
    ));

    // The signed package's index entry hashes the control member, not the signature.
    assert_eq!(hex::encode(pkg.control_sha1), c["sha1"].as_str().unwrap());
    let back = apk::read_package(&pkg.path).unwrap();
    assert_eq!(back.control_sha1, pkg.control_sha1);
    assert_eq!(back.file_size, bytes.len() as u64);
}

#[test]
fn keygen_writes_a_usable_pair_with_safe_modes() {
    let t = tempfile::tempdir().unwrap();
    let out = keygen(t.path(), "test.rsa", &["--key-size", "2048"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = t.path().join("test.rsa");
    let public = t.path().join("test.rsa.pub");
    let key_text = fs_err::read_to_string(&key).unwrap();
    assert!(key_text.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    assert!(
        fs_err::read_to_string(&public)
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );
    let mode = |p: &Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&key), mode(&public)), (0o600, 0o644));
    // openssl agrees that it is a 2048-bit RSA key and that the public key matches.
    let o = Command::new("openssl")
        .args(["rsa", "-noout", "-text", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("Private-Key: (2048 bit"));
    let derived = Command::new("openssl")
        .args(["rsa", "-pubout", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&derived.stdout),
        fs_err::read_to_string(&public).unwrap()
    );
    check_signed_package(t.path(), &key, &public);

    // A second run refuses to overwrite; `--force` replaces the pair.
    let again = keygen(t.path(), "test.rsa", &["--key-size", "2048"]);
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("test.rsa") && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(fs_err::read_to_string(&key).unwrap(), key_text);
    let forced = keygen(t.path(), "test.rsa", &["--key-size", "2048", "--force"]);
    assert!(forced.status.success());
    assert_ne!(fs_err::read_to_string(&key).unwrap(), key_text);
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn keygen_refuses_small_keys() {
    let t = tempfile::tempdir().unwrap();
    let out = keygen(t.path(), "small.rsa", &["--key-size", "1024"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 2048 bits"));
    assert_eq!(fs_err::read_dir(t.path()).unwrap().count(), 0);
}

#[test]
fn keys_made_by_openssl_sign_compatibly() {
    let t = tempfile::tempdir().unwrap();
    // PKCS#1 (what melange wants) and PKCS#8 (OpenSSL 3's default).
    for (name, extra) in [("pkcs1.rsa", &["-traditional"][..]), ("pkcs8.rsa", &[][..])] {
        let key = t.path().join(name);
        let st = Command::new("openssl")
            .arg("genrsa")
            .args(extra)
            .arg("-out")
            .arg(&key)
            .arg("2048")
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let public = t.path().join(format!("{name}.pub"));
        let st = Command::new("openssl")
            .args(["rsa", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&public)
            .output()
            .unwrap();
        assert!(st.status.success());
        let sub = t.path().join(name.replace('.', "-"));
        fs_err::create_dir(&sub).unwrap();
        check_signed_package(&sub, &key, &public);
    }
}

#[test]
fn signed_index_verifies_and_signing_is_deterministic() {
    let t = tempfile::tempdir().unwrap();
    assert!(
        keygen(t.path(), "idx.rsa", &["--key-size", "2048"])
            .status
            .success()
    );
    let key = t.path().join("idx.rsa");
    let signer = Signer::from_pem_file(&key).unwrap();
    let build = |sub: &str| {
        let root = t.path().join(sub);
        let dest = root.join("dest");
        make_destdir(&dest);
        let out = root.join("out");
        let pkg = apk::write_package(&dest, &meta(), &out, Some(&signer)).unwrap();
        apk::update_index(
            &out.join("x86_64"),
            std::slice::from_ref(&pkg),
            Some(&signer),
        )
        .unwrap();
        (
            fs_err::read(&pkg.path).unwrap(),
            fs_err::read(out.join("x86_64/APKINDEX.tar.gz")).unwrap(),
        )
    };
    let (apk1, idx1) = build("a");
    let (apk2, idx2) = build("b");
    assert!(
        apk1 == apk2 && idx1 == idx2,
        "signed outputs differ between runs"
    );

    // Split the index: a signature member, then the unsigned index it signs.
    let path = t.path().join("a/out/x86_64/APKINDEX.tar.gz");
    let r = read_apk(&path, None);
    let members = r["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    let sig_entry = &members[0]["entries"][0];
    assert_eq!(sig_entry["name"], ".SIGN.RSA256.idx.rsa.pub");
    assert_eq!(sig_entry["mtime"], 0);
    let sig = hex::decode(sig_entry["hex"].as_str().unwrap()).unwrap();
    let start = members[1]["offset"].as_u64().unwrap() as usize;
    assert!(openssl_verify(
        t.path(),
        &t.path().join("idx.rsa.pub"),
        &idx1[start..],
        &sig
    ));
    let names: Vec<&str> = members[1]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["APKINDEX", "DESCRIPTION"]);
    assert_eq!(members[1]["end_of_archive"], true);
}
