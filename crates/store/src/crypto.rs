//! Encryption of secrets at rest.
//!
//! A random 256-bit key is created once in `master.key` (mode 0600) in the data
//! directory. Each secret is sealed with ChaCha20-Poly1305 under a fresh random
//! nonce, with the row it belongs to as associated data, so a sealed value
//! copied onto another row does not decrypt.

use crate::StoreError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::io::Write;
use std::path::Path;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Io(format!("no randomness available: {e}")))?;
    Ok(buf)
}

impl SecretBox {
    pub fn load_or_create(path: &Path) -> Result<SecretBox, StoreError> {
        let key = match std::fs::read(path) {
            Ok(bytes) if bytes.len() == KEY_LEN => bytes,
            Ok(_) => return Err(StoreError::Io(format!("{} is not a 32-byte key", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<KEY_LEN>()?;
                write_private(path, &key)?;
                key.to_vec()
            }
            Err(e) => return Err(StoreError::Io(format!("cannot read {}: {e}", path.display()))),
        };
        Ok(SecretBox { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) })
    }

    /// Seals `plain`, bound to `context` (e.g. `job:abc:src`).
    pub fn seal(&self, context: &str, plain: &str) -> Result<Vec<u8>, StoreError> {
        let nonce = random_bytes::<NONCE_LEN>()?;
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain.as_bytes(), aad: context.as_bytes() })
            .map_err(|_| StoreError::Io("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<String, StoreError> {
        if sealed.len() < NONCE_LEN {
            return Err(StoreError::Decrypt);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: context.as_bytes() })
            .map_err(|_| StoreError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| StoreError::Decrypt)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| StoreError::Io(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_context_binding() {
        let dir = std::env::temp_dir().join(format!("opendts-crypto-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let b = SecretBox::load_or_create(&dir.join("k")).unwrap();
        let sealed = b.seal("ak:1", "top-secret").unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("top-secret"));
        assert_eq!(b.open("ak:1", &sealed).unwrap(), "top-secret");
        assert!(b.open("ak:2", &sealed).is_err());
        // The key survives a reload.
        let again = SecretBox::load_or_create(&dir.join("k")).unwrap();
        assert_eq!(again.open("ak:1", &sealed).unwrap(), "top-secret");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
