//! Shared helpers for the apk tests: a destdir with every kind of entry, an independent
//! reader (Python's zlib/gzip/tarfile), tree comparison, and running the binary.
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use melwrap::apk::{PackageMeta, Scriptlets};
use serde_json::Value;

pub const READ_APK_PY: &str = include_str!("read_apk.py");

/// The melwrap binary.
pub fn melwrap() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_melwrap"));
    c.env_remove("CI").env("NO_COLOR", "1");
    c
}

/// A destdir shaped like a real package: nested dirs, an empty dir, a setuid binary, a
/// hard-linked pair, relative and absolute symlinks, a large compressible file and an
/// incompressible one.
pub fn make_destdir(root: &Path) {
    let w = |p: &str, data: &[u8], mode: u32| {
        let path = root.join(p);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, data).unwrap();
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    w("usr/bin/hello", b"#!/bin/sh\necho hello\n", 0o755);
    w("usr/bin/su-helper", b"\x7fELF not really\n", 0o4755);
    w("usr/share/doc/hello/README", b"Read me.\n", 0o644);
    w("etc/hello.conf", b"greeting = hi\n", 0o640);
    let text: Vec<u8> = (0..300_000u32)
        .flat_map(|i| format!("line {i} of a long log\n").into_bytes())
        .collect();
    w("usr/share/hello/big.txt", &text, 0o644);
    let mut x: u64 = 42;
    let noise: Vec<u8> = (0..(3 << 20))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    w("usr/lib/hello/blob.bin", &noise, 0o644);
    fs_err::hard_link(root.join("usr/bin/hello"), root.join("usr/bin/hello-again")).unwrap();
    std::os::unix::fs::symlink("hello", root.join("usr/bin/hi")).unwrap();
    std::os::unix::fs::symlink("/usr/share/doc", root.join("usr/doc")).unwrap();
    fs_err::create_dir_all(root.join("var/lib/hello/empty")).unwrap();
    fs_err::set_permissions(
        root.join("var/lib/hello"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    fs_err::create_dir_all(root.join("tmp")).unwrap();
    fs_err::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
}

pub fn meta() -> PackageMeta {
    PackageMeta {
        name: "hello".into(),
        version: "2.12.1".into(),
        epoch: 3,
        arch: "x86_64".into(),
        description: "the GNU hello world program".into(),
        url: "https://www.gnu.org/software/hello/".into(),
        commit: "0123456789abcdef".into(),
        origin: "hello".into(),
        licenses: vec!["GPL-3.0-or-later".into()],
        depends: vec!["so:libc.so.6".into(), "busybox".into()],
        provides: vec!["cmd:hello=2.12.1-r3".into()],
        replaces: vec!["hello-legacy".into()],
        provider_priority: "5".into(),
        triggers: vec!["/usr/share/hello".into()],
        scriptlets: Scriptlets {
            post_install: "#!/bin/sh\necho installed\n".into(),
            pre_deinstall: "#!/bin/sh\necho bye\n".into(),
            trigger: "#!/bin/sh\necho trigger\n".into(),
            ..Scriptlets::default()
        },
        builddate: 1_700_000_000,
        maintainer: "wolfi".into(),
        melange_yaml: Some(b"package:\n  name: hello\n".to_vec()),
        ..PackageMeta::default()
    }
}

/// Run the Python reader; extract the data section into `extract` when given.
pub fn read_apk(apk: &Path, extract: Option<&Path>) -> Value {
    // `python3 - ARGS` reads the program from stdin, with sys.argv[1:] = ARGS.
    let mut c = Command::new("python3");
    c.arg("-").arg(apk);
    if let Some(d) = extract {
        c.arg(d);
    }
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("python3 runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(READ_APK_PY.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python reader failed on {}: {}",
        apk.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("reader prints JSON")
}

/// `.PKGINFO` lines (comments dropped) as (key, value) pairs in order.
pub fn pkginfo_fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once(" = ")
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// What a tree looks like, path by path: kind, mode bits, content or link target, and which
/// paths share an inode.
pub fn describe_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = fs_err::read_dir(root.join(&rel))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let p = root.join(&r);
            let m = fs_err::symlink_metadata(&p).unwrap();
            let key = r.display().to_string();
            let desc = if m.file_type().is_symlink() {
                format!("link -> {}", fs_err::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(r.clone());
                format!("dir {:o}", m.mode() & 0o7777)
            } else {
                let data = fs_err::read(&p).unwrap();
                let first = inodes.entry(m.ino()).or_insert_with(|| key.clone()).clone();
                let shared = if m.nlink() > 1 {
                    format!(" inode-of {first}")
                } else {
                    String::new()
                };
                format!(
                    "file {:o} {} bytes sha1 {}{shared}",
                    m.mode() & 0o7777,
                    data.len(),
                    sha1_hex(&data)
                )
            };
            out.insert(key, desc);
        }
    }
    out
}

pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(data))
}
