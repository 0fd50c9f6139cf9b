//! `bs upload dataset`: validate every file locally, list every problem at once, then upload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use ferry_api::CommonFastq;
use ferry_client::upload::{DatasetUpload, UploadFile, UploadOptions, UploadPlan, upload};
use ferry_fastq::{FileReport, IlluminaName, Read, ValidateOptions, check_pairs, validate_fastq_gz};
use serde_json::Value;

use crate::cli::{Format, UploadArgs};
use crate::commands::to_value;
use crate::context::Context;
use crate::download::{Rule, concurrency, selected};
use crate::output::print_list;
use crate::progress::{Bars, show_bars};

/// Finds the files named on the command line (directories expanded).
fn collect_files(args: &UploadArgs, rules: &[Rule]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in &args.paths {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            walk(path, path, args.recursive, rules, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(root: &Path, dir: &Path, recursive: bool, rules: &[Rule], out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            if recursive {
                walk(root, &path, recursive, rules, out)?;
            }
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if selected(rules, &rel) {
                out.push(path);
            }
        }
    }
    Ok(())
}

struct Planned {
    plan: UploadPlan,
    bytes: u64,
}

/// Validates the files and builds the upload plan, listing every problem at once.
async fn plan(args: &UploadArgs, files: Vec<PathBuf>) -> anyhow::Result<Planned> {
    if files.is_empty() {
        bail!("no files to upload in {:?}", args.paths);
    }
    let mut problems: Vec<String> = Vec::new();
    let mut bytes = 0u64;
    for file in &files {
        bytes += std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    }
    let is_fastq = args.dataset_type.to_ascii_lowercase().contains("fastq");
    if !is_fastq {
        let first = files[0]
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let name = args.name.clone().unwrap_or(first);
        let mut names = BTreeMap::new();
        let mut upload_files = Vec::new();
        for file in &files {
            let file_name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if let Some(other) = names.insert(file_name.clone(), file.clone()) {
                problems.push(format!(
                    "{} and {} have the same name {file_name}",
                    other.display(),
                    file.display()
                ));
            }
            upload_files.push(UploadFile {
                path: file.clone(),
                name: file_name,
            });
        }
        report_problems(&problems)?;
        return Ok(Planned {
            plan: UploadPlan {
                project_id: args.project.clone(),
                datasets: vec![DatasetUpload {
                    biosample_name: args.biosample_name.clone().unwrap_or_else(|| name.clone()),
                    name,
                    dataset_type: args.dataset_type.clone(),
                    common_fastq: None,
                    files: upload_files,
                }],
                appsession_name: args.label.clone(),
            },
            bytes,
        });
    }

    // Group by sample and lane.
    let mut groups: BTreeMap<String, (IlluminaName, BTreeMap<Read, PathBuf>)> = BTreeMap::new();
    for file in &files {
        let file_name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let Some(name) = IlluminaName::parse(&file_name) else {
            problems.push(format!(
                "{}: not an Illumina FASTQ file name; expected SampleName_S1_L001_R1_001.fastq.gz",
                file.display()
            ));
            continue;
        };
        let key = name.dataset_name();
        let entry = groups.entry(key).or_insert_with(|| (name.clone(), BTreeMap::new()));
        if let Some(other) = entry.1.insert(name.read, file.clone()) {
            problems.push(format!(
                "{} and {} are both {} of {}; upload one of them",
                other.display(),
                file.display(),
                name.read,
                name.dataset_name()
            ));
        }
    }
    for (dataset, (_, reads)) in &groups {
        if !reads.contains_key(&Read::R1) {
            let present: Vec<String> = reads.keys().map(|r| r.to_string()).collect();
            problems.push(format!("{dataset}: has {} but no R1 file", present.join(", ")));
        }
    }

    // Content checks (ferry-fastq, as BaseSpace does them) in parallel on blocking threads.
    let validate_options = ValidateOptions {
        allow_invalid_readnames: args.allow_invalid_readnames,
    };
    let mut tasks = tokio::task::JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
    ));
    for (dataset, (_, reads)) in &groups {
        for (read, path) in reads {
            let (dataset, read, path, limit) = (dataset.clone(), *read, path.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let checked = tokio::task::spawn_blocking(move || validate_fastq_gz(&path, validate_options))
                    .await
                    .map_err(|err| err.to_string());
                (dataset, read, checked)
            });
        }
    }
    let mut reports: BTreeMap<(String, Read), FileReport> = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (dataset, read, checked) = done.map_err(|err| anyhow!("validation task failed: {err}"))?;
        match checked {
            Ok(Ok(report)) => {
                reports.insert((dataset, read), report);
            }
            Ok(Err(found)) => problems.extend(found.iter().map(ToString::to_string)),
            Err(err) => problems.push(format!("{dataset} {read}: validation failed: {err}")),
        }
    }
    for dataset in groups.keys() {
        if let (Some(r1), Some(r2)) = (
            reports.get(&(dataset.clone(), Read::R1)),
            reports.get(&(dataset.clone(), Read::R2)),
        ) {
            problems.extend(check_pairs(r1, r2).iter().map(ToString::to_string));
        }
        for index in [Read::I1, Read::I2] {
            if let (Some(r1), Some(other)) = (
                reports.get(&(dataset.clone(), Read::R1)),
                reports.get(&(dataset.clone(), index)),
            ) && r1.stats.reads != other.stats.reads
            {
                problems.push(format!(
                    "{}: has {} reads but {} has {}; index reads must match R1",
                    other.file.display(),
                    other.stats.reads,
                    r1.file.display(),
                    r1.stats.reads
                ));
            }
        }
    }
    problems.sort();
    report_problems(&problems)?;

    let mut datasets = Vec::new();
    for (dataset, (name, reads)) in groups {
        let get = |read| reports.get(&(dataset.clone(), read)).map(|r| &r.stats);
        let r1 = get(Read::R1);
        let r2 = get(Read::R2);
        let clusters = r1.map(|s| s.reads as i64);
        let total_reads = r1.map(|s| s.reads).unwrap_or(0) + r2.map(|s| s.reads).unwrap_or(0);
        let fastq = CommonFastq {
            is_paired_end: Some(r2.is_some()),
            max_length_read1: r1.map(|s| s.max_length as i64),
            max_length_read2: r2.map(|s| s.max_length as i64),
            max_length_index_read1: get(Read::I1).map(|s| s.max_length as i64),
            max_length_index_read2: get(Read::I2).map(|s| s.max_length as i64),
            total_clusters_pf: clusters,
            total_clusters_raw: clusters,
            total_reads_pf: Some(total_reads as i64),
            total_reads_raw: Some(total_reads as i64),
        };
        datasets.push(DatasetUpload {
            name: dataset.clone(),
            biosample_name: args.biosample_name.clone().unwrap_or_else(|| name.sample_name.clone()),
            dataset_type: args.dataset_type.clone(),
            common_fastq: Some(fastq),
            files: reads
                .into_values()
                .map(|path| UploadFile {
                    name: path
                        .file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_default(),
                    path,
                })
                .collect(),
        });
    }
    Ok(Planned {
        plan: UploadPlan {
            project_id: args.project.clone(),
            datasets,
            appsession_name: args.label.clone(),
        },
        bytes,
    })
}

fn report_problems(problems: &[String]) -> anyhow::Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    for problem in problems {
        eprintln!("ERROR: {problem}");
    }
    bail!(
        "{} problem{} found (listed above); nothing was uploaded. Fix the files and run the command again",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    )
}

/// The ID of the project `-p` names: a project ID, or else the exact name of one of the
/// projects the token sees. Several projects of that name: an error listing their IDs.
async fn resolve_project(client: &ferry_client::Client, given: &str) -> anyhow::Result<String> {
    let given = given.trim();
    if !given.is_empty() && given.bytes().all(|b| b.is_ascii_digit()) {
        match client.project(given).await {
            Ok(project) => return Ok(project.id),
            // Not an ID after all: perhaps a project named with digits.
            Err(ferry_client::ClientError::NotFound { .. }) => {}
            Err(error) => return Err(anyhow!(error).context(format!("cannot upload to project {given}"))),
        }
    }
    let named: Vec<ferry_api::Project> = futures_util::TryStreamExt::try_collect(client.projects(Some(given)))
        .await
        .with_context(|| format!("cannot look up the project named {given:?}"))?;
    match named.as_slice() {
        [] => bail!(
            "no project has the ID or the name {given:?}; list your projects with `bs list projects` and pass an ID \
             or an exact name with -p (also check the workgroup context of the token: `bs whoami`)"
        ),
        [project] => Ok(project.id.clone()),
        several => bail!(
            "{} projects are named {given:?} (IDs {}); pass the ID of the one you mean with -p",
            several.len(),
            several.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Runs `bs upload dataset`.
pub async fn upload_dataset(
    ctx: &Context,
    args: &UploadArgs,
    rules: &[Rule],
    quiet: bool,
    no_bars: bool,
) -> anyhow::Result<()> {
    let parts_in_flight = concurrency(&args.concurrency)?;
    let files = collect_files(args, rules)?;
    let planned = plan(args, files).await?;
    if args.dry_run {
        let rows: Vec<Value> = planned
            .plan
            .datasets
            .iter()
            .map(|d| {
                serde_json::json!({
                    "Name": d.name,
                    "BioSampleName": d.biosample_name,
                    "Files": d.files.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
                    "Attributes": {"common_fastq": d.common_fastq},
                })
            })
            .collect();
        return print_list(&rows, &["Name", "BioSampleName", "Files"], &args.output);
    }
    let client = ctx.client()?;
    // Find the project (by ID or exact name) before sending anything.
    let mut planned = planned;
    planned.plan.project_id = resolve_project(&client, &args.project).await?;
    let bars = Arc::new(Bars::new(planned.bytes, show_bars(quiet, no_bars)));
    let rate_limit = args
        .max_rate
        .as_deref()
        .map(crate::download::parse_rate)
        .transpose()?
        .map(|rate| Arc::new(ferry_client::progress::RateLimit::new(rate)));
    let options = UploadOptions {
        rate_limit,
        concurrency: parts_in_flight,
        progress: bars.clone(),
        ..UploadOptions::default()
    };
    let started = std::time::Instant::now();
    let report = upload(&client, &planned.plan, &options).await.map_err(|err| {
        anyhow!(err).context("the upload stopped; run the same command again to resume where it stopped")
    })?;
    bars.total.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if !quiet && args.output.format == Format::Table && !args.output.terse {
        eprintln!(
            "Uploaded {} bytes in {seconds:.1} s{}",
            report.bytes_sent,
            if report.resumed { " (resumed)" } else { "" }
        );
    }
    let rows: Vec<Value> = report
        .datasets
        .iter()
        .map(|d| {
            Ok(serde_json::json!({
                "BioSampleName": d.biosample.bio_sample_name,
                "BioSampleId": d.biosample.id,
                "BioSampleCreated": d.biosample_created,
                "DatasetName": d.dataset.name,
                "Id": d.dataset.id,
                "Files": d.files.len(),
                "TotalSize": d.files.iter().filter_map(|f| f.size).sum::<i64>(),
                "AppSessionId": report.appsession.id,
                "Dataset": to_value(&d.dataset)?,
                "BioSample": to_value(&d.biosample)?,
            }))
        })
        .collect::<anyhow::Result<_>>()?;
    print_list(
        &rows,
        &[
            "BioSampleName",
            "BioSampleId",
            "BioSampleCreated",
            "DatasetName",
            "Id",
            "Files",
            "TotalSize",
        ],
        &args.output,
    )
}
