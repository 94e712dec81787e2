//! `lib/apk/db/installed`: what each package put where, in apk-tools 2.14's format.
//!
//! Per package the index fields (`C:` `P:` `V:` `A:` `S:` `I:` `T:` `U:` `L:` and, when set,
//! `o:` `m:` `t:` `c:` `k:` `D:` `p:` `i:` `r:` `q:`), then per directory `F:<path>` with
//! `M:<uid>:<gid>:<mode>` when it is not root's 0755, and per entry below it `R:<name>`,
//! `a:<uid>:<gid>:<mode>` when it is not root's 0644, and `Z:Q1<base64 SHA-1>` of the contents
//! (of the target for a symlink). Owners are the package's (a rootless install cannot set
//! them on disk, so the database is where they are kept). The listing also carries each
//! entry's mtime and extended attributes for [`super::finish`].

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine as _;
use color_eyre::eyre::{self, WrapErr};
use sha1::{Digest, Sha1};

use super::cache::VerifiedPackage;
use super::finish::EntryMeta;
use crate::apk::tar_read::Stream;
use crate::apk::unpack::safe_name;

/// One entry of a package's data section, as the installed database records it.
pub(super) struct FileEntry {
    /// Owner, group and permission bits, as stored in the package.
    acl: (u64, u64, u32),
    /// SHA-1 of the contents (regular files, hard links) or of the link target (symlinks).
    sha1: Option<[u8; 20]>,
}

/// Directories in first-seen order, each with its files in order.
pub(super) type Listing = Vec<(String, Option<(u64, u64, u32)>, Vec<(String, FileEntry)>)>;

/// The package's listing for the database, and each entry's time and attributes, from its
/// decompressed data section.
pub(super) fn list_files(data: impl Read) -> eyre::Result<(Listing, Vec<EntryMeta>)> {
    let mut out: Listing = Vec::new();
    let mut metas = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut slot = |out: &mut Listing, dir: &str| -> usize {
        *index.entry(dir.to_string()).or_insert_with(|| {
            out.push((dir.to_string(), None, Vec::new()));
            out.len() - 1
        })
    };
    let mut sums: BTreeMap<String, [u8; 20]> = BTreeMap::new();
    let mut tar = Stream::new(data);
    while let Some(h) = tar.next_header()? {
        let shown = String::from_utf8_lossy(&h.name).into_owned();
        let Some(rel) = safe_name(&h.name).wrap_err_with(|| format!("entry `{shown}`"))? else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        let acl = (h.uid, h.gid, h.mode & 0o7777);
        if matches!(h.typeflag, b'0' | 0 | b'7' | b'1' | b'2' | b'5') {
            metas.push(EntryMeta {
                rel: rel.clone(),
                is_dir: h.typeflag == b'5',
                is_file: matches!(h.typeflag, b'0' | 0 | b'7' | b'1'),
                mtime: h.mtime as i64,
                xattrs: h
                    .pax
                    .iter()
                    .filter_map(|(k, v)| {
                        k.strip_prefix("SCHILY.xattr.")
                            .map(|n| (n.to_string(), v.clone()))
                    })
                    .collect(),
            });
        }
        let (dir, base) = match rel.rsplit_once('/') {
            Some((d, b)) => (d.to_string(), b.to_string()),
            None => (String::new(), rel.clone()),
        };
        let sha1 = match h.typeflag {
            b'5' => {
                let i = slot(&mut out, &rel);
                out[i].1 = Some(acl);
                continue;
            }
            b'0' | 0 | b'7' => {
                let mut hash = Sha1::new();
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = tar.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hash.update(&buf[..n]);
                }
                let sum: [u8; 20] = hash.finalize().into();
                sums.insert(rel.clone(), sum);
                Some(sum)
            }
            b'1' => {
                // A bad target is the unpacker's to refuse (with the entry named).
                let target = safe_name(&h.link)
                    .ok()
                    .flatten()
                    .map(|t| t.to_string_lossy().into_owned());
                target.and_then(|t| sums.get(&t).copied())
            }
            b'2' => Some(Sha1::digest(&h.link).into()),
            _ => continue,
        };
        let i = slot(&mut out, &dir);
        out[i].2.push((base, FileEntry { acl, sha1 }));
    }
    Ok((out, metas))
}

/// One package's block of `lib/apk/db/installed`, in apk-tools 2.x's field order.
pub(super) fn db_entry(p: &VerifiedPackage, files: &Listing) -> String {
    let i = &p.package.info;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut s = String::new();
    // As apk-tools 2.14 writes it: `T:`, `U:`, `L:` even when empty; the rest only when set.
    let mut field = |k: char, v: &str, always: bool| {
        if always || !v.is_empty() {
            s.push_str(&format!("{k}:{v}\n"));
        }
    };
    field('C', &format!("Q1{}", b64(&p.package.control_sha1)), true);
    field('P', i.get("pkgname"), true);
    field('V', i.get("pkgver"), true);
    field('A', i.get("arch"), false);
    field('S', &p.package.file_size.to_string(), true);
    field('I', i.get("size"), true);
    field('T', i.get("pkgdesc"), true);
    field('U', i.get("url"), true);
    field('L', i.get("license"), true);
    field('o', i.get("origin"), false);
    field('m', i.get("maintainer"), false);
    let t = i.get("builddate");
    field('t', if t == "0" { "" } else { t }, false);
    field('c', i.get("commit"), false);
    let k = i.get("provider_priority");
    field('k', if k == "0" { "" } else { k }, false);
    field('D', &i.all("depend").join(" "), false);
    field('p', &i.all("provides").join(" "), false);
    field('i', &i.all("install_if").join(" "), false);
    field('r', &i.all("replaces").join(" "), false);
    field('q', i.get("replaces_priority"), false);
    for (dir, acl, entries) in files {
        s.push_str(&format!("F:{dir}\n"));
        if let Some((u, g, m)) = acl.filter(|a| *a != (0, 0, 0o755)) {
            s.push_str(&format!("M:{u}:{g}:{m:o}\n"));
        }
        for (name, e) in entries {
            s.push_str(&format!("R:{name}\n"));
            let (u, g, m) = e.acl;
            if e.acl != (0, 0, 0o644) {
                s.push_str(&format!("a:{u}:{g}:{m:o}\n"));
            }
            if let Some(sum) = e.sha1 {
                s.push_str(&format!("Z:Q1{}\n", b64(&sum)));
            }
        }
    }
    s.push('\n');
    s
}
