//! Reading a build file from disk into a [`LoadedConfig`]: bytes → text → positions → typed
//! model → semantic checks, each stage reporting located [`Diagnostic`]s.
//!
//! melange reads the file with yaml.v3 and `KnownFields(true)` (`pkg/config/config.go:
//! ParseConfiguration`) and then runs `validate`. melwrap does the same work in three passes:
//! [`super::locate`] (positions, syntax, duplicate keys, alias bombs), serde_yaml into
//! [`Configuration`] (types, unknown fields; see [`super::decode`]) and [`super::check`].

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Diagnostics, Position};

use super::model::Configuration;
use super::{check, decode, locate};

pub use super::locate::SpanIndex;

/// Files larger than this are refused before reading: the largest real build file is ~70 KB.
pub const MAX_FILE_BYTES: u64 = crate::bounded_read::MAX_CONFIG_BYTES;

/// A decoded build file with the positions of its fields.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The path as the user gave it (used in messages).
    pub path: PathBuf,
    /// The decoded file, exactly as written (no substitution yet).
    pub config: Configuration,
    /// Where each field was written, for errors found later (`spans.position("pipeline[2]")`).
    pub spans: SpanIndex,
}

impl LoadedConfig {
    /// A diagnostic about `field`, placed at the field or its closest written ancestor.
    pub fn diagnostic(&self, field: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.path, message)
            .at(self.spans.nearest(field))
            .field(field)
    }
}

/// Read, decode and check a build file. All problems found are returned together.
pub fn load(path: &Path) -> Result<LoadedConfig, Diagnostics> {
    let bytes = read(path).map_err(|d| Diagnostics(vec![d]))?;
    let text = text_of(path, &bytes).map_err(|d| Diagnostics(vec![d]))?;
    load_str(path, text)
}

/// Like [`load`], for text already in memory; `path` is used in messages.
pub fn load_str(path: &Path, text: &str) -> Result<LoadedConfig, Diagnostics> {
    let loaded = decode_only(path, text)?;
    let problems = check::check(&loaded);
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(Diagnostics(problems))
    }
}

/// Locate and decode without the semantic checks (the compiler's tests and [`check`] use it).
pub fn decode_only(path: &Path, text: &str) -> Result<LoadedConfig, Diagnostics> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(d) = nul_byte(path, text.as_bytes()) {
        return Err(Diagnostics(vec![d]));
    }
    let spans = locate::locate(text).map_err(|problems| {
        Diagnostics(
            problems
                .into_iter()
                .map(|p| {
                    let mut d = Diagnostic::new(path, p.message).at(Some(p.position));
                    d.field = p.field;
                    d.hint = p.hint;
                    d
                })
                .collect(),
        )
    })?;
    let config: Configuration = serde_yaml::from_str(text)
        .map_err(|e| Diagnostics(vec![decode::diagnostic(path, &spans, &e)]))?;
    Ok(LoadedConfig {
        path: path.to_path_buf(),
        config,
        spans,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, Diagnostic> {
    use crate::bounded_read::{ReadError, read_regular};
    read_regular(path, MAX_FILE_BYTES).map_err(|e| match e {
        ReadError::Io(e) => {
            let hint = match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "check the path; melange build files usually end in `.yaml`"
                }
                std::io::ErrorKind::PermissionDenied => "make the file readable by this user",
                _ => "pass the path of a melange build file",
            };
            Diagnostic::new(path, format!("cannot read the file: {e}")).hint(hint)
        }
        ReadError::Directory => Diagnostic::new(path, "this is a directory, not a build file")
            .hint("pass the YAML file itself, for example `melange.yaml`"),
        ReadError::NotRegular(kind) => {
            Diagnostic::new(path, format!("this is a {kind}, not a regular file"))
                .hint("melwrap reads build files only from regular files")
        }
        ReadError::TooLarge { .. } => Diagnostic::new(
            path,
            format!("the file is larger than any build file ({MAX_FILE_BYTES} bytes at most)"),
        )
        .hint("pass the YAML build file itself"),
    })
}

/// The bytes as text, refusing binary data and anything that is not UTF-8.
fn text_of<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, Diagnostic> {
    if let Some(d) = nul_byte(path, bytes) {
        return Err(d);
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        Diagnostic::new(
            path,
            format!("the file is not valid UTF-8 (byte 0x{:02x})", bytes[at]),
        )
        .at(Some(position_of(bytes, at)))
        .hint("save the file as UTF-8; melange reads YAML as UTF-8 text")
    })
}

fn nul_byte(path: &Path, bytes: &[u8]) -> Option<Diagnostic> {
    let at = bytes.iter().position(|&b| b == 0)?;
    Some(
        Diagnostic::new(
            path,
            "this is a binary file (it contains NUL bytes), not YAML",
        )
        .at(Some(position_of(bytes, at)))
        .hint("pass the melange build file (YAML text)"),
    )
}

/// The 1-based line and column (in characters) of byte offset `at`.
fn position_of(bytes: &[u8], at: usize) -> Position {
    let before = &bytes[..at];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    // Count characters where the line so far is text, bytes where it is not (binary data).
    let line_so_far = &before[line_start..];
    let column =
        std::str::from_utf8(line_so_far).map_or(line_so_far.len(), |s| s.chars().count()) + 1;
    Position { line, column }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<LoadedConfig, Diagnostics> {
        load_str(Path::new("melange.yaml"), text)
    }

    #[test]
    fn loads_a_minimal_config_with_positions() {
        let loaded =
            load_text("package:\n  name: hello\n  version: 1.10\npipeline:\n  - runs: echo hi\n")
                .unwrap();
        assert_eq!(loaded.config.package.version, "1.10");
        assert_eq!(
            loaded.spans.position("pipeline[0]"),
            Some(Position { line: 5, column: 5 })
        );
    }

    #[test]
    fn byte_offsets_become_line_and_column() {
        assert_eq!(position_of(b"ab\ncd", 4), Position { line: 2, column: 2 });
        assert_eq!(
            position_of("é\nxé!".as_bytes(), 6),
            Position { line: 2, column: 3 }
        );
    }

    #[test]
    fn refuses_binary_and_non_utf8() {
        let d = text_of(Path::new("x"), b"a: 1\nb: \0\n").unwrap_err();
        assert!(d.message.contains("binary"));
        assert_eq!(d.position, Some(Position { line: 2, column: 4 }));
        let d = text_of(Path::new("x"), b"\x1f\x8b\x08\x00").unwrap_err();
        assert_eq!(d.position, Some(Position { line: 1, column: 4 }));
        let d = text_of(Path::new("x"), b"a: caf\xe9\n").unwrap_err();
        assert!(d.message.contains("UTF-8"));
        assert_eq!(d.position, Some(Position { line: 1, column: 7 }));
    }

    #[test]
    fn a_byte_order_mark_is_allowed() {
        assert!(load_text("\u{feff}package:\n  name: a\n  version: 1\n").is_ok());
    }

    #[test]
    fn devices_are_not_build_files() {
        let e = load(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            e.0[0].message,
            "this is a character device, not a regular file"
        );
    }

    #[test]
    fn a_directory_is_not_a_build_file() {
        let e = load(Path::new("/")).unwrap_err();
        assert!(e.0[0].message.contains("directory"), "{e}");
    }

    #[test]
    fn missing_file_names_the_problem() {
        let e = load(Path::new("/nonexistent/melange.yaml")).unwrap_err();
        assert!(e.0[0].message.starts_with("cannot read the file: "), "{e}");
        assert!(e.0[0].hint.as_deref().unwrap().contains("check the path"));
    }
}
