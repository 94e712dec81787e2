//! `var-transforms`: a regular-expression replace whose result becomes `vars.<to>`
//! (`pkg/config/vars.go`, `PerformVarSubstitutions`).
//!
//! melange uses Go's `regexp.ReplaceAllString`; the `regex` crate's `replace_all` expands the
//! replacement the same way: `$1`, `${1}`, `$name` and `${name}` refer to groups, a name is the
//! longest run of `[0-9A-Za-z_]` (so `$1_` means the group named `1_`, which is empty: write
//! `${1}_`), a reference to a missing group is empty, `$$` is a literal `$`, and a `$` not
//! followed by a name is kept. Both engines are RE2-style (no backreferences or look-around).
//! One difference remains: the `regex` crate's `\d`, `\w`, `\s` and `\b` are Unicode-aware,
//! Go's are ASCII-only; this only matters for non-ASCII input.

use regex::Regex;

use super::{Budget, SubstError};
use crate::limits::MAX_VALUE_BYTES;

/// Why a transform failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransformError {
    /// `match` does not compile.
    Regex(String),
    /// The result would pass [`MAX_VALUE_BYTES`] or the compile's budget.
    Limit(SubstError),
}

/// Replace every match of `pattern` in `input` with the expanded `replacement`, as
/// `Regex::replace_all` does, but stopping as soon as the result could pass the limit for one
/// value or what `budget` has left (`$0$0$0…` over a long input multiplies it).
pub fn replace_all(
    input: &str,
    pattern: &str,
    replacement: &str,
    budget: &Budget,
) -> Result<String, TransformError> {
    let re = Regex::new(pattern).map_err(|e| {
        TransformError::Regex(format!(
            "`match` is not a valid regular expression: {}",
            first_line(&e)
        ))
    })?;
    let (cap, over) = if (MAX_VALUE_BYTES as u64) <= budget.left() {
        (MAX_VALUE_BYTES, SubstError::TooLong)
    } else {
        (budget.left() as usize, SubstError::BudgetExhausted)
    };
    // Each `$` of the template expands to at most the whole match.
    let refs = replacement.matches('$').count();
    let mut out = String::new();
    let mut last = 0;
    for caps in re.captures_iter(input) {
        let m = caps.get(0).expect("group 0 is the match");
        let most = replacement
            .len()
            .saturating_add(refs.saturating_mul(m.len()));
        if out.len() + (m.start() - last) + most > cap {
            let _ = budget.take(cap as u64 + 1);
            return Err(TransformError::Limit(over));
        }
        out.push_str(&input[last..m.start()]);
        caps.expand(replacement, &mut out);
        last = m.end();
    }
    out.push_str(&input[last..]);
    if out.len() > cap || !budget.take(out.len() as u64) {
        return Err(TransformError::Limit(over));
    }
    Ok(out)
}

fn first_line(e: &regex::Error) -> String {
    // The regex crate prints a multi-line report with a caret; keep it on one line.
    e.to_string()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace_all(i: &str, p: &str, r: &str) -> Result<String, String> {
        match super::replace_all(i, p, r, &Budget::new()) {
            Ok(v) => Ok(v),
            Err(TransformError::Regex(m)) => Err(m),
            Err(e) => Err(format!("{e:?}")),
        }
    }

    #[test]
    fn go_replacement_template_semantics() {
        // Numbered groups, braced and bare.
        assert_eq!(
            replace_all("1.2.3", r"^(\d+)\.(\d+)\.\d+$", "$1").unwrap(),
            "1"
        );
        assert_eq!(
            replace_all(
                "2024.1.05",
                r"^(\d{4})\.(\d{1})\.(\d{2})",
                "${1}.0${2}.${3}"
            )
            .unwrap(),
            "2024.01.05"
        );
        // `$1_` names the group `1_`, which does not exist: empty, as in Go.
        assert_eq!(replace_all("a-b", r"(a)-(b)", "$1_$2").unwrap(), "b");
        assert_eq!(replace_all("a-b", r"(a)-(b)", "${1}_$2").unwrap(), "a_b");
        // Named groups.
        assert_eq!(
            replace_all("v1.2", r"v(?P<maj>\d+)\.(?P<min>\d+)", "$min.$maj").unwrap(),
            "2.1"
        );
        // `$$` is a literal dollar; a `$` before a non-name character is kept.
        assert_eq!(replace_all("x", "x", "$$1").unwrap(), "$1");
        assert_eq!(replace_all("x", "x", "$.").unwrap(), "$.");
        // Every match is replaced.
        assert_eq!(replace_all("1.2.3", r"\.", "_").unwrap(), "1_2_3");
    }

    #[test]
    fn invalid_pattern_is_an_error() {
        let err = replace_all("x", "(", "").unwrap_err();
        assert!(err.contains("not a valid regular expression"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn multiplied_output_is_refused_before_it_is_built() {
        let input = "x".repeat(1000);
        let template = "$0".repeat(2000);
        let err = super::replace_all(&input, ".+", &template, &Budget::new()).unwrap_err();
        assert_eq!(err, TransformError::Limit(SubstError::TooLong));
        let small = Budget::with_limit(10);
        let err = super::replace_all("abcdef", "c", "$0$0$0$0$0$0", &small).unwrap_err();
        assert_eq!(err, TransformError::Limit(SubstError::BudgetExhausted));
    }
}
