//! Index signatures, as apk-tools checks them: the first gzip member of `APKINDEX.tar.gz`
//! holds `.SIGN.RSA.<key>` (RSA PKCS#1 v1.5 over SHA-1) or `.SIGN.RSA256.<key>` (over
//! SHA-256) entries; what is signed is every byte after that member. `<key>` is the file name
//! of a public key in the keyring.

use std::collections::BTreeMap;
use std::path::Path;

use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, PublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// One signature found in an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// `RSA` (SHA-1) or `RSA256` (SHA-256).
    pub algorithm: SigAlgorithm,
    /// The key file name it names.
    pub key_name: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlgorithm {
    Sha1,
    Sha256,
}

impl Signature {
    /// From a signature member's entry name (`.SIGN.RSA256.foo.rsa.pub`); `None` for others.
    pub fn from_entry(name: &str, bytes: Vec<u8>) -> Option<Signature> {
        let (algorithm, key_name) = if let Some(k) = name.strip_prefix(".SIGN.RSA256.") {
            (SigAlgorithm::Sha256, k)
        } else if let Some(k) = name.strip_prefix(".SIGN.RSA.") {
            (SigAlgorithm::Sha1, k)
        } else {
            return None;
        };
        Some(Signature {
            algorithm,
            key_name: key_name.to_string(),
            bytes,
        })
    }
}

/// Trusted public keys by file name (apk's `/etc/apk/keys`).
#[derive(Debug, Default, Clone)]
pub struct Keyring {
    keys: BTreeMap<String, PublicKey>,
}

impl Keyring {
    /// Add a PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`) under `name`.
    pub fn add_pem(&mut self, name: &str, pem: &str) -> Result<(), String> {
        let key = PublicKey::from_public_key_pem(pem)
            .or_else(|_| PublicKey::from_pkcs1_pem(pem))
            .map_err(|e| format!("not an RSA public key in PEM form: {e}"))?;
        self.keys.insert(name.to_string(), key);
        Ok(())
    }

    /// Read a key file; its file name is the name signatures use.
    pub fn add_file(&mut self, path: &Path) -> Result<(), String> {
        let bytes = crate::bounded_read::read_regular(path, crate::bounded_read::MAX_KEY_BYTES)
            .map_err(|e| format!("{}: cannot read key: {e}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        self.add_pem(&name, &text)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Check `signed` against the signatures: Ok with the key name that verified, or why not.
    pub fn verify(&self, sigs: &[Signature], signed: &[u8]) -> Result<String, VerifyError> {
        if sigs.is_empty() {
            return Err(VerifyError::Unsigned);
        }
        let mut unknown = Vec::new();
        let mut bad = Vec::new();
        for s in sigs {
            let Some(key) = self.keys.get(&s.key_name) else {
                unknown.push(s.key_name.clone());
                continue;
            };
            let (scheme, digest) = match s.algorithm {
                SigAlgorithm::Sha1 => (scheme(&SHA1_PREFIX, 20), Sha1::digest(signed).to_vec()),
                SigAlgorithm::Sha256 => {
                    (scheme(&SHA256_PREFIX, 32), Sha256::digest(signed).to_vec())
                }
            };
            match key.verify(scheme, &digest, &s.bytes) {
                Ok(()) => return Ok(s.key_name.clone()),
                Err(_) => bad.push(s.key_name.clone()),
            }
        }
        if bad.is_empty() {
            Err(VerifyError::UnknownKey(unknown))
        } else {
            Err(VerifyError::BadSignature(bad))
        }
    }
}

/// Why an index was not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// No signature at all.
    Unsigned,
    /// Signed only by keys not in the keyring (their names).
    UnknownKey(Vec<String>),
    /// A key in the keyring did not verify the signature (the data or signature was changed).
    BadSignature(Vec<String>),
}

// DER DigestInfo prefixes (RFC 8017 9.2 note 1), spelled out so no hash OID feature is needed.
const SHA1_PREFIX: [u8; 15] = [
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];
const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

fn scheme(prefix: &[u8], len: usize) -> Pkcs1v15Sign {
    Pkcs1v15Sign {
        hash_len: Some(len),
        prefix: prefix.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_entry_names() {
        let s = Signature::from_entry(".SIGN.RSA.k.rsa.pub", vec![]).unwrap();
        assert_eq!(
            (s.algorithm, s.key_name.as_str()),
            (SigAlgorithm::Sha1, "k.rsa.pub")
        );
        let s = Signature::from_entry(".SIGN.RSA256.k.rsa.pub", vec![]).unwrap();
        assert_eq!(s.algorithm, SigAlgorithm::Sha256);
        assert!(Signature::from_entry("APKINDEX", vec![]).is_none());
    }

    #[test]
    fn empty_signature_list_is_unsigned() {
        assert_eq!(
            Keyring::default().verify(&[], b"x"),
            Err(VerifyError::Unsigned)
        );
    }
}
