//! Blob storage behind an interface: local directory (and S3-compatible stores).
