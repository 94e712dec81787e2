//! `--dry-run`: runs no step, and prints a script of shell-quoted bwrap commands that do run
//! the steps when given to `sh`.

use std::process::Command;

use crate::build::common::*;

const CONFIG: &str = r#"environment:
  environment:
    WEIRD: "a  b 'c' \"d\" $e `f` \\g"
pipeline:
  - name: main
    runs: |
      printf '%s\n' "$WEIRD" > /var/cache/melange/weird
      echo "it's a \"quoted\" line" > /var/cache/melange/ran-main
      echo made > in-workspace
subpackages:
  - name: test-pkg-sub
    pipeline:
      - runs: echo sub > "${{targets.subpkgdir}}/file" && touch /var/cache/melange/ran-sub
"#;

/// The workspace path from `... use the workspace PATH, kept ...`.
fn kept_workspace(stderr: &str) -> std::path::PathBuf {
    let line = stderr
        .lines()
        .find(|l| l.contains("use the workspace "))
        .unwrap_or_else(|| panic!("no workspace named in: {stderr}"));
    let rest = line.split("use the workspace ").nth(1).unwrap();
    rest.split(", kept").next().unwrap().into()
}

#[test]
fn dry_run_runs_nothing_and_prints_commands_that_work() {
    require_bwrap!();
    for who in users() {
        let t = TestEnv::new();
        t.config(CONFIG);
        let run = t.build(who, &["--no-network", "--dry-run"]);
        run.ok();
        assert!(!run.stderr.contains("==>"), "no step started: {run}");
        assert!(!t.cache().join("ran-main").exists(), "{run}");
        let ws = kept_workspace(&run.stderr);
        assert!(ws.join("melange.yaml").is_file(), "{ws:?}");
        assert!(!ws.join("in-workspace").exists());

        // One printed command, run on its own, runs its step.
        let first = run
            .stdout
            .split("\n# ")
            .nth(1)
            .and_then(|block| block.split_once('\n'))
            .map(|(_header, rest)| rest.split("\nmkdir -p ").next().unwrap())
            .unwrap_or_else(|| panic!("no command in {}", run.stdout));
        assert!(first.starts_with('/') && first.contains("bwrap"), "{first}");
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(first);
        if who == Who::Nobody {
            sh = crate::support::unpriv::as_nobody("sh");
            sh.args(["-c", first]);
        }
        let out = sh.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(t.cached("ran-main"), "it's a \"quoted\" line\n");
        assert_eq!(t.cached("weird"), "a  b 'c' \"d\" $e `f` \\g\n");
        assert_eq!(
            fs_err::read_to_string(ws.join("in-workspace")).unwrap(),
            "made\n"
        );
        assert!(!t.cache().join("ran-sub").exists());

        // The whole output is a script that runs the build.
        let mut sh = Command::new("setpriv");
        if who == Who::Nobody {
            sh.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        } else {
            sh.arg("--");
        }
        let out = sh.args(["sh", "-c", &run.stdout]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(t.cache().join("ran-sub").exists());
        assert_eq!(
            fs_err::read_to_string(ws.join("melange-out/test-pkg-sub/file")).unwrap(),
            "sub\n"
        );
    }
}
