//! A `uses:` definition laid over the step that calls it.

use crate::config::model::Pipeline;

/// Lay a definition over the step that calls it: keys the definition sets replace the step's,
/// maps are merged with the definition's entries winning (yaml.v3 decoding into an existing
/// struct, `compilePipeline`), and the step keeps its own `name`.
pub(super) fn overlay(step: &Pipeline, def: &Pipeline) -> Pipeline {
    let mut p = step.clone();
    let set = |dst: &mut String, src: &String| {
        if !src.is_empty() {
            dst.clone_from(src)
        }
    };
    set(&mut p.if_, &def.if_);
    set(&mut p.uses, &def.uses);
    set(&mut p.runs, &def.runs);
    set(&mut p.label, &def.label);
    set(&mut p.working_directory, &def.working_directory);
    if !def.pipeline.is_empty() {
        p.pipeline.clone_from(&def.pipeline);
    }
    p.with
        .extend(def.with.iter().map(|(k, v)| (k.clone(), v.clone())));
    p.inputs
        .extend(def.inputs.iter().map(|(k, v)| (k.clone(), v.clone())));
    p.environment
        .extend(def.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
    if def.needs.is_some() {
        p.needs.clone_from(&def.needs);
    }
    if def.assertions.is_some() {
        p.assertions.clone_from(&def.assertions);
    }
    p
}
