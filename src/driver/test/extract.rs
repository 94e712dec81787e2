//! Unpacking a built package's data section into a host directory, so its files can be shown
//! in the test sandbox.
//!
//! The `.apk` is split with [`crate::apk::read::layout`]; the data member (a gzip stream from
//! the end of the control member to the end of the file) is unpacked one entry at a time by
//! [`crate::apk::unpack::unpack_into`], which never writes outside the directory or through
//! a symlink, whatever the package holds. This is an *unprivileged* install, like melange's
//! bubblewrap guest loader (semantics doc 5.3): permission bits without setuid/setgid, no
//! chown, no xattrs (file capabilities cannot be set rootless), device nodes and FIFOs
//! skipped.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};

use crate::apk::unpack::{UnpackOptions, unpack_into};
use crate::diag::Diagnostic;
use crate::printer::Printer;
use crate::safefs::Dir;
use crate::sandbox::HostPath;
use crate::session::absolute;

/// What [`extract_data`] did.
pub use crate::apk::unpack::UnpackStats as ExtractStats;

/// Unpack the data section of package `package`, at `apk`, into `dest` (created if missing;
/// a directory melwrap made, opened as the anchor everything is created below).
pub fn extract_data(apk: &Path, package: &str, dest: &Path) -> eyre::Result<ExtractStats> {
    let (layout, _) = crate::apk::read::layout(apk)?;
    let mut file = fs_err::File::open(apk)?;
    file.seek(SeekFrom::Start(layout.data.start))?;
    let section = BufReader::new(file.take(layout.data.end - layout.data.start));
    let gz = flate2::bufread::MultiGzDecoder::new(section);
    fs_err::create_dir_all(dest)?;
    let root = Dir::open_anchor(dest)?;
    unpack_into(gz, &root, &UnpackOptions::default()).map_err(|e| {
        Diagnostic::new(
            apk,
            format!("cannot unpack the files of package `{package}`: {e:#}"),
        )
        .hint(
            "the package is damaged, crafted, or was not written by melwrap or melange; rebuild it",
        )
        .into()
    })
}

/// Remove everything below `root` through descriptors (packages may ship read-only
/// directories, which are made writable first; no symlink in the tree is followed).
pub fn remove_unpacked(root: &Path) {
    if let Ok(dir) = Dir::open_anchor(root) {
        let _ = dir.remove_contents();
    }
}

/// The temporary directory holding each package's unpacked files.
pub struct Unpacked {
    dir: tempfile::TempDir,
}

impl Unpacked {
    pub fn new() -> eyre::Result<Unpacked> {
        let dir = tempfile::Builder::new()
            .prefix("melwrap-test-")
            .tempdir()
            .wrap_err("cannot create a temporary directory for the packages' files")?;
        Ok(Unpacked { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Unpack `file` for package `name`, once.
    pub fn add(&self, name: &str, file: &Path, printer: Printer) -> eyre::Result<()> {
        let dest = self.path(name);
        if dest.exists() {
            return Ok(());
        }
        let info = crate::apk::read_package(file)?;
        if info.name() != name {
            return Err(Diagnostic::new(
                file,
                format!("holds package `{}`, not `{name}`", info.name()),
            )
            .hint("rebuild the packages with `melwrap build`")
            .into());
        }
        let stats = extract_data(file, name, &dest)?;
        printer.detail(format!(
            "unpacked {} ({} files, {} directories, {} symlinks)",
            file.display(),
            stats.files + stats.hardlinks,
            stats.dirs,
            stats.symlinks
        ));
        if !stats.skipped.is_empty() {
            printer.warn(format!(
                "{}: device nodes and FIFOs cannot be installed rootless, left out: {}",
                file.display(),
                stats.skipped.join(", ")
            ));
        }
        Ok(())
    }

    /// The unpacked root of package `name`, as an absolute host path.
    pub fn root(&self, name: &str) -> eyre::Result<HostPath> {
        Ok(absolute(&self.path(name), "unpacked package")?)
    }
}

impl Drop for Unpacked {
    /// Packages may ship read-only directories: their contents are removed through
    /// descriptors (made writable first), then the temporary directory itself, on success,
    /// failure or error alike.
    fn drop(&mut self) {
        remove_unpacked(self.dir.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apk::tar::{BLOCK, Header, Kind};
    use std::os::unix::fs::PermissionsExt;

    fn unpack(r: impl Read, dest: &Path) -> eyre::Result<ExtractStats> {
        fs_err::create_dir_all(dest)?;
        unpack_into(r, &Dir::open_anchor(dest)?, &UnpackOptions::default())
    }

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
        remove_unpacked(dir.path());
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
