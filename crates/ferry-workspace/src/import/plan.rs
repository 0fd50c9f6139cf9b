//! Planning an import: BaseSpace projects, biosamples and runs → FASTQ files grouped into samples.
//!
//! Planning happens in a worker when the import starts, not in the request, so a request for a
//! project with thousands of biosamples returns at once. Every list is read to its last page.

use std::collections::{BTreeMap, HashSet};

use ferry_api::{Biosample, Dataset, File};
use ferry_client::{BiosampleQuery, Client, ClientError, DatasetQuery, FileQuery};
use ferry_fastq::{IlluminaName, Read};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use tokio_util::sync::CancellationToken;

use super::{ImportRequest, Inner, SampleSource};

/// Biosamples resolved at the same time.
const PLAN_CONCURRENCY: usize = 8;

/// Dataset types holding FASTQ files.
const FASTQ_TYPES: &str = "~common.fastq";

/// A FASTQ file to import.
#[derive(Debug, Clone)]
pub(crate) struct PlannedFile {
    pub file_id: String,
    pub name: String,
    pub size: u64,
    pub etag: String,
    pub dataset_id: String,
    pub project_id: Option<String>,
    pub biosample_id: Option<String>,
    pub read: Option<u8>,
    pub lane: Option<u32>,
}

/// A BaseSpace biosample (or a run's sample) that feeds a planned sample.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub biosample_id: String,
    pub biosample_name: String,
}

/// A workspace sample to fill.
#[derive(Debug, Clone)]
pub(crate) struct PlannedSample {
    pub name: String,
    pub source: SampleSource,
    pub files: Vec<PlannedFile>,
    pub targets: Vec<Target>,
}

/// A stored line of the import report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TargetReport {
    pub biosample_id: String,
    pub biosample_name: String,
    pub sample_id: Option<String>,
    pub sample_name: Option<String>,
    /// `imported` (then the sample's live status is shown), `skipped`, `already_imported`.
    pub status: String,
    pub reason: Option<String>,
}

/// What an import will do.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub api_server: String,
    pub samples: Vec<PlannedSample>,
    /// Biosamples left out, with the reason.
    pub skipped: Vec<TargetReport>,
    /// What the import takes, by name: projects, biosamples and runs as BaseSpace names them.
    pub title: String,
}

/// Names a list of things: `a`, `a, b`, `a, b, c and 4 more`.
fn name_list(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let shown: Vec<&str> = names.iter().take(SHOWN).map(String::as_str).collect();
    match names.len() {
        n if n > SHOWN => format!("{} and {} more", shown.join(", "), n - SHOWN),
        _ => shown.join(", "),
    }
}

/// Samples from FASTQ datasets that do not name their biosample (a run's, or datasets picked one
/// by one): grouped by the sample name in their files, each matched to a biosample of that name
/// where one exists.
async fn samples_of_datasets(
    client: &Client,
    datasets: &[Dataset],
    run_ids: &[String],
    lease: &Lease<'_>,
) -> Result<Vec<Found>, PlanError> {
    let mut found = Vec::new();
    let mut by_sample: BTreeMap<String, Found> = BTreeMap::new();
    for dataset in datasets {
        lease.renew().await?;
        for file in dataset_fastqs(client, dataset, None).await? {
            let sample_name = IlluminaName::parse(&file.name)
                .or_else(|| IlluminaName::parse_relaxed(&file.name))
                .map(|n| n.sample_name)
                .or_else(|| dataset.name.clone())
                .unwrap_or_else(|| dataset.id.clone());
            let entry = by_sample.entry(sample_name.clone()).or_insert_with(|| Found {
                target: Target {
                    biosample_id: String::new(),
                    biosample_name: sample_name.clone(),
                },
                project_ids: Vec::new(),
                run_ids: run_ids.to_vec(),
                files: Vec::new(),
            });
            if let Some(p) = &file.project_id
                && !entry.project_ids.contains(p)
            {
                entry.project_ids.push(p.clone());
            }
            entry.files.push(file);
        }
    }
    for (name, mut entry) in by_sample {
        if !is_undetermined(&name) {
            lease.renew().await?;
            if let Some(biosample) = biosample_named(client, &name, &entry.project_ids).await? {
                for file in &mut entry.files {
                    file.biosample_id = Some(biosample.id.clone());
                }
                entry.target = Target {
                    biosample_id: biosample.id.clone(),
                    biosample_name: biosample.bio_sample_name.clone().unwrap_or(name),
                };
            }
        }
        found.push(entry);
    }
    Ok(found)
}

/// The title of an import that takes these projects, biosamples and runs (by name).
pub(crate) fn title_of(projects: &[String], biosamples: &[String], runs: &[String], datasets: &[String]) -> String {
    let mut parts = Vec::new();
    if !projects.is_empty() {
        let noun = if projects.len() == 1 { "Project" } else { "Projects" };
        parts.push(format!("{noun} {}", name_list(projects)));
    }
    if !biosamples.is_empty() {
        let noun = if biosamples.len() == 1 {
            "biosample"
        } else {
            "biosamples"
        };
        parts.push(format!("{noun} {}", name_list(biosamples)));
    }
    if !runs.is_empty() {
        let noun = if runs.len() == 1 { "run" } else { "runs" };
        parts.push(format!("{noun} {}", name_list(runs)));
    }
    if !datasets.is_empty() {
        let noun = if datasets.len() == 1 { "dataset" } else { "datasets" };
        parts.push(format!("{noun} {}", name_list(datasets)));
    }
    let title = parts.join(" · ");
    let mut chars = title.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => title,
    }
}

/// Why planning failed.
#[derive(Debug)]
pub(crate) enum PlanError {
    /// Worth trying again later (network, 5xx, 429).
    Transient(String),
    /// Will not get better by waiting (unknown ID).
    Permanent(String),
    /// BaseSpace rejected the linked token: will not get better until the user sets a new one.
    TokenRejected(String),
    /// The import was cancelled or taken over, or the worker is shutting down.
    Stopped,
}

/// Whether a client error may go away by itself.
pub(crate) fn is_transient(error: &ClientError) -> bool {
    match error {
        ClientError::Network { .. } => true,
        ClientError::Http { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

/// A client error as a sentence for the workspace user (who did not type a `bs` command), from
/// the fixed set of [`crate::basespace::describe_failure`]: nothing the server sent is repeated.
pub(crate) fn describe(error: &ClientError) -> String {
    let server = match error {
        ClientError::Unauthorized { server, .. }
        | ClientError::Forbidden { server, .. }
        | ClientError::NotFound { server, .. }
        | ClientError::Network { server, .. } => server.clone(),
        ClientError::Http { url, .. } | ClientError::InvalidResponse { url, .. } => url::Url::parse(url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| "the BaseSpace server".to_string()),
        _ => "the BaseSpace server".to_string(),
    };
    crate::basespace::describe_failure(&server, error)
}

fn plan_error(context: &str, error: ClientError) -> PlanError {
    let message = format!("{context}: {}", describe(&error));
    if error.is_unauthorized() {
        PlanError::TokenRejected(message)
    } else if is_transient(&error) {
        PlanError::Transient(message)
    } else {
        PlanError::Permanent(message)
    }
}

/// One biosample's (or run sample's) FASTQ files, before grouping.
struct Found {
    target: Target,
    project_ids: Vec<String>,
    run_ids: Vec<String>,
    files: Vec<PlannedFile>,
}

fn is_undetermined(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case("undetermined")
}

/// Files of FASTQ datasets, as planned files; index reads and non-FASTQ files are left out.
async fn dataset_fastqs(
    client: &Client,
    dataset: &Dataset,
    biosample_id: Option<&str>,
) -> Result<Vec<PlannedFile>, PlanError> {
    let files: Vec<File> = client
        .dataset_files(&dataset.id, &FileQuery::default())
        .try_collect()
        .await
        .map_err(|e| plan_error(&format!("listing the files of dataset {}", dataset.id), e))?;
    let mut out = Vec::new();
    for file in files {
        let name = file.name.clone().unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        if !(lower.ends_with(".fastq.gz") || lower.ends_with(".fq.gz")) {
            continue;
        }
        let parsed = IlluminaName::parse(&name).or_else(|| IlluminaName::parse_relaxed(&name));
        let read = match parsed.as_ref().map(|p| p.read) {
            Some(Read::I1 | Read::I2) => continue,
            Some(Read::R1) => Some(1),
            Some(Read::R2) => Some(2),
            None => None,
        };
        out.push(PlannedFile {
            file_id: file.id.clone(),
            size: file.size.unwrap_or(0).max(0) as u64,
            etag: file.etag.clone().unwrap_or_default(),
            dataset_id: dataset.id.clone(),
            project_id: dataset
                .project
                .as_ref()
                .map(|p| p.id.clone())
                .filter(|id| !id.is_empty()),
            biosample_id: biosample_id.map(str::to_string),
            read,
            lane: parsed.as_ref().and_then(|p| p.lane),
            name,
        });
    }
    Ok(out)
}

async fn biosample_files(client: &Client, biosample: &Biosample, project_id: Option<&str>) -> Result<Found, PlanError> {
    let query = DatasetQuery {
        project_ids: project_id.map(|p| vec![p.to_string()]).unwrap_or_default(),
        input_biosamples: vec![biosample.id.clone()],
        dataset_types: vec![FASTQ_TYPES.to_string()],
        ..DatasetQuery::default()
    };
    let datasets: Vec<Dataset> = client
        .datasets(&query)
        .try_collect()
        .await
        .map_err(|e| plan_error(&format!("listing the datasets of biosample {}", biosample.id), e))?;
    let mut files = Vec::new();
    let mut project_ids = Vec::new();
    for dataset in &datasets {
        if dataset.is_deleted == Some(true) {
            continue;
        }
        let found = dataset_fastqs(client, dataset, Some(&biosample.id)).await?;
        for file in &found {
            if let Some(p) = &file.project_id
                && !project_ids.contains(p)
            {
                project_ids.push(p.clone());
            }
        }
        files.extend(found);
    }
    Ok(Found {
        target: Target {
            biosample_id: biosample.id.clone(),
            biosample_name: biosample
                .bio_sample_name
                .clone()
                .unwrap_or_else(|| biosample.id.clone()),
        },
        project_ids,
        run_ids: Vec::new(),
        files,
    })
}

/// Keeps a planning worker's claim on its import alive, and tells it when to stop.
pub(crate) struct Lease<'a> {
    pub inner: &'a Inner,
    pub import: &'a super::queue::ClaimedImport,
    pub shutdown: &'a CancellationToken,
}

impl Lease<'_> {
    async fn renew(&self) -> Result<(), PlanError> {
        if self.shutdown.is_cancelled() {
            return Err(PlanError::Stopped);
        }
        match super::queue::renew_import(self.inner, self.import).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(PlanError::Stopped),
            Err(error) => Err(PlanError::Transient(error.to_string())),
        }
    }
}

/// The biosample a run's sample name stands for, when exactly one matches in the run's projects.
async fn biosample_named(client: &Client, name: &str, project_ids: &[String]) -> Result<Option<Biosample>, PlanError> {
    let matches: Vec<Biosample> = client
        .biosamples(&BiosampleQuery {
            project_ids: project_ids.to_vec(),
            names: vec![name.to_string()],
        })
        .try_collect()
        .await
        .map_err(|e| plan_error(&format!("looking up biosample {name:?}"), e))?;
    let mut exact = matches
        .into_iter()
        .filter(|b| b.bio_sample_name.as_deref() == Some(name));
    Ok(match (exact.next(), exact.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    })
}

/// Resolves the request against BaseSpace.
pub(crate) async fn plan(client: &Client, request: &ImportRequest, lease: &Lease<'_>) -> Result<Plan, PlanError> {
    let api_server = client.api_server().trim_end_matches('/').to_string();
    let options = &request.options;
    let mut seen_files: HashSet<String> = HashSet::new();
    let mut seen_biosamples: HashSet<String> = HashSet::new();
    let mut found: Vec<Found> = Vec::new();
    let mut skipped: Vec<TargetReport> = Vec::new();
    let (mut project_names, mut biosample_names, mut run_names, mut dataset_names) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());

    for project_id in &request.project_ids {
        lease.renew().await?;
        // Fails early with a clear message when the project is unknown to this token.
        let project = client
            .project(project_id)
            .await
            .map_err(|e| plan_error(&format!("project {project_id}"), e))?;
        project_names.push(project.name.clone().unwrap_or_else(|| project_id.clone()));
        let mut biosamples: Vec<Biosample> = client
            .biosamples(&BiosampleQuery {
                project_ids: vec![project_id.clone()],
                ..BiosampleQuery::default()
            })
            .try_collect()
            .await
            .map_err(|e| plan_error(&format!("listing the biosamples of project {project_id}"), e))?;
        biosamples.retain(|b| seen_biosamples.insert(b.id.clone()));
        // Several biosamples at a time: a project of a thousand biosamples needs thousands of calls.
        for batch in biosamples.chunks(PLAN_CONCURRENCY) {
            lease.renew().await?;
            let mut lookups = Vec::with_capacity(batch.len());
            for biosample in batch {
                lookups.push(biosample_files(client, biosample, Some(project_id)));
            }
            for result in futures_util::future::join_all(lookups).await {
                found.push(result?);
            }
        }
    }
    for biosample_id in &request.biosample_ids {
        if !seen_biosamples.insert(biosample_id.clone()) {
            continue;
        }
        lease.renew().await?;
        let biosample = client
            .biosample(biosample_id)
            .await
            .map_err(|e| plan_error(&format!("biosample {biosample_id}"), e))?;
        biosample_names.push(
            biosample
                .bio_sample_name
                .clone()
                .unwrap_or_else(|| biosample_id.clone()),
        );
        found.push(biosample_files(client, &biosample, None).await?);
    }
    for run_id in &request.run_ids {
        lease.renew().await?;
        let run = client
            .run(run_id)
            .await
            .map_err(|e| plan_error(&format!("run {run_id}"), e))?;
        run_names.push(
            run.experiment_name
                .clone()
                .or_else(|| run.name.clone())
                .unwrap_or_else(|| run_id.clone()),
        );
        let datasets: Vec<Dataset> = client
            .datasets(&DatasetQuery {
                input_runs: vec![run_id.clone()],
                dataset_types: vec![FASTQ_TYPES.to_string()],
                ..DatasetQuery::default()
            })
            .try_collect()
            .await
            .map_err(|e| plan_error(&format!("listing the datasets of run {run_id}"), e))?;
        let datasets: Vec<Dataset> = datasets.into_iter().filter(|d| d.is_deleted != Some(true)).collect();
        found.extend(samples_of_datasets(client, &datasets, std::slice::from_ref(run_id), lease).await?);
    }
    let mut picked = Vec::with_capacity(request.dataset_ids.len());
    for dataset_id in &request.dataset_ids {
        lease.renew().await?;
        let dataset = client
            .dataset(dataset_id)
            .await
            .map_err(|e| plan_error(&format!("dataset {dataset_id}"), e))?;
        dataset_names.push(dataset.name.clone().unwrap_or_else(|| dataset_id.clone()));
        picked.push(dataset);
    }
    if !picked.is_empty() {
        found.extend(samples_of_datasets(client, &picked, &[], lease).await?);
    }

    // Leave out what the options exclude, and files met twice (a biosample asked for by ID and
    // through its project, or a run's data that is also a biosample's).
    let mut kept: Vec<Found> = Vec::new();
    for mut item in found {
        item.files.retain(|f| seen_files.insert(f.file_id.clone()));
        if options.skip_undetermined && is_undetermined(&item.target.biosample_name) {
            skipped.push(skip(&item.target, "Undetermined reads are skipped (skip_undetermined)"));
            continue;
        }
        if options.skip_undetermined {
            item.files.retain(|f| {
                !IlluminaName::parse(&f.name)
                    .or_else(|| IlluminaName::parse_relaxed(&f.name))
                    .is_some_and(|n| is_undetermined(&n.sample_name))
            });
        }
        if item.files.is_empty() {
            skipped.push(skip(&item.target, "no FASTQ files (R1/R2 .fastq.gz) found"));
            continue;
        }
        kept.push(item);
    }

    let samples = match &options.merge_into {
        Some(name) if !kept.is_empty() => {
            let mut source = SampleSource {
                api_server: api_server.clone(),
                ..SampleSource::default()
            };
            let mut files = Vec::new();
            let mut targets = Vec::new();
            for item in kept {
                add_source(&mut source, &item);
                files.extend(item.files);
                targets.push(item.target);
            }
            sort_files(&mut files);
            vec![PlannedSample {
                name: name.clone(),
                source,
                files,
                targets,
            }]
        }
        _ => kept
            .into_iter()
            .map(|mut item| {
                let mut source = SampleSource {
                    api_server: api_server.clone(),
                    ..SampleSource::default()
                };
                add_source(&mut source, &item);
                sort_files(&mut item.files);
                PlannedSample {
                    name: sample_name(&item.target.biosample_name),
                    source,
                    files: item.files,
                    targets: vec![item.target],
                }
            })
            .collect(),
    };
    Ok(Plan {
        api_server,
        samples,
        skipped,
        title: title_of(&project_names, &biosample_names, &run_names, &dataset_names),
    })
}

fn skip(target: &Target, reason: &str) -> TargetReport {
    TargetReport {
        biosample_id: target.biosample_id.clone(),
        biosample_name: target.biosample_name.clone(),
        sample_id: None,
        sample_name: None,
        status: "skipped".into(),
        reason: Some(reason.into()),
    }
}

fn add_source(source: &mut SampleSource, item: &Found) {
    for p in &item.project_ids {
        if !source.project_ids.contains(p) {
            source.project_ids.push(p.clone());
        }
    }
    for r in &item.run_ids {
        if !source.run_ids.contains(r) {
            source.run_ids.push(r.clone());
        }
    }
    if !item.target.biosample_id.is_empty() {
        source.biosample_ids.push(item.target.biosample_id.clone());
    }
    source.biosample_names.push(item.target.biosample_name.clone());
    source.project_id = source.project_ids.first().cloned();
    source.biosample_id = source.biosample_ids.first().cloned();
}

fn sort_files(files: &mut [PlannedFile]) {
    files.sort_by(|a, b| (a.lane, a.read, &a.name).cmp(&(b.lane, b.read, &b.name)));
}

/// The biosample name as the sample name: kept as BaseSpace spells it (no mangling of `_`, `-`
/// or `.`), only control characters removed and length bounded.
fn sample_name(biosample_name: &str) -> String {
    let cleaned: String = biosample_name.chars().filter(|c| !c.is_control()).take(200).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "sample".to_string()
    } else {
        cleaned.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undetermined_is_recognised_in_any_case() {
        assert!(is_undetermined("Undetermined"));
        assert!(is_undetermined("undetermined "));
        assert!(!is_undetermined("Undetermined_2"));
    }

    #[test]
    fn sample_names_keep_their_spelling() {
        assert_eq!(sample_name("My_Sample.2-b"), "My_Sample.2-b");
        assert_eq!(sample_name(" \u{7}x "), "x");
        assert_eq!(sample_name(""), "sample");
    }

    #[test]
    fn files_sort_by_lane_then_read() {
        let file = |name: &str, lane, read| PlannedFile {
            file_id: name.into(),
            name: name.into(),
            size: 1,
            etag: String::new(),
            dataset_id: "ds".into(),
            project_id: None,
            biosample_id: None,
            read: Some(read),
            lane: Some(lane),
        };
        let mut files = vec![file("d", 2, 2), file("a", 1, 2), file("c", 2, 1), file("b", 1, 1)];
        sort_files(&mut files);
        let names: Vec<_> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["b", "a", "c", "d"]);
    }
}
