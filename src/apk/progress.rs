//! A one-line byte counter on stderr while a large destdir is packed.
//!
//! Shown only when stderr is a terminal and `CI` is not `true` (logs and pipes stay clean), and
//! only for destdirs with at least [`MIN_BYTES`] of content. Redrawn at most every 200 ms.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Smaller destdirs are packed too fast for a counter to help.
pub const MIN_BYTES: u64 = 64 << 20;

/// Whether progress lines may be drawn here.
pub fn enabled() -> bool {
    std::io::stderr().is_terminal() && std::env::var("CI").map(|v| v != "true").unwrap_or(true)
}

/// The counter for one package.
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    last: Option<Instant>,
    active: bool,
}

impl Progress {
    /// A counter for `total` bytes; inactive (silent) unless `show` and the total is large.
    pub fn new(label: &str, total: u64, show: bool) -> Progress {
        Progress {
            label: label.to_string(),
            total,
            done: 0,
            last: None,
            active: show && total >= MIN_BYTES,
        }
    }

    /// Count `n` more bytes packed.
    pub fn add(&mut self, n: u64) {
        self.done += n;
        if !self.active {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(now);
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2Kpackaging {}: {:.1} / {:.1} MiB",
            self.label,
            mib(self.done),
            mib(self.total)
        );
        let _ = err.flush();
    }

    /// Erase the line.
    pub fn finish(&mut self) {
        if self.active && self.last.is_some() {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
        self.active = false;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_or_hidden_counters_stay_silent() {
        let mut p = Progress::new("x", MIN_BYTES - 1, true);
        p.add(10);
        assert!(!p.active);
        let p = Progress::new("x", MIN_BYTES, false);
        assert!(!p.active);
        let p = Progress::new("x", MIN_BYTES, true);
        assert!(p.active);
    }
}
