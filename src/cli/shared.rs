//! Flags `melwrap build` and `melwrap test` both take, defined once and flattened into each
//! command's `Args`. Help texts are `build`'s; `test` rewords the sandbox ones where its
//! meaning differs (see `cli/test.rs`). Each group is flattened where its flags stood, so
//! both `--help` outputs list the flags in the same order as before.

use std::path::PathBuf;

/// The build file and what it is compiled with: the positional config, `--pipeline-dir` and
/// `--env-file`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// The build file. Default: the first of .melange.yaml, .melange.yml, melange.yaml,
    /// melange.yml in the current directory.
    pub config: Option<PathBuf>,

    /// Directory searched for `uses:` pipelines before the built-ins (repeatable).
    #[arg(long = "pipeline-dir", alias = "pipeline-dirs", value_name = "DIR")]
    pub pipeline_dirs: Vec<PathBuf>,

    /// dotenv file merged into environment.environment (repeatable; the YAML wins).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
}

/// The step sandbox's network, CA bundle and interactive-shell flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SandboxArgs {
    /// Give steps no network at all.
    #[arg(long, help_heading = "Sandbox")]
    pub no_network: bool,

    /// CA bundle for TLS inside the sandbox (for TLS-intercepting proxies). Shown at
    /// /etc/ssl/certs/ca-certificates.crt and named by SSL_CERT_FILE and friends.
    #[arg(
        long,
        env = "MELWRAP_CA_BUNDLE",
        value_name = "FILE",
        help_heading = "Sandbox"
    )]
    pub ca_bundle: Option<PathBuf>,

    /// On a failing step, open a shell in the same sandbox (exit 0 from it continues).
    #[arg(short, long, help_heading = "Sandbox")]
    pub interactive: bool,
}
