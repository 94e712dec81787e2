//! "Installing" unpacked packages into the test sandbox without copying or touching the guest
//! root: which read-only binds and symlinks make a package's files appear at `/`.
//!
//! bubblewrap 0.8 has no overlay mounts, so the packages are layered with binds. The walk goes
//! down the packages' trees (all of them at once, so two packages can share a directory) and,
//! for each entry, compares it with what the guest root has at that path:
//!
//! - a directory the guest root lacks, provided by one package: bind the whole unpacked
//!   directory (one mount, however many files it holds);
//! - a directory the guest root has (`/usr/bin`), or one several packages provide: go down;
//! - a file: bind the unpacked file at its path; a symlink: create it in the guest.
//!
//! A file or symlink whose directory exists read-only in the guest root needs a mount point
//! that does not exist: the sandbox's guest-root planner splices that directory (a tmpfs that
//! binds back each of its entries, see `sandbox::root`). Only the directories a package writes
//! into are spliced, so the rest of the guest root stays a plain read-only bind.
//!
//! The package under test comes last and wins where packages overlap. Paths the sandbox mounts
//! itself (`/dev`, `/proc`, the workspace, the cache, `/etc/resolv.conf`, the CA bundle) are
//! never covered; a package entry there is left out with a note.

use std::collections::BTreeMap;

use crate::guest;
use crate::sandbox::root::{Node, RootTree, resolve};
use crate::sandbox::{GuestPath, HostPath};

/// What makes the packages' files appear: binds then symlinks, plus notes on what was left out.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Layers {
    pub binds: Vec<(HostPath, GuestPath)>,
    pub symlinks: Vec<(String, GuestPath)>,
    pub notes: Vec<String>,
}

/// Guest trees the sandbox mounts itself: package entries there are left out.
const MOUNTED_TREES: &[&str] = &["/dev", "/proc", guest::WORKSPACE, guest::CACHE];

/// Guest paths the sandbox mounts over; package directories above them are walked into, never
/// bound whole (a whole bind would hide the mount).
fn mount_points(ca_guest: Option<&str>) -> Vec<GuestPath> {
    let mut out: Vec<GuestPath> = MOUNTED_TREES
        .iter()
        .chain(["/tmp", "/etc/resolv.conf"].iter())
        .map(|p| GuestPath::new(p).expect("constant guest path"))
        .collect();
    out.extend(ca_guest.map(|p| GuestPath::new(p).expect("constant guest path")));
    out
}

/// One unpacked package, seen as a tree of guest paths (a `LiveTree` over the unpack dir).
pub struct Package<'a> {
    pub name: &'a str,
    pub tree: &'a dyn RootTree,
}

/// Plan the layers for `packages` (the package under test last) over `guest` (the guest root
/// as the sandbox shows it, see [`GuestView`]). `ca_guest` is the CA bundle's guest path when
/// one is mounted.
pub fn plan(guest: &dyn RootTree, packages: &[Package], ca_guest: Option<&str>) -> Layers {
    let mut walker = Walker {
        guest,
        packages,
        mount_points: mount_points(ca_guest),
        layers: Layers::default(),
    };
    let all: Vec<usize> = (0..packages.len()).collect();
    walker.walk(&GuestPath::root(), &all);
    walker.layers
}

struct Walker<'a> {
    guest: &'a dyn RootTree,
    packages: &'a [Package<'a>],
    mount_points: Vec<GuestPath>,
    layers: Layers,
}

impl Walker<'_> {
    /// Go down directory `dir`, which the packages in `providers` all have as a directory.
    fn walk(&mut self, dir: &GuestPath, providers: &[usize]) {
        let mut children: BTreeMap<String, Vec<(usize, Node)>> = BTreeMap::new();
        for &p in providers {
            for (name, node) in self.packages[p].tree.children(dir) {
                children.entry(name).or_default().push((p, node));
            }
        }
        for (name, entries) in children {
            let path = dir.join(&name);
            if let Some(tree) = MOUNTED_TREES
                .iter()
                .map(|t| GuestPath::new(t).expect("constant guest path"))
                .find(|t| path.starts_with(t))
            {
                self.note(
                    &entries,
                    &path,
                    &format!("{tree} is mounted by the sandbox"),
                );
                continue;
            }
            let dirs: Vec<usize> = entries
                .iter()
                .filter(|(_, n)| *n == Node::Dir)
                .map(|(p, _)| *p)
                .collect();
            let &(winner, ref node) = entries.last().expect("at least one provider");
            if dirs.len() == entries.len() {
                self.directory(&path, &dirs);
            } else if *node == Node::Dir {
                // Packages disagree on the type; the last one (the package under test) wins.
                self.directory(&path, &[winner]);
            } else {
                self.leaf(&path, winner, node.clone());
            }
        }
    }

    fn directory(&mut self, path: &GuestPath, providers: &[usize]) {
        let covers_mount = self.mount_points.iter().any(|m| m.starts_with(path));
        match resolve(self.guest, path).node {
            Node::Dir => self.walk(path, providers),
            Node::Missing if providers.len() == 1 && !covers_mount => {
                let p = providers[0];
                self.bind(p, path);
            }
            Node::Missing => {
                let before = self.layers.binds.len() + self.layers.symlinks.len();
                self.walk(path, providers);
                let after = self.layers.binds.len() + self.layers.symlinks.len();
                if before == after && !covers_mount {
                    // Empty in every package: still show it.
                    self.bind(providers[0], path);
                }
            }
            _ => self.note(
                &[(providers[0], Node::Dir)],
                path,
                "the guest root has a file there",
            ),
        }
    }

    fn leaf(&mut self, path: &GuestPath, p: usize, node: Node) {
        match node {
            Node::File => {
                if self.mount_points.contains(path) {
                    self.note(&[(p, node)], path, "the sandbox mounts its own file there");
                } else if resolve(self.guest, path).node == Node::Dir {
                    self.note(&[(p, node)], path, "the guest root has a directory there");
                } else {
                    self.bind(p, path);
                }
            }
            Node::Symlink(target) => {
                if self.mount_points.contains(path) {
                    self.note(&[(p, Node::File)], path, "the sandbox mounts there");
                } else {
                    self.layers.symlinks.push((target, path.clone()));
                }
            }
            Node::Dir | Node::Missing | Node::Other => {}
        }
    }

    fn bind(&mut self, p: usize, path: &GuestPath) {
        let src = self.packages[p].tree.host_path(path);
        self.layers.binds.push((src, path.clone()));
    }

    fn note(&mut self, entries: &[(usize, Node)], path: &GuestPath, why: &str) {
        for (p, _) in entries {
            self.layers.notes.push(format!(
                "{path} from package `{}` is not shown in the test sandbox: {why}",
                self.packages[*p].name
            ));
        }
    }
}

/// The guest root as the sandbox shows it: for the host rootfs only the system directories
/// (`sandbox::root::HOST_SYSTEM_DIRS`) exist at the top, whatever the host has.
pub struct GuestView<'a> {
    pub tree: &'a dyn RootTree,
    pub host: bool,
}

impl GuestView<'_> {
    fn visible(&self, path: &GuestPath) -> bool {
        !self.host
            || path
                .components()
                .next()
                .is_none_or(|top| crate::sandbox::root::HOST_SYSTEM_DIRS.contains(&top))
    }
}

impl RootTree for GuestView<'_> {
    fn node(&self, path: &GuestPath) -> Node {
        if self.visible(path) {
            self.tree.node(path)
        } else {
            Node::Missing
        }
    }

    fn children(&self, path: &GuestPath) -> Vec<(String, Node)> {
        let mut children = self.tree.children(path);
        children.retain(|(name, _)| self.visible(&path.join(name)));
        children
    }

    fn host_path(&self, path: &GuestPath) -> HostPath {
        self.tree.host_path(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::MemTree;

    fn gp(p: &str) -> GuestPath {
        GuestPath::new(p).unwrap()
    }

    fn guest() -> MemTree {
        MemTree::new("/host")
            .file("/usr/bin/sh")
            .dir("/usr/lib")
            .symlink("/lib", "usr/lib")
            .dir("/etc")
            .dir("/var/cache")
    }

    /// The layers for `packages` (name, files) over [`guest`], shown as the host's root
    /// (`host`) or as a root directory.
    fn plan_over_guest(host: bool, packages: &[(&str, &MemTree)]) -> Layers {
        let g = guest();
        let view = GuestView { tree: &g, host };
        let packages: Vec<Package> = packages
            .iter()
            .map(|&(name, tree)| Package { name, tree })
            .collect();
        plan(&view, &packages, None)
    }

    fn binds(l: &Layers) -> Vec<(String, String)> {
        l.binds
            .iter()
            .map(|(s, d)| (s.to_string(), d.to_string()))
            .collect()
    }

    #[test]
    fn missing_dirs_are_bound_whole_and_existing_dirs_are_walked() {
        let pkg = MemTree::new("/x/foo")
            .file("/usr/bin/foo")
            .file("/usr/share/foo/a")
            .file("/usr/share/foo/b")
            .symlink("/usr/bin/foo-alias", "foo")
            .file("/opt/foo/c");
        let l = plan_over_guest(false, &[("foo", &pkg)]);
        assert_eq!(
            binds(&l),
            [
                ("/x/foo/opt".to_string(), "/opt".to_string()),
                ("/x/foo/usr/bin/foo".into(), "/usr/bin/foo".into()),
                ("/x/foo/usr/share".into(), "/usr/share".into()),
            ]
        );
        assert_eq!(l.symlinks, [("foo".to_string(), gp("/usr/bin/foo-alias"))]);
        assert!(l.notes.is_empty());
    }

    #[test]
    fn shared_missing_dirs_are_merged_and_the_last_package_wins() {
        let main = MemTree::new("/x/main")
            .file("/opt/app/main")
            .file("/opt/app/common");
        let sub = MemTree::new("/x/sub")
            .file("/opt/app/sub")
            .file("/opt/app/common");
        let l = plan_over_guest(false, &[("main", &main), ("sub", &sub)]);
        assert_eq!(
            binds(&l),
            [
                (
                    "/x/sub/opt/app/common".to_string(),
                    "/opt/app/common".into()
                ),
                ("/x/main/opt/app/main".into(), "/opt/app/main".into()),
                ("/x/sub/opt/app/sub".into(), "/opt/app/sub".into()),
            ]
        );
    }

    #[test]
    fn sandbox_mounts_are_never_covered() {
        let pkg = MemTree::new("/x/p")
            .file("/var/cache/melange/poison")
            .file("/var/lib/p/state")
            .file("/home/build/x")
            .file("/etc/resolv.conf")
            .dir("/tmp/p");
        // On the host rootfs, /var and /home do not exist in the guest.
        let l = plan_over_guest(true, &[("p", &pkg)]);
        // /var holds the cache mount point and /tmp is the sandbox's tmpfs: walked into, so
        // only /var/lib and /tmp/p are bound.
        assert_eq!(
            binds(&l),
            [
                ("/x/p/tmp/p".to_string(), "/tmp/p".to_string()),
                ("/x/p/var/lib".into(), "/var/lib".into()),
            ]
        );
        let notes = l.notes.join("\n");
        assert!(
            notes.contains("/var/cache/melange from package `p`"),
            "{notes}"
        );
        assert!(notes.contains("/home/build from package `p`"), "{notes}");
        assert!(notes.contains("/etc/resolv.conf"), "{notes}");
    }

    #[test]
    fn guest_symlinks_are_followed_for_directories() {
        // The package ships /lib/libp.so; the guest's /lib is a symlink to usr/lib, which
        // exists, so the file is bound (the sandbox resolves the path to /usr/lib/libp.so).
        let pkg = MemTree::new("/x/p").file("/lib/libp.so");
        let l = plan_over_guest(false, &[("p", &pkg)]);
        assert_eq!(
            binds(&l),
            [("/x/p/lib/libp.so".to_string(), "/lib/libp.so".to_string())]
        );
    }
}
