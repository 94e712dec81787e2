//! The SPDX 2.3 JSON document of one package, laid out as melange's
//! (`pkg/build/sbom/spdx`, `pkg/sbom`): an operating-system package for the namespace, the apk
//! package itself (described by the document), the build configuration it was built from
//! (`DESCRIBED_BY`) and each upstream source (`GENERATED_FROM`).
//!
//! Everything in it comes from the config, the flags and `SOURCE_DATE_EPOCH`, in a fixed
//! order, so two builds of the same inputs give the same bytes.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::compile::SourceStep;

use super::purl::Purl;

const NOASSERTION: &str = "NOASSERTION";

#[derive(Debug, Serialize)]
pub struct Document {
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    #[serde(rename = "spdxVersion")]
    pub spdx_version: String,
    #[serde(rename = "creationInfo")]
    pub creation_info: CreationInfo,
    #[serde(rename = "dataLicense")]
    pub data_license: String,
    #[serde(rename = "documentNamespace")]
    pub document_namespace: String,
    #[serde(rename = "documentDescribes")]
    pub document_describes: Vec<String>,
    pub packages: Vec<Package>,
    pub relationships: Vec<Relationship>,
    #[serde(
        rename = "hasExtractedLicensingInfos",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extracted_licenses: Vec<ExtractedLicense>,
}

#[derive(Debug, Serialize)]
pub struct CreationInfo {
    pub created: String,
    pub creators: Vec<String>,
    #[serde(rename = "licenseListVersion")]
    pub license_list_version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Package {
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    #[serde(rename = "versionInfo", skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(rename = "filesAnalyzed")]
    pub files_analyzed: bool,
    #[serde(rename = "licenseConcluded")]
    pub license_concluded: String,
    #[serde(rename = "licenseDeclared")]
    pub license_declared: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(rename = "downloadLocation")]
    pub download_location: String,
    pub originator: String,
    pub supplier: String,
    #[serde(rename = "copyrightText", skip_serializing_if = "String::is_empty")]
    pub copyright: String,
    #[serde(rename = "primaryPackagePurpose")]
    pub purpose: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    #[serde(rename = "externalRefs", skip_serializing_if = "Vec::is_empty")]
    pub external_refs: Vec<ExternalRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Checksum {
    pub algorithm: String,
    #[serde(rename = "checksumValue")]
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExternalRef {
    #[serde(rename = "referenceCategory")]
    pub category: String,
    #[serde(rename = "referenceLocator")]
    pub locator: String,
    #[serde(rename = "referenceType")]
    pub kind: String,
}

#[derive(Debug, Serialize)]
pub struct Relationship {
    #[serde(rename = "spdxElementId")]
    pub element: String,
    #[serde(rename = "relationshipType")]
    pub kind: String,
    #[serde(rename = "relatedSpdxElement")]
    pub related: String,
}

#[derive(Debug, Serialize)]
pub struct ExtractedLicense {
    #[serde(rename = "licenseId")]
    pub id: String,
    #[serde(rename = "extractedText")]
    pub text: String,
}

/// Where the build configuration came from (`--git-repo-url`, `--git-commit`, `--license`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    /// The build file's path inside its repository (or its file name outside one).
    pub path: String,
    pub repo_url: String,
    pub commit: String,
    pub license: String,
}

/// Everything one package's SBOM says.
#[derive(Debug, Clone)]
pub struct SbomInput<'a> {
    pub name: &'a str,
    /// `<version>-r<epoch>`.
    pub full_version: String,
    pub arch: &'a str,
    /// `--namespace` (melange's default `unknown`).
    pub namespace: &'a str,
    /// The package's `copyright[].license` entries, substituted.
    pub licenses: &'a [String],
    /// `copyright[].attestation` entries.
    pub attestations: Vec<String>,
    pub source_date_epoch: u64,
    pub config: &'a ConfigSource,
    /// The upstream sources: a subpackage's own first, then the main package's.
    pub sources: Vec<&'a SourceStep>,
}

/// melange's `stringToIdentifier`: `:` and `/` become `-`, other characters outside
/// `[A-Za-z0-9.-]` become `C<code point>`.
fn identifier(parts: &[&str]) -> String {
    let mut out = String::from("SPDXRef-Package");
    for part in parts.iter().filter(|p| !p.is_empty()) {
        out.push('-');
        for c in part.chars() {
            match c {
                ':' | '/' => out.push('-'),
                '-' | '.' | 'a'..='z' | 'A'..='Z' | '0'..='9' => out.push(c),
                other => out.push_str(&format!("C{}", other as u32)),
            }
        }
    }
    out
}

/// One license as an SPDX identifier: kept when it looks like one, else a `LicenseRef-`
/// made of its letters, digits, `.` and `-` (melange's `normalizeLicenseID`).
fn license_id(license: &str) -> String {
    let plain = license
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    if plain && !license.is_empty() {
        return license.to_string();
    }
    let cleaned: String = license
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' => Some(c),
            ' ' | '_' => Some('-'),
            _ => None,
        })
        .collect();
    let cleaned = if cleaned.is_empty() {
        hex::encode(&Sha256::digest(license.as_bytes())[..8])
    } else {
        cleaned
    };
    format!("LicenseRef-{cleaned}")
}

/// `Organization: <Namespace>`, the namespace title-cased as melange does.
fn supplier(namespace: &str) -> String {
    let titled: Vec<String> = namespace
        .split(' ')
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect();
    format!("Organization: {}", titled.join(" "))
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn package(spdx_id: String, name: &str, version: &str, namespace: &str) -> Package {
    Package {
        spdx_id,
        name: name.to_string(),
        version: version.to_string(),
        files_analyzed: false,
        license_concluded: NOASSERTION.into(),
        license_declared: NOASSERTION.into(),
        description: String::new(),
        download_location: NOASSERTION.into(),
        originator: supplier(namespace),
        supplier: supplier(namespace),
        copyright: String::new(),
        purpose: String::new(),
        checksums: Vec::new(),
        external_refs: Vec::new(),
    }
}

fn purl_ref(purl: Purl) -> ExternalRef {
    ExternalRef {
        category: "PACKAGE-MANAGER".into(),
        locator: purl.to_string(),
        kind: "purl".into(),
    }
}

/// The SBOM package of a `fetch` step.
fn fetch_package(
    inputs: &std::collections::BTreeMap<String, String>,
    ordinal: usize,
    namespace: &str,
) -> Package {
    let get = |k: &str| inputs.get(k).cloned().unwrap_or_default();
    let (name, version, uri) = (get("purl-name"), get("purl-version"), get("uri"));
    let ordinal = ordinal.to_string();
    let mut p = package(
        identifier(&["Source", &name, &version, &ordinal]),
        &name,
        &version,
        namespace,
    );
    let mut purl = Purl::new("generic", "", &name, &version);
    for (key, algorithm) in [("expected-sha256", "SHA256"), ("expected-sha512", "SHA512")] {
        let value = get(key);
        if !value.is_empty() {
            p.checksums.push(Checksum {
                algorithm: algorithm.into(),
                value: value.to_ascii_lowercase(),
            });
        }
    }
    // melange's `checksum` qualifier: the SHA-512 when both are given.
    if let Some(c) = p.checksums.last() {
        purl.qualifier(
            "checksum",
            &format!("{}:{}", c.algorithm.to_ascii_lowercase(), c.value),
        );
    }
    if !uri.is_empty() {
        purl.qualifier("download_url", &uri);
        p.download_location = uri;
    }
    p.external_refs.push(purl_ref(purl));
    p.purpose = "SOURCE".into();
    p
}

/// The SBOM package of a `git-checkout` step, or `None` without a tag or expected commit.
fn git_package(
    inputs: &std::collections::BTreeMap<String, String>,
    ordinal: usize,
    namespace: &str,
    license: &str,
) -> Option<Package> {
    let get = |k: &str| inputs.get(k).cloned().unwrap_or_default();
    let (repo, branch, tag, commit) = (
        get("repository"),
        get("branch"),
        get("tag"),
        get("expected-commit"),
    );
    let reference = if !commit.is_empty() {
        &commit
    } else if !tag.is_empty() {
        &tag
    } else {
        return None;
    };
    let cleaned = repo
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .to_string();
    let ordinal = ordinal.to_string();
    let id = identifier(&["Source", &cleaned, &branch, &tag, &commit, &ordinal]);
    let (host, path) = match repo.split_once("://") {
        Some((_, rest)) => rest.split_once('/').unwrap_or((rest, "")),
        None => ("", repo.as_str()),
    };
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    let version = if tag.is_empty() { &commit } else { &tag };
    let (ns, repo_name) = path.split_once('/').unwrap_or(("", path));
    let mut p;
    if host == "github.com" {
        p = package(id, repo_name, version, namespace);
        p.download_location =
            format!("https://github.com/{ns}/{repo_name}/archive/{reference}.tar.gz");
        p.external_refs
            .push(purl_ref(Purl::new("github", ns, repo_name, version)));
    } else {
        let name = path.rsplit('/').next().unwrap_or(path);
        p = package(id, name, version, namespace);
        // melange points at Chainguard's tarball mirror here; the repository itself (SPDX's
        // VCS form) says where the source is for everyone.
        let vcs = if repo.starts_with("git") {
            repo.clone()
        } else {
            format!("git+{repo}")
        };
        p.download_location = format!("{vcs}@{reference}");
        let mut purl = Purl::new("generic", "", name, version);
        purl.qualifier("vcs_url", &p.download_location);
        p.external_refs.push(purl_ref(purl));
    }
    if !license.is_empty() {
        p.license_declared = license.to_string();
    }
    p.purpose = "SOURCE".into();
    Some(p)
}

/// The document for one package.
pub fn document(input: &SbomInput<'_>) -> Document {
    let ns = input.namespace;
    let license = if input.licenses.is_empty() {
        String::new()
    } else {
        input
            .licenses
            .iter()
            .map(|l| license_id(l))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let mut os = package("SPDXRef-OperatingSystem".into(), ns, "", ns);
    os.description = "Operating System".into();
    os.purpose = "OPERATING_SYSTEM".into();

    let apk_id = identifier(&["apk", input.name, &input.full_version]);
    let mut apk = package(apk_id.clone(), input.name, &input.full_version, ns);
    if !license.is_empty() {
        apk.license_declared = license.clone();
    }
    apk.copyright = if input.attestations.is_empty() {
        NOASSERTION.into()
    } else {
        input
            .attestations
            .iter()
            .map(|a| format!("{a}\n"))
            .collect()
    };
    apk.purpose = "APPLICATION".into();
    let mut purl = Purl::new("apk", ns, input.name, &input.full_version);
    purl.qualifier("arch", input.arch);
    if ns != "unknown" {
        purl.qualifier("distro", ns);
    }
    apk.external_refs.push(purl_ref(purl));

    let c = input.config;
    let mut config = package(
        identifier(&["Melange", &c.path, &c.commit]),
        &c.path,
        &c.commit,
        ns,
    );
    config.license_declared = c.license.clone();
    config.purpose = "INSTALL".into();
    if let Some(rest) = c.repo_url.strip_prefix("https://github.com/")
        && let Some((owner, repo)) = rest.trim_end_matches('/').split_once('/')
    {
        let mut purl = Purl::new("github", owner, repo.trim_end_matches(".git"), &c.commit);
        purl.subpath(&c.path);
        config.external_refs.push(purl_ref(purl));
    }

    let mut relationships = vec![Relationship {
        element: apk_id.clone(),
        kind: "DESCRIBED_BY".into(),
        related: config.spdx_id.clone(),
    }];
    let mut packages = vec![os, apk, config];
    for (ordinal, source) in input.sources.iter().enumerate() {
        let p = match source.uses.as_str() {
            "fetch" => Some(fetch_package(&source.inputs, ordinal, ns)),
            "git-checkout" => git_package(&source.inputs, ordinal, ns, &license),
            _ => None,
        };
        if let Some(p) = p {
            relationships.push(Relationship {
                element: apk_id.clone(),
                kind: "GENERATED_FROM".into(),
                related: p.spdx_id.clone(),
            });
            packages.push(p);
        }
    }

    let mut extracted: Vec<ExtractedLicense> = input
        .licenses
        .iter()
        .map(|l| (license_id(l), l))
        .filter(|(id, _)| id.starts_with("LicenseRef-"))
        .map(|(id, original)| ExtractedLicense {
            id,
            text: format!("The build configuration names this license `{original}`."),
        })
        .collect();
    extracted.sort_by(|a, b| a.id.cmp(&b.id));
    extracted.dedup_by(|a, b| a.id == b.id);

    let unique = format!(
        "apk-{ns}-{}-{}-{}",
        input.name, input.full_version, input.arch
    );
    let namespace_hash = hex::encode(&Sha256::digest(unique.as_bytes())[..16]);
    Document {
        spdx_id: "SPDXRef-DOCUMENT".into(),
        name: format!("apk-{}-{}", input.name, input.full_version),
        spdx_version: "SPDX-2.3".into(),
        creation_info: CreationInfo {
            created: rfc3339(input.source_date_epoch),
            creators: vec![
                format!("Tool: melwrap-{}", env!("CARGO_PKG_VERSION")),
                supplier(ns),
            ],
            license_list_version: "3.22".into(),
        },
        data_license: "CC0-1.0".into(),
        document_namespace: format!("https://spdx.org/spdxdocs/melwrap/{namespace_hash}"),
        document_describes: vec![apk_id],
        packages,
        relationships,
        extracted_licenses: extracted,
    }
}

/// The document as melange writes it: two-space indented JSON and a final newline.
pub fn render(doc: &Document) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(doc).expect("an SBOM always serializes");
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn dates_and_identifiers() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(
            identifier(&["Source", "github.com/a/b_c", "", "v1"]),
            "SPDXRef-Package-Source-github.com-a-bC95c-v1"
        );
        assert_eq!(license_id("MIT"), "MIT");
        assert_eq!(
            license_id("Custom License_2"),
            "LicenseRef-Custom-License-2"
        );
        assert_eq!(supplier("wolfi"), "Organization: Wolfi");
    }

    #[test]
    fn sources_become_packages_with_checksums_and_purls() {
        let fetch = SourceStep {
            uses: "fetch".into(),
            inputs: BTreeMap::from([
                ("uri".into(), "https://example.com/h-1.tar.gz".into()),
                ("expected-sha256".into(), "AB".repeat(32)),
                ("purl-name".into(), "h".into()),
                ("purl-version".into(), "1".into()),
            ]),
        };
        let git = SourceStep {
            uses: "git-checkout".into(),
            inputs: BTreeMap::from([
                ("repository".into(), "https://github.com/o/r.git".into()),
                ("tag".into(), "v1".into()),
                ("expected-commit".into(), "c".repeat(40)),
            ]),
        };
        let config = ConfigSource {
            path: "h.yaml".into(),
            repo_url: "https://github.com/wolfi-dev/os".into(),
            commit: "d".repeat(40),
            license: "Apache-2.0".into(),
        };
        let licenses = vec!["MIT".to_string()];
        let doc = document(&SbomInput {
            name: "h",
            full_version: "1-r0".into(),
            arch: "x86_64",
            namespace: "wolfi",
            licenses: &licenses,
            attestations: vec![],
            source_date_epoch: 0,
            config: &config,
            sources: vec![&fetch, &git],
        });
        let json: serde_json::Value = serde_json::from_slice(&render(&doc)).unwrap();
        let pkgs = json["packages"].as_array().unwrap();
        assert_eq!(pkgs.len(), 5);
        assert_eq!(
            pkgs[1]["externalRefs"][0]["referenceLocator"],
            "pkg:apk/wolfi/h@1-r0?arch=x86_64&distro=wolfi"
        );
        assert_eq!(
            pkgs[2]["externalRefs"][0]["referenceLocator"],
            format!("pkg:github/wolfi-dev/os@{}#h.yaml", "d".repeat(40))
        );
        assert_eq!(pkgs[3]["checksums"][0]["checksumValue"], "ab".repeat(32));
        assert_eq!(
            pkgs[3]["downloadLocation"],
            "https://example.com/h-1.tar.gz"
        );
        assert_eq!(
            pkgs[4]["downloadLocation"],
            format!("https://github.com/o/r/archive/{}.tar.gz", "c".repeat(40))
        );
        assert_eq!(pkgs[4]["versionInfo"], "v1");
        let rel = json["relationships"].as_array().unwrap();
        assert_eq!(rel.len(), 3);
        assert_eq!(rel[0]["relationshipType"], "DESCRIBED_BY");
    }
}
