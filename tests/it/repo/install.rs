//! Assembling a root from verified packages: the tree (files, modes, set-id, symlinks, hard
//! links), apk's database read back by an independent reader (and by apk-tools when it is
//! built here), a non-empty target, files two packages carry.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use melwrap::cli::Verbosity;
use melwrap::printer::Printer;
use melwrap::repo::cache::{ApkCache, Network, VerifiedPackage};
use melwrap::repo::fetch::{FetchOptions, Fetcher};
use melwrap::repo::install::{RootConfig, assemble};
use sha1::Digest;

use crate::repo::fixture::{ARCH, fixture, hello_apk, wanted};

fn verified(repo_dir: &Path) -> Vec<VerifiedPackage> {
    let t = tempfile::tempdir().unwrap();
    let cache = ApkCache::open(t.path()).unwrap();
    let repo = repo_dir.to_string_lossy().into_owned();
    cache
        .packages(
            &Fetcher::new(FetchOptions::default()).unwrap(),
            Network::Offline,
            &Printer::new(Verbosity::Quiet),
            &wanted(repo_dir, &repo),
        )
        .unwrap()
}

pub fn config(repo: &Path) -> RootConfig {
    let f = fixture();
    RootConfig {
        repositories: vec![repo.display().to_string()],
        keys: vec![("test.rsa.pub".into(), fs_err::read(&f.public_key).unwrap())],
        world: vec!["hello-doc".into()],
        arch: ARCH.into(),
    }
}

/// `lib/apk/db/installed` read by a reader written from apk-tools' format description:
/// package name → (fields, path → (acl, Z)).
pub type Db = BTreeMap<String, (BTreeMap<char, String>, BTreeMap<String, (String, String)>)>;

pub fn read_db(text: &str) -> Db {
    let mut db = Db::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut fields = BTreeMap::new();
        let mut files = BTreeMap::new();
        let (mut dir, mut file) = (String::new(), None::<String>);
        for line in block.lines() {
            let (k, v) = line.split_once(':').expect("X:value");
            let k = k.chars().next().unwrap();
            match k {
                'F' => {
                    dir = v.to_string();
                    file = None;
                }
                'M' => {
                    files.insert(format!("{dir}/"), (v.to_string(), String::new()));
                }
                'R' => {
                    let p = if dir.is_empty() {
                        v.to_string()
                    } else {
                        format!("{dir}/{v}")
                    };
                    files.insert(p.clone(), ("0:0:644".to_string(), String::new()));
                    file = Some(p);
                }
                'a' => files.get_mut(file.as_ref().unwrap()).unwrap().0 = v.to_string(),
                'Z' => files.get_mut(file.as_ref().unwrap()).unwrap().1 = v.to_string(),
                _ => {
                    fields.insert(k, v.to_string());
                }
            }
        }
        db.insert(fields[&'P'].clone(), (fields, files));
    }
    db
}

fn q1(bytes: &[u8]) -> String {
    format!(
        "Q1{}",
        base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(bytes))
    )
}

#[test]
fn a_root_holds_the_files_modes_links_and_apk_database() {
    let f = fixture();
    let pkgs = verified(&f.repo_a);
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let installed = assemble(&root, &pkgs, &config(&f.repo_a)).unwrap();
    assert_eq!(
        installed
            .packages
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>(),
        pkgs.iter().map(|p| p.package.name()).collect::<Vec<_>>()
    );

    let meta = |rel: &str| fs_err::symlink_metadata(root.join(rel)).unwrap();
    assert_eq!(
        meta("usr/bin/hello").mtime(),
        0,
        "the package's time (SOURCE_DATE_EPOCH)"
    );
    assert_eq!(meta("usr/share/hello/private").mtime(), 0);
    let hello = fs_err::read_to_string(root.join("usr/bin/hello")).unwrap();
    assert!(hello.contains("hello from a"), "{hello}");
    assert_eq!(meta("usr/bin/hello").mode() & 0o7777, 0o755);
    assert_eq!(
        fs_err::read_link(root.join("usr/bin/hello-link")).unwrap(),
        PathBuf::from("hello")
    );
    assert_eq!(
        meta("usr/bin/hello-hard").ino(),
        meta("usr/bin/hello").ino()
    );
    assert_eq!(meta("usr/share/hello/private").mode() & 0o7777, 0o700);
    assert_eq!(meta("usr/share/hello/private/note").mode() & 0o7777, 0o600);
    assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
    assert_eq!(
        fs_err::read_to_string(root.join("usr/share/doc/hello/README")).unwrap(),
        "docs\n"
    );
    assert_eq!(
        fs_err::read_to_string(root.join("etc/apk/world")).unwrap(),
        "hello-doc\n"
    );
    assert_eq!(
        fs_err::read_to_string(root.join("etc/apk/repositories")).unwrap(),
        format!("{}\n", f.repo_a.display())
    );
    assert_eq!(
        fs_err::read_to_string(root.join("etc/apk/arch")).unwrap(),
        "x86_64\n"
    );
    assert_eq!(
        fs_err::read(root.join("etc/apk/keys/test.rsa.pub")).unwrap(),
        fs_err::read(&f.public_key).unwrap()
    );

    let db = read_db(&fs_err::read_to_string(root.join("lib/apk/db/installed")).unwrap());
    assert_eq!(db.keys().collect::<Vec<_>>(), ["hello", "hello-doc"]);
    let index = melwrap::apk::Index::read(&f.repo_a.join(ARCH).join("APKINDEX.tar.gz")).unwrap();
    for e in &index.entries {
        let (fields, _) = &db[&e.name];
        assert_eq!(fields[&'V'], e.version);
        assert_eq!(fields[&'S'], e.size.to_string());
        assert_eq!(
            fields[&'C'],
            format!(
                "Q1{}",
                base64::engine::general_purpose::STANDARD.encode(&e.checksum)
            )
        );
    }
    let (_, files) = &db["hello"];
    let body = fs_err::read(root.join("usr/bin/hello")).unwrap();
    assert_eq!(files["usr/bin/hello"], ("0:0:755".to_string(), q1(&body)));
    assert_eq!(
        files["usr/bin/hello-hard"],
        ("0:0:755".to_string(), q1(&body))
    );
    assert_eq!(
        files["usr/bin/hello-link"],
        ("0:0:777".to_string(), q1(b"hello"))
    );
    assert_eq!(files["usr/share/hello/private/"].0, "0:0:700");
    assert_eq!(files["usr/share/hello/private/note"].0, "0:0:600");
    // Every file of the tree below usr (and each package's SBOM) is in the database, and only
    // those.
    let mut on_disk = Vec::new();
    let mut stack = vec![root.join("usr"), root.join("var/lib/db/sbom")];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                on_disk.push(p.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = db
        .values()
        .flat_map(|(_, files)| files.keys().filter(|k| !k.ends_with('/')).cloned())
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

/// apk-tools itself reads the database, when it was built here (`MELWRAP_APK`, or the
/// reference build); skipped otherwise.
#[test]
fn apk_tools_reads_the_assembled_root() {
    let apk = std::env::var_os("MELWRAP_APK")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/ref/apk-tools/src/apk.static"));
    if !apk.is_file() {
        eprintln!("skipped: no apk-tools at {}", apk.display());
        return;
    }
    let f = fixture();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    assemble(&root, &verified(&f.repo_a), &config(&f.repo_a)).unwrap();
    let out = std::process::Command::new(&apk)
        .arg("--root")
        .arg(&root)
        .args(["info", "-v"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("hello-1.2.3-r1") && text.contains("hello-doc-1.2.3-r1"),
        "{text}"
    );
    let out = std::process::Command::new(&apk)
        .arg("--root")
        .arg(&root)
        .args(["info", "-L", "hello"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("usr/bin/hello-hard"), "{text}");
    // apk-tools installing the same packages writes the same database, byte for byte.
    let keys = t.path().join("keys");
    fs_err::create_dir(&keys).unwrap();
    fs_err::copy(&f.public_key, keys.join("test.rsa.pub")).unwrap();
    let theirs = t.path().join("theirs");
    crate::support::stdout_of(
        std::process::Command::new(&apk)
            .args(["add", "-q", "--root"])
            .arg(&theirs)
            .args([
                "--initdb",
                "--no-scripts",
                "--no-cache",
                "--arch",
                ARCH,
                "--keys-dir",
            ])
            .arg(&keys)
            .arg("-X")
            .arg(&f.repo_a)
            .args(["hello", "hello-doc"]),
    );
    assert_eq!(
        fs_err::read_to_string(root.join("lib/apk/db/installed")).unwrap(),
        fs_err::read_to_string(theirs.join("lib/apk/db/installed")).unwrap()
    );
    // `audit` compares every file with its Z: checksum: nothing to report.
    let out = std::process::Command::new(&apk)
        .arg("--root")
        .arg(&root)
        .args(["audit", "--system"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_non_empty_directory_is_refused() {
    let f = fixture();
    let t = tempfile::tempdir().unwrap();
    fs_err::write(t.path().join("keep"), "mine").unwrap();
    let err = assemble(t.path(), &verified(&f.repo_a), &config(&f.repo_a)).unwrap_err();
    let msg = format!("{err:?}");
    assert!(
        msg.contains("not empty") && msg.contains(&t.path().display().to_string()),
        "{msg}"
    );
    assert_eq!(
        fs_err::read_dir(t.path()).unwrap().count(),
        1,
        "nothing written"
    );
}

#[test]
fn what_was_verified_is_what_is_installed_even_if_the_cache_file_is_swapped() {
    let f = fixture();
    let server =
        crate::support::http::HttpServer::start(crate::repo::fixture::served(&f.repo_a, ""));
    let repo = server.url("");
    let t = tempfile::tempdir().unwrap();
    let cache = ApkCache::open(&t.path().join("cache")).unwrap();
    let pkgs = cache
        .packages(
            &Fetcher::new(FetchOptions::default()).unwrap(),
            Network::Online,
            &Printer::new(Verbosity::Quiet),
            &wanted(&f.repo_a, &repo),
        )
        .unwrap();
    let hello = pkgs.iter().find(|p| p.package.name() == "hello").unwrap();
    // Another package of the same name (repository b's) renamed over the verified one.
    let swap = t.path().join("cache/swap");
    fs_err::copy(hello_apk(&f.repo_b), &swap).unwrap();
    fs_err::rename(&swap, &hello.path).unwrap();
    let root = t.path().join("root");
    assemble(&root, &pkgs, &config(&f.repo_a)).unwrap();
    let text = fs_err::read_to_string(root.join("usr/bin/hello")).unwrap();
    assert!(text.contains("hello from a"), "{text}");
}

#[test]
fn build_rootfs_fetches_verifies_and_assembles_with_keys_from_urls() {
    use melwrap::repo::rootfs::{Sources, build_rootfs, key_files};
    let f = fixture();
    let mut files = crate::repo::fixture::served(&f.repo_a, "os/");
    files.insert(
        "keys/test.rsa.pub".into(),
        fs_err::read(&f.public_key).unwrap(),
    );
    let server = crate::support::http::HttpServer::start(files);
    let repo = server.url("os");
    let t = tempfile::tempdir().unwrap();
    let cache = ApkCache::open(&t.path().join("cache")).unwrap();
    let fetcher = Fetcher::new(FetchOptions::default()).unwrap();
    let sources = Sources {
        cache: &cache,
        fetcher: &fetcher,
        network: Network::Online,
        printer: Printer::new(Verbosity::Quiet),
    };
    let keys = key_files(&sources, &[server.url("keys/test.rsa.pub")]).unwrap();
    let config = RootConfig {
        repositories: vec![repo.clone()],
        keys,
        world: vec!["hello-doc".into()],
        arch: ARCH.into(),
    };
    let wanted = wanted(&f.repo_a, &repo);

    // A non-empty target is refused before anything is downloaded.
    let busy = t.path().join("busy");
    fs_err::create_dir(&busy).unwrap();
    fs_err::write(busy.join("x"), "").unwrap();
    let msg = format!(
        "{:?}",
        build_rootfs(&busy, &wanted, &config, &sources).unwrap_err()
    );
    assert!(msg.contains("not empty"), "{msg}");
    assert_eq!(server.hits(&format!("os/{ARCH}/hello-1.2.3-r1.apk")), 0);

    let root = t.path().join("root");
    let done = build_rootfs(&root, &wanted, &config, &sources).unwrap();
    assert_eq!(done.packages.len(), 2);
    assert_eq!(
        fs_err::read(root.join("etc/apk/keys/test.rsa.pub")).unwrap(),
        fs_err::read(&f.public_key).unwrap()
    );
    assert!(root.join("usr/bin/hello").is_file());

    // Offline, a key URL is named.
    let offline = Sources {
        network: Network::Offline,
        ..sources
    };
    let msg = format!(
        "{:?}",
        key_files(&offline, &[server.url("keys/test.rsa.pub")]).unwrap_err()
    );
    assert!(msg.contains("--no-network"), "{msg}");
}

/// A package written with melwrap's writer: `usr/bin/tool` holding `text`.
fn tool_package(
    dir: &Path,
    name: &str,
    origin: &str,
    replaces: &[&str],
    text: &str,
) -> VerifiedPackage {
    let dest = dir.join(format!("dest-{name}"));
    fs_err::create_dir_all(dest.join("usr/bin")).unwrap();
    fs_err::write(dest.join("usr/bin/tool"), text).unwrap();
    let meta = melwrap::apk::PackageMeta {
        name: name.into(),
        version: "1.0".into(),
        arch: ARCH.into(),
        origin: origin.into(),
        replaces: replaces.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    };
    let written = melwrap::apk::write_package(&dest, &meta, &dir.join("out"), None).unwrap();
    VerifiedPackage::trusting(&written.path, "local").unwrap()
}

#[test]
fn a_file_of_another_package_is_refused_unless_replaced() {
    let t = tempfile::tempdir().unwrap();
    let a = tool_package(t.path(), "a", "a", &[], "from a\n");
    let b = tool_package(t.path(), "b", "b", &[], "from b\n");
    let root = t.path().join("root");
    let msg = format!(
        "{:?}",
        assemble(&root, &[a.clone(), b], &RootConfig::default()).unwrap_err()
    );
    assert!(msg.contains("package b-1.0-r0"), "{msg}");
    assert!(msg.contains("usr/bin/tool"), "{msg}");
    assert!(msg.contains("package a-1.0-r0"), "{msg}");
    assert_eq!(
        fs_err::read_to_string(root.join("usr/bin/tool")).unwrap(),
        "from a\n",
        "the refused package wrote nothing"
    );

    // With `replaces`, the later package takes the file over, in the database too.
    let c = tool_package(t.path(), "c", "c", &["a<2"], "from c\n");
    let root = t.path().join("root2");
    assemble(&root, &[a, c], &RootConfig::default()).unwrap();
    assert_eq!(
        fs_err::read_to_string(root.join("usr/bin/tool")).unwrap(),
        "from c\n"
    );
    let db = read_db(&fs_err::read_to_string(root.join("lib/apk/db/installed")).unwrap());
    assert!(!db["a"].1.contains_key("usr/bin/tool"));
    assert!(db["c"].1.contains_key("usr/bin/tool"));
}
