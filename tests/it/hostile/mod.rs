//! Everything untrusted, together: hostile build and test steps (what the sandbox, the build
//! identity, the step trees, the output path and the packager promise against them), crafted
//! packages, a destdir that changes under the packager, and hostile input files. Each scenario
//! runs as root and as an ordinary uid (65534 through setpriv when the suite is root).

mod apk_races;
mod build_steps;
mod craft;
mod crafted_packages;
mod guest;
mod hardening;
mod identity;
mod inputs;
mod output;
mod packaging_links;
pub mod repo_crafted;
mod repo_links_in_root;
mod run_as;
mod sandbox;
mod sbom_links;
mod sca;
mod secrets;
mod step_trees;
