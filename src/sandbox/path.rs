//! The sandbox's path types: a host path (the source of a bind) and a guest path (where it
//! appears), checked once when made; and what the guest's `/` is made of. A leaf: it imports
//! nothing else of the sandbox.

use std::fmt;
use std::path::{Path, PathBuf};

/// An absolute path on the host. Only host paths can be the source of a bind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPath(PathBuf);

impl HostPath {
    /// An absolute host path; relative paths are rejected so a bind never depends on the CWD.
    pub fn new(path: impl Into<PathBuf>) -> Result<HostPath, PathError> {
        let path = path.into();
        if path.is_absolute() {
            Ok(HostPath(path))
        } else {
            Err(PathError(format!(
                "host path `{}` is not absolute",
                path.display()
            )))
        }
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for HostPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for HostPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.display().fmt(f)
    }
}

/// An absolute path inside the sandbox, normalised: no `.`, `..`, empty or trailing
/// components (`..` stops at `/`, as it does in a chroot).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GuestPath(String);

impl GuestPath {
    pub fn new(path: impl AsRef<str>) -> Result<GuestPath, PathError> {
        let path = path.as_ref();
        if !path.starts_with('/') {
            return Err(PathError(format!("guest path `{path}` is not absolute")));
        }
        Ok(GuestPath::root().join(path))
    }

    /// `/`.
    pub fn root() -> GuestPath {
        GuestPath("/".to_string())
    }

    /// `self` joined with a relative or absolute path, normalised. An absolute `rel` replaces
    /// `self`, as in a shell `cd`.
    pub fn join(&self, rel: &str) -> GuestPath {
        let mut parts: Vec<&str> = if rel.starts_with('/') {
            Vec::new()
        } else {
            self.components().collect()
        };
        for part in rel.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        GuestPath(format!("/{}", parts.join("/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The path's names, outermost first (none for `/`).
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('/').filter(|p| !p.is_empty())
    }

    /// The containing directory (`/` for `/`).
    pub fn parent(&self) -> GuestPath {
        self.join("..")
    }

    /// The last name, or `None` for `/`.
    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    /// True when `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &GuestPath) -> bool {
        other.is_root() || self.0 == other.0 || self.0.starts_with(&format!("{}/", other.0))
    }
}

impl fmt::Display for GuestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A path that is not what the sandbox needs (relative where absolute is required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub String);

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PathError {}

/// What the guest's `/` is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rootfs {
    /// The host's system directories, read-only: [`super::root::HOST_SYSTEM_DIRS`] that exist, with
    /// merged-`/usr` symlinks recreated as symlinks. Nothing of `/home`, `/root`, `/run`,
    /// `/var`, `/srv`, `/mnt` or `/tmp`.
    Host,
    /// An extracted root filesystem (Alpine, Wolfi, Debian), read-only at `/`.
    Dir(HostPath),
}
