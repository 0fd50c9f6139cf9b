//! Query building for lists: filters with bound values, paging in SQL (`COUNT` plus
//! `ORDER BY … LIMIT … OFFSET`), and lookups scoped to the caller's context.

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

/// One page of `table` rows matching `filter`, and the total count.
pub async fn list(
    db: &ferry_db::Db,
    columns: &str,
    table: &'static str,
    filter: &Filter,
    page: &Page,
) -> ApiResult<(Vec<AnyRow>, i64)> {
    let where_sql = filter.where_sql();
    let count_sql = format!("SELECT COUNT(*) FROM {table}{where_sql}");
    let total: i64 = {
        let query = filter.bind(sqlx::query(AssertSqlSafe(count_sql)));
        let row = query.fetch_one(&db.pool).await?;
        sqlx::Row::try_get::<i64, _>(&row, 0)?
    };
    if page.limit == 0 || page.offset >= total {
        return Ok((Vec::new(), total));
    }
    let sql = format!("SELECT {columns} FROM {table}{where_sql}{}", page.sql_tail());
    let rows = filter.bind(sqlx::query(AssertSqlSafe(sql))).fetch_all(&db.pool).await?;
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
