//! What dependency scanning needs from an ELF file: its interpreter (`PT_INTERP`), the
//! libraries it needs (`DT_NEEDED`) and the names it answers to (`DT_SONAME`).
//!
//! The file was written by a build step, so it is hostile: the `object` crate parses it
//! through [`Bounded`], which reads only the byte ranges asked for (never the whole file),
//! refuses any range past the file's end, and stops after
//! [`MAX_SCA_ELF_READ_BYTES`](crate::limits::MAX_SCA_ELF_READ_BYTES) in total, so a crafted
//! header with huge counts or sizes costs at most that much memory. Every malformed file is
//! "not an ELF file we can read", never an error: melange skips such files too.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::{Endianness, ReadRef};

use crate::limits::{MAX_SCA_ELF_READ_BYTES, MAX_SCA_NAME_BYTES, MAX_SCA_NEEDED};

/// The facts of one ELF file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ElfFacts {
    /// `PT_INTERP`, empty for a library or a static program.
    pub interpreter: String,
    /// `DT_NEEDED` entries, in file order.
    pub needed: Vec<String>,
    /// `DT_SONAME` entries.
    pub sonames: Vec<String>,
    /// Whether the file has a dynamic section at all (melange stops after the SONAME step
    /// when it has none).
    pub dynamic: bool,
}

/// A file read by ranges with a total budget, for `object`'s [`ReadRef`].
pub struct Bounded {
    file: File,
    len: u64,
    used: Cell<u64>,
    /// Every range read, kept until `self` is dropped: `object` hands out references into them.
    bufs: RefCell<Vec<Box<[u8]>>>,
}

impl Bounded {
    pub fn new(file: File) -> std::io::Result<Bounded> {
        let len = file.metadata()?.len();
        Ok(Bounded {
            file,
            len,
            used: Cell::new(0),
            bufs: RefCell::new(Vec::new()),
        })
    }

    fn read(&self, offset: u64, size: u64) -> Result<&[u8], ()> {
        if size == 0 {
            return Ok(&[]);
        }
        let end = offset.checked_add(size).ok_or(())?;
        let used = self.used.get().checked_add(size).ok_or(())?;
        if end > self.len || used > MAX_SCA_ELF_READ_BYTES {
            return Err(());
        }
        let mut buf = vec![0u8; size as usize].into_boxed_slice();
        self.file.read_exact_at(&mut buf, offset).map_err(drop)?;
        self.used.set(used);
        let ptr: *const [u8] = &*buf;
        self.bufs.borrow_mut().push(buf);
        // SAFETY: the boxed slice's heap memory is owned by `self.bufs`, which only grows and
        // is dropped with `self`; moving the `Box` into the vector (or the vector growing)
        // does not move that memory, so it lives as long as `&self`.
        Ok(unsafe { &*ptr })
    }
}

impl<'a> ReadRef<'a> for &'a Bounded {
    fn len(self) -> Result<u64, ()> {
        Ok(self.len)
    }

    fn read_bytes_at(self, offset: u64, size: u64) -> Result<&'a [u8], ()> {
        self.read(offset, size)
    }

    fn read_bytes_at_until(self, range: Range<u64>, delimiter: u8) -> Result<&'a [u8], ()> {
        // Only names are read this way: read no more than the longest name accepted.
        let want = range
            .end
            .checked_sub(range.start)
            .ok_or(())?
            .min(MAX_SCA_NAME_BYTES as u64 + 1);
        let bytes = self.read(range.start, want)?;
        let at = bytes.iter().position(|&b| b == delimiter).ok_or(())?;
        Ok(&bytes[..at])
    }
}

/// The byte of `e_ident` that says 32 or 64 bit.
const EI_CLASS: usize = 4;

/// Whether `head` (the first bytes of a file) starts an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(&elf::ELFMAG)
}

/// Parse the opened `file`; `None` when it is not a readable ELF file.
pub fn read_facts(file: File) -> Option<ElfFacts> {
    let data = Bounded::new(file).ok()?;
    let ident = (&data).read_bytes_at(0, 16).ok()?;
    if !is_elf(ident) {
        return None;
    }
    match ident[EI_CLASS] {
        c if c == elf::ELFCLASS32.0 => facts::<elf::FileHeader32<Endianness>>(&data),
        c if c == elf::ELFCLASS64.0 => facts::<elf::FileHeader64<Endianness>>(&data),
        _ => None,
    }
}

fn facts<Elf: FileHeader<Endian = Endianness>>(data: &Bounded) -> Option<ElfFacts> {
    let header = Elf::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let mut out = ElfFacts::default();
    if let Ok(phdrs) = header.program_headers(endian, data) {
        for ph in phdrs {
            if let Ok(Some(interp)) = ph.interpreter(endian, data) {
                out.interpreter = name(interp).unwrap_or_default();
                break;
            }
        }
    }
    // A file whose section table cannot be read has no dynamic facts we can trust.
    let Ok(sections) = header.sections(endian, data) else {
        return Some(out);
    };
    let Ok(table) = sections.dynamic_table(endian, data) else {
        return Some(out);
    };
    out.dynamic = !table.is_empty();
    for d in table.dynamics() {
        let tag = d.d_tag(endian);
        if tag == elf::DT_NULL {
            break;
        }
        let list = match tag {
            elf::DT_NEEDED if out.needed.len() < MAX_SCA_NEEDED => &mut out.needed,
            elf::DT_SONAME if out.sonames.len() < MAX_SCA_NEEDED => &mut out.sonames,
            _ => continue,
        };
        if let Some(s) = d.string(endian, *table.strings()).ok().and_then(name) {
            list.push(s);
        }
    }
    Some(out)
}

/// A name from the file, when it is one `.PKGINFO` can hold.
fn name(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    super::rules::usable_name(s).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-bit little-endian ELF header.
    fn header(phoff: u64, phnum: u16, shoff: u64, shnum: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        h[16..18].copy_from_slice(&3u16.to_le_bytes());
        h[18..20].copy_from_slice(&62u16.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[32..40].copy_from_slice(&phoff.to_le_bytes());
        h[40..48].copy_from_slice(&shoff.to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes());
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[56..58].copy_from_slice(&phnum.to_le_bytes());
        h[58..60].copy_from_slice(&64u16.to_le_bytes());
        h[60..62].copy_from_slice(&shnum.to_le_bytes());
        h
    }

    fn section(kind: u32, offset: u64, size: u64, link: u32) -> Vec<u8> {
        let mut s = vec![0u8; 64];
        s[4..8].copy_from_slice(&kind.to_le_bytes());
        s[24..32].copy_from_slice(&offset.to_le_bytes());
        s[32..40].copy_from_slice(&size.to_le_bytes());
        s[40..44].copy_from_slice(&link.to_le_bytes());
        s
    }

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, File) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        fs_err::write(&p, bytes).unwrap();
        let f = File::open(&p).unwrap();
        (t, f)
    }

    fn with_names(names: &[u8], entries: &[(u64, u64)]) -> Vec<u8> {
        let dynamic_at = 64 + 3 * 64;
        let mut dynamic = Vec::new();
        for (tag, val) in entries {
            dynamic.extend_from_slice(&tag.to_le_bytes());
            dynamic.extend_from_slice(&val.to_le_bytes());
        }
        let strtab_at = dynamic_at + dynamic.len();
        let mut f = header(0, 0, 64, 3);
        // The string table also names the sections (e_shstrndx).
        f[62..64].copy_from_slice(&2u16.to_le_bytes());
        f.extend(section(0, 0, 0, 0));
        f.extend(section(6, dynamic_at as u64, dynamic.len() as u64, 2));
        f.extend(section(3, strtab_at as u64, names.len() as u64, 0));
        f.extend(dynamic);
        f.extend_from_slice(names);
        f
    }

    #[test]
    fn names_come_from_the_dynamic_section_and_bad_ones_are_dropped() {
        let bytes = with_names(
            b"\0libok.so.1\0lib\nevil.so.1\0",
            &[(1, 1), (14, 12), (1, 9999), (0, 0), (1, 1)],
        );
        let (_t, f) = file_with(&bytes);
        let facts = read_facts(f).expect("a readable ELF file");
        // The line break drops the SONAME; the out-of-range DT_NEEDED is skipped; entries
        // after DT_NULL do not count.
        assert_eq!(facts.needed, ["libok.so.1"]);
        assert!(facts.sonames.is_empty());
        assert!(facts.dynamic);
    }

    #[test]
    fn truncated_and_oversized_files_are_not_elf_facts() {
        let (_t, f) = file_with(&header(0, 0, 0, 0)[..20]);
        assert_eq!(read_facts(f), None);
        let mut counts = header(64, 0xffff, 64, 0xffff);
        counts.resize(256, 0);
        let (_t, f) = file_with(&counts);
        assert_eq!(read_facts(f).unwrap_or_default(), ElfFacts::default());
        let (_t, f) = file_with(b"\x7fELF\x09");
        assert_eq!(read_facts(f), None);
    }

    /// A sparse file of 3 GiB whose dynamic section claims 2 GiB: reading it would hold
    /// 2 GiB in memory; the budget refuses the read instead.
    #[test]
    fn a_huge_dynamic_section_is_refused_by_the_budget() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("huge");
        let len: u64 = 3 << 30;
        let shoff = len - 2 * 64;
        let f = File::create(&p).unwrap();
        f.set_len(len).unwrap();
        f.write_all_at(&header(0, 0, shoff, 2), 0).unwrap();
        let mut table = section(0, 0, 0, 0);
        table.extend(section(6, 4096, 2 << 30, 0));
        f.write_all_at(&table, shoff).unwrap();
        drop(f);
        let data = Bounded::new(File::open(&p).unwrap()).unwrap();
        let facts = facts::<elf::FileHeader64<Endianness>>(&data).unwrap();
        assert!(!facts.dynamic && facts.needed.is_empty());
        assert!(
            data.used.get() < 1024 * 1024,
            "read {} bytes",
            data.used.get()
        );
        // Asked directly, the same read is refused.
        assert!((&data).read_bytes_at(4096, 2 << 30).is_err());
        assert!((&data).read_bytes_at(len - 1, 2).is_err());
    }
}
