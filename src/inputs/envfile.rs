//! `--env-file`: dotenv files merged into `environment.environment` (melange uses joho/godotenv).
//!
//! Accepted: `KEY=value`, `export KEY=value`, `#` comments and blank lines, values in single
//! quotes (literal) or double quotes (with `\n`, `\"` and `\\` escapes), unquoted values with a
//! trailing ` # comment` removed. Anything else is an error naming the file and line.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::check_env::{ENV_NAME_HINT, is_env_name};
use crate::diag::{Diagnostic, Position};

/// Read one env file.
pub fn read(path: &Path) -> Result<BTreeMap<String, String>, Diagnostic> {
    use crate::bounded_read::{MAX_ENV_FILE_BYTES, read_regular_text};
    let text = read_regular_text(path, MAX_ENV_FILE_BYTES).map_err(|e| {
        Diagnostic::new(path, format!("cannot read env file: {e}"))
            .hint("`--env-file` takes a regular dotenv file of `KEY=value` lines")
    })?;
    parse(path, &text)
}

/// Parse env-file text; `path` is used in messages.
pub fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, String>, Diagnostic> {
    let mut vars = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let at = Position {
            line: index + 1,
            column: 1,
        };
        let Some((key, value)) = line.split_once('=') else {
            return Err(
                Diagnostic::new(path, format!("expected `KEY=value`, found `{line}`")).at(Some(at)),
            );
        };
        let key = key.trim();
        if !is_env_name(key) {
            return Err(
                Diagnostic::new(path, format!("invalid variable name `{key}`"))
                    .at(Some(at))
                    .hint(ENV_NAME_HINT),
            );
        }
        if raw.contains('\0') {
            return Err(
                Diagnostic::new(path, format!("the value of `{key}` contains a NUL byte"))
                    .at(Some(at))
                    .hint("a NUL byte cannot be passed to a process"),
            );
        }
        let value = unquote(value.trim()).ok_or_else(|| {
            Diagnostic::new(path, format!("unterminated quote in the value of `{key}`"))
                .at(Some(at))
        })?;
        vars.insert(key.to_string(), value);
    }
    Ok(vars)
}

fn unquote(value: &str) -> Option<String> {
    if let Some(rest) = value.strip_prefix('\'') {
        return rest.strip_suffix('\'').map(str::to_string);
    }
    if let Some(rest) = value.strip_prefix('"') {
        let inner = rest.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        return Some(out);
    }
    let value = match value.find(" #") {
        Some(i) => value[..i].trim_end(),
        None => value,
    };
    Some(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let vars = parse(
            Path::new("a.env"),
            "# comment\nA=1\nexport B = two words # note\nC='lit $x'\nD=\"line\\nnext\"\n\n",
        )
        .unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two words");
        assert_eq!(vars["C"], "lit $x");
        assert_eq!(vars["D"], "line\nnext");
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse(Path::new("a.env"), "A=1\nnot a var\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.env:2:1: expected `KEY=value`, found `not a var`"
        );
        let err = parse(Path::new("a.env"), "A=\"open\n").unwrap_err();
        assert!(err.to_string().contains("unterminated quote"), "{err}");
    }

    #[test]
    fn names_are_posix_and_values_hold_no_nul() {
        for bad in ["A.B=1", "1A=1", "A-B=1"] {
            let err = parse(Path::new("a.env"), bad).unwrap_err();
            assert!(err.message.starts_with("invalid variable name"), "{err}");
        }
        let err = parse(Path::new("a.env"), "OK=1\nA=x\0y\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.env:2:1: the value of `A` contains a NUL byte\n  hint: a NUL byte cannot be passed to a process"
        );
    }
}
