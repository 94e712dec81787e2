//! Resolution compared with apk-tools 2.14's own answers (testdata/repo/answers, made by
//! scripts/gen-resolve-answers.sh from testdata/repo/cases.txt), through the library and the
//! binary; and the index signature checks on real and melwrap-signed indexes.

use std::path::{Path, PathBuf};
use std::process::Command;

use melwrap::apk::Signer;
use melwrap::apk::index::{Index, IndexEntry};
use melwrap::repo::{self, IndexSource, Keyring, LocalSource, Repository, Universe};
use sha1::Digest as _;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/repo")
}

struct Case {
    name: String,
    arch: String,
    keys: Option<String>,
    repos: Vec<Repository>,
    packages: Vec<String>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(data().join("cases.txt")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert_eq!(f.len(), 5, "bad case line {l:?}");
            let repos = f[3]
                .split_whitespace()
                .map(
                    |r| match r.strip_prefix('@').and_then(|r| r.split_once('=')) {
                        Some((tag, dir)) => Repository {
                            location: data().join(dir).display().to_string(),
                            tag: Some(tag.into()),
                            own_unsigned: false,
                        },
                        None => Repository {
                            location: data().join(r).display().to_string(),
                            tag: None,
                            own_unsigned: false,
                        },
                    },
                )
                .collect();
            Case {
                name: f[0].into(),
                arch: f[1].into(),
                keys: (f[2] != "-").then(|| f[2].to_string()),
                repos,
                packages: f[4].split_whitespace().map(String::from).collect(),
            }
        })
        .collect()
}

fn keyring_of(dir: Option<&str>) -> Keyring {
    let mut k = Keyring::default();
    if let Some(d) = dir {
        for e in std::fs::read_dir(data().join(d)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                k.add_file(&p).unwrap();
            }
        }
    }
    k
}

fn answer(name: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(data().join("answers").join(format!("{name}.txt")))
        .unwrap_or_else(|e| panic!("answer for {name}: {e}"));
    if text.starts_with("ERROR") {
        return None;
    }
    Some(text.lines().map(String::from).collect())
}

#[test]
fn every_apk_tools_answer_matches() {
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 40, "{} cases", all.len());
    // Each repository set is parsed once and shared by its cases.
    let mut universes: Vec<(String, Universe)> = Vec::new();
    for c in &all {
        let key = format!("{}|{:?}|{:?}", c.arch, c.keys, c.repos);
        if !universes.iter().any(|(k, _)| *k == key) {
            let keyring = keyring_of(c.keys.as_deref());
            let loaded = repo::load_repositories(
                &LocalSource,
                &c.repos,
                &c.arch,
                &keyring,
                c.keys.is_none(),
                &mut |_| {},
            )
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
            universes.push((key.clone(), Universe::new(loaded)));
        }
        let u = &universes.iter().find(|(k, _)| *k == key).unwrap().1;
        let got = u.resolve(&c.packages).map(|s| {
            s.iter()
                .map(|p| format!("{}-{}", p.name, p.version))
                .collect::<Vec<_>>()
        });
        match (answer(&c.name), got) {
            (Some(want), Ok(got)) if want == got => {}
            (None, Err(_)) => {}
            (want, got) => failures.push(format!("{}: apk {want:?}\n   melwrap {got:?}", c.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn melwrap(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_melwrap"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_binary_gives_the_same_answers() {
    let d = data();
    let main = d.join("hand/main").display().to_string();
    let edge = format!("@edge {}", d.join("hand/edge").display());
    let key = d
        .join("hand/keys/melwrap-test.rsa.pub")
        .display()
        .to_string();
    for (case, pkgs) in [
        ("hand-tag-pinned", vec!["a@edge"]),
        ("hand-install-if", vec!["base", "docs"]),
    ] {
        let mut args = vec![
            "resolve", "--arch", "x86_64", "-r", &main, "-r", &edge, "-k", &key,
        ];
        for p in &pkgs {
            args.extend(["--package-append", p]);
        }
        let out = melwrap(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = answer(case).unwrap().join("\n") + "\n";
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{case}");
    }
    let alpine = d.join("alpine-3.16").display().to_string();
    let out = melwrap(&[
        "resolve",
        "--arch",
        "x86_64",
        "-r",
        &alpine,
        "--ignore-signatures",
        "--format",
        "json",
        "--package-append",
        "busybox",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}-{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names, answer("alpine-busybox").unwrap());
    let first = &v[0];
    assert_eq!(first["arch"], "x86_64");
    assert!(first["checksum"].as_str().unwrap().starts_with("Q1"));
    assert!(first["size"].as_u64().unwrap() > 0);
    assert_eq!(first["repository"], alpine.as_str());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning:"));
}

#[test]
fn unsatisfiable_requests_exit_2_with_a_chain() {
    let d = data();
    let main = d.join("hand/main").display().to_string();
    let key = d
        .join("hand/keys/melwrap-test.rsa.pub")
        .display()
        .to_string();
    for (pkgs, needle) in [
        (
            vec!["broken"],
            "broken → so:libmissing.so.9: no package provides it in the 1 repository",
        ),
        (vec!["nope"], "nope: no such package in the 1 repository"),
        (
            vec!["a>9"],
            "a>9: no version matches; available: 1.0-r0, 2.0-r0",
        ),
        (
            vec!["needs-old-a", "a>=2"],
            "a=1.0-r0: a-2.0-r0 was selected instead",
        ),
    ] {
        let mut args = vec!["resolve", "--arch", "x86_64", "-r", &main, "-k", &key];
        for p in &pkgs {
            args.extend(["--package-append", p]);
        }
        let out = melwrap(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{pkgs:?}: {err}");
        assert!(err.contains(needle), "{pkgs:?}: {err}");
    }
}

// Signatures.

struct Dir(PathBuf);
impl IndexSource for Dir {
    fn index_bytes(&self, _: &Repository, arch: &str) -> Result<Vec<u8>, String> {
        std::fs::read(self.0.join(arch).join("APKINDEX.tar.gz")).map_err(|e| e.to_string())
    }
}

fn load(dir: &Path, arch: &str, keyring: &Keyring, ignore: bool) -> Result<usize, String> {
    let repo = Repository::parse(&dir.display().to_string()).unwrap();
    let mut warned = Vec::new();
    let r = repo::load_repositories(&Dir(dir.into()), &[repo], arch, keyring, ignore, &mut |w| {
        warned.push(w)
    })?;
    assert_eq!(r[0].verified_by.is_none(), !warned.is_empty());
    Ok(r[0].entries.len())
}

#[test]
fn real_sha256_signatures_verify() {
    let d = data();
    assert!(
        load(
            &d.join("wolfi"),
            "aarch64",
            &keyring_of(Some("wolfi/keys")),
            false
        )
        .is_ok()
    );
    let mut k = Keyring::default();
    k.add_file(&d.join("rsa256/test-rsa256.rsa.pub")).unwrap();
    assert!(load(&d.join("rsa256"), "aarch64", &k, false).is_ok());
}

#[test]
fn unknown_key_names_the_repository_and_the_key() {
    let d = data();
    let mut k = Keyring::default();
    k.add_file(&d.join("alpine-3.16/alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub"))
        .unwrap();
    let err = load(&d.join("alpine-3.16"), "x86_64", &k, false).unwrap_err();
    assert!(err.contains("alpine-3.16"), "{err}");
    assert!(
        err.contains("alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"),
        "{err}"
    );
    // --ignore-signatures accepts it (with a warning, checked in `load`).
    assert!(load(&d.join("alpine-3.16"), "x86_64", &k, true).unwrap() > 4000);
}

fn write_index(dir: &Path, signed: Option<(&Signer, bool)>) -> Vec<u8> {
    let idx = Index {
        entries: vec![entry("a", "1.0-r0")],
        description: String::new(),
    };
    let unsigned = idx.to_unsigned_bytes().unwrap();
    let mut bytes = Vec::new();
    if let Some((s, sha1)) = signed {
        if sha1 {
            bytes.extend(sha1_member(s, &unsigned));
        } else {
            bytes.extend(s.signature_member(&unsigned, 0).unwrap());
        }
    }
    bytes.extend(&unsigned);
    std::fs::create_dir_all(dir.join("x86_64")).unwrap();
    std::fs::write(dir.join("x86_64/APKINDEX.tar.gz"), &bytes).unwrap();
    bytes
}

/// A `.SIGN.RSA.` (SHA-1) member, as older apk-tools and abuild write.
fn sha1_member(s: &Signer, data: &[u8]) -> Vec<u8> {
    let pem = std::fs::read_to_string(s.path()).unwrap();
    use rsa::pkcs1::DecodeRsaPrivateKey;
    let key = rsa::PrivateKey::from_pkcs1_pem(&pem).unwrap();
    let digest = sha1::Sha1::digest(data);
    let scheme = rsa::Pkcs1v15Sign {
        hash_len: Some(20),
        prefix: vec![
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ]
        .into(),
    };
    let sig = key.sign(scheme, &digest).unwrap();
    let name = format!(
        ".SIGN.RSA.{}.pub",
        s.path().file_name().unwrap().to_string_lossy()
    );
    let mut t = Vec::new();
    let h = melwrap::apk::tar::Header::root_file(&name, 0o644, sig.len() as u64, 0);
    melwrap::apk::tar::append_bytes(&mut t, &h, &sig);
    melwrap::apk::sign::gzip_member(&t).unwrap()
}

fn test_signer() -> Signer {
    Signer::from_pem_file(&data().join("hand/melwrap-test.rsa")).unwrap()
}

fn hand_keyring() -> Keyring {
    keyring_of(Some("hand/keys"))
}

#[test]
fn sha1_and_sha256_signatures_by_melwrap_keys_verify() {
    let t = tempfile::tempdir().unwrap();
    let s = test_signer();
    for sha1 in [false, true] {
        let dir = t.path().join(format!("r{sha1}"));
        write_index(&dir, Some((&s, sha1)));
        assert_eq!(
            load(&dir, "x86_64", &hand_keyring(), false),
            Ok(1),
            "sha1={sha1}"
        );
    }
}

#[test]
fn tampered_and_unsigned_indexes_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let s = test_signer();
    for sha1 in [false, true] {
        let dir = t.path().join(format!("r{sha1}"));
        let mut bytes = write_index(&dir, Some((&s, sha1)));
        // Replace the signed part with another index (a different package list).
        let other = Index {
            entries: vec![entry("evil", "9.9-r0")],
            description: String::new(),
        }
        .to_unsigned_bytes()
        .unwrap();
        let unsigned_len = Index {
            entries: vec![entry("a", "1.0-r0")],
            description: String::new(),
        }
        .to_unsigned_bytes()
        .unwrap()
        .len();
        bytes.truncate(bytes.len() - unsigned_len);
        bytes.extend(other);
        std::fs::write(dir.join("x86_64/APKINDEX.tar.gz"), &bytes).unwrap();
        let err = load(&dir, "x86_64", &hand_keyring(), false).unwrap_err();
        assert!(err.contains("does not match"), "{err}");
        assert!(err.contains("melwrap-test.rsa.pub"), "{err}");
        assert!(err.contains(&dir.display().to_string()), "{err}");
    }
    let dir = t.path().join("unsigned");
    write_index(&dir, None);
    let err = load(&dir, "x86_64", &hand_keyring(), false).unwrap_err();
    assert!(err.contains("not signed"), "{err}");
    assert_eq!(load(&dir, "x86_64", &hand_keyring(), true), Ok(1));
    // A truncated download is an error naming the repository.
    let dir = t.path().join("truncated");
    let bytes = write_index(&dir, Some((&s, false)));
    std::fs::write(
        dir.join("x86_64/APKINDEX.tar.gz"),
        &bytes[..bytes.len() - 40],
    )
    .unwrap();
    let err = load(&dir, "x86_64", &hand_keyring(), true).unwrap_err();
    assert!(err.contains("not a valid index"), "{err}");
}

fn entry(name: &str, version: &str) -> IndexEntry {
    let mut e = IndexEntry {
        name: name.into(),
        version: version.into(),
        installed_size: 4096,
        size: 1024,
        arch: "x86_64".into(),
        ..IndexEntry::default()
    };
    e.checksum = sha1::Sha1::digest(format!("{name}-{version}")).to_vec();
    e
}

/// Regenerate testdata/repo/hand/*/x86_64/APKINDEX.tar.gz from hand/*.txt, signed with the
/// test key (run by scripts/gen-resolve-answers.sh).
#[test]
#[ignore]
fn make_hand_indexes() {
    let hand = data().join("hand");
    let s = test_signer();
    for repo in ["main", "extra", "edge"] {
        let text = std::fs::read_to_string(hand.join(format!("{repo}.txt"))).unwrap();
        let mut entries = Index::parse_text(&text).unwrap();
        for e in &mut entries {
            // Distinct checksums per repository: the same name-version in two repositories is
            // two packages, as apk counts them.
            e.checksum = sha1::Sha1::digest(format!("{repo}/{}-{}", e.name, e.version)).to_vec();
            e.arch = "x86_64".into();
            e.size = 1024;
            e.description = format!("{} (hand-made test package)", e.name);
        }
        let idx = Index {
            entries,
            description: format!("melwrap hand-made test repository {repo}"),
        };
        let dir = hand.join(repo).join("x86_64");
        std::fs::create_dir_all(&dir).unwrap();
        idx.write(&dir.join("APKINDEX.tar.gz"), Some(&s)).unwrap();
    }
}

#[test]
fn the_config_names_repositories_keys_and_packages() {
    let d = data();
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("melange.yaml");
    std::fs::write(
        &cfg,
        format!(
            "package:\n  name: x\n  version: 1.0.0\n  epoch: 0\n\
             environment:\n  contents:\n    repositories:\n      - {}\n      - '@edge {}'\n\
             \x20   keyring:\n      - {}\n    packages:\n      - a@edge\n      - base\n\
             pipeline:\n  - runs: 'true'\n",
            d.join("hand/main").display(),
            d.join("hand/edge").display(),
            d.join("hand/keys/melwrap-test.rsa.pub").display(),
        ),
    )
    .unwrap();
    let cfg = cfg.display().to_string();
    let out = melwrap(&[
        "resolve",
        "--arch",
        "x86_64",
        &cfg,
        "--package-append",
        "docs",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // a@edge from the tagged repository; base-doc by install_if once docs is appended.
    let mut want = answer("hand-tag-pinned").unwrap();
    want.extend(answer("hand-install-if").unwrap());
    want.sort();
    assert_eq!(String::from_utf8_lossy(&out.stdout), want.join("\n") + "\n");
    // Without the key the index is refused, naming the repository and the key it needs.
    let bare = t.path().join("bare.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let cut = text.replace(
        &format!(
            "    keyring:\n      - {}\n",
            d.join("hand/keys/melwrap-test.rsa.pub").display()
        ),
        "",
    );
    std::fs::write(&bare, cut).unwrap();
    let out = melwrap(&["resolve", "--arch", "x86_64", bare.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("hand/main") && err.contains("melwrap-test.rsa.pub"),
        "{err}"
    );
    assert!(err.contains("--keyring-append"), "{err}");
}

#[test]
fn an_openssl_made_sha1_signature_verifies_and_a_changed_byte_does_not() {
    let d = data();
    let bytes = std::fs::read(d.join("sha1-signed/x86_64/APKINDEX.tar.gz")).unwrap();
    let sig = melwrap::repo::apkindex::split_signature(&bytes).unwrap();
    assert_eq!(sig.signatures.len(), 1);
    assert_eq!(
        sig.signatures[0].algorithm,
        melwrap::repo::verify::SigAlgorithm::Sha1
    );
    let k = hand_keyring();
    assert_eq!(
        k.verify(&sig.signatures, &bytes[sig.signed_from..]),
        Ok("melwrap-test.rsa.pub".to_string())
    );
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        k.verify(&sig.signatures, &bad[sig.signed_from..]),
        Err(repo::VerifyError::BadSignature(_))
    ));
}
