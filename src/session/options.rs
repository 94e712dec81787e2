//! What a session is asked to do: the library's own options, which the CLI fills from flags.

use std::path::PathBuf;

/// The directories and sandbox settings of one run, shared by `build` and `test`.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Mounted read-write at /var/cache/melange (created when missing).
    pub cache_dir: PathBuf,
    /// Seed cache: entries missing from `cache_dir` are copied from here first.
    pub cache_source: Option<PathBuf>,
    /// Workspace root (the run uses `DIR/<arch>`), kept afterwards; default: a temporary one.
    pub workspace_dir: Option<PathBuf>,
    /// Where packages are written (build) or read (test); never copied into the workspace.
    pub out_dir: PathBuf,
    /// Guest root: `auto`, `apk`, `host` or a directory (see [`super::root`]).
    pub rootfs: String,
    /// Where an `auto` or `apk` guest's packages come from besides the config.
    pub guest: crate::repo::setup::GuestOptions,
    pub network: bool,
    /// Shown at the CA path of the guest and named by the TLS variables.
    pub ca_bundle: Option<PathBuf>,
    /// Open a shell in a failed step's sandbox.
    pub interactive: bool,
    /// Trace each step's commands (`set -x`).
    pub debug: bool,
    /// Remove a temporary workspace after success (melange's `--cleanup`); when false it is
    /// kept and named.
    pub cleanup: bool,
    pub limits: Limits,
}

/// Who steps run as when melwrap is root, and their resource limits, as the user wrote them
/// (checked by [`super::SandboxHost::resolve`]).
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// `UID[:GID]` of the build ids.
    pub build_uid: Option<String>,
    /// Most processes and threads a step may have.
    pub pids: Option<String>,
    /// Most memory each step process may allocate (4G, 512M).
    pub memory: Option<String>,
}

impl SessionOptions {
    /// Check the directories of the run before anything is created (see [`super::dirs`]):
    /// overlapping or system directories are bad input naming both paths.
    pub fn check_dirs(&self, named: &NamedPaths<'_>) -> Result<(), crate::diag::Diagnostic> {
        let rootfs = Some(std::path::Path::new(&self.rootfs))
            .filter(|_| super::root::is_directory(&self.rootfs));
        super::dirs::check_run(&super::dirs::RunPaths {
            source: named.source,
            cache: Some(&self.cache_dir),
            workspace: self.workspace_dir.as_deref(),
            out: Some(&self.out_dir),
            cache_source: self.cache_source.as_deref(),
            config: Some(named.config),
            pipeline_dirs: named.pipeline_dirs,
            env_files: named.env_files,
            signing_key: named.signing_key,
            ca_bundle: self.ca_bundle.as_deref(),
            rootfs,
            temporary_workspace: true,
        })
    }
}

/// The paths of a run that are not the session's own, for [`SessionOptions::check_dirs`].
pub struct NamedPaths<'a> {
    pub config: &'a std::path::Path,
    /// The source dir, and whether it was given with `--source-dir`.
    pub source: Option<(&'a std::path::Path, bool)>,
    pub pipeline_dirs: &'a [PathBuf],
    pub env_files: &'a [PathBuf],
    pub signing_key: Option<&'a std::path::Path>,
}
