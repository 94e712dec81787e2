//! Reading an `APKINDEX.tar.gz` from bytes: the signature member (when there is one), the
//! offset where the signed data starts, and the entries (parsed by `apk::index`, which knows
//! every field: C P V A S I T U L o m t c D p i k).

use std::io::Read;

use crate::apk::index::{Index, IndexEntry};
use crate::apk::tar;

use super::verify::Signature;

/// Largest decompressed index accepted (Alpine's community index is about 10 MB).
const MAX_INDEX_BYTES: u64 = 300 << 20;

/// An index split as apk reads it.
#[derive(Debug, Clone, Default)]
pub struct ParsedIndex {
    pub signatures: Vec<Signature>,
    /// Offset in the file where the signed bytes (everything after the signature member)
    /// begin; 0 when unsigned.
    pub signed_from: usize,
    pub entries: Vec<IndexEntry>,
    pub description: String,
}

/// The signature member at the start of an index, when there is one.
#[derive(Debug, Clone, Default)]
pub struct SignedIndex {
    pub signatures: Vec<Signature>,
    /// Offset where the signed bytes (everything after the signature member) begin; 0 when
    /// unsigned.
    pub signed_from: usize,
}

/// Split off the signature member without reading further: the rest is only decompressed
/// after its signature is checked.
pub fn split_signature(bytes: &[u8]) -> Result<SignedIndex, String> {
    // First member alone: a signature member is a tar of `.SIGN.*` entries, no end blocks.
    let mut first = flate2::bufread::GzDecoder::new(bytes);
    let mut head = Vec::new();
    (&mut first)
        .take(1 << 20)
        .read_to_end(&mut head)
        .map_err(|e| format!("not a gzip stream: {e}"))?;
    let rest = first.into_inner();
    let mut r = tar::Reader::new(&head[..], 1 << 20);
    let mut sigs = Vec::new();
    while let Ok(Some(e)) = r.next_entry() {
        let name = String::from_utf8_lossy(&e.header.name).into_owned();
        match Signature::from_entry(&name, e.data) {
            Some(s) => sigs.push(s),
            // The first member is the index itself: unsigned.
            None => return Ok(SignedIndex::default()),
        }
    }
    if sigs.is_empty() {
        return Ok(SignedIndex::default());
    }
    Ok(SignedIndex {
        signatures: sigs,
        signed_from: bytes.len() - rest.len(),
    })
}

/// Parse the bytes of an `APKINDEX.tar.gz` (signature member and index). Errors say what is
/// wrong, not where the bytes came from (the caller names the repository).
pub fn parse(bytes: &[u8]) -> Result<ParsedIndex, String> {
    let sig = split_signature(bytes)?;
    let mut out = parse_body(&bytes[sig.signed_from..])?;
    out.signatures = sig.signatures;
    out.signed_from = sig.signed_from;
    Ok(out)
}

/// Parse the index member(s) that follow the signature.
pub fn parse_body(body: &[u8]) -> Result<ParsedIndex, String> {
    let mut out = ParsedIndex::default();
    // The gzip trailer's ISIZE (the last member's size mod 2^32) sizes the buffer once.
    let hint = body
        .len()
        .checked_sub(4)
        .map(|i| u32::from_le_bytes(body[i..].try_into().unwrap_or([0; 4])) as usize)
        .unwrap_or(0);
    let mut raw = Vec::with_capacity(hint.min(MAX_INDEX_BYTES as usize) + 1024);
    flate2::read::MultiGzDecoder::new(body)
        .take(MAX_INDEX_BYTES)
        .read_to_end(&mut raw)
        .map_err(|e| format!("not a complete gzip stream: {e}"))?;
    let mut found = false;
    let mut take = |name: &[u8], data: &[u8]| -> Result<(), String> {
        match name {
            b"APKINDEX" => {
                out.entries = parse_entries(&String::from_utf8_lossy(data))?;
                found = true;
            }
            b"DESCRIPTION" => out.description = String::from_utf8_lossy(data).into(),
            _ => {}
        }
        Ok(())
    };
    match plain_members(&raw) {
        // The usual case: plain ustar entries, read in place (the index is megabytes).
        Some(members) => {
            for (name, data) in members {
                take(name, data)?;
            }
        }
        None => {
            let mut r = tar::Reader::new(&raw[..], MAX_INDEX_BYTES);
            while let Some(e) = r.next_entry().map_err(|e| format!("bad tar data: {e}"))? {
                take(&e.header.name, &e.data)?;
            }
        }
    }
    if !found {
        return Err("no APKINDEX entry in the archive".into());
    }
    Ok(out)
}

/// The (name, contents) of each entry when the archive holds only regular files with short
/// names and no extension headers; `None` otherwise (the full tar reader takes over).
fn plain_members(raw: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut out = Vec::new();
    let mut off = 0usize;
    loop {
        let h = raw.get(off..off + 512)?;
        if h.iter().all(|&b| b == 0) {
            return Some(out);
        }
        if !matches!(h[156], b'0' | 0) || h[345] != 0 {
            return None;
        }
        let stored: u32 = h[148..156]
            .iter()
            .skip_while(|&&b| b == b' ')
            .take_while(|&&b| b != 0 && b != b' ')
            .try_fold(0u32, |a, &b| {
                (b'0'..=b'7')
                    .contains(&b)
                    .then(|| a * 8 + u32::from(b - b'0'))
            })?;
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        if sum != stored {
            return None;
        }
        let size = h[124..136]
            .iter()
            .skip_while(|&&b| b == b' ')
            .take_while(|&&b| b != 0 && b != b' ')
            .try_fold(0usize, |a, &b| {
                (b'0'..=b'7')
                    .contains(&b)
                    .then(|| a.checked_mul(8).map(|a| a + usize::from(b - b'0')))?
            })?;
        let name_len = h[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let data = raw.get(off + 512..(off + 512).checked_add(size)?)?;
        out.push((&h[..name_len], data));
        off = off + 512 + size.div_ceil(512) * 512;
    }
}

/// `Index::parse_text` on large texts split at package boundaries across the machine's cores
/// (the entries keep their order). A real index is a few MB; parsing is most of a resolution.
fn parse_entries(text: &str) -> Result<Vec<IndexEntry>, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || text.len() < (256 << 10) {
        return Index::parse_text(text).map_err(|e| e.to_string());
    }
    let mut chunks = Vec::new();
    let mut rest = text;
    for i in (1..threads).rev() {
        let want = rest.len() / (i + 1);
        match rest[want..].find("\n\n") {
            Some(at) => {
                let (a, b) = rest.split_at(want + at + 2);
                chunks.push(a);
                rest = b;
            }
            None => break,
        }
    }
    chunks.push(rest);
    let parts: Vec<Result<Vec<IndexEntry>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|c| s.spawn(move || Index::parse_text(c).map_err(|e| e.to_string())))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("index parser panicked".into()))
            })
            .collect()
    });
    let mut out = Vec::new();
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> IndexEntry {
        IndexEntry {
            checksum: vec![1; 20],
            name: name.into(),
            version: "1-r0".into(),
            ..IndexEntry::default()
        }
    }

    #[test]
    fn reads_an_unsigned_index() {
        let idx = Index {
            entries: vec![entry("a"), entry("b")],
            description: "d".into(),
        };
        let p = parse(&idx.to_unsigned_bytes().unwrap()).unwrap();
        assert!(p.signatures.is_empty());
        assert_eq!(p.entries.len(), 2);
        assert_eq!(p.description, "d");
    }

    #[test]
    fn split_parsing_keeps_every_entry_in_order() {
        let text: String = (0..20000)
            .map(|i| format!("P:p{i}\nV:1.{i}-r0\nD:a b\n\n"))
            .collect();
        let all = parse_entries(&text).unwrap();
        assert_eq!(all, Index::parse_text(&text).unwrap());
        assert_eq!(all.len(), 20000);
    }

    #[test]
    fn plain_members_agree_with_the_tar_reader() {
        let idx = Index {
            entries: vec![entry("a"), entry("b")],
            description: "desc".into(),
        };
        let gz = idx.to_unsigned_bytes().unwrap();
        let mut raw = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut raw)
            .unwrap();
        let m = plain_members(&raw).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].0, b"APKINDEX");
        assert_eq!(m[1], (&b"DESCRIPTION"[..], &b"desc"[..]));
        // A damaged header is left to the full reader.
        raw[0] ^= 1;
        assert!(plain_members(&raw).is_none());
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(parse(b"nope").is_err());
        let idx = Index {
            entries: vec![entry("a")],
            description: String::new(),
        };
        let b = idx.to_unsigned_bytes().unwrap();
        assert!(parse(&b[..b.len() / 2]).is_err());
    }
}
