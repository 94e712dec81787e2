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
//! An interactive debug shell ([`super::pty::run_interactive`]) is the exception: it
//! runs on its own pseudo-terminal in its own session, Ctrl-C there belongs to the shell, and
//! melwrap forgets any SIGINT that arrives while it runs (as melange ignores SIGINT then).
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
use std::io::{self, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::arg::STATUS_FD;
use super::child::ChildSetup;
use super::output::{CHANNEL_LINES, Msg, spawn_reader};

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

pub(super) static SIGNALLED: AtomicI32 = AtomicI32::new(0);

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

/// Run `bwrap` with `args` (from [`super::Sandbox::launch`]), its process set up as `child`
/// says, stdin empty, stdout and stderr streamed
/// to `sink` (filtered and split into lines by [`super::output`]). bwrap runs with an empty
/// environment apart from `LANG=C`; the step's own environment is in `args`. Returns when the
/// sandbox and every process in it are gone.
///
/// The timeout and interrupts are enforced by a supervisor thread, not by the loop that
/// writes to `sink`: a sink that blocks (melwrap's stderr is a pipe nobody reads) holds up
/// the output, and through the bounded channel the step, but never the kill.
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

    let (tx, rx) = mpsc::sync_channel(CHANNEL_LINES);
    spawn_reader(
        child.stdout.take().expect("piped"),
        Stream::Stdout,
        tx.clone(),
    );
    spawn_reader(
        child.stderr.take().expect("piped"),
        Stream::Stderr,
        tx.clone(),
    );
    let sandbox = Arc::new(Mutex::new(SandboxStatus::default()));
    spawn_status_reader(File::from(status_read), Arc::clone(&sandbox), tx);
    let supervisor = {
        let pid = child.id() as i32;
        let sandbox = Arc::clone(&sandbox);
        let deadline = limits.timeout.map(|t| start + t);
        std::thread::spawn(move || supervise(pid, deadline, limits.kill_grace, &sandbox))
    };

    // Pass output on until every reader is done (stdout, stderr, status). Once bwrap has
    // exited, stop after 5 s without news: nothing in the sandbox outlives bwrap, but a
    // descriptor could. (Measured from the last message, not from the exit: a slow sink may
    // still be working through the last, bounded, stretch of output.)
    let mut open = 3;
    let mut last_news = Instant::now();
    while open > 0 {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Msg::Line(stream, line)) => sink.line(stream, &line),
            Ok(Msg::Done) => open -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if supervisor.is_finished() && last_news.elapsed() >= Duration::from_secs(5) {
                    break;
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        last_news = Instant::now();
    }
    let stop = supervisor.join().unwrap_or(None);
    let status = child.wait()?;
    let sandbox = sandbox.lock().unwrap_or_else(|e| e.into_inner());
    Ok(finish(status, stop, &sandbox, start.elapsed()))
}

/// What bwrap's status pipe has said so far.
#[derive(Default)]
struct SandboxStatus {
    child_pid: Option<i32>,
    exit_code: Option<i32>,
    /// The sandbox's PID 1, opened as soon as bwrap names it (before it can be reused).
    pidfd: Option<OwnedFd>,
}

/// Watch bwrap until it exits, without reaping it (the caller does, so its process group id
/// cannot be reused while this thread may still signal it). Sends SIGTERM then SIGKILL on an
/// interrupt, SIGKILL at the deadline. Returns why it stopped the sandbox, if it did, after
/// waiting until the sandbox's PID 1 is gone.
fn supervise(
    pid: i32,
    deadline: Option<Instant>,
    kill_grace: Duration,
    sandbox: &Mutex<SandboxStatus>,
) -> Option<Status> {
    // Readable once bwrap has exited: wakes the loop the moment it does.
    let bwrap_exited = pidfd_open(pid);
    let mut stop: Option<(Status, Instant)> = None;
    let mut interrupt_seen: Option<Instant> = None;
    let mut sent_kill = false;
    while !has_exited(pid) {
        if stop.is_none() {
            if let Some(sig) = interrupted() {
                // Not before bwrap has named its child (or 5 s have gone by): killed earlier,
                // bwrap can die before its child has armed its parent-death signal, and the
                // child would carry on with the step, orphaned. Once named, the child (the
                // sandbox's PID 1) is killed too, and with it the whole PID namespace.
                let since = *interrupt_seen.get_or_insert_with(Instant::now);
                let named = {
                    let state = sandbox.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(fd) = &state.pidfd {
                        pidfd_kill(fd);
                    }
                    state.child_pid.is_some() || state.exit_code.is_some()
                };
                if named || since.elapsed() >= Duration::from_secs(5) {
                    signal_group(pid, libc::SIGTERM);
                    stop = Some((Status::Interrupted(sig), Instant::now()));
                }
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                if let Some(fd) = &sandbox.lock().unwrap_or_else(|e| e.into_inner()).pidfd {
                    pidfd_kill(fd);
                }
                signal_group(pid, libc::SIGKILL);
                sent_kill = true;
                stop = Some((Status::TimedOut, Instant::now()));
            }
        } else if let Some((_, since)) = stop
            && !sent_kill
            && since.elapsed() >= kill_grace
        {
            signal_group(pid, libc::SIGKILL);
            sent_kill = true;
        }
        match &bwrap_exited {
            Some(fd) => {
                wait_readable(fd, Duration::from_millis(50));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    if stop.is_some() {
        // bwrap's child, the sandbox's PID 1, normally dies with bwrap (--die-with-parent),
        // but a signal that lands while bwrap is still setting up can kill bwrap before its
        // child has armed that: the child then lives on, orphaned, with the step. So wait
        // for bwrap's report of its child (the status reader may still be on its way), and
        // kill that PID 1 (and with it the whole PID namespace) if it outlives bwrap.
        let pidfd = take_sandbox_pidfd(sandbox, Duration::from_secs(2));
        if let Some(fd) = pidfd {
            if !wait_readable(&fd, Duration::from_millis(500)) {
                pidfd_kill(&fd);
            }
            // The namespace's PID 1 dies last, after every process in it.
            let _ = wait_readable(&fd, Duration::from_secs(10));
        }
    }
    stop.map(|(why, _)| why)
}

/// Whether `pid` (a child of this process) has exited, leaving it unreaped.
pub(super) fn has_exited(pid: i32) -> bool {
    // SAFETY: a zeroed siginfo_t is valid; waitid writes at most one into it.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) != 0 {
            // ECHILD: already reaped, which only the caller does after this thread ends.
            return true;
        }
        info.si_pid() != 0
    }
}

fn finish(
    status: std::process::ExitStatus,
    stop: Option<Status>,
    sandbox: &SandboxStatus,
    duration: Duration,
) -> StepOutcome {
    let (status, started) = match (stop, sandbox.exit_code) {
        (Some(why), _) => (why, sandbox.child_pid.is_some()),
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
pub(super) fn status_from_code(code: i32) -> Status {
    if (129..=192).contains(&code) {
        Status::Signaled(code - 128)
    } else {
        Status::Exited(code)
    }
}

pub(super) fn signal_group(pid: i32, sig: i32) {
    // bwrap leads its own process group (process_group(0)), and has not been reaped yet, so
    // the group id cannot have been reused.
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(-pid, sig);
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
pub(super) fn prepare_child_fds(status: Option<RawFd>) -> io::Result<()> {
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

/// bwrap writes one JSON object per event: `{ "child-pid": N, ... }` when the sandbox exists,
/// `{ "exit-code": N }` when the command has ended.
fn spawn_status_reader(pipe: File, sandbox: Arc<Mutex<SandboxStatus>>, tx: mpsc::SyncSender<Msg>) {
    std::thread::spawn(move || {
        // Bounded: bwrap writes two small objects; anything longer is not bwrap's.
        let values = serde_json::Deserializer::from_reader(BufReader::new(pipe.take(64 * 1024)))
            .into_iter::<serde_json::Value>();
        for value in values {
            let Ok(value) = value else { break };
            let field = |name: &str| value.get(name).and_then(|v| v.as_i64());
            let mut state = sandbox.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(pid) = field("child-pid") {
                state.child_pid = Some(pid as i32);
                state.pidfd = pidfd_open(pid as i32);
            }
            if let Some(code) = field("exit-code") {
                state.exit_code = Some(code as i32);
            }
        }
        let _ = tx.send(Msg::Done);
    });
}

pub(super) fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The sandbox's PID 1 as bwrap reported it, waiting up to `limit` for the report (bwrap
/// writes it first thing after starting its child; none comes when bwrap never got there).
fn take_sandbox_pidfd(sandbox: &Mutex<SandboxStatus>, limit: Duration) -> Option<OwnedFd> {
    let until = Instant::now() + limit;
    loop {
        let mut state = sandbox.lock().unwrap_or_else(|e| e.into_inner());
        if state.pidfd.is_some() || state.exit_code.is_some() || Instant::now() >= until {
            return state.pidfd.take();
        }
        drop(state);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGKILL the process behind a pidfd (a no-op once it has exited).
fn pidfd_kill(fd: &OwnedFd) {
    // SAFETY: pidfd_send_signal takes a descriptor, a signal, a null siginfo and no flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}

/// Wait until `fd` is readable (a pidfd is readable once its process has exited); whether it
/// became readable within `limit`.
fn wait_readable(fd: &OwnedFd, limit: Duration) -> bool {
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
            return n > 0;
        }
    }
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
