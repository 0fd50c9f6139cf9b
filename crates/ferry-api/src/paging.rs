//! List envelopes: v2 `{Items, Paging}` and v1pre3 `{Response:{Items, …}, ResponseStatus, Notifications}`.

use serde::{Deserialize, Serialize};

use crate::model::ResponseStatus;

/// v2 paging block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Paging {
    /// Items in this page.
    pub displayed_count: i64,
    /// Items in the whole list.
    pub total_count: i64,
    /// Offset of the first item of this page.
    pub offset: i64,
    /// Page size asked for (after clamping).
    pub limit: i64,
    /// `Asc` or `Desc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_dir: Option<String>,
    /// Field the list is sorted by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
}

/// A v2 list: `{Items, Paging}` (file lists may add `SubDirectories`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ItemList<T> {
    /// The page's items.
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    /// Where this page sits in the list.
    #[serde(default)]
    pub paging: Paging,
    /// File lists of one directory: the folders directly inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_directories: Option<Vec<DirectoryCompact>>,
}

/// A folder in a file list's `SubDirectories`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DirectoryCompact {
    /// The listing of this folder's files.
    pub href: String,
    /// The folder's name (one path segment).
    pub name: String,
}

/// A v1pre3 list response body: items and paging fields side by side.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct V1List<T> {
    /// The page's items.
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    /// Items in this page.
    #[serde(default)]
    pub displayed_count: i64,
    /// Items in the whole list.
    #[serde(default)]
    pub total_count: i64,
    /// Offset of the first item.
    #[serde(default)]
    pub offset: i64,
    /// Page size.
    #[serde(default)]
    pub limit: i64,
    /// `Asc` or `Desc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_dir: Option<String>,
    /// Sort field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
}

/// The v1pre3 envelope around every response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct V1Envelope<T> {
    /// The payload.
    pub response: T,
    /// Empty on success.
    #[serde(default)]
    pub response_status: ResponseStatus,
    /// Usually empty.
    #[serde(default)]
    pub notifications: Vec<serde_json::Value>,
}

impl<T> V1Envelope<T> {
    /// Wraps a payload with an empty status, as a successful v1pre3 response.
    pub fn ok(response: T) -> Self {
        Self {
            response,
            response_status: ResponseStatus::default(),
            notifications: Vec::new(),
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

impl SortDir {
    /// Parses `asc`/`desc` in any case.
    pub fn parse(text: &str) -> Option<SortDir> {
        match text.to_ascii_lowercase().as_str() {
            "asc" => Some(SortDir::Asc),
            "desc" => Some(SortDir::Desc),
            _ => None,
        }
    }

    /// `Asc` or `Desc`, as BaseSpace writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SortDir::Asc => "Asc",
            SortDir::Desc => "Desc",
        }
    }
}
