//! Flags `melwrap build` and `melwrap test` both take, defined once and flattened into each
//! command's `Args`. Help texts are `build`'s; `test` rewords the sandbox ones where its
//! meaning differs (see `cli/test.rs`). Each group is flattened where its flags stood, so
//! both `--help` outputs list the flags in the same order as before.

use std::path::PathBuf;

use crate::inputs::PlanInputs;
use crate::session::{Limits, SessionOptions};

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

    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Who steps run as when melwrap is root, and their resource limits.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LimitArgs {
    /// When run as root: the unprivileged host uid (and gid) steps run as, mapped to uid 0
    /// inside [default: 1879048192, i.e. 0x70000000, for both].
    #[arg(
        long,
        env = "MELWRAP_BUILD_UID",
        value_name = "UID[:GID]",
        help_heading = "Sandbox"
    )]
    pub build_uid: Option<String>,

    /// Most processes and threads a step may have (RLIMIT_NPROC of its host uid) [default:
    /// 16384 as root, none otherwise].
    #[arg(long, value_name = "N", help_heading = "Sandbox")]
    pub pids: Option<String>,

    /// Most memory each step process may allocate (RLIMIT_DATA), like 4G or 512M [default:
    /// none].
    #[arg(long, value_name = "SIZE", help_heading = "Sandbox")]
    pub memory: Option<String>,
}

impl ConfigArgs {
    /// The plan inputs these flags give (`--pipeline-dir`, `--env-file`).
    pub fn plan_inputs(&self) -> PlanInputs {
        PlanInputs {
            pipeline_dirs: self.pipeline_dirs.clone(),
            env_files: self.env_files.clone(),
            ..PlanInputs::default()
        }
    }
}

impl SandboxArgs {
    /// The session options these flags give; the directories are the command's own.
    pub fn session_options(self) -> SessionOptions {
        SessionOptions {
            network: !self.no_network,
            ca_bundle: self.ca_bundle,
            interactive: self.interactive,
            cleanup: true,
            limits: Limits {
                build_uid: self.limits.build_uid,
                pids: self.limits.pids,
                memory: self.limits.memory,
            },
            ..SessionOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::{parse_build, parse_test};

    /// `build` and `test` take melange's directory and rootfs defaults alike.
    #[test]
    fn build_and_test_share_melange_defaults() {
        let (build, test) = (parse_build(&[]), parse_test(&[]));
        for (cache_dir, out_dir, rootfs) in [
            (&build.cache_dir, &build.out_dir, &build.rootfs),
            (&test.cache_dir, &test.out_dir, &test.rootfs),
        ] {
            assert_eq!(cache_dir.to_str(), Some("./melange-cache"));
            assert_eq!(out_dir.to_str(), Some("./packages"));
            assert_eq!(rootfs, "auto");
        }
    }
}
