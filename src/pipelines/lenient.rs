//! Lenient decoding of pipeline definition files.
//!
//! melange decodes `uses:` definition files without `KnownFields` (`pkg/build/compile.go`), so
//! unknown keys are ignored there, unlike in build files. These mirror types accept and drop
//! unknown keys, and decode straight from the YAML text so every scalar keeps its source text
//! (`default: true` is `"true"`, `default: 1.10` stays `1.10`), as the strict model does.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::model::{Assertions, Input, Needs, Pipeline, StringMap};
use crate::config::scalar::{string, string_list, string_map};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) struct Step {
    #[serde(default, deserialize_with = "string", rename = "if")]
    if_: String,
    #[serde(default, deserialize_with = "string")]
    name: String,
    #[serde(default, deserialize_with = "string")]
    uses: String,
    #[serde(default, deserialize_with = "string_map")]
    with: StringMap,
    #[serde(default, deserialize_with = "string")]
    runs: String,
    #[serde(default)]
    pipeline: Vec<Step>,
    #[serde(default)]
    inputs: BTreeMap<String, Option<LenientInput>>,
    #[serde(default)]
    needs: Option<LenientNeeds>,
    #[serde(default, deserialize_with = "string")]
    label: String,
    #[serde(default)]
    assertions: Option<LenientAssertions>,
    #[serde(default, deserialize_with = "string")]
    working_directory: String,
    #[serde(default, deserialize_with = "string_map")]
    environment: StringMap,
}

#[derive(Debug, Default, Deserialize)]
struct LenientInput {
    #[serde(default, deserialize_with = "string")]
    description: String,
    #[serde(default, deserialize_with = "string")]
    default: String,
    #[serde(default)]
    required: bool,
}

#[derive(Debug, Default, Deserialize)]
struct LenientNeeds {
    #[serde(default, deserialize_with = "string_list")]
    packages: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct LenientAssertions {
    #[serde(default)]
    required_steps: i64,
}

impl From<Step> for Pipeline {
    fn from(s: Step) -> Self {
        Pipeline {
            if_: s.if_,
            name: s.name,
            uses: s.uses,
            with: s.with,
            runs: s.runs,
            pipeline: s.pipeline.into_iter().map(Pipeline::from).collect(),
            inputs: s
                .inputs
                .into_iter()
                .map(|(k, v)| {
                    let v = v.unwrap_or_default();
                    (
                        k,
                        Input {
                            description: v.description,
                            default: v.default,
                            required: v.required,
                        },
                    )
                })
                .collect(),
            needs: s.needs.map(|n| Needs {
                packages: n.packages,
            }),
            label: s.label,
            assertions: s.assertions.map(|a| Assertions {
                required_steps: a.required_steps,
            }),
            working_directory: s.working_directory,
            environment: s.environment,
        }
    }
}
