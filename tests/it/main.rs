//! The integration tests: one test binary (each binary links the crate, which is slow on a
//! small machine), one module per area. Run a subset with `cargo test --test it FILTER`, e.g.
//! `cargo test --test it hostile::` or `cargo test --test it pipelines::run::patch`.
//!
//! Shared helpers live in [`support`]; a module's own helpers sit beside its tests. Hostile
//! steps and hostile inputs, whatever command they go through, live together in [`hostile`].

mod apk;
mod build;
mod cache;
mod compile;
mod config;
mod docs;
mod guests;
mod hostile;
mod layout;
pub mod lint;
mod pipelines;
mod repo;
mod sandbox;
mod support;
mod test_cmd;
mod wolfi;
