//! Running melwrap on a real pseudo-terminal the test owns: the test is the user's terminal.
//! It types input into the master side, reads everything melwrap and its children write,
//! and can look at the terminal itself afterwards (its settings, and input left queued in it).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::build::common::wait_until;

/// A process running with a pseudo-terminal as its controlling terminal and stdio.
pub struct PtySession {
    master: File,
    /// The test's own handle on the terminal (the side melwrap has as stdin/stdout/stderr).
    slave: File,
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
    settings_at_start: libc::termios,
}

/// How the session ended.
pub struct PtyEnd {
    pub code: Option<i32>,
    /// Every byte the terminal received.
    pub output: Vec<u8>,
    /// Input still queued in the terminal after the process exited: what the user's shell
    /// would read next.
    pub left_in_terminal: Vec<u8>,
    /// The terminal's settings differ from before the session (not restored).
    pub settings_changed: bool,
}

impl PtyEnd {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }
}

fn openpty(rows: u16, cols: u16) -> (File, File) {
    let mut master = -1;
    let mut slave = -1;
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors; termios may be null; size is a valid winsize.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty succeeded; both descriptors are new and ours.
    unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) }
}

fn termios_of(fd: &File) -> libc::termios {
    // SAFETY: a zeroed termios is valid for tcgetattr to fill.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(fd.as_raw_fd(), &mut t), 0);
        t
    }
}

fn same_settings(a: &libc::termios, b: &libc::termios) -> bool {
    a.c_iflag == b.c_iflag
        && a.c_oflag == b.c_oflag
        && a.c_cflag == b.c_cflag
        && a.c_lflag == b.c_lflag
        && a.c_cc == b.c_cc
}

impl PtySession {
    /// Start `cmd` in a new session whose controlling terminal is a new pty of `rows` x
    /// `cols`; stdin, stdout and stderr are the terminal.
    pub fn start(mut cmd: Command, rows: u16, cols: u16) -> PtySession {
        let (master, slave) = openpty(rows, cols);
        let io = |f: &File| Stdio::from(OwnedFd::from(f.try_clone().unwrap()));
        cmd.stdin(io(&slave)).stdout(io(&slave)).stderr(io(&slave));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let settings_at_start = termios_of(&slave);
        let child = cmd.spawn().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let mut master = master.try_clone().unwrap();
            let output = Arc::clone(&output);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let mut pfd = libc::pollfd {
                        fd: master.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd.
                    let n = unsafe { libc::poll(&mut pfd, 1, 100) };
                    if n > 0 {
                        match master.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => output.lock().unwrap().extend_from_slice(&buf[..n]),
                        }
                    } else if stop.load(Ordering::SeqCst) {
                        return;
                    }
                }
            })
        };
        PtySession {
            master,
            slave,
            child,
            output,
            stop,
            reader: Some(reader),
            settings_at_start,
        }
    }

    /// Type `text` (a newline is Enter).
    pub fn send(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
    }

    /// Wait (bounded) until the output contains `needle`; returns whether it did.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        wait_until(limit, || {
            String::from_utf8_lossy(&self.output.lock().unwrap()).contains(needle)
        })
    }

    /// Change the terminal's size, as a window resize does (the kernel sends SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize.
        assert_eq!(
            unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) },
            0
        );
    }

    /// The process id of what runs on the terminal.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The terminal's device number, to compare with what a process inside sees.
    pub fn device(&self) -> u64 {
        self.slave.metadata().unwrap().rdev()
    }

    /// Wait for the process to exit (killing it after `limit`) and collect everything.
    pub fn finish(mut self, limit: Duration) -> PtyEnd {
        let exited = wait_until(limit, || self.child.try_wait().unwrap().is_some());
        if !exited {
            let _ = self.child.kill();
        }
        let status = self.child.wait().unwrap();
        self.stop.store(true, Ordering::SeqCst);
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let settings_changed = !same_settings(&self.settings_at_start, &termios_of(&self.slave));
        // Whatever is queued for the terminal's reader now would go to the user's shell.
        let mut left = Vec::new();
        // SAFETY: fcntl on our own descriptor.
        unsafe {
            let fd = self.slave.as_raw_fd();
            libc::fcntl(
                fd,
                libc::F_SETFL,
                libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
            );
            // Non-canonical, so a partial line counts too.
            let mut t = termios_of(&self.slave);
            t.c_lflag &= !libc::ICANON;
            t.c_cc[libc::VMIN] = 0;
            t.c_cc[libc::VTIME] = 0;
            libc::tcsetattr(fd, libc::TCSANOW, &t);
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.slave.read(&mut buf) {
            if n == 0 {
                break;
            }
            left.extend_from_slice(&buf[..n]);
        }
        let output = std::mem::take(&mut *self.output.lock().unwrap());
        assert!(
            exited,
            "the session did not end:\n{}",
            String::from_utf8_lossy(&output)
        );
        PtyEnd {
            code: status.code(),
            output,
            left_in_terminal: left,
            settings_changed,
        }
    }
}

/// A `Command` for `argv` with the environment of `template` (melwrap as [`TestEnv`] sets it
/// up), plus `TERM`.
pub fn command_like(template: &Command) -> Command {
    let mut cmd = Command::new(template.get_program());
    cmd.args(template.get_args()).env_clear();
    for (k, v) in template.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    if let Some(dir) = template.get_current_dir() {
        cmd.current_dir(dir);
    }
    cmd.env("TERM", "xterm-256color");
    cmd
}
