//! Running one sandbox: spawn bwrap, stream its output line by line, enforce the timeout, and
//! make Ctrl-C and SIGTERM stop the whole process tree inside the sandbox.
//!
//! # Signals: who gets what, and why
//!
//! A step is one `bwrap` process. With `--unshare-pid` it forks an init (PID 1 of a new PID
//! namespace) that runs the step's shell; every process the step starts lives in that
//! namespace, and the kernel kills all of them when the init dies. `--die-with-parent` sets
//! `PR_SET_PDEATHSIG(SIGKILL)` on the init, so the init dies when the outer bwrap does. Killing
//! the outer bwrap therefore kills the whole tree, whatever the step did (`setsid`, daemons,
//! `nohup`): no process can leave a PID namespace.
//!
//! bwrap runs in its own process group (`setpgid(0, 0)`), and with `--new-session` the step
//! runs in its own session, so Ctrl-C at the terminal reaches melwrap only, not the sandbox.
//! That is deliberate: the terminal would otherwise deliver SIGINT straight to bwrap and the
//! step, and a step that traps SIGINT could outlive melwrap's decision to stop. Instead:
//!
//! - [`install_signal_handlers`] makes SIGINT and SIGTERM set a flag (the first signal wins).
//!   From then on melwrap does not die on Ctrl-C; the build loop asks [`interrupted`] between
//!   steps and starts no new step once it is set.
//! - While a step runs, [`run`] polls the flag. When it is set, the sandbox's process group
//!   gets SIGTERM; bwrap does not handle SIGTERM, so it exits and the kernel kills the tree.
//!   If bwrap is still there after [`RunLimits::kill_grace`], it gets SIGKILL. The outcome is
//!   [`Status::Interrupted`], and the caller exits 130 (SIGINT) or 143 (SIGTERM).
//! - A timeout sends SIGKILL at once: the step had its time.
//! - After killing, [`run`] waits until the sandbox's PID 1 is gone (a pidfd), so when it
//!   returns no step process can still write to the workspace the caller may now clean up.
//! - If melwrap itself is killed with SIGKILL (no handler runs), `--die-with-parent` still
//!   takes the sandbox down.
//!
//! An interactive debug shell ([`run_interactive`]) is the exception: it shares melwrap's
//! terminal and process group so that job control works, and Ctrl-C there belongs to the shell,
//! so melwrap forgets any SIGINT that arrives while it runs (as melange ignores SIGINT then).
//!
//! # Exit status
//!
//! bwrap exits 1 both when it cannot set up the sandbox and when the step exits 1. The runner
//! gives bwrap a pipe as `--json-status-fd 3`: bwrap writes the step's exit code there only if
//! the step really ran, which is what [`StepOutcome::started`] reports. Like a shell, bwrap
//! reports a step killed by signal N as exit code 128+N, so `kill -9 $$` and `exit 137` look
//! the same from outside; codes 129 to 192 are reported as [`Status::Signaled`].

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::child::ChildSetup;
use super::spec::STATUS_FD;

pub use super::sink::{OutputSink, Stream, TailSink, VecSink};

/// Limits on one sandbox run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Kill the sandbox after this long (`package.timeout`, `--timeout`).
    pub timeout: Option<Duration>,
    /// After an interrupt, how long bwrap has to exit on SIGTERM before SIGKILL.
    pub kill_grace: Duration,
}

impl Default for RunLimits {
    fn default() -> RunLimits {
        RunLimits {
            timeout: None,
            kill_grace: Duration::from_secs(3),
        }
    }
}

/// How a sandbox run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exited with this code (0 is success).
    Exited(i32),
    /// Killed by this signal (reported by bwrap as exit code 128+N, see the module doc).
    Signaled(i32),
    /// Killed by melwrap when [`RunLimits::timeout`] ran out.
    TimedOut,
    /// Stopped by melwrap because melwrap received this signal (SIGINT or SIGTERM).
    Interrupted(i32),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exited(code) => write!(f, "exit status {code}"),
            Status::Signaled(sig) => {
                write!(
                    f,
                    "killed by {} (exit status {})",
                    signal_name(*sig),
                    128 + sig
                )
            }
            Status::TimedOut => f.write_str("timed out"),
            Status::Interrupted(sig) => write!(f, "interrupted by {}", signal_name(*sig)),
        }
    }
}

/// The result of one sandbox run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepOutcome {
    pub status: Status,
    pub duration: Duration,
    /// The command inside the sandbox ran. False when bwrap failed before starting it (a bad
    /// mount, a missing rootfs): bwrap's own stderr then says why.
    pub started: bool,
}

impl StepOutcome {
    pub fn success(&self) -> bool {
        self.status == Status::Exited(0)
    }
}

/// `SIGKILL` for 9, and so on; `signal N` for the rest.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

static SIGNALLED: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember_signal(sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    let _ = SIGNALLED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// Make SIGINT and SIGTERM set the flag [`interrupted`] reads instead of killing melwrap.
/// Call once, early in a command that runs sandboxes.
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler only stores to an atomic; SA_RESTART
        // keeps the rest of the program's blocking I/O from seeing EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = remember_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// The signal that asked melwrap to stop (SIGINT or SIGTERM), once one has arrived.
pub fn interrupted() -> Option<i32> {
    match SIGNALLED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// The exit code melwrap should end with after [`Status::Interrupted`]: 128 + the signal
/// (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code_for_signal(sig: i32) -> i32 {
    128 + sig
}

enum Msg {
    Line(Stream, String),
    /// A reader thread finished.
    Done,
    ChildPid(i32),
    ExitCode(i32),
}

/// Longest line passed to the sink in one piece; longer output is split.
const MAX_LINE: u64 = 64 * 1024;

/// Run `bwrap` with `args` (from [`super::Sandbox::launch`]), its process set up as `child`
/// says, stdin empty, stdout and stderr streamed to `sink`. bwrap runs with an empty
/// environment apart from `LANG=C`; the step's own environment is in `args`. Returns when the
/// sandbox and every process in it are gone.
///
/// `bwrap` may also be a launcher that ends up executing bwrap with the same descriptors
/// (tests use `setpriv`).
pub fn run(
    bwrap: &Path,
    args: &[OsString],
    child_setup: &ChildSetup,
    sink: &mut dyn OutputSink,
    limits: RunLimits,
) -> io::Result<StepOutcome> {
    let start = Instant::now();
    if let Some(sig) = interrupted() {
        return Ok(StepOutcome {
            status: Status::Interrupted(sig),
            duration: Duration::ZERO,
            started: false,
        });
    }
    let (status_read, status_write) = cloexec_pipe()?;
    let mut command = Command::new(bwrap);
    command
        .args(args)
        .env_clear()
        .env("LANG", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let write_fd = status_write.as_raw_fd();
    let setup = child_setup.clone();
    let mut scratch = setup.scratch();
    // SAFETY: the closure only makes system calls (dup2, fcntl, mount, setresuid, ...) and
    // writes to memory allocated before the fork.
    unsafe {
        command.pre_exec(move || {
            setup.apply(&mut scratch)?;
            prepare_child_fds(Some(write_fd))
        });
    }
    let mut child = command.spawn()?;
    drop(status_write);
    // Readable once bwrap has exited: lets the loop below wake the moment it does instead of
    // polling on a timer (a fixed sleep here cost up to 20 ms on every step).
    let bwrap_exited = pidfd_open(child.id() as i32);

    let (tx, rx) = mpsc::channel();
    spawn_line_reader(
        child.stdout.take().expect("piped"),
        Stream::Stdout,
        tx.clone(),
    );
    spawn_line_reader(
        child.stderr.take().expect("piped"),
        Stream::Stderr,
        tx.clone(),
    );
    spawn_status_reader(File::from(status_read), tx);

    let deadline = limits.timeout.map(|t| start + t);
    let mut stop: Option<(Status, Instant)> = None;
    let mut sent_kill = false;
    let mut state = Progress::default();
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(msg) => state.handle(msg, sink),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => match &bwrap_exited {
                // All output is closed; bwrap is exiting. Wake when it has (or in 50 ms, to
                // check the interrupt flag and the deadline again).
                Some(fd) => wait_readable(fd, Duration::from_millis(50)),
                None => std::thread::sleep(Duration::from_millis(1)),
            },
        }
        if stop.is_none() {
            if let Some(sig) = interrupted() {
                signal_group(&child, libc::SIGTERM);
                stop = Some((Status::Interrupted(sig), Instant::now()));
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                signal_group(&child, libc::SIGKILL);
                sent_kill = true;
                stop = Some((Status::TimedOut, Instant::now()));
            }
        } else if let Some((_, since)) = stop
            && !sent_kill
            && since.elapsed() >= limits.kill_grace
        {
            signal_group(&child, libc::SIGKILL);
            sent_kill = true;
        }
        let Some(status) = child.try_wait()? else {
            continue;
        };
        if stop.is_some()
            && let Some(fd) = state.pidfd.take()
        {
            // bwrap is gone; the namespace's PID 1 dies last, after every process in it.
            wait_readable(&fd, Duration::from_secs(10));
        }
        // Every writer is gone or going: collect the last lines and the exit code.
        let until = Instant::now() + Duration::from_secs(5);
        while state.open > 0 {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(msg) => state.handle(msg, sink),
                Err(_) => break,
            }
        }
        return Ok(finish(status, stop.map(|s| s.0), &state, start.elapsed()));
    }
}

/// What the reader threads have told the runner so far.
struct Progress {
    child_pid: Option<i32>,
    exit_code: Option<i32>,
    /// Reader threads still running (stdout, stderr, status).
    open: usize,
    pidfd: Option<OwnedFd>,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress {
            child_pid: None,
            exit_code: None,
            open: 3,
            pidfd: None,
        }
    }
}

impl Progress {
    fn handle(&mut self, msg: Msg, sink: &mut dyn OutputSink) {
        match msg {
            Msg::Line(stream, line) => sink.line(stream, &line),
            Msg::Done => self.open = self.open.saturating_sub(1),
            Msg::ChildPid(pid) => {
                self.child_pid = Some(pid);
                self.pidfd = pidfd_open(pid);
            }
            Msg::ExitCode(code) => self.exit_code = Some(code),
        }
    }
}

fn finish(
    status: std::process::ExitStatus,
    stop: Option<Status>,
    progress: &Progress,
    duration: Duration,
) -> StepOutcome {
    let (status, started) = match (stop, progress.exit_code) {
        (Some(why), _) => (why, progress.child_pid.is_some()),
        (None, Some(code)) => (status_from_code(code), true),
        (None, None) => match (status.code(), status.signal()) {
            (Some(code), _) => (Status::Exited(code), false),
            (None, Some(sig)) => (Status::Signaled(sig), false),
            (None, None) => (Status::Exited(1), false),
        },
    };
    StepOutcome {
        status,
        duration,
        started,
    }
}

/// bwrap's exit code for the step: 128+N means signal N (module doc).
fn status_from_code(code: i32) -> Status {
    if (129..=192).contains(&code) {
        Status::Signaled(code - 128)
    } else {
        Status::Exited(code)
    }
}

fn signal_group(child: &Child, sig: i32) {
    // bwrap leads its own process group (process_group(0)), and has not been reaped yet, so
    // the group id cannot have been reused.
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(-(child.id() as i32), sig);
    }
}

fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// In the child, between fork and exec: put the status pipe (if any) at [`STATUS_FD`] and
/// mark every other descriptor above stderr close-on-exec, so nothing melwrap inherited leaks
/// into the sandbox.
fn prepare_child_fds(status: Option<RawFd>) -> io::Result<()> {
    // SAFETY: dup2, fcntl and close_range are async-signal-safe and touch only descriptors.
    unsafe {
        let first = match status {
            Some(fd) if fd == STATUS_FD => {
                if libc::fcntl(STATUS_FD, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                STATUS_FD + 1
            }
            Some(fd) => {
                if libc::dup2(fd, STATUS_FD) < 0 {
                    return Err(io::Error::last_os_error());
                }
                STATUS_FD + 1
            }
            None => 3,
        } as libc::c_uint;
        let done = libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        if done != 0 {
            // Kernels before 5.11: mark them one by one (EBADF for closed ones is harmless).
            for fd in first as RawFd..4096 {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

fn spawn_line_reader(pipe: impl Read + Send + 'static, stream: Stream, tx: mpsc::Sender<Msg>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                        if buf.last() == Some(&b'\r') {
                            buf.pop();
                        }
                    }
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    if tx.send(Msg::Line(stream, line)).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = tx.send(Msg::Done);
    });
}

/// bwrap writes one JSON object per event: `{ "child-pid": N, ... }` when the sandbox exists,
/// `{ "exit-code": N }` when the command has ended.
fn spawn_status_reader(pipe: File, tx: mpsc::Sender<Msg>) {
    std::thread::spawn(move || {
        let values = serde_json::Deserializer::from_reader(BufReader::new(pipe))
            .into_iter::<serde_json::Value>();
        for value in values {
            let Ok(value) = value else { break };
            let field = |name: &str| value.get(name).and_then(|v| v.as_i64());
            if let Some(pid) = field("child-pid") {
                let _ = tx.send(Msg::ChildPid(pid as i32));
            }
            if let Some(code) = field("exit-code") {
                let _ = tx.send(Msg::ExitCode(code as i32));
            }
        }
        let _ = tx.send(Msg::Done);
    });
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Wait until `fd` is readable (a pidfd is readable once its process has exited).
fn wait_readable(fd: &OwnedFd, limit: Duration) {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let until = Instant::now() + limit;
    loop {
        let left = until.saturating_duration_since(Instant::now()).as_millis() as i32;
        // SAFETY: pfd is one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, left) };
        if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted || left == 0 {
            return;
        }
    }
}

/// Run an interactive debug shell (from [`super::interactive_args`]) on melwrap's terminal.
/// SIGINT that arrives meanwhile is for the shell, so melwrap forgets it afterwards.
pub fn run_interactive(
    bwrap: &Path,
    args: &[OsString],
    child_setup: &ChildSetup,
) -> io::Result<StepOutcome> {
    let start = Instant::now();
    let before = SIGNALLED.load(Ordering::SeqCst);
    let mut command = Command::new(bwrap);
    command.args(args).env_clear().env("LANG", "C");
    let setup = child_setup.clone();
    let mut scratch = setup.scratch();
    // SAFETY: as in `run`: system calls only, no allocation.
    unsafe {
        command.pre_exec(move || {
            setup.apply(&mut scratch)?;
            prepare_child_fds(None)
        });
    }
    let status = command.status()?;
    if before == 0 {
        let _ = SIGNALLED.compare_exchange(libc::SIGINT, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
    let status = match (status.code(), status.signal()) {
        (Some(code), _) => status_from_code(code),
        (None, Some(sig)) => Status::Signaled(sig),
        (None, None) => Status::Exited(1),
    };
    Ok(StepOutcome {
        status,
        duration: start.elapsed(),
        started: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_above_128_are_signals() {
        assert_eq!(status_from_code(0), Status::Exited(0));
        assert_eq!(status_from_code(1), Status::Exited(1));
        assert_eq!(status_from_code(137), Status::Signaled(9));
        assert_eq!(status_from_code(255), Status::Exited(255));
        assert_eq!(
            Status::Signaled(9).to_string(),
            "killed by SIGKILL (exit status 137)"
        );
        assert_eq!(Status::Interrupted(2).to_string(), "interrupted by SIGINT");
        assert_eq!(exit_code_for_signal(libc::SIGTERM), 143);
    }
}
