//! What the sandbox takes from the host by default, read in one place so that building a
//! [`SandboxConfig`](super::SandboxConfig) reads nothing: who steps run as, their limits and
//! the host's resolv.conf.

use super::build_ids::Identity;
use super::limits::Resources;
use super::path::HostPath;

/// The host's defaults for a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDefaults {
    /// [`Identity::for_current_user`].
    pub identity: Identity,
    /// [`Resources::defaults`] for that identity.
    pub resources: Resources,
    /// [`host_resolv_conf`].
    pub resolv_conf: Option<HostPath>,
}

impl HostDefaults {
    /// Read them from this process and the host.
    pub fn read() -> HostDefaults {
        let identity = Identity::for_current_user();
        HostDefaults {
            identity,
            resources: Resources::defaults(matches!(identity, Identity::Root(_))),
            resolv_conf: host_resolv_conf(),
        }
    }
}

/// The host file to show at `/etc/resolv.conf`: the real path behind the host's
/// `/etc/resolv.conf` (often a symlink into `/run`), or `None` when there is none.
pub fn host_resolv_conf() -> Option<HostPath> {
    let real = fs_err::canonicalize("/etc/resolv.conf").ok()?;
    if real.is_file() {
        HostPath::new(real).ok()
    } else {
        None
    }
}
