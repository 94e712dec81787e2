//! One package's files as dependency scanning sees them: the destdir walk
//! ([`crate::apk::walk`], through descriptors, never following a symlink), an index by path,
//! symlink resolution that stays inside the package (an absolute target is taken relative to
//! the package root, as the package will be installed; `..` stops at the root), and bounded
//! reads of regular files opened relative to their parent directory's descriptor.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;

use color_eyre::eyre;

use crate::apk::tar::Kind;
use crate::apk::walk::{self, Contents, Walk, display_name};
use crate::limits::MAX_SCA_LINK_HOPS;
use crate::safefs::Dir;

/// A package's destdir, walked.
pub struct PackageTree {
    pub name: String,
    dir: Dir,
    walk: Walk,
    by_path: HashMap<Vec<u8>, usize>,
}

impl PackageTree {
    /// Walk the opened destdir `dir` of package `name`.
    pub fn new(name: &str, dir: Dir) -> eyre::Result<PackageTree> {
        let walk = walk::walk(&dir)?;
        let by_path = walk
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        Ok(PackageTree {
            name: name.to_string(),
            dir,
            walk,
            by_path,
        })
    }

    pub fn len(&self) -> usize {
        self.walk.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.walk.entries.is_empty()
    }

    /// The package path of entry `i` (`usr/lib/libfoo.so.1`), lossy for messages and rules.
    pub fn path(&self, i: usize) -> String {
        display_name(&self.walk.entries[i].name)
    }

    pub fn kind(&self, i: usize) -> &Kind {
        &self.walk.entries[i].kind
    }

    pub fn mode(&self, i: usize) -> u32 {
        self.walk.entries[i].mode
    }

    /// The parent directory's entry.
    pub fn parent(&self, i: usize) -> Option<usize> {
        self.walk.entries[i].parent
    }

    /// The entry at package path `path` (no leading `/`), not following a final symlink.
    pub fn lookup(&self, path: &str) -> Option<usize> {
        self.by_path.get(path.as_bytes()).copied()
    }

    /// A regular file or hard link entry: the entry whose contents it has.
    fn content_entry(&self, i: usize) -> Option<usize> {
        match &self.walk.entries[i].kind {
            Kind::File => Some(i),
            Kind::HardLink(first) => self.by_path.get(first).copied(),
            _ => None,
        }
    }

    /// Where `path` leads inside this package, following symlinks (bounded) in every
    /// component: the final entry, or `None` when it leads nowhere in the package.
    pub fn resolve(&self, path: &str) -> Option<usize> {
        let mut pending: Vec<String> = components(path).rev().map(str::to_string).collect();
        let mut at: Vec<String> = Vec::new();
        let mut found = None;
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    at.pop();
                    found = None;
                    continue;
                }
                _ => {}
            }
            at.push(part);
            let i = self.lookup(&at.join("/"))?;
            if let Kind::Symlink(target) = &self.walk.entries[i].kind {
                hops += 1;
                if hops > MAX_SCA_LINK_HOPS {
                    return None;
                }
                at.pop();
                let target = String::from_utf8_lossy(target).into_owned();
                if target.starts_with('/') {
                    at.clear();
                }
                pending.extend(components(&target).rev().map(str::to_string));
                found = None;
            } else {
                found = Some(i);
            }
        }
        found
    }

    /// [`Self::resolve`] from entry `i` when it is a symlink; entry `i` itself otherwise.
    pub fn resolve_entry(&self, i: usize) -> Option<usize> {
        match self.walk.entries[i].kind {
            Kind::Symlink(_) => self.resolve(&self.path(i)),
            _ => Some(i),
        }
    }

    /// The stat size of a regular file (or hard link) entry.
    pub fn size(&self, i: usize) -> Option<u64> {
        self.content_entry(i).map(|c| self.walk.entries[c].size)
    }
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

/// Opens the regular files of one [`PackageTree`], each through its parent's descriptor.
pub struct Reader<'a> {
    tree: &'a PackageTree,
    contents: RefCell<Contents<'a>>,
}

impl<'a> Reader<'a> {
    pub fn new(tree: &'a PackageTree) -> Reader<'a> {
        Reader {
            tree,
            contents: RefCell::new(Contents::new(&tree.dir, &tree.walk)),
        }
    }

    /// Opens regular file (or hard link) entry `i`; `None` for any other kind, or a file that
    /// cannot be opened (unreadable, replaced since the walk).
    pub fn open(&self, i: usize) -> Option<File> {
        let c = self.tree.content_entry(i)?;
        self.contents.borrow_mut().open(c).ok().map(|(f, _)| f)
    }

    /// At most `limit` bytes from the start of entry `i`.
    pub fn head(&self, i: usize, limit: usize) -> Option<Vec<u8>> {
        let f = self.open(i)?;
        let mut out = Vec::with_capacity(limit.min(64 * 1024));
        f.take(limit as u64).read_to_end(&mut out).ok()?;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree(root: &std::path::Path) -> PackageTree {
        let dir = walk::open_destdir(root).unwrap();
        PackageTree::new("p", dir).unwrap()
    }

    #[test]
    fn links_resolve_inside_the_package_only() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("dest");
        fs_err::create_dir_all(r.join("usr/lib")).unwrap();
        fs_err::create_dir_all(r.join("lib")).unwrap();
        fs_err::write(r.join("usr/lib/libz.so.1.3"), "lib").unwrap();
        symlink("libz.so.1.3", r.join("usr/lib/libz.so.1")).unwrap();
        // An absolute target means the package's own /usr/lib, as installed.
        symlink("/usr/lib/libz.so.1", r.join("lib/libz.so")).unwrap();
        // A directory link on the way, and `..` that would climb out of the package.
        symlink("usr/lib", r.join("lib64")).unwrap();
        symlink("../../../../../usr/lib/libz.so.1.3", r.join("usr/lib/up")).unwrap();
        // Host files are never reached: only names inside the package are looked up.
        fs_err::write(t.path().join("secret"), "host").unwrap();
        symlink(t.path().join("secret"), r.join("usr/lib/host")).unwrap();
        symlink("loop2", r.join("usr/lib/loop1")).unwrap();
        symlink("loop1", r.join("usr/lib/loop2")).unwrap();
        let p = tree(&r);
        let file = p.lookup("usr/lib/libz.so.1.3").unwrap();
        assert_eq!(p.resolve("usr/lib/libz.so.1"), Some(file));
        assert_eq!(p.resolve("lib/libz.so"), Some(file));
        assert_eq!(p.resolve("lib64/libz.so.1"), Some(file));
        assert_eq!(p.resolve("usr/lib/up"), Some(file));
        assert_eq!(p.resolve("usr/lib/host"), None);
        assert_eq!(p.resolve("usr/lib/loop1"), None);
        assert_eq!(p.resolve("usr/lib/missing"), None);
        assert_eq!(p.resolve_entry(file), Some(file));
        // Contents are read through descriptors, bounded.
        let reader = Reader::new(&p);
        assert_eq!(reader.head(file, 2).unwrap(), b"li");
        assert!(reader.open(p.lookup("usr/lib").unwrap()).is_none());
        assert!(reader.open(p.lookup("usr/lib/host").unwrap()).is_none());
    }
}
