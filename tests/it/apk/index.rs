//! `APKINDEX.tar.gz`: `melwrap index` on existing packages, merging after builds, and the
//! index text checked with Python's gzip and tarfile.

use std::path::Path;
use std::process::Command;

use super::support::*;
use base64::Engine as _;
use melwrap::apk::{self, PackageFile};

/// The `APKINDEX` and `DESCRIPTION` texts, read by Python.
fn index_text(path: &Path) -> (String, String) {
    let script = "import sys, tarfile\n\
        t = tarfile.open(sys.argv[1], 'r:gz')\n\
        names = t.getnames()\n\
        assert names[-2:] == ['APKINDEX', 'DESCRIPTION'], names\n\
        sys.stdout.write(t.extractfile('APKINDEX').read().decode())\n\
        sys.stdout.write('\\x00' + t.extractfile('DESCRIPTION').read().decode())\n";
    let s = crate::support::stdout_of(Command::new("python3").arg("-c").arg(script).arg(path));
    let (a, d) = s.split_once('\0').unwrap();
    (a.to_string(), d.to_string())
}

fn write(root: &Path, name: &str, version: &str, out: &Path) -> PackageFile {
    let dest = root.join(format!("dest-{name}-{version}"));
    fs_err::create_dir_all(dest.join("usr/share")).unwrap();
    fs_err::write(
        dest.join("usr/share").join(name),
        format!("{name} {version}\n"),
    )
    .unwrap();
    let mut m = meta();
    m.name = name.into();
    m.version = version.into();
    apk::write_package(&dest, &m, out, None).unwrap()
}

#[test]
fn index_command_describes_each_package() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("packages");
    let dest = t.path().join("dest");
    make_destdir(&dest);
    let pkg = apk::write_package(&dest, &meta(), &out, None).unwrap();
    let doc = write(t.path(), "hello-doc", "2.12.1", &out);

    let arch_dir = out.join("x86_64");
    let st = melwrap().arg("index").arg(&arch_dir).output().unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let (text, description) = index_text(&arch_dir.join("APKINDEX.tar.gz"));
    assert_eq!(description, "");

    // The checksum is the SHA-1 of the control member, found by the independent reader.
    let r = read_apk(&pkg.path, None);
    let control_sha1 = hex::decode(r["members"][0]["sha1"].as_str().unwrap()).unwrap();
    let q1 = base64::engine::general_purpose::STANDARD.encode(control_sha1);
    let size = fs_err::metadata(&pkg.path).unwrap().len();
    let installed = pkg.info.get("size");
    let want = format!(
        "C:Q1{q1}\nP:hello\nV:2.12.1-r3\nA:x86_64\nS:{size}\nI:{installed}\n\
         T:the GNU hello world program\nU:https://www.gnu.org/software/hello/\n\
         L:GPL-3.0-or-later\no:hello\nm:wolfi\nt:1700000000\nc:0123456789abcdef\n\
         D:so:libc.so.6 busybox\np:cmd:hello=2.12.1-r3\nk:5\n\n"
    );
    let blocks: Vec<&str> = text.split_inclusive("\n\n").collect();
    assert_eq!(blocks.len(), 2, "{text}");
    assert_eq!(blocks[0], want);
    assert!(blocks[1].contains("P:hello-doc\n"), "{text}");
    assert_eq!(doc.name(), "hello-doc");
}

#[test]
fn update_index_merges_and_replaces_in_place() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("packages");
    let arch_dir = out.join("x86_64");
    let a1 = write(t.path(), "a", "1.0", &out);
    let b1 = write(t.path(), "b", "1.0", &out);
    apk::update_index(&arch_dir, &[a1, b1], None).unwrap();

    // Another build adds a new version of `a` and rebuilds `b` 1.0 with new contents.
    let a2 = write(t.path(), "a", "2.0", &out);
    let b1_dest = t.path().join("dest-b-1.0/usr/share/b");
    fs_err::write(&b1_dest, "rebuilt\n").unwrap();
    let mut m = meta();
    m.name = "b".into();
    m.version = "1.0".into();
    let b1_new = apk::write_package(&t.path().join("dest-b-1.0"), &m, &out, None).unwrap();
    apk::update_index(&arch_dir, &[a2, b1_new.clone()], None).unwrap();

    let idx = apk::Index::read(&arch_dir.join("APKINDEX.tar.gz")).unwrap();
    let ids: Vec<String> = idx
        .entries
        .iter()
        .map(|e| format!("{}-{}", e.name, e.version))
        .collect();
    assert_eq!(ids, ["a-1.0-r3", "b-1.0-r3", "a-2.0-r3"]);
    assert_eq!(idx.entries[1].checksum, b1_new.control_sha1.to_vec());
}

#[test]
fn index_command_merge_flag_and_arch_filter() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("packages");
    let a = write(t.path(), "a", "1.0", &out);
    let index = t.path().join("idx/APKINDEX.tar.gz");
    let run = |args: &[&str], files: &[&Path]| {
        melwrap()
            .arg("index")
            .arg("-o")
            .arg(&index)
            .args(args)
            .args(files)
            .output()
            .unwrap()
    };
    assert!(run(&[], &[&a.path]).status.success());
    let b = write(t.path(), "b", "1.0", &out);
    assert!(run(&["--merge"], &[&b.path]).status.success());
    let (text, _) = index_text(&index);
    assert!(text.contains("P:a\n") && text.contains("P:b\n"), "{text}");
    // Without --merge the index holds only what was given.
    assert!(run(&[], &[&b.path]).status.success());
    let (text, _) = index_text(&index);
    assert!(!text.contains("P:a\n") && text.contains("P:b\n"), "{text}");

    let out = run(&["--arch", "aarch64"], &[&a.path]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipping"));
    let (text, _) = index_text(&index);
    assert_eq!(text, "");
}

#[test]
fn index_command_rejects_bad_inputs() {
    let t = tempfile::tempdir().unwrap();
    let empty = t.path().join("empty");
    fs_err::create_dir(&empty).unwrap();
    let st = melwrap().arg("index").arg(&empty).output().unwrap();
    assert_eq!(st.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&st.stderr).contains("no `.apk` files"));

    let fake = t.path().join("fake.apk");
    fs_err::write(&fake, "not gzip").unwrap();
    let st = melwrap()
        .current_dir(t.path())
        .args(["index", "fake.apk"])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains("fake.apk") && err.contains("not a valid apk"),
        "{err}"
    );
    assert!(!t.path().join("APKINDEX.tar.gz").exists());
}
