//! The programs behind Ferry's built-in applications. Each reads its inputs from the session's
//! own context, writes its outputs in a private work folder, stages them in the blob store and
//! hands back an [`Outcome`]; publication is the job queue's ([`crate::jobs`]).

use std::path::PathBuf;
use std::time::Duration;

use ferry_api::DatasetAttributes;
use sqlx::Row;

use crate::apps;
use crate::jobs::{FinalStatus, JobContext, JobError, Outcome, OutputBiosample, OutputDataset};

/// Runs the session's application.
pub async fn run(context: &JobContext) -> Result<Outcome, JobError> {
    match context.application_id.as_str() {
        apps::TEST_APP_ID => test_app(context).await,
        apps::FASTQ_QC_ID => crate::runners_fastq::fastq_qc(context).await,
        apps::FASTQ_TOOLKIT_ID | apps::FASTQ_TOOLKIT_OLD_ID => crate::runners_fastq::fastq_toolkit(context).await,
        other => Err(JobError::Failed(format!(
            "application {other} has no program on this hub; launch one of `ferry hub app list`"
        ))),
    }
}

/// Test App: runs for `seconds`, then ends as `outcome` says with `message`, writing a small
/// report dataset when it completes.
async fn test_app(context: &JobContext) -> Result<Outcome, JobError> {
    let seconds = context.number("seconds", 5.0).max(0.0);
    let outcome = context.option("outcome").unwrap_or("Complete").to_ascii_lowercase();
    let message = context.option("message").map(str::to_string);
    context.progress(format!("Running for {seconds} s")).await;
    let start = tokio::time::Instant::now();
    let total = Duration::from_secs_f64(seconds);
    let mut reported = 0u64;
    while start.elapsed() < total {
        let left = total.saturating_sub(start.elapsed());
        context.sleep(left.min(Duration::from_millis(250))).await?;
        let elapsed = start.elapsed().as_secs();
        if elapsed > reported {
            reported = elapsed;
            context.progress(format!("Running: {elapsed} s of {seconds} s")).await;
        }
    }
    let status = match outcome.as_str() {
        "needsattention" => FinalStatus::NeedsAttention,
        "aborted" => FinalStatus::Aborted,
        _ => FinalStatus::Complete,
    };
    let summary = message.unwrap_or_else(|| match status {
        FinalStatus::Complete => format!("Finished after {seconds} s"),
        FinalStatus::NeedsAttention => "Ended as asked: NeedsAttention".to_string(),
        FinalStatus::Aborted | FinalStatus::TimedOut => "Ended as asked: Aborted".to_string(),
    });
    let mut outputs = Vec::new();
    if status == FinalStatus::Complete {
        let report = serde_json::json!({
            "AppSession": context.session_id,
            "Seconds": seconds,
            "Outcome": status.as_str(),
            "Summary": summary,
            "Attempt": context.attempt,
        });
        let path = context.work_dir.join("test-app-report.json");
        write_file(&path, serde_json::to_vec_pretty(&report).unwrap_or_default()).await?;
        let blob = context.stage(&path).await?;
        let biosample = context
            .option("sample-id")
            .map(|id| OutputBiosample::Existing(id.to_string()));
        outputs.push(OutputDataset {
            name: format!("Test App {}", context.session_id),
            biosample,
            dataset_type: "common.files".to_string(),
            attributes: DatasetAttributes::default(),
            files: vec![("test-app-report.json".to_string(), blob)],
        });
    }
    context.log(format!("ending {}", status.as_str())).await;
    Ok(Outcome {
        status,
        summary,
        outputs,
    })
}

/// Writes a small file in the work folder.
pub(crate) async fn write_file(path: &std::path::Path, bytes: Vec<u8>) -> Result<(), JobError> {
    tokio::fs::write(path, bytes)
        .await
        .map_err(|e| JobError::Internal(anyhow::anyhow!("cannot write {}: {e}", path.display())))
}

/// A FASTQ file of an input dataset.
#[derive(Debug, Clone)]
pub(crate) struct InputFile {
    pub path: String,
    pub size: u64,
    pub blob_key: String,
}

/// A FASTQ dataset given to an app (directly or through its biosample).
#[derive(Debug, Clone)]
pub(crate) struct InputDataset {
    pub id: String,
    pub name: String,
    pub biosample_id: Option<String>,
    pub biosample_name: Option<String>,
    pub files: Vec<InputFile>,
}

impl InputDataset {
    /// Downloads the dataset's files into `dir`; returns the local paths in the dataset's order.
    pub async fn fetch(&self, context: &JobContext, dir: &std::path::Path) -> Result<Vec<PathBuf>, JobError> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| JobError::Internal(anyhow::anyhow!("cannot create {}: {e}", dir.display())))?;
        let mut local = Vec::new();
        for file in &self.files {
            let name = file.path.rsplit('/').next().unwrap_or(&file.path);
            let destination = dir.join(name);
            context.fetch(&file.blob_key, file.size, &destination).await?;
            local.push(destination);
        }
        Ok(local)
    }
}

/// The complete FASTQ datasets of the session's context: those given by ID and those of the
/// given biosamples, each once, with their FASTQ files.
pub(crate) async fn input_datasets(
    context: &JobContext,
    biosamples: &[String],
    datasets: &[String],
) -> Result<Vec<InputDataset>, JobError> {
    let db = context.db();
    let mut found: Vec<InputDataset> = Vec::new();
    let mut rows = Vec::new();
    for biosample in biosamples {
        rows.extend(
            sqlx::query(
                "SELECT d.id, d.name, d.biosample_id, b.name AS biosample_name FROM datasets d \
                 LEFT JOIN biosamples b ON b.id = d.biosample_id \
                 WHERE d.biosample_id = $1 AND d.owner_id = $2 AND d.upload_status = 'Complete' \
                 AND d.dataset_type LIKE '%fastq%' ORDER BY d.name, d.id",
            )
            .bind(biosample)
            .bind(&context.owner_id)
            .fetch_all(&db.pool)
            .await
            .map_err(anyhow::Error::from)?,
        );
    }
    for dataset in datasets {
        rows.extend(
            sqlx::query(
                "SELECT d.id, d.name, d.biosample_id, b.name AS biosample_name FROM datasets d \
                 LEFT JOIN biosamples b ON b.id = d.biosample_id \
                 WHERE d.id = $1 AND d.owner_id = $2 AND d.upload_status = 'Complete'",
            )
            .bind(dataset)
            .bind(&context.owner_id)
            .fetch_all(&db.pool)
            .await
            .map_err(anyhow::Error::from)?,
        );
    }
    for row in rows {
        let id: String = row.get("id");
        if found.iter().any(|d| d.id == id) {
            continue;
        }
        let files = sqlx::query(
            "SELECT path, size, blob_key FROM files WHERE dataset_id = $1 AND owner_id = $2 AND status = 'complete' \
             ORDER BY path",
        )
        .bind(&id)
        .bind(&context.owner_id)
        .fetch_all(&db.pool)
        .await
        .map_err(anyhow::Error::from)?
        .into_iter()
        .map(|file| InputFile {
            path: file.get("path"),
            size: file.get::<i64, _>("size") as u64,
            blob_key: file.get("blob_key"),
        })
        .filter(|file| ferry_fastq::is_fastq_name(&file.path))
        .collect();
        found.push(InputDataset {
            id,
            name: row.get("name"),
            biosample_id: row.get("biosample_id"),
            biosample_name: row.get("biosample_name"),
            files,
        });
    }
    Ok(found)
}
