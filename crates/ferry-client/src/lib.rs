//! BaseSpace API client: profiles, regions, paging, retries, verified parallel transfers.
//!
//! Used by the `bs` binary and by the workspace's import engine. The [`Client`] speaks BaseSpace's
//! REST API (v2 plus the v1pre3 pieces the real service still needs) to Illumina's servers or to a
//! Ferry hub. [`download`] and [`upload`] are the transfer engines.

pub mod client;
pub mod device;
pub mod download;
pub mod egress;
pub mod error;
pub mod profile;
pub mod progress;
pub mod region;
pub mod upload;

pub use client::{
    AppSessionQuery, ApplicationQuery, BiosampleQuery, Client, ClientOptions, DatasetQuery, FileQuery, RunQuery,
};
pub use egress::EgressPolicy;
pub use error::{ClientError, Result};
pub use region::Region;

#[cfg(test)]
mod tests;
