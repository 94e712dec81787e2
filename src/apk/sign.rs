//! RSA signing of packages and indexes, the apk v2 way.
//!
//! A signature is RSA PKCS#1 v1.5 with SHA-256 (`apko:pkg/apk/signature/rsa.go`), stored in a
//! gzip member that holds a tar with one entry, `.SIGN.RSA256.<key file name>.pub`, and no
//! end-of-archive blocks (melange `pkg/sign/apk.go`, `pkg/sign/index.go`). apk-tools finds the
//! public key by that name in `/etc/apk/keys`, so the key's file name matters.

use std::io::Write;
use std::path::{Path, PathBuf};

use color_eyre::eyre;
use rsa::PrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use sha2::{Digest, Sha256};

use super::tar::{self, Header};
use crate::diag::Diagnostic;

/// A loaded private key and the name its signatures carry.
pub struct Signer {
    key: PrivateKey,
    key_name: String,
    path: PathBuf,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_name", &self.key_name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Read a PEM RSA private key: PKCS#1 (`RSA PRIVATE KEY`, what `melange keygen` and
    /// `openssl genrsa` write) or unencrypted PKCS#8 (`PRIVATE KEY`).
    pub fn from_pem_file(path: &Path) -> eyre::Result<Signer> {
        let bytes = crate::bounded_read::read_regular(path, crate::bounded_read::MAX_KEY_BYTES)
            .map_err(|e| {
                Diagnostic::new(path, format!("cannot read signing key: {e}"))
                    .hint("pass a readable RSA private key, or make one with `melwrap keygen`")
            })?;
        let text = String::from_utf8(bytes).map_err(|_| not_a_key(path, "it is not PEM text"))?;
        Self::from_pem(path, &text)
    }

    /// Parse PEM text; `path` names the key in signatures and messages.
    pub fn from_pem(path: &Path, text: &str) -> eyre::Result<Signer> {
        let key = if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
            if text.contains("ENCRYPTED") {
                return Err(Diagnostic::new(path, "the signing key is encrypted")
                    .hint(
                        "melwrap reads unencrypted keys only; decrypt it with \
                         `openssl rsa -in KEY -out KEY.plain -traditional`",
                    )
                    .into());
            }
            PrivateKey::from_pkcs1_pem(text).map_err(|e| not_a_key(path, &e.to_string()))?
        } else if text.contains("-----BEGIN PRIVATE KEY-----") {
            PrivateKey::from_pkcs8_pem(text).map_err(|e| not_a_key(path, &e.to_string()))?
        } else if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(Diagnostic::new(path, "the signing key is encrypted")
                .hint("melwrap reads unencrypted keys only; decrypt it with `openssl pkey`")
                .into());
        } else {
            return Err(not_a_key(path, "no `RSA PRIVATE KEY` PEM block found").into());
        };
        let key_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| not_a_key(path, "the key path has no file name"))?;
        Ok(Signer {
            key,
            key_name,
            path: path.to_path_buf(),
        })
    }

    /// The path the key was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `.SIGN.RSA256.<key file name>.pub`: apk-tools looks up `<key file name>.pub`.
    pub fn signature_name(&self) -> String {
        format!(".SIGN.RSA256.{}.pub", self.key_name)
    }

    /// RSA PKCS#1 v1.5 signature over the SHA-256 of `data`.
    pub fn sign(&self, data: &[u8]) -> eyre::Result<Vec<u8>> {
        let digest = Sha256::digest(data);
        self.key
            .pkcs1v15_sign_prehash::<Sha256>(&digest)
            .map_err(|e| eyre::eyre!("signing with {} failed: {e}", self.path.display()))
    }

    /// The gzip member holding the signature of `data` (tar entry with `mtime`, no end blocks).
    pub fn signature_member(&self, data: &[u8], mtime: u64) -> eyre::Result<Vec<u8>> {
        let sig = self.sign(data)?;
        let mut t = Vec::new();
        let header = Header::root_file(&self.signature_name(), 0o644, sig.len() as u64, mtime);
        tar::append_bytes(&mut t, &header, &sig);
        gzip_member(&t)
    }
}

fn not_a_key(path: &Path, why: &str) -> Diagnostic {
    Diagnostic::new(path, format!("not a usable RSA private key: {why}"))
        .hint("use a PEM RSA private key, such as one made by `melwrap keygen` or `openssl genrsa`")
}

/// One gzip member at the default level with Go's header (mtime 0, OS unknown).
pub fn gzip_member(data: &[u8]) -> eyre::Result<Vec<u8>> {
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::new(6));
    gz.write_all(data)?;
    Ok(gz.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_clear_error() {
        let err = Signer::from_pem(Path::new("k.rsa"), "hello").unwrap_err();
        let msg = format!("{err}");
        assert!(
            msg.contains("k.rsa") && msg.contains("not a usable RSA private key"),
            "{msg}"
        );
        let err = Signer::from_pem(
            Path::new("k.rsa"),
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(format!("{err}").contains("not a usable"), "{err}");
    }

    #[test]
    fn gzip_member_has_a_fixed_header() {
        let gz = gzip_member(b"abc").unwrap();
        assert_eq!(&gz[..10], &super::super::pgz::GZIP_HEADER);
    }
}
