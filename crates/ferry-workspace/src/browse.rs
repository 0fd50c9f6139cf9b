//! Browsing the linked BaseSpace account for the import page and the JSON API: every page of
//! every list (the client follows paging to the end), with FASTQ datasets per biosample.

use ferry_client::{BiosampleQuery, Client, DatasetQuery, RunQuery};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::basespace::LinkError;

/// Dataset type selecting FASTQ datasets.
const FASTQ_TYPES: &str = "~common.fastq";
/// Concurrent requests when one listing needs several.
const FAN_OUT: usize = 6;

/// A BaseSpace project as listed for import.
#[derive(Debug, Clone, Serialize)]
pub struct BsProject {
    /// Project ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Biosamples in the project.
    pub biosample_count: u64,
    /// Created.
    pub date_created: Option<String>,
}

/// A BaseSpace run as listed for import.
#[derive(Debug, Clone, Serialize)]
pub struct BsRun {
    /// Run ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Experiment name.
    pub experiment_name: Option<String>,
    /// Status (`Complete`, `Needs Attention`, …).
    pub status: Option<String>,
    /// Bytes.
    pub size: u64,
    /// Created.
    pub date_created: Option<String>,
}

/// A FASTQ dataset (one library on one lane).
#[derive(Debug, Clone, Serialize)]
pub struct BsDataset {
    /// Dataset ID.
    pub id: String,
    /// Name (`Sample_L001`).
    pub name: String,
    /// Lane, from the name.
    pub lane: Option<u32>,
    /// Paired-end, when BaseSpace says.
    pub paired_end: Option<bool>,
    /// Bytes.
    pub size: u64,
    /// Reads passing filter, when BaseSpace knows.
    pub reads: Option<u64>,
}

/// A biosample with its FASTQ datasets.
#[derive(Debug, Clone, Serialize)]
pub struct BsBiosample {
    /// Biosample ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Lanes with data.
    pub lanes: Vec<u32>,
    /// Paired-end (every dataset that says so).
    pub paired_end: Option<bool>,
    /// Bytes over all datasets.
    pub size: u64,
    /// Reads over all datasets, when every dataset says.
    pub reads: Option<u64>,
    /// The datasets.
    pub datasets: Vec<BsDataset>,
}

fn client_error(client: &Client, error: ferry_client::ClientError) -> LinkError {
    LinkError::from_client(client.api_server(), error)
}

/// `Sample_L001` → 1.
pub fn lane_of(name: &str) -> Option<u32> {
    let index = name.rfind("_L")?;
    let digits = &name[index + 2..];
    if digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

fn dataset_of(dataset: ferry_api::Dataset) -> BsDataset {
    let fastq = dataset.attributes.as_ref().and_then(|a| a.common_fastq.clone());
    let name = dataset.name.unwrap_or_default();
    BsDataset {
        lane: lane_of(&name),
        paired_end: fastq.as_ref().and_then(|f| f.is_paired_end),
        reads: fastq
            .as_ref()
            .and_then(|f| f.total_reads_pf)
            .and_then(|n| u64::try_from(n).ok()),
        size: dataset.total_size.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        id: dataset.id,
        name,
    }
}

fn matches(search: Option<&str>, fields: &[&str]) -> bool {
    match search.map(str::trim).filter(|s| !s.is_empty()) {
        None => true,
        Some(needle) => {
            let needle = needle.to_lowercase();
            fields.iter().any(|field| field.to_lowercase().contains(&needle))
        }
    }
}

/// Every project the token sees (all pages), with biosample counts, filtered by `search`
/// (name or ID contains it, case-insensitive).
pub async fn projects(client: &Client, search: Option<&str>) -> Result<Vec<BsProject>, LinkError> {
    let listed: Vec<ferry_api::Project> = client
        .projects(None)
        .try_collect()
        .await
        .map_err(|error| client_error(client, error))?;
    let mut wanted: Vec<ferry_api::Project> = listed
        .into_iter()
        .filter(|p| matches(search, &[p.name.as_deref().unwrap_or(""), &p.id]))
        .collect();
    client
        .fill_project_sizes(&mut wanted)
        .await
        .map_err(|error| client_error(client, error))?;
    futures_util::stream::iter(wanted)
        .map(|project| async move {
            let query = BiosampleQuery {
                project_ids: vec![project.id.clone()],
                ..Default::default()
            };
            let count = client
                .biosamples(&query)
                .try_fold(0u64, |n, _| async move { Ok(n + 1) })
                .await
                .map_err(|error| client_error(client, error))?;
            Ok(BsProject {
                name: project.name.unwrap_or_default(),
                size: project.total_size.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                biosample_count: count,
                date_created: project.date_created,
                id: project.id,
            })
        })
        .buffered(FAN_OUT)
        .try_collect()
        .await
}

async fn biosample_with_datasets(
    client: &Client,
    biosample: ferry_api::Biosample,
    project_id: Option<&str>,
) -> Result<BsBiosample, LinkError> {
    let query = DatasetQuery {
        project_ids: project_id.map(|id| vec![id.to_string()]).unwrap_or_default(),
        input_biosamples: vec![biosample.id.clone()],
        dataset_types: vec![FASTQ_TYPES.to_string()],
        ..Default::default()
    };
    let mut datasets: Vec<BsDataset> = client
        .datasets(&query)
        .map_ok(dataset_of)
        .try_collect()
        .await
        .map_err(|error| client_error(client, error))?;
    datasets.sort_by(|a, b| (a.lane, &a.name).cmp(&(b.lane, &b.name)));
    let mut lanes: Vec<u32> = datasets.iter().filter_map(|d| d.lane).collect();
    lanes.dedup();
    let paired_end = if datasets.iter().all(|d| d.paired_end == Some(true)) && !datasets.is_empty() {
        Some(true)
    } else if datasets.iter().any(|d| d.paired_end == Some(false)) {
        Some(false)
    } else {
        None
    };
    let reads = datasets.iter().map(|d| d.reads).sum::<Option<u64>>();
    Ok(BsBiosample {
        id: biosample.id,
        name: biosample.bio_sample_name.unwrap_or_default(),
        lanes,
        paired_end,
        size: datasets.iter().map(|d| d.size).sum(),
        reads,
        datasets,
    })
}

/// A biosample found by searching its name or ID, without its datasets (cheap to list).
#[derive(Debug, Clone, Serialize)]
pub struct BsBiosampleHit {
    /// Biosample ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// The project it was created in, when BaseSpace says.
    pub project_name: Option<String>,
}

/// Every biosample the token sees (all pages) whose name or ID contains `search`
/// (case-insensitive); nothing for an empty search.
pub async fn biosamples_matching(client: &Client, search: &str) -> Result<Vec<BsBiosampleHit>, LinkError> {
    if search.trim().is_empty() {
        return Ok(Vec::new());
    }
    let listed: Vec<ferry_api::Biosample> = client
        .biosamples(&BiosampleQuery::default())
        .try_collect()
        .await
        .map_err(|error| client_error(client, error))?;
    let mut hits: Vec<BsBiosampleHit> = listed
        .into_iter()
        .filter(|b| matches(Some(search), &[b.bio_sample_name.as_deref().unwrap_or(""), &b.id]))
        .map(|b| BsBiosampleHit {
            project_name: b.default_project.as_ref().and_then(|p| p.name.clone()),
            name: b.bio_sample_name.unwrap_or_default(),
            id: b.id,
        })
        .collect();
    hits.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    Ok(hits)
}

/// The names of these biosamples and of every biosample in these projects (for telling which
/// workspace samples an import would replace).
pub async fn biosample_names(
    client: &Client,
    project_ids: &[String],
    biosample_ids: &[String],
) -> Result<Vec<String>, LinkError> {
    let mut names = Vec::new();
    if !project_ids.is_empty() {
        for id in project_ids {
            check_id(id)?;
        }
        let query = BiosampleQuery {
            project_ids: project_ids.to_vec(),
            ..Default::default()
        };
        let listed: Vec<ferry_api::Biosample> = client
            .biosamples(&query)
            .try_collect()
            .await
            .map_err(|error| client_error(client, error))?;
        names.extend(listed.into_iter().filter_map(|b| b.bio_sample_name));
    }
    for id in biosample_ids {
        check_id(id)?;
    }
    let found: Vec<ferry_api::Biosample> = futures_util::stream::iter(biosample_ids.iter().cloned())
        .map(|id| async move { client.biosample(&id).await.map_err(|error| client_error(client, error)) })
        .buffered(FAN_OUT)
        .try_collect()
        .await?;
    names.extend(found.into_iter().filter_map(|b| b.bio_sample_name));
    names.sort();
    names.dedup();
    Ok(names)
}

/// BaseSpace IDs are numbers or dotted names (`ds.…`); anything else never reaches a URL path.
pub fn check_id(id: &str) -> Result<(), LinkError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(LinkError::Invalid(format!("{id:?} is not a BaseSpace ID")))
    }
}

/// Every biosample of a project (all pages) with its FASTQ datasets in that project.
pub async fn project_biosamples(client: &Client, project_id: &str) -> Result<Vec<BsBiosample>, LinkError> {
    check_id(project_id)?;
    let query = BiosampleQuery {
        project_ids: vec![project_id.to_string()],
        ..Default::default()
    };
    let biosamples: Vec<ferry_api::Biosample> = client
        .biosamples(&query)
        .try_collect()
        .await
        .map_err(|error| client_error(client, error))?;
    futures_util::stream::iter(biosamples)
        .map(|biosample| biosample_with_datasets(client, biosample, Some(project_id)))
        .buffered(FAN_OUT)
        .try_collect()
        .await
}

/// Every run the token sees (all pages), filtered by `search`.
pub async fn runs(client: &Client, search: Option<&str>) -> Result<Vec<BsRun>, LinkError> {
    let listed: Vec<ferry_api::Run> = client
        .runs(&RunQuery::default())
        .try_collect()
        .await
        .map_err(|error| client_error(client, error))?;
    Ok(listed
        .into_iter()
        .filter(|r| {
            matches(
                search,
                &[
                    r.name.as_deref().unwrap_or(""),
                    r.experiment_name.as_deref().unwrap_or(""),
                    &r.id,
                ],
            )
        })
        .map(|run| BsRun {
            name: run.name.clone().or(run.experiment_name.clone()).unwrap_or_default(),
            experiment_name: run.experiment_name,
            status: run.status,
            size: run.total_size.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            date_created: run.date_created,
            id: run.id,
        })
        .collect())
}

/// The FASTQ datasets a run produced (all pages).
pub async fn run_datasets(client: &Client, run_id: &str) -> Result<Vec<BsDataset>, LinkError> {
    check_id(run_id)?;
    let query = DatasetQuery {
        input_runs: vec![run_id.to_string()],
        dataset_types: vec![FASTQ_TYPES.to_string()],
        ..Default::default()
    };
    let mut datasets: Vec<BsDataset> = client
        .datasets(&query)
        .map_ok(dataset_of)
        .try_collect()
        .await
        .map_err(|error| client_error(client, error))?;
    datasets.sort_by(|a, b| (&a.name, a.lane).cmp(&(&b.name, b.lane)));
    Ok(datasets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_come_from_dataset_names() {
        assert_eq!(lane_of("Sample_L001"), Some(1));
        assert_eq!(lane_of("My_Lib_L004"), Some(4));
        assert_eq!(lane_of("Sample"), None);
        assert_eq!(lane_of("Sample_L1"), None);
        assert!(matches(Some("tum"), &["Tumor-1", "123"]));
        assert!(!matches(Some("x"), &["Tumor-1", "123"]));
        assert!(matches(None, &["a"]));
        assert!(check_id("12345").is_ok() && check_id("ds.0123abcd").is_ok());
        for bad in ["", "..", "../users/current", "1/2", "1?x=2", ".hidden", "a b"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
