//! apko's `ImageConfiguration` (melange's `environment:` and `test.environment:`), as far as
//! melange's strict decoder accepts it (apko v1.2.37 `pkg/build/types/types.go`).

use serde::{Deserialize, Serialize};

use super::StringMap;
use crate::config::scalar::{string, string_list, string_map};

/// apko's `ImageConfiguration`, as far as melange's strict decoder accepts it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageConfiguration {
    #[serde(default)]
    pub contents: ImageContents,
    #[serde(default)]
    pub entrypoint: Entrypoint,
    #[serde(default, deserialize_with = "string")]
    pub cmd: String,
    #[serde(default, deserialize_with = "string")]
    pub stop_signal: String,
    #[serde(default, deserialize_with = "string")]
    pub work_dir: String,
    #[serde(default)]
    pub accounts: Accounts,
    #[serde(default, deserialize_with = "string_list")]
    pub archs: Vec<String>,
    #[serde(default, deserialize_with = "string_map")]
    pub environment: StringMap,
    #[serde(default)]
    pub paths: Vec<PathMutation>,
    #[serde(default, deserialize_with = "string")]
    pub vcs_url: String,
    #[serde(default, deserialize_with = "string_map")]
    pub annotations: StringMap,
    #[serde(default, deserialize_with = "string")]
    pub include: String,
    #[serde(default, deserialize_with = "string_list")]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub layering: Option<Layering>,
    #[serde(default)]
    pub certificates: Option<Certificates>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageContents {
    #[serde(default, deserialize_with = "string_list")]
    pub build_repositories: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub runtime_repositories: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub repositories: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub keyring: Vec<String>,
    #[serde(default)]
    pub runtime_keyring: Vec<NamedContent>,
    #[serde(default, deserialize_with = "string_list")]
    pub packages: Vec<String>,
    #[serde(default)]
    pub baseimage: Option<BaseImage>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BaseImage {
    #[serde(default, deserialize_with = "string")]
    pub image: String,
    #[serde(default, deserialize_with = "string")]
    pub apkindex: String,
}

/// A named blob (`runtime_keyring` entry, extra certificate).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NamedContent {
    #[serde(default, deserialize_with = "string")]
    pub name: String,
    #[serde(default, deserialize_with = "string")]
    pub content: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Entrypoint {
    #[serde(default, deserialize_with = "string", rename = "type")]
    pub type_: String,
    #[serde(default, deserialize_with = "string")]
    pub command: String,
    #[serde(default, deserialize_with = "string")]
    pub shell_fragment: String,
    #[serde(default, deserialize_with = "string_map")]
    pub services: StringMap,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Accounts {
    #[serde(default, deserialize_with = "string")]
    pub run_as: String,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct User {
    #[serde(default, deserialize_with = "string")]
    pub username: String,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: Option<u32>,
    #[serde(default, deserialize_with = "string")]
    pub shell: String,
    #[serde(default, deserialize_with = "string")]
    pub homedir: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Group {
    #[serde(default, deserialize_with = "string")]
    pub groupname: String,
    #[serde(default)]
    pub gid: u32,
    #[serde(default, deserialize_with = "string_list")]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PathMutation {
    #[serde(default, deserialize_with = "string")]
    pub path: String,
    #[serde(default, deserialize_with = "string", rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
    #[serde(default)]
    pub permissions: u32,
    #[serde(default, deserialize_with = "string")]
    pub source: String,
    #[serde(default)]
    pub recursive: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Layering {
    #[serde(default, deserialize_with = "string")]
    pub strategy: String,
    #[serde(default)]
    pub budget: i64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Certificates {
    #[serde(default)]
    pub additional: Vec<NamedContent>,
    #[serde(default, deserialize_with = "string_list")]
    pub providers: Vec<String>,
}
