//! The interactive debug shell (`--interactive`) on its own pseudo-terminal.
//!
//! The shell runs step-written code (the failed step's files, whatever the user runs there),
//! so it must not hold the user's terminal: with the user's terminal as its controlling
//! terminal, `ioctl(TIOCSTI)` pushes characters into the user's input, to be run by the user's
//! own shell after melwrap exits, and escape sequences reprogram the terminal. Instead:
//!
//! - melwrap opens a new pty; bwrap runs in a new session ([`libc::setsid`]) with the pty's
//!   slave side as its controlling terminal and stdio. The shell's job control, Ctrl-C and
//!   Ctrl-Z work on that pty; TIOCSTI from inside reaches only it.
//! - melwrap puts the user's terminal in raw mode (restored on the way out, whatever happens)
//!   and relays: keys from the user to the pty as they are, output from the pty to the user
//!   through [`TermFilter`] in [`Mode::Interactive`] (line editing passes, OSC, DCS, screen
//!   and mode changes do not). The window size is copied to the pty at the start and on every
//!   SIGWINCH.
//! - SIGTERM to melwrap ends the shell (SIGTERM, then SIGKILL after the grace time); a SIGINT
//!   sent to melwrap meanwhile is forgotten, as before (Ctrl-C typed at the keyboard is a byte
//!   for the shell's pty now, not a signal).

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::child::ChildSetup;
use super::run::{
    RunLimits, SIGNALLED, Status, StepOutcome, has_exited, pidfd_open, prepare_child_fds,
    signal_group, status_from_code,
};
use super::termfilter::{Mode, TermFilter};

/// Keys typed but not yet taken by the shell; reading the keyboard pauses beyond this.
const MAX_PENDING_INPUT: usize = 64 * 1024;

static WINDOW_CHANGED: AtomicBool = AtomicBool::new(false);

extern "C" fn note_window_change(_: libc::c_int) {
    WINDOW_CHANGED.store(true, Ordering::SeqCst);
}

/// Run an interactive debug shell (from [`super::interactive_args`]) on a new pty relayed to
/// melwrap's terminal (stdin and stdout). See the module doc.
pub fn run_interactive(
    bwrap: &Path,
    args: &[OsString],
    child_setup: &ChildSetup,
) -> io::Result<StepOutcome> {
    let start = Instant::now();
    let before = SIGNALLED.load(Ordering::SeqCst);
    // Before the size is read, so that no resize falls between the two.
    let winch = WinchHandler::install();
    let (master, slave) = open_pty(window_size(libc::STDIN_FILENO))?;
    let mut command = Command::new(bwrap);
    command.args(args).env_clear().env("LANG", "C");
    command
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    let setup = child_setup.clone();
    let mut scratch = setup.scratch();
    // SAFETY: the closure only calls async-signal-safe functions (setsid, ioctl, fcntl,
    // syscall, mount, setresuid) and writes to memory allocated before the fork.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            setup.apply(&mut scratch)?;
            prepare_child_fds(None)
        });
    }
    let mut child = command.spawn()?;
    // The slave's last copies in this process go with the Command: only the sandbox holds it.
    drop(command);
    let pid = child.id() as i32;
    let master = File::from(master);
    let stop = {
        let _raw = RawMode::enter(libc::STDIN_FILENO);
        relay(&master, pid, before == 0)
    };
    drop(winch);
    let status = child.wait()?;
    if before == 0 {
        let _ = SIGNALLED.compare_exchange(libc::SIGINT, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
    let status = match (stop, status.code(), status.signal()) {
        (Some(why), _, _) => why,
        (None, Some(code), _) => status_from_code(code),
        (None, None, Some(sig)) => Status::Signaled(sig),
        (None, None, None) => Status::Exited(1),
    };
    Ok(StepOutcome {
        status,
        duration: start.elapsed(),
        started: true,
    })
}

/// Copy between the user's terminal and the pty until bwrap exits. `forget_sigint`: no
/// interrupt was pending when the shell started, so a SIGINT now is the shell's. Returns
/// [`Status::Interrupted`] when SIGTERM made it end the shell.
fn relay(master: &File, pid: i32, forget_sigint: bool) -> Option<Status> {
    set_nonblocking(master.as_raw_fd());
    let bwrap_exited = pidfd_open(pid);
    let mut filter = TermFilter::new(Mode::Interactive);
    let mut to_user = Vec::new();
    let mut from_user: Vec<u8> = Vec::new();
    let mut keyboard_open = true;
    let mut master_open = true;
    let mut stop: Option<(Status, Instant)> = None;
    let mut sent_kill = false;
    let mut buf = vec![0u8; 16 * 1024];
    let grace = RunLimits::default().kill_grace;
    let mut master_file = master;
    let mut stdout = io::stdout().lock();
    loop {
        if WINDOW_CHANGED.swap(false, Ordering::SeqCst)
            && let Some(size) = window_size(libc::STDIN_FILENO)
        {
            // SAFETY: TIOCSWINSZ reads one winsize.
            unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        }
        // SIGINT is the shell's business (module doc); forgetting it at once also lets a
        // later SIGTERM register (the first signal wins the flag).
        if forget_sigint {
            let _ = SIGNALLED.compare_exchange(libc::SIGINT, 0, Ordering::SeqCst, Ordering::SeqCst);
        }
        match (super::run::interrupted(), stop) {
            (Some(libc::SIGTERM), None) => {
                signal_group(pid, libc::SIGTERM);
                stop = Some((Status::Interrupted(libc::SIGTERM), Instant::now()));
            }
            (_, Some((_, since))) if !sent_kill && since.elapsed() >= grace => {
                signal_group(pid, libc::SIGKILL);
                sent_kill = true;
            }
            _ => {}
        }
        if has_exited(pid) {
            // Whatever the shell wrote last is still in the pty.
            if master_open {
                while let Ok(n) = master_file.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    to_user.clear();
                    filter.feed(&buf[..n], &mut to_user);
                    let _ = stdout.write_all(&to_user);
                }
            }
            let _ = stdout.flush();
            return stop.map(|(why, _)| why);
        }
        let want_keys = keyboard_open && from_user.len() < MAX_PENDING_INPUT;
        let mut fds = [
            // Not polled at all when not wanted: a hung-up stdin would wake poll every time.
            pollfd(
                if want_keys { libc::STDIN_FILENO } else { -1 },
                libc::POLLIN,
            ),
            pollfd(
                // Once the pty has hung up it would wake poll at once, every time.
                if master_open { master.as_raw_fd() } else { -1 },
                if from_user.is_empty() {
                    libc::POLLIN
                } else {
                    libc::POLLIN | libc::POLLOUT
                },
            ),
            pollfd(
                bwrap_exited.as_ref().map_or(-1, |fd| fd.as_raw_fd()),
                libc::POLLIN,
            ),
        ];
        // SAFETY: fds is a valid array of pollfds (a negative fd is ignored).
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 200) };
        if ready <= 0 {
            continue;
        }
        if fds[0].revents != 0 {
            // SAFETY: reading into our buffer from stdin.
            let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
            match n {
                n if n > 0 => from_user.extend_from_slice(&buf[..n as usize]),
                0 => keyboard_open = false,
                _ if !retry(&io::Error::last_os_error()) => keyboard_open = false,
                _ => {}
            }
        }
        if fds[1].revents & libc::POLLOUT != 0 {
            match master_file.write(&from_user) {
                Ok(n) => {
                    from_user.drain(..n);
                }
                Err(e) if retry(&e) => {}
                Err(_) => from_user.clear(),
            }
        }
        if fds[1].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            match master_file.read(&mut buf) {
                Ok(0) => master_open = false,
                Ok(n) => {
                    to_user.clear();
                    filter.feed(&buf[..n], &mut to_user);
                    let _ = stdout.write_all(&to_user);
                    let _ = stdout.flush();
                }
                Err(e) if retry(&e) => {}
                // EIO: every copy of the slave is closed; bwrap is about to be gone.
                Err(_) => master_open = false,
            }
        }
    }
}

fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
    )
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor this process owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// A new pseudo-terminal (master, slave), both close-on-exec, of `size` if given.
fn open_pty(size: Option<libc::winsize>) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut master: RawFd = -1;
    let mut slave: RawFd = -1;
    let size_ptr = size
        .as_ref()
        .map_or(std::ptr::null(), |s| s as *const libc::winsize);
    // SAFETY: openpty writes two descriptors; a null name and termios are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            size_ptr,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openpty succeeded; both descriptors are new and owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&master, &slave] {
        // SAFETY: fcntl on descriptors owned here.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok((master, slave))
}

fn window_size(fd: RawFd) -> Option<libc::winsize> {
    // SAFETY: a zeroed winsize is valid; TIOCGWINSZ writes one.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        (libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) == 0).then_some(size)
    }
}

/// The user's terminal in raw mode (keys go to the pty unprocessed: Ctrl-C is the shell's),
/// restored when dropped. Nothing when stdin is not a terminal.
struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    fn enter(fd: RawFd) -> Option<RawMode> {
        // SAFETY: a zeroed termios is valid for tcgetattr to fill; cfmakeraw edits a copy.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            // TCSANOW, not TCSAFLUSH: keys typed before the shell started are for the shell.
            if libc::tcsetattr(fd, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            Some(RawMode { fd, saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enter` on the same descriptor.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// SIGWINCH sets [`WINDOW_CHANGED`] while this lives; the previous disposition comes back
/// when it is dropped.
struct WinchHandler {
    previous: libc::sigaction,
}

impl WinchHandler {
    fn install() -> WinchHandler {
        // SAFETY: a zeroed sigaction is valid; the handler only stores to an atomic.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = note_window_change as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGWINCH, &action, &mut previous);
            WinchHandler { previous }
        }
    }
}

impl Drop for WinchHandler {
    fn drop(&mut self) {
        // SAFETY: puts back the disposition saved by `install`.
        unsafe { libc::sigaction(libc::SIGWINCH, &self.previous, std::ptr::null_mut()) };
    }
}
