//! One behaviour suite, run against every backend: the local directory and S3.
//!
//! The S3 runs use an S3 server started inside each test (s3s-fs on 127.0.0.1:0), or, when
//! `FERRY_TEST_S3_ENDPOINT` is set (with `FERRY_TEST_S3_BUCKET` and the `AWS_*` credentials),
//! that endpoint instead: `.ci/run` uses it to run the same suite against moto
//! (`scripts/ci/s3-moto`).

#[path = "s3/harness.rs"]
mod harness;
#[path = "s3/suite.rs"]
mod suite;

/// Runs each named suite function once per backend, as `local_backend::NAME` and
/// `s3_backend::NAME`.
macro_rules! for_each_backend {
    ($($name:ident),* $(,)?) => {
        mod local_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let harness = crate::harness::Harness::local().await;
                    crate::suite::$name(&harness).await;
                }
            )*
        }
        mod s3_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let harness = crate::harness::Harness::s3().await;
                    crate::suite::$name(&harness).await;
                }
            )*
        }
    };
}

for_each_backend!(
    put_open_range_stat_delete,
    empty_object,
    failures_leave_nothing_visible,
    cancelled_write_leaves_nothing,
    concurrent_writes_to_one_key_leave_one_whole_object,
    malformed_keys_are_rejected,
    multipart_assembles_with_s3_etag,
    multipart_rejects_bad_completions_and_big_parts,
    resumable_write_survives_reopen_and_stays_invisible,
    presigned_urls,
);

#[path = "s3/s3_only.rs"]
mod s3_only;
