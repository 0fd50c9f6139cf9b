//! Failed attempts (wrong passwords, wrong device codes) counted in the database, so that every
//! process serving one database enforces one budget: a client spreading guesses over several
//! instances gets no more tries than against one.
//!
//! The service's migrations create the table:
//! `attempt_failures (key TEXT PRIMARY KEY, failures BIGINT NOT NULL, window_start BIGINT NOT NULL)`
//! with an index on `window_start`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Row;

use crate::Db;

/// Counts failures per key in a window that starts at a key's first failure.
#[derive(Debug, Clone)]
pub struct FailureCounter {
    db: Db,
    limit: u32,
    window: Duration,
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl FailureCounter {
    /// Allows `limit` failures per key within `window`.
    pub fn new(db: Db, limit: u32, window: Duration) -> FailureCounter {
        FailureCounter { db, limit, window }
    }

    fn window_millis(&self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// Whether `key` may try again now. When the database cannot answer, the attempt is allowed
    /// (it needs the database itself, so it fails anyway) and the error is logged.
    pub async fn allowed(&self, key: &str) -> bool {
        let row = sqlx::query("SELECT failures, window_start FROM attempt_failures WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.db.pool)
            .await;
        match row {
            Ok(None) => true,
            Ok(Some(row)) => {
                let failures: i64 = row.try_get("failures").unwrap_or(0);
                let start: i64 = row.try_get("window_start").unwrap_or(0);
                start + self.window_millis() < now_millis() || failures < i64::from(self.limit)
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the failed-attempt count");
                true
            }
        }
    }

    /// Records a failure of `key` (and forgets windows that have ended, for every key).
    pub async fn failed(&self, key: &str) {
        let now = now_millis();
        let ended = now - self.window_millis();
        let counted = sqlx::query(
            "INSERT INTO attempt_failures (key, failures, window_start) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN attempt_failures.window_start < $3 THEN 1 \
                               ELSE attempt_failures.failures + 1 END, \
               window_start = CASE WHEN attempt_failures.window_start < $3 THEN $2 \
                                   ELSE attempt_failures.window_start END",
        )
        .bind(key)
        .bind(now)
        .bind(ended)
        .execute(&self.db.pool)
        .await;
        if let Err(error) = counted {
            tracing::warn!(%error, "cannot record a failed attempt");
            return;
        }
        if let Err(error) = sqlx::query("DELETE FROM attempt_failures WHERE window_start < $1")
            .bind(ended)
            .execute(&self.db.pool)
            .await
        {
            tracing::warn!(%error, "cannot forget old failed attempts");
        }
    }

    /// Forgets the failures of `key` (after a success).
    pub async fn reset(&self, key: &str) {
        if let Err(error) = sqlx::query("DELETE FROM attempt_failures WHERE key = $1")
            .bind(key)
            .execute(&self.db.pool)
            .await
        {
            tracing::warn!(%error, "cannot reset a failed-attempt count");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn counter(dir: &std::path::Path, window: Duration) -> (String, FailureCounter) {
        let url = crate::testing::fresh_database_url(dir).await;
        let db = Db::connect(&url).await.unwrap();
        sqlx::query(
            "CREATE TABLE attempt_failures (key TEXT PRIMARY KEY, failures BIGINT NOT NULL, \
             window_start BIGINT NOT NULL)",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        (url, FailureCounter::new(db, 3, window))
    }

    #[tokio::test]
    async fn a_budget_shared_by_every_process_on_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let (url, first) = counter(dir.path(), Duration::from_secs(600)).await;
        // A second process: its own pool and counter over the same database.
        let second = FailureCounter::new(Db::connect(&url).await.unwrap(), 3, Duration::from_secs(600));
        first.failed("login:ana").await;
        second.failed("login:ana").await;
        assert!(first.allowed("login:ana").await && second.allowed("login:ana").await);
        first.failed("login:ana").await;
        assert!(
            !first.allowed("login:ana").await,
            "three failures, wherever they happened"
        );
        assert!(!second.allowed("login:ana").await);
        assert!(second.allowed("login:bob").await, "other keys are not affected");
        second.reset("login:ana").await;
        assert!(first.allowed("login:ana").await);
    }

    #[tokio::test]
    async fn the_window_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (_url, counter) = counter(dir.path(), Duration::from_millis(50)).await;
        for _ in 0..3 {
            counter.failed("code:10.0.0.1").await;
        }
        assert!(!counter.allowed("code:10.0.0.1").await);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(
            counter.allowed("code:10.0.0.1").await,
            "failures older than the window no longer count"
        );
        counter.failed("code:10.0.0.1").await;
        assert!(
            counter.allowed("code:10.0.0.1").await,
            "a new window starts at one failure"
        );
    }
}
