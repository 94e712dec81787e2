//! `melwrap pipelines`: list the pipelines `uses:` can reach (built-ins and `--pipeline-dir`
//! directories) with their inputs, or print one definition.

use std::fmt::Write as _;
use std::path::PathBuf;

use color_eyre::eyre;
use serde::Serialize;

use super::{ExitStatus, StatusError, Verbosity};
use crate::pipelines::{Definition, InputSummary, Library, Source, builtin};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A directory of pipeline definitions (`<dir>/<name>.yaml`), searched before the built-ins.
    /// Repeat it to search several, in order.
    #[arg(long = "pipeline-dir", value_name = "DIR", global = true)]
    pub pipeline_dirs: Vec<PathBuf>,

    /// How to print the list.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    #[command(subcommand)]
    pub action: Option<Action>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per pipeline: name, where it comes from, inputs.
    Table,
    /// A JSON array with every input's default, required flag and description.
    Json,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Print a pipeline's definition (its YAML text), preceded by where it comes from.
    Show {
        /// The `uses:` name, e.g. `fetch` or `autoconf/make`.
        name: String,
    },
}

pub fn run(args: Args, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    for dir in &args.pipeline_dirs {
        if !dir.is_dir() {
            return Err(bad_input(format!(
                "--pipeline-dir {}: not a directory\n  hint: give a directory holding <name>.yaml pipeline files",
                dir.display()
            )));
        }
    }
    let library = Library::new(args.pipeline_dirs.clone());
    match args.action {
        Some(Action::Show { name }) => show(&library, &name),
        None => list(
            &library,
            args.format,
            crate::printer::Printer::new(verbosity),
        ),
    }
}

fn bad_input(message: String) -> eyre::Report {
    StatusError(ExitStatus::BadInput, message).into()
}

fn show(library: &Library, name: &str) -> eyre::Result<ExitStatus> {
    let def = library.resolve(name).map_err(|e| {
        bad_input(format!(
            "{e}\n  hint: `melwrap pipelines` lists every pipeline that `uses:` can reach"
        ))
    })?;
    let text = def.text()?;
    let mut out = format!("# {name}: {}\n", describe_source(&def));
    out.push_str(&text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
    print!("{out}");
    Ok(ExitStatus::Success)
}

/// Where a definition comes from, in words, noting a directory file that hides a built-in.
fn describe_source(def: &Definition) -> String {
    match &def.source {
        Source::Builtin => "built-in".to_string(),
        Source::File(path) if builtin(&def.name).is_some() => {
            format!("{} (replaces the built-in)", path.display())
        }
        Source::File(path) => path.display().to_string(),
    }
}

/// One row of `melwrap pipelines --format json`.
#[derive(Debug, Serialize)]
struct Entry {
    name: String,
    /// `built-in`, or the definition file's path.
    source: String,
    builtin: bool,
    /// True when a `--pipeline-dir` file hides the built-in of the same name.
    replaces_builtin: bool,
    /// The definition's own `name:` line.
    description: String,
    needs: Vec<String>,
    inputs: Vec<InputSummary>,
    /// Set when the file could not be parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn entries(library: &Library) -> Vec<Entry> {
    library
        .names()
        .into_iter()
        .map(|name| match library.resolve(&name) {
            Ok(def) => Entry {
                source: match &def.source {
                    Source::Builtin => "built-in".to_string(),
                    Source::File(p) => p.display().to_string(),
                },
                builtin: def.source == Source::Builtin,
                replaces_builtin: def.source != Source::Builtin && builtin(&name).is_some(),
                description: def.pipeline.name.trim().to_string(),
                needs: def.needs(),
                inputs: def.inputs(),
                error: None,
                name,
            },
            Err(e) => Entry {
                source: String::new(),
                builtin: false,
                replaces_builtin: false,
                description: String::new(),
                needs: Vec::new(),
                inputs: Vec::new(),
                error: Some(e.to_string()),
                name,
            },
        })
        .collect()
}

fn list(
    library: &Library,
    format: Format,
    printer: crate::printer::Printer,
) -> eyre::Result<ExitStatus> {
    let entries = entries(library);
    let failed = entries.iter().filter(|e| e.error.is_some()).count();
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
        Format::Table => print!("{}", table(&entries)),
    }
    for entry in entries.iter().filter(|e| e.error.is_some()) {
        printer.error(entry.error.as_deref().unwrap_or_default());
    }
    Ok(if failed > 0 {
        ExitStatus::BadInput
    } else {
        ExitStatus::Success
    })
}

/// The compact listing: `NAME  SOURCE  INPUTS`, inputs as `name*` (required), `name=default`
/// or `name`.
fn table(entries: &[Entry]) -> String {
    let rows: Vec<[String; 3]> = entries
        .iter()
        .map(|e| {
            let source = if e.error.is_some() {
                "invalid".to_string()
            } else if e.builtin {
                "built-in".to_string()
            } else {
                // The directory is what the user passed; the file name is the pipeline name.
                let dir = PathBuf::from(&e.source);
                let mut dir = dir.as_path();
                for _ in e.name.split('/') {
                    dir = dir.parent().unwrap_or(dir);
                }
                let mut s = dir.display().to_string();
                if e.replaces_builtin {
                    s.push_str(" (replaces built-in)");
                }
                s
            };
            let inputs = match &e.error {
                Some(err) => err.clone(),
                None if e.inputs.is_empty() => "-".to_string(),
                None => e
                    .inputs
                    .iter()
                    .map(format_input)
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            [e.name.clone(), source, inputs]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(4);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(6);
    let mut out = String::new();
    let _ = writeln!(out, "{:w0$}  {:w1$}  INPUTS", "NAME", "SOURCE");
    for [name, source, inputs] in &rows {
        let _ = writeln!(out, "{name:w0$}  {source:w1$}  {inputs}");
    }
    let _ = writeln!(
        out,
        "\n{} pipelines. Inputs: name* = required, name=value = default. \
         `melwrap pipelines show NAME` prints one.",
        rows.len()
    );
    out
}

fn format_input(input: &InputSummary) -> String {
    if input.required {
        format!("{}*", input.name)
    } else if input.default.is_empty() {
        input.name.clone()
    } else if input.default.contains(char::is_whitespace) {
        format!("{}={:?}", input.name, input.default)
    } else {
        format!("{}={}", input.name, input.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_marked_required_defaulted_or_plain() {
        let input = |name: &str, required, default: &str| InputSummary {
            name: name.into(),
            required,
            default: default.into(),
            description: String::new(),
        };
        assert_eq!(format_input(&input("uri", true, "")), "uri*");
        assert_eq!(format_input(&input("dir", false, ".")), "dir=.");
        assert_eq!(format_input(&input("tag", false, "")), "tag");
        assert_eq!(format_input(&input("x", false, "a b")), "x=\"a b\"");
    }
}
