//! Who a session's steps are: the `run-as` user, `/etc/passwd` and `/etc/group` from the
//! config's accounts, the user's home, and the config's capabilities, applied to a
//! [`SandboxConfig`]. The texts come from [`crate::guest::accounts`] (pure); this file reads
//! the root's own files, writes the generated ones to a private temporary directory (bound
//! read-only into the sandbox) and checks what bwrap and the kernel would refuse before any
//! step runs (exit 2).

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use color_eyre::eyre::{self, WrapErr};

use crate::config::model::{Accounts, Capabilities};
use crate::guest::accounts::{self, StepUser};
use crate::safefs::Dir;
use crate::sandbox::caps::{self, CapChanges};
use crate::sandbox::{GuestPath, HostPath, Rootfs, SandboxConfig};
use crate::status::{ExitStatus, StatusError};

/// The most of a root's `/etc/passwd` or `/etc/group` read (real ones are a few KB).
const MAX_ACCOUNTS_FILE: u64 = 1 << 20;

/// The accounts and capabilities of one environment (the build's, or one test's), ready to
/// apply to the sandboxes of its steps. Holds the generated files until dropped.
pub struct StepAccounts {
    user: Option<StepUser>,
    capabilities: CapChanges,
    files: tempfile::TempDir,
    home_tmpfs: Option<GuestPath>,
}

fn bad(message: String) -> eyre::Report {
    StatusError(ExitStatus::BadInput, message).into()
}

impl StepAccounts {
    /// For `written` (an environment's `accounts`, melange's defaults not yet added) and the
    /// config's `capabilities`, over `rootfs`, run by the bwrap at `bwrap`. `what` names the
    /// environment in messages (`environment.accounts`).
    pub fn prepare(
        what: &str,
        written: &Accounts,
        capabilities: &Capabilities,
        rootfs: &Rootfs,
        bwrap: &Path,
    ) -> eyre::Result<StepAccounts> {
        let effective = accounts::with_defaults(written);
        let user = accounts::run_as(&effective).map_err(|e| bad(format!("{what}.run-as: {e}")))?;
        let capabilities = CapChanges::from_config(&capabilities.add, &capabilities.drop)
            .map_err(|e| bad(format!("capabilities: {e}")))?;
        refused_capabilities(&capabilities, bwrap)?;
        let root = match rootfs {
            Rootfs::Host => Path::new("/"),
            Rootfs::Dir(dir) => dir.as_path(),
        };
        let root_dir = Dir::open_anchor(root)
            .wrap_err_with(|| format!("cannot open the root {}", root.display()))?;
        let passwd = accounts::passwd_text(&read_etc(&root_dir, "passwd"), &effective);
        let group = accounts::group_text(&read_etc(&root_dir, "group"), &effective);
        let files = tempfile::Builder::new()
            .prefix("melwrap-accounts-")
            .tempdir()
            .wrap_err("cannot create a temporary directory for /etc/passwd and /etc/group")?;
        // bwrap binds them as the build ids when melwrap is root: world-readable, as the
        // files they stand for are.
        fs_err::set_permissions(files.path(), std::fs::Permissions::from_mode(0o755))?;
        for (name, text) in [("passwd", &passwd), ("group", &group)] {
            let path = files.path().join(name);
            fs_err::write(&path, text)?;
            fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        }
        let home_tmpfs = match &user {
            Some(u) => missing_home(&root_dir, &u.home)?,
            None => None,
        };
        Ok(StepAccounts {
            user,
            capabilities,
            files,
            home_tmpfs,
        })
    }

    /// The run-as user's uid and gid, when the environment names one.
    pub fn step_ids(&self) -> Option<(u32, u32)> {
        self.user.as_ref().map(|u| (u.uid, u.gid))
    }

    /// Make `config`'s steps this user, with these capabilities, files and home.
    pub fn apply(&self, config: &mut SandboxConfig) -> eyre::Result<()> {
        config.step_ids = self.step_ids();
        config.capabilities = self.capabilities.clone();
        let guest = |p: &str| GuestPath::new(p).map_err(|e| eyre::eyre!("{e}"));
        config.ro_files = vec![
            (
                HostPath::new(self.files.path().join("passwd"))?,
                guest("/etc/passwd")?,
            ),
            (
                HostPath::new(self.files.path().join("group"))?,
                guest("/etc/group")?,
            ),
        ];
        config.extra_tmpfs = self.home_tmpfs.iter().cloned().collect();
        Ok(())
    }

    /// Keep the generated files on disk after this process (a `--dry-run` script names them).
    pub fn keep(self) -> std::path::PathBuf {
        self.files.keep()
    }
}

/// The root's `/etc/<name>` (a regular file, not followed through a link at its end), or
/// empty.
fn read_etc(root: &Dir, name: &str) -> String {
    let Ok(etc) = root.open_dir_in_root("etc") else {
        return String::new();
    };
    let Ok(file) = etc.open_file(name) else {
        return String::new();
    };
    let mut text = String::new();
    match file.take(MAX_ACCOUNTS_FILE).read_to_string(&mut text) {
        Ok(_) => text,
        Err(_) => String::new(),
    }
}

/// A fresh directory for `home` when the root has none there (apko creates it); `None` for
/// the workspace (the build user's home) and for a home the root has.
fn missing_home(root: &Dir, home: &str) -> eyre::Result<Option<GuestPath>> {
    let path = GuestPath::new(home).map_err(|e| bad(format!("home directory `{home}`: {e}")))?;
    let under =
        |base: &str| path.as_str() == base || path.as_str().starts_with(&format!("{base}/"));
    if under(crate::guest::WORKSPACE) || under("/tmp") || path.is_root() || home == "/dev/null" {
        return Ok(None);
    }
    let rel = path.as_str().trim_start_matches('/');
    match root.open_dir_in_root(rel) {
        Ok(_) => Ok(None),
        Err(_) => Ok(Some(path)),
    }
}

/// What bwrap or the kernel would refuse, said before any step runs (exit 2): `--cap-add`
/// with a setuid bwrap (only real root may), and capabilities newer than the kernel.
fn refused_capabilities(changes: &CapChanges, bwrap: &Path) -> eyre::Result<()> {
    if changes.add.is_empty() {
        return Ok(());
    }
    let setuid = std::fs::metadata(bwrap).is_ok_and(|m| m.permissions().mode() & 0o4000 != 0);
    if setuid {
        return Err(bad(format!(
            "capabilities.add: {} is setuid root, and a setuid bwrap gives capabilities only \
             to real root; melwrap runs steps unprivileged, so the capabilities cannot be \
             given (use a bwrap that is not setuid, with unprivileged user namespaces)",
            bwrap.display()
        )));
    }
    if let Some(last) = caps::kernel_last_cap() {
        let unknown = caps::unknown_to_kernel(changes, last);
        if !unknown.is_empty() {
            return Err(bad(format!(
                "capabilities.add: this kernel does not know {} (its last capability is number \
                 {last}): the sandbox cannot be given it",
                unknown.join(", ")
            )));
        }
    }
    Ok(())
}
