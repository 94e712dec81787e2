//! The bubblewrap sandbox: one plan step becomes one `bwrap` process.
//!
//! The module is split by what touches the system:
//!
//! | file | owns | I/O |
//! |---|---|---|
//! | [`path`] | [`HostPath`], [`GuestPath`], [`Rootfs`] (a leaf) | none |
//! | [`arg`] | [`Arg`]: one bwrap operation, [`to_argv`], [`display_command`] | none |
//! | [`spec`] | [`SandboxConfig`], [`bwrap_args`], [`interactive_args`] | none |
//! | [`host`] | [`HostDefaults`]: the identity, limits and resolv.conf a config starts from | reads the host |
//! | [`root`] | the guest root: which host entries appear where, and splicing around read-only dirs | only through a [`RootTree`] passed in |
//! | [`env`](mod@env) | the CA-bundle variables (the step environment's layers are [`crate::guest::env`]) | none |
//! | [`shell`] | [`StepCommand`], the step wrapper (semantics 3.6) and which shell runs it | [`shell_for`] looks at the rootfs |
//! | [`prepare`] | [`Sandbox`]: a checked config plus a snapshot of the rootfs | reads the rootfs once |
//! | [`probe`] | finding `bwrap` and checking it works, with hints | spawns `bwrap` |
//! | [`caps`] | `capabilities: {add, drop}` names as bwrap's, checked against the kernel | reads `cap_last_cap` |
//! | [`build_ids`] | [`Identity`] and the unprivileged host ids a root build's steps run as | reads `$MELWRAP_BUILD_UID` |
//! | [`child`] | bwrap's process before exec: staged bind sources, build ids, keyring, limits | system calls in the child |
//! | [`overlay`] | [`GuestOverlay`]: a guest's per-build writable root (kernel overlayfs) | `mount` in the child |
//! | [`limits`] | `--pids` and `--memory` as rlimits | `setrlimit` in the child |
//! | [`run`] | spawning one sandbox, streaming its output, timeouts and signals | spawns `bwrap` |
//! | [`output`] | reading a step's output with bounded memory: filtered, split into lines | reads the pipes |
//! | [`termfilter`] | [`termfilter::TermFilter`]: drops control sequences that act on a terminal | none |
//! | [`pty`] | the `--interactive` shell on its own pseudo-terminal, relayed and filtered | spawns `bwrap`, owns the terminal meanwhile |
//! | [`sink`] | where output lines go ([`run::VecSink`], [`run::TailSink`]) | none |
//!
//! A build uses it like this (error handling elided):
//!
//! ```no_run
//! use melwrap::sandbox::*;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bwrap = probe::probe()?;                       // once per process
//! run::install_signal_handlers();
//! let config = SandboxConfig::new(Rootfs::Host, HostPath::new("/tmp/ws")?, &HostDefaults::read());
//! let sandbox = Sandbox::prepare(config)?;           // reads the rootfs once
//! let shell = sandbox.shell();
//! let env = step_environment(&Default::default(), &Default::default(), &sandbox.env_defaults());
//! let step = StepCommand::script(&shell, GuestPath::new(melwrap::guest::WORKSPACE)?, "make", env, false);
//! let launch = sandbox.launch(&step);                 // arguments plus the child's setup
//! let mut sink = run::VecSink::default();
//! let outcome = run::run(&bwrap.path, &launch.args, &launch.child, &mut sink, run::RunLimits::default())?;
//! if !outcome.success() { /* report outcome and sink's last lines */ }
//! # Ok(()) }
//! ```

pub mod arg;
pub mod build_ids;
pub mod caps;
pub mod child;
pub mod env;
pub mod host;
pub mod limits;
pub mod output;
pub mod overlay;
pub mod path;
pub mod prepare;
pub mod probe;
pub mod pty;
pub mod root;
pub mod run;
pub mod shell;
pub mod sink;
pub mod spec;
pub mod termfilter;

pub use crate::guest::env::{DEFAULT_PATH, step_environment};
pub use arg::{Arg, Namespace, STATUS_FD, display_command, to_argv};
pub use build_ids::{BUILD_UID_ENV, BuildIds, DEFAULT_BUILD_ID, Identity};
pub use child::ChildSetup;
pub use env::{CA_GUEST_PATH, CA_VARIABLES, ca_bundle_env};
pub use host::{HostDefaults, host_resolv_conf};
pub use limits::Resources;
pub use overlay::GuestOverlay;
pub use path::{GuestPath, HostPath, PathError, Rootfs};
pub use prepare::{Launch, Sandbox, SandboxError, resolve_ca_bundle};
pub use root::{MemTree, RootTree};
pub use shell::{StepCommand, shell_for, wrap_script};
pub use spec::{SandboxConfig, bwrap_args, interactive_args};

// Imports among these files point one way: `path` and `arg` are leaves, `spec` builds on
// them, `root`, `shell` and `host`, and `prepare` on `spec` (no cycles).
