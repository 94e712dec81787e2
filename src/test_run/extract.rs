//! Unpacking a built package's data section into a host directory, so its files can be shown
//! in the test sandbox.
//!
//! The `.apk` is split with [`crate::apk::read::layout`]; the data member (a gzip stream from
//! the end of the control member to the end of the file) is read as a tar stream, one entry at
//! a time, without holding file contents in memory. This is an *unprivileged* install, like
//! melange's bubblewrap guest loader (semantics doc 5.3): permission bits without
//! setuid/setgid/sticky, no chown, no xattrs (file capabilities cannot be set rootless), device
//! nodes and FIFOs skipped. Absolute names and `..` are refused: a package that tries to write
//! outside its directory is broken or hostile.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};

use crate::apk::tar::{BLOCK, padding};
use crate::diag::Diagnostic;

/// What [`extract_data`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExtractStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Names of entries not installed (device nodes, FIFOs), for a note.
    pub skipped: Vec<String>,
}

/// Unpack the data section of the package at `apk` into `dest` (created if missing).
pub fn extract_data(apk: &Path, dest: &Path) -> eyre::Result<ExtractStats> {
    let (layout, _) = crate::apk::read::layout(apk)?;
    let mut file = fs_err::File::open(apk)?;
    file.seek(SeekFrom::Start(layout.data.start))?;
    let section = BufReader::new(file.take(layout.data.end - layout.data.start));
    let gz = flate2::bufread::MultiGzDecoder::new(section);
    fs_err::create_dir_all(dest)?;
    unpack(gz, dest).map_err(|e| {
        Diagnostic::new(apk, format!("cannot unpack the package's files: {e:#}"))
            .hint("the package is damaged or was not written by melwrap or melange; rebuild it")
            .into()
    })
}

/// Unpack a tar stream into `dest`.
pub fn unpack(mut r: impl Read, dest: &Path) -> eyre::Result<ExtractStats> {
    let mut stats = ExtractStats::default();
    // Directory modes are applied last (deepest first), so a read-only directory can still be
    // filled while unpacking.
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
    let mut pax: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    loop {
        let mut blk = [0u8; BLOCK];
        if !read_block(&mut r, &mut blk)? || blk.iter().all(|&c| c == 0) {
            break;
        }
        verify_checksum(&blk)?;
        let mut size = parse_number(&blk[124..136])?;
        let typeflag = blk[156];
        match typeflag {
            b'x' | b'g' | b'L' | b'K' => {
                let data = read_small(&mut r, size)?;
                match typeflag {
                    b'x' => pax = parse_pax(&data)?,
                    b'L' => long_name = Some(trim_nul(&data).to_vec()),
                    b'K' => long_link = Some(trim_nul(&data).to_vec()),
                    _ => {}
                }
                continue;
            }
            _ => {}
        }
        let mut name = cstr(&blk[0..100]).to_vec();
        if &blk[257..262] == b"ustar" && blk[345] != 0 {
            let mut full = cstr(&blk[345..500]).to_vec();
            full.push(b'/');
            full.extend_from_slice(&name);
            name = full;
        }
        let mut link = cstr(&blk[157..257]).to_vec();
        if let Some(n) = long_name.take() {
            name = n;
        }
        if let Some(l) = long_link.take() {
            link = l;
        }
        if let Some(p) = pax.remove("path") {
            name = p;
        }
        if let Some(l) = pax.remove("linkpath") {
            link = l;
        }
        if let Some(s) = pax.remove("size") {
            size = std::str::from_utf8(&s)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| eyre::eyre!("bad PAX size record"))?;
        }
        pax.clear();
        let mode = parse_number(&blk[100..108])? as u32 & 0o777;
        let rel = safe_name(&name)?;
        let Some(rel) = rel else {
            // The root entry (`./`): nothing to create.
            skip(&mut r, size)?;
            continue;
        };
        let target = dest.join(&rel);
        if let Some(parent) = target.parent() {
            fs_err::create_dir_all(parent)?;
        }
        match typeflag {
            b'0' | 0 | b'7' => {
                remove_existing(&target)?;
                let mut out = fs_err::File::create(&target)?;
                let copied = io::copy(&mut (&mut r).take(size), &mut out)?;
                if copied != size {
                    eyre::bail!("the archive ends inside `{}`", rel.display());
                }
                skip_bytes(&mut r, padding(size) as u64)?;
                out.set_permissions(std::fs::Permissions::from_mode(mode))?;
                stats.files += 1;
                continue;
            }
            b'5' => {
                fs_err::create_dir_all(&target)?;
                dir_modes.push((target, mode));
                stats.dirs += 1;
            }
            b'2' => {
                remove_existing(&target)?;
                let to = String::from_utf8_lossy(&link).into_owned();
                std::os::unix::fs::symlink(&to, &target)
                    .wrap_err_with(|| format!("cannot create symlink {}", target.display()))?;
                stats.symlinks += 1;
            }
            b'1' => {
                let Some(from) = safe_name(&link)? else {
                    eyre::bail!("hard link `{}` points at the root", rel.display());
                };
                remove_existing(&target)?;
                let from = dest.join(from);
                if std::fs::hard_link(&from, &target).is_err() {
                    fs_err::copy(&from, &target)?;
                }
                stats.hardlinks += 1;
            }
            _ => stats.skipped.push(rel.display().to_string()),
        }
        skip(&mut r, size)?;
    }
    dir_modes.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (dir, mode) in dir_modes {
        fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(stats)
}

/// Make every directory under `root` writable again so it can be removed (packages may ship
/// read-only directories, which an unprivileged user cannot empty).
pub fn make_removable(root: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(root) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let _ = std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700));
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            make_removable(&e.path());
        }
    }
}

/// The entry's path relative to the package root, or `None` for the root itself. Absolute
/// names and `..` are refused.
fn safe_name(name: &[u8]) -> eyre::Result<Option<PathBuf>> {
    use std::os::unix::ffi::OsStrExt;
    let text = std::ffi::OsStr::from_bytes(name);
    let path = Path::new(text);
    if path.is_absolute() {
        eyre::bail!("entry `{}` has an absolute name", path.display());
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::CurDir => {}
            _ => eyre::bail!("entry `{}` points outside the package", path.display()),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

fn remove_existing(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

/// Skip an entry's contents and padding.
fn skip(r: &mut impl Read, size: u64) -> io::Result<()> {
    skip_bytes(r, size + padding(size) as u64)
}

fn skip_bytes(r: &mut impl Read, n: u64) -> io::Result<()> {
    let got = io::copy(&mut r.take(n), &mut io::sink())?;
    if got != n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the archive ends inside an entry",
        ));
    }
    Ok(())
}

/// Read a metadata entry (PAX records, GNU long names) and its padding; at most 1 MiB.
fn read_small(r: &mut impl Read, size: u64) -> eyre::Result<Vec<u8>> {
    if size > 1 << 20 {
        eyre::bail!("tar metadata entry of {size} bytes is too large");
    }
    let mut data = vec![0u8; size as usize];
    r.read_exact(&mut data)?;
    skip_bytes(r, padding(size) as u64)?;
    Ok(data)
}

fn read_block(r: &mut impl Read, buf: &mut [u8; BLOCK]) -> eyre::Result<bool> {
    let mut got = 0;
    while got < BLOCK {
        let n = r.read(&mut buf[got..])?;
        if n == 0 {
            if got == 0 {
                return Ok(false);
            }
            eyre::bail!("truncated tar header");
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
fn parse_number(field: &[u8]) -> eyre::Result<u64> {
    if field.first().is_some_and(|&c| c & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &c in &field[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(c)))
                .ok_or_else(|| eyre::eyre!("number in tar header is too large"))?;
        }
        return Ok(v);
    }
    let s = std::str::from_utf8(cstr(field))
        .map_err(|_| eyre::eyre!("bad number in tar header"))?
        .trim_matches(|c| c == ' ' || c == '\0');
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).map_err(|_| eyre::eyre!("bad octal number {s:?} in tar header"))
}

fn verify_checksum(blk: &[u8; BLOCK]) -> eyre::Result<()> {
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
        eyre::bail!("tar header checksum mismatch");
    }
    Ok(())
}

fn parse_pax(mut data: &[u8]) -> eyre::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    while !data.is_empty() {
        let bad = || eyre::eyre!("bad PAX record");
        let sp = data.iter().position(|&c| c == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        if len > data.len() || len < sp + 2 || data[len - 1] != b'\n' {
            return Err(bad());
        }
        let rec = &data[sp + 1..len - 1];
        let eq = rec.iter().position(|&c| c == b'=').ok_or_else(bad)?;
        out.insert(
            String::from_utf8_lossy(&rec[..eq]).into_owned(),
            rec[eq + 1..].to_vec(),
        );
        data = &data[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apk::tar::{Header, Kind};

    fn header(name: &str, kind: Kind, mode: u32, size: u64) -> Header {
        let mut h = Header::root_file(name, mode, size, 0);
        h.kind = kind;
        h
    }

    fn archive(entries: &[(Header, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (h, data) in entries {
            crate::apk::tar::append_bytes(&mut out, h, data);
        }
        out.extend_from_slice(&[0u8; 2 * BLOCK]);
        out
    }

    #[test]
    fn unpacks_files_dirs_links_and_modes() {
        let long = format!("usr/share/{}/f", "d".repeat(120));
        let tar = archive(&[
            (header("usr", Kind::Dir, 0o755, 0), b""),
            (header("usr/bin", Kind::Dir, 0o555, 0), b""),
            (header("usr/bin/tool", Kind::File, 0o4755, 3), b"hi\n"),
            (
                header("usr/bin/alias", Kind::Symlink("tool".into()), 0o777, 0),
                b"",
            ),
            (
                header(
                    "usr/bin/hard",
                    Kind::HardLink("usr/bin/tool".into()),
                    0o755,
                    0,
                ),
                b"",
            ),
            (header(&long, Kind::File, 0o644, 1), b"x"),
            (
                header("dev/null", Kind::CharDev { major: 1, minor: 3 }, 0o666, 0),
                b"",
            ),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let stats = unpack(&tar[..], dir.path()).unwrap();
        assert_eq!(
            (stats.files, stats.dirs, stats.symlinks, stats.hardlinks),
            (2, 2, 1, 1)
        );
        assert_eq!(stats.skipped, ["dev/null"]);
        let tool = dir.path().join("usr/bin/tool");
        assert_eq!(fs_err::read_to_string(&tool).unwrap(), "hi\n");
        // setuid is dropped; the directory gets its read-only mode back at the end.
        assert_eq!(
            fs_err::metadata(&tool).unwrap().permissions().mode() & 0o7777,
            0o755
        );
        let bin = fs_err::metadata(dir.path().join("usr/bin")).unwrap();
        assert_eq!(bin.permissions().mode() & 0o777, 0o555);
        assert_eq!(
            fs_err::read_link(dir.path().join("usr/bin/alias")).unwrap(),
            Path::new("tool")
        );
        assert_eq!(
            fs_err::read_to_string(dir.path().join("usr/bin/hard")).unwrap(),
            "hi\n"
        );
        assert_eq!(fs_err::read_to_string(dir.path().join(&long)).unwrap(), "x");
        make_removable(dir.path());
    }

    #[test]
    fn names_outside_the_package_are_refused() {
        for bad in ["../escape", "/etc/passwd", "a/../../b"] {
            let tar = archive(&[(header(bad, Kind::File, 0o644, 1), b"x")]);
            let dir = tempfile::tempdir().unwrap();
            let err = unpack(&tar[..], &dir.path().join("root")).unwrap_err();
            assert!(
                format!("{err:#}").contains(bad.trim_start_matches('/')),
                "{err:#}"
            );
            assert!(!dir.path().join("escape").exists());
        }
    }

    #[test]
    fn truncated_archives_are_errors() {
        let tar = archive(&[(header("f", Kind::File, 0o644, 1000), &[7u8; 1000])]);
        let dir = tempfile::tempdir().unwrap();
        assert!(unpack(&tar[..700], dir.path()).is_err());
        assert!(unpack(&tar[..100], dir.path()).is_err());
    }
}
