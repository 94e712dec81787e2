//! `make package/hello` and `make test/hello` with Wolfi's flags. Two networked flags of the
//! test command line are left out (`--repository-append=https://packages.wolfi.dev/os` and its
//! key): the tests run without a network; the local repository stands in for both.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::repo::guest_root::{HostBusybox, host_busybox_config};
use crate::support::Run;

/// The package under build: it uses a pipeline from `./pipelines/`, reads a variable from each
/// env file, and has a test that uses the pipeline dir too.
const HELLO: &str = r#"package:
  name: hello
  version: 2.12.1
  epoch: 0
  description: says hello, Wolfi style
  copyright:
    - license: GPL-3.0-or-later
environment:
  contents:
    packages:
      - busybox
pipeline:
  - uses: wolfi/greet
    with:
      who: ${{package.name}}
  - runs: |
      mkdir -p "${{targets.destdir}}/usr/share/hello"
      echo "arch=$WOLFI_ARCH_ENV common=$WOLFI_COMMON_ENV goflags=[$GOFLAGS]" \
        > "${{targets.destdir}}/usr/share/hello/env"
      cp source.txt "${{targets.destdir}}/usr/share/hello/"
test:
  environment:
    contents:
      packages:
        - busybox
  pipeline:
    - uses: wolfi/greet
      with:
        who: tester
    - runs: |
        grep -q 'hello from the source dir' /usr/share/hello/source.txt
        cat /usr/share/hello/greeting
"#;

const GREET: &str = r#"name: greet
inputs:
  who:
    required: true
pipeline:
  - runs: |
      mkdir -p "${{targets.destdir}}/usr/share/hello"
      echo "hello, ${{inputs.who}}" | tee "${{targets.destdir}}/usr/share/hello/greeting"
"#;

/// Wolfi's checkout, reduced: the key, the repository with busybox, env files, pipelines,
/// the config and its source dir.
pub struct Checkout {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub arch: &'static str,
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

impl Checkout {
    /// `None` (with the reason printed) when there is no busybox to package or bwrap cannot run.
    pub fn new() -> Option<Checkout> {
        crate::support::require_bwrap()?;
        if !crate::repo::guest_root::host_has_busybox() {
            eprintln!("skipped: no busybox on this host to package");
            return None;
        }
        let arch = melwrap::compile::Arch::host()?.apk;
        let dir = tempfile::Builder::new()
            .prefix("melwrap-wolfi-")
            .tempdir()
            .unwrap();
        // The build uid (as root) must reach the guest and the workspace.
        crate::support::open_up(dir.path());
        let root = dir.path().to_path_buf();
        let c = Checkout {
            _dir: dir,
            root,
            arch,
        };
        c.file("pipelines/wolfi/greet.yaml", GREET);
        c.file("hello.yaml", HELLO);
        c.file("hello/source.txt", "hello from the source dir\n");
        c.file(
            &format!("build-{arch}.env"),
            &format!("# per-arch\nexport WOLFI_ARCH_ENV={arch}\n"),
        );
        c.file(
            "build-common.env",
            "## common environment for builds on all architectures\nexport GOFLAGS=\"\"\n\
             export GOTOOLCHAIN=local\nexport WOLFI_COMMON_ENV='common value'\n",
        );
        // `make local-melange.rsa`: melange keygen.
        c.ok(&["keygen", "-q", "local-melange.rsa"]);
        // The repository: busybox built into ./packages, signed, indexed.
        c.file(
            "busybox/melange.yaml",
            &host_busybox_config(&HostBusybox {
                name: "busybox",
                version: "1.0.0",
                baselayout: "wolfi-baselayout",
                all_applets: true,
                passwd: true,
            }),
        );
        c.ok(&[
            "build",
            "-q",
            "busybox/melange.yaml",
            "--arch",
            arch,
            "--signing-key",
            "local-melange.rsa",
            "--cache-dir",
            "busybox-cache",
        ]);
        Some(c)
    }

    fn file(&self, rel: &str, text: &str) {
        let p = self.root.join(rel);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, text).unwrap();
    }

    /// melwrap in the checkout, with HOME, TMPDIR and XDG_CACHE_HOME inside it.
    pub fn melwrap(&self, args: &[&str]) -> Run {
        fs_err::create_dir_all(self.root.join("home")).unwrap();
        fs_err::create_dir_all(self.root.join("tmp")).unwrap();
        Run::from(
            Command::new(env!("CARGO_BIN_EXE_melwrap"))
                .args(args)
                .current_dir(&self.root)
                .env_remove("MELWRAP_CA_BUNDLE")
                .env_remove("XDG_CACHE_HOME")
                .env_remove("SOURCE_DATE_EPOCH")
                .env("HOME", self.root.join("home"))
                .env("TMPDIR", self.root.join("tmp"))
                .output()
                .unwrap(),
        )
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.melwrap(args);
        assert_eq!(run.code, Some(0), "melwrap {args:?}\n{run}");
        run
    }

    /// `MELANGE_OPTS` of Wolfi's Makefile (with `CACHEDIR`, `ARCH`, `REPO`, `KEY` filled in),
    /// then `--source-dir=./hello/`, as `make package/hello` runs it. `extra` are the flags
    /// other branches add (`--git-repo-url`, `--license`, `--namespace`,
    /// `--fail-on-lint-warning`).
    pub fn build_args(&self, extra: &[String]) -> Vec<String> {
        let cachedir = self.root.join("tmp/melange-cache");
        let repo = self.root.join("packages");
        let mut args: Vec<String> = vec![
            "build".into(),
            "hello.yaml".into(),
            "--runner=bubblewrap".into(),
            format!("--apk-cache-dir={}", s(&cachedir)),
            format!("--arch={}", self.arch),
            format!("--cache-dir={}", s(&cachedir)),
            "--cleanup".into(),
            format!("--env-file=build-{}.env", self.arch),
            "--env-file=build-common.env".into(),
            "--keyring-append=local-melange.rsa.pub".into(),
            "--package-append=busybox".into(),
            "--pipeline-dir=./pipelines/".into(),
            format!("--repository-append={}", s(&repo)),
            "--signing-key=local-melange.rsa".into(),
        ];
        args.extend(extra.iter().cloned());
        args.push("--source-dir=./hello/".into());
        args
    }

    /// `MELANGE_TEST_OPTS` (without the two wolfi.dev flags, see the module doc), then
    /// `--source-dir=./hello/`, as `make test/hello` runs it.
    pub fn test_args(&self, extra: &[String]) -> Vec<String> {
        let repo = self.root.join("packages");
        let mut args: Vec<String> = vec![
            "test".into(),
            "hello.yaml".into(),
            "--runner=bubblewrap".into(),
            format!("--repository-append={}", s(&repo)),
            "--keyring-append=local-melange.rsa.pub".into(),
            format!("--arch={}", self.arch),
            "--pipeline-dirs=./pipelines/".into(),
        ];
        args.extend(extra.iter().cloned());
        args.push("--debug".into());
        args.push("--source-dir=./hello/".into());
        args
    }

    fn run_strings(&self, args: &[String]) -> Run {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.melwrap(&args)
    }

    /// Build then test with Wolfi's flags plus `extra_build` / `extra_test`, and check what
    /// the package holds and what the test printed.
    pub fn build_and_test(&self, extra_build: &[String], extra_test: &[String]) {
        // `$(MELANGE) package-version hello.yaml` names the package the Makefile expects.
        let pkgver = self.ok(&["package-version", "hello.yaml"]);
        assert_eq!(pkgver.stdout, "hello-2.12.1-r0\n");
        let built = self.run_strings(&self.build_args(extra_build));
        assert_eq!(built.code, Some(0), "build:\n{built}");
        // The steps ran in a guest assembled from the local repository's busybox, and the
        // apk cache Wolfi points at the build cache was kept out of the steps' reach.
        assert!(built.stderr.contains("(guest "), "{built}");
        assert!(built.stderr.contains("which steps can write"), "{built}");
        let apk = self
            .root
            .join(format!("packages/{}/hello-2.12.1-r0.apk", self.arch));
        assert!(apk.is_file(), "{built}");
        // The package was written into Wolfi's REPO and indexed, signed with the local key.
        let index = self
            .root
            .join(format!("packages/{}/APKINDEX.tar.gz", self.arch));
        assert!(index.is_file());
        let env = crate::support::stdout_of(
            Command::new("tar")
                .args(["-xzOf"])
                .arg(&apk)
                .arg("usr/share/hello/env"),
        );
        assert_eq!(
            env,
            format!("arch={} common=common value goflags=[]\n", self.arch)
        );
        // `--cleanup`: the temporary workspace is gone.
        let leftovers: Vec<_> = fs_err::read_dir(self.root.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "melange-cache")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // The cache dir, also given as the apk cache dir, holds no guest.
        assert!(!self.root.join("tmp/melange-cache/guests").exists());

        let tested = self.run_strings(&self.test_args(extra_test));
        assert_eq!(tested.code, Some(0), "test:\n{tested}");
        let all = format!("{}{}", tested.stdout, tested.stderr);
        assert!(all.contains("hello, tester"), "{tested}");
        assert!(all.contains("hello, hello"), "the package's file: {tested}");
        // `--debug`: the steps are traced.
        assert!(all.contains("+ grep -q"), "{tested}");
    }
}

/// Wolfi's build and test command lines with the flags this branch has: everything but
/// `--git-repo-url`, `--license`, `--namespace`, `--fail-on-lint-warning` and
/// `--test-package-append`.
#[test]
fn wolfi_command_lines_build_and_test_a_small_config() {
    let Some(c) = Checkout::new() else { return };
    c.build_and_test(&[], &[]);
}

/// The same with the whole of Wolfi's flag set.
#[test]
fn wolfi_full_flag_set_builds_and_tests_a_small_config() {
    let Some(c) = Checkout::new() else { return };
    c.build_and_test(
        &[
            "--git-repo-url=https://github.com/wolfi-dev/os".into(),
            "--license=Apache-2.0".into(),
            "--namespace=wolfi".into(),
            "--fail-on-lint-warning".into(),
        ],
        &["--test-package-append=busybox".into()],
    );
}

/// A build cache that would hold melwrap's own apk cache (here `--cache-dir ~/.cache`, with the
/// default apk cache `~/.cache/melwrap/apk` inside it) is refused before anything runs: steps
/// could change the guests later builds run in.
#[test]
fn a_build_cache_holding_the_apk_cache_is_refused() {
    let Some(c) = Checkout::new() else { return };
    let mut args = c.build_args(&[]);
    args.retain(|a| !a.starts_with("--apk-cache-dir") && !a.starts_with("--cache-dir"));
    let home_cache = c.root.join("home/.cache");
    args.push(format!("--cache-dir={}", home_cache.display()));
    let run = c.run_strings(&args);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("inside the build cache"), "{run}");
    assert!(!home_cache.join("melwrap/apk/guests").exists(), "{run}");
}
