//! The shell that runs a step, and the wrapper melange puts around every `runs:` script.
//!
//! melange runs each step as `/bin/sh -c SCRIPT` with the guest's `/bin/sh`, busybox ash on
//! Wolfi (`pkg/build/pipeline.go`, semantics 3.6). Real configs are written for ash: they use
//! `[ "$a" == "$b" ]` and the wrapper itself uses `set -o pipefail`, both of which Debian's
//! dash rejects. So with [`Rootfs::Host`], melwrap runs steps with the host's bash when it has
//! one (bash accepts everything ash does that configs rely on), then busybox's ash, and only
//! then the host's `/bin/sh`. With [`Rootfs::Dir`] the rootfs's own `/bin/sh` runs them, as in
//! melange.

use std::path::Path;

use super::path::{GuestPath, Rootfs};

/// The command prefix that runs a script, ending in `-c` (the script comes next).
///
/// Host rootfs: `/bin/bash -c` if `/bin/bash` exists, else `/bin/busybox sh -c` or
/// `/usr/bin/busybox sh -c`, else `/bin/sh -c`. Directory rootfs: `/bin/sh -c`.
pub fn shell_for(rootfs: &Rootfs) -> Vec<String> {
    match rootfs {
        Rootfs::Host => host_shell(Path::new("/")),
        Rootfs::Dir(_) => vec!["/bin/sh".into(), "-c".into()],
    }
}

/// [`shell_for`] for a host whose `/` is at `root` (a parameter so tests can use a fake root).
pub(crate) fn host_shell(root: &Path) -> Vec<String> {
    let exists = |p: &str| root.join(p.trim_start_matches('/')).is_file();
    if exists("/bin/bash") {
        return vec!["/bin/bash".into(), "-c".into()];
    }
    for busybox in ["/bin/busybox", "/usr/bin/busybox"] {
        if exists(busybox) {
            return vec![busybox.into(), "sh".into(), "-c".into()];
        }
    }
    vec!["/bin/sh".into(), "-c".into()]
}

/// A string as one shell word in single quotes, safe in any POSIX shell.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// melange's wrapper around a step's script (semantics 3.6, exact): stop on the first failing
/// command and on failures inside pipelines, create and enter the working directory, run the
/// script, then `exit 0`. `debug` adds `-x` (melange `--debug`).
pub fn wrap_script(workdir: &GuestPath, script: &str, debug: bool) -> String {
    let wd = quote(workdir.as_str());
    let flags = if debug { "-exo" } else { "-eo" };
    let mut out = format!("set {flags} pipefail\n[ -d {wd} ] || mkdir -p {wd}\ncd {wd}\n");
    out.push_str(script);
    if !script.is_empty() && !script.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("exit 0");
    out
}

/// Variables that make a shell run code or read a file when it starts or shows a prompt
/// (`ENV` for ash and POSIX-mode bash, `BASH_ENV` for `bash -c`, the prompt hooks): an
/// interactive debug shell starts without them.
pub const SHELL_STARTUP_VARIABLES: &[&str] = &[
    "ENV",
    "BASH_ENV",
    "PROMPT_COMMAND",
    "PS0",
    "PS1",
    "PS2",
    "PS3",
    "PS4",
    "SHELLOPTS",
    "BASHOPTS",
];

/// The command of an interactive debug shell for `failed` (see
/// [`super::spec::interactive_args`]): `shell` without `-c`, started in the step's working
/// directory with its environment, reading no file a step could have written. bash gets
/// `--norc --noprofile` and `INPUTRC=/dev/null`; no shell is a login shell (no `~/.profile`);
/// [`SHELL_STARTUP_VARIABLES`] and exported bash functions (`BASH_FUNC_*`) are dropped.
pub fn debug_shell_command(
    shell: &[String],
    failed: &StepCommand,
    term: Option<&str>,
) -> StepCommand {
    let home = failed
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "HOME")
        .map_or(crate::guest::HOME, |(_, v)| v.as_str());
    let mut env: Vec<(String, String)> = failed
        .env
        .iter()
        .filter(|(k, _)| {
            k != "HISTFILE"
                && k != "TERM"
                && k != "INPUTRC"
                && !SHELL_STARTUP_VARIABLES.contains(&k.as_str())
                && !k.starts_with("BASH_FUNC_")
        })
        .cloned()
        .collect();
    env.push(("HISTFILE".into(), format!("{home}/.ash_history")));
    env.push(("TERM".into(), term.unwrap_or("xterm-256color").to_string()));
    // `shell` ends in `-c`; the interactive program is the same shell without it.
    let mut program: Vec<String> = shell
        .iter()
        .take_while(|a| a.as_str() != "-c")
        .cloned()
        .collect();
    if program
        .first()
        .is_some_and(|p| p.ends_with("/bash") || p == "bash")
    {
        program.extend(["--norc".to_string(), "--noprofile".to_string()]);
        env.push(("INPUTRC".into(), "/dev/null".into()));
    }
    let wd = quote(failed.workdir.as_str());
    let mut argv = shell.to_vec();
    argv.push(format!("cd {wd} && exec {}", shell_words::join(&program)));
    StepCommand {
        argv,
        env,
        workdir: failed.workdir.clone(),
    }
}

/// The command one step runs, with its final environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepCommand {
    /// Program and arguments, run inside the guest (the program is a guest path).
    pub argv: Vec<String>,
    /// The complete environment, in `--setenv` order; nothing else is inherited.
    pub env: Vec<(String, String)>,
    /// The step's working directory. The wrapper script creates it and `cd`s there; bwrap
    /// itself starts in `/home/build`, which always exists.
    pub workdir: GuestPath,
}

impl StepCommand {
    /// `SHELL... WRAPPED-SCRIPT`: the step's script inside melange's wrapper (semantics 3.6),
    /// run by `shell` (from [`shell_for`], ending in `-c`).
    pub fn script(
        shell: &[String],
        workdir: GuestPath,
        script: &str,
        env: Vec<(String, String)>,
        debug: bool,
    ) -> StepCommand {
        let mut argv = shell.to_vec();
        argv.push(wrap_script(&workdir, script, debug));
        StepCommand { argv, env, workdir }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapper_is_melanges() {
        let wd = GuestPath::new("/home/build/src").unwrap();
        assert_eq!(
            wrap_script(&wd, "make\nmake install", false),
            "set -eo pipefail\n\
             [ -d '/home/build/src' ] || mkdir -p '/home/build/src'\n\
             cd '/home/build/src'\n\
             make\nmake install\n\
             exit 0"
        );
        assert!(wrap_script(&wd, "true\n", true).starts_with("set -exo pipefail\n"));
        assert!(wrap_script(&wd, "", false).ends_with("cd '/home/build/src'\nexit 0"));
    }

    #[test]
    fn workdir_is_quoted() {
        let wd = GuestPath::new("/home/build/it's here").unwrap();
        let s = wrap_script(&wd, "", false);
        assert!(s.contains(r"cd '/home/build/it'\''s here'"), "{s}");
    }

    #[test]
    fn host_shell_prefers_bash_then_busybox() {
        let root = tempfile::tempdir().unwrap();
        let mk = |p: &str| {
            let p = root.path().join(p);
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            fs_err::write(p, "").unwrap();
        };
        assert_eq!(host_shell(root.path()), ["/bin/sh", "-c"]);
        mk("usr/bin/busybox");
        assert_eq!(host_shell(root.path()), ["/usr/bin/busybox", "sh", "-c"]);
        mk("bin/bash");
        assert_eq!(host_shell(root.path()), ["/bin/bash", "-c"]);
        assert_eq!(
            shell_for(&Rootfs::Dir(
                super::super::HostPath::new("/nonexistent").unwrap()
            )),
            ["/bin/sh", "-c"]
        );
    }
}
