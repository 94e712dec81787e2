//! Running a package's steps, one sandbox each, in order: header, streamed output, footer,
//! and on failure the report (and `--interactive` shell) the user needs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use color_eyre::eyre::{self, WrapErr};

use crate::compile::{PackagePlan, Step};
use crate::printer::Printer;
use crate::sandbox::run::{self, OutputSink, RunLimits, Status, Stream, TailSink};
use crate::sandbox::{
    GuestPath, Identity, Resources, Sandbox, StepCommand, display_command, step_environment,
};

/// How many output lines a failure report repeats.
const TAIL_LINES: usize = 15;

/// Everything a step needs besides the step itself.
pub struct StepRunner<'a> {
    pub sandbox: &'a Sandbox,
    pub bwrap: &'a Path,
    pub printer: Printer,
    /// Layers 1 and 2 of the step environment (plan environment plus melwrap's cache defaults).
    pub base_env: BTreeMap<String, String>,
    pub debug: bool,
    pub interactive: bool,
    /// When the whole build must stop (`package.timeout` / `--timeout`).
    pub deadline: Option<Instant>,
}

/// How running a package's steps ended.
#[derive(Debug)]
pub enum PackageOutcome {
    Done,
    Failed(StepFailure),
    Interrupted(i32),
}

/// A failed step, with what the user needs to see.
#[derive(Debug)]
pub struct StepFailure {
    pub package: String,
    pub step: String,
    pub origin: String,
    pub status: Status,
    pub started: bool,
    pub tail: Vec<(Stream, String)>,
    /// Whether the step had network access.
    pub network: bool,
    /// The limits the step ran under (`--pids`, `--memory`).
    pub resources: Resources,
    /// The root was read-only (the host's or a `--rootfs DIR`), not a guest's overlay.
    pub read_only_root: Option<&'static str>,
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step `{}` of package `{}` failed ({}) at {}",
            self.step, self.package, self.status, self.origin
        )?;
        if !self.started {
            write!(
                f,
                "\n  the sandbox did not start: bwrap's own message is above"
            )?;
        }
        if matches!(self.status, Status::TimedOut) {
            write!(
                f,
                "\n  hint: the build ran past its timeout (`package.timeout` or `--timeout`)"
            )?;
        }
        if let Some(hint) = limit_hint(&self.tail, self.resources) {
            write!(f, "\n  hint: {hint}")?;
        } else if let Some(hint) = tls_hint(&self.tail) {
            write!(f, "\n  hint: {hint}")?;
        } else if let Some(root) = self.read_only_root
            && self
                .tail
                .iter()
                .any(|(_, l)| l.contains("Read-only file system"))
        {
            write!(
                f,
                "\n  hint: the step ran on {root}, which is read-only: only /home/build, /tmp \
                 and /var/cache/melange are writable there; to run in a guest that is writable \
                 everywhere, name repositories and packages in environment.contents (or pass \
                 --repository-append and --package-append) and drop --rootfs (see \
                 docs/guests.md)"
            )?;
        } else if !self.network && network_failed(&self.tail) {
            write!(
                f,
                "\n  hint: the step has no network (`--no-network`); fill the cache with a \
                 networked build first, or drop `--no-network`"
            )?;
        }
        Ok(())
    }
}

impl StepRunner<'_> {
    /// The command a step runs, with its final environment.
    pub fn command(&self, step: &Step) -> eyre::Result<StepCommand> {
        let env = step_environment(
            &self.base_env,
            &step.environment,
            &self.sandbox.env_defaults(),
        );
        let workdir = GuestPath::new(&step.workdir)
            .map_err(|e| eyre::eyre!("step `{}` at {}: {e}", step.name, step.origin))?;
        Ok(StepCommand::script(
            &self.sandbox.shell(),
            workdir,
            &step.script,
            env,
            self.debug,
        ))
    }

    /// Print each step's bwrap command, shell-quoted, without running it. As root, each is
    /// prefixed with the `setpriv` that drops to the build ids, as melwrap does.
    pub fn print_dry_run(&self, package: &PackagePlan) -> eyre::Result<()> {
        let overlay = self.sandbox.config().overlay.as_ref();
        // In a guest: the overlay is mounted first (see `layers::dry_run_wrapper`).
        let prefix = match overlay {
            Some(o) => format!(
                "{}{}",
                super::layers::dry_run_wrapper(o),
                self.dry_run_prefix()
            ),
            None => self.dry_run_prefix(),
        };
        for step in &package.steps {
            let cmd = self.command(step)?;
            let mut args = self.sandbox.args(&cmd);
            if let Some(o) = overlay {
                let shown = super::layers::dry_run_mount_point(o);
                for arg in &mut args {
                    if let crate::sandbox::Arg::Bind { src, .. } = arg
                        && *src == o.mount_point
                    {
                        *src = shown.clone();
                    }
                }
            }
            println!("# {} / {} ({})", package.name, step.name, step.origin);
            println!("{prefix}{}", display_command(self.bwrap, &args));
        }
        Ok(())
    }

    /// What a printed command starts with: as root, the `setpriv` that becomes the build
    /// ids (so files the command makes are theirs, as in a real build); else nothing.
    pub fn dry_run_prefix(&self) -> String {
        match self.sandbox.config().identity {
            Identity::Root(ids) => format!(
                "{} --reuid={} --regid={} --clear-groups -- ",
                which::which("setpriv").map_or("setpriv".into(), |p| shell_words::quote(
                    &p.to_string_lossy()
                )
                .into_owned()),
                ids.uid,
                ids.gid
            ),
            Identity::Build { .. } => String::new(),
        }
    }

    /// The comment a root dry run starts with: what the printed commands need.
    pub fn dry_run_note(&self) -> Option<String> {
        match self.sandbox.config().identity {
            Identity::Root(ids) => Some(format!(
                "# melwrap runs each step as the build {ids} (setpriv below), in melwrap's \
                 own session keyring (`melwrap-steps`) and with limits ({}); pasted, a command works only where those \
                 ids can enter every bind source's directory (melwrap itself stages them from \
                 a private mount namespace)",
                self.sandbox.resources()
            )),
            Identity::Build { .. } => None,
        }
    }

    /// Run a package's steps in order; stop at the first failure.
    pub fn run_package(&self, package: &PackagePlan) -> eyre::Result<PackageOutcome> {
        self.run_steps(&package.name, &package.steps)
    }

    /// Run `steps` of `package` (a build's or a test's) in order; stop at the first failure.
    pub fn run_steps(&self, package: &str, steps: &[Step]) -> eyre::Result<PackageOutcome> {
        let total = steps.len();
        for (i, step) in steps.iter().enumerate() {
            if let Some(sig) = run::interrupted() {
                return Ok(PackageOutcome::Interrupted(sig));
            }
            let label = step_label(step);
            self.printer
                .step_start(package, i + 1, total, &label, &step.origin.to_string());
            let cmd = self.command(step)?;
            let launch = self.sandbox.launch(&cmd);
            let mut printing = PrintSink(self.printer);
            let mut sink = TailSink::new(&mut printing, TAIL_LINES);
            let limits = RunLimits {
                timeout: self.time_left(),
                ..RunLimits::default()
            };
            let outcome = run::run(self.bwrap, &launch.args, &launch.child, &mut sink, limits)
                .map_err(|e| {
                    let quota = e.raw_os_error() == Some(libc::EDQUOT);
                    let err = eyre::Report::new(e)
                        .wrap_err(format!("cannot start bwrap for step `{label}`"));
                    if quota {
                        err.wrap_err(
                            "your key quota is full (each sandbox joins a session keyring); \
                             raise kernel.keys.maxkeys / maxbytes or run fewer builds at once",
                        )
                    } else if self.sandbox.config().overlay.is_some() {
                        err.wrap_err(
                            "the guest's writable overlay could not be mounted, or the sandbox \
                             not set up; pass --rootfs host to run the steps on the host's root",
                        )
                    } else {
                        err
                    }
                })?;
            let tail = sink.tail();
            self.printer.step_end(
                outcome.success(),
                &outcome.status.to_string(),
                outcome.duration,
            );
            match outcome.status {
                Status::Exited(0) => continue,
                Status::Interrupted(sig) => return Ok(PackageOutcome::Interrupted(sig)),
                status => {
                    if self.interactive {
                        match self.debug_shell(&cmd, &label)? {
                            Some(Status::Exited(0)) => {
                                self.printer.info(
                                    "debug shell exited 0: continuing as if the step succeeded",
                                );
                                continue;
                            }
                            Some(Status::Interrupted(sig)) => {
                                return Ok(PackageOutcome::Interrupted(sig));
                            }
                            _ => {}
                        }
                    }
                    return Ok(PackageOutcome::Failed(StepFailure {
                        package: package.to_string(),
                        step: label,
                        origin: step.origin.to_string(),
                        status,
                        started: outcome.started,
                        tail,
                        network: self.sandbox.config().network,
                        resources: self.sandbox.resources(),
                        read_only_root: read_only_root(self.sandbox.config()),
                    }));
                }
            }
        }
        Ok(PackageOutcome::Done)
    }

    fn time_left(&self) -> Option<std::time::Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// melange `--interactive`: a shell in the failed step's sandbox, on its own pseudo-terminal.
    /// Exit 0 continues the build; SIGTERM to melwrap ends the shell and the build. `None`
    /// when there is no terminal to open it on.
    fn debug_shell(&self, failed: &StepCommand, label: &str) -> eyre::Result<Option<Status>> {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            self.printer
                .warn("--interactive needs a terminal on stdin; not opening a debug shell");
            return Ok(None);
        }
        self.printer.info(format!(
            "step `{label}` failed: opening a shell in its sandbox (in {}). \
             Exit 0 to continue the build, non-zero to stop it.",
            failed.workdir
        ));
        let term = std::env::var("TERM").ok();
        let launch = self.sandbox.launch_interactive(failed, term.as_deref());
        let outcome = crate::sandbox::pty::run_interactive(self.bwrap, &launch.args, &launch.child)
            .wrap_err("cannot start the debug shell")?;
        Ok(Some(outcome.status))
    }
}

/// Print the last lines a failed step wrote.
pub fn report_failure(failure: &StepFailure, printer: Printer) {
    if failure.tail.is_empty() {
        return;
    }
    printer.error(format!(
        "last {} line(s) of `{}`:",
        failure.tail.len(),
        failure.step
    ));
    for (_, line) in &failure.tail {
        printer.raw(&format!("  {line}"));
    }
}

/// What a step is called in logs: its name, or its `uses`, or the first line of its script.
fn step_label(step: &Step) -> String {
    if !step.name.is_empty() {
        return step.name.clone();
    }
    if let Some(uses) = &step.uses {
        return uses.clone();
    }
    let first = step
        .script
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let first = first.trim();
    if first.chars().count() > 60 {
        format!("{}…", first.chars().take(59).collect::<String>())
    } else {
        first.to_string()
    }
}

/// Streams a step's output to the terminal.
struct PrintSink(Printer);

impl OutputSink for PrintSink {
    fn line(&mut self, stream: Stream, line: &str) {
        self.0.step_output(line, stream == Stream::Stderr);
    }
}

/// What read-only root a step ran on, for the hint: `None` for a guest (writable).
fn read_only_root(config: &crate::sandbox::SandboxConfig) -> Option<&'static str> {
    match (&config.rootfs, &config.overlay) {
        (_, Some(_)) => None,
        (crate::sandbox::Rootfs::Host, None) => Some("the host's root"),
        (crate::sandbox::Rootfs::Dir(_), None) => Some("the --rootfs directory"),
    }
}

/// A TLS failure inside the sandbox usually means a TLS-intercepting proxy whose CA the
/// sandbox cannot see; say how to pass it in.
fn tls_hint(tail: &[(Stream, String)]) -> Option<&'static str> {
    const MARKERS: &[&str] = &[
        "certificate verify failed",
        "CERTIFICATE_VERIFY_FAILED",
        "unable to get local issuer certificate",
        "self-signed certificate in certificate chain",
        "SELF_SIGNED_CERT_IN_CHAIN",
        "x509: certificate signed by unknown authority",
        "invalid peer certificate",
        "server certificate verification failed",
    ];
    tail.iter()
        .any(|(_, l)| MARKERS.iter().any(|m| l.contains(m)))
        .then_some(
            "TLS verification failed inside the sandbox; behind a TLS-intercepting proxy, pass \
             its CA with `--ca-bundle /etc/ssl/certs/ca-certificates.crt` (or set MELWRAP_CA_BUNDLE)",
        )
}

/// A step that ran out of processes or memory under melwrap's limits: say which limit, and
/// how to raise it.
fn limit_hint(tail: &[(Stream, String)], limits: Resources) -> Option<String> {
    const FORK: &[&str] = &[
        "fork: retry",
        "fork: Resource temporarily unavailable",
        "Cannot fork",
        "can't fork",
        "Resource temporarily unavailable",
    ];
    const MEMORY: &[&str] = &[
        "Cannot allocate memory",
        "cannot allocate",
        "out of memory",
        "Out of memory",
        "memory exhausted",
        "MemoryError",
        "std::bad_alloc",
    ];
    let said = |markers: &[&str]| {
        tail.iter()
            .any(|(_, l)| markers.iter().any(|m| l.contains(m)))
    };
    if let Some(n) = limits.pids
        && said(FORK)
    {
        return Some(format!(
            "the step could not start more processes: steps may have at most {n} processes \
             and threads (`--pids`); raise it if the build needs more"
        ));
    }
    if let Some(m) = limits.memory
        && said(MEMORY)
    {
        return Some(format!(
            "the step ran out of memory: each step process may allocate at most {} \
             (`--memory`); raise it if the build needs more",
            crate::sandbox::limits::format_size(m)
        ));
    }
    None
}

/// Output that says a download failed for want of a network, matched case-insensitively:
/// curl, wget, git, pip, npm, cargo and Go each word it their own way (Go's
/// `dial tcp: ... connect: network is unreachable`, a refused loopback proxy's `connection
/// refused`).
fn network_failed(tail: &[(Stream, String)]) -> bool {
    const MARKERS: &[&str] = &[
        "could not resolve host",
        "unable to resolve host",
        "temporary failure in name resolution",
        "network is unreachable",
        "connection refused",
        "no route to host",
        "bad address",
        "getaddrinfo",
        "name or service not known",
        "failed to lookup address",
        "name resolution",
        "dial tcp",
        "eai_again",
        "enotfound",
        "enetunreach",
        "econnrefused",
    ];
    tail.iter().any(|(_, l)| {
        let l = l.to_ascii_lowercase();
        MARKERS.iter().any(|m| l.contains(m))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::Origin;

    fn step(name: &str, uses: Option<&str>, script: &str) -> Step {
        Step {
            name: name.into(),
            uses: uses.map(Into::into),
            depth: 0,
            origin: Origin {
                file: "m.yaml".into(),
                line: 3,
            },
            workdir: crate::guest::WORKSPACE.into(),
            environment: BTreeMap::new(),
            script: script.into(),
        }
    }

    #[test]
    fn labels_prefer_name_then_uses_then_script() {
        assert_eq!(step_label(&step("compile", Some("fetch"), "x")), "compile");
        assert_eq!(step_label(&step("", Some("fetch"), "x")), "fetch");
        assert_eq!(
            step_label(&step("", None, "\n  make -j4\nmake install")),
            "make -j4"
        );
    }

    #[test]
    fn tls_failures_get_the_ca_hint() {
        let tail = vec![(
            Stream::Stderr,
            "pip: SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed".to_string(),
        )];
        assert!(tls_hint(&tail).unwrap().contains("--ca-bundle"));
        assert!(tls_hint(&[(Stream::Stdout, "ok".into())]).is_none());
    }

    #[test]
    fn network_failures_are_recognised_whatever_their_case() {
        for line in [
            "dial tcp 142.250.1.1:443: connect: network is unreachable",
            "Get \"https://proxy.golang.org/x/@v/list\": dial tcp: lookup proxy.golang.org: \
             Temporary failure in name resolution",
            "curl: (7) Failed to connect to 127.0.0.1 port 3128: Connection refused",
            "npm ERR! code EAI_AGAIN",
            "fatal: unable to access 'https://x/': Could not resolve host: x",
            "CONNECTION REFUSED",
        ] {
            assert!(network_failed(&[(Stream::Stderr, line.into())]), "{line}");
        }
        assert!(!network_failed(&[(
            Stream::Stderr,
            "undefined: foo".into()
        )]));
    }
}
