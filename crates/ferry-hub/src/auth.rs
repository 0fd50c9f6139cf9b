//! Identity: password hashes, tokens (stored as SHA-256 hashes), scopes, and the extractor that
//! authenticates API requests (`Authorization: Bearer`, `x-access-token`, or `?access_token=`).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sqlx::Row;

use crate::State;
use crate::error::{ApiError, ApiResult};
use crate::ids;

/// Hashes a password (argon2id, random salt) off the async threads.
pub async fn hash_password(password: &str) -> anyhow::Result<String> {
    Ok(ferry_security::password::hash(password).await?)
}

/// Normalises a scope list: upper case, single spaces, comma-separated, no duplicates.
pub fn normalise_scopes(text: &str) -> Result<Vec<String>, String> {
    const VERBS: [&str; 8] = [
        "BROWSE",
        "READ",
        "CREATE",
        "WRITE",
        "AUDIT",
        "MOVETOTRASH",
        "START",
        "DELETE",
    ];
    let mut scopes: Vec<String> = Vec::new();
    for scope in text.split(',') {
        let words: Vec<String> = scope.split_whitespace().map(str::to_ascii_uppercase).collect();
        if words.is_empty() {
            continue;
        }
        if words.len() > 3 || !VERBS.contains(&words[0].as_str()) || words.len() < 2 {
            return Err(format!(
                "'{}' is not a scope; scopes look like 'READ GLOBAL' or 'WRITE PROJECT 123'",
                scope.trim()
            ));
        }
        let scope = words.join(" ");
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

/// A user row.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created: i64,
    pub last_active: i64,
}

/// A workgroup row.
#[derive(Debug, Clone)]
pub struct WorkgroupRow {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// Looks a user up by email (case-insensitive).
pub async fn user_by_email(db: &ferry_db::Db, email: &str) -> ApiResult<Option<(UserRow, String)>> {
    let row = sqlx::query("SELECT id, email, name, created, last_active, password_hash FROM users WHERE email = $1")
        .bind(email.trim().to_ascii_lowercase())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|row| {
        (
            UserRow {
                id: row.get("id"),
                email: row.get("email"),
                name: row.get("name"),
                created: row.get("created"),
                last_active: row.get("last_active"),
            },
            row.get("password_hash"),
        )
    }))
}

/// Looks a user up by ID.
pub async fn user_by_id(db: &ferry_db::Db, id: &str) -> ApiResult<Option<UserRow>> {
    let row = sqlx::query("SELECT id, email, name, created, last_active FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|row| UserRow {
        id: row.get("id"),
        email: row.get("email"),
        name: row.get("name"),
        created: row.get("created"),
        last_active: row.get("last_active"),
    }))
}

/// The workgroups a user belongs to, by name.
pub async fn workgroups_of(db: &ferry_db::Db, user_id: &str) -> ApiResult<Vec<WorkgroupRow>> {
    let rows = sqlx::query(
        "SELECT w.id, w.name, w.description FROM workgroups w JOIN memberships m ON m.workgroup_id = w.id \
         WHERE m.user_id = $1 ORDER BY w.name",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| WorkgroupRow {
            id: row.get("id"),
            name: row.get("name"),
            description: row.get("description"),
        })
        .collect())
}

/// Looks a workgroup up by ID.
pub async fn workgroup_by_id(db: &ferry_db::Db, id: &str) -> ApiResult<Option<WorkgroupRow>> {
    let row = sqlx::query("SELECT id, name, description FROM workgroups WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|row| WorkgroupRow {
        id: row.get("id"),
        name: row.get("name"),
        description: row.get("description"),
    }))
}

/// Creates a user; fails if the email is taken.
pub async fn create_user(db: &ferry_db::Db, email: &str, password: &str, name: Option<&str>) -> anyhow::Result<String> {
    let email = email.trim().to_ascii_lowercase();
    if !email.contains('@') || email.len() < 3 {
        anyhow::bail!("'{email}' is not an email address");
    }
    if password.is_empty() {
        anyhow::bail!("the password must not be empty");
    }
    let id = ids::numeric_from(&format!("user:{email}"));
    if !create_user_with_id(db, &id, &email, password, name).await? {
        anyhow::bail!("a user with email {email} already exists");
    }
    Ok(id)
}

/// Creates a user with a given ID (demo data); does nothing if the email exists.
pub async fn create_user_with_id(
    db: &ferry_db::Db,
    id: &str,
    email: &str,
    password: &str,
    name: Option<&str>,
) -> anyhow::Result<bool> {
    let hash = hash_password(password).await?;
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_string());
    let now = ferry_api::dates::now_millis();
    let result = sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, created, last_active) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(id)
    .bind(email)
    .bind(name)
    .bind(hash)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Creates a workgroup (or finds it by name) and adds members by email.
pub async fn create_workgroup(db: &ferry_db::Db, name: &str, members: &[String]) -> anyhow::Result<String> {
    let name = name.trim();
    if name.is_empty() {
        anyhow::bail!("the workgroup name must not be empty");
    }
    let id = ids::numeric_from(&format!("workgroup:{name}"));
    let now = ferry_api::dates::now_millis();
    sqlx::query(
        "INSERT INTO workgroups (id, name, description, created) VALUES ($1, $2, '', $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(&id)
    .bind(name)
    .bind(now)
    .execute(&db.pool)
    .await?;
    let id: String = sqlx::query_scalar("SELECT id FROM workgroups WHERE name = $1")
        .bind(name)
        .fetch_one(&db.pool)
        .await?;
    for email in members {
        let Some((user, _)) = user_by_email(db, email).await.map_err(|e| anyhow::anyhow!("{e}"))? else {
            anyhow::bail!("no user with email {email}; add it first with `ferry hub user add {email} --password …`");
        };
        sqlx::query(
            "INSERT INTO memberships (workgroup_id, user_id, created) VALUES ($1, $2, $3) \
             ON CONFLICT (workgroup_id, user_id) DO NOTHING",
        )
        .bind(&id)
        .bind(&user.id)
        .bind(now)
        .execute(&db.pool)
        .await?;
    }
    Ok(id)
}

/// Issues a token for a user in a context; returns the secret (shown once, stored hashed).
pub async fn issue_token(
    db: &ferry_db::Db,
    user_id: &str,
    context_id: &str,
    scopes: &[String],
    client_id: &str,
) -> ApiResult<String> {
    let secret = ids::secret();
    sqlx::query(
        "INSERT INTO tokens (hash, id, user_id, context_id, scopes, client_id, created, revoked) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
    )
    .bind(ids::hash_secret(&secret))
    .bind(ids::numeric())
    .bind(user_id)
    .bind(context_id)
    .bind(scopes.join(", "))
    .bind(client_id)
    .bind(ferry_api::dates::now_millis())
    .execute(&db.pool)
    .await?;
    Ok(secret)
}

/// Issues a token by email and optional workgroup name (the `ferry hub token` command).
pub async fn issue_token_for(
    db: &ferry_db::Db,
    email: &str,
    workgroup: Option<&str>,
    scopes: Option<&str>,
) -> anyhow::Result<String> {
    let Some((user, _)) = user_by_email(db, email).await.map_err(|e| anyhow::anyhow!("{e}"))? else {
        anyhow::bail!("no user with email {email}; add it with `ferry hub user add {email} --password …`");
    };
    let context = match workgroup {
        None => user.id.clone(),
        Some(name) => {
            let groups = workgroups_of(db, &user.id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            match groups.into_iter().find(|g| g.name == name) {
                Some(group) => group.id,
                None => anyhow::bail!(
                    "{email} is not a member of a workgroup named '{name}'; add it with \
                     `ferry hub workgroup add '{name}' --member {email}`"
                ),
            }
        }
    };
    let scopes = normalise_scopes(scopes.unwrap_or(ferry_api::oauth::DEFAULT_SCOPES)).map_err(anyhow::Error::msg)?;
    issue_token(db, &user.id, &context, &scopes, "ferry-hub-admin")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// An authenticated API request: who, in which context, with which scopes.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The person.
    pub user_id: String,
    /// Personal context (= `user_id`) or a workgroup ID.
    pub context_id: String,
    /// Hash of the token used.
    pub token_hash: String,
    /// Token ID (for introspection).
    pub token_id: String,
    /// Scopes, normalised.
    pub scopes: Vec<String>,
    /// When the token was made.
    pub token_created: i64,
    /// Client that asked for it.
    pub client_id: String,
}

impl Auth {
    /// True when the token acts for a workgroup.
    pub fn is_workgroup(&self) -> bool {
        self.user_id != self.context_id
    }

    fn has(&self, wanted: &[&str]) -> bool {
        self.scopes.iter().any(|s| wanted.contains(&s.as_str()))
    }

    /// Listing and reading metadata: BROWSE, READ or WRITE GLOBAL.
    pub fn require_browse(&self) -> ApiResult<()> {
        if self.has(&["BROWSE GLOBAL", "READ GLOBAL", "WRITE GLOBAL"]) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "This access token lacks the BROWSE GLOBAL or READ GLOBAL scope; authenticate again with it.",
            ))
        }
    }

    /// Reading file content: READ or WRITE GLOBAL.
    pub fn require_read(&self) -> ApiResult<()> {
        if self.has(&["READ GLOBAL", "WRITE GLOBAL"]) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "This access token lacks the READ GLOBAL scope needed to download; authenticate again with it.",
            ))
        }
    }

    /// Launching applications: START APPLICATIONS.
    pub fn require_launch(&self) -> ApiResult<()> {
        if self.has(&["START APPLICATIONS"]) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "This access token lacks the START APPLICATIONS scope needed to launch applications; authenticate \
                 again with it (bs auth --force --scopes 'READ GLOBAL, CREATE GLOBAL, BROWSE GLOBAL, WRITE GLOBAL, \
                 START APPLICATIONS').",
            ))
        }
    }

    /// Creating and changing resources: CREATE or WRITE GLOBAL.
    pub fn require_write(&self) -> ApiResult<()> {
        if self.has(&["CREATE GLOBAL", "WRITE GLOBAL"]) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "This access token lacks the CREATE GLOBAL or WRITE GLOBAL scope needed to create or upload; \
                 authenticate again with it.",
            ))
        }
    }
}

/// Finds the token in a request: `Authorization: Bearer T`, `x-access-token: T`, `?access_token=T`.
pub fn token_from_parts(parts: &Parts) -> Option<String> {
    let headers = &parts.headers;
    if let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        if let Some((scheme, token)) = value.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
            && !token.trim().is_empty()
        {
            return Some(token.trim().to_string());
        }
    }
    if let Some(value) = headers.get("x-access-token").and_then(|v| v.to_str().ok())
        && !value.trim().is_empty()
    {
        return Some(value.trim().to_string());
    }
    crate::params::Params::parse(parts.uri.query())
        .get("access_token")
        .map(|t| t.trim().to_string())
}

/// Authenticates a token.
pub async fn authenticate(db: &ferry_db::Db, token: &str) -> ApiResult<Auth> {
    let hash = ids::hash_secret(token);
    // One indexed lookup (primary key), with the membership a workgroup token depends on.
    let row = sqlx::query(
        "SELECT t.id, t.user_id, t.context_id, t.scopes, t.created, t.client_id, m.user_id AS member \
         FROM tokens t LEFT JOIN memberships m ON m.workgroup_id = t.context_id AND m.user_id = t.user_id \
         WHERE t.hash = $1 AND t.revoked = 0",
    )
    .bind(&hash)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Err(ApiError::unauthorized(
            "The access token is not valid (unknown or revoked). Authenticate again (for example `bs auth`).",
        ));
    };
    let scopes: String = row.get("scopes");
    let context_id: String = row.get("context_id");
    let user_id: String = row.get("user_id");
    let member: Option<String> = row.get("member");
    // A workgroup token stops working when its person leaves the workgroup.
    if context_id != user_id && member.is_none() {
        return Err(ApiError::unauthorized(
            "The access token's user is no longer a member of its workgroup. Authenticate again.",
        ));
    }
    Ok(Auth {
        user_id,
        context_id,
        token_hash: hash,
        token_id: row.get("id"),
        scopes: normalise_scopes(&scopes).unwrap_or_default(),
        token_created: row.get("created"),
        client_id: row.get("client_id"),
    })
}

impl FromRequestParts<Arc<State>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Self::Rejection> {
        let Some(token) = token_from_parts(parts) else {
            return Err(ApiError::unauthorized(
                "No access token was sent. Send `Authorization: Bearer TOKEN` (or `x-access-token`); get a token with \
                 `bs auth` or `ferry hub token`.",
            ));
        };
        authenticate(&state.db, &token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_normalised_and_checked() {
        assert_eq!(
            normalise_scopes("read global,  create   global, READ GLOBAL").unwrap(),
            vec!["READ GLOBAL".to_string(), "CREATE GLOBAL".to_string()]
        );
        assert_eq!(
            normalise_scopes("WRITE PROJECT 123").unwrap(),
            vec!["WRITE PROJECT 123".to_string()]
        );
        assert!(normalise_scopes("FLY GLOBAL").is_err());
        assert!(normalise_scopes("READ").is_err());
        assert!(normalise_scopes("").unwrap().is_empty());
    }
}
