//! A workspace whose file store is an S3 bucket (an in-process s3s-fs server): imported files
//! are objects in the bucket, byte for byte the hub's, and nothing lands in the data folder.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use ferry_hub::testing::TestHub;
use ferry_workspace::testing::{TestOptions, TestWorkspace};
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqwest::StatusCode;
use serde_json::json;

use super::common::{Api, capture_logs, hub_file_facts};

const S3_KEY: &str = "ferry-workspace-test-key";
const S3_SECRET: &str = "ferry-workspace-test-secret";
const BUCKET: &str = "workspace-bucket";
const PREFIX: &str = "imports";

/// An s3s-fs server on 127.0.0.1 serving `root` (buckets are its folders); aborted when dropped.
struct S3Server {
    endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_s3(root: &Path) -> S3Server {
    let fs = s3s_fs::FileSystem::new(root).unwrap_or_else(|error| panic!("s3s-fs: {error:?}"));
    let mut builder = s3s::service::S3ServiceBuilder::new(fs);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(S3_KEY, S3_SECRET));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let connection = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = connection.serve_connection(TokioIo::new(socket), service).await;
            });
        }
    });
    S3Server { endpoint, task }
}

/// MD5 (hex) of every file below `dir`, recursively.
fn md5s_below(dir: &Path, found: &mut Vec<String>) {
    use md5::Digest;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            md5s_below(&path, found);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            found.push(hex::encode(md5::Md5::digest(&bytes)));
        }
    }
}

#[tokio::test]
async fn import_stores_files_as_objects_in_an_s3_bucket() {
    capture_logs();
    let root = tempfile::tempdir().unwrap();
    let s3_root = root.path().join("s3");
    // s3s-fs keeps a bucket as a folder of its root.
    std::fs::create_dir_all(s3_root.join(BUCKET)).unwrap();
    let server = start_s3(&s3_root).await;
    // Passed explicitly (not through AWS_* variables) so parallel tests cannot see or race on it.
    let s3 = ferry_store::S3Options {
        endpoint: Some(server.endpoint.clone()),
        region: Some("us-east-1".to_string()),
        access_key_id: Some(S3_KEY.to_string()),
        secret_access_key: Some(S3_SECRET.to_string()),
        allow_http: true,
        staging_dir: Some(root.path().join("staging")),
        ..Default::default()
    };
    let hub = TestHub::start().await;
    let workspace = TestWorkspace::start_with(TestOptions {
        storage_url: Some(format!("s3://{BUCKET}/{PREFIX}")),
        s3: Some(s3),
        allowed_api_servers: vec![hub.url.clone()],
        ..TestOptions::default()
    })
    .await;
    assert_eq!(
        workspace.workspace.store().root(),
        None,
        "the store is not a local folder"
    );

    let api = Api::new(&workspace, &workspace.user("lab@example.org").await);
    let token = api.link_demo(&hub).await;
    let (status, projects) = api.get("/api/v1/basespace/projects").await;
    assert_eq!(status, StatusCode::OK, "{projects}");
    let project = projects["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["biosample_count"].as_u64().unwrap_or(0) > 0)
        .cloned()
        .unwrap_or_else(|| panic!("a demo project with biosamples: {projects}"));
    let (status, created) = api
        .post("/api/v1/imports", json!({"project_ids": [project["id"]]}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let done = api
        .wait_for_import(created["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["files_done"], done["files_total"], "{done}");
    assert!(done["errors"].as_array().unwrap().is_empty(), "{done}");

    // Every object in the bucket, by content.
    let mut objects = Vec::new();
    md5s_below(&s3_root.join(BUCKET).join(PREFIX), &mut objects);
    let in_bucket: HashSet<String> = objects.iter().cloned().collect();

    let (status, samples) = api.get("/api/v1/samples").await;
    assert_eq!(status, StatusCode::OK, "{samples}");
    let samples = samples["items"].as_array().unwrap().clone();
    assert!(!samples.is_empty(), "the import made samples");
    let mut imported = 0;
    for summary in &samples {
        let (status, sample) = api
            .get(&format!("/api/v1/samples/{}", summary["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, StatusCode::OK, "{sample}");
        for file in sample["files"].as_array().unwrap() {
            let file_id = file["source"]["file_id"].as_str().unwrap();
            let (md5, size, _) = hub_file_facts(&hub.url, &token, file_id).await;
            assert_eq!(file["md5"], md5.as_str(), "{file}");
            assert_eq!(file["size"], size, "{file}");
            assert!(
                in_bucket.contains(&md5),
                "{} (MD5 {md5}) is an object under s3://{BUCKET}/{PREFIX}; objects there: {objects:?}",
                file["name"]
            );
            imported += 1;
        }
    }
    assert!(imported >= 2, "files were imported and checked ({imported})");
    assert!(
        objects.len() >= imported,
        "{imported} files imported, {} objects in the bucket",
        objects.len()
    );
    assert!(
        !workspace.data_dir.join("files").exists(),
        "no imported bytes in the workspace data folder when the store is S3"
    );
    drop(server);
}
