//! Located diagnostics: an error that names the file, line, column and field path it is about,
//! with an optional `hint:`. Every stage that knows where a value came from reports through
//! [`Diagnostic`], so a problem found late (compiling, running) still says `melange.yaml:42`.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a source file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One problem in one input file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// Where in the file, when known.
    pub position: Option<Position>,
    /// The field path, such as `pipeline[3].with.uri`, when the problem is about one field.
    pub field: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(file: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.as_ref().to_path_buf(),
            position: None,
            field: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn at(mut self, position: Option<Position>) -> Self {
        self.position = position;
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `file:line:col`, or `file` when the position is unknown.
    pub fn location(&self) -> String {
        match self.position {
            Some(p) => format!("{}:{}:{}", self.file.display(), p.line, p.column),
            None => self.file.display().to_string(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location())?;
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Several diagnostics about one input, reported together (all of a file's problems at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The suggestion for a misspelt name: the closest candidate, when it is close enough.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_field_and_hint() {
        let d = Diagnostic::new("melange.yaml", "unknown field `runs2`")
            .at(Some(Position { line: 4, column: 5 }))
            .field("pipeline[0]")
            .hint("did you mean `runs`?");
        assert_eq!(
            d.to_string(),
            "melange.yaml:4:5: `pipeline[0]`: unknown field `runs2`\n  hint: did you mean `runs`?"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["runs", "uses", "with", "working-directory"];
        assert_eq!(did_you_mean("rusn", names), Some("runs"));
        assert_eq!(
            did_you_mean("working-dir", names),
            Some("working-directory")
        );
        assert_eq!(did_you_mean("zzz", names), None);
    }
}
