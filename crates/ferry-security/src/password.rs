//! Passwords: argon2id with a random salt, hashed and verified on the blocking pool so that a
//! login never stalls the server's async threads.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Hashing a password failed (the hasher itself failed; not a wrong password).
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

fn hash_blocking(password: &[u8]) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|error| HashError(error.to_string()))
}

fn verify_blocking(password: &[u8], hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password, &parsed).is_ok())
        .unwrap_or(false)
}

/// Hashes `password` (argon2id, random salt) into a PHC string.
pub async fn hash(password: &str) -> Result<String, HashError> {
    let password = password.as_bytes().to_vec();
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|error| HashError(error.to_string()))?
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub async fn verify(password: &str, hash: &str) -> bool {
    let password = password.as_bytes().to_vec();
    let hash = hash.to_string();
    tokio::task::spawn_blocking(move || verify_blocking(&password, &hash))
        .await
        .unwrap_or(false)
}

/// Spends the time of one verification and returns false: for logins naming an account that does
/// not exist, so that the answer's timing does not tell which accounts exist.
pub async fn verify_unknown_account(password: &str) -> bool {
    static DECOY: OnceLock<String> = OnceLock::new();
    let password = password.as_bytes().to_vec();
    tokio::task::spawn_blocking(move || {
        let decoy = DECOY.get_or_init(|| hash_blocking(crate::secret::random_hex().as_bytes()).unwrap_or_default());
        let _ = verify_blocking(&password, decoy);
        false
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_only_when_right() {
        let stored = hash("s3cret").await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("s3cret", &stored).await);
        assert!(!verify("S3cret", &stored).await);
        assert!(!verify("s3cret", "not a hash").await);
        assert!(!verify_unknown_account("s3cret").await);
    }
}
