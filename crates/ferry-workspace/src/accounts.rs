//! Workspace users, browser sessions and API keys.

use ferry_db::Db;
use sqlx::Row;

use crate::crypto::{random_token, token_hash};

/// How long a browser session lasts without logging in again.
pub const SESSION_LIFETIME_MILLIS: i64 = 14 * 24 * 3600 * 1000;

/// Errors of account operations.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Sign-up with an email that already has an account.
    #[error("an account for {0} already exists; log in instead")]
    EmailTaken(String),
    /// Invalid sign-up data.
    #[error("{0}")]
    Invalid(String),
    /// Wrong email or password.
    #[error("wrong email or password")]
    BadCredentials,
    /// No such user.
    #[error("no workspace user {0}; create it with `ferry workspace user add {0} --password …`")]
    NoSuchUser(String),
    /// Database failure.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Password hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// A workspace user.
#[derive(Debug, Clone)]
pub struct User {
    /// User id.
    pub id: String,
    /// Email (login name).
    pub email: String,
}

/// A logged-in browser session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user.
    pub user: User,
    /// The session's CSRF token, required in every form POST.
    pub csrf_token: String,
}

fn normalize_email(email: &str) -> Result<String, AccountError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AccountError::Invalid(format!("{email:?} is not an email address")))
    }
}

async fn hash_password(password: String) -> Result<String, AccountError> {
    ferry_security::password::hash(&password)
        .await
        .map_err(|error| AccountError::Hash(error.to_string()))
}

/// Creates a user; the password must have at least 8 characters unless `allow_short` (admin CLI, demo).
pub async fn create_user(db: &Db, email: &str, password: &str, allow_short: bool) -> Result<User, AccountError> {
    let email = normalize_email(email)?;
    if password.is_empty() || (!allow_short && password.chars().count() < 8) {
        return Err(AccountError::Invalid(
            "choose a password of at least 8 characters".to_string(),
        ));
    }
    let hash = hash_password(password.to_string()).await?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING",
    )
    .bind(&id)
    .bind(&email)
    .bind(&hash)
    .bind(ferry_api::dates::now_millis())
    .execute(&db.pool)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(AccountError::EmailTaken(email));
    }
    Ok(User { id, email })
}

/// The user with this email.
pub async fn find_user(db: &Db, email: &str) -> Result<User, AccountError> {
    let email_norm = email.trim().to_lowercase();
    let row = sqlx::query("SELECT id, email FROM users WHERE email = $1")
        .bind(&email_norm)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| AccountError::NoSuchUser(email.to_string()))?;
    Ok(User {
        id: row.try_get(0)?,
        email: row.try_get(1)?,
    })
}

/// Checks an email and password.
pub async fn authenticate(db: &Db, email: &str, password: &str) -> Result<User, AccountError> {
    let email_norm = email.trim().to_lowercase();
    let row = sqlx::query("SELECT id, email, password_hash FROM users WHERE email = $1")
        .bind(&email_norm)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else {
        ferry_security::password::verify_unknown_account(password).await;
        return Err(AccountError::BadCredentials);
    };
    let hash: String = row.try_get(2)?;
    if ferry_security::password::verify(password, &hash).await {
        Ok(User {
            id: row.try_get(0)?,
            email: row.try_get(1)?,
        })
    } else {
        Err(AccountError::BadCredentials)
    }
}

/// Starts a session; returns the cookie value (never stored; only its hash is).
pub async fn create_session(db: &Db, user: &User) -> Result<String, AccountError> {
    let token = random_token();
    let now = ferry_api::dates::now_millis();
    // Expired sessions are useless; drop them whenever someone logs in.
    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(&user.id)
    .bind(random_token())
    .bind(now)
    .bind(now + SESSION_LIFETIME_MILLIS)
    .execute(&db.pool)
    .await?;
    Ok(token)
}

/// The live session for a cookie value.
pub async fn session(db: &Db, cookie: &str) -> Result<Option<Session>, AccountError> {
    let row = sqlx::query(
        "SELECT u.id, u.email, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash(cookie))
    .bind(ferry_api::dates::now_millis())
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Session {
        user: User {
            id: row.try_get(0)?,
            email: row.try_get(1)?,
        },
        csrf_token: row.try_get(2)?,
    }))
}

/// Ends a session.
pub async fn delete_session(db: &Db, cookie: &str) -> Result<(), AccountError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash(cookie))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Creates an API key for a user; returns the key (shown once, stored only as a hash).
pub async fn create_api_key(db: &Db, user: &User) -> Result<String, AccountError> {
    let key = format!("fwk_{}", random_token());
    sqlx::query("INSERT INTO api_keys (id, user_id, key_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .bind(&user.id)
        .bind(token_hash(&key))
        .bind(ferry_api::dates::now_millis())
        .execute(&db.pool)
        .await?;
    Ok(key)
}

/// The user an API key belongs to.
pub async fn user_for_api_key(db: &Db, key: &str) -> Result<Option<User>, AccountError> {
    let row =
        sqlx::query("SELECT u.id, u.email FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1")
            .bind(token_hash(key))
            .fetch_optional(&db.pool)
            .await?;
    Ok(match row {
        Some(row) => Some(User {
            id: row.try_get(0)?,
            email: row.try_get(1)?,
        }),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_normalised() {
        assert_eq!(normalize_email(" Ada@Example.ORG ").unwrap(), "ada@example.org");
        assert!(normalize_email("no-at-sign").is_err());
        assert!(normalize_email("a@").is_err());
        assert!(normalize_email("a b@c.d").is_err());
    }
}
