//! Eight `melwrap build` processes at once, each building a different package into one
//! `--out-dir`: every package file and every index entry must be there afterwards. Each build
//! merges its package into the existing `APKINDEX.tar.gz`; without serialization two builds
//! read the same old index and the later rename drops the other's entry. A first step waits
//! until every build has started, so their index updates come close together; three rounds
//! into the same out dir make a lost entry all but certain on unserialized code.

use std::path::Path;
use std::process::Stdio;

use super::support::*;

const BUILDS: usize = 8;
const ROUNDS: usize = 3;

fn config(name: &str, round: usize) -> String {
    format!(
        r#"package:
  name: {name}
  version: 1.0.{round}
  epoch: 0
  description: one of {BUILDS} packages built at once
pipeline:
  - name: wait for the other builds
    runs: |
      d=/var/cache/melange/started-{round}
      mkdir -p "$d"
      touch "$d/{name}"
      n=0
      while [ "$(ls "$d" | wc -l)" -lt {BUILDS} ]; do
        n=$((n + 1))
        if [ "$n" -gt 1200 ]; then echo "the other builds never started" >&2; exit 1; fi
        sleep 0.05
      done
      mkdir -p "${{{{targets.destdir}}}}/usr/share/{name}"
      echo {round} > "${{{{targets.destdir}}}}/usr/share/{name}/round"
"#
    )
}

fn arch() -> String {
    melwrap::compile::Arch::host().unwrap().apk.to_string()
}

fn run_round(uid: Option<u32>, root: &Path, round: usize) {
    let out = root.join("out");
    let cache = root.join("cache");
    let children: Vec<_> = (1..=BUILDS)
        .map(|id| {
            let name = format!("pkg-{id}");
            let project = root.join(format!("round-{round}/{name}"));
            std::fs::create_dir_all(&project).unwrap();
            let config_path = project.join("melange.yaml");
            std::fs::write(&config_path, config(&name, round)).unwrap();
            build(uid, &config_path, &cache, &out, &["--no-network"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn melwrap build")
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let (code, stdout, stderr) = outcome(child.wait_with_output().unwrap());
        assert_eq!(
            code,
            0,
            "round {round}: build {} failed\nstdout: {stdout}\nstderr: {stderr}",
            i + 1
        );
    }

    let arch_dir = out.join(arch());
    let index = melwrap::apk::Index::read(&arch_dir.join("APKINDEX.tar.gz")).unwrap();
    let mut listed: Vec<String> = index
        .entries
        .iter()
        .map(|e| format!("{}-{}", e.name, e.version))
        .collect();
    listed.sort();
    // Every round adds a version of each package; earlier rounds' entries stay.
    let mut want: Vec<String> = (1..=BUILDS)
        .flat_map(|id| (1..=round).map(move |r| format!("pkg-{id}-1.0.{r}-r0")))
        .collect();
    want.sort();
    assert_eq!(
        listed, want,
        "round {round}: the index lost or gained entries"
    );
    for id in 1..=BUILDS {
        let apk = arch_dir.join(format!("pkg-{id}-1.0.{round}-r0.apk"));
        assert!(apk.is_file(), "round {round}: {} is missing", apk.display());
    }
    let strays: Vec<_> = std::fs::read_dir(&arch_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(strays.is_empty(), "temporary files left: {strays:?}");
}

#[test]
fn parallel_builds_into_one_out_dir_keep_every_index_entry() {
    let tmp = open_tempdir();
    for round in 1..=ROUNDS {
        run_round(None, tmp.path(), round);
    }
}

#[test]
fn parallel_builds_into_one_out_dir_keep_every_index_entry_as_an_unprivileged_user() {
    let tmp = open_tempdir();
    for round in 1..=ROUNDS {
        run_round(Some(unprivileged_uid()), tmp.path(), round);
    }
}
