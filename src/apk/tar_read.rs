//! Reading tar streams back: the small archives melwrap reopens (control and signature
//! sections, `APKINDEX.tar.gz`). USTAR and PAX `x` headers; contents are held in memory.

use std::collections::BTreeMap;
use std::io::{self, Read};

use super::tar::{BLOCK, padding};

/// One entry read back by [`Reader`].
#[derive(Debug, Clone)]
pub struct ReadEntry {
    pub name: Vec<u8>,
    pub typeflag: u8,
    pub mode: u32,
    pub mtime: u64,
    pub link: Vec<u8>,
    pub pax: BTreeMap<String, Vec<u8>>,
    pub data: Vec<u8>,
}

/// A minimal tar reader for the small archives melwrap reads back (control sections,
/// signatures, APKINDEX): USTAR and PAX `x` headers; contents are held in memory.
pub struct Reader<R: Read> {
    inner: R,
    limit: u64,
}

impl<R: Read> Reader<R> {
    /// Read from `inner`; refuse any entry larger than `limit` bytes.
    pub fn new(inner: R, limit: u64) -> Self {
        Reader { inner, limit }
    }

    /// The next entry, or `None` at the end (two zero blocks, or a clean end of input, which
    /// is how control and signature sections end).
    pub fn next_entry(&mut self) -> io::Result<Option<ReadEntry>> {
        let mut pax = BTreeMap::new();
        loop {
            let mut blk = [0u8; BLOCK];
            if !read_full_or_eof(&mut self.inner, &mut blk)? {
                return Ok(None);
            }
            if blk.iter().all(|&c| c == 0) {
                return Ok(None);
            }
            verify_checksum(&blk)?;
            let size = parse_octal(&blk[124..136])?;
            if size > self.limit {
                return Err(invalid(format!("tar entry of {size} bytes is too large")));
            }
            let mut data = vec![0u8; size as usize];
            self.inner.read_exact(&mut data)?;
            let mut pad = [0u8; BLOCK];
            self.inner.read_exact(&mut pad[..padding(size)])?;
            let typeflag = blk[156];
            if typeflag == b'x' {
                pax = parse_pax(&data)?;
                continue;
            }
            if typeflag == b'g' {
                continue;
            }
            let mut name = cstr(&blk[0..100]).to_vec();
            if &blk[257..262] == b"ustar" && blk[345] != 0 {
                let mut full = cstr(&blk[345..500]).to_vec();
                full.push(b'/');
                full.extend_from_slice(&name);
                name = full;
            }
            if let Some(p) = pax.get("path") {
                name = p.clone();
            }
            let mut link = cstr(&blk[157..257]).to_vec();
            if let Some(l) = pax.get("linkpath") {
                link = l.clone();
            }
            return Ok(Some(ReadEntry {
                name,
                typeflag,
                mode: parse_octal(&blk[100..108])? as u32,
                mtime: parse_octal(&blk[136..148])?,
                link,
                pax,
                data,
            }));
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn read_full_or_eof(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        let n = r.read(&mut buf[got..])?;
        if n == 0 {
            if got == 0 {
                return Ok(false);
            }
            return Err(invalid("truncated tar header".into()));
        }
        got += n;
    }
    Ok(true)
}

fn cstr(field: &[u8]) -> &[u8] {
    match field.iter().position(|&c| c == 0) {
        Some(i) => &field[..i],
        None => field,
    }
}

fn parse_octal(field: &[u8]) -> io::Result<u64> {
    let s = cstr(field);
    let s = std::str::from_utf8(s).map_err(|_| invalid("bad number in tar header".into()))?;
    let s = s.trim_matches(|c| c == ' ' || c == '\0');
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).map_err(|_| invalid(format!("bad octal number {s:?} in tar header")))
}

pub(super) fn verify_checksum(blk: &[u8; BLOCK]) -> io::Result<()> {
    let want = parse_octal(&blk[148..156])?;
    let sum: u64 = blk
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(c)
            }
        })
        .sum();
    if sum != want {
        return Err(invalid("tar header checksum mismatch".into()));
    }
    Ok(())
}

pub(super) fn parse_pax(mut data: &[u8]) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    while !data.is_empty() {
        let sp = data
            .iter()
            .position(|&c| c == b' ')
            .ok_or_else(|| invalid("bad PAX record".into()))?;
        let len: usize = std::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("bad PAX record length".into()))?;
        if len > data.len() || len < sp + 2 || data[len - 1] != b'\n' {
            return Err(invalid("bad PAX record".into()));
        }
        let rec = &data[sp + 1..len - 1];
        let eq = rec
            .iter()
            .position(|&c| c == b'=')
            .ok_or_else(|| invalid("bad PAX record".into()))?;
        let key = String::from_utf8_lossy(&rec[..eq]).into_owned();
        out.insert(key, rec[eq + 1..].to_vec());
        data = &data[len..];
    }
    Ok(out)
}
