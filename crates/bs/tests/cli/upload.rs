//! Uploads: local validation, created IDs, round trip and resume after a kill.

use std::path::Path;
use std::time::Duration;

use ferry_fastq::{SynthSpec, fastq_gz_bytes};
use ferry_hub::demo::DEMO_PROJECT;

use crate::support::{Env, files_under, md5_hex, wait_for};

fn write_pair(dir: &Path, sample: &str, number: u32, reads: u64) -> (Vec<u8>, Vec<u8>) {
    let r1 = SynthSpec::new(sample, number, 1, 1, reads);
    let r2 = r1.mate();
    let (b1, b2) = (fastq_gz_bytes(&r1), fastq_gz_bytes(&r2));
    std::fs::write(dir.join(r1.file_name()), &b1).unwrap();
    std::fs::write(dir.join(r2.file_name()), &b2).unwrap();
    (b1, b2)
}

/// `len` bytes of noise (incompressible, different for each seed).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Waits until the journal of the upload of `dataset` records a part of `file` as sent.
async fn wait_for_a_part(env: &Env, dataset: &str, file: &str) -> bool {
    let journals = env.basespace_dir().join("uploads");
    wait_for(Duration::from_secs(60), || {
        std::fs::read_dir(&journals).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                std::fs::read_to_string(entry.path()).is_ok_and(|text| {
                    serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|journal| {
                        journal["datasets"][dataset]["files"][file]["done"]
                            .as_object()
                            .is_some_and(|done| !done.is_empty())
                    })
                })
            })
        })
    })
    .await
}

/// Downloads dataset `id` and returns the bytes of its only file, `name`.
async fn download_only_file(env: &Env, id: &str, name: &str) -> Vec<u8> {
    let out = tempfile::tempdir().unwrap();
    env.ok(&[
        "download",
        "dataset",
        "-i",
        id,
        "-o",
        out.path().to_str().unwrap(),
        "--layout",
        "flat",
        "--no-metadata",
    ])
    .await;
    assert_eq!(files_under(out.path()), vec![name.to_string()]);
    std::fs::read(out.path().join(name)).unwrap()
}

fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_lists_every_problem_and_sends_nothing() {
    let env = Env::new().await;
    let project = env
        .ok(&["get", "project", "-n", DEMO_PROJECT, "--terse"])
        .await
        .trim()
        .to_string();
    let before = env
        .json(&["list", "biosamples", "--project-id", &project, "-f", "json"])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("reads.fastq.gz"), gzip("@r\nACGT\n+\nIIII\n")).unwrap();
    // R2 without R1.
    let lonely = SynthSpec::new("Lonely", 1, 1, 2, 10);
    std::fs::write(d.join(lonely.file_name()), fastq_gz_bytes(&lonely)).unwrap();
    // Truncated gzip.
    let cut = SynthSpec::new("Cut", 2, 1, 1, 50);
    let bytes = fastq_gz_bytes(&cut);
    std::fs::write(d.join(cut.file_name()), &bytes[..bytes.len() / 2]).unwrap();
    // Unequal record counts.
    let r1 = SynthSpec::new("Uneven", 3, 1, 1, 20);
    let r2 = SynthSpec::new("Uneven", 3, 1, 2, 19);
    std::fs::write(d.join(r1.file_name()), fastq_gz_bytes(&r1)).unwrap();
    std::fs::write(d.join(r2.file_name()), fastq_gz_bytes(&r2)).unwrap();
    // Headers that are not Illumina's.
    std::fs::write(d.join("Plain_S4_L001_R1_001.fastq.gz"), gzip("@read1\nACGT\n+\nIIII\n")).unwrap();

    let dir_arg = d.to_str().unwrap();
    let stderr = env.fails(&["upload", "dataset", "-p", &project, dir_arg]).await;
    for expected in [
        "reads.fastq.gz: not an Illumina FASTQ file name",
        "Lonely_L001: has R2 but no R1",
        "Cut_S2_L001_R1_001.fastq.gz",
        "Uneven_S3_L001_R2_001.fastq.gz: has 19 reads but its mate",
        "Plain_S4_L001_R1_001.fastq.gz: line 1 (record 1): read header \"read1\" is not in Illumina format",
        "5 problems found",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    let after = env
        .json(&["list", "biosamples", "--project-id", &project, "-f", "json"])
        .await;
    assert_eq!(before, after, "nothing was created");
    // --allow-invalid-readnames drops only the header problem.
    let stderr = env
        .fails(&[
            "upload",
            "dataset",
            "-p",
            &project,
            "--allow-invalid-readnames",
            dir_arg,
        ])
        .await;
    assert!(
        stderr.contains("4 problems found") && !stderr.contains("read header"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_prints_ids_and_round_trips() {
    let env = Env::new().await;
    let project = env
        .ok(&["get", "project", "-n", DEMO_PROJECT, "--terse"])
        .await
        .trim()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let (r1, r2) = write_pair(dir.path(), "Fresh", 7, 300);
    let created = env
        .json(&[
            "dataset",
            "upload",
            "-p",
            &project,
            "-f",
            "json",
            dir.path().to_str().unwrap(),
        ])
        .await;
    let rows = created.as_array().expect("an array");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["BioSampleName"], "Fresh");
    assert_eq!(row["BioSampleCreated"], true);
    assert_eq!(row["DatasetName"], "Fresh_L001");
    assert_eq!(row["Files"], 2);
    let dataset_id = row["Id"].as_str().unwrap().to_string();
    assert!(dataset_id.starts_with("ds."), "{dataset_id}");

    let dataset = env.json(&["get", "dataset", "-i", &dataset_id, "-f", "json"]).await;
    let fastq = &dataset["Attributes"]["common_fastq"];
    assert_eq!(fastq["IsPairedEnd"], true);
    assert_eq!(fastq["TotalClustersPF"], 300);
    assert_eq!(fastq["TotalReadsPF"], 600);
    let biosample = env.json(&["get", "biosample", "-n", "Fresh", "-f", "json"]).await;
    assert_eq!(biosample["Id"], row["BioSampleId"]);

    let out = tempfile::tempdir().unwrap();
    env.ok(&[
        "download",
        "dataset",
        "-i",
        &dataset_id,
        "-o",
        out.path().to_str().unwrap(),
        "--layout",
        "flat",
        "--no-metadata",
    ])
    .await;
    let r1_name = SynthSpec::new("Fresh", 7, 1, 1, 300).file_name();
    let r2_name = SynthSpec::new("Fresh", 7, 1, 2, 300).file_name();
    assert_eq!(std::fs::read(out.path().join(&r1_name)).unwrap(), r1);
    assert_eq!(std::fs::read(out.path().join(&r2_name)).unwrap(), r2);

    // `-p` takes a project's exact name too; an unknown name says how to find the right one.
    let dir3 = tempfile::tempdir().unwrap();
    write_pair(dir3.path(), "ByName", 3, 20);
    let created = env
        .json(&[
            "upload",
            "dataset",
            "-p",
            DEMO_PROJECT,
            "-f",
            "json",
            dir3.path().to_str().unwrap(),
        ])
        .await;
    assert_eq!(created[0]["DatasetName"], "ByName_L001", "{created}");
    let listed = env
        .json(&["list", "datasets", "--project-id", &project, "-f", "json"])
        .await;
    assert!(
        listed.to_string().contains("ByName_L001"),
        "uploaded into {DEMO_PROJECT}: {listed}"
    );
    let stderr = env
        .fails(&[
            "upload",
            "dataset",
            "-p",
            "No Such Project",
            dir3.path().to_str().unwrap(),
        ])
        .await;
    assert!(
        stderr.contains("no project has the ID or the name") && stderr.contains("bs list projects"),
        "{stderr}"
    );

    // A table by default, naming what was created.
    let dir2 = tempfile::tempdir().unwrap();
    write_pair(dir2.path(), "Fresh", 7, 40);
    let table = env
        .ok(&["upload", "dataset", "-p", &project, dir2.path().to_str().unwrap()])
        .await;
    assert!(table.contains("Fresh_L001") && table.contains("ds."), "{table}");
    assert!(table.contains("false"), "the existing biosample is reused: {table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resumes_after_the_process_is_killed() {
    let env = Env::new().await;
    let project = env
        .ok(&["get", "project", "-n", DEMO_PROJECT, "--terse"])
        .await
        .trim()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x2545f4914f6cdd1du64;
    let content: Vec<u8> = (0..(40usize << 20))
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    std::fs::write(dir.path().join("archive.tar"), &content).unwrap();
    let args = [
        "upload",
        "dataset",
        "-p",
        &project,
        "--type",
        "common.files",
        "--name",
        "killed-upload",
        "-f",
        "json",
        dir.path().to_str().unwrap(),
    ];
    let mut slow: Vec<&str> = args.to_vec();
    slow.extend(["--max-rate", "6M", "--concurrency", "1"]);
    let mut child = env.command(&slow).spawn().unwrap();
    let journals = env.basespace_dir().join("uploads");
    let progressed = wait_for(Duration::from_secs(60), || {
        std::fs::read_dir(&journals).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                std::fs::read_to_string(entry.path()).is_ok_and(|text| {
                    serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|journal| {
                        journal["datasets"]["killed-upload"]["files"]["archive.tar"]["done"]
                            .as_object()
                            .is_some_and(|done| !done.is_empty())
                    })
                })
            })
        })
    })
    .await;
    assert!(progressed, "no part was recorded in the journal");
    child.kill().await.unwrap();

    let mut command = env.command(&args);
    command.stderr(std::process::Stdio::piped());
    let out = env.run_with(command).await;
    assert!(out.success(), "{}", out.stderr);
    let created: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let dataset_id = created[0]["Id"].as_str().unwrap().to_string();
    let same = env
        .json(&[
            "list",
            "datasets",
            "--project-id",
            &project,
            "-f",
            "json",
            "--filter-term",
            "^killed-upload$",
        ])
        .await;
    assert_eq!(
        same.as_array().unwrap().len(),
        1,
        "the resumed upload reused its dataset: {same}"
    );
    assert_eq!(same[0]["Id"], dataset_id.as_str());
    let outdir = tempfile::tempdir().unwrap();
    env.ok(&[
        "download",
        "dataset",
        "-i",
        &dataset_id,
        "-o",
        outdir.path().to_str().unwrap(),
        "--layout",
        "flat",
        "--no-metadata",
    ])
    .await;
    assert_eq!(files_under(outdir.path()), vec!["archive.tar".to_string()]);
    assert_eq!(
        md5_hex(&std::fs::read(outdir.path().join("archive.tar")).unwrap()),
        md5_hex(&content)
    );
    assert!(
        std::fs::read_dir(&journals).unwrap().next().is_none(),
        "the journal is removed when done"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_to_during_its_upload_is_not_completed() {
    let env = Env::new().await;
    let project = env
        .ok(&["get", "project", "-n", DEMO_PROJECT, "--terse"])
        .await
        .trim()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("growing.tar");
    std::fs::write(&path, noise(32 << 20, 7)).unwrap();
    let args = [
        "upload",
        "dataset",
        "-p",
        &project,
        "--type",
        "common.files",
        "--name",
        "changing-upload",
        "-f",
        "json",
        dir.path().to_str().unwrap(),
    ];
    let mut slow: Vec<&str> = args.to_vec();
    slow.extend(["--max-rate", "4M", "--concurrency", "1"]);
    let child = env.command(&slow).spawn().unwrap();
    assert!(
        wait_for_a_part(&env, "changing-upload", "growing.tar").await,
        "no part was recorded in the journal"
    );
    // Something rewrites the start of the file (already sent) while the rest is on its way.
    let changed = noise(32 << 20, 8);
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all(&changed[..1 << 20]).unwrap();
        file.sync_all().unwrap();
    }
    let expected = std::fs::read(&path).unwrap();
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("bs did not finish within 120 s")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a mix of two versions was accepted:\n{stderr}"
    );
    assert!(
        stderr.contains("growing.tar changed while it was being uploaded")
            && stderr.contains("run the upload again once nothing is writing to it"),
        "{stderr}"
    );

    // Once the file is left alone, running the upload again stores exactly what it holds.
    let created = env.json(&args).await;
    let id = created[0]["Id"].as_str().unwrap().to_string();
    let stored = download_only_file(&env, &id, "growing.tar").await;
    assert_eq!(md5_hex(&stored), md5_hex(&expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_upload_sends_a_replaced_file_again_from_the_start() {
    let env = Env::new().await;
    let project = env
        .ok(&["get", "project", "-n", DEMO_PROJECT, "--terse"])
        .await
        .trim()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("swapped.tar");
    std::fs::write(&path, noise(24 << 20, 11)).unwrap();
    let args = [
        "upload",
        "dataset",
        "-p",
        &project,
        "--type",
        "common.files",
        "--name",
        "swapped-upload",
        "-f",
        "json",
        dir.path().to_str().unwrap(),
    ];
    let mut slow: Vec<&str> = args.to_vec();
    slow.extend(["--max-rate", "4M", "--concurrency", "1"]);
    let mut child = env.command(&slow).spawn().unwrap();
    assert!(
        wait_for_a_part(&env, "swapped-upload", "swapped.tar").await,
        "no part was recorded in the journal"
    );
    child.kill().await.unwrap();

    // The file is replaced (new inode) by another of the same size and modification time.
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let replacement = noise(24 << 20, 12);
    let aside = dir.path().join(".swapped.tar.part");
    std::fs::write(&aside, &replacement).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&aside)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    std::fs::rename(&aside, &path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), modified);

    let created = env.json(&args).await;
    let id = created[0]["Id"].as_str().unwrap().to_string();
    let stored = download_only_file(&env, &id, "swapped.tar").await;
    assert_eq!(
        md5_hex(&stored),
        md5_hex(&replacement),
        "parts of the earlier file were mixed in"
    );
}
