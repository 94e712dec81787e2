//! A small, deterministic tar encoder for apk sections (the matching reader is
//! [`super::tar_read`], re-exported here).
//!
//! Headers are laid out the way Go's `archive/tar` writes them, because melange writes its
//! packages with it (`pkg/tarball/write.go`): USTAR when every field fits, otherwise a PAX
//! extended header (named `<dir>/PaxHeaders.0/<base>`, records sorted by key) followed by a
//! USTAR-magic header whose overflowing fields are truncated or zeroed. Entries that carry PAX
//! records of their own (apk-tools' `APK-TOOLS.checksum.SHA1`, `SCHILY.xattr.*`) always use PAX.
//! Numbers are zero-padded octal with a NUL terminator, the checksum is six digits, NUL, space.
//! There is no atime or ctime, and the archive ends with two zero blocks (no record padding).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

/// Size of a tar block.
pub const BLOCK: usize = 512;

/// What a tar entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file; its contents follow the header.
    File,
    /// A directory.
    Dir,
    /// A symbolic link to the given target (stored verbatim).
    Symlink(Vec<u8>),
    /// A hard link to an earlier entry's path.
    HardLink(Vec<u8>),
    /// A character device.
    CharDev { major: u32, minor: u32 },
    /// A block device.
    BlockDev { major: u32, minor: u32 },
    /// A named pipe.
    Fifo,
}

impl Kind {
    fn typeflag(&self) -> u8 {
        match self {
            Kind::File => b'0',
            Kind::HardLink(_) => b'1',
            Kind::Symlink(_) => b'2',
            Kind::CharDev { .. } => b'3',
            Kind::BlockDev { .. } => b'4',
            Kind::Dir => b'5',
            Kind::Fifo => b'6',
        }
    }

    fn link_name(&self) -> &[u8] {
        match self {
            Kind::Symlink(t) | Kind::HardLink(t) => t,
            _ => b"",
        }
    }

    fn device(&self) -> (u32, u32) {
        match self {
            Kind::CharDev { major, minor } | Kind::BlockDev { major, minor } => (*major, *minor),
            _ => (0, 0),
        }
    }
}

/// One tar entry's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Relative path, without `./` and without a trailing `/`.
    pub name: Vec<u8>,
    pub kind: Kind,
    /// Permission bits plus setuid/setgid/sticky (`0o7777`), never the file-type bits.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: String,
    pub gname: String,
    /// Bytes of content that follow (regular files only; 0 otherwise).
    pub size: u64,
    /// Modification time, Unix seconds.
    pub mtime: u64,
    /// Extra PAX records (written sorted by key, like Go). Values may be binary (xattrs).
    pub pax: BTreeMap<String, Vec<u8>>,
}

impl Header {
    /// A root-owned regular file of `size` bytes, as used in control and signature sections.
    pub fn root_file(name: &str, mode: u32, size: u64, mtime: u64) -> Header {
        Header {
            name: name.as_bytes().to_vec(),
            kind: Kind::File,
            mode,
            uid: 0,
            gid: 0,
            uname: "root".into(),
            gname: "root".into(),
            size,
            mtime,
            pax: BTreeMap::new(),
        }
    }

    /// Encode the header block(s) for this entry (a PAX header first when needed).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BLOCK * 3);
        let mut records = self.pax.clone();
        let name_ascii = is_ascii(&self.name);
        let link = self.kind.link_name();
        // Which fields need a PAX record (Go's `Header.allowedFormats`).
        let name_split = if name_ascii && self.name.len() > 100 {
            split_ustar_path(&self.name)
        } else {
            None
        };
        let name_needs_pax = !name_ascii || self.name.len() > 100;
        let link_needs_pax = !is_ascii(link) || link.len() > 100;
        let uname_needs_pax = !is_ascii(self.uname.as_bytes()) || self.uname.len() > 32;
        let gname_needs_pax = !is_ascii(self.gname.as_bytes()) || self.gname.len() > 32;
        let uid_fits = fits_octal(self.uid, 8);
        let gid_fits = fits_octal(self.gid, 8);
        let size_fits = fits_octal(self.size, 12);
        let mtime_fits = fits_octal(self.mtime, 12);
        let ustar_ok = records.is_empty()
            && (!name_needs_pax || name_split.is_some())
            && !link_needs_pax
            && !uname_needs_pax
            && !gname_needs_pax
            && uid_fits
            && gid_fits
            && size_fits
            && mtime_fits;
        if ustar_ok {
            let (prefix, name) = match name_split {
                Some((p, n)) => (p, n),
                None => (&[][..], &self.name[..]),
            };
            let mut blk = self.v7_block(name, link);
            put_str(&mut blk[345..500], prefix);
            finish_block(&mut blk);
            out.extend_from_slice(&blk);
            return out;
        }
        if name_needs_pax {
            records.insert("path".into(), self.name.clone());
        }
        if link_needs_pax {
            records.insert("linkpath".into(), link.to_vec());
        }
        if uname_needs_pax {
            records.insert("uname".into(), self.uname.as_bytes().to_vec());
        }
        if gname_needs_pax {
            records.insert("gname".into(), self.gname.as_bytes().to_vec());
        }
        if !uid_fits {
            records.insert("uid".into(), self.uid.to_string().into_bytes());
        }
        if !gid_fits {
            records.insert("gid".into(), self.gid.to_string().into_bytes());
        }
        if !size_fits {
            records.insert("size".into(), self.size.to_string().into_bytes());
        }
        if !mtime_fits {
            records.insert("mtime".into(), self.mtime.to_string().into_bytes());
        }
        let mut data = Vec::new();
        for (k, v) in &records {
            pax_record(&mut data, k.as_bytes(), v);
        }
        // The extended header itself: mode, ids and mtime all zero (Go's `writeRawFile`).
        let mut xblk = [0u8; BLOCK];
        let mut xname = pax_header_name(&self.name);
        xname.truncate(100);
        while xname.last() == Some(&b'/') {
            xname.pop();
        }
        put_str(&mut xblk[0..100], &xname);
        put_octal(&mut xblk[100..108], 0);
        put_octal(&mut xblk[108..116], 0);
        put_octal(&mut xblk[116..124], 0);
        put_octal(&mut xblk[124..136], data.len() as u64);
        put_octal(&mut xblk[136..148], 0);
        xblk[156] = b'x';
        finish_block(&mut xblk);
        out.extend_from_slice(&xblk);
        out.extend_from_slice(&data);
        out.resize(out.len() + padding(data.len() as u64), 0);
        // The main header: ASCII-only, truncated strings and zeroed numbers that overflow.
        let mut blk = self.v7_block(&to_ascii(&self.name), &to_ascii(link));
        finish_block(&mut blk);
        out.extend_from_slice(&blk);
        out
    }

    fn v7_block(&self, name: &[u8], link: &[u8]) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        let num = |x: u64, width: usize| if fits_octal(x, width) { x } else { 0 };
        put_str(&mut b[0..100], name);
        put_octal(&mut b[100..108], u64::from(self.mode & 0o7777));
        put_octal(&mut b[108..116], num(self.uid, 8));
        put_octal(&mut b[116..124], num(self.gid, 8));
        put_octal(&mut b[124..136], num(self.size, 12));
        put_octal(&mut b[136..148], num(self.mtime, 12));
        b[156] = self.kind.typeflag();
        put_str(&mut b[157..257], link);
        put_str(&mut b[265..297], &to_ascii(self.uname.as_bytes()));
        put_str(&mut b[297..329], &to_ascii(self.gname.as_bytes()));
        let (major, minor) = self.kind.device();
        put_octal(&mut b[329..337], u64::from(major));
        put_octal(&mut b[337..345], u64::from(minor));
        b
    }
}

/// Zero bytes needed after `size` bytes of content to reach a block boundary.
pub fn padding(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

/// The end-of-archive marker: two zero blocks.
pub const END_OF_ARCHIVE: [u8; 2 * BLOCK] = [0u8; 2 * BLOCK];

/// Append one complete entry (header, contents, padding) held in memory.
pub fn append_bytes(out: &mut Vec<u8>, header: &Header, contents: &[u8]) {
    debug_assert_eq!(header.size, contents.len() as u64);
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(contents);
    out.resize(out.len() + padding(contents.len() as u64), 0);
}

/// Copy exactly `size` bytes from `src` to `dst`, then the padding; error if `src` is short
/// (a file that shrank while it was packed). Returns the bytes copied.
pub fn copy_contents(
    src: &mut dyn Read,
    dst: &mut dyn Write,
    size: u64,
    buf: &mut [u8],
) -> io::Result<()> {
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = src.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("file shrank while it was being packed ({left} bytes missing)"),
            ));
        }
        dst.write_all(&buf[..n])?;
        left -= n as u64;
    }
    dst.write_all(&[0u8; BLOCK][..padding(size)])
}

fn is_ascii(s: &[u8]) -> bool {
    s.iter().all(|&c| c != 0 && c < 0x80)
}

/// Go's `toASCII`: drop NUL and every non-ASCII byte.
fn to_ascii(s: &[u8]) -> Vec<u8> {
    s.iter().copied().filter(|&c| c != 0 && c < 0x80).collect()
}

fn fits_octal(x: u64, width: usize) -> bool {
    // width-1 octal digits, then NUL.
    x < 1u64 << (3 * (width - 1)).min(63)
}

/// Go's `splitUSTARPath`: a prefix of at most 155 bytes and a name of at most 100, split at
/// the last `/` that allows it.
fn split_ustar_path(name: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut length = name.len();
    if length <= 100 || !is_ascii(name) {
        return None;
    } else if length > 156 {
        length = 156;
    } else if name[length - 1] == b'/' {
        length -= 1;
    }
    let i = name[..length].iter().rposition(|&c| c == b'/')?;
    let suffix_len = name.len() - i - 1;
    if i == 0 || suffix_len > 100 || suffix_len == 0 || i > 155 {
        return None;
    }
    Some((&name[..i], &name[i + 1..]))
}

/// `dir/PaxHeaders.0/base`, as Go's `path.Join(dir, "PaxHeaders.0", file)`.
fn pax_header_name(name: &[u8]) -> Vec<u8> {
    match name.iter().rposition(|&c| c == b'/') {
        Some(i) => {
            let mut dir = name[..i].to_vec();
            while dir.last() == Some(&b'/') {
                dir.pop();
            }
            let mut out = dir;
            if !out.is_empty() {
                out.push(b'/');
            }
            out.extend_from_slice(b"PaxHeaders.0/");
            out.extend_from_slice(&name[i + 1..]);
            out
        }
        None => {
            let mut out = b"PaxHeaders.0/".to_vec();
            out.extend_from_slice(name);
            out
        }
    }
}

/// `"%d %s=%s\n"` where the leading length counts the whole record, itself included.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=' and '\n'
    let mut size = body + body.to_string().len();
    if size.to_string().len() + body != size {
        // Adding the length field made the length itself one digit longer.
        size = body + size.to_string().len();
    }
    out.extend_from_slice(size.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn put_str(field: &mut [u8], s: &[u8]) {
    let n = s.len().min(field.len());
    field[..n].copy_from_slice(&s[..n]);
    if n < field.len() {
        field[n] = 0;
    }
}

fn put_octal(field: &mut [u8], x: u64) {
    let digits = field.len() - 1;
    let s = format!("{x:0digits$o}");
    field[..digits].copy_from_slice(&s.as_bytes()[s.len() - digits..]);
    field[digits] = 0;
}

/// Set the USTAR magic ("ustar\0" "00") and the header checksum.
fn finish_block(b: &mut [u8; BLOCK]) {
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    b[148..156].copy_from_slice(b"        ");
    let sum: u64 = b.iter().map(|&c| u64::from(c)).sum();
    put_octal(&mut b[148..155], sum);
    b[155] = b' ';
}

pub use super::tar_read::{ReadEntry, Reader};

#[cfg(test)]
mod tests {
    use super::super::tar_read::{parse_pax, verify_checksum};
    use super::*;

    fn file(name: &str) -> Header {
        Header::root_file(name, 0o644, 5, 1700000000)
    }

    #[test]
    fn ustar_header_layout_matches_go() {
        let blk = file(".PKGINFO").encode();
        assert_eq!(blk.len(), BLOCK);
        assert_eq!(&blk[0..9], b".PKGINFO\0");
        assert_eq!(&blk[100..108], b"0000644\0");
        assert_eq!(&blk[108..116], b"0000000\0");
        assert_eq!(&blk[124..136], b"00000000005\0");
        assert_eq!(&blk[136..148], format!("{:011o}\0", 1700000000).as_bytes());
        assert_eq!(blk[156], b'0');
        assert_eq!(&blk[257..265], b"ustar\x0000");
        assert_eq!(&blk[265..270], b"root\0");
        assert_eq!(&blk[329..337], b"0000000\0");
        assert_eq!(blk[154], 0);
        assert_eq!(blk[155], b' ');
        verify_checksum(blk[..].try_into().unwrap()).unwrap();
    }

    #[test]
    fn pax_records_get_an_extended_header_first() {
        let mut h = file("usr/bin/tool");
        h.pax
            .insert("APK-TOOLS.checksum.SHA1".into(), b"abc".to_vec());
        let out = h.encode();
        assert_eq!(out.len(), 3 * BLOCK);
        assert_eq!(&out[0..26], b"usr/bin/PaxHeaders.0/tool\0");
        assert_eq!(out[156], b'x');
        assert_eq!(&out[BLOCK..BLOCK + 31], b"31 APK-TOOLS.checksum.SHA1=abc\n");
        let data = &out[BLOCK..BLOCK + 64];
        let parsed = parse_pax(cstr_pax(data)).unwrap();
        assert_eq!(parsed["APK-TOOLS.checksum.SHA1"], b"abc");
        assert_eq!(out[2 * BLOCK + 156], b'0');
    }

    fn cstr_pax(data: &[u8]) -> &[u8] {
        &data[..data.iter().position(|&c| c == 0).unwrap_or(data.len())]
    }

    #[test]
    fn pax_record_length_counts_itself() {
        for (k, v) in [
            ("a", "b".repeat(3)),
            ("path", "x".repeat(95)),
            ("k", "v".repeat(990)),
        ] {
            let mut out = Vec::new();
            pax_record(&mut out, k.as_bytes(), v.as_bytes());
            let sp = out.iter().position(|&c| c == b' ').unwrap();
            let n: usize = std::str::from_utf8(&out[..sp]).unwrap().parse().unwrap();
            assert_eq!(n, out.len(), "{k}");
        }
    }

    #[test]
    fn long_names_split_into_prefix_or_use_pax() {
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(50));
        let mut h = file(&long);
        h.kind = Kind::Dir;
        h.size = 0;
        let out = h.encode();
        assert_eq!(out.len(), BLOCK, "prefix split keeps USTAR");
        let back = Reader::new(&out[..], 1 << 20)
            .next_entry()
            .unwrap()
            .unwrap();
        assert_eq!(back.header.name, long.as_bytes());

        let unsplittable = "x".repeat(180);
        let mut h = file(&unsplittable);
        h.kind = Kind::Dir;
        h.size = 0;
        let out = h.encode();
        assert_eq!(out.len(), 3 * BLOCK);
        let back = Reader::new(&out[..], 1 << 20)
            .next_entry()
            .unwrap()
            .unwrap();
        assert_eq!(back.header.name, unsplittable.as_bytes());
    }

    #[test]
    fn reader_round_trips_entries_and_stops_at_end() {
        let mut out = Vec::new();
        let mut h = file("a");
        h.pax.insert("SCHILY.xattr.user.k".into(), vec![0, 1, 2]);
        append_bytes(&mut out, &h, b"hello");
        let mut l = file("b");
        l.kind = Kind::Symlink(b"a".to_vec());
        l.size = 0;
        append_bytes(&mut out, &l, b"");
        out.extend_from_slice(&END_OF_ARCHIVE);
        let mut r = Reader::new(&out[..], 1 << 20);
        let a = r.next_entry().unwrap().unwrap();
        assert_eq!(
            (a.header.name.as_slice(), a.data.as_slice()),
            (&b"a"[..], &b"hello"[..])
        );
        assert_eq!(a.header.pax["SCHILY.xattr.user.k"], vec![0, 1, 2]);
        let b = r.next_entry().unwrap().unwrap();
        assert_eq!(
            (b.header.typeflag, b.header.link.as_slice()),
            (b'2', &b"a"[..])
        );
        assert!(r.next_entry().unwrap().is_none());
    }

    #[test]
    fn huge_ids_go_to_pax_records() {
        let mut h = file("f");
        h.uid = 1 << 40;
        let mut out = Vec::new();
        append_bytes(&mut out, &h, b"12345");
        let back = Reader::new(&out[..], 1 << 20)
            .next_entry()
            .unwrap()
            .unwrap();
        assert_eq!(back.header.pax["uid"], (1u64 << 40).to_string().as_bytes());
    }
}
