//! Query parameters (names case-insensitive, unknown ones ignored), paging and JSON bodies with
//! BaseSpace-style errors.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use ferry_api::paging::SortDir;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Query parameters with lower-cased names. A repeated name keeps its first value.
#[derive(Debug, Clone, Default)]
pub struct Params(pub HashMap<String, String>);

impl Params {
    /// Parses a raw query string.
    pub fn parse(query: Option<&str>) -> Params {
        let mut map = HashMap::new();
        if let Some(query) = query {
            for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
                map.entry(name.to_ascii_lowercase())
                    .or_insert_with(|| value.into_owned());
            }
        }
        Params(map)
    }

    /// A parameter's value (name in lower case), empty values treated as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    /// A comma-separated list parameter.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A boolean parameter (`true`/`false`, any case; `1`/`0`).
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(ApiError::invalid_parameter(format!(
                    "Parameter '{name}' must be true or false, not '{v}'."
                ))),
            },
        }
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                ApiError::invalid_parameter(format!("Parameter '{name}' must be a whole number, not '{v}'."))
            }),
        }
    }

    /// Refuses a `SortBy` that is not one of `sorts` (lists whose definition names its sort keys),
    /// saying which keys the list takes.
    pub fn known_sort(&self, sorts: &[(&'static str, &'static str)]) -> Result<(), ApiError> {
        match self.get("sortby") {
            Some(wanted) if !sorts.iter().any(|(name, _)| name.eq_ignore_ascii_case(wanted.trim())) => {
                let names: Vec<&str> = sorts.iter().map(|(name, _)| *name).collect();
                Err(ApiError::invalid_parameter(format!(
                    "SortBy '{}' is not a sort key of this list; use one of {}.",
                    wanted.trim(),
                    names.join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    /// Paging for a list: `Offset` ≥ 0, `Limit` in 0..=`max_limit` (default `default_limit`),
    /// `SortBy` one of `sorts` (unknown values fall back to the first, as BaseSpace does),
    /// `SortDir` Asc/Desc.
    pub fn page(
        &self,
        sorts: &[(&'static str, &'static str)],
        default_dir: SortDir,
        default_limit: i64,
        max_limit: u32,
    ) -> Result<Page, ApiError> {
        let offset = self.int("offset")?.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::invalid_parameter(format!(
                "Offset must be 0 or more, not {offset}."
            )));
        }
        let limit = self.int("limit")?.unwrap_or(default_limit);
        if !(0..=i64::from(max_limit)).contains(&limit) {
            return Err(ApiError::invalid_parameter(format!(
                "Limit must be between 0 and {max_limit}, not {limit}; page through longer lists with Offset."
            )));
        }
        let (sort_by, sort_column) = self
            .get("sortby")
            .and_then(|wanted| sorts.iter().find(|(name, _)| name.eq_ignore_ascii_case(wanted.trim())))
            .or_else(|| sorts.first())
            .copied()
            .unwrap_or(("Id", "id"));
        let sort_dir = match self.get("sortdir") {
            None => default_dir,
            Some(text) => SortDir::parse(text.trim())
                .ok_or_else(|| ApiError::invalid_parameter(format!("SortDir must be Asc or Desc, not '{text}'.")))?,
        };
        Ok(Page {
            offset,
            limit,
            sort_by,
            sort_column,
            sort_dir,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Params::parse(parts.uri.query()))
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    /// Items skipped.
    pub offset: i64,
    /// Items at most.
    pub limit: i64,
    /// Sort name echoed in `Paging.SortBy`.
    pub sort_by: &'static str,
    /// Column sorted on (a constant).
    pub sort_column: &'static str,
    /// Direction.
    pub sort_dir: SortDir,
}

impl Page {
    /// `ORDER BY … LIMIT … OFFSET …` text (constants and numbers only).
    pub fn sql_tail(&self) -> String {
        let dir = match self.sort_dir {
            SortDir::Asc => "ASC",
            SortDir::Desc => "DESC",
        };
        // Ties are broken by id; sorting by id alone lets the (owner_id, id) index serve the order.
        let tie = if self.sort_column == "id" {
            String::new()
        } else {
            format!(", id {dir}")
        };
        format!(
            " ORDER BY {col} {dir}{tie} LIMIT {limit} OFFSET {offset}",
            col = self.sort_column,
            limit = self.limit,
            offset = self.offset
        )
    }

    /// `Paging` for a v2 list.
    pub fn paging(&self, displayed: usize, total: i64) -> ferry_api::Paging {
        ferry_api::Paging {
            displayed_count: displayed as i64,
            total_count: total,
            offset: self.offset,
            limit: self.limit,
            sort_dir: Some(self.sort_dir.as_str().to_string()),
            sort_by: Some(self.sort_by.to_string()),
        }
    }

    /// A v2 list.
    pub fn v2<T>(&self, items: Vec<T>, total: i64) -> ferry_api::ItemList<T> {
        let paging = self.paging(items.len(), total);
        ferry_api::ItemList {
            items,
            paging,
            sub_directories: None,
        }
    }

    /// A v1pre3 list (to wrap in an envelope).
    pub fn v1<T>(&self, items: Vec<T>, total: i64) -> ferry_api::V1List<T> {
        ferry_api::V1List {
            displayed_count: items.len() as i64,
            items,
            total_count: total,
            offset: self.offset,
            limit: self.limit,
            sort_dir: Some(self.sort_dir.as_str().to_string()),
            sort_by: Some(self.sort_by.to_string()),
        }
    }
}

/// A JSON body; an empty body reads as `T::default()`. Malformed JSON or wrong types answer 400
/// with a BaseSpace error body naming the problem.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state).await.map_err(|error| {
            let status = error.status();
            if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    "BASESPACE.COMMON.REQUEST_TOO_LARGE",
                    "The JSON body is larger than the 1 MiB this call accepts.",
                )
            } else {
                ApiError::bad_request(format!("Cannot read the request body: {error}"))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(T::default()));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|error| {
            ApiError::bad_request(format!("The request body is not valid JSON for this call: {error}"))
        })
    }
}

/// Form fields merged with query parameters (lower-cased names), for OAuth endpoints that accept
/// either.
pub struct FormOrQuery(pub Params);

impl<S: Send + Sync> FromRequest<S> for FormOrQuery {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut params = Params::parse(request.uri().query());
        let is_json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = axum::body::to_bytes(request.into_body(), 64 * 1024)
            .await
            .map_err(|error| ApiError::bad_request(format!("Cannot read the request body: {error}")))?;
        let _ = state;
        if is_json {
            let value: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|error| ApiError::bad_request(format!("The request body is not valid JSON: {error}")))?;
            if let serde_json::Value::Object(map) = value {
                for (name, value) in map {
                    let text = match value {
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    };
                    params.0.insert(name.to_ascii_lowercase(), text);
                }
            }
        } else {
            for (name, value) in url::form_urlencoded::parse(&bytes) {
                params.0.insert(name.to_ascii_lowercase(), value.into_owned());
            }
        }
        Ok(FormOrQuery(params))
    }
}
