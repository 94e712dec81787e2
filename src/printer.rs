//! What melwrap tells people on stderr. stdout is reserved for data (`compile`, `--dry-run`).
//!
//! One `Printer` decides what is shown for a verbosity and whether to use colour (only on a
//! terminal, never with `NO_COLOR` set or with `TERM=dumb`).
//!
//! Everything it prints passes through the terminal filter ([`TermFilter`], log mode): step
//! output is filtered where it is read already, but step names, package names and paths come
//! from the config, which is as untrusted as the steps, and a YAML string can hold an escape.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::sandbox::termfilter::{Mode, TermFilter};

/// How much to print on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
    Debug,
}

impl Verbosity {
    pub fn from_flags(verbose: u8, quiet: bool) -> Self {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            (false, 1) => Verbosity::Verbose,
            (false, _) => Verbosity::Debug,
        }
    }
}

/// Stderr printer shared by the commands.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub verbosity: Verbosity,
    color: bool,
}

impl Printer {
    pub fn new(verbosity: Verbosity) -> Self {
        let color = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
        Printer { verbosity, color }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn emit(&self, line: &str) {
        let mut clean = TermFilter::clean(Mode::Log, line.as_bytes());
        clean.push(b'\n');
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(&clean);
    }

    /// A normal progress message.
    pub fn info(&self, msg: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Normal {
            self.emit(msg.as_ref());
        }
    }

    /// Detail shown with `-v`.
    pub fn detail(&self, msg: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Verbose {
            self.emit(msg.as_ref());
        }
    }

    /// A warning, shown unless `-q`.
    pub fn warn(&self, msg: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Normal {
            self.emit(&format!(
                "{} {}",
                self.paint("33;1", "warning:"),
                msg.as_ref()
            ));
        }
    }

    /// An error line, always shown.
    pub fn error(&self, msg: impl AsRef<str>) {
        self.emit(&format!(
            "{} {}",
            self.paint("31;1", "error:"),
            msg.as_ref()
        ));
    }

    /// A line shown even with `-q` (the output quoted by a failure report).
    pub fn raw(&self, line: &str) {
        self.emit(line);
    }

    /// The header printed when a step starts.
    pub fn step_start(&self, package: &str, index: usize, total: usize, label: &str, origin: &str) {
        if self.verbosity >= Verbosity::Normal {
            let head = self.paint("1", &format!("==> {package} [{index}/{total}] {label}"));
            self.emit(&format!("{head} ({origin})"));
        }
    }

    /// One line of a step's output.
    pub fn step_output(&self, line: &str, is_stderr: bool) {
        if self.verbosity >= Verbosity::Normal {
            let bar = if is_stderr {
                self.paint("33", "  |")
            } else {
                "  |".to_string()
            };
            self.emit(&format!("{bar} {line}"));
        }
    }

    /// The footer printed when a step ends.
    pub fn step_end(&self, ok: bool, status: &str, elapsed: Duration) {
        if self.verbosity >= Verbosity::Normal || !ok {
            let mark = if ok {
                self.paint("32", "ok")
            } else {
                self.paint("31;1", "FAILED")
            };
            self.emit(&format!(
                "<== {mark} {status} in {}",
                format_duration(elapsed)
            ));
        }
    }
}

/// `0.42s`, `12.3s`, `3m05s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.2}s")
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_millis(420)), "0.42s");
        assert_eq!(format_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m05s");
    }
}
