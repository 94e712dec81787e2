//! The serde model of a melange build file.
//!
//! Field names, nesting and strictness follow melange v0.59 (`pkg/config/config.go`) and the
//! apko `ImageConfiguration` it embeds as `environment`. Every struct rejects unknown keys, as
//! melange's `KnownFields(true)` decoder does. Fields melange reads as strings keep the scalar's
//! source text (`version: 1.10` is `"1.10"`), and a null value is the empty string.
//!
//! This module is data only: no I/O, no substitution. `load` decodes into it and `check`
//! validates it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::scalar::{string, string_list, string_map};

mod image;
mod update;

pub use image::*;
pub use update::*;

/// A map of string to string, with keys sorted so every output is deterministic.
pub type StringMap = BTreeMap<String, String>;

/// The whole build file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Configuration {
    pub package: Package,
    #[serde(default)]
    pub environment: ImageConfiguration,
    #[serde(default)]
    pub capabilities: Capabilities,
    #[serde(default)]
    pub pipeline: Vec<Pipeline>,
    #[serde(default)]
    pub subpackages: Vec<Subpackage>,
    #[serde(default)]
    pub data: Vec<RangeData>,
    #[serde(default)]
    pub update: Update,
    #[serde(default, deserialize_with = "string_map")]
    pub vars: StringMap,
    #[serde(default)]
    pub var_transforms: Vec<VarTransform>,
    #[serde(default)]
    pub options: BTreeMap<String, BuildOption>,
    #[serde(default)]
    pub test: Option<Test>,
}

/// `package:`, the main package.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Package {
    #[serde(default, deserialize_with = "string")]
    pub name: String,
    #[serde(default, deserialize_with = "string")]
    pub version: String,
    #[serde(default)]
    pub epoch: u64,
    #[serde(default, deserialize_with = "string")]
    pub description: String,
    #[serde(default, deserialize_with = "string_map")]
    pub annotations: StringMap,
    #[serde(default, deserialize_with = "string")]
    pub url: String,
    #[serde(default, deserialize_with = "string")]
    pub commit: String,
    #[serde(default, deserialize_with = "string_list")]
    pub target_architecture: Vec<String>,
    #[serde(default)]
    pub copyright: Vec<Copyright>,
    #[serde(default)]
    pub dependencies: Dependencies,
    #[serde(default)]
    pub options: Option<PackageOptions>,
    #[serde(default)]
    pub scriptlets: Option<Scriptlets>,
    #[serde(default)]
    pub checks: Checks,
    #[serde(default)]
    pub cpe: Cpe,
    #[serde(default)]
    pub setcap: Vec<Capability>,
    /// A Go duration string such as `90m` or `2h` (melange refuses bare integers).
    #[serde(default, deserialize_with = "string")]
    pub timeout: String,
    #[serde(default)]
    pub resources: Option<Resources>,
    #[serde(default)]
    pub test_resources: Option<Resources>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Copyright {
    #[serde(default, deserialize_with = "string_list")]
    pub paths: Vec<String>,
    #[serde(default, deserialize_with = "string")]
    pub attestation: String,
    #[serde(default, deserialize_with = "string")]
    pub license: String,
    #[serde(default, deserialize_with = "string")]
    pub license_path: String,
    #[serde(default, deserialize_with = "string")]
    pub detection_override: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Dependencies {
    #[serde(default, deserialize_with = "string_list")]
    pub runtime: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub provides: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub replaces: Vec<String>,
    #[serde(default, deserialize_with = "string")]
    pub provider_priority: String,
    #[serde(default, deserialize_with = "string")]
    pub replaces_priority: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackageOptions {
    #[serde(default)]
    pub no_provides: bool,
    #[serde(default)]
    pub no_depends: bool,
    #[serde(default)]
    pub no_commands: bool,
    #[serde(default)]
    pub no_versioned_shlib_deps: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scriptlets {
    #[serde(default)]
    pub trigger: Trigger,
    #[serde(default, deserialize_with = "string")]
    pub pre_install: String,
    #[serde(default, deserialize_with = "string")]
    pub post_install: String,
    #[serde(default, deserialize_with = "string")]
    pub pre_deinstall: String,
    #[serde(default, deserialize_with = "string")]
    pub post_deinstall: String,
    #[serde(default, deserialize_with = "string")]
    pub pre_upgrade: String,
    #[serde(default, deserialize_with = "string")]
    pub post_upgrade: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    #[serde(default, deserialize_with = "string")]
    pub script: String,
    #[serde(default, deserialize_with = "string_list")]
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    #[serde(default, deserialize_with = "string_list")]
    pub disabled: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cpe {
    #[serde(default, deserialize_with = "string")]
    pub part: String,
    #[serde(default, deserialize_with = "string")]
    pub vendor: String,
    #[serde(default, deserialize_with = "string")]
    pub product: String,
    #[serde(default, deserialize_with = "string")]
    pub edition: String,
    #[serde(default, deserialize_with = "string")]
    pub language: String,
    #[serde(default, deserialize_with = "string")]
    pub sw_edition: String,
    #[serde(default, deserialize_with = "string")]
    pub target_sw: String,
    #[serde(default, deserialize_with = "string")]
    pub target_hw: String,
    #[serde(default, deserialize_with = "string")]
    pub other: String,
}

/// `setcap:` entry: file capabilities to set on a path in the package.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Capability {
    #[serde(default, deserialize_with = "string")]
    pub path: String,
    #[serde(default, deserialize_with = "string_map")]
    pub add: StringMap,
    #[serde(default, deserialize_with = "string")]
    pub reason: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, deserialize_with = "string")]
    pub cpu: String,
    #[serde(default, deserialize_with = "string")]
    pub cpumodel: String,
    #[serde(default, deserialize_with = "string")]
    pub memory: String,
    #[serde(default, deserialize_with = "string")]
    pub disk: String,
}

/// Top-level `capabilities:` for the build sandbox.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    #[serde(default, deserialize_with = "string_list")]
    pub add: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub drop: Vec<String>,
}

/// One pipeline step (in `pipeline:`, a subpackage, a test, or a `uses:` definition file).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Pipeline {
    #[serde(default, deserialize_with = "string", rename = "if")]
    pub if_: String,
    #[serde(default, deserialize_with = "string")]
    pub name: String,
    #[serde(default, deserialize_with = "string")]
    pub uses: String,
    #[serde(default, deserialize_with = "string_map")]
    pub with: StringMap,
    #[serde(default, deserialize_with = "string")]
    pub runs: String,
    #[serde(default)]
    pub pipeline: Vec<Pipeline>,
    #[serde(default)]
    pub inputs: BTreeMap<String, Input>,
    #[serde(default)]
    pub needs: Option<Needs>,
    #[serde(default, deserialize_with = "string")]
    pub label: String,
    #[serde(default)]
    pub assertions: Option<Assertions>,
    #[serde(default, deserialize_with = "string")]
    pub working_directory: String,
    #[serde(default, deserialize_with = "string_map")]
    pub environment: StringMap,
}

/// A declared input of a reusable pipeline.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Input {
    #[serde(default, deserialize_with = "string")]
    pub description: String,
    #[serde(default, deserialize_with = "string")]
    pub default: String,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Needs {
    #[serde(default, deserialize_with = "string_list")]
    pub packages: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Assertions {
    #[serde(default)]
    pub required_steps: i64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Subpackage {
    #[serde(default, deserialize_with = "string", rename = "if")]
    pub if_: String,
    #[serde(default, deserialize_with = "string")]
    pub range: String,
    #[serde(default, deserialize_with = "string")]
    pub name: String,
    #[serde(default)]
    pub pipeline: Vec<Pipeline>,
    #[serde(default)]
    pub dependencies: Dependencies,
    #[serde(default)]
    pub options: Option<PackageOptions>,
    #[serde(default)]
    pub scriptlets: Option<Scriptlets>,
    #[serde(default, deserialize_with = "string")]
    pub description: String,
    #[serde(default, deserialize_with = "string_map")]
    pub annotations: StringMap,
    #[serde(default, deserialize_with = "string")]
    pub url: String,
    #[serde(default, deserialize_with = "string")]
    pub commit: String,
    #[serde(default)]
    pub checks: Checks,
    #[serde(default)]
    pub test: Option<Test>,
    #[serde(default)]
    pub setcap: Vec<Capability>,
}

/// `data:` entry feeding `range:` subpackages.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RangeData {
    #[serde(default, deserialize_with = "string")]
    pub name: String,
    #[serde(default, deserialize_with = "string_map")]
    pub items: StringMap,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VarTransform {
    #[serde(default, deserialize_with = "string")]
    pub from: String,
    #[serde(default, deserialize_with = "string", rename = "match")]
    pub match_: String,
    #[serde(default, deserialize_with = "string")]
    pub replace: String,
    #[serde(default, deserialize_with = "string")]
    pub to: String,
}

/// `options.<name>`: a build option enabled with `--build-option`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BuildOption {
    #[serde(default, deserialize_with = "string_map")]
    pub vars: StringMap,
    #[serde(default)]
    pub environment: BuildOptionEnvironment,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BuildOptionEnvironment {
    #[serde(default)]
    pub contents: BuildOptionContents,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BuildOptionContents {
    #[serde(default)]
    pub packages: ListOption,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListOption {
    #[serde(default, deserialize_with = "string_list")]
    pub add: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub remove: Vec<String>,
}

/// `test:` of the package or of a subpackage.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Test {
    #[serde(default)]
    pub environment: ImageConfiguration,
    #[serde(default)]
    pub pipeline: Vec<Pipeline>,
}
