//! Real repositories for the tests: packages built by `melwrap build` from tiny configs and
//! indexed and signed by it (with a `melwrap keygen` key), once per test process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use melwrap::apk::Index;
use melwrap::repo::cache::Wanted;

pub const ARCH: &str = "x86_64";

/// Two repositories whose `hello-1.2.3-r1.apk` differ (same name, same version).
pub struct Fixture {
    /// Keeps the directory alive for the process.
    _dir: tempfile::TempDir,
    /// `<a>/x86_64/{hello,hello-doc}-1.2.3-r1.apk` and a signed `APKINDEX.tar.gz`.
    pub repo_a: PathBuf,
    pub repo_b: PathBuf,
    /// The public key both indexes are signed with.
    pub public_key: PathBuf,
}

fn melwrap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_melwrap"))
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn config(greeting: &str) -> String {
    format!(
        r#"package:
  name: hello
  version: 1.2.3
  epoch: 1
  description: a greeting
  copyright:
    - license: MIT
pipeline:
  - runs: |
      mkdir -p ${{{{targets.destdir}}}}/usr/bin ${{{{targets.destdir}}}}/usr/share/hello/private
      printf '#!/bin/sh\necho {greeting}\n' > ${{{{targets.destdir}}}}/usr/bin/hello
      chmod 0755 ${{{{targets.destdir}}}}/usr/bin/hello
      ln -s hello ${{{{targets.destdir}}}}/usr/bin/hello-link
      ln ${{{{targets.destdir}}}}/usr/bin/hello ${{{{targets.destdir}}}}/usr/bin/hello-hard
      chmod 0700 ${{{{targets.destdir}}}}/usr/share/hello/private
      echo secret > ${{{{targets.destdir}}}}/usr/share/hello/private/note
      chmod 0600 ${{{{targets.destdir}}}}/usr/share/hello/private/note
subpackages:
  - name: hello-doc
    description: docs
    dependencies:
      runtime:
        - hello
    pipeline:
      - runs: |
          mkdir -p ${{{{targets.subpkgdir}}}}/usr/share/doc/hello
          echo docs > ${{{{targets.subpkgdir}}}}/usr/share/doc/hello/README
"#
    )
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("melwrap-repo-fixture-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        run(melwrap()
            .args(["keygen", "-q", "--key-size", "2048"])
            .arg(d.join("test.rsa")));
        for (name, greeting) in [("a", "hello from a"), ("b", "hello from b")] {
            let src = d.join(format!("src-{name}"));
            fs_err::create_dir_all(&src).unwrap();
            fs_err::write(src.join("melange.yaml"), config(greeting)).unwrap();
            run(melwrap()
                .args(["build", "-q", "--arch", ARCH, "--signing-key"])
                .arg(d.join("test.rsa"))
                .arg("--out-dir")
                .arg(d.join(name))
                .arg("--cache-dir")
                .arg(d.join("build-cache"))
                .arg("--workspace-dir")
                .arg(d.join(format!("ws-{name}")))
                .arg(src.join("melange.yaml"))
                .current_dir(&src));
        }
        Fixture {
            repo_a: d.join("a"),
            repo_b: d.join("b"),
            public_key: d.join("test.rsa.pub"),
            _dir: dir,
        }
    })
}

/// Every package of the index of `repo_dir` (local), as wanted from `repo` (its URL).
pub fn wanted(repo_dir: &Path, repo: &str) -> Vec<Wanted> {
    let idx = Index::read(&repo_dir.join(ARCH).join("APKINDEX.tar.gz")).unwrap();
    idx.entries
        .iter()
        .map(|e| Wanted::from_entry(repo, e).unwrap())
        .collect()
}

/// The files of `repo_dir` as an HTTP server serves them (`x86_64/…`), under `prefix`.
pub fn served(repo_dir: &Path, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in fs_err::read_dir(repo_dir.join(ARCH)).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        out.insert(
            format!("{prefix}{ARCH}/{name}"),
            fs_err::read(e.path()).unwrap(),
        );
    }
    out
}

/// `hello-1.2.3-r1.apk`'s path in a repository.
pub fn hello_apk(repo_dir: &Path) -> PathBuf {
    repo_dir.join(ARCH).join("hello-1.2.3-r1.apk")
}
