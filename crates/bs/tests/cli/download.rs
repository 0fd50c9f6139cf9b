//! Downloads: layout, filters, skip/overwrite, corruption detection and resume after a kill.

use std::path::Path;
use std::time::Duration;

use ferry_hub::demo::{DEMO_BIOSAMPLES, DEMO_PROJECT, DEMO_RUN};
use serde_json::Value;

use crate::support::{Env, files_under, md5_hex, wait_for};

fn summary(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|err| panic!("no JSON summary ({err}): {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_download_layout_filters_skip_and_overwrite() {
    let env = Env::new().await;
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let datasets = env
        .json(&["list", "datasets", "--project-name", DEMO_PROJECT, "-f", "json"])
        .await;
    let datasets = datasets.as_array().unwrap().clone();
    let mut expected = Vec::new();
    let mut etags = std::collections::HashMap::new();
    for dataset in &datasets {
        let (name, id) = (dataset["Name"].as_str().unwrap(), dataset["Id"].as_str().unwrap());
        expected.push(format!("{name}_{id}.json"));
        let files = env.json(&["contents", "dataset", "-i", id, "-f", "json"]).await;
        for file in files.as_array().unwrap() {
            let path = format!("{name}_{id}/{}", file["FilePath"].as_str().unwrap());
            etags.insert(path.clone(), file["ETag"].as_str().unwrap().to_string());
            expected.push(path);
        }
    }
    expected.sort();

    let stdout = env
        .ok(&[
            "download",
            "project",
            "-n",
            DEMO_PROJECT,
            "-o",
            dir,
            "--summary",
            "-f",
            "json",
        ])
        .await;
    let first = summary(&stdout);
    assert_eq!(
        files_under(out.path()),
        expected,
        "Illumina's layout with metadata JSON"
    );
    assert_eq!(first["Downloaded"], etags.len());
    assert_eq!(first["Verified"], etags.len(), "every file checked against its ETag");
    for (path, etag) in &etags {
        let bytes = std::fs::read(out.path().join(path)).unwrap();
        assert_eq!(&md5_hex(&bytes), etag, "{path}");
    }

    // Again: everything is present and verified, so nothing moves.
    let again = summary(
        &env.ok(&[
            "download",
            "project",
            "-n",
            DEMO_PROJECT,
            "-o",
            dir,
            "--summary",
            "-f",
            "json",
        ])
        .await,
    );
    assert_eq!(again["Skipped"], etags.len());
    assert_eq!(again["Downloaded"], 0);

    // A changed file is not silently replaced, and the error names it.
    let victim = etags.keys().min().unwrap().clone();
    let original = std::fs::read(out.path().join(&victim)).unwrap();
    let mut changed = original.clone();
    changed[10] ^= 0xff;
    std::fs::write(out.path().join(&victim), &changed).unwrap();
    let stderr = env.fails(&["download", "project", "-n", DEMO_PROJECT, "-o", dir]).await;
    assert!(stderr.contains(&victim) && stderr.contains("--overwrite"), "{stderr}");
    assert_eq!(std::fs::read(out.path().join(&victim)).unwrap(), changed);
    env.ok(&["download", "project", "-n", DEMO_PROJECT, "-o", dir, "--overwrite"])
        .await;
    assert_eq!(std::fs::read(out.path().join(&victim)).unwrap(), original);

    // Flat layout, no metadata, ordered globs: exclude everything, then include R1 files.
    let flat = tempfile::tempdir().unwrap();
    env.ok(&[
        "download",
        "project",
        "-n",
        DEMO_PROJECT,
        "-o",
        flat.path().to_str().unwrap(),
        "--layout",
        "flat",
        "--no-metadata",
        "--exclude",
        "*",
        "--include",
        "*_R1_*",
    ])
    .await;
    let mut r1: Vec<String> = etags
        .keys()
        .filter(|p| p.contains("_R1_"))
        .map(|p| p.rsplit('/').next().unwrap().to_string())
        .collect();
    r1.sort();
    assert!(!r1.is_empty());
    assert_eq!(files_under(flat.path()), r1);

    // One biosample, by name, only fastq.gz files.
    let sample = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("bs.log");
    env.ok(&[
        "--log",
        log.to_str().unwrap(),
        "biosample",
        "download",
        "-n",
        DEMO_BIOSAMPLES[0],
        "-o",
        sample.path().to_str().unwrap(),
        "--extension",
        "fastq.gz",
        "--no-metadata",
    ])
    .await;
    let got = files_under(sample.path());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("done") && logged.contains(DEMO_BIOSAMPLES[0]),
        "{logged}"
    );
    assert!(
        !got.is_empty()
            && got
                .iter()
                .all(|p| p.contains(DEMO_BIOSAMPLES[0]) && p.ends_with(".fastq.gz")),
        "{got:?}"
    );

    // A script downloads a biosample, removes the metadata JSON from the output root and takes
    // what is left as the data folders.
    let scripted = tempfile::tempdir().unwrap();
    let biosample_id = env.ok(&["get", "biosample", "-n", DEMO_BIOSAMPLES[0], "--terse"]).await;
    env.ok(&[
        "download",
        "biosamples",
        biosample_id.trim(),
        "-o",
        scripted.path().to_str().unwrap(),
    ])
    .await;
    let root: Vec<(String, bool)> = std::fs::read_dir(scripted.path())
        .unwrap()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().to_string(), e.path().is_dir()))
        .collect();
    let jsons: Vec<&String> = root
        .iter()
        .filter(|(n, _)| n.ends_with(".json"))
        .map(|(n, _)| n)
        .collect();
    let folders: Vec<&String> = root.iter().filter(|(_, dir)| *dir).map(|(n, _)| n).collect();
    assert!(!folders.is_empty() && jsons.len() == folders.len(), "{root:?}");
    for folder in folders {
        assert!(
            jsons.contains(&&format!("{folder}.json")),
            "{folder}.json beside its folder: {root:?}"
        );
        let inside = files_under(&scripted.path().join(folder));
        assert!(
            inside.iter().all(|f| f.ends_with(".fastq.gz")),
            "only data in {folder}: {inside:?}"
        );
    }

    // A run: its files at the top of the output folder, plus the run's metadata JSON.
    let run = env.json(&["get", "run", "-n", DEMO_RUN, "-f", "json"]).await;
    let run_files = env.json(&["contents", "run", "-n", DEMO_RUN, "-f", "json"]).await;
    let run_dir = tempfile::tempdir().unwrap();
    env.ok(&[
        "download",
        "run",
        "-n",
        DEMO_RUN,
        "-o",
        run_dir.path().to_str().unwrap(),
    ])
    .await;
    let mut expected_run: Vec<String> = run_files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FilePath"].as_str().unwrap().to_string())
        .collect();
    expected_run.push(format!(
        "{}_{}.json",
        run["ExperimentName"].as_str().unwrap(),
        run["Id"].as_str().unwrap()
    ));
    assert_ne!(run["ExperimentName"], run["Name"], "the demo run tells the two apart");
    expected_run.sort();
    assert_eq!(files_under(run_dir.path()), expected_run);
}

/// Finds the hub's stored copy of some bytes.
fn find_blob(root: &Path, content: &[u8]) -> Option<std::path::PathBuf> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::metadata(&path).map(|m| m.len()).ok() == Some(content.len() as u64)
                && std::fs::read(&path).ok().as_deref() == Some(content)
            {
                return Some(path);
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_byte_on_the_server_is_detected() {
    let env = Env::new().await;
    let datasets = env
        .json(&["list", "datasets", "--project-name", DEMO_PROJECT, "-f", "json"])
        .await;
    let dataset_id = datasets[0]["Id"].as_str().unwrap().to_string();
    let files = env
        .json(&["contents", "dataset", "-i", &dataset_id, "-f", "json"])
        .await;
    let file_id = files[0]["Id"].as_str().unwrap().to_string();
    let name = files[0]["Name"].as_str().unwrap().to_string();

    let good = tempfile::tempdir().unwrap();
    env.ok(&["download", "file", "-i", &file_id, "-o", good.path().to_str().unwrap()])
        .await;
    let content = std::fs::read(good.path().join(&name)).unwrap();
    let blob = find_blob(&env.hub.data_dir, &content).expect("the hub's copy of the file");
    let mut corrupted = content.clone();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 0x01;
    std::fs::write(&blob, &corrupted).unwrap();

    let bad = tempfile::tempdir().unwrap();
    let stderr = env
        .fails(&["download", "file", "-i", &file_id, "-o", bad.path().to_str().unwrap()])
        .await;
    assert!(
        stderr.contains("checksum mismatch") && stderr.contains(&name),
        "{stderr}"
    );
    assert!(
        stderr.contains(&md5_hex(&content)) && stderr.contains(&md5_hex(&corrupted)),
        "{stderr}"
    );
    assert_eq!(
        files_under(bad.path()),
        Vec::<String>::new(),
        "nothing is left under the final name or as partial"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_resumes_after_the_process_is_killed() {
    let env = Env::new().await;
    let project = env
        .ok(&["get", "project", "-n", DEMO_PROJECT, "--terse"])
        .await
        .trim()
        .to_string();
    // A 20 MiB file (one stream) and a 40 MiB file (parallel ranges), random bytes.
    let source = tempfile::tempdir().unwrap();
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut random = |len: usize| {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect::<Vec<u8>>()
    };
    let small = random(20 << 20);
    let big = random(40 << 20);
    std::fs::write(source.path().join("small.bin"), &small).unwrap();
    std::fs::write(source.path().join("big.bin"), &big).unwrap();
    let uploaded = env
        .json(&[
            "upload",
            "dataset",
            "-p",
            &project,
            "--type",
            "common.files",
            "--name",
            "resume-test",
            "-f",
            "json",
            source.path().to_str().unwrap(),
        ])
        .await;
    let dataset_id = uploaded[0]["Id"].as_str().unwrap().to_string();
    let files = env
        .json(&["contents", "dataset", "-i", &dataset_id, "-f", "json"])
        .await;
    let id_of = |name: &str| {
        files
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["Name"] == name)
            .unwrap_or_else(|| panic!("{name} in {files}"))["Id"]
            .as_str()
            .unwrap()
            .to_string()
    };

    for (name, content) in [("small.bin", &small), ("big.bin", &big)] {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().to_str().unwrap().to_string();
        let file_id = id_of(name);
        let mut child = env
            .command(&["download", "file", "-i", &file_id, "-o", &dir, "--max-rate", "4M"])
            .spawn()
            .unwrap();
        let partial = out.path().join(format!("{name}.partial"));
        let state = out.path().join(format!("{name}.partial.json"));
        let progressed = wait_for(Duration::from_secs(30), || {
            if name == "big.bin" {
                // Parallel ranges: wait until one range is recorded as complete.
                std::fs::read_to_string(&state).is_ok_and(|text| text.contains("\"done\":{\""))
            } else {
                std::fs::metadata(&partial).is_ok_and(|m| m.len() > 2 << 20)
            }
        })
        .await;
        assert!(progressed, "{name}: the download made no visible progress");
        child.kill().await.unwrap();
        assert!(
            !out.path().join(name).exists(),
            "{name}: nothing under the final name after a kill"
        );
        let resumed = summary(
            &env.ok(&[
                "download",
                "file",
                "-i",
                &file_id,
                "-o",
                &dir,
                "--summary",
                "-f",
                "json",
            ])
            .await,
        );
        assert!(resumed["ResumedBytes"].as_u64().unwrap() > 0, "{name}: {resumed}");
        assert_eq!(resumed["Verified"], 1);
        assert_eq!(
            md5_hex(&std::fs::read(out.path().join(name)).unwrap()),
            md5_hex(content),
            "{name}"
        );
        assert_eq!(
            files_under(out.path()),
            vec![name.to_string()],
            "{name}: partial files are cleaned up"
        );
    }
}

#[tokio::test]
async fn archived_data_is_listed_but_not_downloaded_until_restored() {
    // The test hub's restores take one second.
    let env = Env::new().await;
    let datasets = env
        .json(&["list", "datasets", "--project-name", DEMO_PROJECT, "-f", "json"])
        .await;
    let dataset = datasets[0]["Id"].as_str().unwrap().to_string();
    let archived = env.json(&["archive", "dataset", &dataset, "-f", "json"]).await;
    assert_eq!(archived["IsArchived"], true);
    let files = env.json(&["contents", "dataset", "-i", &dataset, "-f", "json"]).await;
    assert!(
        files.as_array().unwrap().iter().all(|f| f["IsArchived"] == true),
        "{files}"
    );

    let out = tempfile::tempdir().unwrap();
    let refused = env
        .fails(&[
            "download",
            "dataset",
            "-i",
            &dataset,
            "-o",
            out.path().to_str().unwrap(),
        ])
        .await;
    assert!(
        refused.contains("is archived") && refused.contains("bs unarchive"),
        "{refused}"
    );
    assert!(
        files_under(out.path()).iter().all(|f| f.ends_with(".json")),
        "no partial data files: {:?}",
        files_under(out.path())
    );

    let restoring = env.run(&["unarchive", "dataset", "-i", &dataset, "-f", "json"]).await;
    assert!(restoring.success(), "{}", restoring.stderr);
    assert!(
        restoring.stderr.contains("The restore finishes at"),
        "{}",
        restoring.stderr
    );
    let mut restored = false;
    for _ in 0..100 {
        let state = env
            .ok(&["get", "dataset", "-i", &dataset, "-F", "IsArchived", "-f", "csv"])
            .await;
        if state.contains("false") {
            restored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(restored, "the restore never finished");
    let summary = env
        .ok(&[
            "download",
            "dataset",
            "-i",
            &dataset,
            "-o",
            out.path().to_str().unwrap(),
            "--summary",
        ])
        .await;
    assert!(summary.to_lowercase().contains("verified"), "{summary}");
}
