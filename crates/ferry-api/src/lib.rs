//! BaseSpace REST API wire types (v2 and v1pre3), shared by the Ferry client and the Ferry hub.
//!
//! The types follow what the real service sends (see `docs/architecture.md`): PascalCase keys,
//! string IDs (numbers are accepted too), every field but `Id` optional, unknown fields ignored,
//! empty fields omitted when serialising. Dates are kept as the strings the service sent; use
//! [`dates`] to parse or format them.

pub mod dates;
pub mod etag;
pub mod launch;
mod md5pair;
pub mod model;
pub mod oauth;
pub mod paging;

pub use model::*;
pub use paging::{DirectoryCompact, ItemList, Paging, V1Envelope, V1List};

/// The dataset type Ferry gives uploaded and demo FASTQ datasets.
pub const FASTQ_DATASET_TYPE: &str = "illumina.fastq.v1.8";
/// The conformance types `illumina.fastq.v1.8` conforms to.
pub const FASTQ_CONFORMS_TO: [&str; 2] = ["common.files", "common.fastq"];
/// Part size BaseSpace uses for multipart uploads (8 MiB); multipart ETags imply it.
pub const BASESPACE_PART_SIZE: u64 = 8 * 1024 * 1024;
/// Largest `Limit` a list accepts (files: [`MAX_FILES_LIMIT`]).
pub const MAX_LIMIT: u32 = 1024;
/// Largest `Limit` a file list accepts.
pub const MAX_FILES_LIMIT: u32 = 1000;
