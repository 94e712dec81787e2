//! Config → Plan: substitutions, `uses:` expansion, `if:` evaluation, inheritance of working
//! directory and environment. The [`plan`] types are what the runner consumes.

pub mod plan;

pub use plan::{Origin, PackagePlan, Plan, Step};
