//! Turning a serde_yaml decode error into a located [`Diagnostic`] with a field path and a hint.
//!
//! serde_yaml renders its errors as `path: message at line L column C`, where the path looks
//! like ours (`pipeline[0].with`) and an unknown-field message lists every accepted name. The
//! path and message are split apart here; an unknown field becomes `unknown field `x`` on the
//! field's own path with a did-you-mean, and a wrong type gets a hint for the expected shape.

use std::path::Path;

use crate::diag::{Diagnostic, Position, did_you_mean};

use super::locate::SpanIndex;

/// The diagnostic for a failed decode of the file at `path`.
pub fn diagnostic(path: &Path, spans: &SpanIndex, error: &serde_yaml::Error) -> Diagnostic {
    let serde_pos = error.location().map(|l| Position {
        line: l.line(),
        column: l.column(),
    });
    let rendered = error.to_string();
    let text = match rendered.rfind(" at line ") {
        Some(cut) if serde_pos.is_some() => &rendered[..cut],
        _ => rendered.as_str(),
    };
    let (parent, message) = split_path(text);

    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = parse_unknown_field(rest);
        let field = join(parent, name);
        let hint = match did_you_mean(name, expected.iter().map(String::as_str)) {
            Some(close) => format!("did you mean `{close}`?"),
            None if expected.is_empty() => format!("`{}` takes no keys", parent.unwrap_or(".")),
            None => format!("expected one of {}", backticked(&expected)),
        };
        return Diagnostic::new(path, format!("unknown field `{name}`"))
            .at(spans.position(&field).or(serde_pos))
            .field(field)
            .hint(hint);
    }

    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        let field = join(parent, name);
        let hint = if field == "package" {
            "every build file needs a `package:` section with `name:` and `version:`".to_string()
        } else {
            format!("add `{name}:`")
        };
        return Diagnostic::new(path, format!("missing field `{name}`"))
            .at(parent.and_then(|p| spans.nearest(p)).or(serde_pos))
            .field(field)
            .hint(hint);
    }

    let mut d = Diagnostic::new(path, message)
        .at(serde_pos.or_else(|| parent.and_then(|p| spans.nearest(p))));
    if let Some(p) = parent {
        d = d.field(p);
    }
    if let Some(hint) = type_hint(message, parent.unwrap_or("")) {
        d = d.hint(hint);
    }
    d
}

/// `pipeline[0].with: invalid type: ...` → (`Some("pipeline[0].with")`, `invalid type: ...`).
/// serde's own messages start with words separated by spaces, paths never do.
fn split_path(text: &str) -> (Option<&str>, &str) {
    match text.split_once(": ") {
        Some((head, rest)) if !head.is_empty() && !head.contains(' ') && head != "." => {
            (Some(head), rest)
        }
        _ => (None, text),
    }
}

fn join(parent: Option<&str>, name: &str) -> String {
    match parent {
        Some(p) => format!("{p}.{name}"),
        None => name.to_string(),
    }
}

/// From "x`, expected one of `a`, `b`" take `x` and the expected names.
fn parse_unknown_field(rest: &str) -> (&str, Vec<String>) {
    let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
    let expected = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    (name, expected)
}

fn backticked(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A hint for `invalid type: <found>, expected <what>` and similar messages.
fn type_hint(message: &str, field: &str) -> Option<String> {
    let rest = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))?;
    let (found, expected) = rest.split_once(", expected ")?;
    let last = field.rsplit('.').next().unwrap_or(field);
    let hint = if expected == "a string" && found == "sequence" {
        if last == "sparse-paths" {
            "`with:` values are strings: write the paths as one string separated by spaces (`sparse-paths: src docs`); melange's example shows a list, which its strict decoder rejects too".to_string()
        } else {
            format!("`{last}` takes a single string; melange's strict decoder rejects a list here")
        }
    } else if expected == "a string" {
        format!("`{last}` takes a string; quote the value")
    } else if expected.starts_with("a sequence") {
        format!("`{last}` takes a list: write each entry on its own line as `- entry`")
    } else if expected.starts_with("struct") || expected.starts_with("a map") {
        format!("`{last}` takes a mapping of keys to values (`key: value` lines indented below it)")
    } else if expected.starts_with('u') || expected.starts_with('i') {
        format!("`{last}` takes a whole number, written without quotes")
    } else if expected == "a boolean" {
        format!("`{last}` takes `true` or `false`")
    } else {
        return None;
    };
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Configuration, locate::locate};

    fn decode_error(text: &str) -> Diagnostic {
        let spans = locate(text).unwrap();
        let err = serde_yaml::from_str::<Configuration>(text).unwrap_err();
        diagnostic(Path::new("m.yaml"), &spans, &err)
    }

    #[test]
    fn unknown_step_field_gets_its_path_and_a_suggestion() {
        let d = decode_error(
            "package:\n  name: a\npipeline:\n  - uses: fetch\n    wiht:\n      uri: x\n",
        );
        assert_eq!(
            d.to_string(),
            "m.yaml:5:5: `pipeline[0].wiht`: unknown field `wiht`\n  hint: did you mean `with`?"
        );
    }

    #[test]
    fn unknown_field_without_a_close_name_lists_the_choices() {
        let d = decode_error("package:\n  name: a\n  zzzzzz: 1\n");
        assert_eq!(d.field.as_deref(), Some("package.zzzzzz"));
        assert!(
            d.hint
                .unwrap()
                .starts_with("expected one of `name`, `version`")
        );
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let d = decode_error("package:\n  name: a\n  epoch: one\n");
        assert_eq!(d.field.as_deref(), Some("package.epoch"));
        assert_eq!(
            d.position,
            Some(Position {
                line: 3,
                column: 10
            })
        );
        assert!(d.hint.unwrap().contains("whole number"));
    }

    #[test]
    fn missing_package_section() {
        let d = decode_error("pipeline:\n  - runs: x\n");
        assert_eq!(d.message, "missing field `package`");
        assert_eq!(d.field.as_deref(), Some("package"));
    }

    #[test]
    fn split_path_leaves_plain_messages_alone() {
        assert_eq!(split_path("invalid type: map"), (None, "invalid type: map"));
        assert_eq!(split_path("a.b[0]: oops: x"), (Some("a.b[0]"), "oops: x"));
    }
}
