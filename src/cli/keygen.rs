//! `melwrap keygen`: write an RSA key pair for signing packages and indexes.

use std::path::PathBuf;

use color_eyre::eyre;

use super::{ExitStatus, Verbosity};
use crate::apk::keys;

const EXAMPLES: &str = "\
Examples:
  melwrap keygen                          # melange.rsa and melange.rsa.pub
  melwrap keygen local-signing.rsa
  melwrap build --signing-key local-signing.rsa melange.yaml

Install NAME.pub in /etc/apk/keys/ (keeping its name) where the packages are installed.";

/// Write an RSA key pair: NAME (PEM PKCS#1 private key, mode 0600) and NAME.pub (PEM public key).
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Args {
    /// The private key file to write; the public key goes next to it as NAME.pub.
    #[arg(value_name = "NAME", default_value = "melange.rsa")]
    pub name: PathBuf,

    /// Key size in bits (at least 2048).
    #[arg(long, value_name = "BITS", default_value_t = 4096)]
    pub key_size: usize,

    /// Replace NAME and NAME.pub if they exist.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args, verbosity: Verbosity) -> eyre::Result<ExitStatus> {
    let pair = keys::generate(&args.name, args.key_size, args.force)?;
    crate::printer::Printer::new(verbosity).info(format!(
        "wrote private key {} (mode 0600) and public key {}",
        pair.private.display(),
        pair.public.display()
    ));
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn parses_name_size_and_force() {
        let cli = Cli::try_parse_from(["melwrap", "keygen"]).unwrap();
        let Command::Keygen(a) = cli.command else {
            panic!("not keygen")
        };
        assert_eq!(
            (a.name.to_str(), a.key_size, a.force),
            (Some("melange.rsa"), 4096, false)
        );
        let cli = Cli::try_parse_from([
            "melwrap",
            "keygen",
            "k.rsa",
            "--key-size",
            "2048",
            "--force",
        ])
        .unwrap();
        let Command::Keygen(a) = cli.command else {
            panic!("not keygen")
        };
        assert_eq!(
            (a.name.to_str(), a.key_size, a.force),
            (Some("k.rsa"), 2048, true)
        );
    }
}
