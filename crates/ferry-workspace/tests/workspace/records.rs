//! An import's record is a fact: what it set out to do and what it did stay as they were when its
//! samples are later replaced by another import or deleted.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::{Api, start};

/// The parts of an import's answer that record what happened (not the samples' present state).
fn record_of(import: &Value) -> Value {
    let report: Vec<Value> = import["report"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            json!({
                "biosample": entry["biosample_name"],
                "sample": entry["sample_name"],
                "status": entry["status"],
                "reason": entry["reason"],
            })
        })
        .collect();
    json!({
        "title": import["title"],
        "status": import["status"],
        "files_total": import["files_total"],
        "files_done": import["files_done"],
        "files_failed": import["files_failed"],
        "files_cancelled": import["files_cancelled"],
        "bytes_total": import["bytes_total"],
        "bytes_done": import["bytes_done"],
        "rate_bytes_per_sec": import["rate_bytes_per_sec"],
        "errors": import["errors"],
        "finished_at": import["finished_at"],
        "report": report,
    })
}

#[tokio::test]
async fn an_import_record_is_unchanged_after_its_samples_are_replaced_or_deleted() {
    let (hub, workspace) = start().await;
    let api = Api::new(&workspace, &workspace.user("lab@example.org").await);
    api.link_demo(&hub).await;
    let (_, projects) = api.get("/api/v1/basespace/projects").await;
    let project = projects["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["biosample_count"].as_u64().unwrap_or(0) > 1)
        .cloned()
        .expect("a demo project with biosamples");
    let project_id = project["id"].as_str().unwrap();
    let (_, biosamples) = api
        .get(&format!("/api/v1/basespace/projects/{project_id}/biosamples"))
        .await;
    let with_data: Vec<Value> = biosamples["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| !b["datasets"].as_array().unwrap().is_empty())
        .filter(|b| !b["name"].as_str().unwrap().eq_ignore_ascii_case("undetermined"))
        .cloned()
        .collect();
    assert!(with_data.len() >= 2, "two demo biosamples with data: {biosamples}");
    let (first_biosample, second_biosample) = (&with_data[0], &with_data[1]);
    let first_name = first_biosample["name"].as_str().unwrap();

    // The first import takes one biosample …
    let (status, created) = api
        .post(
            "/api/v1/imports",
            json!({"biosample_ids": [first_biosample["id"]], "genome": "hg38"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let first_id = created["id"].as_str().unwrap().to_string();
    let first = api.wait_for_import(&first_id, Duration::from_secs(120)).await;
    assert_eq!(first["status"], "completed", "{first}");
    assert_eq!(
        first["title"],
        format!("Biosample {first_name}"),
        "named by what it imported"
    );
    assert!(first["files_done"].as_u64().unwrap() >= 2, "{first}");
    let first_record = record_of(&first);

    // … the second replaces its sample (another biosample merged under the same name) …
    let (status, created) = api
        .post(
            "/api/v1/imports",
            json!({
                "biosample_ids": [second_biosample["id"]],
                "merge_into": first_name,
                "on_conflict": "replace",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let second_id = created["id"].as_str().unwrap().to_string();
    let second = api.wait_for_import(&second_id, Duration::from_secs(120)).await;
    assert_eq!(second["status"], "completed", "{second}");
    assert!(
        second["files_done"].as_u64().unwrap() > 0,
        "the replacement brought files: {second}"
    );
    let second_record = record_of(&second);

    // … and then that sample is deleted.
    let sample = second["samples"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = api.delete(&format!("/api/v1/samples/{sample}")).await;
    assert!(status.is_success(), "{status} {body}");

    for (id, record) in [(&first_id, &first_record), (&second_id, &second_record)] {
        let (status, now) = api.get(&format!("/api/v1/imports/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&record_of(&now), record, "the record of what happened does not change");
        // The present state is shown beside it: the sample is gone.
        assert_eq!(now["report"][0]["sample_exists"], false, "{now}");
        assert!(now["samples"].as_array().unwrap().is_empty(), "{now}");
    }
    // The list says the same as the page.
    let (_, list) = api.get("/api/v1/imports").await;
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == first_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(record_of(&listed), first_record);
}
