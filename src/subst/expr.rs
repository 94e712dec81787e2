//! The expression form inside `${{ }}`, a melwrap extension: `${{range.key == "64" && " (ILP64)" || ""}}`.
//!
//! melange has no such form: its `cond.Subst` (`pkg/cond/subst.go`) only accepts a bare name and
//! reports anything else as an unterminated reference. melwrap reads the text as an expression
//! whose value is substituted:
//!
//! ```text
//! or      := and { "||" and }          ; returns the first truthy operand, else the last
//! and     := unary { "&&" unary }      ; returns the first falsy operand, else the last
//! unary   := "!" unary | compare
//! compare := primary [ ("==" | "!=") primary ]   ; exact string comparison, gives true/false
//! primary := "(" or ")" | '…' | "…" | NAME | number | true | false
//! ```
//!
//! `&&` binds tighter than `||` (as in shells, C and GitHub Actions expressions); the `if:`
//! grammar, which follows melange, gives them equal precedence instead. A string is truthy when
//! non-empty. Every operand is evaluated, so an undefined name is an error even where it would
//! not decide the result. String literals use the `if:` escapes (`\\ \' \" \n \t`).

use super::{Lookup, SubstError, is_name_char, is_space, undefined};
use crate::limits::MAX_EXPRESSION_DEPTH;

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprError {
    /// A name in the expression is undefined; the offset is where scanning resumes.
    Undefined(SubstError, usize),
    /// The text does not parse.
    Syntax { offset: usize, message: String },
    /// `(` and `!` nest deeper than [`MAX_EXPRESSION_DEPTH`].
    TooDeep { offset: usize },
}

/// The message for [`ExprError::TooDeep`].
pub fn too_deep_message() -> String {
    format!("`(` and `!` nest more than {MAX_EXPRESSION_DEPTH} levels deep")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Str(String),
    Bool(bool),
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Bool(b) => *b,
        }
    }

    fn render(self) -> String {
        match self {
            Value::Str(s) => s,
            Value::Bool(b) => b.to_string(),
        }
    }
}

struct Parser<'t, 'l> {
    text: &'t str,
    pos: usize,
    lookup: &'l dyn Lookup,
    undefined: Option<SubstError>,
    /// Open `(` and `!` around the current position (bounded: the parser recurses on them).
    depth: usize,
}

/// Evaluate the expression that starts at `inner` (just after `${{`) and ends with `}}`.
/// Returns the rendered value and the offset after `}}`.
pub fn evaluate_reference(
    text: &str,
    inner: usize,
    lookup: &dyn Lookup,
) -> Result<(String, usize), ExprError> {
    let mut p = Parser {
        text,
        pos: inner,
        lookup,
        undefined: None,
        depth: 0,
    };
    let value = p.or()?;
    p.skip_space();
    if !p.rest().starts_with("}}") {
        return Err(p.syntax("expected `}}` or an operator"));
    }
    let end = p.pos + 2;
    match p.undefined {
        Some(e) => Err(ExprError::Undefined(e, end)),
        None => Ok((value.render(), end)),
    }
}

/// Read a quoted literal starting at `pos` (on the quote). Returns the unescaped text and the
/// offset after the closing quote. Escapes follow `pkg/cond/parser.go`: `\\`, `\'`, `\"`, `\n`,
/// `\t`; any other backslash pair is kept as written.
pub fn string_literal(text: &str, pos: usize) -> Result<(String, usize), usize> {
    let b = text.as_bytes();
    let quote = b[pos];
    let mut out = String::new();
    let mut i = pos + 1;
    let mut run = i;
    while i < b.len() && b[i] != quote {
        if b[i] == b'\\' && i + 1 < b.len() {
            out.push_str(&text[run..i]);
            match b[i + 1] {
                b'\\' | b'\'' | b'"' => out.push(b[i + 1] as char),
                b'n' => out.push('\n'),
                b't' => out.push('\t'),
                _ => out.push_str(&text[i..i + 2]),
            }
            i += 2;
            run = i;
        } else {
            i += 1;
        }
    }
    if i >= b.len() {
        return Err(i);
    }
    out.push_str(&text[run..i]);
    Ok((out, i + 1))
}

impl Parser<'_, '_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        let b = self.text.as_bytes();
        while self.pos < b.len() && is_space(b[self.pos]) {
            self.pos += 1;
        }
    }

    fn syntax(&self, message: &str) -> ExprError {
        ExprError::Syntax {
            offset: self.pos,
            message: message.to_string(),
        }
    }

    fn eat(&mut self, op: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(op) {
            self.pos += op.len();
            true
        } else {
            false
        }
    }

    /// Enter one more level of `(` or `!`, refusing absurd depths.
    fn deeper(&mut self) -> Result<(), ExprError> {
        if self.depth >= MAX_EXPRESSION_DEPTH {
            return Err(ExprError::TooDeep { offset: self.pos });
        }
        self.depth += 1;
        Ok(())
    }

    fn or(&mut self) -> Result<Value, ExprError> {
        let mut left = self.and()?;
        while self.eat("||") {
            let right = self.and()?;
            if !left.truthy() {
                left = right;
            }
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Value, ExprError> {
        let mut left = self.unary()?;
        while self.eat("&&") {
            let right = self.unary()?;
            if left.truthy() {
                left = right;
            }
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Value, ExprError> {
        self.skip_space();
        if self.rest().starts_with('!') && !self.rest().starts_with("!=") {
            self.deeper()?;
            self.pos += 1;
            let v = self.unary()?;
            self.depth -= 1;
            return Ok(Value::Bool(!v.truthy()));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Value, ExprError> {
        let left = self.primary()?;
        for (op, equal) in [("==", true), ("!=", false)] {
            if self.eat(op) {
                let right = self.primary()?;
                return Ok(Value::Bool((left.render() == right.render()) == equal));
            }
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Value, ExprError> {
        self.skip_space();
        let b = self.text.as_bytes();
        let Some(&c) = b.get(self.pos) else {
            return Err(self.syntax("unexpected end of text"));
        };
        if c == b'(' {
            self.deeper()?;
            self.pos += 1;
            let v = self.or()?;
            self.depth -= 1;
            if !self.eat(")") {
                return Err(self.syntax("expected `)`"));
            }
            return Ok(v);
        }
        if c == b'\'' || c == b'"' {
            let (s, end) = string_literal(self.text, self.pos).map_err(|at| ExprError::Syntax {
                offset: at,
                message: "unterminated string literal".into(),
            })?;
            self.pos = end;
            return Ok(Value::Str(s));
        }
        let start = self.pos;
        while self.pos < b.len() && is_name_char(b[self.pos]) {
            self.pos += 1;
        }
        let name = &self.text[start..self.pos];
        if name.is_empty() {
            return Err(self.syntax("expected a name, a quoted string or `(`"));
        }
        if let Some(v) = self.lookup.get(name) {
            return Ok(Value::Str(v.to_string()));
        }
        match name {
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            _ => {}
        }
        if name.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            return Ok(Value::Str(name.to_string()));
        }
        if self.undefined.is_none() {
            self.undefined = Some(undefined(name, self.lookup));
        }
        Ok(Value::Str(String::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SubstError, substitute};
    use std::collections::HashMap;

    fn with_key(key: &str) -> HashMap<String, String> {
        HashMap::from([
            ("range.key".to_string(), key.to_string()),
            ("empty".to_string(), String::new()),
        ])
    }

    #[test]
    fn value_returning_and_or() {
        let t = r#"blas${{range.key == "64" && " (ILP64)" || ""}}"#;
        assert_eq!(substitute(t, &with_key("64")).unwrap(), "blas (ILP64)");
        assert_eq!(substitute(t, &with_key("32")).unwrap(), "blas");
        assert_eq!(
            substitute("${{ empty || 'fallback' }}", &with_key("x")).unwrap(),
            "fallback"
        );
        assert_eq!(
            substitute("${{ range.key && 'set' }}", &with_key("x")).unwrap(),
            "set"
        );
        assert_eq!(
            substitute("${{ range.key != 'x' }}", &with_key("x")).unwrap(),
            "false"
        );
        assert_eq!(
            substitute("${{ !(range.key == 'x') || 'no' }}", &with_key("x")).unwrap(),
            "no"
        );
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // true || (false && '') is true; left-to-right equal precedence would give ''.
        assert_eq!(
            substitute("${{ 'a' == 'a' || 'a' == 'b' && empty }}", &with_key("x")).unwrap(),
            "true"
        );
    }

    #[test]
    fn literals_may_hold_braces_and_escapes() {
        assert_eq!(
            substitute(r#"${{ range.key == 'x' && "}}\"\n" }}"#, &with_key("x")).unwrap(),
            "}}\"\n"
        );
    }

    #[test]
    fn undefined_names_are_errors_even_when_not_deciding() {
        let err = substitute("${{ 'a' || nope.x }}", &with_key("x")).unwrap_err();
        assert!(matches!(&err.0[0], SubstError::Undefined { name, .. } if name == "nope.x"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let m = with_key("x");
        for open in ["(", "!"] {
            let text = format!("${{{{ {}'a' }}}}", open.repeat(100_000));
            let err = substitute(&text, &m).unwrap_err();
            assert!(
                err.to_string()
                    .contains("`(` and `!` nest more than 64 levels deep"),
                "{err}"
            );
        }
        let ok = format!("${{{{ {}'a'{} }}}}", "(".repeat(60), ")".repeat(60));
        assert_eq!(substitute(&ok, &m).unwrap(), "a");
    }

    #[test]
    fn malformed_expressions_are_errors() {
        let m = with_key("x");
        assert!(matches!(
            substitute("${{ range.key == }}", &m).unwrap_err().0[0],
            SubstError::Expression { .. }
        ));
        assert!(matches!(
            substitute("${{ range.key == 'x' && ('a' }}", &m)
                .unwrap_err()
                .0[0],
            SubstError::Expression { .. }
        ));
    }
}
