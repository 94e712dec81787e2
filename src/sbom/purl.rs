//! Package URLs (`pkg:type/namespace/name@version?qualifiers#subpath`), as far as the SBOM
//! needs them: components percent-encoded, qualifiers sorted by key.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    kind: String,
    namespace: String,
    name: String,
    version: String,
    qualifiers: BTreeMap<String, String>,
    subpath: String,
}

impl Purl {
    pub fn new(kind: &str, namespace: &str, name: &str, version: &str) -> Purl {
        Purl {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            qualifiers: BTreeMap::new(),
            subpath: String::new(),
        }
    }

    /// Adds a qualifier; empty values are left out, as the spec says.
    pub fn qualifier(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.qualifiers.insert(key.to_string(), value.to_string());
        }
    }

    pub fn subpath(&mut self, path: &str) {
        self.subpath = path.trim_matches('/').to_string();
    }
}

/// Percent-encodes all but the unreserved characters and `:`.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' | b':' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn segments(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .map(encode)
        .collect::<Vec<_>>()
        .join("/")
}

impl fmt::Display for Purl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pkg:{}/", self.kind)?;
        if !self.namespace.is_empty() {
            write!(f, "{}/", segments(&self.namespace))?;
        }
        write!(f, "{}", encode(&self.name))?;
        if !self.version.is_empty() {
            write!(f, "@{}", encode(&self.version))?;
        }
        for (i, (k, v)) in self.qualifiers.iter().enumerate() {
            write!(f, "{}{k}={}", if i == 0 { '?' } else { '&' }, encode(v))?;
        }
        if !self.subpath.is_empty() {
            write!(f, "#{}", segments(&self.subpath))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sorted_encoded_parts() {
        let mut p = Purl::new("generic", "", "my lib", "1.0+x");
        p.qualifier("download_url", "https://e.com/a b.tgz");
        p.qualifier("checksum", "sha256:ab");
        p.qualifier("empty", "");
        assert_eq!(
            p.to_string(),
            "pkg:generic/my%20lib@1.0%2Bx?checksum=sha256:ab&download_url=https:%2F%2Fe.com%2Fa%20b.tgz"
        );
        let mut g = Purl::new("github", "o", "r", "c0ffee");
        g.subpath("pkgs/x.yaml");
        assert_eq!(g.to_string(), "pkg:github/o/r@c0ffee#pkgs/x.yaml");
    }
}
