//! What one run of melwrap (or another program) did, with asserting helpers that print the
//! whole output when they fail.

use std::path::PathBuf;
use std::process::Output;

/// What one run did.
#[derive(Debug)]
pub struct Run {
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// What a finished `Command::output()` did.
    pub fn from_output(out: Output) -> Run {
        Run::from(out)
    }

    /// Exit code (-1 when a signal ended the process), stdout and stderr, for tests that
    /// destructure them.
    pub fn into_parts(self) -> (i32, String, String) {
        (self.code.unwrap_or(-1), self.stdout, self.stderr)
    }

    /// stdout then stderr: step output and melwrap's reports.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Panics with the whole output unless the program exited 0.
    #[track_caller]
    pub fn ok(&self) -> &Run {
        self.exit(0)
    }

    /// Panics with the whole output unless the program exited `code`, or if melwrap panicked.
    #[track_caller]
    pub fn exit(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "unexpected exit status:\n{self}");
        assert!(
            !self.stderr.contains("panicked"),
            "melwrap panicked:\n{self}"
        );
        self
    }

    /// Panics unless stdout or stderr has `needle`.
    #[track_caller]
    pub fn says(&self, needle: &str) -> &Run {
        assert!(
            self.output().contains(needle),
            "output lacks {needle:?}:\n{self}"
        );
        self
    }

    /// The path in `workspace kept for inspection: PATH`.
    pub fn kept_workspace(&self) -> Option<PathBuf> {
        self.stderr
            .lines()
            .find_map(|l| l.split("workspace kept for inspection: ").nth(1))
            .map(|p| PathBuf::from(p.trim()))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}
