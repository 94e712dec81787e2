//! `if:` conditions, with melange's grammar (`pkg/cond/parser.go`):
//!
//! ```text
//! expr       := atom { ("&&" | "||") atom }   ; equal precedence, left to right
//! atom       := "(" expr ")" | comparison
//! comparison := value ("==" | "!=") value     ; exact string comparison
//! value      := '…' | "…" | ${{ … }}
//! ```
//!
//! Whitespace (space, tab, CR, LF) may separate tokens; quoted strings know the escapes `\\`,
//! `\'`, `\"`, `\n`, `\t` (others are kept as written); a bare word is not a value; both sides
//! of `&&`/`||` are evaluated; trailing text is an error.
//!
//! Where melwrap differs, on purpose: melange first pastes values into the text (parse-time
//! `package.*`/`vars.*` unquoted, which breaks the grammar; compile-time names Go-quoted, so
//! `'${{build.arch}}'` compares against `"x86_64"` with the quotes). melwrap evaluates the
//! condition directly against the full variable map instead: a `${{…}}` value is the variable's
//! text whatever its phase, and a `${{…}}` inside a quoted string is replaced by the raw value.
//! So `${{package.name}} == 'hello'` and `'${{build.arch}}' == 'x86_64'` both work.

use super::expr::string_literal;
use super::{Lookup, SubstErrors, is_space, reference};
use crate::limits::MAX_EXPRESSION_DEPTH;

/// Why a condition could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CondError {
    /// The text does not follow the grammar; `offset` is a byte offset into the condition.
    Syntax {
        offset: usize,
        message: String,
        hint: Option<String>,
    },
    /// A `${{…}}` in the condition could not be resolved.
    Subst(SubstErrors),
}

impl std::fmt::Display for CondError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CondError::Syntax {
                offset, message, ..
            } => write!(f, "{message} at column {}", offset + 1),
            CondError::Subst(e) => write!(f, "{e}"),
        }
    }
}

impl CondError {
    /// A `hint:` line for this error.
    pub fn hint(&self) -> Option<String> {
        match self {
            CondError::Syntax { hint, .. } => hint.clone(),
            CondError::Subst(e) => e.hint(),
        }
    }
}

struct Parser<'t, 'l> {
    text: &'t str,
    pos: usize,
    lookup: &'l dyn Lookup,
    subst_errors: Vec<super::SubstError>,
    /// Open parentheses around the current position (bounded: the parser recurses on them).
    depth: usize,
}

/// Evaluate `condition` against `lookup`. An empty condition is true.
pub fn evaluate(condition: &str, lookup: &dyn Lookup) -> Result<bool, CondError> {
    if condition.trim().is_empty() {
        return Ok(true);
    }
    let mut p = Parser {
        text: condition,
        pos: 0,
        lookup,
        subst_errors: Vec::new(),
        depth: 0,
    };
    let result = p.expr()?;
    p.skip_space();
    if p.pos != condition.len() {
        return Err(p.syntax(
            format!("unexpected trailing text `{}`", &condition[p.pos..]),
            Some("join comparisons with `&&` or `||`".into()),
        ));
    }
    if !p.subst_errors.is_empty() {
        return Err(CondError::Subst(SubstErrors(p.subst_errors)));
    }
    Ok(result)
}

impl Parser<'_, '_> {
    fn skip_space(&mut self) {
        let b = self.text.as_bytes();
        while self.pos < b.len() && is_space(b[self.pos]) {
            self.pos += 1;
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn syntax(&self, message: String, hint: Option<String>) -> CondError {
        CondError::Syntax {
            offset: self.pos,
            message,
            hint,
        }
    }

    fn expr(&mut self) -> Result<bool, CondError> {
        let mut result = self.atom()?;
        loop {
            self.skip_space();
            let and = if self.rest().starts_with("&&") {
                true
            } else if self.rest().starts_with("||") {
                false
            } else {
                break;
            };
            self.pos += 2;
            // Both sides are always evaluated, as in melange.
            let rhs = self.atom()?;
            result = if and { result && rhs } else { result || rhs };
        }
        Ok(result)
    }

    fn atom(&mut self) -> Result<bool, CondError> {
        self.skip_space();
        if self.rest().starts_with('(') {
            if self.depth >= MAX_EXPRESSION_DEPTH {
                return Err(self.syntax(
                    format!("parentheses nest more than {MAX_EXPRESSION_DEPTH} levels deep"),
                    Some("real conditions need a few levels at most".into()),
                ));
            }
            self.depth += 1;
            self.pos += 1;
            let r = self.expr()?;
            self.depth -= 1;
            self.skip_space();
            if !self.rest().starts_with(')') {
                return Err(self.syntax("expected `)`".into(), None));
            }
            self.pos += 1;
            return Ok(r);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<bool, CondError> {
        let lhs = self.value()?;
        self.skip_space();
        let equal = if self.rest().starts_with("==") {
            true
        } else if self.rest().starts_with("!=") {
            false
        } else {
            let hint = if self.pos >= self.text.len() {
                Some("a condition compares two values, e.g. `${{build.arch}} == 'x86_64'`".into())
            } else {
                None
            };
            return Err(self.syntax("expected `==` or `!=`".into(), hint));
        };
        self.pos += 2;
        let rhs = self.value()?;
        Ok((lhs == rhs) == equal)
    }

    fn value(&mut self) -> Result<String, CondError> {
        self.skip_space();
        let b = self.text.as_bytes();
        let Some(&c) = b.get(self.pos) else {
            return Err(self.syntax(
                "unexpected end of condition, expected a value".into(),
                Some("values are quoted strings or `${{...}}` references".into()),
            ));
        };
        if c == b'\'' || c == b'"' {
            return self.quoted();
        }
        if self.rest().starts_with("${{") {
            return match reference(self.text, self.pos, self.lookup) {
                Ok((v, end)) => {
                    self.pos = end;
                    Ok(v)
                }
                Err((e, end)) => {
                    let fatal = !matches!(e, super::SubstError::Undefined { .. });
                    if fatal {
                        return Err(CondError::Subst(SubstErrors(vec![e])));
                    }
                    self.subst_errors.push(e);
                    self.pos = end;
                    Ok(String::new())
                }
            };
        }
        let word: String = self
            .rest()
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        Err(self.syntax(
            format!("`{word}` is not a value"),
            Some(format!(
                "quote it (`'{word}'`) or write a variable as `${{{{name}}}}`"
            )),
        ))
    }

    /// A quoted string; `${{…}}` inside it is replaced by the variable's raw text.
    fn quoted(&mut self) -> Result<String, CondError> {
        let start = self.pos;
        let (raw, end) = string_literal(self.text, start).map_err(|_| CondError::Syntax {
            offset: start,
            message: "unterminated string literal".into(),
            hint: Some("close the quote".into()),
        })?;
        self.pos = end;
        match super::substitute(&raw, self.lookup) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.subst_errors.extend(e.0);
                Ok(String::new())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars() -> HashMap<String, String> {
        HashMap::from([
            ("build.arch".to_string(), "x86_64".to_string()),
            ("package.name".to_string(), "hello".to_string()),
            ("vars.q".to_string(), "it's \"q\"".to_string()),
        ])
    }

    fn eval(c: &str) -> Result<bool, CondError> {
        evaluate(c, &vars())
    }

    #[test]
    fn comparisons_with_variables_and_both_quote_styles() {
        assert!(eval("${{build.arch}} == 'x86_64'").unwrap());
        assert!(eval("${{build.arch}} == \"x86_64\"").unwrap());
        assert!(!eval("${{build.arch}} == 'aarch64'").unwrap());
        assert!(eval("${{ package.name }} != 'world'").unwrap());
        assert!(eval("'${{build.arch}}' == 'x86_64'").unwrap());
        assert!(eval("${{vars.q}} == 'it\\'s \"q\"'").unwrap());
        assert!(eval("\n  ${{build.arch}}\t==\r\n'x86_64'  ").unwrap());
        assert!(eval("").unwrap());
    }

    #[test]
    fn escapes_follow_melange() {
        assert!(
            eval(
                r"'a\nb' == 'a
b'"
            )
            .unwrap()
        );
        assert!(eval(r"'a\tb' == 'a	b'").unwrap());
        // Unknown escapes are kept as written.
        assert!(eval(r"'a\qb' == 'a\\qb'").unwrap());
    }

    #[test]
    fn and_or_have_equal_precedence_left_to_right() {
        // (true || true) && false = false; with && binding tighter it would be true.
        assert!(!eval("'a' == 'a' || 'b' == 'b' && 'c' == 'd'").unwrap());
        assert!(eval("'a' == 'a' || ('b' == 'b' && 'c' == 'd')").unwrap());
        assert!(eval("('a' == 'b' && 'c' == 'c') || 'x' == 'x'").unwrap());
    }

    #[test]
    fn both_sides_are_evaluated() {
        let err = eval("'a' == 'a' || ${{nope}} == 'x'").unwrap_err();
        assert!(err.to_string().contains("variable `nope` is not defined"));
    }

    #[test]
    fn malformed_conditions_say_where() {
        let err = eval("x86_64 == ${{build.arch}}").unwrap_err();
        assert_eq!(err.to_string(), "`x86_64` is not a value at column 1");
        assert!(err.hint().unwrap().contains("'x86_64'"));
        let err = eval("${{build.arch}} = 'x'").unwrap_err();
        assert_eq!(err.to_string(), "expected `==` or `!=` at column 17");
        assert!(eval("${{build.arch}} == 'x' 'y'").is_err());
        assert!(eval("('a' == 'a'").is_err());
        assert!(eval("'a == 'a'").is_err());
        assert!(eval("${{build.arch}}").is_err());
        assert!(eval("'a' == 'a' &&").is_err());
    }

    #[test]
    fn deep_parentheses_are_an_error_not_a_stack_overflow() {
        let deep = format!("{}'a' == 'a'{}", "(".repeat(100_000), ")".repeat(100_000));
        let err = eval(&deep).unwrap_err();
        assert_eq!(
            err.to_string(),
            "parentheses nest more than 64 levels deep at column 65"
        );
        let ok = format!("{}'a' == 'a'{}", "(".repeat(64), ")".repeat(64));
        assert!(eval(&ok).unwrap());
    }
}
