//! `melwrap keygen`: an RSA key pair in the formats melange and apk-tools use.
//!
//! Like melange (`pkg/cli/keygen.go`): the private key is PEM PKCS#1 (`RSA PRIVATE KEY`), the
//! public key `<name>.pub` is PEM PKIX (`PUBLIC KEY`), 4096 bits by default, and fewer than 2048
//! bits are refused. Unlike melange, the private key is created with mode 0600 (melange leaves
//! it to the umask, usually 0644), existing files are never overwritten without `force`, and
//! both files are written under temporary names and renamed into place.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{self, WrapErr};
use rsa::PrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};

use crate::diag::Diagnostic;

/// The smallest key `keygen` makes (melange's limit too).
pub const MIN_KEY_BITS: usize = 2048;

/// The two files `keygen` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub private: PathBuf,
    pub public: PathBuf,
}

/// `<private>.pub`.
pub fn public_key_path(private: &Path) -> PathBuf {
    let mut s = private.as_os_str().to_os_string();
    s.push(".pub");
    PathBuf::from(s)
}

/// Generate a key of `bits` and write `path` (0600) and `path.pub` (0644).
pub fn generate(path: &Path, bits: usize, force: bool) -> eyre::Result<KeyPair> {
    if bits < MIN_KEY_BITS {
        return Err(Diagnostic::new(
            path,
            format!("a {bits}-bit key is too small: at least {MIN_KEY_BITS} bits are needed"),
        )
        .hint("use `--key-size 4096` (the default)")
        .into());
    }
    let public = public_key_path(path);
    if !force {
        for p in [path, public.as_path()] {
            if p.symlink_metadata().is_ok() {
                return Err(Diagnostic::new(p, "already exists; not overwriting it")
                    .hint("pick another name, or pass `--force` to replace the key pair")
                    .into());
            }
        }
    }
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(Diagnostic::new(dir, "directory does not exist")
            .hint("create it first, or give keygen a path in an existing directory")
            .into());
    }
    let mut rng = getrandom::SysRng;
    let key = PrivateKey::new(&mut rng, bits)
        .map_err(|e| eyre::eyre!("generating a {bits}-bit RSA key failed: {e}"))?;
    let private_pem = key
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| eyre::eyre!("encoding the private key failed: {e}"))?;
    let public_pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| eyre::eyre!("encoding the public key failed: {e}"))?;
    // Public key first: if anything fails after it, no private key exists without its pair.
    write_new(&public, public_pem.as_bytes(), 0o644, force)?;
    if let Err(e) = write_new(path, private_pem.as_bytes(), 0o600, force) {
        if !force {
            let _ = fs_err::remove_file(&public);
        }
        return Err(e);
    }
    Ok(KeyPair {
        private: path.to_path_buf(),
        public,
    })
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Write under a temporary name in the same directory, then rename; without `force` the
/// rename refuses to replace an existing file (a race with another writer loses nothing).
fn write_new(path: &Path, data: &[u8], mode: u32, force: bool) -> eyre::Result<()> {
    let dir = parent_dir(path);
    let base = path.file_name().unwrap_or_default().to_string_lossy();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{base}.tmp-"))
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| Diagnostic::new(dir, format!("cannot create a file here: {e}")))?;
    // The umask may have narrowed the mode; set it exactly.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .wrap_err_with(|| format!("cannot set the mode of {}", tmp.path().display()))?;
    tmp.write_all(data)
        .and_then(|_| tmp.as_file().sync_all())
        .wrap_err_with(|| format!("cannot write {}", tmp.path().display()))?;
    if force {
        tmp.persist(path)
            .map_err(|e| eyre::eyre!("cannot write {}: {}", path.display(), e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            Diagnostic::new(path, format!("cannot create it: {}", e.error))
                .hint("pass `--force` to replace an existing key pair")
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_small_keys_and_existing_files() {
        let t = tempfile::tempdir().unwrap();
        let k = t.path().join("k.rsa");
        let err = generate(&k, 1024, false).unwrap_err();
        assert!(format!("{err}").contains("too small"), "{err}");
        fs_err::write(k.with_extension("rsa.pub"), "x").unwrap();
        let err = generate(&k, 2048, false).unwrap_err();
        assert!(format!("{err}").contains("already exists"), "{err}");
        assert!(!k.exists());
    }

    #[test]
    fn public_path_appends_pub() {
        assert_eq!(
            public_key_path(Path::new("a/melange.rsa")),
            PathBuf::from("a/melange.rsa.pub")
        );
    }
}
