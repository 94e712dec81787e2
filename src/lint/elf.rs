//! Just enough ELF for the linters: the machine and the section names.
//!
//! The file is step-written, so every read is bounded: the header, the section header table
//! (at most [`MAX_SECTIONS`] entries) and the section name table (at most
//! [`MAX_NAMES_BYTES`]). A malformed file is "not ELF" (melange's linters skip what Go's
//! `debug/elf` cannot open).

use std::io::{self, Read, Seek, SeekFrom};

/// More sections than any real object has; a header claiming more is not trusted.
const MAX_SECTIONS: u64 = 65_535;
/// The section name string table is read up to this size.
const MAX_NAMES_BYTES: u64 = 1 << 20;

pub const EM_386: u16 = 3;
pub const EM_MIPS: u16 = 8;
pub const EM_PPC64: u16 = 21;
pub const EM_S390: u16 = 22;
pub const EM_ARM: u16 = 40;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;
pub const EM_RISCV: u16 = 243;

/// What the linters need from an ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    pub machine: u16,
    pub section_names: Vec<String>,
}

impl ElfInfo {
    /// Whether a section has exactly this name (Go's `elf.File.Section`).
    pub fn has_section(&self, name: &str) -> bool {
        self.section_names.iter().any(|s| s == name)
    }

    /// The architecture name melange's `binaryarch` linter prints.
    pub fn arch_name(&self) -> String {
        match self.machine {
            EM_X86_64 => "amd64".into(),
            EM_AARCH64 => "arm64".into(),
            EM_386 => "i386".into(),
            EM_ARM => "arm".into(),
            EM_PPC64 => "ppc64".into(),
            EM_S390 => "s390".into(),
            EM_MIPS => "mips".into(),
            EM_RISCV => "riscv".into(),
            other => format!("unknown ({other})"),
        }
    }
}

/// Whether the first bytes are the ELF magic.
pub fn has_magic(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

/// Reads the header and section names of `f`; `Ok(None)` when it is not a well-formed ELF file.
pub fn read<R: Read + Seek>(f: &mut R) -> io::Result<Option<ElfInfo>> {
    let mut ident = [0u8; 64];
    f.seek(SeekFrom::Start(0))?;
    let got = read_up_to(f, &mut ident)?;
    if got < 52 || !has_magic(&ident) {
        return Ok(None);
    }
    let class64 = match ident[4] {
        1 => false,
        2 => true,
        _ => return Ok(None),
    };
    let little = match ident[5] {
        1 => true,
        2 => false,
        _ => return Ok(None),
    };
    let r = Endian(little);
    let machine = r.u16(&ident[18..20]);
    let (shoff, shentsize, shnum, shstrndx) = if class64 {
        if got < 64 {
            return Ok(None);
        }
        (
            r.u64(&ident[40..48]),
            r.u16(&ident[58..60]) as u64,
            r.u16(&ident[60..62]) as u64,
            r.u16(&ident[62..64]) as u64,
        )
    } else {
        (
            r.u32(&ident[32..36]) as u64,
            r.u16(&ident[46..48]) as u64,
            r.u16(&ident[48..50]) as u64,
            r.u16(&ident[50..52]) as u64,
        )
    };
    let mut info = ElfInfo {
        machine,
        section_names: Vec::new(),
    };
    let min_entry = if class64 { 64 } else { 40 };
    if shoff == 0 || shnum == 0 {
        return Ok(Some(info));
    }
    if shentsize < min_entry || shnum > MAX_SECTIONS || shstrndx >= shnum {
        return Ok(None);
    }
    // (name offset, file offset, size) of each section.
    let mut sections = Vec::with_capacity(shnum as usize);
    let mut entry = vec![0u8; shentsize as usize];
    for i in 0..shnum {
        let Some(at) = shoff.checked_add(i * shentsize) else {
            return Ok(None);
        };
        f.seek(SeekFrom::Start(at))?;
        if read_up_to(f, &mut entry)? != entry.len() {
            return Ok(None);
        }
        let (name, offset, size) = if class64 {
            (
                r.u32(&entry[0..4]) as u64,
                r.u64(&entry[24..32]),
                r.u64(&entry[32..40]),
            )
        } else {
            (
                r.u32(&entry[0..4]) as u64,
                r.u32(&entry[16..20]) as u64,
                r.u32(&entry[20..24]) as u64,
            )
        };
        sections.push((name, offset, size));
    }
    let (_, names_at, names_size) = sections[shstrndx as usize];
    let mut names = vec![0u8; names_size.min(MAX_NAMES_BYTES) as usize];
    f.seek(SeekFrom::Start(names_at))?;
    let names_len = read_up_to(f, &mut names)?;
    names.truncate(names_len);
    for (name, _, _) in sections {
        let start = name as usize;
        if start >= names.len() {
            continue;
        }
        let end = names[start..]
            .iter()
            .position(|&b| b == 0)
            .map_or(names.len(), |n| start + n);
        info.section_names
            .push(String::from_utf8_lossy(&names[start..end]).into_owned());
    }
    Ok(Some(info))
}

fn read_up_to<R: Read>(f: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

struct Endian(bool);

impl Endian {
    fn u16(&self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.0 {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        }
    }
    fn u32(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.0 {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    }
    fn u64(&self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        if self.0 {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        }
    }
}

/// A minimal little-endian ELF64 file with the given machine and sections (each empty), for
/// tests: header, the name table, then the section header table.
pub fn synthesize(machine: u16, sections: &[&str]) -> Vec<u8> {
    let mut names = vec![0u8];
    let mut name_offsets = Vec::new();
    for s in sections.iter().chain([&".shstrtab"]) {
        name_offsets.push(names.len() as u32);
        names.extend_from_slice(s.as_bytes());
        names.push(0);
    }
    let names_at = 64u64;
    let shoff = (names_at + names.len() as u64).next_multiple_of(8);
    let shnum = sections.len() as u16 + 2; // the null section, the given ones, .shstrtab
    let mut out = vec![0u8; 64];
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 2; // 64-bit
    out[5] = 1; // little endian
    out[6] = 1; // version
    out[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    out[18..20].copy_from_slice(&machine.to_le_bytes());
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[40..48].copy_from_slice(&shoff.to_le_bytes());
    out[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
    out[58..60].copy_from_slice(&64u16.to_le_bytes()); // shentsize
    out[60..62].copy_from_slice(&shnum.to_le_bytes());
    out[62..64].copy_from_slice(&(shnum - 1).to_le_bytes()); // shstrndx
    out.extend_from_slice(&names);
    out.resize(shoff as usize, 0);
    out.extend_from_slice(&[0u8; 64]); // the null section
    for (i, offset) in name_offsets.iter().enumerate() {
        let mut sh = [0u8; 64];
        sh[..4].copy_from_slice(&offset.to_le_bytes());
        let last = i == name_offsets.len() - 1;
        let kind: u32 = if last { 3 } else { 1 }; // SHT_STRTAB, SHT_PROGBITS
        sh[4..8].copy_from_slice(&kind.to_le_bytes());
        if last {
            sh[24..32].copy_from_slice(&names_at.to_le_bytes());
            sh[32..40].copy_from_slice(&(names.len() as u64).to_le_bytes());
        }
        out.extend_from_slice(&sh);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthesized_files_read_back() {
        let bytes = synthesize(EM_RISCV, &[".text", ".debug"]);
        let info = read(&mut io::Cursor::new(&bytes)).unwrap().unwrap();
        assert_eq!(info.machine, EM_RISCV);
        assert_eq!(info.section_names, ["", ".text", ".debug", ".shstrtab"]);
        assert!(info.has_section(".debug") && !info.has_section(".zdebug"));
        assert_eq!(info.arch_name(), "riscv");
    }

    #[test]
    fn the_test_binary_itself_is_elf() {
        let exe = std::env::current_exe().unwrap();
        let mut f = std::fs::File::open(exe).unwrap();
        let info = read(&mut f).unwrap().unwrap();
        assert!(info.has_section(".text"), "{:?}", info.section_names);
    }

    #[test]
    fn truncated_and_lying_headers_are_not_elf() {
        let bytes = synthesize(EM_X86_64, &[".text"]);
        for cut in [3, 40, 70, bytes.len() - 10] {
            let got = read(&mut io::Cursor::new(&bytes[..cut])).unwrap();
            assert!(got.is_none(), "{cut}");
        }
        let mut lying = bytes.clone();
        lying[60..62].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(read(&mut io::Cursor::new(&lying)).unwrap().is_none());
        assert!(
            read(&mut io::Cursor::new(b"#!/bin/sh\n"))
                .unwrap()
                .is_none()
        );
    }
}
