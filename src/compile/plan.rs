//! The compiled plan: for each package, the ordered list of steps to run, each fully resolved.
//! A plan holds no `${{...}}` and needs no further lookups; the runner only wraps each script
//! and starts a sandbox for it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

/// Where a step came from: the build file and the line of the step (for a step that comes from
/// a `uses:` definition, the line of the `uses:` step in the build file). Line 0 when unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// The whole build, for one architecture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// apk architecture name (`x86_64`, `aarch64`, ...).
    pub arch: String,
    /// The guest environment shared by every step: `SOURCE_DATE_EPOCH`, then
    /// `environment.environment` with melange's defaults filled in (layers 1 and 2 of the
    /// semantics doc, section 3.8). `PATH` and step variables are applied per step.
    pub environment: BTreeMap<String, String>,
    /// Main package first, then subpackages in YAML order (range expansions in place).
    /// Subpackages whose `if:` is false are left out.
    pub packages: Vec<PackagePlan>,
    /// The `test:` pipelines: the main package's first, then each kept subpackage's, in order.
    /// `melwrap build` does not run them; they are compiled (and checked) all the same.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestPlan>,
}

/// The compiled `test:` of one package.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestPlan {
    /// The package under test.
    pub name: String,
    /// `test.environment.environment`, substituted (melange applies no defaults here).
    pub environment: BTreeMap<String, String>,
    /// Packages for the test guest: `test.environment.contents.packages`, the package under
    /// test and the `needs` of the test steps that run, sorted and de-duplicated as melange does.
    pub packages: Vec<String>,
    /// Steps in execution order, as for a build package.
    pub steps: Vec<Step>,
    /// The field of its `test.environment` (`subpackages[2].test.environment`), for messages.
    #[serde(skip)]
    pub environment_field: String,
    /// Its `test.environment` as written (accounts, repositories and keys for its guest).
    #[serde(skip)]
    pub written_environment: crate::config::model::ImageConfiguration,
}

/// One package (main or subpackage) and its steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackagePlan {
    pub name: String,
    /// Guest path of this package's destdir, `/home/build/melange-out/<name>`.
    pub destdir: String,
    /// Steps in execution order, parents before their children (a depth-first flattening).
    pub steps: Vec<Step>,
    /// Packages the steps that run declare with `needs:` (after substitution), first use first,
    /// without repeats. For information: melange adds them to the build guest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// The build-cache blobs the `fetch` steps that run look up before downloading:
    /// `sha256:<expected-sha256>`, else `sha512:<expected-sha512>` (steps with only
    /// `expected-none` have none), first use first, without repeats. `melwrap build` reports
    /// how many of them the cache held. Not part of the printed plan.
    #[serde(skip)]
    pub fetches: Vec<String>,
    /// The top-level `fetch` and `git-checkout` steps that run, for the SBOM's upstream
    /// sources. Not part of the printed plan.
    #[serde(skip)]
    pub sources: Vec<SourceStep>,
    /// What `.PKGINFO` says about the package, substituted.
    pub metadata: PackageMetadata,
}

/// A top-level `uses: fetch` or `uses: git-checkout` step: its inputs with the definition's
/// defaults filled in, substituted (melange reads the compiled `with:` of such steps for the
/// SBOM, `pkg/config` `SBOMPackageForUpstreamSource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStep {
    /// `fetch` or `git-checkout`.
    pub uses: String,
    pub inputs: BTreeMap<String, String>,
}

/// A package's metadata with every `${{...}}` resolved (see `compile::metadata`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PackageMetadata {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub commit: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    pub dependencies: crate::config::model::Dependencies,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scriptlets: Option<crate::config::model::Scriptlets>,
    /// `options:` of the package (dependency scanning switches); not part of the printed plan.
    #[serde(skip)]
    pub options: crate::config::model::PackageOptions,
    /// `checks.disabled`: linters downgraded from required to warnings for this package.
    #[serde(skip)]
    pub checks_disabled: Vec<String>,
}

/// One sandbox process: melange runs every step, parent or child, as its own `/bin/sh -c`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// What logs call the step: its `name`, else its `uses`, else the first line of `runs`.
    pub name: String,
    /// The `uses:` pipelines that produced this step, outermost first, joined with ` > `
    /// (`go/build > strip`); `None` for a step written in the build file.
    pub uses: Option<String>,
    /// Nesting depth: 0 for a top-level step.
    pub depth: usize,
    pub origin: Origin,
    /// Absolute guest working directory (already joined to `/home/build`).
    pub workdir: String,
    /// The step environment (layer 4: the step's and its ancestors', nearest winning).
    pub environment: BTreeMap<String, String>,
    /// The compiled `runs` text, substituted, without melange's wrapper lines.
    pub script: String,
}
