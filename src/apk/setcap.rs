//! `package.setcap` as the `security.capability` extended attribute of files in the package.
//!
//! melange (`pkg/config/config.go`: `ParseCapabilities`, `EncodeCapability`) sets this xattr on
//! the workspace file; a rootless build cannot, so melwrap writes it straight into the data
//! tar as a `SCHILY.xattr.security.capability` record: a little-endian `vfs_cap_data`
//! revision 2 (20 bytes) holding the permitted and inheritable sets and the effective flag
//! when any capability is effective.
//!
//! melange writes revision 3 (24 bytes, `vfs_ns_cap_data`) with root id 0. The kernel stores
//! and returns a root id of 0 as revision 2 (`cap_inode_getsecurity`: a v3 value whose root
//! id is the reader's namespace root is handed back as v2), so a file installed from
//! melange's package reads back 20 bytes that differ from the 24 the package recorded, and
//! `apk audit --system` reports every such file as changed. Writing the form the kernel
//! returns makes the recorded and the installed value the same; the capabilities are equal.

use std::collections::BTreeMap;

use crate::config::model::Capability;

/// The capabilities melange allows in `setcap:`, with their bit numbers (linux/capability.h).
pub const ALLOWED: &[(&str, u32)] = &[
    ("cap_net_bind_service", 10),
    ("cap_net_admin", 12),
    ("cap_net_raw", 13),
    ("cap_ipc_lock", 14),
    ("cap_sys_admin", 21),
];

/// `security.capability` values by package path (no leading `/`), for `DataOptions::xattrs`.
pub fn xattrs(setcap: &[Capability]) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    let mut sets: BTreeMap<String, (u32, u32, u32)> = BTreeMap::new();
    for entry in setcap {
        let path = entry.path.trim_start_matches('/').to_string();
        let bits = sets.entry(path).or_default();
        for (names, flags) in &entry.add {
            let mask = names
                .split(',')
                .filter_map(|n| ALLOWED.iter().find(|(a, _)| *a == n.trim()))
                .fold(0u32, |m, (_, bit)| m | (1 << bit));
            if flags.contains('e') {
                bits.0 |= mask;
            }
            if flags.contains('p') {
                bits.1 |= mask;
            }
            if flags.contains('i') {
                bits.2 |= mask;
            }
        }
    }
    sets.into_iter()
        .map(|(path, (effective, permitted, inheritable))| {
            let value = encode(effective, permitted, inheritable);
            (
                path,
                BTreeMap::from([("security.capability".to_string(), value)]),
            )
        })
        .collect()
}

/// The 20-byte revision-2 capability xattr (`VFS_CAP_REVISION_2`, `XATTR_CAPS_SZ_2`): the
/// magic with the effective flag, then the low and high words of the permitted and
/// inheritable sets (every capability melange allows is below 32, so the high words are 0).
pub fn encode(effective: u32, permitted: u32, inheritable: u32) -> Vec<u8> {
    const REVISION_2: u32 = 0x0200_0000;
    const FLAG_EFFECTIVE: u32 = 0x01;
    let magic = REVISION_2 | if effective != 0 { FLAG_EFFECTIVE } else { 0 };
    let mut out = Vec::with_capacity(20);
    for word in [magic, permitted, inheritable, 0, 0] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_setcap_ep() {
        // `setcap cap_net_raw+ep` as root, read back with `getfattr -e hex`: revision 2 with
        // the effective flag, permitted = 1<<13, inheritable 0.
        let v = encode(1 << 13, 1 << 13, 0);
        assert_eq!(hex::encode(&v), "0100000200200000000000000000000000000000");
    }

    #[test]
    fn merges_entries_per_path() {
        let caps = vec![
            Capability {
                path: "/usr/bin/ping".into(),
                add: BTreeMap::from([("cap_net_raw,cap_net_admin".into(), "+ep".into())]),
                reason: "ping".into(),
            },
            Capability {
                path: "usr/bin/ping".into(),
                add: BTreeMap::from([("cap_ipc_lock".into(), "i".into())]),
                reason: "more".into(),
            },
        ];
        let x = xattrs(&caps);
        let v = &x["usr/bin/ping"]["security.capability"];
        let word = |i: usize| u32::from_le_bytes(v[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(v.len(), 20);
        assert_eq!(word(0), 0x0200_0001);
        assert_eq!(word(1), (1 << 13) | (1 << 12));
        assert_eq!(word(2), 1 << 14);
    }
}
