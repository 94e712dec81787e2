//! `melwrap doctor`: run the sandbox probes and print what works, what does not, and the fix.
//!
//! It runs the same probe a build runs first (`sandbox::probe`), then a real step in the
//! chosen rootfs with the network off, and reports the facts a failing build would need:
//! identity, user namespaces, the shell steps get, and the CA bundle situation. Exit 0 when
//! builds can run, 2 when they cannot.

use std::path::PathBuf;

use color_eyre::eyre;

use super::{ExitStatus, Verbosity};
use crate::sandbox::probe::{self, HostFacts};
use crate::sandbox::run::{self, RunLimits, Stream, VecSink};
use crate::sandbox::{
    BUILD_UID_ENV, BuildIds, GuestPath, HostPath, Identity, Resources, Rootfs, Sandbox,
    SandboxConfig, StepCommand, prepare, step_environment,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The guest root to check: `host` (the host's system directories) or a rootfs directory.
    #[arg(long, value_name = "host|DIR", default_value = "host")]
    pub rootfs: String,

    /// A CA bundle to check, as `melwrap build --ca-bundle` would use it (default:
    /// `$MELWRAP_CA_BUNDLE`).
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
}

/// Which root `melwrap build` and `test` give steps by default, and the guests cached so far.
fn root_line(r: &mut Report) {
    let guests = crate::repo::cache::default_dir().join("guests");
    let cached = std::fs::read_dir(&guests)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    !e.file_name().to_string_lossy().starts_with('.')
                        && e.file_type().is_ok_and(|t| t.is_dir())
                })
                .count()
        })
        .unwrap_or(0);
    r.line(
        Level::Info,
        "root",
        &format!(
            "build and test use --rootfs auto: a guest assembled from the config's \
             environment.contents when it names repositories and packages (cached in {}, {} \
             now), else the host's root, read-only; `-v` on a build says which",
            guests.display(),
            cached
        ),
        None,
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Info,
    Warn,
    Fail,
}

struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, level: Level, what: &str, detail: &str, hint: Option<&str>) {
        let tag = match level {
            Level::Ok => "ok  ",
            Level::Info => "    ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        self.failed |= level == Level::Fail;
        println!("{tag}  {what:<16} {detail}");
        if let Some(hint) = hint {
            println!("      {:<16} hint: {hint}", "");
        }
    }
}

pub fn run(args: Args, _verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    let mut r = Report { failed: false };
    let facts = HostFacts::read();
    let identity = Identity::for_current_user();

    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let who = match identity {
        Identity::Root(ids) => format!(
            "steps run as uid 0 in a user namespace, which is the unprivileged build {ids} on \
             the host (choose with --build-uid or {BUILD_UID_ENV}=UID[:GID]), no capabilities; \
             root-only host files, /proc/sys and root's keyrings are closed to them"
        ),
        Identity::Build { uid: u, gid: g } => {
            format!("steps run as uid {u}, gid {g} in a user namespace")
        }
    };
    r.line(Level::Info, "identity", &format!("uid {uid}: {who}"), None);
    if uid == 0
        && let Err(e) = BuildIds::from_env()
    {
        r.line(Level::Fail, "build ids", &e, None);
    }
    let resources = Resources::defaults(uid == 0);
    let enforced = match resources.pids {
        Some(_) => "RLIMIT_NPROC counts only the build ids' processes",
        None => "RLIMIT_NPROC would count all of this user's processes, so none by default",
    };
    r.line(
        Level::Info,
        "limits",
        &format!(
            "default {resources} ({enforced}); --pids N and --memory SIZE set \
             RLIMIT_NPROC and RLIMIT_DATA (per process); no cgroup v2 delegation is used, \
             so memory is not bounded for the build as a whole"
        ),
        None,
    );
    root_line(&mut r);
    if facts.in_container {
        r.line(Level::Info, "container", "running inside a container", None);
    }

    match probe::find_bwrap(&facts) {
        Ok(path) => r.line(Level::Ok, "bwrap", &path.display().to_string(), None),
        Err(e) => {
            r.line(Level::Fail, "bwrap", &e.message, Some(&e.hint));
            return Ok(ExitStatus::BadInput);
        }
    }
    let bwrap = match probe::probe_as(identity, &facts) {
        Ok(b) => {
            r.line(
                Level::Ok,
                "sandbox",
                &format!("bubblewrap {} works", b.version),
                None,
            );
            Some(b)
        }
        Err(e) => {
            r.line(Level::Fail, "sandbox", &e.message, Some(&e.hint));
            None
        }
    };
    let rootfs = if args.rootfs == "host" {
        Rootfs::Host
    } else {
        match fs_err::canonicalize(&args.rootfs)
            .map_err(|e| e.to_string())
            .and_then(|p| HostPath::new(p).map_err(|e| e.to_string()))
        {
            Ok(p) => Rootfs::Dir(p),
            Err(e) => {
                r.line(Level::Fail, "rootfs", &e, None);
                return Ok(ExitStatus::BadInput);
            }
        }
    };
    let shell = crate::sandbox::shell_for(&rootfs);
    let shell_note = match (&rootfs, shell[0].as_str()) {
        (Rootfs::Host, "/bin/sh") => Some(
            "no bash or busybox on the host: steps get /bin/sh, which may be dash and reject \
             `==` and `set -o pipefail`; install bash or busybox",
        ),
        _ => None,
    };
    let level = if shell_note.is_some() {
        Level::Warn
    } else {
        Level::Ok
    };
    let shell_text = format!("steps run with `{}`", shell[..shell.len() - 1].join(" "));
    r.line(level, "shell", &shell_text, shell_note);

    if let Some(bwrap) = &bwrap {
        check_step(&mut r, bwrap, &rootfs);
    }

    check_ca(&mut r, args.ca_bundle.as_deref());

    if r.failed {
        println!("\nbuilds cannot run here; fix the FAIL lines above");
        Ok(ExitStatus::BadInput)
    } else {
        println!("\nbuilds can run here");
        Ok(ExitStatus::Success)
    }
}

/// Run one real step in `rootfs`, network off, in a scratch workspace.
fn check_step(r: &mut Report, bwrap: &probe::Bwrap, rootfs: &Rootfs) {
    let what = match rootfs {
        Rootfs::Host => "host rootfs".to_string(),
        Rootfs::Dir(d) => format!("rootfs {d}"),
    };
    let outcome = (|| -> Result<(run::StepOutcome, VecSink), String> {
        let ws = tempfile::Builder::new()
            .prefix("melwrap-doctor-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let mut cfg = SandboxConfig::new(
            rootfs.clone(),
            HostPath::new(ws.path()).map_err(|e| e.to_string())?,
            &crate::sandbox::HostDefaults::read(),
        );
        cfg.network = false;
        if let Identity::Root(ids) = cfg.identity {
            // As in a build: the workspace is the build ids' own.
            crate::safefs::Dir::open_anchor(ws.path())
                .and_then(|dir| dir.chown_tree(ids.uid, ids.gid))
                .map_err(|e| e.to_string())?;
        }
        let sandbox = Sandbox::prepare(cfg).map_err(|e| e.to_string())?;
        let env = step_environment(&Default::default(), &Default::default(), &[]);
        let cmd = StepCommand::script(
            &sandbox.shell(),
            GuestPath::new("/home/build/check").map_err(|e| e.to_string())?,
            "echo melwrap-doctor-ok > /home/build/check/out\ncat out",
            env,
            false,
        );
        let mut sink = VecSink::default();
        let launch = sandbox.launch(&cmd);
        let outcome = run::run(
            &bwrap.path,
            &launch.args,
            &launch.child,
            &mut sink,
            RunLimits::default(),
        )
        .map_err(|e| e.to_string())?;
        Ok((outcome, sink))
    })();
    match outcome {
        Ok((o, sink)) if o.success() && sink.of(Stream::Stdout) == ["melwrap-doctor-ok"] => r.line(
            Level::Ok,
            "step",
            &format!("a step ran in the {what} with the network off"),
            None,
        ),
        Ok((o, sink)) => {
            let last: Vec<String> = sink
                .lines
                .iter()
                .rev()
                .take(5)
                .map(|l| l.1.clone())
                .collect();
            r.line(
                Level::Fail,
                "step",
                &format!(
                    "a test step in the {what} failed ({}): {}",
                    o.status,
                    last.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ),
                Some("run the failing bwrap command by hand: `melwrap build --dry-run` prints it"),
            )
        }
        Err(e) => r.line(Level::Fail, "step", &e, None),
    }
}

fn check_ca(r: &mut Report, flag: Option<&std::path::Path>) {
    let system = std::path::Path::new(crate::sandbox::CA_GUEST_PATH);
    if system.is_file() {
        r.line(
            Level::Ok,
            "CA bundle",
            &format!("{} present", system.display()),
            None,
        );
    } else {
        r.line(
            Level::Warn,
            "CA bundle",
            &format!("no {} on the host", system.display()),
            Some("steps that download over HTTPS with the host rootfs may fail; install ca-certificates"),
        );
    }
    match prepare::resolve_ca_bundle(flag) {
        Ok(Some(p)) => r.line(
            Level::Ok,
            "--ca-bundle",
            &format!("{p}: shown at {} in builds", crate::sandbox::CA_GUEST_PATH),
            None,
        ),
        Ok(None) => {}
        Err(e) => r.line(Level::Fail, "--ca-bundle", &e.message, e.hint.as_deref()),
    }
    if let Some(v) = std::env::var_os("SSL_CERT_FILE") {
        r.line(
            Level::Info,
            "SSL_CERT_FILE",
            &format!(
                "set to {} here; builds never inherit it",
                std::path::Path::new(&v).display()
            ),
            Some("behind a TLS-intercepting proxy, pass it on: `--ca-bundle \"$SSL_CERT_FILE\"`"),
        );
    }
}
