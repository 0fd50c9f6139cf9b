//! IDs and secrets. Numeric IDs look like BaseSpace's (10–11 digits); demo data derives them from
//! names so they are stable across restarts.

use rand::Rng;
use sha2::{Digest, Sha256};

const ID_LOW: u64 = 1_000_000_000;
const ID_HIGH: u64 = 99_999_999_999;

/// A new random numeric ID.
pub fn numeric() -> String {
    rand::rng().random_range(ID_LOW..=ID_HIGH).to_string()
}

/// A numeric ID derived from `seed` (deterministic, for demo data).
pub fn numeric_from(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut n = [0u8; 8];
    n.copy_from_slice(&digest[..8]);
    (ID_LOW + u64::from_be_bytes(n) % (ID_HIGH - ID_LOW)).to_string()
}

/// A new dataset ID: `ds.` + 32 hex digits.
pub fn dataset() -> String {
    format!("ds.{}", hex::encode(rand::rng().random::<[u8; 16]>()))
}

/// A dataset ID derived from `seed` (demo data).
pub fn dataset_from(seed: &str) -> String {
    format!("ds.{}", hex::encode(&Sha256::digest(seed.as_bytes())[..16]))
}

/// A number for a legacy `sample.<n>` ID.
pub fn v1_number() -> i64 {
    rand::rng().random_range(100_000_000_i64..=999_999_999_i64)
}

/// A v1 number derived from `seed` (demo data).
pub fn v1_number_from(seed: &str) -> i64 {
    let digest = Sha256::digest(format!("v1:{seed}").as_bytes());
    let mut n = [0u8; 8];
    n.copy_from_slice(&digest[..8]);
    100_000_000 + (u64::from_be_bytes(n) % 900_000_000) as i64
}

/// A secret token: 32 random bytes as 64 lowercase hex digits.
pub fn secret() -> String {
    ferry_security::secret::random_hex()
}

/// SHA-256 of a secret, hex: what the database stores instead of the secret.
pub fn hash_secret(secret: &str) -> String {
    ferry_security::secret::hash(secret)
}

/// A key for a new blob.
pub fn blob_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Alphabet of user codes: no vowels (no words), no look-alikes (0/O, 1/I/L, 5/S, 2/Z).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKMNPQRTVWXY346789";

/// A new device-login user code, 8 characters shown as `XXXX-XXXX`. 24^8 ≈ 1.1e11 values.
pub fn user_code() -> String {
    let mut rng = rand::rng();
    let chars: String = (0..8)
        .map(|_| USER_CODE_ALPHABET[rng.random_range(0..USER_CODE_ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// Normalises a user code as typed (case, spaces, dashes) to the stored `XXXX-XXXX` form.
pub fn normalise_user_code(text: &str) -> Option<String> {
    let chars: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if chars.len() != 8 || !chars.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)) {
        return None;
    }
    Some(format!("{}-{}", &chars[..4], &chars[4..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_basespace_shapes() {
        for _ in 0..100 {
            let id = numeric();
            assert!(
                (10..=11).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()),
                "{id}"
            );
        }
        assert_eq!(numeric_from("a"), numeric_from("a"));
        assert_ne!(numeric_from("a"), numeric_from("b"));
        let ds = dataset();
        assert!(ds.starts_with("ds.") && ds.len() == 35);
        assert_eq!(secret().len(), 64);
        let code = user_code();
        assert_eq!(normalise_user_code(&code.to_lowercase().replace('-', " ")), Some(code));
        assert_eq!(normalise_user_code("AAAA-AAAA"), None);
    }
}
