//! Reading back a directory tree in the integration tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every path under `root` (root included), sorted, without following symlinks.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let p = out[i].clone();
        if p.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            out.extend(fs_err::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
        i += 1;
    }
    out.sort();
    out
}

/// Every regular file under `root` (relative path) with its content, except the lock file.
pub fn files_under(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(root)
        .into_iter()
        .filter(|p| p.symlink_metadata().unwrap().is_file())
        .filter(|p| p.file_name().is_some_and(|n| n != ".melwrap.lock"))
        .map(|p| {
            let content = std::fs::read(&p).unwrap();
            (p.strip_prefix(root).unwrap().to_path_buf(), content)
        })
        .collect()
}
