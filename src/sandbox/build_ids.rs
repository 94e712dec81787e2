//! The build ids: the unprivileged host uid and gid that steps run as when melwrap is root.
//!
//! melwrap run as root never gives a step real root. bwrap is started as the build ids (after
//! `setgroups(0)`, `setresgid`, `setresuid` in the child) and maps the step's uid and gid 0
//! (melange runs steps as root) onto them in a user namespace. Files a step writes belong to
//! the build ids on the host, and every root-only host file (`/etc/shadow`, `/etc/ssl/private`,
//! `/proc/sys`, root's keyrings) is closed to the step by ordinary permission checks, the way
//! rootful container engines and Nix's build users work.
//!
//! The default is uid and gid [`DEFAULT_BUILD_ID`] (`0x70000000`), just above systemd's
//! container range (`0x00080000`..`0x6fffffff`, "Users, Groups, UIDs and GIDs on systemd
//! systems"), where no login user or container id lives. `MELWRAP_BUILD_UID=UID[:GID]`
//! chooses others (the gid defaults to the uid); 0 is refused.

use std::fmt;

/// The default build uid and gid.
pub const DEFAULT_BUILD_ID: u32 = 0x7000_0000;

/// The environment variable that chooses the build ids: `UID` or `UID:GID`.
pub const BUILD_UID_ENV: &str = "MELWRAP_BUILD_UID";

/// The host uid and gid a root build's steps run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildIds {
    pub uid: u32,
    pub gid: u32,
}

impl Default for BuildIds {
    fn default() -> BuildIds {
        BuildIds {
            uid: DEFAULT_BUILD_ID,
            gid: DEFAULT_BUILD_ID,
        }
    }
}

impl fmt::Display for BuildIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uid {} gid {}", self.uid, self.gid)
    }
}

impl BuildIds {
    /// `UID` or `UID:GID`, decimal; neither may be 0 (that would be host root again) nor
    /// 4294967295 (`(uid_t)-1` means "unchanged" to `setresuid`).
    pub fn parse(text: &str) -> Result<BuildIds, String> {
        let (uid, gid) = match text.split_once(':') {
            Some((u, g)) => (u, g),
            None => (text, text),
        };
        let id = |s: &str, what: &str| -> Result<u32, String> {
            let n: u32 = s
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a {what} (write UID or UID:GID, decimal)"))?;
            match n {
                0 => Err(format!(
                    "{what} 0 is host root: steps must run as an unprivileged id"
                )),
                u32::MAX => Err(format!("{what} {n} is not a usable id")),
                n => Ok(n),
            }
        };
        Ok(BuildIds {
            uid: id(uid, "uid")?,
            gid: id(gid, "gid")?,
        })
    }

    /// From `$MELWRAP_BUILD_UID`, else the default. The error names the variable.
    pub fn from_env() -> Result<BuildIds, String> {
        match std::env::var(BUILD_UID_ENV) {
            Ok(v) if !v.trim().is_empty() => {
                BuildIds::parse(&v).map_err(|e| format!("{BUILD_UID_ENV}={v}: {e}"))
            }
            _ => Ok(BuildIds::default()),
        }
    }
}

/// Who the step runs as (melange `pkg/build/build.go`, semantics 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// melwrap runs as root: bwrap runs as the unprivileged build ids (see
    /// [`super::build_ids`]) and maps the step's uid and gid 0 onto them in a user namespace,
    /// with every capability dropped. The step is "root" to itself (melange runs steps as
    /// root) and an ordinary user to the host.
    Root(BuildIds),
    /// An ordinary user: a user namespace maps the invoking user to `uid`/`gid` inside, so
    /// files written to the workspace and cache belong to the invoking user on the host.
    Build { uid: u32, gid: u32 },
}

impl Identity {
    /// melange's choice for the current process: [`Identity::Root`] when the effective uid is
    /// 0 (with the build ids from `$MELWRAP_BUILD_UID` or the default; a bad value is
    /// reported by the commands that run steps), otherwise uid/gid 1000 (hard-coded in
    /// melange, whatever the `build` user's uid).
    pub fn for_current_user() -> Identity {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            Identity::Root(BuildIds::from_env().unwrap_or_default())
        } else {
            Identity::Build {
                uid: 1000,
                gid: 1000,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uid_and_optional_gid_and_refuses_root() {
        assert_eq!(
            BuildIds::parse("5000").unwrap(),
            BuildIds {
                uid: 5000,
                gid: 5000
            }
        );
        assert_eq!(
            BuildIds::parse("5000:6000").unwrap(),
            BuildIds {
                uid: 5000,
                gid: 6000
            }
        );
        assert!(BuildIds::parse("0").unwrap_err().contains("host root"));
        assert!(BuildIds::parse("5000:0").unwrap_err().contains("gid 0"));
        assert!(BuildIds::parse("nobody").is_err());
        assert!(BuildIds::parse("4294967295").is_err());
        assert_eq!(BuildIds::default().uid, 1_879_048_192);
    }
}
