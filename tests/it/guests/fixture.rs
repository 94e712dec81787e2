//! A repository with `busybox` (the host's busybox, a link for each applet, and the libraries
//! it needs) and `baselayout` (merged-/usr links), built and signed by melwrap and served over
//! loopback HTTP; and the users the scenarios run as, each with a home of their own holding a
//! copy of `testdata/guests`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::repo::cli::melwrap;
use crate::repo::fixture::{ARCH, served};
use crate::repo::guest_root::{HostBusybox, host_busybox_config};
use crate::support::Run;
use crate::support::http::HttpServer;
use crate::support::unpriv;

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The served repository; `None` (said why) when the host has no busybox to package.
pub struct Repo {
    t: tempfile::TempDir,
    pub server: HttpServer,
}

impl Repo {
    pub fn new() -> Option<Repo> {
        if !crate::repo::guest_root::host_has_busybox() {
            eprintln!("skipped: no busybox on this host to package");
            return None;
        }
        crate::support::require_bwrap()?;
        let t = tempfile::Builder::new()
            .prefix("melwrap-guests-")
            .tempdir()
            .unwrap();
        fs_err::set_permissions(t.path(), PermissionsExt::from_mode(0o755)).unwrap();
        let d = t.path();
        let key = d.join("repo.rsa");
        let k = melwrap(&["keygen", "-q", "--key-size", "2048", s(&key)]);
        assert_eq!(k.code, Some(0), "{}", k.stderr);
        fs_err::set_permissions(d.join("repo.rsa.pub"), PermissionsExt::from_mode(0o644)).unwrap();
        let src = d.join("busybox-src");
        fs_err::create_dir(&src).unwrap();
        fs_err::write(
            src.join("melange.yaml"),
            host_busybox_config(&HostBusybox {
                name: "busybox",
                version: "1.36.1",
                baselayout: "baselayout",
                all_applets: true,
                passwd: false,
            }),
        )
        .unwrap();
        let out = d.join("repo");
        let b = melwrap(&[
            "build",
            "-q",
            "--arch",
            ARCH,
            "--rootfs",
            "host",
            "--signing-key",
            s(&key),
            "--out-dir",
            s(&out),
            "--cache-dir",
            s(&d.join("busybox-cache")),
            "--workspace-dir",
            s(&d.join("busybox-ws")),
            s(&src.join("melange.yaml")),
        ]);
        assert_eq!(b.code, Some(0), "{}", b.stderr);
        let server = HttpServer::start(served(&out, "os/"));
        Some(Repo { t, server })
    }

    pub fn dir(&self) -> &Path {
        self.t.path()
    }

    pub fn key(&self) -> PathBuf {
        self.dir().join("repo.rsa.pub")
    }

    /// The scenario's users: the suite's own, then uid 65534 when the suite can switch.
    pub fn users(&self) -> Vec<User> {
        let mut out = vec![User::new(self, "own", None)];
        if unpriv::can_switch_users() {
            out.push(User::new(self, "nobody", Some(unpriv::unprivileged_uid())));
        }
        out
    }
}

/// One user running melwrap, with a home of their own (`testdata/guests` copied to `t/`).
pub struct User {
    pub who: &'static str,
    pub uid: Option<u32>,
    pub home: PathBuf,
    bin: PathBuf,
    repo_url: String,
    key: PathBuf,
}

impl User {
    fn new(repo: &Repo, who: &'static str, uid: Option<u32>) -> User {
        let home = repo.dir().join(who);
        fs_err::create_dir(&home).unwrap();
        let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/guests");
        let t = home.join("t");
        fs_err::create_dir_all(t.join("pipelines")).unwrap();
        for rel in ["pipelines/check-identity.yaml"]
            .iter()
            .map(|s| s.to_string())
            .chain(
                fs_err::read_dir(&testdata)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".yaml")),
            )
        {
            fs_err::copy(testdata.join(&rel), t.join(&rel)).unwrap();
        }
        let bin = match uid {
            Some(_) => unpriv::place_binary(&home),
            None => PathBuf::from(env!("CARGO_BIN_EXE_melwrap")),
        };
        if let Some(uid) = uid {
            chown_tree(&home, uid);
        }
        User {
            who,
            uid,
            home,
            bin,
            repo_url: repo.server.url("os"),
            key: repo.key(),
        }
    }

    /// The host uid the user has.
    pub fn host_uid(&self) -> u32 {
        self.uid.unwrap_or_else(unpriv::current_uid)
    }

    /// The host uid that owns what a step writes: the build ids when melwrap is root.
    pub fn step_owner(&self) -> u32 {
        match self.host_uid() {
            0 => melwrap::sandbox::DEFAULT_BUILD_ID,
            uid => uid,
        }
    }

    /// A testdata config in the user's copy.
    pub fn config(&self, name: &str) -> PathBuf {
        self.home.join("t").join(name)
    }

    /// `melwrap COMMAND --arch ARCH -r <served repo> -k <its key> --apk-cache-dir home/apk
    /// --pipeline-dir home/t/pipelines --cache-dir home/cache ARGS...`, run as this user.
    pub fn melwrap(&self, command: &str, args: &[&str]) -> Run {
        let mut cmd = match self.uid {
            Some(uid) => unpriv::as_user(uid, &self.bin),
            None => Command::new(&self.bin),
        };
        cmd.arg(command)
            .args(["--arch", ARCH, "-r", &self.repo_url, "-k", s(&self.key)])
            .args(["--apk-cache-dir", s(&self.home.join("apk"))])
            .args(["--pipeline-dir", s(&self.home.join("t/pipelines"))])
            .args(["--cache-dir", s(&self.home.join("cache"))])
            .args(args)
            .env_remove("MELWRAP_CA_BUNDLE")
            .env("HOME", &self.home)
            .env("TMPDIR", &self.home);
        Run::from(cmd.output().unwrap())
    }
}

/// Give `dir` and everything below it to `uid` (and the gid of the same number).
fn chown_tree(dir: &Path, uid: u32) {
    for p in crate::support::walk(dir) {
        std::os::unix::fs::lchown(&p, Some(uid), Some(uid)).unwrap();
    }
    std::os::unix::fs::chown(dir, Some(uid), Some(uid)).unwrap();
}

/// The host uid owning `path`.
pub fn owner(path: &Path) -> u32 {
    fs_err::symlink_metadata(path).unwrap().uid()
}
