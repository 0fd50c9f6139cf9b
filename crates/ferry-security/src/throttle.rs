//! Failed attempts and request rates counted in the database, so that every process serving one
//! database enforces one budget: spreading guesses over several instances gains nothing.
//!
//! Failures slow their own source down instead of locking an account: [`LoginThrottle`] counts
//! wrong passwords per (account, client) and per client, and after a few free failures each one
//! doubles the wait before that source may try again. Somebody else's wrong passwords for your
//! email, from their address, never stop your right password from yours.
//!
//! Each service's migrations create the table: `attempt_failures (key TEXT PRIMARY KEY,
//! failures BIGINT NOT NULL, window_start BIGINT NOT NULL, last_failure BIGINT NOT NULL)`.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_db::Db;
use sqlx::Row;

/// How long rows are kept after their last event, whatever their policy.
const RETENTION_MILLIS: i64 = 24 * 3600 * 1000;

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Forgets rows nobody has touched for a day (now and then, not on every write).
async fn sweep(db: &Db, now: i64) {
    if rand::random_range(0..32) != 0 {
        return;
    }
    if let Err(error) = sqlx::query("DELETE FROM attempt_failures WHERE last_failure < $1 AND window_start < $1")
        .bind(now - RETENTION_MILLIS)
        .execute(&db.pool)
        .await
    {
        tracing::warn!(%error, "cannot forget old failed attempts");
    }
}

/// How failures of one key slow it down.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Failures that cost nothing (typing mistakes): after this many, each attempt must wait.
    pub free_failures: u32,
    /// The wait after the last free failure; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// A key whose last failure is older than this starts again from zero.
    pub forget_after: Duration,
}

impl Backoff {
    /// The wait that `failures` failures impose after the last of them.
    pub fn delay_after(&self, failures: u32) -> Duration {
        if failures < self.free_failures {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free_failures).min(30);
        self.first_delay.saturating_mul(1 << doublings).min(self.max_delay)
    }
}

/// Failures per key with growing delays ([`Backoff`]).
#[derive(Debug, Clone)]
pub struct Throttle {
    db: Db,
    backoff: Backoff,
}

impl Throttle {
    /// A throttle counting in `db` (which has the `attempt_failures` table).
    pub fn new(db: Db, backoff: Backoff) -> Throttle {
        Throttle { db, backoff }
    }

    /// How long `key` must still wait before its next attempt (zero: it may try now). When the
    /// database cannot answer, the attempt is allowed (it needs the database itself, so it fails
    /// anyway) and the error is logged.
    pub async fn wait_needed(&self, key: &str) -> Duration {
        let row = sqlx::query("SELECT failures, last_failure FROM attempt_failures WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.db.pool)
            .await;
        match row {
            Ok(None) => Duration::ZERO,
            Ok(Some(row)) => {
                let failures: i64 = row.try_get("failures").unwrap_or(0);
                let last: i64 = row.try_get("last_failure").unwrap_or(0);
                let since = now_millis().saturating_sub(last);
                if since > millis(self.backoff.forget_after) {
                    return Duration::ZERO;
                }
                let delay = millis(self.backoff.delay_after(u32::try_from(failures).unwrap_or(u32::MAX)));
                Duration::from_millis(u64::try_from(delay - since).unwrap_or(0))
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the failed-attempt count");
                Duration::ZERO
            }
        }
    }

    /// Records a failure of `key`.
    pub async fn failed(&self, key: &str) {
        let now = now_millis();
        let forgotten_before = now - millis(self.backoff.forget_after);
        let counted = sqlx::query(
            "INSERT INTO attempt_failures (key, failures, window_start, last_failure) VALUES ($1, 1, $2, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN attempt_failures.last_failure < $3 THEN 1 \
                               ELSE attempt_failures.failures + 1 END, \
               window_start = CASE WHEN attempt_failures.last_failure < $3 THEN $2 \
                                   ELSE attempt_failures.window_start END, \
               last_failure = $2",
        )
        .bind(key)
        .bind(now)
        .bind(forgotten_before)
        .execute(&self.db.pool)
        .await;
        if let Err(error) = counted {
            tracing::warn!(%error, "cannot record a failed attempt");
        }
        sweep(&self.db, now).await;
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

/// Wrong passwords counted per (account, client) and per client.
///
/// A client that keeps failing for one account waits longer and longer before it may try that
/// account again; a client that fails for many accounts (password spraying) waits before trying
/// any. Nobody else is slowed down, so a stranger cannot lock a known account out.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    scope: &'static str,
    per_account: Throttle,
    per_client: Throttle,
}

/// Free wrong passwords per (account, client) before delays start.
pub const FREE_FAILURES_PER_ACCOUNT: u32 = 5;
/// Free wrong passwords per client, over all accounts, before delays start.
pub const FREE_FAILURES_PER_CLIENT: u32 = 30;

impl LoginThrottle {
    /// A login throttle; `scope` keeps the keys of different forms apart (`hub-login`, `login`).
    pub fn new(db: Db, scope: &'static str) -> LoginThrottle {
        let backoff = |free_failures| Backoff {
            free_failures,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(60 * 60),
        };
        LoginThrottle {
            scope,
            per_account: Throttle::new(db.clone(), backoff(FREE_FAILURES_PER_ACCOUNT)),
            per_client: Throttle::new(db, backoff(FREE_FAILURES_PER_CLIENT)),
        }
    }

    fn account_key(&self, account: &str, client: IpAddr) -> String {
        format!("{}:account:{}:{client}", self.scope, account.trim().to_lowercase())
    }

    fn client_key(&self, client: IpAddr) -> String {
        format!("{}:client:{client}", self.scope)
    }

    /// How long `client` must wait before trying `account` again (zero: it may try now).
    pub async fn wait_needed(&self, account: &str, client: IpAddr) -> Duration {
        let pair = self.per_account.wait_needed(&self.account_key(account, client)).await;
        let alone = self.per_client.wait_needed(&self.client_key(client)).await;
        pair.max(alone)
    }

    /// Records a wrong password for `account` from `client`.
    pub async fn failed(&self, account: &str, client: IpAddr) {
        self.per_account.failed(&self.account_key(account, client)).await;
        self.per_client.failed(&self.client_key(client)).await;
    }

    /// Forgets `client`'s failures for `account` after the right password.
    pub async fn succeeded(&self, account: &str, client: IpAddr) {
        self.per_account.reset(&self.account_key(account, client)).await;
    }
}

/// At most `limit` events per key within a window that starts at the key's first event.
#[derive(Debug, Clone)]
pub struct RateLimit {
    db: Db,
    limit: u32,
    window: Duration,
}

impl RateLimit {
    /// A limit of `limit` events per `window`, counted in `db`.
    pub fn new(db: Db, limit: u32, window: Duration) -> RateLimit {
        RateLimit { db, limit, window }
    }

    /// Counts an event of `key`; `Err(wait)` when the key is over its limit (how long until its
    /// window ends). When the database cannot answer, the event is allowed and the error logged.
    pub async fn hit(&self, key: &str) -> Result<(), Duration> {
        let now = now_millis();
        let window = millis(self.window);
        let row = sqlx::query(
            "INSERT INTO attempt_failures (key, failures, window_start, last_failure) VALUES ($1, 1, $2, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN attempt_failures.window_start < $3 THEN 1 \
                               ELSE attempt_failures.failures + 1 END, \
               window_start = CASE WHEN attempt_failures.window_start < $3 THEN $2 \
                                   ELSE attempt_failures.window_start END, \
               last_failure = $2 \
             RETURNING failures, window_start",
        )
        .bind(key)
        .bind(now)
        .bind(now - window)
        .fetch_one(&self.db.pool)
        .await;
        sweep(&self.db, now).await;
        match row {
            Ok(row) => {
                let count: i64 = row.try_get("failures").unwrap_or(0);
                let start: i64 = row.try_get("window_start").unwrap_or(now);
                if count > i64::from(self.limit) {
                    let left = (start + window - now).max(1000);
                    Err(Duration::from_millis(u64::try_from(left).unwrap_or(1000)))
                } else {
                    Ok(())
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot count a rate-limited request");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn database(dir: &std::path::Path) -> (String, Db) {
        let url = ferry_db::testing::fresh_database_url(dir).await;
        let db = Db::connect(&url).await.unwrap();
        sqlx::query(
            "CREATE TABLE attempt_failures (key TEXT PRIMARY KEY, failures BIGINT NOT NULL, \
             window_start BIGINT NOT NULL, last_failure BIGINT NOT NULL DEFAULT 0)",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        (url, db)
    }

    #[test]
    fn delays_double_after_the_free_failures_up_to_the_cap() {
        let backoff = Backoff {
            free_failures: 2,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            forget_after: Duration::from_secs(60),
        };
        let delays: Vec<u64> = (0..7).map(|n| backoff.delay_after(n).as_secs()).collect();
        assert_eq!(delays, vec![0, 0, 1, 2, 4, 5, 5]);
        assert_eq!(backoff.delay_after(u32::MAX), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_strangers_failures_slow_only_the_stranger_in_every_process() {
        let dir = tempfile::tempdir().unwrap();
        let (url, db) = database(dir.path()).await;
        let here = LoginThrottle::new(db, "login");
        // Another process on the same database.
        let elsewhere = LoginThrottle::new(Db::connect(&url).await.unwrap(), "login");
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let owner: IpAddr = "198.51.100.7".parse().unwrap();
        for attempt in 0..FREE_FAILURES_PER_ACCOUNT {
            assert_eq!(here.wait_needed("ana@example.org", stranger).await, Duration::ZERO);
            let process = if attempt % 2 == 0 { &here } else { &elsewhere };
            process.failed("Ana@Example.org", stranger).await;
        }
        let wait = elsewhere.wait_needed(" ana@example.org", stranger).await;
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert_eq!(
            here.wait_needed("ana@example.org", owner).await,
            Duration::ZERO,
            "the owner, from another address, is not slowed down"
        );
        assert_eq!(here.wait_needed("bob@example.org", stranger).await, Duration::ZERO);
        here.succeeded("ana@example.org", stranger).await;
        assert_eq!(here.wait_needed("ana@example.org", stranger).await, Duration::ZERO);
    }

    #[tokio::test]
    async fn spraying_many_accounts_slows_the_client() {
        let dir = tempfile::tempdir().unwrap();
        let (_url, db) = database(dir.path()).await;
        let throttle = LoginThrottle::new(db, "login");
        let sprayer: IpAddr = "2001:db8::1".parse().unwrap();
        for n in 0..FREE_FAILURES_PER_CLIENT {
            throttle.failed(&format!("user{n}@example.org"), sprayer).await;
        }
        assert!(throttle.wait_needed("new@example.org", sprayer).await > Duration::ZERO);
        assert_eq!(
            throttle
                .wait_needed("new@example.org", "2001:db8::2".parse().unwrap())
                .await,
            Duration::ZERO
        );
    }

    #[tokio::test]
    async fn rate_limits_refuse_past_the_limit_until_the_window_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (_url, db) = database(dir.path()).await;
        let limit = RateLimit::new(db, 3, Duration::from_millis(300));
        for _ in 0..3 {
            assert!(limit.hit("device:10.0.0.1").await.is_ok());
        }
        let wait = limit.hit("device:10.0.0.1").await.unwrap_err();
        assert!(wait > Duration::ZERO);
        assert!(
            limit.hit("device:10.0.0.2").await.is_ok(),
            "other keys are not affected"
        );
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(limit.hit("device:10.0.0.1").await.is_ok(), "a new window starts");
    }
}
