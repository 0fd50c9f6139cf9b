//! The import engine against a real hub: verified imports, resume after a kill, idempotence,
//! broken gzip, cancel, and two workers sharing one database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferry_client::{BiosampleQuery, Client, ClientOptions};
use ferry_db::Db;
use ferry_fastq::stats::GzFastqStats;
use ferry_hub::DemoOptions;
use ferry_hub::testing::TestHub;
use ferry_store::BlobStore;
use ferry_workspace::import::{
    ClientProvider, ImportConfig, ImportOptions, ImportRequest, ImportService, ImportStatus, OnConflict,
};
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use md5::Md5;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

const USER: &str = "user-import-test";

/// Hands every user the same hub token.
struct HubClients {
    url: String,
    token: String,
}

impl ClientProvider for HubClients {
    fn client_for(&self, _user_id: &str) -> BoxFuture<'_, Result<Client, String>> {
        Box::pin(async move {
            let options = ClientOptions {
                retries: 1,
                initial_backoff: Duration::from_millis(50),
                ..ClientOptions::default()
            };
            Client::with_options(&self.url, &self.token, options).map_err(|e| e.to_string())
        })
    }
}

struct Harness {
    hub: TestHub,
    dir: tempfile::TempDir,
    db_url: String,
    db: Db,
    store: BlobStore,
    client: Client,
    clients: Arc<HubClients>,
}

fn test_config() -> ImportConfig {
    ImportConfig {
        max_parallel_files: 2,
        // Long enough that a loaded test machine never loses a live claim; the kill test uses
        // a short lease for the claim it kills.
        lease: Duration::from_secs(10),
        max_attempts: 3,
        retry_base: Duration::from_millis(100),
        progress_interval: Duration::from_millis(1),
        poll_interval: Duration::from_millis(20),
        identity_file: None,
    }
}

impl Harness {
    async fn start(hub: TestHub) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let db_url = ferry_db::testing::fresh_database_url(dir.path()).await;
        let db = Db::connect(&db_url).await.unwrap();
        db.migrate(&MIGRATOR).await.unwrap();
        let store = BlobStore::local(dir.path().join("files")).unwrap();
        let token = hub.token(ferry_hub::demo::DEMO_EMAIL, None).await;
        let client = Client::new(&hub.url, &token).unwrap();
        let clients = Arc::new(HubClients {
            url: hub.url.clone(),
            token,
        });
        Harness {
            hub,
            dir,
            db_url,
            db,
            store,
            client,
            clients,
        }
    }

    fn service(&self, config: ImportConfig) -> ImportService {
        ImportService::new(self.db.clone(), self.store.clone(), self.clients.clone(), config)
    }

    /// A project of the demo user with FASTQ biosamples.
    async fn demo_project(&self) -> (String, Vec<(String, String)>) {
        let projects: Vec<_> = self.client.projects(None).try_collect().await.unwrap();
        for project in projects {
            let biosamples: Vec<_> = self
                .client
                .biosamples(&BiosampleQuery {
                    project_ids: vec![project.id.clone()],
                    ..BiosampleQuery::default()
                })
                .try_collect()
                .await
                .unwrap();
            if biosamples.len() >= 2 {
                let list = biosamples
                    .into_iter()
                    .map(|b| (b.id.clone(), b.bio_sample_name.clone().unwrap_or_default()))
                    .collect();
                return (project.id, list);
            }
        }
        panic!("the demo hub has no project with two biosamples");
    }
}

/// Runs work items until none is left.
async fn drain(service: &ImportService) {
    for _ in 0..1000 {
        if !service.run_one().await.unwrap() {
            return;
        }
    }
    panic!("the import queue never emptied");
}

async fn wait_for(service: &ImportService, import_id: &str, timeout: Duration) -> ImportStatus {
    let start = Instant::now();
    loop {
        let status = service.status(USER, import_id).await.unwrap();
        if matches!(status.status.as_str(), "completed" | "failed" | "cancelled") {
            return status;
        }
        assert!(start.elapsed() < timeout, "import did not finish in time: {status:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn fetch(client: &Client, file_id: &str) -> Bytes {
    let meta = client.content_url(file_id).await.unwrap();
    client
        .get_range(&meta.href_content, None)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
}

async fn read_blob(reader: ferry_store::BlobReader) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = reader.stream;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// Every imported file equals the hub's bytes: MD5, SHA-256, read count and content.
async fn assert_samples_match_hub(h: &Harness, service: &ImportService) -> usize {
    let samples = service.samples(USER).await.unwrap();
    let mut files = 0;
    for summary in &samples {
        let sample = service.sample(USER, &summary.id).await.unwrap();
        assert_eq!(sample.status, "completed", "{sample:#?}");
        assert!(!sample.files.is_empty());
        for file in &sample.files {
            let hub_bytes = fetch(&h.client, &file.source.file_id).await;
            assert_eq!(file.size, hub_bytes.len() as u64, "{}", file.name);
            assert_eq!(file.md5.as_deref(), Some(hex::encode(Md5::digest(&hub_bytes)).as_str()));
            assert_eq!(
                file.sha256.as_deref(),
                Some(hex::encode(Sha256::digest(&hub_bytes)).as_str())
            );
            let mut stats = GzFastqStats::new();
            stats.update(&hub_bytes).unwrap();
            let stats = stats.finish().unwrap();
            assert!(stats.reads > 0);
            assert_eq!(file.reads, Some(stats.reads), "{}", file.name);
            assert_eq!(file.bases, Some(stats.bases), "{}", file.name);
            let (_, reader) = service.open_sample_file(USER, &sample.id, &file.id).await.unwrap();
            assert!(
                read_blob(reader).await == hub_bytes,
                "stored bytes differ for {}",
                file.name
            );
            files += 1;
        }
    }
    files
}

#[tokio::test]
async fn import_of_a_demo_project_matches_the_hub_and_a_repeat_creates_nothing() {
    let h = Harness::start(TestHub::start().await).await;
    let service = h.service(test_config());
    let (project_id, biosamples) = h.demo_project().await;
    let id = service
        .enqueue(
            USER,
            ImportRequest {
                project_ids: vec![project_id.clone()],
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    let queued = service.status(USER, &id).await.unwrap();
    assert_eq!(queued.status, "queued");
    drain(&service).await;
    let status = service.status(USER, &id).await.unwrap();
    assert_eq!(status.status, "completed", "{status:#?}");
    assert!(status.errors.is_empty(), "{:?}", status.errors);
    assert_eq!(status.files_done, status.files_total);
    assert_eq!(status.bytes_done, status.bytes_total);
    assert!(status.files_total >= 4, "two biosamples, paired, should give 4+ files");
    assert_eq!(status.eta_seconds, None);
    let report_ids: Vec<_> = status.report.iter().map(|r| r.biosample_id.clone()).collect();
    for (biosample_id, _) in &biosamples {
        assert!(
            report_ids.contains(biosample_id),
            "biosample {biosample_id} missing from the report"
        );
    }
    for entry in &status.report {
        assert!(
            entry.status == "completed" || entry.status == "skipped",
            "unexpected report entry {entry:?}"
        );
    }
    let files = assert_samples_match_hub(&h, &service).await;
    assert_eq!(files as u64, status.files_total);
    for summary in service.samples(USER).await.unwrap() {
        for file in service.sample(USER, &summary.id).await.unwrap().files {
            assert_eq!(file.reads, Some(DemoOptions::default().reads_per_file), "{}", file.name);
        }
    }

    // Paired files sit in one sample per biosample, R1 and R2 per lane.
    let samples = service.samples(USER).await.unwrap();
    for summary in &samples {
        assert!(summary.paired);
        assert_eq!(summary.source.api_server, h.hub.url.trim_end_matches('/'));
        let detail = service.sample(USER, &summary.id).await.unwrap();
        let r1 = detail.files.iter().filter(|f| f.read == Some(1)).count();
        let r2 = detail.files.iter().filter(|f| f.read == Some(2)).count();
        assert_eq!(r1, r2);
        assert!(detail.files.iter().all(|f| f.lane.is_some()));
    }

    // The same import again: recognised, nothing new.
    let again = service
        .enqueue(
            USER,
            ImportRequest {
                project_ids: vec![project_id],
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    drain(&service).await;
    let second = service.status(USER, &again).await.unwrap();
    assert_eq!(second.status, "completed", "{second:#?}");
    assert_eq!(second.files_total, 0, "nothing should be transferred again");
    assert!(
        second
            .report
            .iter()
            .all(|r| r.status == "already_imported" || r.status == "skipped")
    );
    assert_eq!(service.samples(USER).await.unwrap().len(), samples.len());
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM sample_files")
        .fetch_one(&h.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(count as u64, status.files_total);
}

#[tokio::test]
async fn merge_and_name_conflicts() {
    let h = Harness::start(TestHub::start().await).await;
    let service = h.service(test_config());
    let (_, biosamples) = h.demo_project().await;
    let ids: Vec<String> = biosamples.iter().map(|(id, _)| id.clone()).collect();

    let merged = service
        .enqueue(
            USER,
            ImportRequest {
                biosample_ids: ids.clone(),
                options: ImportOptions {
                    merge_into: Some("Everything".into()),
                    genome: Some("GRCh38".into()),
                    data_type: Some("rna-seq".into()),
                    ..ImportOptions::default()
                },
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    drain(&service).await;
    let status = service.status(USER, &merged).await.unwrap();
    assert_eq!(status.status, "completed", "{status:#?}");
    assert_eq!(status.samples.len(), 1);
    let sample = service.sample(USER, &status.samples[0].id).await.unwrap();
    assert_eq!(sample.name, "Everything");
    assert_eq!(sample.genome.as_deref(), Some("GRCh38"));
    assert_eq!(sample.source.biosample_ids.len(), ids.len());
    assert_eq!(status.report.len(), ids.len());
    assert!(
        status
            .report
            .iter()
            .all(|r| r.sample_id.as_deref() == Some(sample.id.as_str()))
    );

    // Deleting the sample lets the same files be imported again; a name clash is then handled
    // per the option.
    service.delete_sample(USER, &sample.id).await.unwrap();
    assert!(service.sample(USER, &sample.id).await.is_err());
    let first = service
        .enqueue(
            USER,
            ImportRequest {
                biosample_ids: vec![ids[0].clone()],
                options: ImportOptions {
                    merge_into: Some("Clash".into()),
                    ..ImportOptions::default()
                },
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    drain(&service).await;
    assert_eq!(service.status(USER, &first).await.unwrap().status, "completed");
    for (on_conflict, expect_status, expect_name) in [
        (OnConflict::Skip, "skipped", None),
        (OnConflict::Rename, "completed", Some("Clash-2")),
    ] {
        let id = service
            .enqueue(
                USER,
                ImportRequest {
                    biosample_ids: vec![ids[1].clone()],
                    options: ImportOptions {
                        merge_into: Some("Clash".into()),
                        on_conflict,
                        ..ImportOptions::default()
                    },
                    ..ImportRequest::default()
                },
            )
            .await
            .unwrap();
        drain(&service).await;
        let status = service.status(USER, &id).await.unwrap();
        assert_eq!(status.report.len(), 1, "{status:#?}");
        assert_eq!(status.report[0].status, expect_status, "{status:#?}");
        assert_eq!(status.report[0].sample_name.as_deref(), expect_name);
    }
    let names: Vec<_> = service
        .samples(USER)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(
        names.contains(&"Clash".to_string()) && names.contains(&"Clash-2".to_string()),
        "{names:?}"
    );
    // Another user sees none of it.
    assert!(service.samples("someone-else").await.unwrap().is_empty());
    assert!(service.status("someone-else", &first).await.is_err());
}

#[tokio::test]
async fn a_truncated_gzip_fails_its_sample_while_the_others_finish() {
    let h = Harness::start(TestHub::start().await).await;
    let (project_id, biosamples) = h.demo_project().await;

    // Upload a FASTQ.gz cut short: its ETag matches the bytes, but the gzip stream is broken.
    let good = ferry_fastq::fastq_gz_bytes(&ferry_fastq::SynthSpec::new("Broken", 9, 1, 1, 2_000));
    let cut = &good[..good.len() * 2 / 3];
    let path = h.dir.path().join("Broken_S9_L001_R1_001.fastq.gz");
    std::fs::write(&path, cut).unwrap();
    let plan = ferry_client::upload::UploadPlan {
        project_id: project_id.clone(),
        datasets: vec![ferry_client::upload::DatasetUpload {
            name: "Broken_L001".into(),
            biosample_name: "Broken".into(),
            dataset_type: ferry_api::FASTQ_DATASET_TYPE.into(),
            common_fastq: None,
            files: vec![ferry_client::upload::UploadFile {
                path,
                name: "Broken_S9_L001_R1_001.fastq.gz".into(),
            }],
        }],
        appsession_name: None,
    };
    let options = ferry_client::upload::UploadOptions {
        journal_dir: Some(h.dir.path().join("journal")),
        ..Default::default()
    };
    let uploaded = ferry_client::upload::upload(&h.client, &plan, &options).await.unwrap();
    let broken_id = uploaded.datasets[0].biosample.id.clone();

    let service = h.service(test_config());
    let id = service
        .enqueue(
            USER,
            ImportRequest {
                biosample_ids: vec![biosamples[0].0.clone(), broken_id.clone()],
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    drain(&service).await;
    let status = service.status(USER, &id).await.unwrap();
    assert_eq!(status.status, "failed", "{status:#?}");
    let broken = status.report.iter().find(|r| r.biosample_id == broken_id).unwrap();
    assert_eq!(broken.status, "failed");
    let reason = broken.reason.clone().unwrap_or_default();
    assert!(reason.contains("Broken_S9_L001_R1_001.fastq.gz"), "{reason}");
    assert!(
        reason.to_lowercase().contains("truncated"),
        "reason should say truncated: {reason}"
    );
    let fine = status
        .report
        .iter()
        .find(|r| r.biosample_id == biosamples[0].0)
        .unwrap();
    assert_eq!(fine.status, "completed", "{status:#?}");
    assert!(
        status
            .errors
            .iter()
            .any(|e| e.contains("Broken_S9_L001_R1_001.fastq.gz"))
    );
    // The damaged file's bytes are not kept as a completed file.
    let broken_sample = service.sample(USER, broken.sample_id.as_ref().unwrap()).await.unwrap();
    let file = &broken_sample.files[0];
    assert_eq!(file.status, "failed");
    assert!(file.md5.is_none() && file.reads.is_none());
    assert!(
        service
            .open_sample_file(USER, &broken_sample.id, &file.id)
            .await
            .is_err()
    );

    // Importing again retries the failed file in its sample (no duplicate) and leaves the good
    // sample alone.
    let samples_before = service.samples(USER).await.unwrap().len();
    let again = service
        .enqueue(
            USER,
            ImportRequest {
                biosample_ids: vec![biosamples[0].0.clone(), broken_id.clone()],
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    drain(&service).await;
    let status = service.status(USER, &again).await.unwrap();
    assert_eq!(
        status.files_total, 1,
        "only the failed file is tried again: {status:#?}"
    );
    assert_eq!(status.status, "failed");
    assert_eq!(service.samples(USER).await.unwrap().len(), samples_before);
    let fine = status
        .report
        .iter()
        .find(|r| r.biosample_id == biosamples[0].0)
        .unwrap();
    assert_eq!(fine.status, "already_imported");
}

#[tokio::test]
async fn cancel_stops_queued_files() {
    let h = Harness::start(TestHub::start().await).await;
    let service = h.service(test_config());
    let (project_id, _) = h.demo_project().await;
    let id = service
        .enqueue(
            USER,
            ImportRequest {
                project_ids: vec![project_id],
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    // Plan only.
    assert!(service.run_one().await.unwrap());
    let planned = service.status(USER, &id).await.unwrap();
    assert_eq!(planned.status, "running");
    assert!(planned.files_total > 0);
    service.cancel(USER, &id).await.unwrap();
    let status = service.status(USER, &id).await.unwrap();
    assert_eq!(status.status, "cancelled");
    assert!(!service.run_one().await.unwrap(), "cancelled files must not be claimed");
    for sample in service.samples(USER).await.unwrap() {
        assert_eq!(sample.status, "cancelled");
    }
    // Cancelling again is harmless; importing again picks the cancelled files up.
    service.cancel(USER, &id).await.unwrap();
    assert!(service.cancel("someone-else", &id).await.is_err());
}

/// One worker whose claims expire after two seconds.
fn short_lease_config() -> ImportConfig {
    ImportConfig {
        max_parallel_files: 1,
        lease: Duration::from_secs(2),
        ..test_config()
    }
}

/// Starts an import with a service configured by `config`, kills its workers while a file is half
/// on disk, and returns the import ID, the file row's ID and its blob key.
async fn import_and_kill_mid_file(h: &Harness, project_id: &str, config: ImportConfig) -> (String, String, String) {
    let first = h.service(config);
    let id = first
        .enqueue(
            USER,
            ImportRequest {
                project_ids: vec![project_id.to_string()],
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    let workers = first.spawn_workers(CancellationToken::new());
    let start = Instant::now();
    let (file_id, key) = loop {
        let row = sqlx::query(
            "SELECT id, blob_key FROM sample_files WHERE import_id = $1 AND status = 'running' AND bytes_done > 0 \
             AND bytes_done < size LIMIT 1",
        )
        .bind(&id)
        .fetch_optional(&h.db.pool)
        .await
        .unwrap();
        if let Some(row) = row {
            // Abrupt: no chance to release the lease or finish the chunk.
            workers.abort();
            break (row.get::<String, _>("id"), row.get::<String, _>("blob_key"));
        }
        assert!(start.elapsed() < Duration::from_secs(60), "never saw a file in flight");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let _ = workers.await;
    let partial = h.store.open_partial(&key).await.unwrap();
    assert!(
        partial.size > 0,
        "the killed transfer should leave its bytes for resuming"
    );
    assert_eq!(first.status(USER, &id).await.unwrap().status, "running");
    (id, file_id, key)
}

/// Runs a fresh service (another process, as far as leases go) until the import ends.
async fn finish_with_new_worker(h: &Harness, import_id: &str) -> (ImportService, ImportStatus) {
    let second = h.service(test_config());
    let shutdown = CancellationToken::new();
    let workers = second.spawn_workers(shutdown.clone());
    let status = wait_for(&second, import_id, Duration::from_secs(120)).await;
    shutdown.cancel();
    workers.await.unwrap();
    (second, status)
}

async fn attempts_of(h: &Harness, file_id: &str) -> i64 {
    sqlx::query("SELECT attempts FROM sample_files WHERE id = $1")
        .bind(file_id)
        .fetch_one(&h.db.pool)
        .await
        .unwrap()
        .get("attempts")
}

#[tokio::test]
async fn an_import_killed_mid_file_resumes_verified_cancel_stops_it_and_a_restart_takes_it_back_at_once() {
    // Big enough files that the kill lands inside one.
    let hub = TestHub::start_with(DemoOptions {
        reads_per_file: 150_000,
    })
    .await;
    let h = Harness::start(hub).await;
    let (project_id, _) = h.demo_project().await;

    // 1. Killed mid-file; after the lease expires another worker resumes the partial file.
    let (id, file_id, _) = import_and_kill_mid_file(&h, &project_id, short_lease_config()).await;
    let (service, status) = finish_with_new_worker(&h, &id).await;
    assert_eq!(status.status, "completed", "{status:#?}");
    assert_eq!(status.files_done, status.files_total);
    assert_eq!(attempts_of(&h, &file_id).await, 2);
    assert_samples_match_hub(&h, &service).await;

    // 2. The same, but the bytes left on disk get damaged before the restart: the resumed file
    //    fails its checksum, is fetched again from the start, and ends verified.
    for sample in service.samples(USER).await.unwrap() {
        service.delete_sample(USER, &sample.id).await.unwrap();
    }
    let (id, file_id, key) = import_and_kill_mid_file(&h, &project_id, short_lease_config()).await;
    let path = h.dir.path().join("files").join("partial").join(&key);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let (service, status) = finish_with_new_worker(&h, &id).await;
    assert_eq!(status.status, "completed", "{status:#?}");
    assert_eq!(
        attempts_of(&h, &file_id).await,
        3,
        "the damaged partial file should have been read, caught and discarded"
    );
    assert_samples_match_hub(&h, &service).await;

    // 3. Cancel while a file is in flight: the transfer stops and its bytes are removed.
    for sample in service.samples(USER).await.unwrap() {
        service.delete_sample(USER, &sample.id).await.unwrap();
    }
    let id = service
        .enqueue(
            USER,
            ImportRequest {
                project_ids: vec![project_id.clone()],
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let workers = service.spawn_workers(shutdown.clone());
    let start = Instant::now();
    let key = loop {
        let row = sqlx::query(
            "SELECT blob_key FROM sample_files WHERE import_id = $1 AND status = 'running' AND bytes_done > 0 \
             AND bytes_done < size LIMIT 1",
        )
        .bind(&id)
        .fetch_optional(&h.db.pool)
        .await
        .unwrap();
        if let Some(row) = row {
            service.cancel(USER, &id).await.unwrap();
            break row.get::<String, _>("blob_key");
        }
        assert!(start.elapsed() < Duration::from_secs(60), "never saw a file in flight");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let start = Instant::now();
    while h.store.open_partial(&key).await.is_ok() || h.store.exists(&key).await.unwrap() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the cancelled transfer kept its bytes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    workers.await.unwrap();
    let status = service.status(USER, &id).await.unwrap();
    assert_eq!(status.status, "cancelled");
    let statuses: Vec<String> = sqlx::query("SELECT status FROM sample_files WHERE import_id = $1")
        .bind(&id)
        .fetch_all(&h.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("status"))
        .collect();
    assert!(
        statuses.iter().all(|s| s == "cancelled" || s == "completed"),
        "{statuses:?}"
    );
    assert!(statuses.iter().any(|s| s == "cancelled"));

    // 4. A restart under the same worker name (the same data folder's identity file) takes the
    //    killed run's claims back at once: with hour-long leases, waiting for them could not
    //    finish the import in time.
    for sample in service.samples(USER).await.unwrap() {
        service.delete_sample(USER, &sample.id).await.unwrap();
    }
    let config = ImportConfig {
        max_parallel_files: 1,
        lease: Duration::from_secs(3600),
        identity_file: Some(h.dir.path().join("worker.id")),
        ..test_config()
    };
    let (id, file_id, _) = import_and_kill_mid_file(&h, &project_id, config.clone()).await;
    let restarted = h.service(config);
    let shutdown = CancellationToken::new();
    let workers = restarted.spawn_workers(shutdown.clone());
    let status = wait_for(&restarted, &id, Duration::from_secs(120)).await;
    shutdown.cancel();
    workers.await.unwrap();
    assert_eq!(status.status, "completed", "{status:#?}");
    assert_eq!(attempts_of(&h, &file_id).await, 2, "the killed file is resumed once");
    assert_samples_match_hub(&h, &restarted).await;
}

#[tokio::test]
async fn two_workers_on_one_database_never_transfer_a_file_twice() {
    let h = Harness::start(TestHub::start().await).await;
    let (project_id, _) = h.demo_project().await;
    // Two services stand for two server processes sharing the database and the storage.
    let db2 = Db::connect(&h.db_url).await.unwrap();
    let a = h.service(test_config());
    let b = ImportService::new(db2, h.store.clone(), h.clients.clone(), test_config());
    let id = a
        .enqueue(
            USER,
            ImportRequest {
                project_ids: vec![project_id],
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let wa = a.spawn_workers(shutdown.clone());
    let wb = b.spawn_workers(shutdown.clone());
    let status = wait_for(&a, &id, Duration::from_secs(60)).await;
    shutdown.cancel();
    wa.await.unwrap();
    wb.await.unwrap();
    assert_eq!(status.status, "completed", "{status:#?}");
    let rows = sqlx::query("SELECT name, attempts FROM sample_files")
        .fetch_all(&h.db.pool)
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        assert_eq!(
            row.get::<i64, _>("attempts"),
            1,
            "{} was claimed twice",
            row.get::<String, _>("name")
        );
    }
    assert_samples_match_hub(&h, &a).await;
}

#[tokio::test]
async fn a_run_imports_per_sample_linked_to_its_biosamples() {
    let h = Harness::start(TestHub::start().await).await;
    let service = h.service(test_config());
    let (project_id, biosamples) = h.demo_project().await;
    let runs: Vec<_> = h
        .client
        .runs(&ferry_client::RunQuery::default())
        .try_collect()
        .await
        .unwrap();
    let run = runs
        .iter()
        .find(|r| {
            r.name.as_deref() == Some(ferry_hub::demo::DEMO_RUN)
                || r.experiment_name.as_deref() == Some(ferry_hub::demo::DEMO_RUN)
        })
        .or_else(|| runs.first())
        .expect("the demo hub has a run");
    let id = service
        .enqueue(
            USER,
            ImportRequest {
                run_ids: vec![run.id.clone()],
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    drain(&service).await;
    let status = service.status(USER, &id).await.unwrap();
    assert_eq!(status.status, "completed", "{status:#?}");
    assert!(status.files_total >= 4);
    for entry in &status.report {
        assert_eq!(entry.status, "completed", "{entry:?}");
        assert!(
            biosamples
                .iter()
                .any(|(bid, name)| *bid == entry.biosample_id && *name == entry.biosample_name),
            "run sample {entry:?} should be linked to its biosample"
        );
    }
    for summary in service.samples(USER).await.unwrap() {
        assert_eq!(summary.source.run_ids, vec![run.id.clone()]);
    }
    assert_samples_match_hub(&h, &service).await;

    // The project holds the same files: nothing to do.
    let again = service
        .enqueue(
            USER,
            ImportRequest {
                project_ids: vec![project_id],
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    drain(&service).await;
    let status = service.status(USER, &again).await.unwrap();
    assert_eq!(status.files_total, 0, "{status:#?}");
}
