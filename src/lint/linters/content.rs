//! The linters that read file contents, through the destdir walk's descriptors: `strip` and
//! `binaryarch` (the bounded ELF reader) and `duplicate` (SHA-256 of files of 1 KiB or more).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::super::elf::{self, ElfInfo};
use super::{Found, LICENSE_FILE, OBJECT_EXT, Outcome, Subject, ignored, plural};

/// The ELF information of a regular file melange's `strip`/`binaryarch` look at: at least 4
/// bytes, executable or named like a library.
fn elf_of(s: &mut Subject<'_>, i: usize) -> io::Result<Option<ElfInfo>> {
    let e = &s.entries[i];
    if !e.is_file() || ignored(&e.path) || e.size < 4 {
        return Ok(None);
    }
    if e.mode & 0o111 == 0 && !OBJECT_EXT.is_match(e.ext()) {
        return Ok(None);
    }
    if let Some(cached) = s.elf_cache.get(&i) {
        return Ok(cached.clone());
    }
    let mut f = s.opener.open(i)?;
    let info = elf::read(&mut f)?;
    s.elf_cache.insert(i, info.clone());
    Ok(info)
}

pub fn strip(s: &mut Subject<'_>) -> Outcome {
    let mut paths = Vec::new();
    for i in 0..s.entries.len() {
        if let Some(info) = elf_of(s, i)?
            && (info.has_section(".debug") || info.has_section(".zdebug"))
        {
            paths.push(s.entries[i].path.clone());
        }
    }
    Ok((!paths.is_empty()).then(|| Found {
        message: format!(
            "{} contains {} unstripped {}",
            s.name,
            paths.len(),
            if paths.len() == 1 {
                "binary"
            } else {
                "binaries"
            }
        ),
        paths,
    }))
}

pub fn binaryarch(s: &mut Subject<'_>) -> Outcome {
    let mut paths = Vec::new();
    for i in 0..s.entries.len() {
        if let Some(info) = elf_of(s, i)?
            && info.machine != elf::EM_X86_64
            && info.machine != elf::EM_AARCH64
        {
            paths.push(format!("{} ({})", s.entries[i].path, info.arch_name()));
        }
    }
    Ok((!paths.is_empty()).then(|| Found {
        message: format!(
            "{} contains {} compiled for unsupported architecture(s)",
            s.name,
            plural(paths.len(), "binary", "binaries")
        ),
        paths,
    }))
}

pub fn duplicate(s: &mut Subject<'_>) -> Outcome {
    const MIN_SIZE: u64 = 1024;
    let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut sizes: HashMap<(String, String), u64> = HashMap::new();
    for i in 0..s.entries.len() {
        let e = &s.entries[i];
        if !e.is_file() || e.size < MIN_SIZE || LICENSE_FILE.is_match(e.base()) {
            continue;
        }
        let (path, base, size) = (e.path.clone(), e.base().to_string(), e.size);
        let mut f = s.opener.open(i)?;
        let hash = sha256_of(&mut f, size)?;
        let key = (hash, base);
        sizes.insert(key.clone(), size);
        groups.entry(key).or_default().push(path);
    }
    let mut sets: Vec<(u64, String, Vec<String>)> = groups
        .into_iter()
        .filter(|(_, paths)| paths.len() > 1)
        .map(|(key, mut paths)| {
            paths.sort();
            let wasted = (paths.len() as u64 - 1) * sizes[&key];
            (wasted, key.1, paths)
        })
        .collect();
    if sets.is_empty() {
        return Ok(None);
    }
    sets.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
    let total: u64 = sets.iter().map(|s| s.0).sum();
    let paths = sets
        .iter()
        .map(|(wasted, base, paths)| {
            format!(
                "{base}: {} copies, {wasted} bytes wasted: {}",
                paths.len(),
                paths.join(", ")
            )
        })
        .collect();
    Ok(Some(Found {
        message: format!(
            "{} contains {} duplicate file(s) with same name in different directories (wasting {total} bytes total)",
            s.name,
            sets.len()
        ),
        paths,
    }))
}

/// The SHA-256 of the first `size` bytes (the size the walk saw: a file that grows since is
/// not read further).
fn sha256_of(f: &mut File, size: u64) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut limited = f.take(size);
    loop {
        let n = limited.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
