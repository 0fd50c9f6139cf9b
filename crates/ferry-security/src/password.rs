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

/// Reading `--password-stdin` failed.
#[derive(Debug, thiserror::Error)]
pub enum StdinPasswordError {
    /// Standard input could not be read.
    #[error("cannot read the password from standard input (--password-stdin): {0}")]
    Read(#[from] std::io::Error),
    /// Nothing came.
    #[error(
        "no password on standard input: pipe it in, e.g. `printf '%s\\n' \"$PASSWORD\" | {command} --password-stdin`"
    )]
    Empty {
        /// The command, for the example (`ferry hub user add EMAIL`).
        command: String,
    },
}

/// The password of `--password-stdin`: the first line of `input`, without its line ending (spaces
/// are part of the password). `command` names the command for the error's example.
pub fn read_line(mut input: impl std::io::BufRead, command: &str) -> Result<String, StdinPasswordError> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    let password = line
        .strip_suffix('\n')
        .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
        .unwrap_or(&line);
    if password.is_empty() {
        return Err(StdinPasswordError::Empty {
            command: command.to_string(),
        });
    }
    Ok(password.to_string())
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

    #[test]
    fn stdin_passwords_keep_their_spaces_and_lose_only_the_line_ending() {
        assert_eq!(read_line(&b" a b \r\nrest"[..], "x").unwrap(), " a b ");
        assert_eq!(read_line(&b"last line"[..], "x").unwrap(), "last line");
        let empty = read_line(&b"\n"[..], "ferry hub user add E").unwrap_err().to_string();
        assert!(empty.contains("ferry hub user add E --password-stdin"), "{empty}");
    }
}
