//! Unpacking a built package's data section into a host directory, so its files can be shown
//! in the test sandbox.
//!
//! The `.apk` is split with [`crate::apk::read::layout`]; the data member (a gzip stream from
//! the end of the control member to the end of the file) is read with
//! [`crate::apk::tar_read::Stream`], one entry at a time, without holding file contents in
//! memory. This is an *unprivileged* install, like
//! melange's bubblewrap guest loader (semantics doc 5.3): permission bits without
//! setuid/setgid/sticky, no chown, no xattrs (file capabilities cannot be set rootless), device
//! nodes and FIFOs skipped. Absolute names and `..` are refused: a package that tries to write
//! outside its directory is broken or hostile.

use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};

use crate::apk::tar_read::Stream;
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
pub fn unpack(r: impl Read, dest: &Path) -> eyre::Result<ExtractStats> {
    let mut stats = ExtractStats::default();
    // Directory modes are applied last (deepest first), so a read-only directory can still be
    // filled while unpacking.
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
    let mut tar = Stream::new(r);
    while let Some(entry) = tar.next_header()? {
        let mode = entry.mode & 0o777;
        let Some(rel) = safe_name(&entry.name)? else {
            // The root entry (`./`): nothing to create.
            continue;
        };
        let target = dest.join(&rel);
        if let Some(parent) = target.parent() {
            fs_err::create_dir_all(parent)?;
        }
        match entry.typeflag {
            b'0' | 0 | b'7' => {
                remove_existing(&target)?;
                let mut out = fs_err::File::create(&target)?;
                let copied = io::copy(&mut tar, &mut out)?;
                if copied != entry.size {
                    eyre::bail!("the archive ends inside `{}`", rel.display());
                }
                out.set_permissions(std::fs::Permissions::from_mode(mode))?;
                stats.files += 1;
            }
            b'5' => {
                fs_err::create_dir_all(&target)?;
                dir_modes.push((target, mode));
                stats.dirs += 1;
            }
            b'2' => {
                remove_existing(&target)?;
                let to = String::from_utf8_lossy(&entry.link).into_owned();
                std::os::unix::fs::symlink(&to, &target)
                    .wrap_err_with(|| format!("cannot create symlink {}", target.display()))?;
                stats.symlinks += 1;
            }
            b'1' => {
                let Some(from) = safe_name(&entry.link)? else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apk::tar::{BLOCK, Header, Kind};

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
