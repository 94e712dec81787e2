//! `${{...}}` substitution: the strict engine every compiled field goes through, the scopes
//! variables are looked up in, the expression form (`expr`), the `if:` grammar (`cond`) and
//! `var-transforms` (`transforms`).
//!
//! The reference syntax follows melange's `pkg/cond/subst.go`: `${{`, optional whitespace, a
//! name of `[A-Za-z0-9._-]`, optional whitespace, `}}`. Substitution is single pass (replacement
//! text is never rescanned) and strict: an unknown name, an empty name or a missing `}}` is an
//! error, and every error in a text is reported, not just the first. There is no escape for a
//! literal `${{`, as in melange.
//!
//! melwrap adds one thing melange does not have: when the text between the braces is not a bare
//! name, it is read as an expression (`${{range.key == "64" && " (ILP64)" || ""}}`), see `expr`.

pub mod cond;
pub mod expr;
pub mod transforms;

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;

use crate::limits::{MAX_ERRORS_PER_TEXT, MAX_SUBSTITUTED_BYTES, MAX_VALUE_BYTES};

/// Something variables can be looked up in. Names are bare (`package.name`, not `${{...}}`).
pub trait Lookup {
    /// The value of `name`, if defined.
    fn get(&self, name: &str) -> Option<&str>;
    /// Every defined name, for "did you mean" hints.
    fn names(&self) -> Vec<&str>;
    /// The output allowance substitutions against this lookup draw from, if any.
    fn budget(&self) -> Option<&Budget> {
        None
    }
}

/// How much text the substitutions of one compile may still produce in total
/// ([`MAX_SUBSTITUTED_BYTES`] to start with): a file of `vars` that each double the one before
/// must be refused after a few megabytes, not after filling memory.
#[derive(Debug)]
pub struct Budget {
    left: Cell<u64>,
}

impl Budget {
    /// The allowance of one compile.
    pub fn new() -> Self {
        Self::with_limit(MAX_SUBSTITUTED_BYTES)
    }

    /// An allowance of `bytes` (tests use small ones).
    pub fn with_limit(bytes: u64) -> Self {
        Budget {
            left: Cell::new(bytes),
        }
    }

    /// What is left.
    pub fn left(&self) -> u64 {
        self.left.get()
    }

    /// Take `bytes`; false when fewer are left (the budget is then spent: a refused text
    /// must not leave room for the next one).
    fn take(&self, bytes: u64) -> bool {
        match self.left.get().checked_sub(bytes) {
            Some(rest) => {
                self.left.set(rest);
                true
            }
            None => {
                self.left.set(0);
                false
            }
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::new()
    }
}

/// A lookup whose substitutions draw from `budget`.
pub struct Metered<'a> {
    pub lookup: &'a dyn Lookup,
    pub budget: &'a Budget,
}

impl Lookup for Metered<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.lookup.get(name)
    }
    fn names(&self) -> Vec<&str> {
        self.lookup.names()
    }
    fn budget(&self) -> Option<&Budget> {
        Some(self.budget)
    }
}

impl Lookup for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
    fn names(&self) -> Vec<&str> {
        self.keys().map(String::as_str).collect()
    }
}

/// A layer of variables over an optional parent scope; lookups try this layer first.
///
/// Scopes mirror how melange clones and extends its substitution map: the package map, then a
/// subpackage's overlay, then each `uses:` level's `inputs.*` (`pkg/build/pipeline.go`,
/// `MutateWith`), without copying the whole map at every level.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    parent: Option<&'a Scope<'a>>,
    vars: HashMap<String, String>,
    budget: Option<&'a Budget>,
}

impl<'a> Scope<'a> {
    /// A root scope holding `vars`.
    pub fn new(vars: HashMap<String, String>) -> Self {
        Scope {
            parent: None,
            vars,
            budget: None,
        }
    }

    /// A root scope holding `vars` whose substitutions, and its children's, draw from `budget`.
    pub fn with_budget(vars: HashMap<String, String>, budget: &'a Budget) -> Self {
        Scope {
            parent: None,
            vars,
            budget: Some(budget),
        }
    }

    /// An empty layer over `parent` (sharing its budget).
    pub fn child(parent: &'a Scope<'a>) -> Self {
        Scope {
            parent: Some(parent),
            vars: HashMap::new(),
            budget: parent.budget,
        }
    }

    /// Define (or shadow) `name` in this layer.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// This layer's own variables.
    pub fn own(&self) -> &HashMap<String, String> {
        &self.vars
    }
}

impl Lookup for Scope<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        match self.vars.get(name) {
            Some(v) => Some(v),
            None => self.parent.and_then(|p| p.get(name)),
        }
    }

    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        if let Some(p) = self.parent {
            names.extend(p.names());
        }
        names
    }

    fn budget(&self) -> Option<&Budget> {
        self.budget
    }
}

/// One problem found while substituting a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubstError {
    /// `${{name}}` names no variable.
    Undefined {
        name: String,
        suggestion: Option<String>,
    },
    /// `${{}}` or `${{ }}`.
    EmptyName { offset: usize },
    /// `${{name` without a closing `}}`, or characters a name cannot hold.
    Unterminated { name: String, offset: usize },
    /// An expression inside `${{ }}` that does not parse.
    Expression { offset: usize, message: String },
    /// The result would be larger than [`MAX_VALUE_BYTES`].
    TooLong,
    /// The compile's substitutions together would produce more than [`MAX_SUBSTITUTED_BYTES`].
    BudgetExhausted,
    /// More problems in the same text, not listed one by one.
    More { count: usize },
}

impl SubstError {
    /// Whether this is a size limit (reported once per compile, then the compile stops).
    pub fn is_limit(&self) -> bool {
        matches!(self, SubstError::TooLong | SubstError::BudgetExhausted)
    }
}

impl fmt::Display for SubstError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubstError::Undefined { name, .. } => write!(f, "variable `{name}` is not defined"),
            SubstError::EmptyName { offset } => {
                write!(f, "empty variable name in `${{{{}}}}` at offset {offset}")
            }
            SubstError::Unterminated { name, offset } => write!(
                f,
                "unterminated variable reference `${{{{{name}` at offset {offset} (expected `}}}}`)"
            ),
            SubstError::Expression { offset, message } => {
                write!(f, "bad expression at offset {offset}: {message}")
            }
            SubstError::TooLong => write!(
                f,
                "the value is larger than {} after substitution (the limit for one value)",
                crate::bounded_read::human_bytes(MAX_VALUE_BYTES as u64)
            ),
            SubstError::BudgetExhausted => write!(
                f,
                "substitutions in this file produce more than {} of text in total (the limit)",
                crate::bounded_read::human_bytes(MAX_SUBSTITUTED_BYTES)
            ),
            SubstError::More { count } => write!(f, "and {count} more"),
        }
    }
}

/// All problems of one text, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstErrors(pub Vec<SubstError>);

impl SubstErrors {
    /// A `hint:` for the first undefined name that has a close match, if any.
    pub fn hint(&self) -> Option<String> {
        if self.is_limit() {
            return Some(
                "real build files stay far below this; look for `vars` or inputs that repeat \
                 each other and so double at every step"
                    .into(),
            );
        }
        self.0.iter().find_map(|e| match e {
            SubstError::Undefined {
                suggestion: Some(s),
                name,
            } => Some(format!("did you mean `{s}` instead of `{name}`?")),
            _ => None,
        })
    }

    /// Whether a size limit was hit.
    pub fn is_limit(&self) -> bool {
        self.0.iter().any(SubstError::is_limit)
    }
}

impl fmt::Display for SubstErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SubstErrors {}

/// The characters of a variable name (`pkg/cond/parser.go`, `isVarChar`).
pub fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'-' || c == b'_'
}

pub(crate) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// The error for an undefined `name`, with the closest defined name as a suggestion.
pub fn undefined(name: &str, lookup: &dyn Lookup) -> SubstError {
    let names = lookup.names();
    SubstError::Undefined {
        name: name.to_string(),
        suggestion: crate::diag::did_you_mean(name, names).map(str::to_string),
    }
}

/// Replace every `${{...}}` in `text` with its value from `lookup`, strictly.
pub fn substitute(text: &str, lookup: &dyn Lookup) -> Result<String, SubstErrors> {
    let mut errors = Vec::new();
    let mut more = 0;
    let out = expand(text, lookup, |_, e, _| {
        if errors.len() < MAX_ERRORS_PER_TEXT {
            errors.push(e);
        } else {
            more += 1;
        }
    });
    match out {
        Err(limit) => Err(SubstErrors(vec![limit])),
        Ok(_) if !errors.is_empty() => {
            if more > 0 {
                errors.push(SubstError::More { count: more });
            }
            Err(SubstErrors(errors))
        }
        Ok(out) => Ok(out),
    }
}

/// Like [`substitute`], but a reference that cannot be resolved is kept as written. Only for
/// text that is a label, never run: step `name`s, which melange does not substitute at compile
/// time at all (so Wolfi's `name: pip build ${{inputs.python}}` must not fail). A label over a
/// size limit is left empty (the exhausted budget stops the compile at its next strict use).
pub fn substitute_lenient(text: &str, lookup: &dyn Lookup) -> String {
    expand(text, lookup, |out, _, written| out.push_str(written)).unwrap_or_default()
}

/// One pass over `text` (single pass: replaced text is not scanned again). A reference that
/// fails goes to `on_error` with the output so far and the reference as written. The output is
/// capped at [`MAX_VALUE_BYTES`] and at what the lookup's budget has left; past either, the
/// pass stops with [`SubstError::TooLong`] or [`SubstError::BudgetExhausted`].
fn expand(
    text: &str,
    lookup: &dyn Lookup,
    mut on_error: impl FnMut(&mut String, SubstError, &str),
) -> Result<String, SubstError> {
    let budget = lookup.budget();
    let left = budget.map_or(u64::MAX, Budget::left);
    let (cap, over) = if (MAX_VALUE_BYTES as u64) <= left {
        (MAX_VALUE_BYTES, SubstError::TooLong)
    } else {
        (left as usize, SubstError::BudgetExhausted)
    };
    // What was produced is drawn from the budget even when it is refused, so a text that is
    // substituted again and again cannot stay under the total.
    let charge = |bytes: usize| budget.is_none_or(|b| b.take(bytes as u64));
    let done = |out: String| -> Result<String, SubstError> {
        if charge(out.len()) {
            Ok(out)
        } else {
            Err(SubstError::BudgetExhausted)
        }
    };
    if !text.contains("${{") {
        if text.len() > cap {
            charge(text.len());
            return Err(over);
        }
        return done(text.to_string());
    }
    let mut out = String::with_capacity(text.len().min(cap));
    let mut rest = 0;
    while let Some(found) = text[rest..].find("${{") {
        let start = rest + found;
        out.push_str(&text[rest..start]);
        match reference(text, start, lookup) {
            Ok((value, end)) => {
                out.push_str(&value);
                rest = end;
            }
            Err((e, resume)) => {
                let resume = resume.max(start + 3);
                if e.is_limit() {
                    return Err(e);
                }
                on_error(&mut out, e, &text[start..resume]);
                rest = resume;
            }
        }
        if out.len() > cap {
            charge(out.len());
            return Err(over);
        }
    }
    out.push_str(&text[rest..]);
    if out.len() > cap {
        charge(out.len());
        return Err(over);
    }
    done(out)
}

/// Resolve the reference that starts at `start` (the `$` of `${{`). Returns the value and the
/// offset after the closing `}}`, or the error and the offset to resume scanning from.
pub(crate) fn reference(
    text: &str,
    start: usize,
    lookup: &dyn Lookup,
) -> Result<(String, usize), (SubstError, usize)> {
    let b = text.as_bytes();
    let inner = start + 3;
    let mut i = inner;
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    let name_start = i;
    while i < b.len() && is_name_char(b[i]) {
        i += 1;
    }
    let name = &text[name_start..i];
    let mut j = i;
    while j < b.len() && is_space(b[j]) {
        j += 1;
    }
    if !name.is_empty() && text[j..].starts_with("}}") {
        return match lookup.get(name) {
            Some(v) => Ok((v.to_string(), j + 2)),
            None => Err((undefined(name, lookup), j + 2)),
        };
    }
    // Not a bare name: try the expression form. If that does not parse either, report it the
    // way melange would for a plain reference, unless it clearly is an expression attempt.
    match expr::evaluate_reference(text, inner, lookup) {
        Ok((value, end)) => Ok((value, end)),
        Err(expr::ExprError::Undefined(e, end)) => Err((e, end)),
        Err(expr::ExprError::TooDeep { offset }) => Err((
            SubstError::Expression {
                offset,
                message: expr::too_deep_message(),
            },
            inner,
        )),
        Err(expr::ExprError::Syntax { offset, message }) => {
            if name.is_empty() && text[j..].starts_with("}}") {
                Err((SubstError::EmptyName { offset: start }, j + 2))
            } else if looks_like_expression(&text[j..]) {
                Err((SubstError::Expression { offset, message }, inner))
            } else {
                Err((
                    SubstError::Unterminated {
                        name: name.to_string(),
                        offset: start,
                    },
                    inner,
                ))
            }
        }
    }
}

/// Whether the text after a name starts with an operator of the expression form.
fn looks_like_expression(after_name: &str) -> bool {
    ["==", "!=", "&&", "||", "(", "'", "\""]
        .iter()
        .any(|op| after_name.starts_with(op))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn replaces_names_with_and_without_inner_spaces() {
        let m = map(&[("package.name", "hello"), ("vars.x", "1.2")]);
        assert_eq!(
            substitute("${{package.name}}-${{ vars.x }}/${{\tvars.x\n}}", &m).unwrap(),
            "hello-1.2/1.2"
        );
        assert_eq!(
            substitute("no refs $x {{y}}", &m).unwrap(),
            "no refs $x {{y}}"
        );
    }

    #[test]
    fn replacement_text_is_not_rescanned() {
        let m = map(&[("vars.a", "${{vars.b}}"), ("vars.b", "B")]);
        assert_eq!(substitute("${{vars.a}}", &m).unwrap(), "${{vars.b}}");
    }

    #[test]
    fn every_undefined_name_is_reported_with_a_suggestion() {
        let m = map(&[("package.version", "1")]);
        let err = substitute("${{package.versoin}} ${{nope}}", &m).unwrap_err();
        assert_eq!(err.0.len(), 2);
        assert_eq!(
            err.0[0],
            SubstError::Undefined {
                name: "package.versoin".into(),
                suggestion: Some("package.version".into())
            }
        );
        assert_eq!(
            err.hint().unwrap(),
            "did you mean `package.version` instead of `package.versoin`?"
        );
        assert!(err.to_string().contains("variable `nope` is not defined"));
    }

    #[test]
    fn empty_and_unterminated_references_are_errors() {
        let m = map(&[]);
        assert!(matches!(
            substitute("a ${{ }} b", &m).unwrap_err().0[0],
            SubstError::EmptyName { .. }
        ));
        assert!(matches!(
            substitute("a ${{x", &m).unwrap_err().0[0],
            SubstError::Unterminated { .. }
        ));
        assert!(matches!(
            substitute("${{a b}}", &m).unwrap_err().0[0],
            SubstError::Unterminated { .. }
        ));
        // No escape: `$${{` is still a reference.
        assert!(substitute("$${{x}}", &m).is_err());
    }

    #[test]
    fn lenient_keeps_what_it_cannot_resolve() {
        let m = map(&[("a", "1")]);
        assert_eq!(
            substitute_lenient("x ${{a}} ${{inputs.python}} ${{ a", &m),
            "x 1 ${{inputs.python}} ${{ a"
        );
    }

    #[test]
    fn scopes_layer_and_shadow() {
        let root = Scope::new(map(&[("a", "1"), ("b", "2")]));
        let mut child = Scope::child(&root);
        child.set("b", "3");
        assert_eq!(substitute("${{a}}${{b}}", &child).unwrap(), "13");
        assert_eq!(substitute("${{b}}", &root).unwrap(), "2");
        assert!(child.names().contains(&"a"));
    }
}
