//! What a package says about itself: [`PackageMeta`] in, `.PKGINFO` text out, and back.
//!
//! Field order and presence follow melange's `controlTemplate` (`pkg/build/package.go`,
//! semantics doc 7.3): eight fields always written (even empty), then `maintainer` when a
//! namespace is set, `builddate` unless it is 0, one `license` per copyright entry, `depend`,
//! `provides`, `replaces`, `# vendored` comments, the priorities, `triggers` (each path followed
//! by a space) and `datahash`.

use std::fmt::Write as _;

use color_eyre::eyre;

/// Install/upgrade scripts carried in the control section. Empty means absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scriptlets {
    pub pre_install: String,
    pub post_install: String,
    pub pre_deinstall: String,
    pub post_deinstall: String,
    pub pre_upgrade: String,
    pub post_upgrade: String,
    /// The `.trigger` script (its paths are [`PackageMeta::triggers`]).
    pub trigger: String,
}

impl Scriptlets {
    /// `(control file name, script)` for each non-empty scriptlet, in tar-name order.
    pub fn files(&self) -> Vec<(&'static str, &str)> {
        [
            (".post-deinstall", &self.post_deinstall),
            (".post-install", &self.post_install),
            (".post-upgrade", &self.post_upgrade),
            (".pre-deinstall", &self.pre_deinstall),
            (".pre-install", &self.pre_install),
            (".pre-upgrade", &self.pre_upgrade),
            (".trigger", &self.trigger),
        ]
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(n, s)| (n, s.as_str()))
        .collect()
    }
}

/// Everything about one package except its files: the caller (the build) fills it from the
/// config, the SCA results and the build flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageMeta {
    /// `pkgname`: the package (or subpackage) name.
    pub name: String,
    /// `package.version` (without the `-rN`).
    pub version: String,
    /// `package.epoch`: written as `-r<epoch>`.
    pub epoch: u64,
    /// apk architecture (`x86_64`, `aarch64`, ...), also the output subdirectory.
    pub arch: String,
    pub description: String,
    pub url: String,
    /// `commit` (melange writes `unknown` when there is no git).
    pub commit: String,
    /// The main package's name (or the package's own with `--strip-origin-name`).
    pub origin: String,
    /// One `license` line each (the raw `copyright[].license` strings).
    pub licenses: Vec<String>,
    /// Runtime dependencies (`depend`).
    pub depends: Vec<String>,
    pub provides: Vec<String>,
    pub replaces: Vec<String>,
    /// Vendored provides, written as `# vendored = …` comments.
    pub vendored: Vec<String>,
    /// `provider_priority` when non-empty (digits).
    pub provider_priority: String,
    /// `replaces_priority` when non-empty (digits).
    pub replaces_priority: String,
    /// Trigger paths (`triggers` line).
    pub triggers: Vec<String>,
    pub scriptlets: Scriptlets,
    /// SOURCE_DATE_EPOCH: every mtime, and `builddate` when non-zero.
    pub builddate: u64,
    /// `--namespace`, written as `maintainer` when non-empty (melange's default: `unknown`).
    pub maintainer: String,
    /// The compiled configuration as YAML, stored as `.melange.yaml` when given.
    pub melange_yaml: Option<Vec<u8>>,
}

impl PackageMeta {
    /// `<version>-r<epoch>`.
    pub fn full_version(&self) -> String {
        format!("{}-r{}", self.version, self.epoch)
    }

    /// `<name>-<version>-r<epoch>.apk`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.apk", self.name, self.full_version())
    }

    /// Reject values that would corrupt `.PKGINFO` or the output path.
    pub fn check(&self) -> eyre::Result<()> {
        let word = |field: &str, v: &str| -> eyre::Result<()> {
            if v.is_empty()
                || v.chars()
                    .any(|c| c.is_whitespace() || c == '/' || c.is_control())
                || v == "."
                || v == ".."
            {
                eyre::bail!(
                    "package {field} {v:?} is not usable: it must be non-empty, without spaces or `/`"
                );
            }
            Ok(())
        };
        word("name", &self.name)?;
        word("version", &self.version)?;
        word("arch", &self.arch)?;
        for (field, v) in [
            ("provider_priority", &self.provider_priority),
            ("replaces_priority", &self.replaces_priority),
        ] {
            if !v.is_empty() && !v.chars().all(|c| c.is_ascii_digit()) {
                eyre::bail!(
                    "package {}: {field} {v:?} must be a whole number",
                    self.name
                );
            }
        }
        let lists = [
            ("licenses", &self.licenses),
            ("depends", &self.depends),
            ("provides", &self.provides),
            ("replaces", &self.replaces),
            ("vendored", &self.vendored),
            ("triggers", &self.triggers),
        ];
        for (field, list) in lists {
            if let Some(v) = list.iter().find(|v| v.contains(['\n', '\r'])) {
                eyre::bail!(
                    "package {}: a {field} entry contains a line break: {v:?}",
                    self.name
                );
            }
        }
        Ok(())
    }

    /// The `.PKGINFO` text for an installed size and data hash.
    pub fn render_pkginfo(&self, installed_size: u64, datahash: &str) -> String {
        let mut s = String::from("# Generated by melange\n");
        let mut kv = |k: &str, v: &str| {
            let _ = writeln!(s, "{k} = {v}");
        };
        kv("pkgname", &self.name);
        kv("pkgver", &self.full_version());
        kv("arch", &self.arch);
        kv("size", &installed_size.to_string());
        kv("origin", &one_line(&self.origin));
        kv("pkgdesc", &one_line(&self.description));
        kv("url", &one_line(&self.url));
        kv("commit", &one_line(&self.commit));
        if !self.maintainer.is_empty() {
            kv("maintainer", &one_line(&self.maintainer));
        }
        if self.builddate != 0 {
            kv("builddate", &self.builddate.to_string());
        }
        for l in &self.licenses {
            kv("license", l);
        }
        for d in &self.depends {
            kv("depend", d);
        }
        for p in &self.provides {
            kv("provides", p);
        }
        for r in &self.replaces {
            kv("replaces", r);
        }
        for v in &self.vendored {
            kv("# vendored", v);
        }
        if !self.provider_priority.is_empty() {
            kv("provider_priority", &self.provider_priority);
        }
        if !self.replaces_priority.is_empty() {
            kv("replaces_priority", &self.replaces_priority);
        }
        if !self.triggers.is_empty() {
            let paths: String = self.triggers.iter().map(|p| format!("{p} ")).collect();
            kv("triggers", &paths);
        }
        kv("datahash", datahash);
        s
    }
}

/// Free-text fields (a folded YAML description ends in a newline) become one line: melange
/// would write the line break into `.PKGINFO` and end the field early.
fn one_line(v: &str) -> String {
    v.trim_end()
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `.PKGINFO` read back: repeated keys keep every value, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PkgInfo {
    pub fields: Vec<(String, String)>,
}

impl PkgInfo {
    /// Parse `key = value` lines; comments and blank lines are skipped.
    pub fn parse(text: &str) -> PkgInfo {
        let fields = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        PkgInfo { fields }
    }

    /// The first value of `key`, or "" (apko's ini reader keeps the first of repeated keys).
    pub fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> PackageMeta {
        PackageMeta {
            name: "hello".into(),
            version: "1.2.3".into(),
            epoch: 4,
            arch: "x86_64".into(),
            description: "says hello\n".into(),
            url: "https://example.com".into(),
            commit: "unknown".into(),
            origin: "hello".into(),
            licenses: vec!["MIT".into(), "Apache-2.0".into()],
            depends: vec!["so:libc.so.6".into()],
            provides: vec!["cmd:hello=1.2.3-r4".into()],
            replaces: vec!["hi".into()],
            vendored: vec!["x=1".into()],
            provider_priority: "10".into(),
            replaces_priority: String::new(),
            triggers: vec!["/usr/lib".into(), "/usr/share".into()],
            builddate: 1700000000,
            maintainer: "unknown".into(),
            ..PackageMeta::default()
        }
    }

    #[test]
    fn pkginfo_field_order_matches_melange() {
        let text = meta().render_pkginfo(8192, "ab12");
        assert_eq!(
            text,
            "# Generated by melange\n\
             pkgname = hello\npkgver = 1.2.3-r4\narch = x86_64\nsize = 8192\norigin = hello\n\
             pkgdesc = says hello\nurl = https://example.com\ncommit = unknown\n\
             maintainer = unknown\nbuilddate = 1700000000\nlicense = MIT\nlicense = Apache-2.0\n\
             depend = so:libc.so.6\nprovides = cmd:hello=1.2.3-r4\nreplaces = hi\n\
             # vendored = x=1\nprovider_priority = 10\ntriggers = /usr/lib /usr/share \n\
             datahash = ab12\n"
        );
    }

    #[test]
    fn zero_builddate_and_empty_namespace_are_left_out() {
        let mut m = meta();
        m.builddate = 0;
        m.maintainer.clear();
        let text = m.render_pkginfo(1, "h");
        assert!(!text.contains("builddate") && !text.contains("maintainer"));
        let info = PkgInfo::parse(&text);
        assert_eq!(info.get("license"), "MIT");
        assert_eq!(info.all("license"), ["MIT", "Apache-2.0"]);
        assert_eq!(info.get("triggers"), "/usr/lib /usr/share");
    }

    #[test]
    fn bad_names_are_refused() {
        let mut m = meta();
        m.name = "a/b".into();
        assert!(m.check().is_err());
        let mut m = meta();
        m.provider_priority = "high".into();
        assert!(m.check().is_err());
        assert!(meta().check().is_ok());
    }

    #[test]
    fn scriptlets_come_in_name_order() {
        let s = Scriptlets {
            trigger: "t".into(),
            pre_install: "p".into(),
            post_install: "q".into(),
            ..Scriptlets::default()
        };
        let names: Vec<_> = s.files().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [".post-install", ".pre-install", ".trigger"]);
    }
}
