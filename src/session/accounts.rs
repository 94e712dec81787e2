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

    /// For `-v`: `steps run as uid 12345 gid 12346 (run-as), capabilities: CAP_NET_ADMIN`.
    pub fn describe(&self) -> String {
        let who = match &self.user {
            Some(u) => format!("uid {} gid {} (run-as)", u.uid, u.gid),
            None => "the default user".to_string(),
        };
        let caps = match self.capabilities.is_empty() {
            true => "none".to_string(),
            false => {
                let mut parts: Vec<String> = self
                    .capabilities
                    .add
                    .iter()
                    .map(|c| format!("+{c}"))
                    .collect();
                parts.extend(self.capabilities.drop.iter().map(|c| format!("-{c}")));
                parts.join(" ")
            }
        };
        format!("steps run as {who}, capabilities: {caps}")
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn changes(add: &[&str]) -> CapChanges {
        CapChanges {
            add: add.iter().map(|s| s.to_string()).collect(),
            drop: Vec::new(),
        }
    }

    #[test]
    fn a_setuid_bwrap_cannot_give_capabilities() {
        let dir = tempfile::tempdir().unwrap();
        let bwrap = dir.path().join("bwrap");
        fs_err::write(&bwrap, "").unwrap();
        fs_err::set_permissions(&bwrap, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let err = refused_capabilities(&changes(&["CAP_NET_RAW"]), &bwrap).unwrap_err();
        assert!(format!("{err}").contains("is setuid root"), "{err}");
        // Nothing asked, nothing refused.
        assert!(refused_capabilities(&changes(&[]), &bwrap).is_ok());
        fs_err::set_permissions(&bwrap, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(refused_capabilities(&changes(&["CAP_NET_RAW"]), &bwrap).is_ok());
    }

    #[test]
    fn files_home_and_ids_follow_the_accounts() {
        let root = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(root.path().join("etc")).unwrap();
        fs_err::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:r:/root:/bin/ash\n",
        )
        .unwrap();
        let written = Accounts {
            run_as: "svc".into(),
            users: vec![crate::config::model::User {
                username: "svc".into(),
                uid: 500,
                homedir: "/srv/svc".into(),
                ..Default::default()
            }],
            groups: Vec::new(),
        };
        let rootfs = Rootfs::Dir(HostPath::new(root.path()).unwrap());
        let a = StepAccounts::prepare(
            "environment.accounts",
            &written,
            &Capabilities::default(),
            &rootfs,
            Path::new("/nonexistent-bwrap"),
        )
        .unwrap();
        assert_eq!(a.step_ids(), Some((500, 500)));
        let mut config = SandboxConfig::new(
            rootfs.clone(),
            HostPath::new(root.path()).unwrap(),
            &crate::sandbox::HostDefaults::read(),
        );
        a.apply(&mut config).unwrap();
        assert_eq!(config.step_ids, Some((500, 500)));
        assert_eq!(
            config.extra_tmpfs,
            vec![GuestPath::new("/srv/svc").unwrap()]
        );
        let passwd = fs_err::read_to_string(config.ro_files[0].0.as_path()).unwrap();
        assert!(
            passwd.starts_with("root:x:0:0:r:/root:/bin/ash\nsvc:x:500:500:"),
            "{passwd}"
        );
        assert_eq!(config.ro_files[1].1.as_str(), "/etc/group");
        assert!(a.describe().contains("uid 500 gid 500 (run-as)"));
        // A home the root has gets no tmpfs.
        fs_err::create_dir_all(root.path().join("srv/svc")).unwrap();
        let a = StepAccounts::prepare(
            "environment.accounts",
            &written,
            &Capabilities::default(),
            &rootfs,
            Path::new("/nonexistent-bwrap"),
        )
        .unwrap();
        let mut config = SandboxConfig::new(
            rootfs,
            HostPath::new(root.path()).unwrap(),
            &crate::sandbox::HostDefaults::read(),
        );
        a.apply(&mut config).unwrap();
        assert!(config.extra_tmpfs.is_empty());
    }
}
