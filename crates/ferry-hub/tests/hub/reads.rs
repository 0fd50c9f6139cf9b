//! Reading BaseSpace resources: shapes, Hrefs, filters, paging, content.

use ferry_hub::demo;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn current_user_in_personal_and_workgroup_context() {
    let (hub, token) = demo().await;
    let me = get_ok(&hub, &token, "/v2/users/current").await;
    assert_eq!(me["Email"], demo::DEMO_EMAIL);
    assert_eq!(me["IsWorkgroup"], false);
    let id = me["Id"].as_str().unwrap();
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "IDs are numeric strings: {me}");
    assert_eq!(me["Href"], format!("{}/v2/users/{id}", hub.url));
    assert!(me["DateCreated"].as_str().unwrap().ends_with('Z'));
    assert!(me.get("LoggedInUser").is_none(), "empty fields are left out: {me}");

    let v1 = get_ok(&hub, &token, "/v1pre3/users/current").await;
    assert_eq!(v1["Response"]["Id"], id);
    assert_eq!(v1["Response"]["Href"], format!("v1pre3/users/{id}"));
    assert!(v1["ResponseStatus"].is_object() && v1["Notifications"].is_array());

    let group_token = hub.token(demo::DEMO_EMAIL, Some(demo::DEMO_WORKGROUP)).await;
    let group = get_ok(&hub, &group_token, "/v2/users/current").await;
    assert_eq!(group["IsWorkgroup"], true);
    assert_eq!(group["Name"], demo::DEMO_WORKGROUP);
    assert_eq!(group["LoggedInUser"]["Email"], demo::DEMO_EMAIL);
    assert_eq!(group["LoggedInUser"]["Id"], id);

    let groups = get_ok(&hub, &token, &format!("/v2/users/{id}/workgroups")).await;
    assert_eq!(groups["Paging"]["TotalCount"], 1);
    let group_id = groups["Items"][0]["Id"].as_str().unwrap().to_string();
    assert_eq!(group_id, group["Id"].as_str().unwrap());
    let one = get_ok(&hub, &token, &format!("/v2/workgroups/{group_id}")).await;
    assert_eq!(one["Name"], demo::DEMO_WORKGROUP);
    let (status, _) = get(&hub, &token, "/v2/workgroups/12345").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tokens_are_accepted_in_all_three_places_and_refused_otherwise() {
    let (hub, token) = demo().await;
    let c = client();
    let url = format!("{}/v2/users/current", hub.url);
    for request in [
        c.get(&url).bearer_auth(&token),
        c.get(&url).header("x-access-token", &token),
        c.get(format!("{url}?access_token={token}")),
    ] {
        assert_eq!(request.send().await.unwrap().status(), StatusCode::OK);
    }
    for request in [c.get(&url), c.get(&url).bearer_auth("0123456789abcdef0123456789abcdef")] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "BASESPACE.COMMON.AUTHENTICATION_FAILURE");
        assert!(body["RequestId"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
    }
}

#[tokio::test]
async fn projects_biosamples_and_datasets_of_the_demo() {
    let (hub, token) = demo().await;
    let projects = get_ok(&hub, &token, "/v1pre3/users/current/projects").await;
    assert_eq!(
        projects["Response"]["TotalCount"], 1,
        "only the personal project: {projects}"
    );
    let project = &projects["Response"]["Items"][0];
    assert_eq!(project["Name"], demo::DEMO_PROJECT);
    let project_id = project["Id"].as_str().unwrap().to_string();
    assert_eq!(project["Href"], format!("v1pre3/projects/{project_id}"));
    let owner_href = project["UserOwnedBy"]["Href"].as_str().unwrap().to_string();
    let owner = get_ok(&hub, &token, &format!("/{owner_href}")).await;
    assert_eq!(owner["Response"]["Name"], demo::DEMO_NAME, "{owner}");

    let v2 = get_ok(&hub, &token, &format!("/v2/projects/{project_id}")).await;
    assert_eq!(v2["Href"], format!("{}/v2/projects/{project_id}", hub.url));
    assert_eq!(v2["UserOwnedBy"]["Name"], demo::DEMO_NAME);
    let v1 = get_ok(&hub, &token, &format!("/v1pre3/projects/{project_id}")).await;
    assert_eq!(v1["Response"]["Name"], demo::DEMO_PROJECT);

    // Legacy clients list a project's samples through its HrefSamples, then each sample's files.
    let href_samples = v1["Response"]["HrefSamples"].as_str().unwrap().to_string();
    let samples = get_ok(&hub, &token, &format!("/{href_samples}?Limit=100")).await;
    let v2_datasets = get_ok(&hub, &token, &format!("/v2/datasets?projectid={project_id}&limit=100")).await;
    assert_eq!(samples["Response"]["TotalCount"], v2_datasets["Paging"]["TotalCount"]);
    for sample in samples["Response"]["Items"].as_array().unwrap() {
        let number = sample["Id"].as_str().unwrap();
        let dataset = v2_datasets["Items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["V1pre3Id"] == format!("sample.{number}").as_str())
            .unwrap_or_else(|| panic!("no dataset is sample {number}"));
        let fastq = &dataset["Attributes"]["common_fastq"];
        assert_eq!(sample["NumReadsPF"], fastq["TotalReadsPF"], "{sample}");
        assert_eq!(sample["IsPairedEnd"], fastq["IsPairedEnd"]);
        assert_eq!(sample["Name"], dataset["Name"]);
        let one = get_ok(&hub, &token, &format!("/{}", sample["Href"].as_str().unwrap())).await;
        assert_eq!(one["Response"]["Id"], number);
        let files = get_ok(&hub, &token, &format!("/{}", sample["HrefFiles"].as_str().unwrap())).await;
        let dataset_id = dataset["Id"].as_str().unwrap();
        let v2_files = get_ok(&hub, &token, &format!("/v2/datasets/{dataset_id}/files")).await;
        assert_eq!(files["Response"]["TotalCount"], v2_files["Paging"]["TotalCount"]);
        assert!(
            files["Response"]["Items"][0]["Href"]
                .as_str()
                .unwrap()
                .starts_with("v1pre3/files/")
        );
    }

    let biosamples = get_ok(&hub, &token, &format!("/v2/biosamples?projectid={project_id}")).await;
    assert_eq!(biosamples["Paging"]["TotalCount"], 2);
    // A biosample also belongs to a project it has datasets in (the definition's `projectid`).
    let (_, other) = post_json(&hub, &token, "/v2/projects", json!({"Name": "Second Project"})).await;
    let other = other["Id"].as_str().unwrap().to_string();
    let moved = biosamples["Items"][0]["Id"].as_str().unwrap().to_string();
    let (status, _) = post_json(
        &hub,
        &token,
        &format!("/v2/projects/{other}/datasets"),
        json!({"Name": "elsewhere", "BiosampleId": moved}),
    )
    .await;
    assert!(status.is_success(), "{status}");
    let in_other = get_ok(&hub, &token, &format!("/v2/biosamples?projectid={other}")).await;
    assert_eq!(ids_of(&in_other), [moved]);
    let either = get_ok(&hub, &token, &format!("/v2/biosamples?projectid={project_id},{other}")).await;
    assert_eq!(either["Paging"]["TotalCount"], 2, "each biosample once");
    let named = get_ok(
        &hub,
        &token,
        &format!("/v2/biosamples?biosamplename={}", demo::DEMO_BIOSAMPLES[1]),
    )
    .await;
    assert_eq!(named["Items"].as_array().unwrap().len(), 1);
    let biosample = &named["Items"][0];
    assert_eq!(biosample["BioSampleName"], demo::DEMO_BIOSAMPLES[1]);
    assert_eq!(biosample["DefaultProject"]["Id"], project_id.as_str());
    let biosample_id = biosample["Id"].as_str().unwrap().to_string();
    let one = get_ok(&hub, &token, &format!("/v2/biosamples/{biosample_id}")).await;
    assert_eq!(one["OutputProjectIds"][0], project_id.as_str());

    let datasets = get_ok(&hub, &token, &format!("/v2/datasets?inputbiosamples={biosample_id}")).await;
    assert_eq!(datasets["Paging"]["TotalCount"], 2, "one dataset per lane: {datasets}");
    let dataset = &datasets["Items"][0];
    assert!(dataset["Id"].as_str().unwrap().starts_with("ds."));
    assert_eq!(dataset["Id"].as_str().unwrap().len(), 35);
    assert!(dataset["V1pre3Id"].as_str().unwrap().starts_with("sample."));
    assert_eq!(dataset["DatasetType"]["Id"], ferry_api::FASTQ_DATASET_TYPE);
    assert_eq!(
        dataset["DatasetType"]["ConformsToIds"],
        serde_json::json!(["common.files", "common.fastq"])
    );
    assert_eq!(
        dataset["UploadStatus"], "Completed",
        "as the real service spells it in v2 answers"
    );
    let fastq = &dataset["Attributes"]["common_fastq"];
    assert_eq!(fastq["IsPairedEnd"], true);
    assert_eq!(fastq["TotalReadsPF"], 4000, "2 000 reads per file, two files: {fastq}");
    assert_eq!(fastq["MaxLengthRead1"], 151);
    assert!(dataset["TotalSize"].as_i64().unwrap() > 0);

    let conforming = get_ok(&hub, &token, "/v2/datasets?datasettypes=~common.fastq&limit=100").await;
    assert_eq!(conforming["Paging"]["TotalCount"], 4);
    let exact = get_ok(&hub, &token, "/v2/datasets?DatasetTypes=common.fastq").await;
    assert_eq!(exact["Paging"]["TotalCount"], 0, "exact type only without ~: {exact}");
    let in_project = get_ok(&hub, &token, &format!("/v2/datasets?projectid={project_id}")).await;
    assert_eq!(in_project["Paging"]["TotalCount"], 4);

    let runs = get_ok(&hub, &token, "/v2/runs").await;
    assert_eq!(runs["Paging"]["TotalCount"], 1);
    let run_id = runs["Items"][0]["Id"].as_str().unwrap().to_string();
    assert_eq!(runs["Items"][0]["ExperimentName"], demo::DEMO_RUN);
    assert!(runs["Items"][0]["Instrument"]["Id"].is_number());
    let by_run = get_ok(&hub, &token, &format!("/v2/datasets?inputruns={run_id}")).await;
    assert_eq!(by_run["Paging"]["TotalCount"], 4);
    let run = get_ok(&hub, &token, &format!("/v2/runs/{run_id}")).await;
    assert_eq!(run["Status"], "Complete");
    let run_files = get_ok(&hub, &token, &format!("/v2/runs/{run_id}/files")).await;
    let mut paths: Vec<&str> = run_files["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["Path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(paths, ["InterOp/Summary/RunSummary.csv", "RunInfo.xml"], "{run_files}");
    assert!(
        run_files.get("SubDirectories").is_none(),
        "a whole-run list names no folders"
    );

    // One directory at a time: its files, and the folders directly inside it with their listings.
    let root = get_ok(&hub, &token, &format!("/v2/runs/{run_id}/files?directory=/")).await;
    assert_eq!(root["Paging"]["TotalCount"], 1, "{root}");
    assert_eq!(root["Items"][0]["Name"], "RunInfo.xml");
    let href = format!("{}/v2/runs/{run_id}/files?directory=InterOp", hub.url);
    assert_eq!(root["SubDirectories"], json!([{"Href": href, "Name": "InterOp"}]));
    let interop = get_ok(&hub, &token, &href[hub.url.len()..]).await;
    assert_eq!(interop["Paging"]["TotalCount"], 0, "{interop}");
    assert_eq!(interop["SubDirectories"][0]["Name"], "Summary");
    let href = interop["SubDirectories"][0]["Href"].as_str().unwrap();
    assert!(href.ends_with("?directory=InterOp%2FSummary"), "{href}");
    let summary = get_ok(&hub, &token, &href[hub.url.len()..]).await;
    assert_eq!(summary["Items"][0]["Path"], "InterOp/Summary/RunSummary.csv");
    assert_eq!(summary["SubDirectories"], json!([]));
    let deep = get_ok(
        &hub,
        &token,
        &format!("/v2/runs/{run_id}/files?directory=InterOp&includesubdirectories=true"),
    )
    .await;
    assert_eq!(deep["Paging"]["TotalCount"], 1);
    assert!(deep.get("SubDirectories").is_none());
    let everything = get_ok(
        &hub,
        &token,
        &format!("/v2/runs/{run_id}/files?directory=/&includesubdirectories=true"),
    )
    .await;
    assert_eq!(
        everything["Paging"]["TotalCount"], 2,
        "the root with its subdirectories is every file"
    );

    // Legacy clients follow the user's HrefRuns and the runs' v1pre3 Hrefs.
    let me = get_ok(&hub, &token, "/v1pre3/users/current").await;
    let href_runs = me["Response"]["HrefRuns"].as_str().unwrap().to_string();
    assert_eq!(href_runs, "v1pre3/users/current/runs");
    let v1_runs = get_ok(&hub, &token, &format!("/{href_runs}")).await;
    assert_eq!(v1_runs["Response"]["TotalCount"], 1, "{v1_runs}");
    let v1_listed = &v1_runs["Response"]["Items"][0];
    assert_eq!(v1_listed["Id"], run_id.as_str());
    let href_run = v1_listed["Href"].as_str().unwrap().to_string();
    assert_eq!(href_run, format!("v1pre3/runs/{run_id}"));
    let v1_run = get_ok(&hub, &token, &format!("/{href_run}")).await;
    assert_eq!(v1_run["Response"]["ExperimentName"], demo::DEMO_RUN);
    let href_files = v1_run["Response"]["HrefFiles"].as_str().unwrap().to_string();
    let v1_files = get_ok(&hub, &token, &format!("/{href_files}")).await;
    assert!(
        v1_files["Response"]["Items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["Name"] == "RunInfo.xml")
    );
    assert_eq!(v1_files["Response"]["TotalCount"], run_files["Paging"]["TotalCount"]);

    let sessions = get_ok(&hub, &token, "/v2/appsessions").await;
    assert_eq!(sessions["Items"][0]["Purpose"], "AppUpload");
    let session_id = sessions["Items"][0]["Id"].as_str().unwrap();
    let session = get_ok(&hub, &token, &format!("/v2/appsessions/{session_id}")).await;
    assert_eq!(session["ExecutionStatus"], "Complete");
}

#[tokio::test]
async fn files_list_filter_and_content_with_ranges() {
    let (hub, token) = demo().await;
    let project = demo_project_id(&hub, &token).await;
    let datasets = dataset_ids(&hub, &token, &project).await;
    let files = files_of(&hub, &token, &datasets[0]).await;
    assert_eq!(files.len(), 2);
    let names: Vec<&str> = files.iter().map(|f| f["Name"].as_str().unwrap()).collect();
    assert!(
        names
            .iter()
            .all(|n| n.contains("_S") && n.contains("_L00") && n.ends_with("_001.fastq.gz")),
        "Illumina names: {names:?}"
    );
    let file = &files[0];
    let file_id = file["Id"].as_str().unwrap().to_string();
    assert_eq!(file["IdAsLong"].as_i64().unwrap().to_string(), file_id);
    assert_eq!(file["ContentType"], "application/x-gzip");
    assert_eq!(file["HrefContent"], format!("{}/v2/files/{file_id}/content", hub.url));

    let (status, none) = get(
        &hub,
        &token,
        &format!("/v2/datasets/{}/files?extensions=bam", datasets[0]),
    )
    .await;
    assert_eq!(
        (status, none["Paging"]["TotalCount"].as_i64()),
        (StatusCode::OK, Some(0))
    );
    let gz = get_ok(
        &hub,
        &token,
        &format!("/v2/datasets/{}/files?extensions=.fastq.gz", datasets[0]),
    )
    .await;
    assert_eq!(gz["Paging"]["TotalCount"], 2);

    let v1 = get_ok(&hub, &token, &format!("/v1pre3/files/{file_id}")).await;
    assert_eq!(v1["Response"]["Href"], format!("v1pre3/files/{file_id}"));
    assert_eq!(v1["Response"]["UploadStatus"], "complete");

    let bytes = download(&hub, &token, &file_id).await;
    assert_eq!(bytes.len() as i64, file["Size"].as_i64().unwrap());
    assert_eq!(
        md5_hex(&bytes),
        file["ETag"].as_str().unwrap(),
        "small files carry their MD5 as ETag"
    );
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");

    let meta = get_ok(&hub, &token, &format!("/v1pre3/files/{file_id}/content?redirect=meta")).await;
    assert_eq!(meta["Response"]["SupportsRange"], true);
    assert!(meta["Response"]["Expires"].as_str().unwrap().ends_with('Z'));
    let href = meta["Response"]["HrefContent"].as_str().unwrap().to_string();
    let meta_v2 = get_ok(&hub, &token, &format!("/v2/files/{file_id}/content?redirect=meta")).await;
    assert!(meta_v2["Response"]["HrefContent"].as_str().is_some());

    let response = client().get(&href).header("Range", "bytes=10-19").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.headers()["content-range"].to_str().unwrap(),
        format!("bytes 10-19/{}", bytes.len())
    );
    assert_eq!(response.headers()["accept-ranges"], "bytes");
    assert_eq!(
        response.headers()["etag"].to_str().unwrap(),
        format!("\"{}\"", file["ETag"].as_str().unwrap())
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("fastq.gz")
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let tail = client().get(&href).header("Range", "bytes=-5").send().await.unwrap();
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &bytes[bytes.len() - 5..]);
    let beyond = client()
        .get(&href)
        .header("Range", format!("bytes={}-", bytes.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}

#[tokio::test]
async fn paging_sorting_and_case_insensitive_parameters() {
    let (hub, token) = demo().await;
    let page = get_ok(&hub, &token, "/v2/datasets?Limit=3&Offset=0&SortBy=Name&SortDir=Asc").await;
    assert_eq!(page["Paging"]["DisplayedCount"], 3);
    assert_eq!(page["Paging"]["TotalCount"], 4);
    assert_eq!(page["Paging"]["Limit"], 3);
    assert_eq!(page["Paging"]["SortBy"], "Name");
    assert_eq!(page["Paging"]["SortDir"], "Asc");
    let names: Vec<&str> = page["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["Name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let rest = get_ok(&hub, &token, "/v2/datasets?limit=3&offset=3&sortby=name&sortdir=asc").await;
    assert_eq!(rest["Paging"]["DisplayedCount"], 1);
    let desc = get_ok(&hub, &token, "/v2/datasets?limit=1&sortby=Name&sortdir=Desc").await;
    assert_eq!(desc["Items"][0]["Name"], rest["Items"][0]["Name"]);
    let past = get_ok(&hub, &token, "/v2/datasets?Offset=100").await;
    assert_eq!(past["Items"].as_array().unwrap().len(), 0);
    assert_eq!(past["Paging"]["TotalCount"], 4);
    assert_eq!(past["Paging"]["DisplayedCount"], 0);
    let unknown_sort = get_ok(&hub, &token, "/v2/biosamples?SortBy=Nonsense&unknownparam=1").await;
    assert_eq!(unknown_sort["Paging"]["SortBy"], "Id");
    let v1 = get_ok(&hub, &token, "/v1pre3/users/current/projects?Offset=5").await;
    assert_eq!(v1["Response"]["Items"].as_array().unwrap().len(), 0);
    assert_eq!(v1["Response"]["TotalCount"], 1);
}

#[tokio::test]
async fn projects_are_created_once_per_name_and_users_by_id() {
    let (hub, token) = demo().await;
    let (status, created) = post_json(&hub, &token, "/v2/projects?name=Run%2042&description=first", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["Description"], "first");
    let id = created["Id"].as_str().unwrap().to_string();
    let (status, again) = post_json(&hub, &token, "/v1pre3/projects", json!({"Name": "Run 42"})).await;
    assert_eq!(status, StatusCode::OK, "the existing project of that name: {again}");
    assert_eq!(again["Response"]["Id"], id.as_str());
    let (status, other) = post_json(&hub, &token, "/v1pre3/projects", json!({"Name": "Run 43"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(other["Response"]["Id"], id.as_str());
    let listed = get_ok(&hub, &token, "/v1pre3/users/current/projects?SortBy=Name&Limit=10").await;
    assert_eq!(listed["Response"]["TotalCount"], 3);

    let me = get_ok(&hub, &token, "/v2/users/current").await;
    let by_id = get_ok(&hub, &token, &format!("/v2/users/{}", me["Id"].as_str().unwrap())).await;
    assert_eq!(by_id["Email"], demo::DEMO_EMAIL);
}

#[tokio::test]
async fn paged_listings_have_exact_totals_and_per_page_embeds() {
    let (hub, token) = demo().await;
    let first = demo_project_id(&hub, &token).await;
    let (status, second) = post_json(&hub, &token, "/v2/projects", json!({"Name": "Second"})).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second = second["Id"].as_str().unwrap().to_string();
    // 20 new biosamples in the first project; every third has a dataset in the second project.
    let mut in_second = Vec::new();
    for i in 0..20 {
        let (status, biosample) = post_json(
            &hub,
            &token,
            "/v2/biosamples",
            json!({"BioSampleName": format!("Paged-{i:02}"), "DefaultProjectId": first}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{biosample}");
        if i % 3 == 0 {
            let id = biosample["Id"].as_str().unwrap().to_string();
            let (status, dataset) = post_json(
                &hub,
                &token,
                &format!("/v2/projects/{second}/datasets"),
                json!({"Name": format!("Paged-{i:02}_L001"), "BiosampleId": id}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{dataset}");
            in_second.push(id);
        }
    }
    let mut seen = Vec::new();
    for offset in (0..25).step_by(5) {
        let page = get_ok(&hub, &token, &format!("/v2/biosamples?limit=5&offset={offset}")).await;
        assert_eq!(page["Paging"]["TotalCount"], 22, "offset {offset}: {}", page["Paging"]);
        for item in page["Items"].as_array().unwrap() {
            let id = item["Id"].as_str().unwrap().to_string();
            let mut expected = vec![first.clone()];
            if in_second.contains(&id) {
                expected.push(second.clone());
            }
            let outputs: Vec<String> = serde_json::from_value(item["OutputProjectIds"].clone()).unwrap();
            assert_eq!(outputs.len(), expected.len(), "{item}");
            assert!(expected.iter().all(|p| outputs.contains(p)), "{item}");
            assert_eq!(item["DefaultProject"]["Id"], first.as_str());
            assert!(item["UserOwnedBy"]["Name"].is_string(), "{item}");
            seen.push(id);
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (seen.len(), unique.len()),
        (22, 22),
        "every biosample once across the pages"
    );
    let past = get_ok(&hub, &token, "/v2/biosamples?limit=5&offset=40").await;
    assert_eq!(past["Items"].as_array().unwrap().len(), 0);
    assert_eq!(past["Paging"]["TotalCount"], 22);

    // Datasets newest first, each with its project embedded and the project's size 0 (no files).
    let page = get_ok(&hub, &token, &format!("/v2/datasets?projectid={second}&limit=3")).await;
    assert_eq!(page["Paging"]["TotalCount"], in_second.len());
    let items = page["Items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let dates: Vec<&str> = items.iter().map(|d| d["DateCreated"].as_str().unwrap()).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first: {dates:?}");
    assert!(items.iter().all(|d| d["Project"]["Id"] == second.as_str()));
    let project = get_ok(&hub, &token, &format!("/v2/projects/{second}")).await;
    assert_eq!(project["TotalSize"], 0);
}

fn ids_of(list: &Value) -> Vec<String> {
    list["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["Id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn properties_are_set_read_and_deleted_in_their_context() {
    let (hub, token) = demo().await;
    let project = demo_project_id(&hub, &token).await;
    // Set through the legacy API (as SDKs do), read through v2.
    let (status, set) = post_json(
        &hub,
        &token,
        &format!("/v1pre3/projects/{project}/properties"),
        json!({"Properties": [
            {"Type": "string", "Name": "LabInfo.PI", "Content": "Dr. Who", "Description": "Principal investigator"},
            {"Type": "string[]", "Name": "LabInfo.Tags", "Items": ["wgs", "pilot"]}
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["Response"]["TotalCount"], 2);
    let listed = get_ok(&hub, &token, &format!("/v2/projects/{project}/properties")).await;
    assert_eq!(listed["Paging"]["TotalCount"], 2);
    let pi = get_ok(&hub, &token, &format!("/v2/projects/{project}/properties/LabInfo.PI")).await;
    assert_eq!(pi["Content"], "Dr. Who");
    assert_eq!(pi["Description"], "Principal investigator");
    let items = get_ok(
        &hub,
        &token,
        &format!("/v2/projects/{project}/properties/LabInfo.Tags/items"),
    )
    .await;
    let values: Vec<&str> = items["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Content"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["wgs", "pilot"]);
    let filtered = get_ok(
        &hub,
        &token,
        &format!("/v2/projects/{project}/properties?propertyfilters=LabInfo.Tags"),
    )
    .await;
    assert_eq!(filtered["Items"][0]["ContentItems"], json!(["wgs", "pilot"]));
    // Setting again replaces.
    post_json(
        &hub,
        &token,
        &format!("/v1pre3/projects/{project}/properties"),
        json!({"Properties": [{"Name": "LabInfo.PI", "Content": "Dr. No"}]}),
    )
    .await;
    let pi = get_ok(&hub, &token, &format!("/v2/projects/{project}/properties/LabInfo.PI")).await;
    assert_eq!(pi["Content"], "Dr. No");
    // BaseSpace's naming rule, with its message.
    let (status, body) = post_json(
        &hub,
        &token,
        &format!("/v1pre3/projects/{project}/properties"),
        json!({"Properties": [{"Name": "basespace-labs", "Content": "x"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "BASESPACE.PROPERTIES.NAME_INVALID");
    assert!(body.to_string().contains("must contain 2 or more segments"));

    // App sessions: set and delete through v2.
    let (_, session) = post_json(&hub, &token, "/v2/appsessions", json!({"Name": "props"})).await;
    let session = session["Id"].as_str().unwrap().to_string();
    let (status, made) = post_json(
        &hub,
        &token,
        &format!("/v2/appsessions/{session}/properties"),
        json!({"Properties": [{"Name": "Output.summary", "Content": "ok"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let deleted = client()
        .delete(format!(
            "{}/v2/appsessions/{session}/properties/Output.summary",
            hub.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, _) = get(
        &hub,
        &token,
        &format!("/v2/appsessions/{session}/properties/Output.summary"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Another context sees none of it and cannot write it.
    hub.hub()
        .add_user("eve@example.org", "correct horse battery", None)
        .await
        .unwrap();
    let eve = hub.token("eve@example.org", None).await;
    let (status, _) = get(&hub, &eve, &format!("/v2/projects/{project}/properties")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&hub, &eve, &format!("/v2/projects/{project}/properties/LabInfo.PI")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post_json(
        &hub,
        &eve,
        &format!("/v1pre3/projects/{project}/properties"),
        json!({"Properties": [{"Name": "Evil.x", "Content": "x"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let pi = get_ok(&hub, &token, &format!("/v2/projects/{project}/properties/LabInfo.PI")).await;
    assert_eq!(pi["Content"], "Dr. No");
}

#[tokio::test]
async fn archived_files_are_not_served_until_restored() {
    let (hub, token) = demo().await;
    let project = demo_project_id(&hub, &token).await;
    let dataset = dataset_ids(&hub, &token, &project).await[0].clone();
    let file = files_of(&hub, &token, &dataset).await[0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    // A content URL handed out before the archive stops working too.
    let meta = get_ok(&hub, &token, &format!("/v2/files/{file}/content?redirect=meta")).await;
    let early_url = meta["Response"]["HrefContent"].as_str().unwrap().to_string();

    let (status, _) = post_json(&hub, &token, "/v2/archive", json!({"DatasetIds": [dataset]})).await;
    assert_eq!(status, StatusCode::OK);
    let shown = get_ok(&hub, &token, &format!("/v2/datasets/{dataset}")).await;
    assert_eq!(shown["IsArchived"], true);
    let (status, body) = get(&hub, &token, &format!("/v2/files/{file}/content")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "BASESPACE.FILES.ARCHIVED");
    assert!(body.to_string().contains("restore it first"), "{body}");
    let response = client().get(&early_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);

    let (_, restore) = post_json(&hub, &token, "/v2/restore", json!({"DatasetIds": [dataset]})).await;
    assert!(restore["DateRestoreComplete"].is_string(), "{restore}");
    let (status, body) = get(&hub, &token, &format!("/v2/files/{file}/content")).await;
    assert_eq!(status, StatusCode::CONFLICT, "a restore takes the hub's restore time");
    assert!(body.to_string().contains("restore finishes at"), "{body}");
    let mut served = false;
    for _ in 0..50 {
        let response = client()
            .get(format!("{}/v2/files/{file}/content", hub.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if response.status().is_success() || response.status().is_redirection() {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(served, "the file is served once the restore has finished");

    // Another context can neither archive nor restore it.
    hub.hub()
        .add_user("mallory@example.org", "correct horse battery", None)
        .await
        .unwrap();
    let mallory = hub.token("mallory@example.org", None).await;
    let (status, _) = post_json(&hub, &mallory, "/v2/archive", json!({"DatasetIds": [dataset]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let shown = get_ok(&hub, &token, &format!("/v2/datasets/{dataset}")).await;
    assert_eq!(shown["IsArchived"], false);
}
