//! Signed, expiring URLs for file content and upload parts (HMAC-SHA256, constant-time check).
//! The key lives in the database (`settings`), made on first start, so every hub instance on
//! the same database signs alike.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::error::ApiError;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Signs and checks URL signatures.
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    /// Loads the key, creating it on first start (concurrent starts agree on one key).
    pub async fn load_or_create(db: &ferry_db::Db) -> anyhow::Result<Signer> {
        let fresh = crate::ids::secret();
        sqlx::query("INSERT INTO settings (name, value) VALUES ('url_signing_key', $1) ON CONFLICT (name) DO NOTHING")
            .bind(fresh)
            .execute(&db.pool)
            .await?;
        let key: String = sqlx::query_scalar("SELECT value FROM settings WHERE name = 'url_signing_key'")
            .fetch_one(&db.pool)
            .await?;
        let key = hex::decode(key.trim())?;
        Ok(Signer { key })
    }

    fn mac(&self, purpose: &str, subject: &str, expires: i64) -> HmacSha256 {
        // new_from_slice accepts keys of any length for HMAC.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(subject.as_bytes());
        mac.update(b"\0");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The signature (hex) of `subject` for `purpose` until `expires` (Unix seconds).
    pub fn sign(&self, purpose: &str, subject: &str, expires: i64) -> String {
        hex::encode(self.mac(purpose, subject, expires).finalize().into_bytes())
    }

    /// Checks a signature and its expiry; 403 when tampered or expired.
    pub fn verify(
        &self,
        purpose: &str,
        subject: &str,
        expires: Option<&str>,
        sig: Option<&str>,
    ) -> Result<(), ApiError> {
        let refused = |why: &str| {
            ApiError::forbidden(format!(
                "This signed URL is {why}. Ask the API for a fresh URL (for example GET …/files/ID/content)."
            ))
        };
        let expires: i64 = expires
            .and_then(|e| e.parse().ok())
            .ok_or_else(|| refused("missing its expiry"))?;
        let sig = sig
            .and_then(|s| hex::decode(s).ok())
            .ok_or_else(|| refused("missing its signature"))?;
        self.mac(purpose, subject, expires)
            .verify_slice(&sig)
            .map_err(|_| refused("not valid (its signature does not match)"))?;
        if expires < now_secs() {
            return Err(refused("expired"));
        }
        Ok(())
    }
}

/// Current Unix time in seconds.
pub fn now_secs() -> i64 {
    ferry_api::dates::now_millis() / 1000
}
