//! `melwrap index`: write an `APKINDEX.tar.gz` for existing `.apk` files.

use std::path::{Path, PathBuf};

use color_eyre::eyre;

use super::{ExitStatus, Verbosity};
use crate::apk::{self, Index, IndexEntry, Signer};
use crate::diag::Diagnostic;

const EXAMPLES: &str = "\
Examples:
  melwrap index packages/x86_64                 # writes packages/x86_64/APKINDEX.tar.gz
  melwrap index -o APKINDEX.tar.gz *.apk
  melwrap index --merge --signing-key melange.rsa packages/x86_64";

/// Write an APKINDEX.tar.gz for a directory of packages or a list of .apk files.
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Args {
    /// Directories (every `*.apk` directly inside) and `.apk` files to index.
    #[arg(value_name = "DIR|APK", required = true)]
    pub inputs: Vec<PathBuf>,

    /// The index to write [default: DIR/APKINDEX.tar.gz for one directory, else
    /// ./APKINDEX.tar.gz].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Sign the index with this RSA private key (PEM).
    #[arg(long, value_name = "KEY")]
    pub signing_key: Option<PathBuf>,

    /// Keep the entries already in the output index; a package with the same name and
    /// version is replaced.
    #[arg(short, long)]
    pub merge: bool,

    /// Index only packages of this architecture; others are skipped with a warning.
    #[arg(short, long, value_name = "ARCH")]
    pub arch: Option<String>,
}

pub fn run(args: Args, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    let printer = crate::printer::Printer::new(verbosity);
    // Load the key first: a bad key should stop before any work.
    let signer = args
        .signing_key
        .as_deref()
        .map(Signer::from_pem_file)
        .transpose()?;
    let output = match (&args.output, args.inputs.as_slice()) {
        (Some(o), _) => o.clone(),
        (None, [one]) if one.is_dir() => one.join(apk::INDEX_NAME),
        (None, _) => PathBuf::from(apk::INDEX_NAME),
    };
    let files = collect_apks(&args.inputs)?;
    let mut entries = Vec::new();
    for f in &files {
        let p = apk::read_package(f)?;
        if let Some(arch) = &args.arch
            && p.arch() != arch
        {
            printer.warn(format!(
                "skipping {}: its arch is {}, not {arch}",
                f.display(),
                p.arch()
            ));
            continue;
        }
        entries.push(IndexEntry::from_package(&p));
    }
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        apk::atomic::ensure_dir(dir)?;
    }
    // A merge reads the index it replaces: hold the lock builds take for the same file.
    let _lock = apk::index::lock_index(&output)?;
    let mut idx = if args.merge && output.exists() {
        Index::read(&output)?
    } else {
        Index::default()
    };
    idx.merge(entries);
    idx.write(&output, signer.as_ref())?;
    printer.info(format!(
        "wrote {} ({} packages{})",
        output.display(),
        idx.entries.len(),
        if signer.is_some() { ", signed" } else { "" }
    ));
    Ok(ExitStatus::Success)
}

/// The `.apk` files named or found (sorted by name) in the named directories.
fn collect_apks(inputs: &[PathBuf]) -> eyre::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = fs_err::metadata(input)?;
        if !meta.is_dir() {
            out.push(input.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = fs_err::read_dir(input)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "apk") && p.is_file())
            .collect();
        if found.is_empty() {
            return Err(no_packages(input).into());
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

fn no_packages(dir: &Path) -> Diagnostic {
    Diagnostic::new(dir, "no `.apk` files in this directory")
        .hint("pass the arch directory that holds the packages, such as `packages/x86_64`")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn parses_inputs_and_flags() {
        let cli = Cli::try_parse_from([
            "melwrap",
            "index",
            "-o",
            "out/APKINDEX.tar.gz",
            "--signing-key",
            "k.rsa",
            "-m",
            "a.apk",
            "dir",
        ])
        .unwrap();
        let Command::Index(a) = cli.command else {
            panic!("not index")
        };
        assert_eq!(a.inputs.len(), 2);
        assert!(a.merge);
        assert!(Cli::try_parse_from(["melwrap", "index"]).is_err());
    }
}
