//! One bwrap operation as data ([`Arg`]), and its rendering as bwrap's arguments or as one
//! shell-quoted line (`--dry-run`). Pure.

use std::ffi::OsString;
use std::path::Path;

use super::path::{GuestPath, HostPath};

/// The file descriptor `run` gives bwrap for its JSON status (`--json-status-fd`).
pub const STATUS_FD: i32 = 3;

/// A namespace bwrap can unshare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    User,
    Pid,
    Ipc,
    Uts,
    Net,
}

/// One bwrap operation. Mount operations apply in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// `--bind SRC DEST`: read-write bind.
    Bind { src: HostPath, dest: GuestPath },
    /// `--ro-bind SRC DEST`: read-only bind (bwrap also sets `nosuid` and `nodev`).
    RoBind { src: HostPath, dest: GuestPath },
    /// `--ro-bind-try SRC DEST`: like [`Arg::RoBind`], skipped when SRC does not exist.
    RoBindTry { src: HostPath, dest: GuestPath },
    /// `--tmpfs DEST`: a fresh, empty tmpfs.
    Tmpfs(GuestPath),
    /// `--dev DEST`: a minimal `/dev` (null, zero, full, random, urandom, tty, pts, shm).
    Dev(GuestPath),
    /// `--proc DEST`: a procfs for the sandbox's own PID namespace.
    Proc(GuestPath),
    /// `--symlink TARGET LINK`.
    Symlink { target: String, link: GuestPath },
    /// `--remount-ro DEST`: make one mount read-only once everything under it exists.
    RemountRo(GuestPath),
    /// `--unshare-*`.
    Unshare(Namespace),
    /// `--uid N` (needs a user namespace).
    Uid(u32),
    /// `--gid N` (needs a user namespace).
    Gid(u32),
    /// `--cap-drop CAP` (`ALL` drops every capability).
    CapDrop(String),
    /// `--cap-add CAP`: the step holds CAP inside its user namespace.
    CapAdd(String),
    /// `--clearenv`: start the command from an empty environment.
    ClearEnv,
    /// `--setenv KEY VALUE`.
    SetEnv(String, String),
    /// `--chdir DIR`.
    Chdir(GuestPath),
    /// `--die-with-parent`: the sandbox is killed when bwrap's parent (melwrap) dies.
    DieWithParent,
    /// `--new-session`: `setsid()`, so a step cannot push input into melwrap's terminal
    /// (TIOCSTI, CVE-2017-5226).
    NewSession,
    /// `--json-status-fd FD`: bwrap reports the child's pid and exit code on FD.
    JsonStatusFd(i32),
    /// `-- ARGV...`: the command; always last.
    Command(Vec<String>),
}

impl Arg {
    fn push_to(&self, out: &mut Vec<OsString>) {
        let mut push = |s: &str| out.push(OsString::from(s));
        match self {
            Arg::Bind { src, dest } | Arg::RoBind { src, dest } => {
                push(if matches!(self, Arg::Bind { .. }) {
                    "--bind"
                } else {
                    "--ro-bind"
                });
                out.push(src.as_path().as_os_str().to_owned());
                out.push(OsString::from(dest.as_str()));
            }
            Arg::RoBindTry { src, dest } => {
                push("--ro-bind-try");
                out.push(src.as_path().as_os_str().to_owned());
                out.push(OsString::from(dest.as_str()));
            }
            Arg::Tmpfs(p) => {
                push("--tmpfs");
                push(p.as_str());
            }
            Arg::Dev(p) => {
                push("--dev");
                push(p.as_str());
            }
            Arg::Proc(p) => {
                push("--proc");
                push(p.as_str());
            }
            Arg::Symlink { target, link } => {
                push("--symlink");
                push(target);
                push(link.as_str());
            }
            Arg::RemountRo(p) => {
                push("--remount-ro");
                push(p.as_str());
            }
            Arg::Unshare(ns) => push(match ns {
                Namespace::User => "--unshare-user",
                Namespace::Pid => "--unshare-pid",
                Namespace::Ipc => "--unshare-ipc",
                Namespace::Uts => "--unshare-uts",
                Namespace::Net => "--unshare-net",
            }),
            Arg::Uid(n) => {
                push("--uid");
                push(&n.to_string());
            }
            Arg::Gid(n) => {
                push("--gid");
                push(&n.to_string());
            }
            Arg::CapDrop(c) => {
                push("--cap-drop");
                push(c);
            }
            Arg::CapAdd(c) => {
                push("--cap-add");
                push(c);
            }
            Arg::ClearEnv => push("--clearenv"),
            Arg::SetEnv(k, v) => {
                push("--setenv");
                push(k);
                push(v);
            }
            Arg::Chdir(p) => {
                push("--chdir");
                push(p.as_str());
            }
            Arg::DieWithParent => push("--die-with-parent"),
            Arg::NewSession => push("--new-session"),
            Arg::JsonStatusFd(fd) => {
                push("--json-status-fd");
                push(&fd.to_string());
            }
            Arg::Command(argv) => {
                push("--");
                for a in argv {
                    push(a);
                }
            }
        }
    }
}

/// The bwrap arguments (without the program name), in order.
pub fn to_argv(args: &[Arg]) -> Vec<OsString> {
    let mut out = Vec::new();
    for arg in args {
        arg.push_to(&mut out);
    }
    out
}

/// The whole command as one shell-quoted line that can be pasted into a shell (`--dry-run`).
/// `--json-status-fd` is left out: it only makes sense with the descriptor `run` provides.
pub fn display_command(bwrap: &Path, args: &[Arg]) -> String {
    let shown: Vec<Arg> = args
        .iter()
        .filter(|a| !matches!(a, Arg::JsonStatusFd(_)))
        .cloned()
        .collect();
    let mut words = vec![bwrap.to_string_lossy().into_owned()];
    words.extend(
        to_argv(&shown)
            .into_iter()
            .map(|s| s.to_string_lossy().into_owned()),
    );
    shell_words::join(words)
}
