//! Reading a build file from disk into a [`LoadedConfig`].
//!
//! STUB (to be replaced by the config loader work): decodes without positions.

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Diagnostics, Position};

use super::model::Configuration;

/// A decoded build file with the positions of its fields.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The path as the user gave it (used in messages).
    pub path: PathBuf,
    pub config: Configuration,
    pub spans: SpanIndex,
}

/// Where each field of the file starts, keyed by field path (`pipeline[3].with.uri`).
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    entries: std::collections::HashMap<String, Position>,
}

impl SpanIndex {
    /// The position of the field (its key, or the item for a sequence element), if present.
    pub fn position(&self, field_path: &str) -> Option<Position> {
        self.entries.get(field_path).copied()
    }
}

/// Read, decode and check a build file. All problems found are returned together.
pub fn load(path: &Path) -> Result<LoadedConfig, Diagnostics> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostics(vec![Diagnostic::new(path, format!("cannot read: {e}"))]))?;
    load_str(path, &text)
}

/// Like [`load`], for text already in memory; `path` is used in messages.
pub fn load_str(path: &Path, text: &str) -> Result<LoadedConfig, Diagnostics> {
    let config: Configuration = serde_yaml::from_str(text)
        .map_err(|e| Diagnostics(vec![Diagnostic::new(path, e.to_string())]))?;
    Ok(LoadedConfig {
        path: path.to_path_buf(),
        config,
        spans: SpanIndex::default(),
    })
}
