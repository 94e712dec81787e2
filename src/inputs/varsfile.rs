//! `--vars-file`: a YAML map of `vars:` entries merged over the config's (melange's
//! `WithVarsFileForParsing`: a `map[string]string`, copied over `cfg.Vars`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::diag::{Diagnostic, Position};

/// Read one vars file: a YAML mapping of names to scalar values (numbers and booleans are
/// taken as the text YAML gives them, as melange's string map does).
pub fn read(path: &Path) -> Result<BTreeMap<String, String>, Diagnostic> {
    use crate::bounded_read::{MAX_CONFIG_BYTES, read_regular_text};
    let text = read_regular_text(path, MAX_CONFIG_BYTES).map_err(|e| {
        Diagnostic::new(path, format!("cannot read the vars file: {e}"))
            .hint("`--vars-file` takes a YAML file of `name: value` lines")
    })?;
    parse(path, &text)
}

/// Parse vars-file text; `path` is used in messages.
pub fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, String>, Diagnostic> {
    use serde_yaml::Value;
    let hint = "write one `name: value` per line, with string, number or boolean values";
    let value: Value = serde_yaml::from_str(text).map_err(|e| {
        let at = e.location().map(|l| Position {
            line: l.line(),
            column: l.column(),
        });
        Diagnostic::new(path, format!("not valid YAML: {e}"))
            .at(at)
            .hint(hint)
    })?;
    let map = match value {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Mapping(m) => m,
        _ => {
            return Err(Diagnostic::new(
                path,
                "the vars file must be a mapping of names to values",
            )
            .hint(hint));
        }
    };
    let mut vars = BTreeMap::new();
    for (k, v) in map {
        let Some(key) = scalar(&k) else {
            return Err(Diagnostic::new(path, "a variable name must be a string").hint(hint));
        };
        let Some(value) = scalar(&v) else {
            return Err(Diagnostic::new(
                path,
                format!("vars.{key}: the value must be a string, number or boolean"),
            )
            .hint(hint));
        };
        vars.insert(key, value);
    }
    Ok(vars)
}

fn scalar(v: &serde_yaml::Value) -> Option<String> {
    use serde_yaml::Value;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_become_strings_and_other_shapes_are_refused() {
        let p = Path::new("vars.yaml");
        let vars = parse(p, "a: x\nb: 2\nc: true\n").unwrap();
        assert_eq!(vars["a"], "x");
        assert_eq!(vars["b"], "2");
        assert_eq!(vars["c"], "true");
        assert!(parse(p, "").unwrap().is_empty());
        assert!(parse(p, "- a\n").unwrap_err().message.contains("mapping"));
        let e = parse(p, "a: [1]\n").unwrap_err();
        assert!(e.message.contains("vars.a"), "{e}");
        let e = parse(p, "a: 'x\n").unwrap_err();
        assert!(e.to_string().contains("vars.yaml"), "{e}");
    }
}
