//! Pack one destdir into an `.apk` (and update the arch directory's APKINDEX) with melwrap's
//! package writer, outside a build. Used by `scripts/bench-package.sh`; handy for experiments.
//!
//! ```text
//! cargo run --release --example pack -- DESTDIR OUT_DIR [--name N] [--version V] [--epoch E]
//!     [--arch A] [--builddate SECONDS] [--signing-key KEY] [--no-index]
//! ```

use std::path::PathBuf;

use clap::Parser;
use melwrap::apk::{self, PackageMeta, Signer};

#[derive(Parser)]
struct Args {
    destdir: PathBuf,
    out_dir: PathBuf,
    #[arg(long, default_value = "example")]
    name: String,
    #[arg(long, default_value = "1.0.0")]
    version: String,
    #[arg(long, default_value_t = 0)]
    epoch: u64,
    #[arg(long, default_value = "x86_64")]
    arch: String,
    #[arg(long, default_value_t = 0)]
    builddate: u64,
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// Do not write APKINDEX.tar.gz.
    #[arg(long)]
    no_index: bool,
}

fn main() -> color_eyre::eyre::Result<()> {
    let a = Args::parse();
    let signer = a
        .signing_key
        .as_deref()
        .map(Signer::from_pem_file)
        .transpose()?;
    let meta = PackageMeta {
        name: a.name.clone(),
        version: a.version,
        epoch: a.epoch,
        arch: a.arch.clone(),
        origin: a.name,
        commit: "unknown".into(),
        maintainer: "unknown".into(),
        builddate: a.builddate,
        ..PackageMeta::default()
    };
    let pkg = apk::write_package(&a.destdir, &meta, &a.out_dir, signer.as_ref())?;
    if !a.no_index {
        apk::update_index(
            &a.out_dir.join(&a.arch),
            std::slice::from_ref(&pkg),
            signer.as_ref(),
        )?;
    }
    println!("{}", pkg.path.display());
    Ok(())
}
