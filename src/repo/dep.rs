//! Dependency atoms as apk writes them: `name`, `name=1.2`, `name>=1.2`, `<`, `<=`, `>`, `~`,
//! `=~`, `!name` (a conflict), `so:`/`cmd:`/`pc:` names, and `name@tag` pins (apk-tools
//! `apk_blob_pull_dep`).

use std::fmt;

use super::version::{self, ANY, EQUAL, FUZZY, GREATER, LESS};

/// One parsed dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    /// The version after the operator; `None` for "any version".
    pub version: Option<String>,
    /// apk's result mask (`version::EQUAL | LESS | ...`); `ANY` without a version.
    pub mask: u8,
    pub fuzzy: bool,
    /// `!name`: nothing providing a matching `name` may be installed.
    pub conflict: bool,
    /// `name@tag`: the tag without `@`.
    pub tag: Option<String>,
}

impl Dep {
    /// Parse one atom; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Dep, String> {
        let (conflict, rest) = match text.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let is_op = |c: char| matches!(c, '<' | '>' | '=' | '~');
        let (name_part, op, ver) = match rest.find(is_op) {
            Some(i) => {
                let after = &rest[i..];
                let end = after.find(|c| !is_op(c)).unwrap_or(after.len());
                (&rest[..i], &after[..end], Some(&after[end..]))
            }
            None => (rest, "", None),
        };
        let (name, tag) = match name_part.split_once('@') {
            Some((n, t)) => (n, Some(t.to_string())),
            None => (name_part, None),
        };
        if name.is_empty() {
            return Err(format!("{text:?} has no package name"));
        }
        let mut mask = ANY;
        let mut fuzzy = false;
        if let Some(v) = ver {
            mask = 0;
            for c in op.chars() {
                match c {
                    '<' => mask |= LESS,
                    '>' => mask |= GREATER,
                    '~' => {
                        mask |= FUZZY | EQUAL;
                        fuzzy = true
                    }
                    _ => mask |= EQUAL,
                }
            }
            if mask == (LESS | GREATER) {
                return Err(format!("{text:?}: checksum pins (`><`) are not supported"));
            }
            if !version::validate(v) {
                return Err(format!("{text:?}: {v:?} is not an apk version"));
            }
        }
        Ok(Dep {
            name: name.to_string(),
            version: ver.map(String::from),
            mask,
            fuzzy,
            conflict,
            tag,
        })
    }

    /// Does a provider of this name at `version` (`None`: provided without a version)
    /// satisfy the atom? (apk `apk_dep_is_provided` for an existing provider.)
    pub fn matches(&self, version: Option<&str>) -> bool {
        if self.mask == ANY {
            return !self.conflict;
        }
        let Some(have) = version else {
            return self.conflict;
        };
        let want = self.version.as_deref().unwrap_or("");
        let hit = version::compare_bits(have, want, self.fuzzy) & self.mask != 0;
        hit != self.conflict
    }

    /// `apk_dep_is_provided` with no provider chosen: only a conflict is satisfied.
    pub fn matches_nothing(&self) -> bool {
        self.conflict
    }
}

impl fmt::Display for Dep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.conflict {
            f.write_str("!")?;
        }
        f.write_str(&self.name)?;
        if let Some(t) = &self.tag {
            write!(f, "@{t}")?;
        }
        if let Some(v) = &self.version {
            let op = match self.mask {
                LESS => "<",
                m if m == LESS | EQUAL => "<=",
                m if m == EQUAL | FUZZY || m == FUZZY => "~",
                EQUAL => "=",
                m if m == GREATER | EQUAL => ">=",
                GREATER => ">",
                _ => "?",
            };
            write!(f, "{op}{v}")?;
        }
        Ok(())
    }
}

/// Split a space-separated list of atoms (an index's `D:`/`i:` line).
pub fn parse_list(items: &[String]) -> Result<Vec<Dep>, String> {
    items.iter().map(|s| Dep::parse(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_operator() {
        for (text, mask, ver) in [
            ("a", ANY, None),
            ("a=1.2", EQUAL, Some("1.2")),
            ("a>=1.2", GREATER | EQUAL, Some("1.2")),
            ("a<=1.2", LESS | EQUAL, Some("1.2")),
            ("a>1.2", GREATER, Some("1.2")),
            ("a<1.2", LESS, Some("1.2")),
            ("a~1.2", EQUAL | FUZZY, Some("1.2")),
            ("a=~1.2", EQUAL | FUZZY, Some("1.2")),
        ] {
            let d = Dep::parse(text).unwrap();
            assert_eq!(
                (d.name.as_str(), d.mask, d.version.as_deref()),
                ("a", mask, ver)
            );
        }
        let d = Dep::parse("!so:libc.musl-x86_64.so.1").unwrap();
        assert!(d.conflict);
        assert_eq!(d.name, "so:libc.musl-x86_64.so.1");
        let d = Dep::parse("busybox@edge>=1.36").unwrap();
        assert_eq!(
            (d.name.as_str(), d.tag.as_deref()),
            ("busybox", Some("edge"))
        );
        assert_eq!(d.to_string(), "busybox@edge>=1.36");
        assert!(Dep::parse("a=x.y").is_err());
        assert!(Dep::parse("=1").is_err());
    }

    #[test]
    fn matches_versions_and_conflicts() {
        let d = Dep::parse("a>=1.2").unwrap();
        assert!(d.matches(Some("1.2-r0")));
        assert!(!d.matches(Some("1.1")));
        assert!(!d.matches(None));
        assert!(Dep::parse("a").unwrap().matches(None));
        assert!(Dep::parse("a~1.2").unwrap().matches(Some("1.2.9-r3")));
        let c = Dep::parse("!a<2").unwrap();
        assert!(c.matches(Some("2.1")) && !c.matches(Some("1.0")));
        assert!(c.matches_nothing());
    }
}
