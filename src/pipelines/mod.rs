//! The pipeline library behind `uses:`: directories given with `--pipeline-dir` (searched in
//! order), then the built-in definitions embedded from `pipelines/` at compile time.
//!
//! melange (`pkg/build/compile.go`, `usescache.go`) tries `<dir>/<uses>.yaml` in each directory
//! and decodes definition files leniently: unknown keys there are ignored, unlike in build files.

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::bounded_read::{MAX_PIPELINE_BYTES, ReadError, read_regular_text};
use crate::config::model::Pipeline;

mod lenient;

/// Built-in pipeline definitions as (name, YAML text), sorted by name.
pub static BUILTINS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_pipelines.rs"));

/// The YAML text of a built-in pipeline.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTINS
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| BUILTINS[i].1)
}

/// Where a definition was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file in a `--pipeline-dir` directory.
    File(PathBuf),
    /// Embedded in melwrap.
    Builtin,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Builtin => f.write_str("built-in"),
        }
    }
}

/// A resolved `uses:` definition.
#[derive(Debug, Clone)]
pub struct Definition {
    pub name: String,
    pub source: Source,
    pub pipeline: Pipeline,
}

/// One declared input of a definition, as `melwrap pipelines` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InputSummary {
    pub name: String,
    pub required: bool,
    /// The default value; empty when there is none (melange treats both alike).
    pub default: String,
    pub description: String,
}

impl Definition {
    /// The declared inputs: required ones first, then the rest, each group by name.
    pub fn inputs(&self) -> Vec<InputSummary> {
        let mut inputs: Vec<InputSummary> = self
            .pipeline
            .inputs
            .iter()
            .map(|(name, input)| InputSummary {
                name: name.clone(),
                required: input.required,
                default: input.default.clone(),
                description: input.description.trim().to_string(),
            })
            .collect();
        inputs.sort_by(|a, b| b.required.cmp(&a.required).then(a.name.cmp(&b.name)));
        inputs
    }

    /// The packages the definition's steps add to the build environment (`needs`), nested
    /// `uses:` steps not included, before substitution.
    pub fn needs(&self) -> Vec<String> {
        fn walk(step: &Pipeline, out: &mut Vec<String>) {
            if let Some(needs) = &step.needs {
                out.extend(needs.packages.iter().cloned());
            }
            for child in &step.pipeline {
                walk(child, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.pipeline, &mut out);
        out
    }

    /// The definition's YAML text, as written (read again for a file).
    pub fn text(&self) -> std::io::Result<String> {
        match &self.source {
            Source::Builtin => Ok(builtin(&self.name).unwrap_or_default().to_string()),
            Source::File(path) => read_definition(path).map_err(std::io::Error::other),
        }
    }
}

/// Why a `uses:` name could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// The name is absolute or climbs out of its directory.
    Escapes { name: String },
    /// No directory and no built-in has it.
    NotFound {
        name: String,
        searched: Vec<String>,
        suggestions: Vec<String>,
    },
    /// The file exists but is not a pipeline definition.
    Invalid { source: Source, message: String },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Escapes { name } => write!(
                f,
                "pipeline name `{name}` must be relative and stay inside the pipeline directories"
            ),
            ResolveError::NotFound {
                name,
                searched,
                suggestions,
            } => {
                write!(
                    f,
                    "unknown pipeline `{name}` (looked in {})",
                    searched.join(", ")
                )?;
                if !suggestions.is_empty() {
                    let list: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
                    write!(f, "; did you mean {}?", list.join(" or "))?;
                }
                Ok(())
            }
            ResolveError::Invalid { source, message } => {
                write!(f, "invalid pipeline definition {source}: {message}")
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// The search path for `uses:`, with a per-process cache of parsed definitions.
#[derive(Debug, Default)]
pub struct Library {
    dirs: Vec<PathBuf>,
    parsed: Mutex<HashMap<String, Arc<Definition>>>,
}

impl Library {
    /// A library searching `dirs` in order, then the built-ins.
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        Library {
            dirs,
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// The directories searched before the built-ins.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Find and parse the definition for `uses: name`.
    pub fn resolve(&self, name: &str) -> Result<Arc<Definition>, ResolveError> {
        if let Some(def) = self.parsed.lock().unwrap().get(name) {
            return Ok(def.clone());
        }
        if !is_contained(name) {
            return Err(ResolveError::Escapes {
                name: name.to_string(),
            });
        }
        let def = Arc::new(self.find(name)?);
        self.parsed
            .lock()
            .unwrap()
            .insert(name.to_string(), def.clone());
        Ok(def)
    }

    fn find(&self, name: &str) -> Result<Definition, ResolveError> {
        for dir in &self.dirs {
            let file = dir.join(format!("{name}.yaml"));
            let text = match read_definition(&file) {
                Ok(text) => text,
                Err(ReadError::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    return Err(ResolveError::Invalid {
                        source: Source::File(file),
                        message: format!("cannot read it: {e}"),
                    });
                }
            };
            let source = Source::File(file);
            let pipeline = parse_definition(&text).map_err(|message| ResolveError::Invalid {
                source: source.clone(),
                message,
            })?;
            return Ok(Definition {
                name: name.to_string(),
                source,
                pipeline,
            });
        }
        if let Some(text) = builtin(name) {
            let pipeline = parse_definition(text).map_err(|message| ResolveError::Invalid {
                source: Source::Builtin,
                message,
            })?;
            return Ok(Definition {
                name: name.to_string(),
                source: Source::Builtin,
                pipeline,
            });
        }
        let mut searched: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        searched.push("built-in pipelines".to_string());
        let names = self.names();
        let mut suggestions: Vec<(f64, String)> = names
            .into_iter()
            .map(|n| (strsim::jaro_winkler(name, &n), n))
            .filter(|(score, _)| *score > 0.8)
            .collect();
        suggestions.sort_by(|a, b| b.0.total_cmp(&a.0));
        Err(ResolveError::NotFound {
            name: name.to_string(),
            searched,
            suggestions: suggestions.into_iter().take(3).map(|(_, n)| n).collect(),
        })
    }

    /// Every name `uses:` can reach: the directories' `*.yaml` files and the built-ins.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = BUILTINS.iter().map(|(n, _)| n.to_string()).collect();
        for dir in &self.dirs {
            collect_names(dir, dir, &mut names);
        }
        names.sort();
        names.dedup();
        names
    }
}

/// A definition file from a `--pipeline-dir`: a regular file of bounded size (a FIFO there
/// must not block `uses:` resolution).
fn read_definition(path: &Path) -> Result<String, ReadError> {
    read_regular_text(path, MAX_PIPELINE_BYTES)
}

/// `uses:` names must stay inside their directory: no absolute paths, no `..`.
fn is_contained(name: &str) -> bool {
    !name.is_empty()
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// The names under `dir`, for suggestions and listings. Symbolic links to directories are not
/// followed (a link to `.` would make the walk endless) and the walk stops at 16 levels.
fn collect_names(root: &Path, dir: &Path, names: &mut Vec<String>) {
    const MAX_NAME_DEPTH: usize = 16;
    let depth = dir.strip_prefix(root).map_or(0, |r| r.components().count());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if depth < MAX_NAME_DEPTH {
                collect_names(root, &path, names);
            }
        } else if path.extension().is_some_and(|e| e == "yaml")
            && let Ok(rel) = path.strip_prefix(root)
        {
            names.push(rel.with_extension("").to_string_lossy().into_owned());
        }
    }
}

/// Decode a definition file leniently (unknown keys ignored; an empty file is a no-op step).
pub fn parse_definition(text: &str) -> Result<Pipeline, String> {
    // Depth and alias expansion are bounded as in build files, before serde_yaml sees the text.
    if let Some(p) = crate::config::locate::size_problem(text) {
        return Err(format!(
            "line {} column {}: {}",
            p.position.line, p.position.column, p.message
        ));
    }
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    if value.is_null() {
        return Ok(Pipeline::default());
    }
    let step: lenient::Step = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    Ok(step.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_names_that_escape() {
        let lib = Library::new(vec![]);
        for bad in ["../x", "/etc/passwd", "a/../../b", ""] {
            assert!(
                matches!(lib.resolve(bad), Err(ResolveError::Escapes { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn directories_come_before_builtins_and_unknown_keys_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("my")).unwrap();
        std::fs::write(
            dir.path().join("my/step.yaml"),
            "name: mine\nfrobnicate: yes\ninputs:\n  who:\n    default: world\npipeline:\n  - runs: echo ${{inputs.who}}\n    extra: 1\n",
        )
        .unwrap();
        let lib = Library::new(vec![dir.path().to_path_buf()]);
        let def = lib.resolve("my/step").unwrap();
        assert_eq!(def.pipeline.inputs["who"].default, "world");
        assert_eq!(def.pipeline.pipeline[0].runs, "echo ${{inputs.who}}");
        assert!(matches!(def.source, Source::File(_)));
        let err = lib.resolve("my/stpe").unwrap_err();
        match err {
            ResolveError::NotFound { suggestions, .. } => {
                assert_eq!(suggestions.first().map(String::as_str), Some("my/step"))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn scalar_defaults_keep_their_text() {
        let def = parse_definition(
            "inputs:\n  a:\n    default: true\n  b:\n    default: 1.10\n  c:\n    default: 5\n  d:\n",
        )
        .unwrap();
        let got: Vec<&str> = def.inputs.values().map(|i| i.default.as_str()).collect();
        assert_eq!(got, ["true", "1.10", "5", ""]);
    }

    #[test]
    fn empty_definition_is_a_no_op() {
        assert_eq!(parse_definition("").unwrap(), Pipeline::default());
    }

    #[test]
    fn non_string_scalars_in_definitions_are_text() {
        let p = parse_definition(
            "inputs:\n  a:\n    default: true\n    required: false\n  b:\n    default: 5\nassertions:\n  required-steps: 1\npipeline:\n  - with:\n      x: false\n",
        )
        .unwrap();
        assert_eq!(p.inputs["a"].default, "true");
        assert!(!p.inputs["a"].required);
        assert_eq!(p.inputs["b"].default, "5");
        assert_eq!(p.assertions.unwrap().required_steps, 1);
        assert_eq!(p.pipeline[0].with["x"], "false");
    }
}
