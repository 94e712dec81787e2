//! `melwrap validate`: load and check build files without running anything, and report every
//! problem as `file:line:col: `field`: message` with a `hint:` line (or as JSON lines).

use std::io::Write;
use std::path::{Path, PathBuf};

use color_eyre::eyre;

use super::{ExitStatus, Verbosity};
use crate::diag::Diagnostic;

const AFTER_HELP: &str = "\
Examples:
  melwrap validate melange.yaml
  melwrap validate -q packages/*.yaml
  melwrap validate --format json melange.yaml | jq -r .message";

/// Check build configs for errors without running anything.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Build files to check.
    #[arg(value_name = "CONFIG", required = true)]
    pub configs: Vec<PathBuf>,

    /// How to print problems: `text` (one line and a hint each) or `json` (one object per
    /// line, then a summary object).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Output format of `melwrap validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `file:line:col: `field`: message` and an indented `hint:` line.
    Text,
    /// One JSON object per line.
    Json,
}

/// Check every file; exit 0 when all are valid and 2 (bad input) otherwise.
///
/// Everything goes to stdout: the problems are what the command was asked for. `-q` leaves
/// out the summary, `-v` also names each valid file.
pub fn run(args: Args, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let summary = validate_all(&args.configs, args.format, verbosity, &mut out)?;
    out.flush()?;
    Ok(if summary.invalid == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::BadInput
    })
}

/// Counts from one `validate` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files named on the command line.
    pub files: usize,
    /// Files with at least one problem (unreadable ones included).
    pub invalid: usize,
    /// Problems reported over all files.
    pub problems: usize,
}

/// Validate `configs` and write the report to `out`.
pub fn validate_all(
    configs: &[PathBuf],
    format: Format,
    verbosity: Verbosity,
    out: &mut impl Write,
) -> std::io::Result<Summary> {
    let mut summary = Summary::default();
    for path in configs {
        summary.files += 1;
        match crate::config::load(path) {
            Ok(_) => {
                if verbosity >= Verbosity::Verbose && format == Format::Text {
                    writeln!(out, "{}: ok", path.display())?;
                }
            }
            Err(diags) => {
                summary.invalid += 1;
                summary.problems += diags.0.len();
                for d in &diags.0 {
                    write_problem(out, format, d)?;
                }
            }
        }
    }
    if verbosity > Verbosity::Quiet {
        write_summary(out, format, &summary)?;
    }
    Ok(summary)
}

fn write_problem(out: &mut impl Write, format: Format, d: &Diagnostic) -> std::io::Result<()> {
    match format {
        Format::Text => writeln!(out, "{d}"),
        Format::Json => {
            let value = serde_json::json!({
                "file": path_text(&d.file),
                "line": d.position.map(|p| p.line),
                "column": d.position.map(|p| p.column),
                "field": d.field,
                "message": d.message,
                "hint": d.hint,
            });
            writeln!(out, "{value}")
        }
    }
}

fn write_summary(out: &mut impl Write, format: Format, s: &Summary) -> std::io::Result<()> {
    match format {
        Format::Text => {
            let files = if s.files == 1 { "file" } else { "files" };
            writeln!(out, "{} {files} checked, {} invalid", s.files, s.invalid)
        }
        Format::Json => {
            let value = serde_json::json!({
                "summary": {"files": s.files, "invalid": s.invalid, "problems": s.problems}
            });
            writeln!(out, "{value}")
        }
    }
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn parses_paths_and_format() {
        let cli = crate::cli::Cli::try_parse_from([
            "melwrap", "validate", "--format", "json", "a.yaml", "b.yaml",
        ])
        .unwrap();
        let crate::cli::Command::Validate(args) = cli.command else {
            panic!("not validate");
        };
        assert_eq!(args.format, Format::Json);
        assert_eq!(args.configs.len(), 2);
        assert!(crate::cli::Cli::try_parse_from(["melwrap", "validate"]).is_err());
        assert!(
            crate::cli::Cli::try_parse_from(["melwrap", "validate", "--format", "xml", "a"])
                .is_err()
        );
    }

    #[test]
    fn text_report_and_summary() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yaml");
        let bad = dir.path().join("bad.yaml");
        fs_err::write(&good, "package:\n  name: a\n  version: 1\n").unwrap();
        fs_err::write(&bad, "package:\n  name: a\n").unwrap();
        let mut out = Vec::new();
        let s = validate_all(
            &[good, bad.clone()],
            Format::Text,
            Verbosity::Normal,
            &mut out,
        )
        .unwrap();
        assert_eq!((s.files, s.invalid, s.problems), (2, 1, 1));
        let text = String::from_utf8(out).unwrap();
        let expected = format!(
            "{}:1:1: `package.version`: `version` is required\n  hint: add `version:` under `package:`, the upstream version such as `1.2.3`\n2 files checked, 1 invalid\n",
            bad.display()
        );
        assert_eq!(text, expected);
    }
}
