//! melwrap: build melange configs rootless in bubblewrap.
//!
//! The data flows one way, and each stage is a module:
//!
//! ```text
//! melange.yaml ─load─▶ Configuration ─compile─▶ Plan ─sandbox─▶ destdirs ─apk─▶ .apk + APKINDEX
//!   (config)            (config)        (subst, pipelines,  (sandbox, workspace,   (apk)
//!                                        compile)            cache)
//! ```
//!
//! Everything before `sandbox::run` is pure and tested on data alone. Between the destdirs
//! and the `.apk`, `sca` scans each package's files for the `so:`, `cmd:` and `pc:` metadata
//! melange generates (docs/dependency-scanning.md).

pub mod apk;
pub mod bounded_read;
pub mod cache;
pub mod cli;
pub mod compile;
pub mod config;
pub mod diag;
pub mod driver;
pub mod guest;
pub mod inputs;
pub mod limits;
pub mod lint;
pub mod pipelines;
pub mod printer;
pub mod repo;
pub mod safefs;
pub mod sandbox;
pub mod sbom;
pub mod sca;
pub mod session;
pub mod status;
pub mod subst;
pub mod workspace;
