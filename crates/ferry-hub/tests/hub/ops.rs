//! Operations: health, request IDs, graceful shutdown with an upload in flight, admin CLI.

use std::time::Duration;

use clap::Parser;
use ferry_hub::{Hub, HubConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn health_and_request_ids() {
    let (hub, token) = demo().await;
    let response = client().get(format!("{}/health", hub.url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let generated = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(!generated.is_empty());
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "ok"}));

    let response = client()
        .get(format!("{}/v2/projects/1", hub.url))
        .bearer_auth(&token)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["RequestId"], "trace-me-42", "error bodies carry the request ID");
}

#[tokio::test]
async fn graceful_shutdown_finishes_an_upload_in_flight_and_publishes_nothing_half_done() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = ferry_db::testing::fresh_database_url(dir.path()).await;
    let open = |address| {
        let database_url = database_url.clone();
        let data_dir = dir.path().join("hub");
        async move {
            Hub::open(HubConfig {
                listen: address,
                data_dir,
                database_url: Some(database_url),
                public_url: None,
                demo: Some(Default::default()),
                storage_url: None,
                s3_options: None,
                trusted_proxies: Default::default(),
                app_runner: Default::default(),
                restore_delay: ferry_hub::DEFAULT_RESTORE_DELAY,
            })
            .await
            .unwrap()
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hub = open(address).await;
    let token = hub.issue_token(ferry_hub::demo::DEMO_EMAIL, None, None).await.unwrap();
    let url = format!("http://{address}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hub.serve(listener, async move {
        let _ = stopped.await;
    }));

    let get_json = |path: String| {
        let token = token.clone();
        async move {
            client()
                .get(path)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let projects = get_json(format!("{url}/v1pre3/users/current/projects")).await;
    let project = projects["Response"]["Items"][0]["Id"].as_str().unwrap().to_string();
    let dataset = client()
        .post(format!("{url}/v2/projects/{project}/datasets"))
        .bearer_auth(&token)
        .json(&json!({"Name": "shutdown"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let info = get_json(format!(
        "{url}/v2/datasets/{dataset}/file-upload-info?filepath=slow.bin&uploadpartcount=2"
    ))
    .await;
    let template = info["MultipartTemplate"].as_str().unwrap().to_string();
    let upload_id = info["MultipartUploadId"].as_str().unwrap().to_string();

    // A part arrives slowly; shutdown is asked for in the middle of it.
    let slow = futures_util::stream::unfold(0u8, |i| async move {
        if i == 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok::<_, std::io::Error>(bytes_of(10_000, i)), i + 1))
    });
    let part_url = template.replace("{partNumber}", "1");
    let in_flight = tokio::spawn(async move {
        client()
            .put(part_url)
            .body(reqwest::Body::wrap_stream(slow))
            .send()
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(()).unwrap();
    assert_eq!(
        in_flight.await.unwrap(),
        StatusCode::OK,
        "the part in flight was finished"
    );
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stopped")
        .unwrap()
        .unwrap();
    assert!(
        client().get(format!("{url}/health")).send().await.is_err(),
        "no longer listening"
    );

    // Restarted on the same data: the upload is still pending (not published) and resumable.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hub = open(address).await;
    let url = format!("http://{address}");
    tokio::spawn(hub.serve(listener, std::future::pending()));
    let files = get_json(format!("{url}/v2/datasets/{dataset}/files")).await;
    assert_eq!(files["Paging"]["TotalCount"], 0, "nothing half-published");
    let old_base = template.split("/uploads/").next().unwrap().to_string();
    let template = template.replace(&old_base, &url);
    let part2 = client()
        .put(template.replace("{partNumber}", "2"))
        .body(bytes_of(5, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(part2.status(), StatusCode::OK);
    let part1_md5 = md5_hex(&(0..10).flat_map(|i| bytes_of(10_000, i)).collect::<Vec<u8>>());
    let done = client()
        .post(format!("{url}/v2/datasets/{dataset}/file-upload-info"))
        .bearer_auth(&token)
        .json(&json!({"UploadId": upload_id, "FilePath": "slow.bin",
            "PartEtags": [{"Part": 1, "Etag": part1_md5}, {"Part": 2, "Etag": md5_hex(&bytes_of(5, 1))}], "Size": 100_005}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK, "{:?}", done.text().await);
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    hub: ferry_hub::cli::HubArgs,
}

#[tokio::test]
async fn admin_commands_add_users_workgroups_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub");
    let data = data.to_str().unwrap();
    let database_url = ferry_db::testing::fresh_database_url(dir.path()).await;
    // Admin commands work on an existing hub: this is what a first `ferry hub` run leaves.
    if let Some(path) = ferry_db::sqlite_file(&database_url) {
        std::fs::write(path, b"").unwrap();
    }
    let run = |args: Vec<&str>| {
        let mut full = vec!["ferry-hub", "--data-dir", data, "--database-url", database_url.as_str()];
        full.extend(args);
        let cli = Cli::try_parse_from(full).unwrap();
        ferry_hub::cli::run(cli.hub, std::future::pending())
    };
    run(vec![
        "user",
        "add",
        "ana@example.org",
        "--password",
        "pw",
        "--name",
        "Ana",
    ])
    .await
    .unwrap();
    assert!(
        run(vec!["user", "add", "ana@example.org", "--password", "pw"])
            .await
            .is_err(),
        "duplicate email"
    );
    run(vec!["workgroup", "add", "Ana Lab", "--member", "ana@example.org"])
        .await
        .unwrap();
    assert!(
        run(vec!["workgroup", "add", "X", "--member", "nobody@example.org"])
            .await
            .is_err()
    );
    run(vec!["token", "--user", "ana@example.org", "--workgroup", "Ana Lab"])
        .await
        .unwrap();
    let error = run(vec!["token", "--user", "ana@example.org", "--workgroup", "Other"])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not a member"), "{error}");
    let error = run(vec!["token", "--user", "ana@example.org", "--scopes", "FLY GLOBAL"])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not a scope"), "{error}");
}

#[tokio::test]
async fn demo_seeding_is_deterministic_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = ferry_db::testing::fresh_database_url(dir.path()).await;
    let config = HubConfig {
        listen: "127.0.0.1:8041".parse().unwrap(),
        data_dir: dir.path().join("hub"),
        database_url: Some(database_url),
        public_url: None,
        demo: Some(Default::default()),
        storage_url: None,
        s3_options: None,
        trusted_proxies: Default::default(),
        app_runner: Default::default(),
        restore_delay: ferry_hub::DEFAULT_RESTORE_DELAY,
    };
    let counts = |hub: Hub| async move {
        let mut counts = Vec::new();
        for table in [
            "users",
            "workgroups",
            "projects",
            "biosamples",
            "datasets",
            "files",
            "runs",
            "appsessions",
        ] {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&hub.db().pool)
                .await
                .unwrap();
            counts.push(n);
        }
        let ids: Vec<(String, String)> = sqlx::query_as("SELECT id, etag FROM files ORDER BY id")
            .fetch_all(&hub.db().pool)
            .await
            .unwrap();
        (counts, ids)
    };
    let first = counts(Hub::open(config.clone()).await.unwrap()).await;
    assert_eq!(
        first.0,
        vec![1, 1, 2, 3, 6, 16, 2, 2],
        "users, workgroups, projects, biosamples, datasets, files, runs, appsessions"
    );
    // An upload abandoned long ago is aborted at the next start.
    {
        let hub = Hub::open(config.clone()).await.unwrap();
        sqlx::query(
            "INSERT INTO uploads (id, owner_id, dataset_id, file_id, path, multipart, status, created) \
             VALUES ('abandoned1', 'x', 'ds.x', 'f1', 'p', 1, 'pending', 1)",
        )
        .execute(&hub.db().pool)
        .await
        .unwrap();
    }
    let hub = Hub::open(config.clone()).await.unwrap();
    let status: String = sqlx::query_scalar("SELECT status FROM uploads WHERE id = 'abandoned1'")
        .fetch_one(&hub.db().pool)
        .await
        .unwrap();
    assert_eq!(status, "aborted");
    let second = counts(Hub::open(config).await.unwrap()).await;
    assert_eq!(first, second, "a second --demo start adds nothing and changes nothing");

    // Another hub, other data: the same IDs and the same bytes (ETags).
    let other = tempfile::tempdir().unwrap();
    let third = counts(
        Hub::open(HubConfig {
            listen: "127.0.0.1:8041".parse().unwrap(),
            data_dir: other.path().join("hub"),
            database_url: Some(ferry_db::testing::fresh_database_url(other.path()).await),
            public_url: None,
            demo: Some(Default::default()),
            storage_url: None,
            s3_options: None,
            trusted_proxies: Default::default(),
            app_runner: Default::default(),
            restore_delay: ferry_hub::DEFAULT_RESTORE_DELAY,
        })
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(first.1, third.1, "demo data is deterministic");
}
