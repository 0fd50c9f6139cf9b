//! `bs download …`: collect files, then fetch them in parallel through the client's engine.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail};
use ferry_client::download::{DownloadOptions, TransferError, download_file};
use ferry_client::{Client, DatasetQuery, FileQuery};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value;

use crate::cli::{DownloadArgs, DownloadWhat, Format, Layout};
use crate::commands::{datasets_of, extension_ok, find_biosample, find_dataset, find_project, find_run, to_value};
use crate::context::Context;
use crate::output::{emit, table};
use crate::progress::{Bars, show_bars};

/// One ordered `--include`/`--exclude` rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Include (true) or exclude.
    pub include: bool,
    /// The glob.
    pub glob: globset::GlobMatcher,
}

/// Builds the rules in command-line order from `(position, include, pattern)`.
pub fn rules(mut raw: Vec<(usize, bool, String)>) -> anyhow::Result<Vec<Rule>> {
    raw.sort_by_key(|(index, _, _)| *index);
    raw.into_iter()
        .map(|(_, include, pattern)| {
            let glob = globset::GlobBuilder::new(&pattern)
                .literal_separator(false)
                .build()
                .map_err(|err| anyhow!("invalid glob {pattern:?}: {err}"))?;
            Ok(Rule {
                include,
                glob: glob.compile_matcher(),
            })
        })
        .collect()
}

/// Whether a path passes the rules (the last matching rule decides; none: included).
pub fn selected(rules: &[Rule], path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let mut keep = true;
    for rule in rules {
        if rule.glob.is_match(path) || rule.glob.is_match(name) {
            keep = rule.include;
        }
    }
    keep
}

struct Job {
    file: ferry_api::File,
    dest: PathBuf,
    shown: String,
}

/// A relative path from the server, made safe: no absolute paths, no `..`.
fn safe_relative(text: &str) -> anyhow::Result<PathBuf> {
    let mut out = PathBuf::new();
    for component in Path::new(&text.replace('\\', "/")).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => bail!("refusing the unsafe file path {text:?} sent by the server"),
        }
    }
    if out.as_os_str().is_empty() {
        bail!("the server sent an empty file path");
    }
    Ok(out)
}

fn file_rel_path(file: &ferry_api::File) -> String {
    file.path
        .clone()
        .or_else(|| file.name.clone())
        .unwrap_or_else(|| file.id.clone())
}

fn write_metadata(path: &Path, value: &Value) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let text = serde_json::to_vec_pretty(value)?;
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, &text)?;
    std::fs::rename(&temp, path)?;
    Ok(())
}

/// Parses `--concurrency`.
pub fn concurrency(text: &str) -> anyhow::Result<usize> {
    match text.trim().to_ascii_lowercase().as_str() {
        "high" => Ok(16),
        "low" => Ok(2),
        "default" | "medium" => Ok(4),
        other => other
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=256).contains(n))
            .ok_or_else(|| anyhow!("invalid --concurrency {text:?}: give a number from 1 to 256, or high/low")),
    }
}

/// Parses a rate: bytes per second with an optional K/M/G suffix (powers of 1000).
pub fn parse_rate(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let (number, factor) = match text.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&text[..text.len() - 1], 1_000),
        Some('M') => (&text[..text.len() - 1], 1_000_000),
        Some('G') => (&text[..text.len() - 1], 1_000_000_000),
        _ => (text, 1),
    };
    number
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(|n| n.saturating_mul(factor))
        .ok_or_else(|| anyhow!("invalid rate {text:?}: give bytes per second, e.g. 500K or 20M"))
}

async fn dataset_jobs(
    client: &Client,
    datasets: &[ferry_api::Dataset],
    args: &DownloadArgs,
    jobs: &mut Vec<Job>,
    metadata: &mut Vec<(PathBuf, Value)>,
) -> anyhow::Result<()> {
    let query = FileQuery {
        extensions: args.extension.clone(),
        directory: None,
    };
    for dataset in datasets {
        let folder = format!(
            "{}_{}",
            dataset.name.clone().unwrap_or_else(|| "dataset".into()),
            dataset.id
        );
        let folder = safe_relative(&folder)?;
        if !args.no_metadata {
            // Beside the dataset's folder, as Illumina's `bs` writes it (scripts run
            // `rm *.json; DLDIR=$(ls)` after a biosample download).
            let name = PathBuf::from(format!("{}.json", folder.display()));
            metadata.push((args.output.join(name), to_value(dataset)?));
        }
        let files: Vec<_> = client.dataset_files(&dataset.id, &query).try_collect().await?;
        for file in files {
            let rel = file_rel_path(&file);
            let dest = match args.layout {
                Layout::Dataset => args.output.join(&folder).join(safe_relative(&rel)?),
                Layout::Flat => args.output.join(safe_relative(file.name.as_deref().unwrap_or(&rel))?),
            };
            jobs.push(Job {
                shown: format!("{}/{}", folder.display(), rel),
                file,
                dest,
            });
        }
    }
    Ok(())
}

/// Runs `bs download <noun>`.
pub async fn download(
    ctx: &Context,
    what: &DownloadWhat,
    rules: &[Rule],
    quiet: bool,
    no_bars: bool,
) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let mut jobs = Vec::new();
    let mut metadata: Vec<(PathBuf, Value)> = Vec::new();
    let args = match what {
        DownloadWhat::Project(args) => {
            let project = find_project(&client, &args.select).await?;
            let datasets = datasets_of(
                &client,
                DatasetQuery {
                    project_ids: vec![project.id.clone()],
                    ..DatasetQuery::default()
                },
            )
            .await?;
            dataset_jobs(&client, &datasets, args, &mut jobs, &mut metadata).await?;
            args
        }
        DownloadWhat::Biosample(args) => {
            let biosample = find_biosample(&client, &args.select).await?;
            let datasets = datasets_of(
                &client,
                DatasetQuery {
                    input_biosamples: vec![biosample.id.clone()],
                    ..DatasetQuery::default()
                },
            )
            .await?;
            dataset_jobs(&client, &datasets, args, &mut jobs, &mut metadata).await?;
            args
        }
        DownloadWhat::Appsession(args) => {
            let id = args
                .select
                .id
                .as_deref()
                .ok_or_else(|| anyhow!("give the AppSession with -i ID (see `bs list appsessions`)"))?;
            let session = client.appsession(id).await?;
            let status = session.execution_status.clone().unwrap_or_default();
            if status == "Running" {
                bail!("app session {id} is still Running: its outputs appear when it ends (bs await appsession {id})");
            }
            let datasets = datasets_of(
                &client,
                DatasetQuery {
                    appsession_ids: vec![session.id.clone()],
                    ..DatasetQuery::default()
                },
            )
            .await?;
            if datasets.is_empty() {
                bail!("app session {id} ({status}) has no output datasets");
            }
            dataset_jobs(&client, &datasets, args, &mut jobs, &mut metadata).await?;
            args
        }
        DownloadWhat::Dataset(args) => {
            let dataset = find_dataset(&client, &args.select).await?;
            dataset_jobs(&client, &[dataset], args, &mut jobs, &mut metadata).await?;
            args
        }
        DownloadWhat::Run(args) => {
            let run = find_run(&client, &args.select).await?;
            if !args.no_metadata {
                // Named after the experiment, as Illumina's `bs` names it (`KB_ChIPseq_4_281093846.json`).
                let experiment = run
                    .experiment_name
                    .clone()
                    .filter(|name| !name.trim().is_empty())
                    .or_else(|| run.name.clone())
                    .unwrap_or_else(|| "run".into());
                let name = format!("{experiment}_{}.json", run.id);
                metadata.push((args.output.join(safe_relative(&name)?), to_value(&run)?));
            }
            let query = FileQuery {
                extensions: args.extension.clone(),
                directory: None,
            };
            let files: Vec<_> = client.run_files(&run.id, &query).try_collect().await?;
            for file in files {
                let rel = file_rel_path(&file);
                let dest = match args.layout {
                    Layout::Dataset => args.output.join(safe_relative(&rel)?),
                    Layout::Flat => args.output.join(safe_relative(file.name.as_deref().unwrap_or(&rel))?),
                };
                jobs.push(Job { shown: rel, file, dest });
            }
            args
        }
        DownloadWhat::File(args) => {
            let id = args
                .select
                .id
                .as_deref()
                .ok_or_else(|| anyhow!("give the file with -i ID (see `bs contents dataset -i ID`)"))?;
            let file = client.file(id).await?;
            let name = file.name.clone().unwrap_or_else(|| file.id.clone());
            jobs.push(Job {
                dest: args.output.join(safe_relative(&name)?),
                shown: name,
                file,
            });
            args
        }
    };
    jobs.retain(|job| extension_ok(&job.file, &args.extension) && selected(rules, &job.shown));
    let mut seen: HashMap<PathBuf, String> = HashMap::new();
    for job in &jobs {
        if let Some(other) = seen.insert(job.dest.clone(), job.shown.clone()) {
            bail!(
                "{} and {} would both be written to {}; use --layout dataset or filter with --exclude",
                other,
                job.shown,
                job.dest.display()
            );
        }
    }
    let files_in_parallel = concurrency(&args.concurrency)?;
    let total: u64 = jobs.iter().filter_map(|j| j.file.size).map(|s| s.max(0) as u64).sum();
    let bars = Arc::new(Bars::new(total, show_bars(quiet, no_bars)));
    let rate_limit = args
        .max_rate
        .as_deref()
        .map(parse_rate)
        .transpose()?
        .map(|rate| Arc::new(ferry_client::progress::RateLimit::new(rate)));
    let options = DownloadOptions {
        rate_limit,
        overwrite: args.overwrite,
        require_checksum: args.require_checksum,
        range_concurrency: files_in_parallel.clamp(2, 16),
        ..DownloadOptions::default()
    };
    for (path, value) in &metadata {
        write_metadata(path, value)?;
    }
    let started = Instant::now();
    let count = jobs.len();
    let results: Vec<(Job, Result<ferry_client::download::DownloadOutcome, TransferError>)> =
        futures_util::stream::iter(jobs.into_iter().map(|job| {
            let client = client.clone();
            let mut options = options.clone();
            let bars = bars.clone();
            async move {
                let size = job.file.size.map_or(0, |s| s.max(0) as u64);
                // The file's own name: the dataset folder in `shown` would hide R1 from R2.
                let name = job.shown.rsplit('/').next().unwrap_or(&job.shown);
                let file_bars = bars.file(name, size);
                let file_bar = file_bars.file.clone();
                options.progress = Arc::new(file_bars);
                let result = download_file(&client, &job.file, &job.dest, &options).await;
                file_bar.finish_and_clear();
                if let Ok(outcome) = &result {
                    bars.total.set_message(job.shown.clone());
                    tracing::info!(file = %job.shown, skipped = outcome.skipped, "done");
                }
                (job, result)
            }
        }))
        .buffer_unordered(files_in_parallel)
        .collect()
        .await;
    bars.total.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let mut failed = Vec::new();
    let mut unverifiable = Vec::new();
    let (mut bytes, mut downloaded, mut skipped, mut verified, mut resumed) = (0u64, 0usize, 0usize, 0usize, 0u64);
    for (job, result) in &results {
        match result {
            Ok(outcome) => {
                bytes += outcome.bytes;
                resumed += outcome.resumed_from;
                if outcome.skipped {
                    skipped += 1;
                } else {
                    downloaded += 1;
                }
                if outcome.verified.is_checksum() {
                    verified += 1;
                }
                if outcome.verified == ferry_client::download::Verification::EtagNotReproducible {
                    unverifiable.push(job.shown.clone());
                }
            }
            Err(err) => failed.push(format!("{}: {err}", job.shown)),
        }
    }
    let mbps = if seconds > 0.0 {
        (bytes as f64 / 1e6) / seconds
    } else {
        0.0
    };
    if args.summary {
        let summary = serde_json::json!({
            "Files": count,
            "Downloaded": downloaded,
            "Skipped": skipped,
            "Verified": verified,
            "Failed": failed.len(),
            "Bytes": bytes,
            "ResumedBytes": resumed,
            "Seconds": (seconds * 100.0).round() / 100.0,
            "MBps": (mbps * 100.0).round() / 100.0,
        });
        match args.format {
            Format::Json | Format::Ndjson => emit(&format!("{}\n", serde_json::to_string(&summary)?))?,
            _ => {
                let keys = [
                    "Files",
                    "Downloaded",
                    "Skipped",
                    "Verified",
                    "Failed",
                    "Bytes",
                    "Seconds",
                    "MBps",
                ];
                let rows = keys
                    .iter()
                    .map(|k| vec![k.to_string(), crate::output::cell(summary.get(*k))])
                    .collect::<Vec<_>>();
                emit(&table(&["Summary".into(), "Value".into()], &rows))?;
            }
        }
    } else if !quiet {
        eprintln!(
            "{}",
            summary_line(count, downloaded, skipped, verified, failed.len(), bytes, seconds)
        );
    }
    if !unverifiable.is_empty() && !quiet {
        eprintln!(
            "WARNING: {} file(s) kept with their size verified but not their checksum: their multipart ETag was made \
             with a part size that cannot be reproduced. Pass --require-checksum to treat this as an error.",
            unverifiable.len()
        );
        for name in &unverifiable {
            eprintln!("WARNING:   {name}");
        }
    }
    if !failed.is_empty() {
        for line in &failed {
            eprintln!("ERROR: {line}");
        }
        bail!(
            "{} of {count} files failed to download (listed above); run the same command again to resume",
            failed.len()
        );
    }
    Ok(())
}

/// The one-line summary after a download. When nothing needed downloading it says so, without
/// a byte count or a speed that would describe no transfer.
fn summary_line(
    count: usize,
    downloaded: usize,
    skipped: usize,
    verified: usize,
    failed: usize,
    bytes: u64,
    seconds: f64,
) -> String {
    if downloaded == 0 && failed == 0 && skipped == count {
        let files = if count == 1 { "the file is" } else { "all files are" };
        return if verified == count {
            format!(
                "Nothing to download: {} already present and verified by checksum",
                if count == 1 {
                    "the file is".to_string()
                } else {
                    format!("all {count} files are")
                }
            )
        } else {
            format!("Nothing to download: {files} already present with the expected size ({count} checked)")
        };
    }
    let rate = if seconds > 0.0 { bytes as f64 / seconds } else { 0.0 };
    format!(
        "{downloaded} downloaded, {skipped} already present, {verified} verified by checksum, {failed} failed: {} in \
         {seconds:.1} s ({}/s)",
        binary_size(bytes),
        binary_size(rate as u64)
    )
}

/// `1.5 MiB`: binary units with IEC labels, as the progress bars show them.
fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_when_nothing_was_downloaded() {
        assert_eq!(
            summary_line(3, 0, 3, 3, 0, 0, 0.2),
            "Nothing to download: all 3 files are already present and verified by checksum"
        );
        assert_eq!(
            summary_line(1, 0, 1, 1, 0, 0, 0.2),
            "Nothing to download: the file is already present and verified by checksum"
        );
        assert!(summary_line(2, 0, 2, 0, 0, 0, 0.1).contains("already present with the expected size"));
        let line = summary_line(2, 1, 1, 2, 0, 3 * 1024 * 1024, 2.0);
        assert!(line.contains("3.0 MiB in 2.0 s (1.5 MiB/s)"), "{line}");
    }

    #[test]
    fn ordered_rules_last_match_wins() {
        let rules = rules(vec![(3, true, "*.zip".into()), (1, false, "*".into())]).unwrap();
        assert!(selected(&rules, "a/b.zip"));
        assert!(!selected(&rules, "a/b.txt"));
        assert!(selected(&[], "x"));
        assert!(safe_relative("../x").is_err());
        assert_eq!(safe_relative("a/./b").unwrap(), PathBuf::from("a/b"));
        assert_eq!(concurrency("high").unwrap(), 16);
        assert!(concurrency("0").is_err());
    }
}
