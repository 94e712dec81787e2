//! apk version comparison, token for token as apk-tools 2.14 (`src/version.c`): digits,
//! letters, `_alpha` `_beta` `_pre` `_rc` (before the release), `_cvs` `_svn` `_git` `_hg` `_p`
//! (after it), `-rN`, leading zeros, and the fuzzy `~` match that stops at the shorter version.

use std::cmp::Ordering;

/// Result bits as apk-tools: a dependency's operator is a mask of these.
pub const EQUAL: u8 = 1;
pub const LESS: u8 = 2;
pub const GREATER: u8 = 4;
pub const FUZZY: u8 = 8;
/// Any version (no operator).
pub const ANY: u8 = EQUAL | LESS | GREATER | FUZZY;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    Invalid = -1,
    DigitOrZero = 0,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    RevisionNo,
    End,
}

const PRE_SUFFIXES: [&str; 4] = ["alpha", "beta", "pre", "rc"];
const POST_SUFFIXES: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];

fn next_token(t: &mut Token, s: &mut &[u8]) {
    let mut n = Token::Invalid;
    if s.is_empty() || s[0] == 0 {
        n = Token::End;
    } else if matches!(*t, Token::Digit | Token::DigitOrZero) && s[0].is_ascii_lowercase() {
        n = Token::Letter;
    } else if *t == Token::Letter && s[0].is_ascii_digit() {
        n = Token::Digit;
    } else if *t == Token::Suffix && s[0].is_ascii_digit() {
        n = Token::SuffixNo;
    } else {
        match s[0] {
            b'.' => n = Token::DigitOrZero,
            b'_' => n = Token::Suffix,
            b'-' if s.len() > 1 && s[1] == b'r' => {
                n = Token::RevisionNo;
                *s = &s[1..];
            }
            _ => {}
        }
        *s = &s[1..];
    }
    if n < *t
        && !((n == Token::DigitOrZero && *t == Token::Digit)
            || (n == Token::Suffix && *t == Token::SuffixNo)
            || (n == Token::Digit && *t == Token::Letter))
    {
        n = Token::Invalid;
    }
    *t = n;
}

fn get_token(t: &mut Token, s: &mut &[u8]) -> i64 {
    if s.is_empty() {
        *t = Token::End;
        return 0;
    }
    let mut i = 0usize;
    let mut nt = Token::Invalid;
    let mut v: i64 = 0;
    let digits = |s: &[u8], i: &mut usize, v: &mut i64| {
        while *i < s.len() && s[*i].is_ascii_digit() {
            *v = v.wrapping_mul(10).wrapping_add((s[*i] - b'0') as i64);
            *i += 1;
        }
        *i < 18
    };
    match *t {
        Token::DigitOrZero if s[0] == b'0' => {
            // Leading zeros sort below any number: "0.01" < "0.1".
            while i + 1 < s.len() && s[i + 1] == b'0' {
                i += 1;
            }
            nt = Token::Digit;
            v = -(i as i64);
        }
        Token::DigitOrZero | Token::Digit | Token::SuffixNo | Token::RevisionNo => {
            if !digits(s, &mut i, &mut v) {
                *t = Token::Invalid;
                return -1;
            }
        }
        Token::Letter => {
            v = s[0] as i64;
            i = 1;
        }
        Token::Suffix => {
            if let Some(k) = PRE_SUFFIXES
                .iter()
                .position(|p| s.starts_with(p.as_bytes()))
            {
                v = k as i64 - PRE_SUFFIXES.len() as i64;
                i = PRE_SUFFIXES[k].len();
            } else if let Some(k) = POST_SUFFIXES
                .iter()
                .position(|p| s.starts_with(p.as_bytes()))
            {
                v = k as i64;
                i = POST_SUFFIXES[k].len();
            } else {
                *t = Token::Invalid;
                return -1;
            }
        }
        _ => {
            *t = Token::Invalid;
            return -1;
        }
    }
    *s = &s[i..];
    if s.is_empty() {
        *t = Token::End;
    } else if nt != Token::Invalid {
        *t = nt;
    } else {
        next_token(t, s);
    }
    v
}

/// Is `v` a version apk accepts?
pub fn validate(v: &str) -> bool {
    let mut t = Token::Digit;
    let mut s = v.as_bytes();
    while t != Token::End && t != Token::Invalid {
        get_token(&mut t, &mut s);
    }
    t == Token::End
}

/// apk's comparison result bit (EQUAL, LESS or GREATER); `fuzzy` stops at the shorter version.
pub fn compare_bits(a: &str, b: &str, fuzzy: bool) -> u8 {
    let (mut at, mut bt) = (Token::Digit, Token::Digit);
    let (mut av, mut bv) = (0i64, 0i64);
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while at == bt && at != Token::End && at != Token::Invalid && av == bv {
        av = get_token(&mut at, &mut a);
        bv = get_token(&mut bt, &mut b);
    }
    if av < bv {
        return LESS;
    }
    if av > bv {
        return GREATER;
    }
    if at == bt || fuzzy {
        return EQUAL;
    }
    // Same leading parts: the longer one is greater unless what follows is a pre-release suffix.
    let mut tt = at;
    if at == Token::Suffix && get_token(&mut tt, &mut a) < 0 {
        return LESS;
    }
    let mut tt = bt;
    if bt == Token::Suffix && get_token(&mut tt, &mut b) < 0 {
        return GREATER;
    }
    match at.cmp(&bt) {
        Ordering::Greater => LESS,
        Ordering::Less => GREATER,
        Ordering::Equal => EQUAL,
    }
}

/// Total order of two versions as apk sorts them.
pub fn compare(a: &str, b: &str) -> Ordering {
    match compare_bits(a, b, false) {
        LESS => Ordering::Less,
        GREATER => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_apk() {
        // Pairs from apk-tools' test/version.data, each "a < b".
        for (a, b) in [
            ("1.0", "1.1"),
            ("1.0", "1.0.1"),
            ("1.0_alpha", "1.0"),
            ("1.0_alpha", "1.0_beta"),
            ("1.0_beta", "1.0_pre"),
            ("1.0_pre", "1.0_rc"),
            ("1.0_rc1", "1.0"),
            ("1.0", "1.0_p1"),
            ("1.0_cvs", "1.0_svn"),
            ("1.0_git", "1.0_hg"),
            ("1.0-r0", "1.0-r1"),
            ("1.0-r9", "1.0-r10"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0b"),
            ("0.01", "0.1"),
            ("2.0.0", "10.0"),
            ("1.2.3_rc1-r0", "1.2.3-r0"),
            ("1.0", "1.0-r1"),
        ] {
            assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare(b, a), Ordering::Greater, "{b} > {a}");
        }
        assert_eq!(compare("1.0-r0", "1.0-r0"), Ordering::Equal);
    }

    #[test]
    fn fuzzy_stops_at_the_shorter_version() {
        assert_eq!(compare_bits("1.2.3-r4", "1.2", true), EQUAL);
        assert_eq!(compare_bits("1.3", "1.2", true), GREATER);
        assert_eq!(compare_bits("1.2.3-r4", "1.2", false), GREATER);
    }

    #[test]
    fn validates() {
        assert!(validate("1.2.3_rc1-r0"));
        assert!(validate("2022.10a"));
        assert!(!validate("1.2-x"));
        assert!(!validate("abc"));
    }
}
