//! What downloads show: on a terminal one line redrawn at most every 150 ms (`fetching
//! packages: 3/10, 1.2 / 5.0 MiB`), erased at the end; otherwise (logs, pipes, `CI=true`) a
//! plain line per finished file through the [`Printer`].

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::printer::Printer;

/// A progress display shared by the download threads.
#[derive(Debug)]
pub struct Downloads {
    label: String,
    printer: Printer,
    live: bool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    files_done: usize,
    files_total: usize,
    bytes_done: u64,
    bytes_total: u64,
    last: Option<Instant>,
    drawn: bool,
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

impl Downloads {
    /// A display for `files` downloads of `bytes` in all (0 when unknown).
    pub fn new(label: &str, printer: Printer, files: usize, bytes: u64) -> Downloads {
        let live = crate::apk::progress::enabled()
            && printer.verbosity >= crate::printer::Verbosity::Normal;
        Downloads {
            label: label.to_string(),
            printer,
            live,
            state: Mutex::new(State {
                files_done: 0,
                files_total: files,
                bytes_done: 0,
                bytes_total: bytes,
                last: None,
                drawn: false,
            }),
        }
    }

    /// `n` more bytes arrived.
    pub fn bytes(&self, n: u64) {
        let mut s = self.state.lock().unwrap();
        s.bytes_done += n;
        self.draw(&mut s, false);
    }

    /// One file is done (`what` names it for the plain line); `cached`: nothing was
    /// downloaded, its `size` bytes count as done.
    pub fn file_done(&self, what: &str, size: u64, cached: bool) {
        let mut s = self.state.lock().unwrap();
        s.files_done += 1;
        if cached {
            s.bytes_done += size;
        }
        if self.live {
            self.draw(&mut s, true);
        } else if cached {
            self.printer.detail(format!("using {what} (cached)"));
        } else {
            self.printer
                .detail(format!("fetched {what} ({:.1} MiB)", mib(size)));
        }
    }

    fn draw(&self, s: &mut State, force: bool) {
        if !self.live {
            return;
        }
        let now = Instant::now();
        if !force
            && s.last
                .is_some_and(|t| now.duration_since(t) < Duration::from_millis(150))
        {
            return;
        }
        s.last = Some(now);
        s.drawn = true;
        let total = if s.bytes_total > 0 {
            format!(" / {:.1}", mib(s.bytes_total))
        } else {
            String::new()
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{}: {}/{}, {:.1}{total} MiB",
            self.label,
            s.files_done,
            s.files_total,
            mib(s.bytes_done)
        );
        let _ = err.flush();
    }

    /// Erase the live line.
    pub fn finish(&self) {
        let mut s = self.state.lock().unwrap();
        if self.live && s.drawn {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            s.drawn = false;
        }
    }
}

impl Drop for Downloads {
    fn drop(&mut self) {
        self.finish();
    }
}
