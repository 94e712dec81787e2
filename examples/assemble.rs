//! Assemble a root from every package of a local repository's index with melwrap's
//! verified-cache and install code, outside any command. Used by `scripts/bench-assemble.sh`.
//!
//! ```text
//! cargo run --release --example assemble -- REPO_DIR ROOT [--arch A]
//! ```

use std::path::PathBuf;

use clap::Parser;
use melwrap::apk::Index;
use melwrap::cli::Verbosity;
use melwrap::printer::Printer;
use melwrap::repo::cache::{ApkCache, Network, Wanted};
use melwrap::repo::fetch::{FetchOptions, Fetcher};
use melwrap::repo::install::{RootConfig, assemble};

#[derive(Parser)]
struct Args {
    repo: PathBuf,
    root: PathBuf,
    #[arg(long, default_value = "x86_64")]
    arch: String,
}

fn main() -> color_eyre::eyre::Result<()> {
    let args = Args::parse();
    let repo = args.repo.display().to_string();
    let index = Index::read(&args.repo.join(&args.arch).join("APKINDEX.tar.gz"))?;
    let wanted: Vec<Wanted> = index
        .entries
        .iter()
        .map(|e| Wanted::from_entry(&repo, e))
        .collect::<Result<_, _>>()
        .map_err(|e| color_eyre::eyre::eyre!(e))?;
    let scratch = tempfile::tempdir()?;
    let cache = ApkCache::open(scratch.path())?;
    let fetcher = Fetcher::new(FetchOptions::default()).map_err(|e| color_eyre::eyre::eyre!(e))?;
    let printer = Printer::new(Verbosity::Quiet);
    let pkgs = cache.packages(&fetcher, Network::Offline, &printer, &wanted)?;
    let config = RootConfig {
        repositories: vec![repo],
        world: index.entries.iter().map(|e| e.name.clone()).collect(),
        arch: args.arch,
        ..RootConfig::default()
    };
    let done = assemble(&args.root, &pkgs, &config)?;
    eprintln!("installed {} packages", done.packages.len());
    Ok(())
}
