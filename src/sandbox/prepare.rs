//! [`Sandbox`]: a [`SandboxConfig`] checked against the disk, with a snapshot of its rootfs.
//!
//! This is the one place the sandbox module reads the rootfs and the host paths a config
//! names. It happens once per build; every step's arguments are then computed from the
//! snapshot, without I/O, so all steps see the same guest layout.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::arg::{self, Arg};
use super::build_ids::Identity;
use super::child::{ChildSetup, Staging};
use super::env::{CA_BUNDLE_ENV, ca_bundle_env};
use super::limits::Resources;
use super::path::{GuestPath, HostPath, Rootfs};
use super::root::{LiveTree, MemTree, Node, RootTree};
use super::shell::StepCommand;
use super::spec::{self, SandboxConfig};

/// A sandbox problem found before anything ran, with the fix. melwrap exits 2 for these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxError {
    pub message: String,
    pub hint: Option<String>,
}

impl SandboxError {
    pub fn new(message: impl Into<String>) -> SandboxError {
        SandboxError {
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> SandboxError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SandboxError {}

/// A checked config and its rootfs snapshot: what a build holds while it runs steps.
#[derive(Debug, Clone)]
pub struct Sandbox {
    config: SandboxConfig,
    tree: MemTree,
    shell: Vec<String>,
    /// The bind sources, opened, for a root build (see [`super::child`]).
    staging: Option<Arc<Staging>>,
    resources: Resources,
    /// The namespaces holding the guest overlay, mounted once for the session.
    overlay: Option<Arc<super::overlay::OverlayNamespaces>>,
}

/// What [`super::run::run`] needs to start one sandbox: bwrap's arguments (bind sources
/// already staged for a root build) and how to set up its process.
#[derive(Debug, Clone)]
pub struct Launch {
    pub args: Vec<OsString>,
    pub child: ChildSetup,
}

impl Sandbox {
    /// Check that every host path the config names is usable and snapshot the rootfs.
    pub fn prepare(mut config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        require_dir(&config.workspace, "workspace")?;
        if let Some(overlay) = &config.overlay {
            // Generated guest files (`/etc/passwd`, `/etc/group`) become ordinary files of the
            // writable guest, as in melange's image, instead of read-only binds.
            let owner = match config.identity {
                Identity::Root(ids) => Some((ids.uid, ids.gid)),
                Identity::Build { .. } => None,
            };
            let files = std::mem::take(&mut config.ro_files);
            config.ro_files = overlay.seed(files, owner).map_err(|e| {
                SandboxError::new(format!("cannot write the guest's generated files: {e}"))
            })?;
        }
        if let Some(cache) = &config.cache {
            require_dir(cache, "cache dir")?;
        }
        if let Some(ca) = &config.ca_bundle {
            require_file(ca, "CA bundle")?;
        }
        for (src, _) in &config.extra_ro_binds {
            if fs_err::metadata(src.as_path()).is_err() {
                return Err(SandboxError::new(format!(
                    "cannot bind `{src}` into the sandbox: it does not exist"
                )));
            }
        }
        if let Rootfs::Dir(dir) = &config.rootfs {
            require_dir(dir, "rootfs")?;
        }
        let live = LiveTree::new(&config.rootfs);
        let tree = MemTree::record(&config.rootfs, &live, &config.mount_requests());
        if let Rootfs::Dir(dir) = &config.rootfs
            && !has_sh(&live)
        {
            return Err(SandboxError::new(format!(
                "rootfs `{dir}` has no /bin/sh to run steps with"
            ))
            .hint(
                "point --rootfs at an extracted root filesystem (for example an Alpine \
                 minirootfs or a Wolfi image) that contains a shell at /bin/sh",
            ));
        }
        let shell = super::shell::shell_for(&config.rootfs);
        let staging = match config.identity {
            Identity::Root(ids) => {
                let probe = StepCommand {
                    argv: Vec::new(),
                    env: Vec::new(),
                    workdir: GuestPath::root(),
                };
                let args = spec::bwrap_args(&config, &tree, &probe);
                let made_in_child = config.overlay.as_ref().map(|o| &o.mount_point);
                let mut staging = Staging::open(&args, ids, made_in_child)
                    .map_err(|e| SandboxError::new(e.to_string()))?;
                if let Some(o) = &config.overlay {
                    staging
                        .add_path_bind(&o.merged(), &o.mount_point)
                        .map_err(|e| SandboxError::new(e.to_string()))?;
                }
                Some(Arc::new(staging))
            }
            Identity::Build { .. } => None,
        };
        let resources = config.resources;
        let overlay = match &config.overlay {
            Some(o) => Some(Arc::new(mount_overlay(o)?)),
            None => None,
        };
        let sandbox = Sandbox {
            config,
            tree,
            shell,
            staging,
            resources,
            overlay,
        };
        Ok(sandbox)
    }

    pub fn resources(&self) -> Resources {
        self.resources
    }

    /// How bwrap's process is set up: as root, dropped to the build ids with the bind sources
    /// staged; always the `melwrap-steps` session keyring and the limits.
    pub fn child_setup(&self) -> ChildSetup {
        ChildSetup {
            drop_to: match self.config.identity {
                Identity::Root(ids) => Some(ids),
                Identity::Build { .. } => None,
            },
            staging: self.staging.clone(),
            overlay: self.overlay.clone(),
            resources: self.resources,
        }
    }

    /// Everything needed to run one step (see [`Sandbox::args`] for the arguments as shown).
    pub fn launch(&self, cmd: &StepCommand) -> Launch {
        self.launch_args(self.args(cmd))
    }

    /// Everything needed to run a debug shell after `failed`.
    pub fn launch_interactive(&self, failed: &StepCommand, term: Option<&str>) -> Launch {
        self.launch_args(self.interactive_args(failed, term))
    }

    fn launch_args(&self, mut args: Vec<Arg>) -> Launch {
        if let Some(staging) = &self.staging {
            staging.rewrite(&mut args);
        }
        Launch {
            args: arg::to_argv(&args),
            child: self.child_setup(),
        }
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The shell prefix steps run with (see [`super::shell_for`]), ending in `-c`.
    pub fn shell(&self) -> Vec<String> {
        self.shell.clone()
    }

    /// melwrap's environment defaults for every step: the CA variables when a CA bundle is
    /// configured. Pass them to [`super::step_environment`] as `defaults`.
    pub fn env_defaults(&self) -> Vec<(String, String)> {
        if self.config.ca_bundle.is_some() {
            ca_bundle_env()
        } else {
            Vec::new()
        }
    }

    /// The rootfs snapshot, for [`spec::bwrap_args`].
    pub fn tree(&self) -> &dyn RootTree {
        &self.tree
    }

    /// The bwrap arguments for one step, with host paths as bind sources (what `--dry-run`
    /// shows; [`Sandbox::launch`] is what runs).
    pub fn args(&self, cmd: &StepCommand) -> Vec<Arg> {
        spec::bwrap_args(&self.config, &self.tree, cmd)
    }

    /// The bwrap arguments for a debug shell after `failed` (see [`spec::interactive_args`]).
    pub fn interactive_args(&self, failed: &StepCommand, term: Option<&str>) -> Vec<Arg> {
        spec::interactive_args(&self.config, &self.tree, &self.shell, failed, term)
    }
}

/// Mount `overlay` once, in namespaces every step then enters: a kernel that refuses it is
/// said here, before any step, with what to do instead.
fn mount_overlay(
    overlay: &super::overlay::GuestOverlay,
) -> Result<super::overlay::OverlayNamespaces, SandboxError> {
    let refused = |e: String| {
        SandboxError::new(format!(
            "cannot mount the guest's writable overlay (lower layer `{}`): {e}",
            overlay.lower
        ))
        .hint(
            "guests need overlayfs, and a kernel that allows it in a user namespace when \
             melwrap is not root (Linux 5.11 or later, not disabled by the distribution); \
             pass --rootfs host to run the steps on the host's root instead",
        )
    };
    let spec = overlay.mount_spec().map_err(|e| refused(e.to_string()))?;
    super::overlay::OverlayNamespaces::create(&spec).map_err(|e| refused(e.to_string()))
}

fn require_dir(path: &HostPath, what: &str) -> Result<(), SandboxError> {
    match fs_err::metadata(path.as_path()) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(SandboxError::new(format!(
            "{what} `{path}` is not a directory"
        ))),
        Err(e) => Err(SandboxError::new(format!(
            "{what} `{path}` is not usable: {e}"
        ))),
    }
}

fn require_file(path: &HostPath, what: &str) -> Result<(), SandboxError> {
    match fs_err::metadata(path.as_path()) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(SandboxError::new(format!("{what} `{path}` is not a file"))),
        Err(e) => Err(SandboxError::new(format!(
            "{what} `{path}` is not usable: {e}"
        ))),
    }
}

/// Does the rootfs have `/bin/sh` (through its own symlinks, as the guest would see it)?
/// Whether `rootfs` has a `/bin/sh` (followed through the root's own links) to run steps.
pub fn has_shell(rootfs: &Rootfs) -> bool {
    has_sh(&LiveTree::new(rootfs))
}

fn has_sh(tree: &dyn RootTree) -> bool {
    let sh = GuestPath::new("/bin/sh").expect("absolute");
    super::root::resolve(tree, &sh).node == Node::File
}

/// The CA bundle for a build: `flag` (`--ca-bundle FILE`), else `$MELWRAP_CA_BUNDLE`, else
/// none. The file must exist; its real path is returned. A CA bundle is never picked up from
/// the host's own TLS settings (`SSL_CERT_FILE` and friends) without being asked for.
pub fn resolve_ca_bundle(flag: Option<&Path>) -> Result<Option<HostPath>, SandboxError> {
    let from_env = std::env::var_os(CA_BUNDLE_ENV).filter(|v| !v.is_empty());
    let (path, source) = match (flag, &from_env) {
        (Some(p), _) => (p.to_path_buf(), "--ca-bundle"),
        (None, Some(v)) => (v.into(), CA_BUNDLE_ENV),
        (None, None) => return Ok(None),
    };
    let real = fs_err::canonicalize(&path).map_err(|e| {
        SandboxError::new(format!("{source}: cannot use `{}`: {e}", path.display())).hint(
            "give the PEM file of CA certificates your TLS-intercepting proxy uses, \
             for example /etc/ssl/certs/ca-certificates.crt",
        )
    })?;
    if !real.is_file() {
        return Err(SandboxError::new(format!(
            "{source}: `{}` is not a file",
            path.display()
        )));
    }
    Ok(Some(
        HostPath::new(real).expect("canonical paths are absolute"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::HostDefaults;
    use crate::sandbox::build_ids::Identity;

    fn config(rootfs: Rootfs, ws: &Path) -> SandboxConfig {
        let mut c = SandboxConfig::new(rootfs, HostPath::new(ws).unwrap(), &HostDefaults::read());
        c.identity = Identity::Build {
            uid: 1000,
            gid: 1000,
        };
        c
    }

    #[test]
    fn missing_workspace_is_an_error() {
        let err = Sandbox::prepare(config(Rootfs::Host, Path::new("/nonexistent/ws")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("workspace `/nonexistent/ws`"), "{err}");
    }

    #[test]
    fn rootfs_without_sh_is_an_error_with_a_hint() {
        let root = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        let rootfs = Rootfs::Dir(HostPath::new(root.path()).unwrap());
        let err = Sandbox::prepare(config(rootfs, ws.path())).unwrap_err();
        assert!(err.message.contains("no /bin/sh"), "{err}");
        assert!(err.hint.is_some());
    }

    #[test]
    fn rootfs_sh_through_merged_usr_symlinks() {
        let root = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(root.path().join("usr/bin")).unwrap();
        fs_err::write(root.path().join("usr/bin/busybox"), "").unwrap();
        std::os::unix::fs::symlink("usr/bin", root.path().join("bin")).unwrap();
        std::os::unix::fs::symlink("/usr/bin/busybox", root.path().join("usr/bin/sh")).unwrap();
        let rootfs = Rootfs::Dir(HostPath::new(root.path()).unwrap());
        let sandbox = Sandbox::prepare(config(rootfs, ws.path())).unwrap();
        assert_eq!(sandbox.shell(), ["/bin/sh", "-c"]);
    }

    #[test]
    fn ca_bundle_must_exist_and_env_defaults_follow_it() {
        let ws = tempfile::tempdir().unwrap();
        let err = resolve_ca_bundle(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(err.message.starts_with("--ca-bundle"), "{err}");
        let ca = ws.path().join("ca.pem");
        fs_err::write(&ca, "pem").unwrap();
        let found = resolve_ca_bundle(Some(&ca)).unwrap().unwrap();
        let mut c = config(Rootfs::Host, ws.path());
        c.ca_bundle = Some(found);
        let sandbox = Sandbox::prepare(c).unwrap();
        assert_eq!(sandbox.env_defaults(), ca_bundle_env());
    }

    #[test]
    fn an_overlay_the_kernel_refuses_is_an_error_naming_rootfs_host() {
        let root = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(root.path().join("bin")).unwrap();
        fs_err::write(root.path().join("bin/sh"), "").unwrap();
        // No upper/ or work/ in the scratch dir: the mount fails in the probe.
        fs_err::create_dir(scratch.path().join("root")).unwrap();
        let lower = HostPath::new(root.path()).unwrap();
        let mut c = config(Rootfs::Dir(lower.clone()), ws.path());
        c.overlay = Some(
            crate::sandbox::GuestOverlay::new(
                lower,
                HostPath::new(scratch.path()).unwrap(),
                c.identity,
            )
            .unwrap(),
        );
        let err = Sandbox::prepare(c).unwrap_err();
        assert!(
            err.message
                .contains("cannot mount the guest's writable overlay"),
            "{err}"
        );
        assert!(err.hint.unwrap().contains("--rootfs host"));
    }
}
