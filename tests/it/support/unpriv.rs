//! Running a program as an ordinary user. CI runs the suite as root, so the unprivileged path is
//! reached through `setpriv --reuid=UID --regid=UID --clear-groups` as uid 65534; a developer
//! runs `make test` as an ordinary user, who cannot switch uids but already *is* the
//! unprivileged path, so the same scenario runs directly as that user. A scenario that needs a
//! second uid (a file made by another user) is skipped there, with the reason printed; as root
//! nothing is ever skipped.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The uid (and gid) of `nobody`, the ordinary user a root suite runs things as.
pub const NOBODY: u32 = 65534;

/// setpriv by absolute path, so a command whose PATH is changed still finds it.
pub const SETPRIV: &str = "/usr/bin/setpriv";

/// Whether the tests run as root.
pub fn is_root() -> bool {
    current_uid() == 0
}

/// Whether the tests can run a program as another uid: only root can `setresuid`.
pub fn can_switch_users() -> bool {
    is_root()
}

/// The effective uid of the test process.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The effective gid of the test process.
pub fn current_gid() -> u32 {
    // SAFETY: getegid has no preconditions and cannot fail.
    unsafe { libc::getegid() }
}

/// The uid the unprivileged scenarios run as: [`NOBODY`] (through setpriv) when the suite is
/// root, otherwise the suite's own uid.
pub fn unprivileged_uid() -> u32 {
    if can_switch_users() {
        NOBODY
    } else {
        current_uid()
    }
}

/// The gid that goes with [`unprivileged_uid`].
pub fn unprivileged_gid() -> u32 {
    if can_switch_users() {
        NOBODY
    } else {
        current_gid()
    }
}

/// setpriv's arguments that switch to `uid` (and the same gid) with no supplementary groups;
/// the program and its arguments follow.
pub fn setpriv_args(uid: u32) -> Vec<OsString> {
    vec![
        format!("--reuid={uid}").into(),
        format!("--regid={uid}").into(),
        "--clear-groups".into(),
        "--".into(),
    ]
}

/// A `Command` running `program` as `uid`; add its arguments as usual. When `uid` is the test
/// process's own (an ordinary user running the suite), `program` runs directly; another uid
/// goes through setpriv, which needs root.
pub fn as_user(uid: u32, program: impl AsRef<OsStr>) -> Command {
    if uid == current_uid() && !is_root() {
        return Command::new(program);
    }
    let mut cmd = Command::new(SETPRIV);
    cmd.args(setpriv_args(uid)).arg(program);
    cmd
}

/// A `Command` running `program` as the unprivileged user: [`NOBODY`] through setpriv when the
/// suite is root, else directly as the suite's own (ordinary) user.
pub fn as_nobody(program: impl AsRef<OsStr>) -> Command {
    as_user(unprivileged_uid(), program)
}

/// Program and arguments that run `program argv...` as the unprivileged user, for code that
/// builds its own argument vector (see [`as_nobody`]).
pub fn unprivileged_launcher(program: &Path, argv: Vec<OsString>) -> (PathBuf, Vec<OsString>) {
    if !can_switch_users() {
        return (program.to_path_buf(), argv);
    }
    let mut args = setpriv_args(NOBODY);
    args.push(program.as_os_str().to_owned());
    args.extend(argv);
    (PathBuf::from(SETPRIV), args)
}

/// For a test whose scenario needs a second uid: true (and the reason printed) when this suite
/// cannot switch users, so the test returns early. As root it never skips.
pub fn skip_without_a_second_user(scenario: &str) -> bool {
    if can_switch_users() {
        return false;
    }
    eprintln!(
        "skipped: {scenario} needs a second uid, and only root can switch to one \
         (the suite runs as uid {})",
        current_uid()
    );
    true
}

/// For a test of what root itself does: true (and the reason printed) when the suite is not
/// root, so the test returns early. As root it never skips.
pub fn skip_unless_root(scenario: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!(
        "skipped: {scenario} is about root, and the suite runs as uid {}",
        current_uid()
    );
    true
}

/// A temporary directory that is removed even when a test left read-only trees in it (Go
/// module dirs, 0555 dirs made to refuse writes): its owner cannot delete inside them unless
/// it is root, so when dropped by an ordinary user it first makes everything owner-writable.
pub struct TempTree(pub tempfile::TempDir);

impl std::ops::Deref for TempTree {
    type Target = tempfile::TempDir;
    fn deref(&self) -> &tempfile::TempDir {
        &self.0
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        if !is_root() {
            // Best effort: a failure only leaves the directory behind, as before.
            let _ = Command::new("chmod")
                .args(["-R", "u+rwx"])
                .arg(self.0.path())
                .status();
        }
    }
}

/// Put the melwrap binary at `dir/melwrap`, for a user who cannot enter the build's target
/// dir. A hard link where possible: a copy would hold a writable descriptor that a fork in a
/// concurrent test can inherit for a moment, and exec then fails with "Text file busy".
pub fn place_binary(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("melwrap");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_melwrap"), &bin).is_err() {
        fs_err::copy(env!("CARGO_BIN_EXE_melwrap"), &bin).unwrap();
    }
    fs_err::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Who a test runs melwrap as, by name: the suite's own user (root in CI), then uid 65534 when
/// the suite can switch to it.
pub fn runners() -> Vec<(&'static str, Option<u32>)> {
    let mut runs = vec![("own", None)];
    if can_switch_users() {
        runs.push(("nobody", Some(unprivileged_uid())));
    }
    runs
}

/// `dir/<who>`, created for `uid` (owned by it when given), and the melwrap binary that user
/// can run (a copy placed there for another uid, this build's otherwise).
pub fn home_and_binary(dir: &Path, who: &str, uid: Option<u32>) -> (PathBuf, PathBuf) {
    let home = dir.join(who);
    fs_err::create_dir(&home).unwrap();
    let bin = match uid {
        Some(uid) => {
            let bin = place_binary(&home);
            std::os::unix::fs::chown(&home, Some(uid), Some(uid)).unwrap();
            bin
        }
        None => PathBuf::from(env!("CARGO_BIN_EXE_melwrap")),
    };
    (home, bin)
}
