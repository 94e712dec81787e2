//! Assembling a root from verified packages: the tree (files, modes, set-id, symlinks, hard
//! links), apk's database read back by an independent reader (and by apk-tools when it is
//! built here), a non-empty target, and crafted packages that try to write outside.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use melwrap::apk::tar::{BLOCK, Header, Kind, append_bytes};
use melwrap::cli::Verbosity;
use melwrap::printer::Printer;
use melwrap::repo::cache::{ApkCache, Network, VerifiedPackage};
use melwrap::repo::fetch::{FetchOptions, Fetcher};
use melwrap::repo::install::{RootConfig, assemble};
use sha1::Digest;

use crate::fixture::{ARCH, fixture, hello_apk, wanted};

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

fn config(repo: &Path) -> RootConfig {
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
type Db = BTreeMap<String, (BTreeMap<char, String>, BTreeMap<String, (String, String)>)>;

fn read_db(text: &str) -> Db {
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
    // Every file of the tree below usr is in the database, and only those.
    let mut on_disk = Vec::new();
    let mut stack = vec![root.join("usr")];
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
    let out = std::process::Command::new(&apk)
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
        .args(["hello", "hello-doc"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
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

/// A copy of `apk` with its data section replaced by `entries`; read back unverified (the
/// data hash no longer matches: these tests are about extraction, past the cache).
fn crafted(apk: &Path, out: &Path, entries: &[(Header, &[u8])]) -> VerifiedPackage {
    let (layout, _) = melwrap::apk::read::layout(apk).unwrap();
    let raw = fs_err::read(apk).unwrap();
    let mut tar = Vec::new();
    for (h, data) in entries {
        append_bytes(&mut tar, h, data);
    }
    tar.extend_from_slice(&[0u8; 2 * BLOCK]);
    let mut bytes = raw[..layout.data.start as usize].to_vec();
    bytes.extend(melwrap::apk::sign::gzip_member(&tar).unwrap());
    fs_err::write(out, bytes).unwrap();
    VerifiedPackage::trusting(out, "crafted").unwrap()
}

fn entry(
    name: &str,
    kind: Kind,
    mode: u32,
    data: &'static [u8],
    link: &str,
) -> (Header, &'static [u8]) {
    let mut h = Header::root_file(name, mode, data.len() as u64, 0);
    h.kind = kind;
    assert!(link.is_empty(), "links go in the kind");
    (h, data)
}

#[test]
fn set_id_bits_are_kept_in_a_guest_root() {
    let f = fixture();
    let t = tempfile::tempdir().unwrap();
    let pkg = crafted(
        &hello_apk(&f.repo_a),
        &t.path().join("suid.apk"),
        &[
            entry("usr", Kind::Dir, 0o755, b"", ""),
            entry("usr/bin", Kind::Dir, 0o755, b"", ""),
            entry("usr/bin/su-ish", Kind::File, 0o4755, b"x\n", ""),
            entry("usr/bin/sg-ish", Kind::File, 0o2755, b"y\n", ""),
            entry("var/mail", Kind::Dir, 0o1777, b"", ""),
            {
                let (mut h, d) = entry("usr/bin/tagged", Kind::File, 0o644, b"t\n", "");
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

/// A tar header and the entry's contents.
type Entry = (Header, &'static [u8]);

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

fn scenarios(f: &crate::fixture::Fixture, dir: &Path, host: &Path) -> Vec<Scenario> {
    let host_s = host.display().to_string();
    let secret = format!("{host_s}/secret");
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let symlink = |name: &str, target: &str| {
        entry(
            name,
            Kind::Symlink(target.as_bytes().to_vec()),
            0o777,
            b"",
            "",
        )
    };
    let hardlink = |name: &str, target: &str| {
        entry(
            name,
            Kind::HardLink(target.as_bytes().to_vec()),
            0o644,
            b"",
            "",
        )
    };
    let file = |name: &str| entry(leak(name.to_string()), Kind::File, 0o644, b"x", "");
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
                entry("a/b", Kind::Dir, 0o755, b"", ""),
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
    use crate::unpriv;
    let f = fixture();
    // Readable and writable by the unprivileged user too.
    let t = tempfile::Builder::new()
        .prefix("melwrap-crafted-")
        .tempdir_in("/tmp")
        .unwrap();
    fs_err::set_permissions(t.path(), PermissionsExt::from_mode(0o777)).unwrap();
    let host = host_dir(t.path());
    let cases = scenarios(f, t.path(), &host);
    for p in cases.iter().flat_map(|c| &c.packages) {
        fs_err::set_permissions(p, PermissionsExt::from_mode(0o644)).unwrap();
    }
    // The test binary, where the unprivileged user can run it.
    let bin_dir = t.path().join("bin");
    fs_err::create_dir(&bin_dir).unwrap();
    fs_err::set_permissions(&bin_dir, PermissionsExt::from_mode(0o755)).unwrap();
    let bin = bin_dir.join("repo-tests");
    if fs_err::hard_link(std::env::current_exe().unwrap(), &bin).is_err() {
        fs_err::copy(std::env::current_exe().unwrap(), &bin).unwrap();
    }
    let mut users = vec![unpriv::current_uid()];
    if unpriv::can_switch_users() {
        users.push(unpriv::NOBODY);
    }
    for uid in users {
        for c in &cases {
            let root = t.path().join(format!("root-{}-{uid}", c.name));
            let list: Vec<String> = c.packages.iter().map(|p| p.display().to_string()).collect();
            let out = unpriv::as_user(uid, &bin)
                .args([
                    "--ignored",
                    "--exact",
                    "install::child_assemble",
                    "--nocapture",
                ])
                .env(CHILD_PACKAGES, list.join(":"))
                .env(CHILD_ROOT, &root)
                .output()
                .unwrap();
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

#[test]
fn what_was_verified_is_what_is_installed_even_if_the_cache_file_is_swapped() {
    let f = fixture();
    let server = crate::http::HttpServer::start(crate::fixture::served(&f.repo_a, ""));
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
    let mut files = crate::fixture::served(&f.repo_a, "os/");
    files.insert(
        "keys/test.rsa.pub".into(),
        fs_err::read(&f.public_key).unwrap(),
    );
    let server = crate::http::HttpServer::start(files);
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
