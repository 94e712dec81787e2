//! Reading tar streams back. [`Stream`] walks a tar stream one header at a time and hands out
//! each entry's contents as a reader, so a large file is never held in memory (the test
//! runner unpacks package data sections with it). [`Reader`] is built on it for the small
//! archives melwrap reopens (control and signature sections, `APKINDEX.tar.gz`) and holds each
//! entry's contents in memory.
//!
//! Headers: USTAR (with the name prefix), PAX `x` records (`path`, `linkpath`, `size`), GNU
//! `L`/`K` long names and GNU base-256 numbers; `g` global headers are skipped, as Go's
//! `archive/tar` reader does.

use std::collections::BTreeMap;
use std::io::{self, Read};

use super::tar::{BLOCK, padding};

/// Metadata entries (PAX records, GNU long names) larger than this are refused.
const METADATA_LIMIT: u64 = 1 << 20;

/// One entry's header as [`Stream::next_header`] returns it; its contents follow in the stream.
#[derive(Debug, Clone)]
pub struct EntryHeader {
    /// The full name: PAX `path`, else a GNU long name, else USTAR prefix + name.
    pub name: Vec<u8>,
    pub typeflag: u8,
    /// The mode field as stored (file type bits excluded by tar; setuid etc. included).
    pub mode: u32,
    pub mtime: u64,
    /// The link target: PAX `linkpath`, else a GNU long link, else the header field.
    pub link: Vec<u8>,
    /// The entry's PAX records (including `path`, `linkpath` and `size` when present).
    pub pax: BTreeMap<String, Vec<u8>>,
    /// Size of the contents in bytes.
    pub size: u64,
    /// Owner ids as stored (the installed database records them).
    pub uid: u64,
    pub gid: u64,
}

/// A streaming tar reader: [`Stream::next_header`] returns each entry's header, and reading
/// from the `Stream` itself yields that entry's contents (unread contents are skipped on the
/// next call).
pub struct Stream<R: Read> {
    inner: R,
    /// Content bytes of the current entry not yet read.
    remaining: u64,
    /// Padding after the current entry's contents.
    pad: u64,
}

impl<R: Read> Stream<R> {
    pub fn new(inner: R) -> Self {
        Stream {
            inner,
            remaining: 0,
            pad: 0,
        }
    }

    /// The next entry's header, or `None` at the end (two zero blocks, or a clean end of
    /// input, which is how control and signature sections end). Skips whatever is left of the
    /// previous entry's contents first.
    pub fn next_header(&mut self) -> io::Result<Option<EntryHeader>> {
        self.finish_entry()?;
        let mut pax = BTreeMap::new();
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        loop {
            let mut blk = [0u8; BLOCK];
            if !read_full_or_eof(&mut self.inner, &mut blk)? || blk.iter().all(|&c| c == 0) {
                return Ok(None);
            }
            verify_checksum(&blk)?;
            let mut size = parse_number(&blk[124..136])?;
            let typeflag = blk[156];
            if matches!(typeflag, b'x' | b'g' | b'L' | b'K') {
                let data = self.read_metadata(size)?;
                match typeflag {
                    b'x' => pax = parse_pax(&data)?,
                    b'L' => long_name = Some(trim_nul(&data).to_vec()),
                    b'K' => long_link = Some(trim_nul(&data).to_vec()),
                    _ => {}
                }
                continue;
            }
            let mut name = cstr(&blk[0..100]).to_vec();
            if &blk[257..262] == b"ustar" && blk[345] != 0 {
                let mut full = cstr(&blk[345..500]).to_vec();
                full.push(b'/');
                full.extend_from_slice(&name);
                name = full;
            }
            let mut link = cstr(&blk[157..257]).to_vec();
            if let Some(n) = long_name {
                name = n;
            }
            if let Some(l) = long_link {
                link = l;
            }
            if let Some(p) = pax.get("path") {
                name = p.clone();
            }
            if let Some(l) = pax.get("linkpath") {
                link = l.clone();
            }
            if let Some(s) = pax.get("size") {
                size = std::str::from_utf8(s)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| invalid("bad PAX size record".into()))?;
            }
            self.remaining = size;
            self.pad = padding(size) as u64;
            return Ok(Some(EntryHeader {
                name,
                typeflag,
                mode: parse_number(&blk[100..108])? as u32,
                mtime: parse_number(&blk[136..148])?,
                link,
                pax,
                size,
                uid: parse_number(&blk[108..116])?,
                gid: parse_number(&blk[116..124])?,
            }));
        }
    }

    /// Skip the rest of the current entry's contents and its padding.
    pub fn finish_entry(&mut self) -> io::Result<()> {
        let n = self.remaining + self.pad;
        self.remaining = 0;
        self.pad = 0;
        let got = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())?;
        if got != n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside an entry",
            ));
        }
        Ok(())
    }

    /// Read a metadata entry (PAX records, GNU long names) and its padding.
    fn read_metadata(&mut self, size: u64) -> io::Result<Vec<u8>> {
        if size > METADATA_LIMIT {
            return Err(invalid(format!(
                "tar metadata entry of {size} bytes is too large"
            )));
        }
        let mut data = vec![0u8; size as usize];
        self.inner.read_exact(&mut data)?;
        self.pad = padding(size) as u64;
        self.finish_entry()?;
        Ok(data)
    }
}

/// Reads the current entry's contents; `Ok(0)` at its end, or early if the input ends (the
/// caller compares the count with [`EntryHeader::size`]).
impl<R: Read> Read for Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if max == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// One entry read back by [`Reader`]: its header and its contents.
#[derive(Debug, Clone)]
pub struct ReadEntry {
    pub header: EntryHeader,
    pub data: Vec<u8>,
}

/// A minimal tar reader for the small archives melwrap reads back (control sections,
/// signatures, APKINDEX): each entry's contents are held in memory.
pub struct Reader<R: Read> {
    stream: Stream<R>,
    limit: u64,
}

impl<R: Read> Reader<R> {
    /// Read from `inner`; refuse any entry larger than `limit` bytes.
    pub fn new(inner: R, limit: u64) -> Self {
        Reader {
            stream: Stream::new(inner),
            limit,
        }
    }

    /// The next entry, or `None` at the end (see [`Stream::next_header`]).
    pub fn next_entry(&mut self) -> io::Result<Option<ReadEntry>> {
        let Some(h) = self.stream.next_header()? else {
            return Ok(None);
        };
        if h.size > self.limit {
            return Err(invalid(format!(
                "tar entry of {} bytes is too large",
                h.size
            )));
        }
        let mut data = vec![0u8; h.size as usize];
        self.stream.read_exact(&mut data)?;
        self.stream.finish_entry()?;
        Ok(Some(ReadEntry { header: h, data }))
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

fn trim_nul(data: &[u8]) -> &[u8] {
    let end = data.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    &data[..end]
}

/// A numeric header field: octal text, or GNU base-256 when the high bit is set.
fn parse_number(field: &[u8]) -> io::Result<u64> {
    if field.first().is_some_and(|&c| c & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &c in &field[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(c)))
                .ok_or_else(|| invalid("number in tar header is too large".into()))?;
        }
        return Ok(v);
    }
    let s = std::str::from_utf8(cstr(field))
        .map_err(|_| invalid("bad number in tar header".into()))?
        .trim_matches(|c| c == ' ' || c == '\0');
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).map_err(|_| invalid(format!("bad octal number {s:?} in tar header")))
}

pub(super) fn verify_checksum(blk: &[u8; BLOCK]) -> io::Result<()> {
    let want = parse_number(&blk[148..156])?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apk::tar::{Header, append_bytes};

    /// A raw header block with the given name, typeflag and size field, checksummed.
    fn raw_header(name: &[u8], typeflag: u8, size_field: &[u8; 12]) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        b[..name.len()].copy_from_slice(name);
        b[100..108].copy_from_slice(b"0000644\0");
        b[124..136].copy_from_slice(size_field);
        b[156] = typeflag;
        b[257..263].copy_from_slice(b"ustar\0");
        b[148..156].copy_from_slice(b"        ");
        let sum: u64 = b.iter().map(|&c| u64::from(c)).sum();
        b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        b
    }

    #[test]
    fn gnu_long_names_and_base256_sizes_are_read() {
        let long = "n".repeat(150);
        let mut out = Vec::new();
        let mut size = *b"00000000000\0";
        size[..11].copy_from_slice(format!("{:011o}", long.len() + 1).as_bytes());
        out.extend_from_slice(&raw_header(b"././@LongLink", b'L', &size));
        let mut data = long.as_bytes().to_vec();
        data.push(0);
        data.resize(BLOCK, 0);
        out.extend_from_slice(&data);
        let mut base256 = [0u8; 12];
        base256[0] = 0x80;
        base256[11] = 3;
        out.extend_from_slice(&raw_header(b"short", b'0', &base256));
        let mut body = b"abc".to_vec();
        body.resize(BLOCK, 0);
        out.extend_from_slice(&body);
        out.extend_from_slice(&[0u8; 2 * BLOCK]);

        let mut s = Stream::new(&out[..]);
        let h = s.next_header().unwrap().unwrap();
        assert_eq!((h.name, h.size, h.typeflag), (long.into_bytes(), 3, b'0'));
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert_eq!(got, "abc");
        assert!(s.next_header().unwrap().is_none());
    }

    #[test]
    fn stream_skips_unread_contents_and_reports_truncation() {
        let mut out = Vec::new();
        append_bytes(
            &mut out,
            &Header::root_file("a", 0o644, 700, 0),
            &[1u8; 700],
        );
        append_bytes(&mut out, &Header::root_file("b", 0o644, 2, 0), b"hi");
        let mut s = Stream::new(&out[..]);
        let a = s.next_header().unwrap().unwrap();
        let mut first = [0u8; 10];
        s.read_exact(&mut first).unwrap();
        assert_eq!((a.name.as_slice(), first), (&b"a"[..], [1u8; 10]));
        let b = s.next_header().unwrap().unwrap();
        assert_eq!(b.name, b"b");
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"hi");
        // Clean end of input after the last entry's padding.
        assert!(s.next_header().unwrap().is_none());

        let mut cut = Stream::new(&out[..BLOCK + 100]);
        cut.next_header().unwrap().unwrap();
        let err = cut.next_header().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
