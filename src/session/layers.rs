//! One session's writable layers over its cached guest (see [`crate::sandbox::overlay`]).
//!
//! A private (0700) directory in the temporary directory holds the overlay's `upper/` and
//! `work/` (and, rootless, `root/`, the mount point). Steps write `upper/` through the overlay,
//! so it is a step-written tree: it is removed through [`crate::safefs`] when the session
//! ends, never by path.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};

use crate::printer::Printer;
use crate::safefs::Dir;
use crate::sandbox::{GuestOverlay, HostPath, Identity};

/// The per-session layers; removed when dropped.
#[derive(Debug)]
pub struct GuestLayers {
    pub overlay: GuestOverlay,
    /// The private directory (the overlay's `scratch`).
    dir: PathBuf,
    printer: Printer,
    /// The guest's shared lock, held as long as the layers (the session): `cache prune`
    /// leaves the guest alone meanwhile, whatever the driver does with its `GuestRoot`.
    guest_lock: Option<std::sync::Arc<crate::repo::guests::GuestLock>>,
}

impl GuestLayers {
    /// Create the layers over `guest` for steps running as `identity`.
    pub fn create(guest: &HostPath, identity: Identity, printer: Printer) -> eyre::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("melwrap-guest-")
            .tempdir()
            .wrap_err("cannot create the guest's writable layers in the temporary directory")?
            .keep();
        let layers = GuestLayers {
            overlay: GuestOverlay::new(
                guest.clone(),
                HostPath::new(&dir).wrap_err("the temporary directory is not absolute")?,
                identity,
            )?,
            dir,
            printer,
            guest_lock: None,
        };
        let (scratch, _) = Dir::create_anchor(&layers.dir, 0o700)?;
        scratch.set_mode(0o700)?;
        let (upper, _) = scratch.create_dir("upper", 0o755)?;
        scratch.create_dir("work", 0o700)?;
        // Where the overlay is mounted, in its own namespace (see `sandbox::overlay`).
        scratch.create_dir("root", 0o755)?;
        // The merged root takes its owner and mode from `upper/`: the step's uid 0 owns it.
        upper.set_mode(0o755)?;
        if let Identity::Root(ids) = identity {
            upper.chown_self(Some(ids.uid), Some(ids.gid))?;
        }
        Ok(layers)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Hold the guest's shared lock for as long as these layers exist.
    pub fn hold(&mut self, lock: std::sync::Arc<crate::repo::guests::GuestLock>) {
        self.guest_lock = Some(lock);
    }

    /// `--dry-run`: keep the layers for the printed commands (the caller says so). As root,
    /// the directory becomes the build ids' (0700), so the printed commands, which run bwrap
    /// as them, reach the mount point inside it.
    pub fn keep(self, identity: Identity) -> eyre::Result<PathBuf> {
        let dir = self.dir.clone();
        if let Identity::Root(ids) = identity {
            let scratch = Dir::open_anchor(&dir)?;
            match scratch.create_dir("root", 0o755) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
            scratch.chown_self(Some(ids.uid), Some(ids.gid))?;
        }
        std::mem::forget(self);
        Ok(dir)
    }
}

/// For a `--dry-run` script: the shell commands that mount `overlay` the way melwrap's child
/// does, then exec the command that follows (`"$@"`). `$GUEST` names the lower layer. As
/// root the merged root goes to `<scratch>/root` (melwrap itself uses its staging tmpfs).
pub fn dry_run_wrapper(overlay: &GuestOverlay) -> String {
    let layers = shell_words::quote(&overlay.scratch.as_path().to_string_lossy()).into_owned();
    if overlay.as_root {
        format!(
            "unshare --mount --propagation private -- sh -c 'mount -t overlay melwrap-guest -o \
             \"lowerdir=$1,upperdir=$2/upper,workdir=$2/work\" \"$2/root\" && shift 2 && exec \
             \"$@\"' sh \"$GUEST\" {layers} "
        )
    } else {
        format!(
            "unshare --user --map-root-user --mount --propagation private -- sh -c 'mount -t \
             overlay melwrap-guest -o \"lowerdir=$1,upperdir=$2/upper,workdir=$2/work,userxattr\" \
             \"$2/root\" && shift 2 && exec \"$@\"' sh \"$GUEST\" {layers} "
        )
    }
}

/// For a `--dry-run` script: where the printed commands find the merged root.
pub fn dry_run_mount_point(overlay: &GuestOverlay) -> HostPath {
    HostPath::new(overlay.scratch.as_path().join("root")).expect("absolute")
}

impl Drop for GuestLayers {
    fn drop(&mut self) {
        let removed = (|| -> std::io::Result<()> {
            let parent = self.dir.parent().unwrap_or(Path::new("/"));
            let name = self.dir.file_name().unwrap_or_default();
            Dir::open_anchor(parent)?.remove_tree(name)
        })();
        if let Err(e) = removed {
            self.printer.warn(format!(
                "cannot remove the guest's writable layers {}: {e}",
                self.dir.display()
            ));
        }
    }
}
