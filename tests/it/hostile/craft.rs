//! Crafted packages: a package melwrap built with its data section replaced by hand-made tar
//! entries, and what running them as another user needs (the test binary where that user can
//! run it, the uids to run as).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use melwrap::apk::tar::{BLOCK, Header, Kind, append_bytes};

/// A tar header and the entry's contents.
pub type Entry = (Header, &'static [u8]);

/// A root-owned entry `name` of `kind` with `mode` and contents `data`.
pub fn entry(name: &str, kind: Kind, mode: u32, data: &'static [u8]) -> Entry {
    let mut h = Header::root_file(name, mode, data.len() as u64, 0);
    h.kind = kind;
    (h, data)
}

/// A symlink `name -> target` (mode 0777, as `ln -s` makes them).
pub fn symlink(name: &str, target: &str) -> Entry {
    entry(name, Kind::Symlink(target.as_bytes().to_vec()), 0o777, b"")
}

/// Writes `apk` to `out` with its data section replaced by `entries` (the control section
/// stays, so its data hash no longer matches). `out` may be `apk` itself.
pub fn replace_data(apk: &Path, out: &Path, entries: &[(Header, &[u8])]) {
    let (layout, _) = melwrap::apk::read::layout(apk).unwrap();
    let raw = fs_err::read(apk).unwrap();
    let mut tar = Vec::new();
    for (h, data) in entries {
        append_bytes(&mut tar, h, data);
    }
    tar.extend_from_slice(&[0u8; 2 * BLOCK]);
    let mut bytes = raw[..layout.data.start as usize].to_vec();
    bytes.extend(melwrap::apk::sign::gzip_member(&tar).unwrap());
    fs_err::write(out, bytes).unwrap();
}

/// This test binary at `dir/bin/repo-tests`, where the unprivileged user can run it.
pub fn place_test_binary(dir: &Path) -> PathBuf {
    let bin_dir = dir.join("bin");
    fs_err::create_dir(&bin_dir).unwrap();
    fs_err::set_permissions(&bin_dir, PermissionsExt::from_mode(0o755)).unwrap();
    let bin = bin_dir.join("repo-tests");
    if fs_err::hard_link(std::env::current_exe().unwrap(), &bin).is_err() {
        fs_err::copy(std::env::current_exe().unwrap(), &bin).unwrap();
    }
    bin
}

/// The suite's own uid, and uid 65534 when the suite can switch to it.
pub fn test_users() -> Vec<u32> {
    use crate::support::unpriv;
    let mut users = vec![unpriv::current_uid()];
    if unpriv::can_switch_users() {
        users.push(unpriv::NOBODY);
    }
    users
}
