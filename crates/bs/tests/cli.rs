//! End-to-end tests: the real `bs` binary against a real hub on an ephemeral port.

#[path = "cli/support.rs"]
mod support;

#[path = "cli/apps.rs"]
mod apps;
#[path = "cli/auth.rs"]
mod auth;
#[path = "cli/browse.rs"]
mod browse;
#[path = "cli/download.rs"]
mod download;
#[path = "cli/fastq_apps.rs"]
mod fastq_apps;
#[path = "cli/launch.rs"]
mod launch;
#[path = "cli/profiles.rs"]
mod profiles;
#[path = "cli/upload.rs"]
mod upload;
