//! `ferry workspace --mode web` and `--mode worker` as separate processes over one database and
//! one file store: the web process only queues imports, a worker process runs them.

use std::time::Duration;

use ferry_hub::testing::TestHub;
use ferry_workspace::testing::{TEST_PASSWORD, TestOptions};
use ferry_workspace::{Workspace, WorkspaceConfig};
use reqwest::StatusCode;
use serde_json::json;

use super::common::{Api, capture_logs};

#[tokio::test]
async fn a_web_process_only_queues_imports_and_a_worker_process_runs_them() {
    capture_logs();
    let hub = TestHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = ferry_db::testing::fresh_database_url(dir.path()).await;
    let shared_files = dir.path().join("shared-files");
    let storage_url = format!("file://{}", shared_files.display());
    let import = TestOptions::default().import;

    // The web process (pages and API, no import workers).
    let web_dir = dir.path().join("web");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let web = Workspace::open_with(
        WorkspaceConfig {
            listen: address,
            data_dir: web_dir.clone(),
            database_url: Some(database_url.clone()),
            public_url: None,
            storage_url: Some(storage_url.clone()),
            allowed_api_servers: vec![hub.url.clone()],
            trusted_proxies: Vec::new(),
            signup: ferry_workspace::SignupMode::Open,
        },
        import.clone(),
    )
    .await
    .unwrap();
    web.add_user("lab@example.org", TEST_PASSWORD).await.unwrap();
    let api = Api {
        http: reqwest::Client::new(),
        base: format!("http://{address}"),
        key: web.create_api_key("lab@example.org").await.unwrap(),
    };
    let (stop_web, web_stopped) = tokio::sync::oneshot::channel::<()>();
    let web_server = tokio::spawn(web.serve_with(
        listener,
        async {
            let _ = web_stopped.await;
        },
        false,
    ));

    api.link_demo(&hub).await;
    let (status, projects) = api.get("/api/v1/basespace/projects").await;
    assert_eq!(status, StatusCode::OK, "{projects}");
    let project = projects["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["biosample_count"].as_u64().unwrap_or(0) > 0)
        .expect("the demo hub has a project with biosamples")
        .clone();
    let (status, created) = api
        .post("/api/v1/imports", json!({"project_ids": [project["id"]]}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let import_id = created["id"].as_str().unwrap().to_string();

    // Without a worker the import stays queued (workers poll every 100 ms in tests).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, waiting) = api.get(&format!("/api/v1/imports/{import_id}")).await;
    assert_eq!(waiting["status"], "queued", "a web process runs no imports: {waiting}");
    assert_eq!(waiting["files_done"], 0, "{waiting}");

    // A worker process with its own data folder: the same database, file store and token key.
    let worker_dir = dir.path().join("worker");
    std::fs::create_dir_all(&worker_dir).unwrap();
    let key_file = web_dir.join(ferry_workspace::crypto::KEY_FILE);
    if key_file.exists() {
        std::fs::copy(&key_file, worker_dir.join(ferry_workspace::crypto::KEY_FILE)).unwrap();
    }
    let worker = Workspace::open_with(
        WorkspaceConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: worker_dir.clone(),
            database_url: Some(database_url),
            public_url: None,
            storage_url: Some(storage_url),
            allowed_api_servers: vec![hub.url.clone()],
            trusted_proxies: Vec::new(),
            signup: ferry_workspace::SignupMode::Open,
        },
        import,
    )
    .await
    .unwrap();
    let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    let worker_task = tokio::spawn(worker.run_workers(async {
        let _ = worker_stopped.await;
    }));

    let done = api.wait_for_import(&import_id, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["files_total"].as_u64().unwrap() > 0, "{done}");
    assert_eq!(done["files_done"], done["files_total"], "{done}");

    // The web process serves the bytes the worker stored in the shared store.
    let (_, samples) = api.get("/api/v1/samples").await;
    let sample_id = samples["items"][0]["id"].as_str().expect("a sample").to_string();
    let (_, detail) = api.get(&format!("/api/v1/samples/{sample_id}")).await;
    let file = &detail["files"][0];
    let response = api
        .http
        .get(format!(
            "{}/api/v1/samples/{sample_id}/files/{}/content",
            api.base,
            file["id"].as_str().unwrap()
        ))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.unwrap();
    {
        use md5::Digest;
        assert_eq!(hex::encode(md5::Md5::digest(&bytes)), file["md5"].as_str().unwrap());
    }
    assert!(
        !web_dir.join("files").exists() && !worker_dir.join("files").exists(),
        "files go to the --storage-url store, not the data folders"
    );

    stop_worker.send(()).unwrap();
    worker_task
        .await
        .unwrap()
        .expect("the worker stops cleanly on shutdown");
    stop_web.send(()).unwrap();
    web_server.await.unwrap().expect("the web process stops cleanly");
}
