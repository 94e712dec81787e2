//! The pipeline library behind `uses:`: directories given with `--pipeline-dir`, then the
//! built-in definitions embedded from `pipelines/` at compile time.

/// Built-in pipeline definitions as (name, YAML text), sorted by name.
pub static BUILTINS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_pipelines.rs"));

/// The YAML text of a built-in pipeline.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTINS
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| BUILTINS[i].1)
}
