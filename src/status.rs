//! How a run ends: the library's outcome, which the CLI turns into the process exit code.

/// How melwrap ends. Listed in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything asked for was done.
    Success = 0,
    /// A build step or test failed (the build ran and failed).
    Failure = 1,
    /// Bad input or an unusable environment: nothing ran.
    BadInput = 2,
    /// Interrupted by SIGINT (Ctrl-C).
    Interrupted = 130,
    /// Stopped by SIGTERM.
    Terminated = 143,
}

/// An error that carries the exit status it should end the process with.
#[derive(Debug)]
pub struct StatusError(pub ExitStatus, pub String);

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for StatusError {}
