//! The guest root: which rootfs entries appear where, and how mounts find their mount points.
//!
//! bwrap creates a missing mount point with `mkdir`, which fails with `EROFS` inside a
//! read-only bind. So when a mount point (say `/var/cache/melange`) is missing from a read-only
//! rootfs, the deepest directory that does exist (`/var/cache`) is *spliced*: a tmpfs goes over
//! it, each of its entries is bound back read-only (symlinks are recreated), bwrap creates the
//! mount point in the tmpfs, and the tmpfs is remounted read-only at the end. For
//! [`Rootfs::Host`] the root itself is always spliced: a tmpfs `/` holding only the host's
//! system directories. Mount points are resolved through the rootfs's symlinks the way a
//! chroot would (absolute targets stay inside the root), so bwrap never follows a guest symlink
//! out to the host.
//!
//! The planner is pure: it sees the rootfs only through a [`RootTree`]. [`LiveTree`] reads the
//! disk, [`MemTree`] is an in-memory tree for tests, and `MemTree::record` snapshots exactly
//! what the planner asked of a live tree so later plans need no I/O.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::path::{GuestPath, HostPath, Rootfs};

/// Top-level host directories that [`Rootfs::Host`] shows read-only, when they exist.
pub const HOST_SYSTEM_DIRS: &[&str] = &[
    "usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32", "etc", "opt",
];

/// What is at a path, without following a final symlink (`lstat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Missing,
    Dir,
    File,
    /// A symlink and its target text.
    Symlink(String),
    /// A socket, FIFO or device: never shown in the guest.
    Other,
}

/// A read-only view of the rootfs, in guest paths.
pub trait RootTree {
    /// What is at guest `path` (`lstat`). `/` is always a directory.
    fn node(&self, path: &GuestPath) -> Node;
    /// The entries of directory `path`, sorted by name.
    fn children(&self, path: &GuestPath) -> Vec<(String, Node)>;
    /// The host path that holds guest `path`.
    fn host_path(&self, path: &GuestPath) -> HostPath;
}

/// A mount on top of the root, before its guest path is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountRequest {
    pub kind: MountKind,
    pub dest: GuestPath,
}

impl MountRequest {
    pub fn new(kind: MountKind, dest: GuestPath) -> MountRequest {
        MountRequest { kind, dest }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountKind {
    Dev,
    Proc,
    Tmpfs,
    /// A read-write directory bind.
    Bind(HostPath),
    /// A read-only bind of a file or directory.
    RoBind(HostPath),
    /// A read-only bind of a file (resolv.conf, CA bundle).
    RoFile(HostPath),
    /// A symlink with this target, created in the guest (a tested package's symlinks). Only
    /// the link's parent is resolved through the rootfs's symlinks, never the link itself, and
    /// the parent is always spliced so the link can be created there.
    Symlink(String),
}

impl MountKind {
    /// Can this mount go on top of `node` without replacing it?
    fn fits(&self, node: &Node) -> bool {
        match self {
            MountKind::RoFile(_) => *node == Node::File,
            MountKind::RoBind(_) => matches!(node, Node::File | Node::Dir),
            MountKind::Symlink(_) => false,
            _ => *node == Node::Dir,
        }
    }
}

/// The planner's answer.
#[derive(Debug, Default)]
pub(crate) struct MountPlan {
    /// The root bind or the spliced directories, in order.
    pub root: Vec<super::arg::Arg>,
    /// The requests kept, each with its resolved guest path, in request order.
    pub requests: Vec<(MountRequest, GuestPath)>,
    /// Spliced tmpfs directories to remount read-only once all mounts exist.
    pub remount_ro: Vec<GuestPath>,
}

/// Plan the root and the mount points for `requests`.
pub(crate) fn plan(rootfs: &Rootfs, tree: &dyn RootTree, requests: &[MountRequest]) -> MountPlan {
    plan_with(rootfs, tree, requests, false)
}

/// [`plan`], for a root that is `writable` (a guest's overlay): bwrap creates a missing mount
/// point itself there, so only a mount point blocked by a file needs a splice.
pub(crate) fn plan_with(
    rootfs: &Rootfs,
    tree: &dyn RootTree,
    requests: &[MountRequest],
    writable: bool,
) -> MountPlan {
    use super::arg::Arg;

    let host_view = HostView(tree);
    let tree: &dyn RootTree = match rootfs {
        Rootfs::Host => &host_view,
        Rootfs::Dir(_) => tree,
    };

    let mut splice: BTreeSet<GuestPath> = BTreeSet::new();
    if *rootfs == Rootfs::Host {
        splice.insert(GuestPath::root());
    }
    // Paths a splice must not bind back: each mount point, and whatever blocked one.
    let mut shadowed: BTreeSet<GuestPath> = BTreeSet::new();
    let mut resolved: Vec<(MountRequest, GuestPath)> = Vec::new();

    for req in requests {
        // Inside an earlier mount (the workspace, /tmp): bwrap creates the point there.
        if resolved.iter().any(|(_, d)| req.dest.starts_with(d)) {
            resolved.push((req.clone(), req.dest.clone()));
            continue;
        }
        let r = match req.kind {
            MountKind::Symlink(_) => resolve_parent(tree, &req.dest),
            _ => resolve(tree, &req.dest),
        };
        if let MountKind::RoFile(src) = &req.kind
            && r.node == Node::File
            && tree.host_path(&r.path) == *src
        {
            // The guest already shows this very host file (the host's own resolv.conf).
            continue;
        }
        let created_by_bwrap = writable && r.node == Node::Missing && r.blocker.is_none();
        if !req.kind.fits(&r.node) && !created_by_bwrap {
            splice.insert(r.existing.clone());
            if let Some(b) = &r.blocker {
                shadowed.insert(b.clone());
            }
        }
        shadowed.insert(r.path.clone());
        resolved.push((req.clone(), r.path));
    }

    let mut root = Vec::new();
    if !splice.contains(&GuestPath::root()) {
        // A directory rootfs with every mount point present: bind it whole.
        root.push(Arg::RoBind {
            src: tree.host_path(&GuestPath::root()),
            dest: GuestPath::root(),
        });
    }
    // Parents sort before their children, so an outer splice is in place before an inner one.
    for dir in &splice {
        if !dir.is_root() {
            root.push(Arg::Tmpfs(dir.clone()));
        }
        for (name, node) in tree.children(dir) {
            let path = dir.join(&name);
            if shadowed.contains(&path) || splice.contains(&path) {
                continue;
            }
            match node {
                Node::Dir | Node::File => root.push(Arg::RoBind {
                    src: tree.host_path(&path),
                    dest: path,
                }),
                Node::Symlink(target) => root.push(Arg::Symlink { target, link: path }),
                Node::Missing | Node::Other => {}
            }
        }
    }
    MountPlan {
        root,
        requests: resolved,
        remount_ro: splice.into_iter().collect(),
    }
}

/// A guest path resolved through the rootfs's symlinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The path with every existing symlink followed.
    pub path: GuestPath,
    /// What is there (`Missing` when some component is missing or not a directory).
    pub node: Node,
    /// The deepest existing directory on the way: where a splice would go.
    existing: GuestPath,
    /// A non-directory that stood where a directory was needed.
    blocker: Option<GuestPath>,
}

/// Resolve `path`'s parent like [`resolve`], then look at the last name without following
/// it (`lstat`): where a new symlink at `path` would be created.
pub(crate) fn resolve_parent(tree: &dyn RootTree, path: &GuestPath) -> Resolved {
    let Some(name) = path.file_name() else {
        return resolve(tree, path);
    };
    let parent = resolve(tree, &path.parent());
    if parent.node != Node::Dir {
        return Resolved {
            path: parent.path.join(name),
            ..parent
        };
    }
    let here = parent.path.join(name);
    Resolved {
        node: tree.node(&here),
        path: here,
        existing: parent.path,
        blocker: None,
    }
}

/// Follow `path` component by component like a chroot would; at most 40 symlinks.
pub(crate) fn resolve(tree: &dyn RootTree, path: &GuestPath) -> Resolved {
    let mut todo: Vec<String> = path.components().rev().map(String::from).collect();
    let mut cur = GuestPath::root();
    let mut links = 0;
    while let Some(name) = todo.pop() {
        if name == ".." {
            cur = cur.parent();
            continue;
        }
        if name == "." {
            continue;
        }
        let next = cur.join(&name);
        match tree.node(&next) {
            Node::Dir => cur = next,
            Node::Symlink(target) if links < 40 => {
                links += 1;
                if target.starts_with('/') {
                    cur = GuestPath::root();
                }
                todo.extend(
                    target
                        .split('/')
                        .filter(|p| !p.is_empty())
                        .rev()
                        .map(String::from),
                );
            }
            Node::Missing => {
                let rest: Vec<String> = todo.into_iter().rev().collect();
                return Resolved {
                    path: next.join(&rest.join("/")),
                    node: Node::Missing,
                    existing: cur,
                    blocker: None,
                };
            }
            other if todo.is_empty() => {
                return Resolved {
                    path: next,
                    node: other,
                    existing: cur,
                    blocker: None,
                };
            }
            _ => {
                let rest: Vec<String> = todo.into_iter().rev().collect();
                return Resolved {
                    path: next.join(&rest.join("/")),
                    node: Node::Missing,
                    existing: cur,
                    blocker: Some(next),
                };
            }
        }
    }
    Resolved {
        existing: cur.clone(),
        path: cur,
        node: Node::Dir,
        blocker: None,
    }
}

/// The host's `/` as the guest sees it with [`Rootfs::Host`]: only [`HOST_SYSTEM_DIRS`] exist
/// at the top. The planner applies it to whatever tree it is given, so the promise does not
/// depend on the tree.
struct HostView<'a>(&'a dyn RootTree);

impl HostView<'_> {
    fn visible(path: &GuestPath) -> bool {
        path.components()
            .next()
            .is_none_or(|top| HOST_SYSTEM_DIRS.contains(&top))
    }
}

impl RootTree for HostView<'_> {
    fn node(&self, path: &GuestPath) -> Node {
        if Self::visible(path) {
            self.0.node(path)
        } else {
            Node::Missing
        }
    }

    fn children(&self, path: &GuestPath) -> Vec<(String, Node)> {
        let mut children = self.0.children(path);
        children.retain(|(name, _)| Self::visible(&path.join(name)));
        children
    }

    fn host_path(&self, path: &GuestPath) -> HostPath {
        self.0.host_path(path)
    }
}

/// The rootfs on disk: `/` for [`Rootfs::Host`], the directory for [`Rootfs::Dir`].
#[derive(Debug, Clone)]
pub struct LiveTree {
    base: PathBuf,
}

impl LiveTree {
    pub fn new(rootfs: &Rootfs) -> LiveTree {
        let base = match rootfs {
            Rootfs::Host => PathBuf::from("/"),
            Rootfs::Dir(d) => d.as_path().to_path_buf(),
        };
        LiveTree { base }
    }
}

fn lstat_node(path: &std::path::Path) -> Node {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Node::Missing,
        Err(_) => Node::Other,
        Ok(m) if m.is_dir() => Node::Dir,
        Ok(m) if m.is_file() => Node::File,
        Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(path) {
            Ok(t) => Node::Symlink(t.to_string_lossy().into_owned()),
            Err(_) => Node::Other,
        },
        Ok(_) => Node::Other,
    }
}

impl RootTree for LiveTree {
    fn node(&self, path: &GuestPath) -> Node {
        if path.is_root() {
            return Node::Dir;
        }
        lstat_node(self.host_path(path).as_path())
    }

    fn children(&self, path: &GuestPath) -> Vec<(String, Node)> {
        let Ok(entries) = std::fs::read_dir(self.host_path(path).as_path()) else {
            return Vec::new();
        };
        let mut out: Vec<(String, Node)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .map(|name| path.join(&name))
            .map(|p| {
                let node = lstat_node(self.host_path(&p).as_path());
                (p.file_name().unwrap_or_default().to_string(), node)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn host_path(&self, path: &GuestPath) -> HostPath {
        host_join(&self.base, path)
    }
}

fn host_join(base: &std::path::Path, path: &GuestPath) -> HostPath {
    let mut p = base.to_path_buf();
    for c in path.components() {
        p.push(c);
    }
    HostPath::new(p).expect("base is absolute")
}

/// An in-memory rootfs: for tests, and as the snapshot `MemTree::record` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemTree {
    base: PathBuf,
    nodes: BTreeMap<GuestPath, Node>,
}

impl MemTree {
    /// An empty tree whose guest `/` is host `base`.
    pub fn new(base: impl Into<PathBuf>) -> MemTree {
        MemTree {
            base: base.into(),
            nodes: BTreeMap::new(),
        }
    }

    /// Add a directory (and its parents).
    pub fn dir(mut self, path: &str) -> MemTree {
        self.insert(guest(path), Node::Dir);
        self
    }

    /// Add a regular file (and its parents).
    pub fn file(mut self, path: &str) -> MemTree {
        self.insert(guest(path), Node::File);
        self
    }

    /// Add a symlink (and its parents).
    pub fn symlink(mut self, path: &str, target: &str) -> MemTree {
        self.insert(guest(path), Node::Symlink(target.to_string()));
        self
    }

    fn insert(&mut self, path: GuestPath, node: Node) {
        if path.is_root() || node == Node::Missing {
            return;
        }
        let mut parent = path.parent();
        while !parent.is_root() {
            self.nodes.entry(parent.clone()).or_insert(Node::Dir);
            parent = parent.parent();
        }
        self.nodes.insert(path, node);
    }

    /// Snapshot what planning `requests` over `live` reads, so that planning again (every step
    /// of a build) needs no I/O and sees one consistent rootfs.
    pub(crate) fn record(
        rootfs: &Rootfs,
        live: &dyn RootTree,
        requests: &[MountRequest],
    ) -> MemTree {
        let base = live.host_path(&GuestPath::root()).as_path().to_path_buf();
        let recorder = Recorder {
            live,
            mem: RefCell::new(MemTree::new(base)),
        };
        plan(rootfs, &recorder, requests);
        recorder.mem.into_inner()
    }
}

fn guest(path: &str) -> GuestPath {
    GuestPath::new(path).expect("MemTree paths are absolute")
}

impl RootTree for MemTree {
    fn node(&self, path: &GuestPath) -> Node {
        if path.is_root() {
            return Node::Dir;
        }
        self.nodes.get(path).cloned().unwrap_or(Node::Missing)
    }

    fn children(&self, path: &GuestPath) -> Vec<(String, Node)> {
        self.nodes
            .iter()
            .filter(|(p, _)| !p.is_root() && p.parent() == *path)
            .map(|(p, n)| (p.file_name().unwrap_or_default().to_string(), n.clone()))
            .collect()
    }

    fn host_path(&self, path: &GuestPath) -> HostPath {
        host_join(&self.base, path)
    }
}

struct Recorder<'a> {
    live: &'a dyn RootTree,
    mem: RefCell<MemTree>,
}

impl RootTree for Recorder<'_> {
    fn node(&self, path: &GuestPath) -> Node {
        let node = self.live.node(path);
        self.mem.borrow_mut().insert(path.clone(), node.clone());
        node
    }

    fn children(&self, path: &GuestPath) -> Vec<(String, Node)> {
        let children = self.live.children(path);
        let mut mem = self.mem.borrow_mut();
        for (name, node) in &children {
            mem.insert(path.join(name), node.clone());
        }
        children
    }

    fn host_path(&self, path: &GuestPath) -> HostPath {
        self.live.host_path(path)
    }
}

#[cfg(test)]
#[path = "root_tests.rs"]
mod tests;
