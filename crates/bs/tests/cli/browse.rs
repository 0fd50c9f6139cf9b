//! whoami, every list/get/contents, output formats and error messages.

use ferry_hub::demo::{DEMO_BIOSAMPLES, DEMO_EMAIL, DEMO_PROJECT, DEMO_RUN, DEMO_WORKGROUP, DEMO_WORKGROUP_PROJECT};

use crate::support::{Env, ids};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_lists_gets_and_contents() {
    let env = Env::new().await;

    let me = env.json(&["whoami", "-f", "json"]).await;
    assert_eq!(me["Email"], DEMO_EMAIL);
    assert_eq!(me["ApiServer"], env.hub.url.as_str());
    assert_eq!(me["Context"], "personal");
    // Illumina's rows, dates as its `bs` prints them in tables.
    let table = env.ok(&["whoami"]).await;
    let keys: Vec<&str> = table
        .lines()
        .filter_map(|line| line.strip_prefix("| "))
        .map(|line| line.split(" |").next().unwrap().trim())
        .collect();
    assert_eq!(
        keys,
        ["Name", "Id", "Email", "DateCreated", "DateLastActive", "Host", "Scopes"]
    );
    assert!(table.contains(DEMO_EMAIL) && table.contains(&env.hub.url), "{table}");
    assert!(table.contains(" +0000 UTC "), "{table}");

    // Projects: JSON arrays, table, CSV, terse, noun-verb order.
    let projects = env.json(&["list", "projects", "-f", "json"]).await;
    let project = projects
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == DEMO_PROJECT)
        .expect("the demo project is listed")
        .clone();
    let project_id = project["Id"].as_str().unwrap().to_string();
    let table = env.ok(&["project", "list"]).await;
    assert!(table.contains(DEMO_PROJECT) && table.contains("| Name"), "{table}");
    let csv = env
        .ok(&["list", "projects", "-f", "csv", "-F", "Id", "-F", "Name"])
        .await;
    assert!(
        csv.starts_with("Id,Name\n") && csv.contains(&format!("{project_id},{DEMO_PROJECT}")),
        "{csv}"
    );
    let terse = env.ok(&["list", "projects", "--terse"]).await;
    assert!(terse.lines().any(|l| l == project_id), "{terse}");
    let one = env
        .json(&[
            "list",
            "projects",
            "-f",
            "json",
            "--filter-term",
            &format!("^{DEMO_PROJECT}$"),
        ])
        .await;
    assert_eq!(ids(&one), vec![project_id.clone()], "a list of one is still an array");
    // TotalSize comes from each project's own answer: the legacy list (like BaseSpace's) has none.
    let sizes = env
        .ok(&["list", "projects", "-f", "csv", "-F", "Name", "-F", "TotalSize"])
        .await;
    let demo_size: u64 = sizes
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{DEMO_PROJECT},")))
        .and_then(|size| size.parse().ok())
        .unwrap_or_else(|| panic!("no size for the demo project:\n{sizes}"));
    assert!(demo_size > 0, "{sizes}");
    // `get` prints keys and values without a header row, as Illumina's `bs` does.
    let shown = env.ok(&["get", "project", "-n", DEMO_PROJECT]).await;
    let rows: Vec<&str> = shown.lines().collect();
    assert!(rows[0].starts_with("+-") && rows[1].starts_with("| "), "{shown}");
    assert!(!shown.contains("Field") && shown.contains(&project_id), "{shown}");
    // The term is a regular expression, as scripts write it for Illumina's `bs`.
    let pattern = env
        .ok(&["list", "projects", "--terse", "--filter-term=.*mo Pro.*"])
        .await;
    assert_eq!(pattern.lines().collect::<Vec<_>>(), [project_id.as_str()]);
    let bad = env.fails(&["list", "projects", "--filter-term", "Demo ("]).await;
    assert!(bad.contains("not a regular expression"), "{bad}");
    let ndjson = env.ok(&["list", "projects", "-f", "ndjson"]).await;
    assert_eq!(ndjson.lines().count(), projects.as_array().unwrap().len());

    // Biosamples and datasets of the project, by ID and by name.
    let biosamples = env
        .json(&["list", "biosamples", "--project-id", &project_id, "-f", "json"])
        .await;
    for name in DEMO_BIOSAMPLES {
        assert!(
            biosamples
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["BioSampleName"] == name),
            "{biosamples}"
        );
    }
    let datasets = env
        .json(&["list", "datasets", "--project-name", DEMO_PROJECT, "-f", "json"])
        .await;
    let datasets = datasets.as_array().unwrap().clone();
    assert!(!datasets.is_empty());
    // Illumina's default columns, spelled as its `bs` spells them.
    let csv = env
        .ok(&["list", "datasets", "--project-name", DEMO_PROJECT, "-f", "csv"])
        .await;
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("Name,Id,Project.Name,DataSetType.Id"));
    assert!(lines.all(|line| line.ends_with(",illumina.fastq.v1.8")), "{csv}");
    let by_id = env
        .json(&["dataset", "list", "--project-id", &project_id, "-f", "json"])
        .await;
    assert_eq!(by_id.as_array().unwrap().len(), datasets.len());
    let typed = env
        .json(&[
            "list",
            "datasets",
            "--is-type",
            "illumina.fastq.v1.8",
            "-F",
            "Project.Name",
            "-f",
            "json",
        ])
        .await;
    assert!(
        typed
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["Project"]["Name"].is_string()),
        "{typed}"
    );
    // --like-type as Nextflow scripts write it (repeated), --not-type, --sort-by, --reverse-sort.
    let all = env.json(&["list", "datasets", "-f", "json"]).await;
    let like = env
        .json(&[
            "list",
            "dataset",
            "--like-type=common.fastq",
            "--like-type=common.fastq",
            "-f",
            "json",
        ])
        .await;
    assert_eq!(
        ids(&like).len(),
        all.as_array().unwrap().len(),
        "FASTQ conforms to common.fastq"
    );
    let not = env
        .json(&["list", "datasets", "--not-type", "illumina.fastq.v1.8", "-f", "json"])
        .await;
    assert!(not.as_array().unwrap().is_empty(), "{not}");
    let sorted = env
        .ok(&[
            "list",
            "datasets",
            "--sort-by",
            "Name",
            "--reverse-sort",
            "-F",
            "Name",
            "-f",
            "csv",
        ])
        .await;
    let names: Vec<&str> = sorted.lines().skip(1).collect();
    let mut expected = names.clone();
    expected.sort_by_key(|n| std::cmp::Reverse(n.to_lowercase()));
    assert_eq!(names, expected);
    assert!(names.len() > 1);
    let refused = env.fails(&["list", "runs", "--project-id", &project_id]).await;
    assert!(
        refused.contains("bs list runs cannot filter by --project-id"),
        "{refused}"
    );
    let refused = env.fails(&["list", "projects", "--is-type", "x"]).await;
    assert!(refused.contains("--is-type"), "{refused}");

    let biosample_id = biosamples[0]["Id"].as_str().unwrap().to_string();
    let of_biosample = env
        .json(&["list", "datasets", "--input-biosample", &biosample_id, "-f", "json"])
        .await;
    assert!(!of_biosample.as_array().unwrap().is_empty());
    assert!(of_biosample.as_array().unwrap().len() < datasets.len() || DEMO_BIOSAMPLES.len() == 1);

    let runs = env.json(&["list", "runs", "-f", "json"]).await;
    let run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ExperimentName"] == DEMO_RUN)
        .expect("demo run")
        .clone();
    let appsessions = env.json(&["list", "appsessions", "-f", "json"]).await;
    assert!(appsessions.is_array());
    let workgroups = env.json(&["list", "workgroups", "-f", "json"]).await;
    assert!(
        workgroups
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["Name"] == DEMO_WORKGROUP),
        "{workgroups}"
    );
    let old = env
        .json(&["list", "projects", "-f", "json", "--newer-than", "1d"])
        .await;
    assert_eq!(old.as_array().unwrap().len(), projects.as_array().unwrap().len());
    let none = env
        .json(&["list", "projects", "-f", "json", "--older-than", "1d"])
        .await;
    assert!(none.as_array().unwrap().is_empty());

    // get: objects, by ID and by exact name.
    let got = env.json(&["get", "project", "-n", DEMO_PROJECT, "-f", "json"]).await;
    assert_eq!(got["Id"], project_id.as_str());
    let got = env.json(&["project", "get", "-i", &project_id, "-f", "json"]).await;
    assert_eq!(got["Name"], DEMO_PROJECT);
    let got = env
        .json(&["get", "biosample", "-n", DEMO_BIOSAMPLES[0], "-f", "json"])
        .await;
    assert_eq!(got["BioSampleName"], DEMO_BIOSAMPLES[0]);
    let dataset_id = datasets[0]["Id"].as_str().unwrap().to_string();
    let dataset_name = datasets[0]["Name"].as_str().unwrap().to_string();
    let got = env.json(&["get", "dataset", "-i", &dataset_id, "-f", "json"]).await;
    assert_eq!(got["Name"], dataset_name.as_str());
    let got = env.json(&["get", "run", "-n", DEMO_RUN, "-f", "json"]).await;
    assert_eq!(got["Id"], run["Id"]);
    let terse = env.ok(&["get", "dataset", "-i", &dataset_id, "--terse"]).await;
    assert_eq!(terse.trim(), dataset_id);
    let table = env.ok(&["get", "project", "-i", &project_id]).await;
    assert!(table.contains("| Name") && table.contains(DEMO_PROJECT), "{table}");
    let stderr = env.fails(&["get", "project", "-n", "No Such Project"]).await;
    assert!(stderr.contains("No Such Project"), "{stderr}");

    // contents, then get file and link file.
    let files = env
        .json(&["contents", "dataset", "-i", &dataset_id, "-f", "json"])
        .await;
    let files = files.as_array().unwrap().clone();
    assert!(!files.is_empty());
    assert!(
        files
            .iter()
            .all(|f| f["FilePath"].as_str().is_some_and(|p| p.ends_with(".fastq.gz"))),
        "{files:?}"
    );
    // A Go template as scripts pass it to Illumina's `bs`.
    let templated = env
        .ok(&[
            "contents",
            "dataset",
            "-i",
            &dataset_id,
            "--template",
            "{{.Id}},{{.FilePath}}",
        ])
        .await;
    let expected: Vec<String> = files
        .iter()
        .map(|f| format!("{},{}", f["Id"].as_str().unwrap(), f["FilePath"].as_str().unwrap()))
        .collect();
    assert_eq!(templated.lines().collect::<Vec<_>>(), expected);
    let sized = env
        .ok(&[
            "get",
            "dataset",
            "-i",
            &dataset_id,
            "--template",
            "{{printf \"%s is %d bytes\" .Name .TotalSize}}",
        ])
        .await;
    let shown = env.json(&["get", "dataset", "-i", &dataset_id, "-f", "json"]).await;
    assert_eq!(
        sized,
        format!("{} is {} bytes\n", shown["Name"].as_str().unwrap(), shown["TotalSize"])
    );
    let unsupported = env.fails(&["list", "projects", "--template", "{{len .Name}}"]).await;
    assert!(unsupported.contains("not supported"), "{unsupported}");
    let file_id = files[0]["Id"].as_str().unwrap().to_string();
    let got = env.json(&["get", "file", "-i", &file_id, "-f", "json"]).await;
    assert_eq!(got["Id"], file_id.as_str());
    assert!(got["ETag"].is_string() && got["Size"].is_number(), "{got}");
    let table = env.ok(&["contents", "project", "-i", &project_id]).await;
    assert!(table.contains("FilePath") && table.contains(".fastq.gz"), "{table}");
    let of_biosample = env
        .json(&["contents", "biosample", "-n", DEMO_BIOSAMPLES[0], "-f", "json"])
        .await;
    assert!(!of_biosample.as_array().unwrap().is_empty());
    let run_files = env.json(&["contents", "run", "-n", DEMO_RUN, "-f", "json"]).await;
    assert!(run_files.is_array());
    let link = env.ok(&["link", "file", "-i", &file_id]).await;
    let link = link.trim();
    assert!(link.starts_with("http"), "{link}");
    let bytes = reqwest::get(link).await.unwrap().bytes().await.unwrap();
    assert_eq!(
        bytes.len() as u64,
        got["Size"].as_u64().unwrap(),
        "the link serves the file without a token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_and_creation() {
    let env = Env::new().await;
    // A rejected token: the error names the profile and the server and says what to do.
    env.write_profile(
        "broken",
        &format!(
            "apiServer = {}\naccessToken = 0123456789abcdef0123456789abcdef\n",
            env.hub.url
        ),
    );
    let stderr = env.fails(&["-c", "broken", "list", "projects"]).await;
    assert!(stderr.contains("'broken'") && stderr.contains(&env.hub.url), "{stderr}");
    assert!(
        stderr.contains("bs -c broken auth --force") && stderr.contains("--api-server"),
        "{stderr}"
    );

    // Creating a project, then again with and without --exist-ok.
    let created = env
        .json(&["create", "project", "-n", "Fresh Project", "-f", "json"])
        .await;
    let id = created["Id"].as_str().unwrap().to_string();
    let stderr = env.fails(&["create", "project", "-n", "Fresh Project"]).await;
    assert!(stderr.contains("--exist-ok") && stderr.contains(&id), "{stderr}");
    let again = env
        .ok(&["create", "project", "-n", "Fresh Project", "--exist-ok", "--terse"])
        .await;
    assert_eq!(again.trim(), id);
    let biosample = env
        .json(&["create", "biosample", "-n", "S-new", "-p", &id, "-f", "json"])
        .await;
    assert_eq!(biosample["BioSampleName"], "S-new");
    let listed = env
        .json(&["list", "biosamples", "--project-id", &id, "-f", "json"])
        .await;
    assert_eq!(ids(&listed), vec![biosample["Id"].as_str().unwrap().to_string()]);

    // A workgroup token: whoami says so, and the lists show the workgroup's data only.
    let workgroup_token = env.hub.token(DEMO_EMAIL, Some(DEMO_WORKGROUP)).await;
    env.write_profile(
        "lab",
        &format!("apiServer = {}\naccessToken = {workgroup_token}\n", env.hub.url),
    );
    let table = env.ok(&["-c", "lab", "whoami"]).await;
    assert!(table.contains(DEMO_WORKGROUP), "{table}");
    let lab = env.json(&["-c", "lab", "whoami", "-f", "json"]).await;
    assert_eq!(lab["Context"], format!("workgroup {DEMO_WORKGROUP}"));
    let names: Vec<String> = env
        .json(&["-c", "lab", "list", "projects", "-f", "json"])
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&DEMO_WORKGROUP_PROJECT.to_string()), "{names:?}");
    assert!(
        !names.contains(&DEMO_PROJECT.to_string()),
        "no personal data in the workgroup context: {names:?}"
    );
    let workgroups = env.json(&["-c", "lab", "list", "workgroups", "-f", "json"]).await;
    assert!(
        workgroups
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["Name"] == DEMO_WORKGROUP),
        "{workgroups}"
    );

    // Revoking a named profile's token: every suggestion carries its `-c NAME`.
    let out = env.run(&["-c", "lab", "revoke", "token"]).await;
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stderr.contains("`bs -c lab auth --force`"), "{}", out.stderr);
    let stderr = env.fails(&["-c", "lab", "whoami"]).await;
    assert!(stderr.contains("`bs -c lab auth --force`"), "{stderr}");

    // Revoking the token makes it fail afterwards.
    env.ok(&["revoke", "token"]).await;
    let stderr = env.fails(&["whoami"]).await;
    assert!(stderr.contains("bs auth --force"), "{stderr}");
}
