//! Query building for lists: filters with bound values, paging in SQL (`COUNT` plus
//! `ORDER BY … LIMIT … OFFSET`), and lookups scoped to the caller's context.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AssertSqlSafe};

use crate::error::ApiResult;
use crate::params::Page;

type AnyQuery<'q> = sqlx::query::Query<'q, Any, AnyArguments>;

/// A bound value.
#[derive(Debug, Clone)]
pub enum Bind {
    /// Text.
    Text(String),
}

/// A `WHERE` clause built from constant text and bound values (never user text in SQL).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    conds: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    /// Rows owned by `context`.
    pub fn owned_by(context: &str) -> Filter {
        let mut filter = Filter::default();
        filter.eq("owner_id", context);
        filter
    }

    fn placeholder(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    /// `column = value`.
    pub fn eq(&mut self, column: &'static str, value: impl Into<String>) -> &mut Self {
        let p = self.placeholder(Bind::Text(value.into()));
        self.conds.push(format!("{column} = {p}"));
        self
    }

    /// `column IN (values…)`; no values: no condition.
    pub fn any_of(&mut self, column: &'static str, values: &[String]) -> &mut Self {
        if values.is_empty() {
            return self;
        }
        let placeholders: Vec<String> = values.iter().map(|v| self.placeholder(Bind::Text(v.clone()))).collect();
        self.conds.push(format!("{column} IN ({})", placeholders.join(", ")));
        self
    }

    /// `column` matches any `LIKE` pattern, case-insensitively (patterns already escaped with `\`).
    pub fn like_any(&mut self, column: &'static str, patterns: &[String]) -> &mut Self {
        if patterns.is_empty() {
            return self;
        }
        let parts: Vec<String> = patterns
            .iter()
            .map(|p| {
                let p = self.placeholder(Bind::Text(p.to_ascii_lowercase()));
                format!("LOWER({column}) LIKE {p} ESCAPE '\\'")
            })
            .collect();
        self.conds.push(format!("({})", parts.join(" OR ")));
        self
    }

    /// Appsessions linked (in `appsession_links`, same owner) to any of `ids` as `kind`.
    pub fn linked(&mut self, kind: &str, ids: &[String]) -> &mut Self {
        let kind = self.placeholder(Bind::Text(kind.to_string()));
        let placeholders: Vec<String> = ids.iter().map(|v| self.placeholder(Bind::Text(v.clone()))).collect();
        self.conds.push(format!(
            "EXISTS (SELECT 1 FROM appsession_links l WHERE l.appsession_id = appsessions.id \
             AND l.owner_id = appsessions.owner_id AND l.kind = {kind} AND l.resource_id IN ({}))",
            placeholders.join(", ")
        ));
        self
    }

    /// Biosamples of any of `projects`: their default project is one of them, or they have a
    /// dataset in one (as `GET /v2/biosamples?projectid=` is defined). No projects: no condition.
    pub fn biosample_in_projects(&mut self, projects: &[String]) -> &mut Self {
        if projects.is_empty() {
            return self;
        }
        let direct: Vec<String> = projects
            .iter()
            .map(|v| self.placeholder(Bind::Text(v.clone())))
            .collect();
        let through: Vec<String> = projects
            .iter()
            .map(|v| self.placeholder(Bind::Text(v.clone())))
            .collect();
        self.conds.push(format!(
            "(project_id IN ({}) OR EXISTS (SELECT 1 FROM datasets d WHERE d.biosample_id = biosamples.id \
             AND d.owner_id = biosamples.owner_id AND d.project_id IN ({})))",
            direct.join(", "),
            through.join(", ")
        ));
        self
    }

    /// A constant condition.
    pub fn raw(&mut self, condition: &'static str) -> &mut Self {
        self.conds.push(condition.to_string());
        self
    }

    /// The `WHERE …` text.
    pub fn where_sql(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conds.join(" AND "))
        }
    }

    /// Binds the values to a query made from [`Filter::where_sql`].
    pub fn bind<'q>(&self, mut query: AnyQuery<'q>) -> AnyQuery<'q> {
        for bind in &self.binds {
            query = match bind {
                Bind::Text(text) => query.bind(text.clone()),
            };
        }
        query
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Lists with at least this many matching rows have their count cached for [`COUNT_TTL`].
pub const CACHED_COUNT_FROM: i64 = 10_000;
/// How long a large list's count is reused.
pub const COUNT_TTL: Duration = Duration::from_secs(2);
const COUNT_CACHE_ENTRIES: usize = 4096;

/// Counts of large lists, by query and bound values. Counting is the one part of a page whose cost
/// grows with the table (an index scan over every matching row, ~10 ms per 100 000 on SQLite,
/// ~25 ms on PostgreSQL); for lists of [`CACHED_COUNT_FROM`] rows or more a count is reused for
/// [`COUNT_TTL`] (and while one request refreshes it), so `TotalCount` of such a list may lag
/// writes by a few seconds. Items are always read fresh, and
/// smaller lists are always counted exactly.
pub struct CountCache {
    entries: Mutex<HashMap<String, (i64, Instant)>>,
    ttl: Duration,
}

impl Default for CountCache {
    fn default() -> Self {
        CountCache {
            entries: Mutex::default(),
            ttl: COUNT_TTL,
        }
    }
}

impl CountCache {
    /// A fresh count, or `None` when the caller must count. An expired count is given to one
    /// caller to refresh while the others keep using it, so that many requests arriving at once
    /// never all count the same large table together.
    fn get(&self, key: &str) -> Option<i64> {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match entries.get_mut(key) {
            Some((count, at)) if at.elapsed() < self.ttl => Some(*count),
            Some((_, at)) => {
                *at = Instant::now();
                None
            }
            None => None,
        }
    }

    fn put(&self, key: String, count: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= COUNT_CACHE_ENTRIES {
            entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
            if entries.len() >= COUNT_CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (count, Instant::now()));
    }
}

/// One page of `table` rows matching `filter`, and the total count. The page is read first: when
/// it shows where the list ends (a short page), the total follows from it without counting.
pub async fn list(
    state: &crate::State,
    columns: &str,
    table: &'static str,
    filter: &Filter,
    page: &Page,
) -> ApiResult<(Vec<AnyRow>, i64)> {
    let db = &state.db;
    let where_sql = filter.where_sql();
    let rows = if page.limit == 0 {
        Vec::new()
    } else {
        let sql = format!("SELECT {columns} FROM {table}{where_sql}{}", page.sql_tail());
        filter.bind(sqlx::query(AssertSqlSafe(sql))).fetch_all(&db.pool).await?
    };
    let shown = rows.len() as i64;
    if page.limit > 0 && shown < page.limit && (shown > 0 || page.offset == 0) {
        return Ok((rows, page.offset + shown));
    }
    let count_sql = format!("SELECT COUNT(*) FROM {table}{where_sql}");
    let key = format!("{count_sql}\u{0}{:?}", filter.binds);
    if let Some(total) = state.counts.get(&key) {
        // A cached total must not contradict the page just read.
        return Ok((rows, total.max(page.offset + shown)));
    }
    let total: i64 = {
        let query = filter.bind(sqlx::query(AssertSqlSafe(count_sql)));
        let row = query.fetch_one(&db.pool).await?;
        sqlx::Row::try_get::<i64, _>(&row, 0)?
    };
    if total >= CACHED_COUNT_FROM {
        state.counts.put(key, total);
    }
    Ok((rows, total))
}

/// A row of `table` by ID, only if owned by `context`.
pub async fn visible(
    db: &ferry_db::Db,
    columns: &str,
    table: &'static str,
    id: &str,
    context: &str,
) -> ApiResult<Option<AnyRow>> {
    let sql = format!("SELECT {columns} FROM {table} WHERE id = $1 AND owner_id = $2");
    Ok(sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .bind(context)
        .fetch_optional(&db.pool)
        .await?)
}

/// The ID of the biosample `name` in `project` of context `owner`, made now if missing (names
/// are unique per project); whether it was made. Runs on a pooled connection or in a transaction.
pub async fn ensure_biosample(
    conn: &mut sqlx::AnyConnection,
    owner: &str,
    project: &str,
    name: &str,
    now: i64,
) -> Result<(String, bool), sqlx::Error> {
    let made = sqlx::query(
        "INSERT INTO biosamples (id, owner_id, project_id, name, created, modified) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (project_id, name) DO NOTHING",
    )
    .bind(crate::ids::numeric())
    .bind(owner)
    .bind(project)
    .bind(name)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    let id: String =
        sqlx::query_scalar("SELECT id FROM biosamples WHERE project_id = $1 AND name = $2 AND owner_id = $3")
            .bind(project)
            .bind(name)
            .bind(owner)
            .fetch_one(&mut *conn)
            .await?;
    Ok((id, made))
}

/// A dataset row to write.
pub struct NewDataset<'a> {
    /// Its context.
    pub owner: &'a str,
    /// The user who made it.
    pub created_by: &'a str,
    /// Its project.
    pub project: &'a str,
    /// Its biosample, if any.
    pub biosample: Option<&'a str>,
    /// The app session that wrote it, if any.
    pub appsession: Option<&'a str>,
    /// The run it came from, if any.
    pub run: Option<&'a str>,
    /// Its name.
    pub name: &'a str,
    /// `illumina.fastq.v1.8`, `common.files`, …
    pub dataset_type: &'a str,
    /// Attributes, as JSON.
    pub attributes: &'a str,
    /// `Pending` (files to come) or `Complete` (published whole).
    pub upload_status: &'static str,
    /// Creation time (Unix ms).
    pub now: i64,
}

/// Writes a dataset row with a new ID and legacy sample number; returns the ID. Runs on a
/// pooled connection or in a transaction.
pub async fn insert_dataset(conn: &mut sqlx::AnyConnection, dataset: &NewDataset<'_>) -> Result<String, sqlx::Error> {
    let id = crate::ids::dataset();
    sqlx::query(
        "INSERT INTO datasets (id, owner_id, created_by, project_id, biosample_id, appsession_id, run_id, name, \
         dataset_type, attributes, upload_status, upload_status_summary, qc_status, v1pre3_number, created, modified) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '', 'Undefined', $12, $13, $13)",
    )
    .bind(&id)
    .bind(dataset.owner)
    .bind(dataset.created_by)
    .bind(dataset.project)
    .bind(dataset.biosample)
    .bind(dataset.appsession)
    .bind(dataset.run)
    .bind(dataset.name)
    .bind(dataset.dataset_type)
    .bind(dataset.attributes)
    .bind(dataset.upload_status)
    .bind(crate::ids::v1_number())
    .bind(dataset.now)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_count_is_refreshed_by_one_caller_while_others_reuse_it() {
        let cache = CountCache {
            ttl: Duration::from_millis(40),
            ..CountCache::default()
        };
        assert_eq!(cache.get("q"), None);
        cache.put("q".to_string(), 100_000);
        assert_eq!(cache.get("q"), Some(100_000));
        assert_eq!(cache.get("other"), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("q"), None, "the first caller after expiry counts again");
        assert_eq!(
            cache.get("q"),
            Some(100_000),
            "the others meanwhile reuse the old count"
        );
        cache.put("q".to_string(), 100_001);
        assert_eq!(cache.get("q"), Some(100_001));
    }
}
