//! `update:`, read only by melange's bump tooling; modelled so strict decoding accepts it.

use serde::{Deserialize, Serialize};

use crate::config::scalar::{string, string_list};

/// `update:`, read only by melange's bump tooling. Kept so strict decoding accepts it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Update {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub manual: bool,
    #[serde(default)]
    pub require_sequential: bool,
    #[serde(default)]
    pub shared: bool,
    #[serde(default, deserialize_with = "string")]
    pub version_separator: String,
    #[serde(default, deserialize_with = "string_list")]
    pub ignore_regex_patterns: Vec<String>,
    #[serde(default)]
    pub release_monitor: Option<ReleaseMonitor>,
    #[serde(default)]
    pub github: Option<GitHubMonitor>,
    #[serde(default)]
    pub git: Option<GitMonitor>,
    #[serde(default)]
    pub oci: Option<OciMonitor>,
    #[serde(default, rename = "version_data")]
    pub version_data: Option<VersionDataMonitor>,
    #[serde(default)]
    pub version_transform: Vec<VersionTransform>,
    #[serde(default, deserialize_with = "string")]
    pub exclude_reason: String,
    #[serde(default)]
    pub schedule: Option<Schedule>,
    #[serde(default)]
    pub enable_prerelease_tags: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReleaseMonitor {
    #[serde(default)]
    pub identifier: i64,
    #[serde(default, deserialize_with = "string")]
    pub strip_prefix: String,
    #[serde(default, deserialize_with = "string")]
    pub strip_suffix: String,
    #[serde(default, deserialize_with = "string")]
    pub version_filter_contains: String,
    #[serde(default, deserialize_with = "string")]
    pub version_filter_prefix: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GitHubMonitor {
    #[serde(default, deserialize_with = "string")]
    pub identifier: String,
    #[serde(default, deserialize_with = "string")]
    pub strip_prefix: String,
    #[serde(default, deserialize_with = "string")]
    pub strip_suffix: String,
    #[serde(default, deserialize_with = "string")]
    pub tag_filter: String,
    #[serde(default, deserialize_with = "string")]
    pub tag_filter_prefix: String,
    #[serde(default, deserialize_with = "string")]
    pub tag_filter_contains: String,
    #[serde(default, rename = "use-tag")]
    pub use_tag: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GitMonitor {
    #[serde(default, deserialize_with = "string")]
    pub strip_prefix: String,
    #[serde(default, deserialize_with = "string")]
    pub strip_suffix: String,
    #[serde(default, deserialize_with = "string")]
    pub tag_filter_prefix: String,
    #[serde(default, deserialize_with = "string")]
    pub tag_filter_contains: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OciMonitor {
    #[serde(default, deserialize_with = "string")]
    pub identifier: String,
    #[serde(default, deserialize_with = "string")]
    pub strip_prefix: String,
    #[serde(default, deserialize_with = "string")]
    pub strip_suffix: String,
    #[serde(default, deserialize_with = "string")]
    pub tag_filter_prefix: String,
    #[serde(default, deserialize_with = "string")]
    pub tag_filter_contains: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VersionDataMonitor {
    #[serde(default, deserialize_with = "string")]
    pub version_format: String,
    #[serde(default)]
    pub sources: Vec<VersionDataSource>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VersionDataSource {
    #[serde(default, deserialize_with = "string")]
    pub name: String,
    #[serde(default, deserialize_with = "string")]
    pub stream: String,
    #[serde(default, deserialize_with = "string_list")]
    pub ignore: Vec<String>,
    #[serde(default, deserialize_with = "string")]
    pub commit_source: String,
    #[serde(default)]
    pub use_release: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VersionTransform {
    #[serde(default, deserialize_with = "string", rename = "match")]
    pub match_: String,
    #[serde(default, deserialize_with = "string")]
    pub replace: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(default, deserialize_with = "string")]
    pub reason: String,
    #[serde(default, deserialize_with = "string")]
    pub period: String,
}
