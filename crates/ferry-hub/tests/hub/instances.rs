//! Several hub instances over one database and one blob store: each serves the same data and
//! honours the other's signed URLs, device codes and uploads (the signing key is in the database).

use ferry_hub::demo;
use ferry_hub::testing::TestHub;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// `url` (made by one instance) pointed at another instance's base URL.
fn rebase(url: &str, from: &str, to: &str) -> String {
    assert!(url.starts_with(from), "{url} is not on {from}");
    format!("{to}{}", &url[from.len()..])
}

#[tokio::test]
async fn two_instances_share_data_signed_urls_device_codes_and_uploads() {
    let (a, token) = demo().await;
    let b = a.another_instance().await;
    assert_ne!(a.url, b.url);

    // The same listings, Hrefs on each instance's own base.
    let on_a = get_ok(&a, &token, "/v2/biosamples?limit=100").await;
    let on_b = get_ok(&b, &token, "/v2/biosamples?limit=100").await;
    let ids = |list: &Value| -> Vec<Value> {
        list["Items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["Id"].clone())
            .collect()
    };
    assert!(!ids(&on_a).is_empty());
    assert_eq!(ids(&on_a), ids(&on_b));
    assert_eq!(on_a["Paging"]["TotalCount"], on_b["Paging"]["TotalCount"]);
    assert!(on_b["Items"][0]["Href"].as_str().unwrap().starts_with(&b.url));

    // The project's TotalSize is the sum of its datasets' complete files, on both.
    let project = demo_project_id(&a, &token).await;
    let datasets = get_ok(&a, &token, &format!("/v2/datasets?projectid={project}&limit=1000")).await;
    let sum: i64 = datasets["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["TotalSize"].as_i64().unwrap())
        .sum();
    assert!(sum > 0);
    for hub in [&a, &b] {
        let body = get_ok(hub, &token, &format!("/v2/projects/{project}")).await;
        assert_eq!(body["TotalSize"].as_i64(), Some(sum), "{body}");
    }

    // A content URL signed by A is served by B; a tampered one is refused by B.
    let dataset = datasets["Items"][0]["Id"].as_str().unwrap().to_string();
    let file = files_of(&a, &token, &dataset).await[0].clone();
    let response = client()
        .get(format!("{}/v2/files/{}/content", a.url, file["Id"].as_str().unwrap()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let signed = response.headers()["location"].to_str().unwrap().to_string();
    let from_a = client().get(&signed).send().await.unwrap().bytes().await.unwrap();
    let on_other = rebase(&signed, &a.url, &b.url);
    let response = client().get(&on_other).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let from_b = response.bytes().await.unwrap();
    assert_eq!(from_a, from_b);
    assert_eq!(from_b.len() as i64, file["Size"].as_i64().unwrap());
    let tampered = on_other.replacen("sig=", "sig=00", 1);
    assert_eq!(
        client().get(&tampered).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    // A device login asked on A, approved on B's page, collected on A, used on B.
    let response = client()
        .post(format!("{}/v1pre3/oauthv2/deviceauthorization", a.url))
        .form(&[
            ("client_id", "two-instances"),
            ("response_type", "device_code"),
            ("scope", "READ GLOBAL, BROWSE GLOBAL"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let device: Value = response.json().await.unwrap();
    b.approve_device_code(
        device["user_code"].as_str().unwrap(),
        demo::DEMO_EMAIL,
        demo::DEMO_PASSWORD,
        None,
    )
    .await;
    let response = client()
        .post(format!("{}/v1pre3/oauthv2/token", a.url))
        .form(&[
            ("grant_type", "device"),
            ("code", device["device_code"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    let granted: Value = response.json().await.unwrap();
    let device_token = granted["access_token"].as_str().unwrap_or_else(|| panic!("{granted}"));
    let me = get_ok(&b, device_token, "/v2/users/current").await;
    assert_eq!(me["Id"], get_ok(&a, &token, "/v2/users/current").await["Id"]);

    // An upload started on A, its parts sent to both, completed on B, served by A.
    upload_across(&a, &b, &token, &project).await;

    // Wrong passwords count against one budget, whichever instance they are sent to: past the
    // free ones, the next attempt waits, on both.
    for attempt in 0..ferry_security::throttle::FREE_FAILURES_PER_ACCOUNT {
        let hub = if attempt % 2 == 0 { &a } else { &b };
        let status = wrong_password(hub).await;
        assert_ne!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "attempt {attempt} on {}",
            hub.url
        );
    }
    assert_eq!(wrong_password(&a).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(wrong_password(&b).await, StatusCode::TOO_MANY_REQUESTS);
}

/// Starts a 2-part upload on `a`, sends part 1 to `a` and part 2 to `b`, completes it on `b`
/// and reads it back through `a` (whole, and a range): returns the file's bytes.
async fn upload_across(a: &TestHub, b: &TestHub, token: &str, project: &str) -> Vec<u8> {
    let (status, created) = post_json(
        a,
        token,
        &format!("/v2/projects/{project}/datasets"),
        json!({"Name": "Shared_L001", "DatasetTypeId": "common.files"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let new_dataset = created["Id"].as_str().unwrap().to_string();
    let info = get_ok(
        a,
        token,
        &format!("/v2/datasets/{new_dataset}/file-upload-info?filepath=shared.bin&uploadpartcount=2"),
    )
    .await;
    let template = info["MultipartTemplate"].as_str().unwrap().to_string();
    let parts = [bytes_of(200_000, 4), bytes_of(70_000, 5)];
    let mut etags = Vec::new();
    for (i, (data, hub)) in parts.iter().zip([a, b]).enumerate() {
        let url = rebase(
            &template.replace("{partNumber}", &(i + 1).to_string()),
            &a.url,
            &hub.url,
        );
        let response = client().put(&url).body(data.clone()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "part {} on {}", i + 1, hub.url);
        etags.push(json!({"Part": i + 1, "Etag": response.headers()["etag"].to_str().unwrap()}));
    }
    let whole = parts.concat();
    let (status, done) = post_json(
        b,
        token,
        &format!("/v2/datasets/{new_dataset}/file-upload-info"),
        json!({"UploadId": info["MultipartUploadId"], "FilePath": "shared.bin", "PartEtags": etags, "Size": whole.len()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(done["ETag"].as_str().unwrap().ends_with("-2"), "{done}");
    let listed = files_of(a, token, &new_dataset).await;
    assert_eq!(listed.len(), 1);
    let response = client()
        .get(format!(
            "{}/v2/files/{}/content",
            a.url,
            listed[0]["Id"].as_str().unwrap()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let signed = response.headers()["location"].to_str().unwrap().to_string();
    let bytes = client().get(&signed).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(md5_hex(&bytes), md5_hex(&whole));
    let response = client()
        .get(&signed)
        .header("range", "bytes=199990-200009")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &whole[199_990..200_010]);
    whole
}

/// An s3s-fs server on 127.0.0.1 serving `root` (buckets are its folders).
async fn start_s3(root: &std::path::Path) -> (String, tokio::task::JoinHandle<()>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
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
    (endpoint, task)
}

const S3_KEY: &str = "ferry-hub-test-key";
const S3_SECRET: &str = "ferry-hub-test-secret";

#[tokio::test]
async fn two_instances_on_s3_storage_serve_demo_files_and_share_uploads() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("hub-bucket")).unwrap();
    let (endpoint, server) = start_s3(root.path()).await;
    let options = ferry_store::S3Options {
        endpoint: Some(endpoint),
        region: Some("us-east-1".to_string()),
        access_key_id: Some(S3_KEY.to_string()),
        secret_access_key: Some(S3_SECRET.to_string()),
        allow_http: true,
        ..Default::default()
    };
    let a = TestHub::start_with_storage("s3://hub-bucket/ferry", options).await;
    let b = a.another_instance().await;
    let token = a.token(demo::DEMO_EMAIL, None).await;

    // Demo files were written to the bucket and are served by either instance.
    let project = demo_project_id(&a, &token).await;
    let datasets = get_ok(&b, &token, &format!("/v2/datasets?projectid={project}")).await;
    let file = files_of(&b, &token, datasets["Items"][0]["Id"].as_str().unwrap()).await[0].clone();
    let response = client()
        .get(format!("{}/v2/files/{}/content", b.url, file["Id"].as_str().unwrap()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let signed = response.headers()["location"].to_str().unwrap().to_string();
    let bytes = client().get(&signed).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes.len() as i64, file["Size"].as_i64().unwrap());
    assert!(
        !a.data_dir.join("blobs").exists(),
        "no bytes in the local folder when the store is S3"
    );
    let in_bucket = walk(&root.path().join("hub-bucket/ferry"));
    assert!(
        in_bucket > 12,
        "the demo files are objects in the bucket ({in_bucket} found)"
    );

    upload_across(&a, &b, &token, &project).await;
    server.abort();
}

/// Files below `dir`, recursively.
fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| if entry.path().is_dir() { walk(&entry.path()) } else { 1 })
                .sum()
        })
        .unwrap_or(0)
}
