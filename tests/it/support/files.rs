//! Reading back a directory tree in the integration tests. Shared by the test binaries with
//! `#[path = "../support/files.rs"] mod files;`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every regular file under `root` (relative path) with its content, except the lock file.
pub fn files_under(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for item in std::fs::read_dir(&dir).unwrap() {
            let item = item.unwrap();
            let kind = item.file_type().unwrap();
            if kind.is_dir() {
                stack.push(item.path());
            } else if kind.is_file() && item.file_name() != ".melwrap.lock" {
                let rel = item.path().strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(item.path()).unwrap());
            }
        }
    }
    out
}
