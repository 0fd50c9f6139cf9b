//! Secrets at rest: third-party access tokens are sealed with XChaCha20-Poly1305 under a workspace
//! key, with a key id stored beside each ciphertext (for rotation) and the owner and purpose bound
//! in as associated data, so a ciphertext copied to another user's row does not decrypt.
//!
//! Keys come from `FERRY_WORKSPACE_KEY` (base64 of 32 bytes), or from the key file `workspace.key`
//! in the data directory, created on first run with mode 0600. The key file holds one base64 key
//! per line: the first encrypts, every line decrypts (to rotate, put a new key on the first line).

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Environment variable holding the workspace key (base64 of 32 bytes).
pub const KEY_ENV: &str = "FERRY_WORKSPACE_KEY";
/// Name of the key file in the data directory.
pub const KEY_FILE: &str = "workspace.key";

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// Errors loading keys or opening sealed secrets.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key material is unusable.
    #[error("workspace key {source_name}: {message}")]
    BadKey {
        /// Where the key came from.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing the key file failed.
    #[error("workspace key file {path}: {source}")]
    Io {
        /// Key file path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// No key with this id is configured.
    #[error(
        "this secret was sealed with workspace key {0}, which is not configured any more; restore that key \
         (key file line or {KEY_ENV}) or set the secret again"
    )]
    UnknownKey(String),
    /// The ciphertext is damaged or belongs to another owner.
    #[error("the stored secret cannot be decrypted (damaged, or not sealed for this user); set it again")]
    Corrupt,
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// The workspace keys: one current key that seals, all keys open.
pub struct Keyring {
    keys: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|key| key.id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

/// A sealed secret: the id of the key that sealed it and base64 of `version || nonce || ciphertext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Id of the sealing key.
    pub key_id: String,
    /// Base64 text of the sealed bytes.
    pub ciphertext: String,
}

fn key_from_base64(text: &str, source_name: &str) -> Result<Key, CryptoError> {
    let bytes = B64.decode(text.trim()).map_err(|error| CryptoError::BadKey {
        source_name: source_name.to_string(),
        message: format!("not base64 ({error})"),
    })?;
    if bytes.len() != 32 {
        return Err(CryptoError::BadKey {
            source_name: source_name.to_string(),
            message: format!("expected 32 bytes, found {}", bytes.len()),
        });
    }
    let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| CryptoError::BadKey {
        source_name: source_name.to_string(),
        message: "unusable key".to_string(),
    })?;
    let digest = Sha256::digest(&bytes);
    Ok(Key {
        id: format!("k{}", &hex::encode(digest)[..12]),
        cipher,
    })
}

impl Keyring {
    /// Loads the keys from [`KEY_ENV`] when set, else from `data_dir/workspace.key`, creating that
    /// file (mode 0600) with a new random key when it does not exist.
    pub fn load_or_create(data_dir: &Path) -> Result<Keyring, CryptoError> {
        if let Ok(text) = std::env::var(KEY_ENV)
            && !text.trim().is_empty()
        {
            return Self::from_lines(&text.replace(',', "\n"), KEY_ENV);
        }
        let path = data_dir.join(KEY_FILE);
        let io_error = |source| CryptoError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_lines(&text, &path.display().to_string()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                let line = format!("{}\n", B64.encode(key));
                let temp = data_dir.join(format!(".{KEY_FILE}.{}", std::process::id()));
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&temp).map_err(io_error)?;
                file.write_all(line.as_bytes()).map_err(io_error)?;
                file.sync_all().map_err(io_error)?;
                drop(file);
                // hard_link fails if another process created the key meanwhile: use theirs.
                let linked = std::fs::hard_link(&temp, &path);
                let _ = std::fs::remove_file(&temp);
                match linked {
                    Ok(()) => {}
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(error) => return Err(io_error(error)),
                }
                let text = std::fs::read_to_string(&path).map_err(io_error)?;
                Self::from_lines(&text, &path.display().to_string())
            }
            Err(error) => Err(io_error(error)),
        }
    }

    /// Keys from text with one base64 key per line (blank lines and `#` comments ignored).
    pub fn from_lines(text: &str, source_name: &str) -> Result<Keyring, CryptoError> {
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| key_from_base64(line, source_name))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(CryptoError::BadKey {
                source_name: source_name.to_string(),
                message: "no key found".to_string(),
            });
        }
        Ok(Keyring { keys })
    }

    /// Id of the key that seals new secrets.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    fn aad(owner: &str, purpose: &str) -> Vec<u8> {
        format!("ferry-workspace\0{purpose}\0{owner}").into_bytes()
    }

    /// Seals `secret` for `owner` (a user id) and `purpose` (what the secret is for).
    pub fn seal(&self, owner: &str, purpose: &str, secret: &str) -> Result<Sealed, CryptoError> {
        let key = &self.keys[0];
        let mut nonce_bytes = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce_bytes);
        let nonce = XNonce::from(nonce_bytes);
        let aad = Self::aad(owner, purpose);
        let ciphertext = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Corrupt)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ciphertext);
        Ok(Sealed {
            key_id: key.id.clone(),
            ciphertext: B64.encode(out),
        })
    }

    /// Opens a secret sealed by [`Keyring::seal`] for the same owner and purpose.
    pub fn open(&self, owner: &str, purpose: &str, sealed: &Sealed) -> Result<String, CryptoError> {
        let key = self
            .keys
            .iter()
            .find(|key| key.id == sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        let bytes = B64.decode(&sealed.ciphertext).map_err(|_| CryptoError::Corrupt)?;
        if bytes.len() < 1 + NONCE_LEN || bytes[0] != FORMAT_VERSION {
            return Err(CryptoError::Corrupt);
        }
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(&bytes[1..1 + NONCE_LEN]);
        let nonce = XNonce::from(nonce_bytes);
        let aad = Self::aad(owner, purpose);
        let plain = key
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &bytes[1 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Corrupt)
    }
}

/// 32 random bytes as URL-safe base64 without padding (session ids, API keys, CSRF tokens).
pub fn random_token() -> String {
    ferry_security::secret::random_urlsafe()
}

/// Hex SHA-256 of a token, the only form in which session ids and API keys are stored.
pub fn token_hash(token: &str) -> String {
    ferry_security::secret::hash(token)
}

/// Constant-time equality of two strings (CSRF tokens).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    ferry_security::secret::constant_time_eq(a.as_bytes(), b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_for_the_same_owner_and_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::load_or_create(dir.path()).unwrap();
        let sealed = keyring.seal("user-1", "basespace", "secret-token-1234").unwrap();
        assert!(!sealed.ciphertext.contains("secret-token"));
        assert_eq!(
            keyring.open("user-1", "basespace", &sealed).unwrap(),
            "secret-token-1234"
        );
        assert!(matches!(
            keyring.open("user-2", "basespace", &sealed),
            Err(CryptoError::Corrupt)
        ));
        assert!(matches!(
            keyring.open("user-1", "other", &sealed),
            Err(CryptoError::Corrupt)
        ));
        // Reloading reads the same key file.
        let again = Keyring::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open("user-1", "basespace", &sealed).unwrap(), "secret-token-1234");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn rotation_keeps_old_secrets_readable() {
        let old = B64.encode([1u8; 32]);
        let new = B64.encode([2u8; 32]);
        let before = Keyring::from_lines(&old, "test").unwrap();
        let sealed = before.seal("u", "p", "tok").unwrap();
        let after = Keyring::from_lines(&format!("{new}\n{old}\n"), "test").unwrap();
        assert_ne!(after.current_key_id(), sealed.key_id);
        assert_eq!(after.open("u", "p", &sealed).unwrap(), "tok");
        let only_new = Keyring::from_lines(&new, "test").unwrap();
        assert!(matches!(
            only_new.open("u", "p", &sealed),
            Err(CryptoError::UnknownKey(_))
        ));
        assert!(Keyring::from_lines("not base64!", "test").is_err());
        assert!(Keyring::from_lines(&B64.encode([0u8; 16]), "test").is_err());
    }
}
