//! What the hub serves user bytes as: a type from the file name (never a page, whatever the
//! client declared), an attachment, `nosniff`; and `nosniff` on every other answer too.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// Uploads `data` as `path` in one part, declaring `content_type` at completion; the file JSON.
async fn upload_declaring(
    hub: &ferry_hub::testing::TestHub,
    token: &str,
    dataset: &str,
    path: &str,
    data: &[u8],
    content_type: &str,
) -> Value {
    let info = get_ok(
        hub,
        token,
        &format!("/v2/datasets/{dataset}/file-upload-info?filepath={path}&uploadpartcount=1"),
    )
    .await;
    let response = client()
        .put(info["SinglePartUrl"].as_str().unwrap())
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let (status, file) = post_json(
        hub,
        token,
        &format!("/v2/datasets/{dataset}/file-upload-info"),
        json!({"FilePath": path, "PartEtags": [{"Part": 1, "Etag": etag}], "Size": data.len(), "ContentType": content_type}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{file}");
    file
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
        .unwrap_or_default()
}

/// Follows the v2 and the v1pre3 content redirects of a file; both answers of each, checked for
/// `nosniff`, and the bytes' Content-Type and Content-Disposition.
async fn served_as(hub: &ferry_hub::testing::TestHub, token: &str, file_id: &str) -> (String, String) {
    let mut seen = Vec::new();
    for version in ["v2", "v1pre3"] {
        let redirect = client()
            .get(format!("{}/{version}/files/{file_id}/content", hub.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(redirect.status(), StatusCode::FOUND, "{version}");
        assert_eq!(
            header(&redirect, "x-content-type-options"),
            "nosniff",
            "{version} redirect"
        );
        let content = client().get(header(&redirect, "location")).send().await.unwrap();
        assert_eq!(content.status(), StatusCode::OK, "{version}");
        assert_eq!(
            header(&content, "x-content-type-options"),
            "nosniff",
            "{version} content"
        );
        assert!(
            header(&content, "content-security-policy").contains("sandbox"),
            "{version} content is sandboxed"
        );
        seen.push((
            header(&content, "content-type").to_string(),
            header(&content, "content-disposition").to_string(),
        ));
    }
    assert_eq!(seen[0], seen[1], "v2 and v1pre3 serve the same headers");
    seen.remove(0)
}

#[tokio::test]
async fn user_content_is_typed_by_its_name_and_never_served_as_a_page() {
    let (hub, token) = demo().await;
    let dataset = new_dataset(&hub, &token, "content types").await;
    let page = b"<html><script>alert(document.cookie)</script></html>";

    let file = upload_declaring(&hub, &token, &dataset, "report.html", page, "text/html").await;
    assert_eq!(
        file["ContentType"], "text/html",
        "the declared type is still recorded and shown"
    );
    let (content_type, disposition) = served_as(&hub, &token, file["Id"].as_str().unwrap()).await;
    assert_eq!(content_type, "application/octet-stream", "report.html");
    assert!(
        disposition.starts_with("attachment") && disposition.contains("report.html"),
        "{disposition}"
    );

    // A harmless name declared as a page, and a page declared as FASTQ: the name decides.
    let file = upload_declaring(&hub, &token, &dataset, "S1_R1_001.fastq.gz", page, "text/html").await;
    let (content_type, disposition) = served_as(&hub, &token, file["Id"].as_str().unwrap()).await;
    assert_eq!(content_type, "application/gzip", "a .fastq.gz declared text/html");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let file = upload_declaring(&hub, &token, &dataset, "logo.svg", page, "image/svg+xml").await;
    assert_eq!(
        served_as(&hub, &token, file["Id"].as_str().unwrap()).await.0,
        "application/octet-stream",
        "an SVG can carry script"
    );
    let file = upload_declaring(&hub, &token, &dataset, "SampleSheet.csv", b"a,b\n", "text/html").await;
    assert_eq!(
        served_as(&hub, &token, file["Id"].as_str().unwrap()).await.0,
        "text/csv"
    );
}

#[tokio::test]
async fn every_answer_says_nosniff() {
    let (hub, token) = demo().await;
    for (path, auth, expected) in [
        ("/v2/users/current", true, StatusCode::OK),
        ("/v1pre3/users/current/projects", true, StatusCode::OK),
        ("/v2/users/current", false, StatusCode::UNAUTHORIZED),
        ("/no/such/path", true, StatusCode::NOT_FOUND),
        ("/health", false, StatusCode::OK),
        ("/oauth/device", false, StatusCode::OK),
    ] {
        let mut request = client().get(format!("{}{path}", hub.url));
        if auth {
            request = request.bearer_auth(&token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected, "{path}");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff", "{path}");
    }
}
