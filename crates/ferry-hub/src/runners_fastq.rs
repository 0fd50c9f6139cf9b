//! FASTQ QC and FASTQ Toolkit: the two built-in apps that read FASTQ. The computations are
//! `ferry-fastq`'s (`qc`, `trim`); here they get their inputs from the blob store, run on a
//! blocking thread, and their outputs become datasets.

use std::path::{Path, PathBuf};

use ferry_api::{CommonFastq, DatasetAttributes};
use ferry_fastq::{IlluminaName, Read, ToolkitOptions, TrimOptions};
use sha2::{Digest, Sha256};

use crate::jobs::{FinalStatus, JobContext, JobError, Outcome, OutputBiosample, OutputDataset};
use crate::runners::{InputDataset, input_datasets, write_file};

/// Runs blocking work (reading and writing FASTQ) off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, String> + Send + 'static) -> Result<T, JobError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| JobError::Internal(anyhow::anyhow!("a FASTQ task stopped: {e}")))?
        .map_err(JobError::Failed)
}

/// A FASTQ file name without its extension (`S_S1_L001_R1_001`).
fn stem(name: &str) -> &str {
    for extension in [".fastq.gz", ".fq.gz", ".fastq", ".fq"] {
        if let Some(stem) = name.strip_suffix(extension) {
            return stem;
        }
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(extension) {
            return &name[..name.len() - extension.len()];
        }
    }
    name
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// FASTQ QC: a report (HTML with plots, JSON of the figures) for every FASTQ file of the chosen
/// biosamples and datasets; one output dataset per input dataset, on the input's biosample.
pub async fn fastq_qc(context: &JobContext) -> Result<Outcome, JobError> {
    let inputs = input_datasets(context, context.values("sample-id"), context.values("dataset-id")).await?;
    let total_files: usize = inputs.iter().map(|d| d.files.len()).sum();
    if total_files == 0 {
        return Err(JobError::Failed(
            "the chosen biosamples and datasets hold no FASTQ files: nothing to check".to_string(),
        ));
    }
    let mut outputs = Vec::new();
    let mut checked = 0usize;
    let mut reads = 0u64;
    for (index, dataset) in inputs.iter().enumerate() {
        if dataset.files.is_empty() {
            context
                .log(format!("dataset {} has no FASTQ files; skipped", dataset.name))
                .await;
            continue;
        }
        let input_dir = context.work_dir.join(format!("in-{index}"));
        let local = dataset.fetch(context, &input_dir).await?;
        let out_dir = context.work_dir.join(format!("out-{index}"));
        tokio::fs::create_dir_all(&out_dir)
            .await
            .map_err(|e| JobError::Internal(e.into()))?;
        let mut files = Vec::new();
        for (file, path) in dataset.files.iter().zip(local) {
            context.check_cancelled()?;
            checked += 1;
            let name = file_name(&file.path).to_string();
            context
                .progress(format!("Checking file {checked} of {total_files}: {name}"))
                .await;
            let shown = name.clone();
            let report = blocking(move || {
                ferry_fastq::qc_of_file(&path).map_err(|e| format!("{shown} is not readable FASTQ: {e}"))
            })
            .await?;
            reads += report.reads;
            context
                .log(format!(
                    "{name}: {} reads, mean quality {:.1}, GC {:.1}%",
                    report.reads, report.mean_quality, report.gc_percent
                ))
                .await;
            let base = stem(&name).to_string();
            let json_path = out_dir.join(format!("{base}_qc.json"));
            let html_path = out_dir.join(format!("{base}_qc.html"));
            let json = serde_json::to_vec_pretty(&report).map_err(|e| JobError::Internal(e.into()))?;
            write_file(&json_path, json).await?;
            write_file(&html_path, ferry_fastq::render_html(&report, &name).into_bytes()).await?;
            files.push((format!("{base}_qc.html"), context.stage(&html_path).await?));
            files.push((format!("{base}_qc.json"), context.stage(&json_path).await?));
        }
        outputs.push(OutputDataset {
            name: format!("{} FASTQ QC", dataset.name),
            biosample: dataset.biosample_id.clone().map(OutputBiosample::Existing),
            dataset_type: "common.files".to_string(),
            attributes: DatasetAttributes::default(),
            files,
        });
    }
    Ok(Outcome {
        status: FinalStatus::Complete,
        summary: format!(
            "Checked {checked} FASTQ file(s) of {} dataset(s): {reads} reads",
            outputs.len()
        ),
        outputs,
    })
}

/// A pair (or a single R1) of FASTQ files of one input dataset.
struct ReadPair {
    r1: (IlluminaName, PathBuf),
    r2: Option<(IlluminaName, PathBuf)>,
}

/// Groups a dataset's downloaded files into R1/R2 pairs by their Illumina names; index reads
/// are left out. A file without an Illumina name, or an R2 without its R1, is an input problem.
fn pairs(dataset: &InputDataset, local: Vec<PathBuf>) -> Result<Vec<ReadPair>, JobError> {
    let mut named = Vec::new();
    for (file, path) in dataset.files.iter().zip(local) {
        let name = IlluminaName::parse_relaxed(file_name(&file.path)).ok_or_else(|| {
            JobError::Failed(format!(
                "{} in dataset {} is not named like SampleName_S1_L001_R1_001.fastq.gz; FASTQ Toolkit pairs reads by \
                 their Illumina names",
                file.path, dataset.name
            ))
        })?;
        named.push((name, path));
    }
    let mut found = Vec::new();
    for (name, path) in &named {
        if name.read != Read::R1 {
            continue;
        }
        let mate = name.mate();
        let r2 = named.iter().find(|(other, _)| *other == mate).cloned();
        found.push(ReadPair {
            r1: (name.clone(), path.clone()),
            r2,
        });
    }
    for (name, _) in &named {
        if name.read == Read::R2 && !found.iter().any(|p| p.r1.0.mate() == *name) {
            return Err(JobError::Failed(format!(
                "{name} in dataset {} has no R1 mate; FASTQ Toolkit keeps pairs in sync and needs both",
                dataset.name
            )));
        }
    }
    Ok(found)
}

/// The toolkit's settings from the launch options.
fn toolkit_options(context: &JobContext) -> ToolkitOptions {
    let subsample = context.number("subsample-reads", 0.0).max(0.0) as u64;
    // The same session draws the same reads on every attempt.
    let digest = Sha256::digest(context.session_id.as_bytes());
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&digest[..8]);
    ToolkitOptions {
        trim: TrimOptions {
            quality_threshold: context.number("quality-threshold", 20.0).clamp(0.0, 93.0) as u8,
            adapter: context
                .option("adapter-sequence")
                .unwrap_or_default()
                .trim()
                .to_ascii_uppercase()
                .into_bytes(),
            min_length: context.number("minimum-length", 32.0).max(0.0) as usize,
        },
        subsample: (subsample > 0).then_some(subsample),
        seed: u64::from_be_bytes(seed),
    }
}

/// FASTQ Toolkit: per input biosample, trims every FASTQ pair of its datasets (3' quality,
/// adapter, minimum length, optional subsampling per lane; pairs in sync) into a new biosample
/// named with the chosen suffix, one output dataset per input dataset with Illumina names and
/// `common_fastq` filled. Outputs are validated as `bs upload` validates before they are staged.
pub async fn fastq_toolkit(context: &JobContext) -> Result<Outcome, JobError> {
    let options = toolkit_options(context);
    let suffix = context.option("output-suffix").unwrap_or("_trimmed").trim().to_string();
    let biosamples = context.values("sample-id").to_vec();
    let mut outputs = Vec::new();
    let (mut reads_in, mut reads_out, mut too_short) = (0u64, 0u64, 0u64);
    for (b, biosample) in biosamples.iter().enumerate() {
        let datasets = input_datasets(context, std::slice::from_ref(biosample), &[]).await?;
        if datasets.iter().all(|d| d.files.is_empty()) {
            return Err(JobError::Failed(format!(
                "biosample {biosample} has no FASTQ datasets; upload its reads first (bs upload dataset)"
            )));
        }
        for (d, dataset) in datasets.iter().enumerate() {
            if dataset.files.is_empty() {
                continue;
            }
            let input_dir = context.work_dir.join(format!("in-{b}-{d}"));
            let out_dir = context.work_dir.join(format!("out-{b}-{d}"));
            tokio::fs::create_dir_all(&out_dir)
                .await
                .map_err(|e| JobError::Internal(e.into()))?;
            let local = dataset.fetch(context, &input_dir).await?;
            let biosample_name = dataset.biosample_name.clone().unwrap_or_else(|| dataset.name.clone());
            let new_sample = format!("{biosample_name}{suffix}");
            let mut files = Vec::new();
            let mut dataset_name = None;
            let mut common = CommonFastq::default();
            for pair in pairs(dataset, local)? {
                context.check_cancelled()?;
                let rename = |name: &IlluminaName| IlluminaName {
                    sample_name: new_sample.clone(),
                    extension: ferry_fastq::names::ILLUMINA_EXTENSION.to_string(),
                    ..name.clone()
                };
                let r1_name = rename(&pair.r1.0);
                let r2_name = pair.r2.as_ref().map(|(name, _)| rename(name));
                dataset_name.get_or_insert_with(|| r1_name.dataset_name());
                let r1_out = out_dir.join(r1_name.to_string());
                let r2_out = r2_name.as_ref().map(|name| out_dir.join(name.to_string()));
                context
                    .progress(format!("Trimming {} for {new_sample}", pair.r1.0))
                    .await;
                let (r1_in, r2_in) = (pair.r1.1.clone(), pair.r2.as_ref().map(|(_, p)| p.clone()));
                let (r1_o, r2_o, opts) = (r1_out.clone(), r2_out.clone(), options.clone());
                let summary = blocking(move || {
                    ferry_fastq::run_toolkit(&r1_in, r2_in.as_deref(), &r1_o, r2_o.as_deref(), &opts, &mut |_| {})
                        .map_err(|e| e.to_string())
                })
                .await?;
                reads_in += summary.reads_in;
                reads_out += summary.reads_out;
                too_short += summary.too_short;
                context
                    .log(format!(
                        "{}: {} reads in, {} quality-trimmed, {} adapter-trimmed, {} too short, {} written",
                        pair.r1.0,
                        summary.reads_in,
                        summary.quality_trimmed,
                        summary.adapter_trimmed,
                        summary.too_short,
                        summary.reads_out
                    ))
                    .await;
                // The outputs must be what `bs upload` accepts: valid gzip FASTQ, mates in step.
                let (v1, v2) = (r1_out.clone(), r2_out.clone());
                let (r1_stats, r2_stats) = blocking(move || validate_outputs(&v1, v2.as_deref())).await?;
                common.is_paired_end = Some(r2_stats.is_some());
                common.max_length_read1 = Some(common.max_length_read1.unwrap_or(0).max(r1_stats.max_length as i64));
                if let Some(r2) = &r2_stats {
                    common.max_length_read2 = Some(common.max_length_read2.unwrap_or(0).max(r2.max_length as i64));
                }
                let clusters = r1_stats.reads as i64;
                let all_reads = clusters + r2_stats.as_ref().map_or(0, |s| s.reads as i64);
                common.total_clusters_pf = Some(common.total_clusters_pf.unwrap_or(0) + clusters);
                common.total_clusters_raw = Some(common.total_clusters_raw.unwrap_or(0) + clusters);
                common.total_reads_pf = Some(common.total_reads_pf.unwrap_or(0) + all_reads);
                common.total_reads_raw = Some(common.total_reads_raw.unwrap_or(0) + all_reads);
                files.push((r1_name.to_string(), context.stage(&r1_out).await?));
                if let (Some(name), Some(path)) = (&r2_name, &r2_out) {
                    files.push((name.to_string(), context.stage(path).await?));
                }
            }
            if files.is_empty() {
                context
                    .log(format!("dataset {} has no R1 files; skipped", dataset.name))
                    .await;
                continue;
            }
            outputs.push(OutputDataset {
                name: dataset_name.unwrap_or_else(|| new_sample.clone()),
                biosample: Some(OutputBiosample::Named(new_sample.clone())),
                dataset_type: ferry_api::FASTQ_DATASET_TYPE.to_string(),
                attributes: DatasetAttributes {
                    common_fastq: Some(common),
                    other: Default::default(),
                },
                files,
            });
        }
    }
    Ok(Outcome {
        status: FinalStatus::Complete,
        summary: format!(
            "Trimmed {} biosample(s): {reads_in} reads in, {reads_out} written, {too_short} too short",
            biosamples.len()
        ),
        outputs,
    })
}

/// Validates trimmed outputs as uploads are validated; returns their statistics.
fn validate_outputs(
    r1: &Path,
    r2: Option<&Path>,
) -> Result<(ferry_fastq::FastqStats, Option<ferry_fastq::FastqStats>), String> {
    let check = |path: &Path| {
        // Read names are the inputs' (which their upload accepted), kept as they were.
        let options = ferry_fastq::ValidateOptions {
            allow_invalid_readnames: true,
        };
        ferry_fastq::validate_fastq_gz(path, options).map_err(|problems| {
            let listed: Vec<String> = problems.iter().take(5).map(ToString::to_string).collect();
            format!("a trimmed output failed validation: {}", listed.join("; "))
        })
    };
    let first = check(r1)?;
    let second = match r2 {
        Some(path) => {
            let report = check(path)?;
            let problems = ferry_fastq::check_pairs(&first, &report);
            if let Some(problem) = problems.first() {
                return Err(format!("trimmed mates are out of step: {problem}"));
            }
            Some(report.stats)
        }
        None => None,
    };
    Ok((first.stats, second))
}
