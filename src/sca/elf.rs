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
