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
    #[error("no workspace user {0}; create it with `ferry workspace user add {0} --password-stdin`")]
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
    // Hashed before looking at the email, so a taken email costs the same time as a new one and
    // sign-up timing does not tell which emails have accounts.
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

/// Longest name of an API key, in characters.
pub const MAX_API_KEY_NAME: usize = 100;

/// Longest lifetime of an expiring API key; a key meant to live longer is made without expiry.
pub const MAX_API_KEY_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10 * 366 * 24 * 3600);

/// `last_used_at` is written at most this often per key, so busy scripts do not write on every call.
const LAST_USED_RESOLUTION_MILLIS: i64 = 60 * 1000;

/// What a lifetime such as `30d` could not be read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifetimeError {
    /// Nothing given.
    #[error("give a lifetime such as 90m, 12h, 30d or 1w")]
    Empty,
    /// Not a whole number followed by a unit.
    #[error("{0:?} is not a lifetime: write a whole number and a unit, such as 90m, 12h, 30d or 1w")]
    Malformed(String),
    /// A unit other than m, h, d, w.
    #[error("{text:?} has the unknown unit {unit:?}: use m (minutes), h (hours), d (days) or w (weeks)")]
    UnknownUnit {
        /// The lifetime as given.
        text: String,
        /// The unit as given.
        unit: String,
    },
    /// Zero: the key would be expired at once.
    #[error("a lifetime of zero makes a key that is expired at once: give one such as 30d")]
    Zero,
    /// Longer than [`MAX_API_KEY_LIFETIME`].
    #[error("{0:?} is longer than 10 years: leave the lifetime out for a key that never expires")]
    TooLong(String),
}

/// Reads a key lifetime: a whole number and a unit, `m` (minutes), `h` (hours), `d` (days) or
/// `w` (weeks), e.g. `90m`, `12h`, `30d`, `1w`.
pub fn parse_lifetime(text: &str) -> Result<std::time::Duration, LifetimeError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(LifetimeError::Empty);
    }
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    if number.is_empty() || unit.is_empty() {
        return Err(LifetimeError::Malformed(trimmed.to_string()));
    }
    let seconds_per_unit: u64 = match unit.to_ascii_lowercase().as_str() {
        "m" => 60,
        "h" => 3600,
        "d" => 24 * 3600,
        "w" => 7 * 24 * 3600,
        _ => {
            return Err(LifetimeError::UnknownUnit {
                text: trimmed.to_string(),
                unit: unit.to_string(),
            });
        }
    };
    let too_long = || LifetimeError::TooLong(trimmed.to_string());
    let count: u64 = number.parse().map_err(|_| too_long())?;
    if count == 0 {
        return Err(LifetimeError::Zero);
    }
    let lifetime = std::time::Duration::from_secs(count.checked_mul(seconds_per_unit).ok_or_else(too_long)?);
    if lifetime > MAX_API_KEY_LIFETIME {
        return Err(too_long());
    }
    Ok(lifetime)
}

/// Where an API key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyStatus {
    /// Usable.
    Active,
    /// Past its expiry time.
    Expired,
    /// Revoked by its owner or an administrator.
    Revoked,
}

impl ApiKeyStatus {
    /// `active`, `expired` or `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyStatus::Active => "active",
            ApiKeyStatus::Expired => "expired",
            ApiKeyStatus::Revoked => "revoked",
        }
    }
}

impl std::fmt::Display for ApiKeyStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API key's record; the key itself is never stored.
#[derive(Debug, Clone)]
pub struct ApiKeyInfo {
    /// Key id (used to revoke it; not secret).
    pub id: String,
    /// The name its owner gave it (may be empty).
    pub name: String,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// Expiry time, Unix milliseconds; `None`: never.
    pub expires_at: Option<i64>,
    /// Last successful use (written at most once a minute), Unix milliseconds.
    pub last_used_at: Option<i64>,
    /// Revocation time, Unix milliseconds.
    pub revoked_at: Option<i64>,
}

impl ApiKeyInfo {
    /// The key's status at `now` (Unix milliseconds).
    pub fn status_at(&self, now: i64) -> ApiKeyStatus {
        if self.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            ApiKeyStatus::Expired
        } else {
            ApiKeyStatus::Active
        }
    }
}

/// A key just made: the secret, shown once, and its record.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The key (`fwk_…`); only its SHA-256 is stored.
    pub key: String,
    /// Its record.
    pub info: ApiKeyInfo,
}

/// What a presented API key turned out to be.
#[derive(Debug, Clone)]
pub enum ApiKeyCheck {
    /// A usable key of this user.
    Valid {
        /// The key's owner.
        user: User,
        /// The key.
        key: ApiKeyInfo,
    },
    /// No such key.
    Unknown,
    /// The key was revoked at this time (Unix milliseconds).
    Revoked {
        /// Revocation time.
        at: i64,
    },
    /// The key expired at this time (Unix milliseconds).
    Expired {
        /// Expiry time.
        at: i64,
    },
}

/// Checks and trims a key name.
fn clean_key_name(name: &str) -> Result<String, AccountError> {
    let name = name.trim();
    if name.chars().count() > MAX_API_KEY_NAME {
        return Err(AccountError::Invalid(format!(
            "the key name is too long: use at most {MAX_API_KEY_NAME} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(AccountError::Invalid(
            "the key name cannot contain control characters (such as new lines)".to_string(),
        ));
    }
    Ok(name.to_string())
}

/// The `api_keys` columns [`key_from_row`] reads, in its order.
macro_rules! key_columns {
    () => {
        "k.id, k.name, k.created_at, k.expires_at, k.last_used_at, k.revoked_at"
    };
}

fn key_from_row(row: &sqlx::any::AnyRow) -> Result<ApiKeyInfo, sqlx::Error> {
    Ok(ApiKeyInfo {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        created_at: row.try_get(2)?,
        expires_at: row.try_get(3)?,
        last_used_at: row.try_get(4)?,
        revoked_at: row.try_get(5)?,
    })
}

/// Creates an API key for a user, named `name`, expiring after `lifetime` (`None`: never).
/// The key is returned once; only its hash is stored.
pub async fn create_api_key(
    db: &Db,
    user: &User,
    name: &str,
    lifetime: Option<std::time::Duration>,
) -> Result<NewApiKey, AccountError> {
    let name = clean_key_name(name)?;
    let now = ferry_api::dates::now_millis();
    let expires_at = match lifetime {
        Some(lifetime) if lifetime.is_zero() => return Err(AccountError::Invalid(LifetimeError::Zero.to_string())),
        Some(lifetime) if lifetime > MAX_API_KEY_LIFETIME => {
            return Err(AccountError::Invalid(
                "a key can expire at most 10 years from now; make it without expiry instead".to_string(),
            ));
        }
        Some(lifetime) => Some(now + lifetime.as_millis() as i64),
        None => None,
    };
    let key = format!("fwk_{}", random_token());
    let id = uuid::Uuid::new_v4().simple().to_string();
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, key_hash, created_at, name, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&user.id)
    .bind(token_hash(&key))
    .bind(now)
    .bind(&name)
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    Ok(NewApiKey {
        key,
        info: ApiKeyInfo {
            id,
            name,
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        },
    })
}

/// Checks a presented API key; a usable key's `last_used_at` is brought up to date (at most once
/// a minute).
pub async fn check_api_key(db: &Db, key: &str) -> Result<ApiKeyCheck, AccountError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        key_columns!(),
        ", u.id, u.email FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1"
    ))
    .bind(token_hash(key))
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(ApiKeyCheck::Unknown);
    };
    let info = key_from_row(&row)?;
    let now = ferry_api::dates::now_millis();
    match (info.status_at(now), info.revoked_at, info.expires_at) {
        (ApiKeyStatus::Revoked, Some(at), _) => return Ok(ApiKeyCheck::Revoked { at }),
        (ApiKeyStatus::Expired, _, Some(at)) => return Ok(ApiKeyCheck::Expired { at }),
        _ => {}
    }
    if info
        .last_used_at
        .is_none_or(|at| now - at >= LAST_USED_RESOLUTION_MILLIS)
    {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&info.id)
            .execute(&db.pool)
            .await?;
    }
    Ok(ApiKeyCheck::Valid {
        user: User {
            id: row.try_get(6)?,
            email: row.try_get(7)?,
        },
        key: info,
    })
}

/// The user a usable API key belongs to (`None` for unknown, revoked or expired keys).
pub async fn user_for_api_key(db: &Db, key: &str) -> Result<Option<User>, AccountError> {
    Ok(match check_api_key(db, key).await? {
        ApiKeyCheck::Valid { user, .. } => Some(user),
        _ => None,
    })
}

/// A user's API keys, newest first, revoked and expired ones included.
pub async fn list_api_keys(db: &Db, user: &User) -> Result<Vec<ApiKeyInfo>, AccountError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_keys k WHERE k.user_id = $1 ORDER BY k.created_at DESC, k.id"
    ))
    .bind(&user.id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
}

/// Revokes one of the user's API keys (again is harmless: the first revocation time stays).
/// `None`: the user has no key with this id.
pub async fn revoke_api_key(db: &Db, user: &User, id: &str) -> Result<Option<ApiKeyInfo>, AccountError> {
    let updated =
        sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3")
            .bind(ferry_api::dates::now_millis())
            .bind(id)
            .bind(&user.id)
            .execute(&db.pool)
            .await?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    let row = sqlx::query(concat!("SELECT ", key_columns!(), " FROM api_keys k WHERE k.id = $1"))
        .bind(id)
        .fetch_one(&db.pool)
        .await?;
    Ok(Some(key_from_row(&row)?))
}

/// Revokes any user's API key by id (admin command); returns the owner's email and the key.
pub async fn revoke_any_api_key(db: &Db, id: &str) -> Result<Option<(String, ApiKeyInfo)>, AccountError> {
    let row = sqlx::query("SELECT u.id, u.email FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = $1")
        .bind(id.trim())
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let owner = User {
        id: row.try_get(0)?,
        email: row.try_get(1)?,
    };
    Ok(revoke_api_key(db, &owner, id.trim())
        .await?
        .map(|key| (owner.email, key)))
}

/// A Unix-millisecond time as `2025-01-31 14:05 UTC`, for pages and the admin CLI.
pub fn display_time(millis: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
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

    #[test]
    fn lifetimes_read_minutes_hours_days_and_weeks_with_clear_errors() {
        use std::time::Duration;
        assert_eq!(parse_lifetime("90m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(parse_lifetime("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_lifetime(" 30d "), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_lifetime("1W"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_lifetime(""), Err(LifetimeError::Empty));
        assert_eq!(parse_lifetime("d"), Err(LifetimeError::Malformed("d".into())));
        assert_eq!(parse_lifetime("30"), Err(LifetimeError::Malformed("30".into())));
        assert_eq!(parse_lifetime("-1d"), Err(LifetimeError::Malformed("-1d".into())));
        assert_eq!(parse_lifetime("0d"), Err(LifetimeError::Zero));
        assert_eq!(parse_lifetime("3600w"), Err(LifetimeError::TooLong("3600w".into())));
        assert_eq!(
            parse_lifetime("99999999999999999999d"),
            Err(LifetimeError::TooLong("99999999999999999999d".into()))
        );
        let unknown = parse_lifetime("3y").unwrap_err();
        assert!(matches!(unknown, LifetimeError::UnknownUnit { .. }));
        assert!(
            unknown
                .to_string()
                .contains("m (minutes), h (hours), d (days) or w (weeks)")
        );
    }

    #[test]
    fn a_key_is_revoked_before_it_is_expired() {
        let key = ApiKeyInfo {
            id: "k".into(),
            name: String::new(),
            created_at: 0,
            expires_at: Some(100),
            last_used_at: None,
            revoked_at: None,
        };
        assert_eq!(key.status_at(99), ApiKeyStatus::Active);
        assert_eq!(key.status_at(100), ApiKeyStatus::Expired);
        let revoked = ApiKeyInfo {
            revoked_at: Some(50),
            ..key.clone()
        };
        assert_eq!(revoked.status_at(200), ApiKeyStatus::Revoked);
        let forever = ApiKeyInfo {
            expires_at: None,
            ..key
        };
        assert_eq!(forever.status_at(i64::MAX), ApiKeyStatus::Active);
        assert_eq!(display_time(0), "1970-01-01 00:00 UTC");
    }

    #[tokio::test]
    async fn a_taken_email_costs_a_password_hash_like_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let url = ferry_db::testing::fresh_database_url(dir.path()).await;
        let db = Db::connect(&url).await.unwrap();
        db.migrate(&crate::MIGRATOR).await.unwrap();
        create_user(&db, "taken@example.org", "a long password", false)
            .await
            .unwrap();
        let mut hash = std::time::Duration::MAX;
        let mut taken = std::time::Duration::MAX;
        for _ in 0..3 {
            let started = std::time::Instant::now();
            hash_password("another password".to_string()).await.unwrap();
            hash = hash.min(started.elapsed());
            let started = std::time::Instant::now();
            let refused = create_user(&db, "Taken@example.org", "another password", false).await;
            taken = taken.min(started.elapsed());
            assert!(matches!(refused, Err(AccountError::EmailTaken(_))));
        }
        // Without the hash, the refusal would be one indexed lookup: far below half a hash.
        assert!(
            taken >= hash / 2,
            "a taken email answered in {taken:?}, a password hash takes {hash:?}"
        );
    }
}
