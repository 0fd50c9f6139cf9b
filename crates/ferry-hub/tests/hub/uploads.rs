//! Uploads: v2 file-upload-info (multipart and single part), v2 form upload, legacy v1pre3
//! multipart; resumable parts, checks at completion, refusals that leave nothing behind.

use base64::Engine as _;
use ferry_hub::testing::TestHub;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

async fn put_part(url: &str, data: Vec<u8>) -> (StatusCode, String) {
    let response = client().put(url).body(data).send().await.unwrap();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (response.status(), etag)
}

/// A multipart/form-data body with one file field named `file`.
fn form_body(file_name: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "ferry-test-boundary-7d1e";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn bs_style_upload_with_parallel_resumable_multipart_parts() {
    let (hub, token) = demo().await;
    let project = demo_project_id(&hub, &token).await;
    let (status, session) = post_json(
        &hub,
        &token,
        "/v2/appsessions",
        json!({"Name": "BaseSpace CLI upload", "StatusSummary": "Uploading"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (session["Purpose"].as_str(), session["ExecutionStatus"].as_str()),
        (Some("AppUpload"), Some("Running"))
    );
    let session_id = session["Id"].as_str().unwrap().to_string();

    let body = json!({"BioSampleName": "Newbie", "DefaultProjectId": project});
    let (status, biosample) = post_json(&hub, &token, "/v2/biosamples", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{biosample}");
    let (status, again) = post_json(&hub, &token, "/v2/biosamples", body).await;
    assert_eq!(
        (status, &again["Id"]),
        (StatusCode::OK, &biosample["Id"]),
        "same name and project: same biosample"
    );
    let found = get_ok(
        &hub,
        &token,
        &format!("/v2/biosamples?biosamplename=Newbie&projectid={project}"),
    )
    .await;
    assert_eq!(found["Items"][0]["Id"], biosample["Id"]);

    let (status, dataset) = post_json(
        &hub,
        &token,
        &format!("/v2/projects/{project}/datasets"),
        json!({
            "Name": "Newbie_L001", "AppSessionId": session_id, "DatasetTypeId": "illumina.fastq.v1.8",
            "BiosampleId": biosample["Id"],
            "Attributes": {"common_fastq": {"IsPairedEnd": false, "TotalReadsPF": 10, "MaxLengthRead1": 151}}
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{dataset}");
    assert_eq!(dataset["UploadStatus"], "Pending");
    assert_eq!(dataset["AppSession"]["Id"], session_id.as_str());
    assert_eq!(dataset["Attributes"]["common_fastq"]["TotalReadsPF"], 10);
    let dataset_id = dataset["Id"].as_str().unwrap().to_string();
    let listed = get_ok(
        &hub,
        &token,
        &format!("/v2/datasets?inputbiosamples={}", biosample["Id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        listed["Items"][0]["Id"],
        dataset_id.as_str(),
        "the dataset links to its biosample"
    );

    let path = "Newbie_S1_L001_R1_001.fastq.gz";
    let info = get_ok(
        &hub,
        &token,
        &format!("/v2/datasets/{dataset_id}/file-upload-info?filepath={path}&uploadpartcount=3"),
    )
    .await;
    let upload_id = info["MultipartUploadId"].as_str().unwrap().to_string();
    let template = info["MultipartTemplate"].as_str().unwrap().to_string();
    assert!(
        template.starts_with(&hub.url) && template.contains("{partNumber}"),
        "{template}"
    );
    assert!(info.get("SinglePartUrl").is_none());

    let parts = [bytes_of(300_000, 1), bytes_of(300_000, 2), bytes_of(123_456, 3)];
    let whole: Vec<u8> = parts.concat();
    // Part 2 first sent with wrong bytes, then again (a retry replaces it).
    let (status, _) = put_part(&template.replace("{partNumber}", "2"), bytes_of(1000, 9)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        files_of(&hub, &token, &dataset_id).await.is_empty(),
        "nothing visible before completion"
    );
    let uploads = parts.iter().enumerate().map(|(i, data)| {
        let url = template.replace("{partNumber}", &(i + 1).to_string());
        let data = data.clone();
        async move { put_part(&url, data).await }
    });
    let results = futures_util::future::join_all(uploads).await;
    let mut part_etags = Vec::new();
    for (i, (status, etag)) in results.into_iter().enumerate() {
        assert_eq!(status, StatusCode::OK);
        assert_eq!(etag, format!("\"{}\"", md5_hex(&parts[i])));
        part_etags.push(json!({"Part": i + 1, "Etag": etag}));
    }

    let (status, file) = post_json(
        &hub,
        &token,
        &format!("/v2/datasets/{dataset_id}/file-upload-info"),
        json!({"UploadId": upload_id, "FilePath": path, "PartEtags": part_etags, "Size": whole.len(), "ContentType": "application/x-gzip"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{file}");
    let expected = ferry_api::etag::multipart_etag(
        &parts
            .iter()
            .map(|p| {
                use md5::Digest;
                md5::Md5::digest(p).into()
            })
            .collect::<Vec<_>>(),
    );
    assert_eq!(file["ETag"], expected.as_str());
    assert!(file["ETag"].as_str().unwrap().ends_with("-3"));
    assert_eq!(file["Size"], whole.len());
    assert_eq!(file["Path"], path);
    let files = files_of(&hub, &token, &dataset_id).await;
    assert_eq!(files.len(), 1);
    assert_eq!(download(&hub, &token, files[0]["Id"].as_str().unwrap()).await, whole);

    // Completing again answers the same file (idempotent for retries).
    let (status, again) = post_json(
        &hub,
        &token,
        &format!("/v2/datasets/{dataset_id}/file-upload-info"),
        json!({"UploadId": upload_id, "FilePath": path, "PartEtags": part_etags, "Size": whole.len()}),
    )
    .await;
    assert_eq!((status, &again["Id"]), (StatusCode::OK, &file["Id"]));

    let (status, done) = post_json(
        &hub,
        &token,
        &format!("/v2/datasets/{dataset_id}"),
        json!({"UploadStatus": "Complete"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        done["UploadStatus"], "Completed",
        "written Complete, answered Completed"
    );
    assert_eq!(done["TotalSize"], whole.len());
    let (status, closed) = post_json(
        &hub,
        &token,
        &format!("/v2/appsessions/{session_id}"),
        json!({"StatusSummary": "Finished uploading Newbie", "ExecutionStatus": "Complete"}),
    )
    .await;
    assert_eq!(
        (status, closed["ExecutionStatus"].as_str()),
        (StatusCode::OK, Some("Complete"))
    );
    assert!(closed["DateCompleted"].is_string());
    let (status, _) = get(
        &hub,
        &token,
        &format!("/v2/datasets/{dataset_id}/file-upload-info?filepath=more.txt"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "a complete dataset takes no more files");
    assert_eq!(leftover_temp_files(&hub), 0);
}

#[tokio::test]
async fn single_part_and_form_uploads_and_legacy_appsession_status() {
    let (hub, token) = demo().await;
    let dataset = new_dataset(&hub, &token, "single").await;
    let info = get_ok(
        &hub,
        &token,
        &format!("/v2/datasets/{dataset}/file-upload-info?filepath=dir/a.txt&uploadpartcount=1"),
    )
    .await;
    let url = info["SinglePartUrl"].as_str().unwrap();
    assert!(info.get("MultipartUploadId").is_none());
    let data = bytes_of(5000, 4);
    let (status, etag) = put_part(url, data.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, file) = post_json(
        &hub,
        &token,
        &format!("/v2/datasets/{dataset}/file-upload-info"),
        json!({"FilePath": "dir/a.txt", "PartEtags": [{"Part": 1, "Etag": etag}], "Size": 5000}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{file}");
    assert_eq!(file["ETag"], md5_hex(&data), "a single-part upload's ETag is its MD5");
    let listed = get_ok(&hub, &token, &format!("/v2/datasets/{dataset}/files?directory=dir")).await;
    assert_eq!(listed["Items"][0]["Name"], "a.txt");
    let root = get_ok(&hub, &token, &format!("/v2/datasets/{dataset}/files?directory=/")).await;
    assert_eq!(root["Paging"]["TotalCount"], 0);

    let (content_type, form) = form_body("small.txt", b"small file");
    let response = client()
        .post(format!(
            "{}/v2/datasets/{dataset}/files?filepath=notes/small.txt",
            hub.url
        ))
        .bearer_auth(&token)
        .header("content-type", &content_type)
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let file: Value = response.json().await.unwrap();
    assert_eq!(file["Path"], "notes/small.txt");
    assert_eq!(file["ETag"], md5_hex(b"small file"));
    assert_eq!(
        download(&hub, &token, file["Id"].as_str().unwrap()).await,
        b"small file"
    );

    let (content_type, form) = form_body("small.txt", b"again");
    let response = client()
        .post(format!(
            "{}/v2/datasets/{dataset}/files?filepath=notes/small.txt",
            hub.url
        ))
        .bearer_auth(&token)
        .header("content-type", &content_type)
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT, "a path holds one file");

    let sessions = get_ok(&hub, &token, "/v2/appsessions?executionstatus=Running").await;
    let session_id = sessions["Items"][0]["Id"].as_str().unwrap();
    let response = client()
        .post(format!(
            "{}/v1pre3/appsessions/{session_id}?status=complete&statussummary=done",
            hub.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Response"]["ExecutionStatus"], "Complete");
    assert_eq!(body["Response"]["StatusSummary"], "done");
}

#[tokio::test]
async fn legacy_v1pre3_multipart_with_content_md5() {
    let (hub, token) = demo().await;
    let dataset = new_dataset(&hub, &token, "legacy").await;
    let v1_id = get_ok(&hub, &token, &format!("/v2/datasets/{dataset}")).await["V1pre3Id"]
        .as_str()
        .unwrap()
        .to_string();
    let response = client()
        .post(format!(
            "{}/v1pre3/samples/{v1_id}/files?name=big.bin&directory=sub&multipart=true",
            hub.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let file_id = created["Response"]["Id"].as_str().unwrap().to_string();
    assert_eq!(created["Response"]["UploadStatus"], "pending");
    let (status, _) = get(&hub, &token, &format!("/v2/files/{file_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a pending file is not visible");

    let parts = [bytes_of(70_000, 5), bytes_of(20_000, 6)];
    let md5_b64 = |data: &[u8]| {
        use md5::Digest;
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
    };
    let bad = client()
        .put(format!("{}/v1pre3/files/{file_id}/parts/1", hub.url))
        .bearer_auth(&token)
        .header("Content-MD5", md5_b64(b"other bytes"))
        .body(parts[0].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(error_code(&body), "BASESPACE.UPLOAD.BAD_DIGEST");
    for (i, data) in parts.iter().enumerate() {
        let response = client()
            .put(format!("{}/v1pre3/files/{file_id}/parts/{}", hub.url, i + 1))
            .bearer_auth(&token)
            .header("Content-MD5", md5_b64(data))
            .body(data.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["Response"]["ETag"], md5_hex(data));
    }
    let response = client()
        .post(format!("{}/v1pre3/files/{file_id}?uploadstatus=complete", hub.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Response"]["UploadStatus"], "complete");
    assert!(body["Response"]["ETag"].as_str().unwrap().ends_with("-2"));
    assert_eq!(body["Response"]["Path"], "sub/big.bin");
    assert_eq!(download(&hub, &token, &file_id).await, parts.concat());

    // Aborting another upload leaves nothing.
    let response = client()
        .post(format!(
            "{}/v1pre3/datasets/{dataset}/files?name=gone.bin&multipart=true",
            hub.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let gone: Value = response.json().await.unwrap();
    let gone_id = gone["Response"]["Id"].as_str().unwrap();
    client()
        .put(format!("{}/v1pre3/files/{gone_id}/parts/1", hub.url))
        .bearer_auth(&token)
        .body(b"abc".to_vec())
        .send()
        .await
        .unwrap();
    let response = client()
        .post(format!("{}/v1pre3/files/{gone_id}?uploadstatus=aborted", hub.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(files_of(&hub, &token, &dataset).await.len(), 1);

    // A small legacy upload in one request.
    let response = client()
        .post(format!("{}/v1pre3/datasets/{dataset}/files?name=tiny.txt", hub.url))
        .bearer_auth(&token)
        .body("tiny")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(files_of(&hub, &token, &dataset).await.len(), 2);
}

#[tokio::test]
async fn a_completion_left_by_a_dead_process_is_taken_over_but_a_live_one_is_not() {
    let (hub, token) = demo().await;
    let dataset = new_dataset(&hub, &token, "stuck").await;
    let info = get_ok(
        &hub,
        &token,
        &format!("/v2/datasets/{dataset}/file-upload-info?filepath=s.bin&uploadpartcount=2"),
    )
    .await;
    let upload_id = info["MultipartUploadId"].as_str().unwrap().to_string();
    let template = info["MultipartTemplate"].as_str().unwrap();
    let (_, etag1) = put_part(&template.replace("{partNumber}", "1"), bytes_of(700, 3)).await;
    let (_, etag2) = put_part(&template.replace("{partNumber}", "2"), bytes_of(300, 4)).await;
    let complete_path = format!("/v2/datasets/{dataset}/file-upload-info");
    let body = json!({"UploadId": upload_id, "FilePath": "s.bin", "PartEtags": [{"Part": 1, "Etag": etag1}, {"Part": 2, "Etag": etag2}], "Size": 1000});
    let claim = |since: i64| {
        sqlx::query("UPDATE uploads SET status = 'completing', completing_since = $2 WHERE id = $1")
            .bind(upload_id.clone())
            .bind(since)
            .execute(&hub.hub().db().pool)
    };

    // Another request is assembling it right now: a second completion waits its turn (409).
    claim(ferry_api::dates::now_millis()).await.unwrap();
    let (status, answer) = post_json(&hub, &token, &complete_path, body.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(files_of(&hub, &token, &dataset).await.is_empty());

    // The process that claimed it died hours ago: the retry completes the upload.
    claim(1).await.unwrap();
    let (status, answer) = post_json(&hub, &token, &complete_path, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(files_of(&hub, &token, &dataset).await.len(), 1);
}

#[tokio::test]
async fn completion_checks_parts_etags_and_size() {
    let (hub, token) = demo().await;
    let dataset = new_dataset(&hub, &token, "checks").await;
    let info = get_ok(
        &hub,
        &token,
        &format!("/v2/datasets/{dataset}/file-upload-info?filepath=x.bin&uploadpartcount=2"),
    )
    .await;
    let upload_id = info["MultipartUploadId"].as_str().unwrap();
    let template = info["MultipartTemplate"].as_str().unwrap();
    let (_, etag1) = put_part(&template.replace("{partNumber}", "1"), bytes_of(1000, 1)).await;
    let complete_path = format!("/v2/datasets/{dataset}/file-upload-info");
    let complete = |body: Value| post_json(&hub, &token, &complete_path, body);

    let (status, body) = complete(json!({"UploadId": upload_id, "FilePath": "x.bin", "PartEtags": [{"Part": 1, "Etag": etag1}, {"Part": 2, "Etag": "\"00000000000000000000000000000000\""}]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "part 2 never arrived: {body}");
    let (_, etag2) = put_part(&template.replace("{partNumber}", "2"), bytes_of(500, 2)).await;
    let (status, body) = complete(json!({"UploadId": upload_id, "FilePath": "x.bin", "PartEtags": [{"Part": 1, "Etag": etag1}, {"Part": 2, "Etag": "\"0123456789abcdef0123456789abcdef\""}]})).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::BAD_REQUEST, "BASESPACE.UPLOAD.ETAG_MISMATCH")
    );
    let (status, body) = complete(json!({"UploadId": upload_id, "FilePath": "x.bin", "PartEtags": [{"Part": 1, "Etag": etag1}, {"Part": 2, "Etag": etag2}], "Size": 1499})).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::BAD_REQUEST, "BASESPACE.UPLOAD.SIZE_MISMATCH")
    );
    assert!(
        files_of(&hub, &token, &dataset).await.is_empty(),
        "failed completions publish nothing"
    );
    let (status, body) = complete(json!({"UploadId": upload_id, "FilePath": "x.bin", "PartEtags": [{"Part": 1, "Etag": etag1}, {"Part": 2, "Etag": etag2}], "Size": 1500})).await;
    assert_eq!(status, StatusCode::OK, "the upload stayed resumable: {body}");

    // A tampered upload URL is refused.
    let info = get_ok(
        &hub,
        &token,
        &format!("/v2/datasets/{dataset}/file-upload-info?filepath=y.bin&uploadpartcount=2"),
    )
    .await;
    let template = info["MultipartTemplate"].as_str().unwrap().replace("{partNumber}", "1");
    let tampered = template.replace("sig=", "sig=00");
    let (status, _) = put_part(&tampered, b"x".to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other_upload = template.replace(info["MultipartUploadId"].as_str().unwrap(), upload_id);
    let (status, _) = put_part(&other_upload, b"x".to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a signature covers one upload only");
}

#[tokio::test]
async fn oversize_parts_and_bad_paths_are_refused_leaving_nothing() {
    let hub = TestHub::start_configured(Some(Default::default()), Some(64 * 1024)).await;
    let token = hub.token(ferry_hub::demo::DEMO_EMAIL, None).await;
    let dataset = new_dataset(&hub, &token, "limits").await;
    let info = get_ok(
        &hub,
        &token,
        &format!("/v2/datasets/{dataset}/file-upload-info?filepath=big.bin&uploadpartcount=2"),
    )
    .await;
    let template = info["MultipartTemplate"].as_str().unwrap();
    let (status, _) = put_part(&template.replace("{partNumber}", "1"), bytes_of(64 * 1024 + 1, 1)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Also when the size is not announced (chunked body).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20).map(|i| Ok(bytes_of(8192, i))).collect();
    let response = client()
        .put(template.replace("{partNumber}", "2"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "BASESPACE.UPLOAD.PART_TOO_LARGE");
    let (status, _) = post_json(
        &hub,
        &token,
        &format!("/v2/datasets/{dataset}/file-upload-info"),
        json!({"UploadId": info["MultipartUploadId"], "FilePath": "big.bin", "PartEtags": []}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no part was kept");
    assert_eq!(leftover_temp_files(&hub), 0);

    for bad in [
        "../escape.txt",
        "/etc/passwd",
        "a/../../b",
        "a\\b.txt",
        "a//b",
        "nul%00byte",
        ".",
    ] {
        let (status, body) = get(
            &hub,
            &token,
            &format!("/v2/datasets/{dataset}/file-upload-info?filepath={bad}&uploadpartcount=1"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(error_code(&body), "BASESPACE.FILE.INVALID_PATH");
        let response = client()
            .post(format!("{}/v1pre3/datasets/{dataset}/files?name={bad}", hub.url))
            .bearer_auth(&token)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert!(files_of(&hub, &token, &dataset).await.is_empty());
}

#[tokio::test]
async fn the_legacy_upload_protocol_runs_whole() {
    let (hub, token) = demo().await;
    let project = demo_project_id(&hub, &token).await;
    let (_, session) = post_json(&hub, &token, "/v2/appsessions", json!({"Name": "legacy client"})).await;
    let session = session["Id"].as_str().unwrap().to_string();
    // 1. The sample, in the project, for the session.
    let (status, sample) = post_json(
        &hub,
        &token,
        &format!("/v1pre3/projects/{project}/samples?appsessionid={session}"),
        json!({"Name": "Legacy_L001", "SampleId": "Legacy", "SampleNumber": 1, "ExperimentName": "exp",
               "Read1": 151, "Read2": 151, "IsPairedEnd": true, "NumReadsRaw": 20, "NumReadsPF": 20}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sample}");
    let number = sample["Response"]["Id"].as_str().unwrap().to_string();
    assert_eq!(sample["Response"]["Status"], "Pending");
    // 2. A small file in one request.
    let content = bytes_of(3_000, 9);
    let response = client()
        .post(format!(
            "{}/v1pre3/samples/{number}/files?name=Legacy_S1_L001_R1_001.fastq.gz&directory=",
            hub.url
        ))
        .bearer_auth(&token)
        .header("Content-Type", "application/octet-stream")
        .body(content.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let file: Value = response.json().await.unwrap();
    let file_id = file["Response"]["Id"].as_str().unwrap().to_string();
    // Not visible as complete before the session completes.
    let dataset = get_ok(&hub, &token, &format!("/v1pre3/samples/{number}")).await;
    assert_eq!(dataset["Response"]["Status"], "Pending");
    // 3. Completing the session completes its samples; the legacy answer carries `Status`.
    let response = client()
        .post(format!(
            "{}/v1pre3/appsessions/{session}?status=complete&statussummary=done",
            hub.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let closed: Value = response.json().await.unwrap();
    assert_eq!(closed["Response"]["Status"], "Complete", "{closed}");
    let done = get_ok(&hub, &token, &format!("/v1pre3/samples/{number}")).await;
    assert!(
        done["Response"]["Status"].as_str().unwrap().starts_with("Complete"),
        "{done}"
    );
    assert_eq!(download(&hub, &token, &file_id).await, content);
    let biosamples = get_ok(&hub, &token, "/v2/biosamples?biosamplename=Legacy").await;
    assert_eq!(biosamples["Paging"]["TotalCount"], 1);
    // 4. Legacy clients list sessions too.
    let sessions = get_ok(
        &hub,
        &token,
        "/v1pre3/users/current/appsessions?Statuses=complete&Limit=100",
    )
    .await;
    let listed = sessions["Response"]["Items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Id"] == session.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{session} not listed: {sessions}"));
    assert_eq!(listed["Status"], "Complete");
    // A sample needs a session of this context.
    let (status, _) = post_json(
        &hub,
        &token,
        &format!("/v1pre3/projects/{project}/samples?appsessionid=99999999999"),
        json!({"Name": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
