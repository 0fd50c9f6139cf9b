//! Demo data: a user, a workgroup, projects in both contexts, biosamples with paired-end
//! FASTQ.gz over two lanes under Illumina names, one `illumina.fastq.v1.8` dataset per biosample
//! and lane with `Attributes.common_fastq` from the real statistics, and a run per context whose
//! datasets link to it (`inputruns`). IDs derive from names, so they are stable across restarts;
//! seeding again adds nothing.

use ferry_api::{CommonFastq, DatasetAttributes};
use ferry_fastq::SynthSpec;

use crate::error::ApiError;
use crate::{DemoOptions, Hub, auth, ids};

/// Demo user's email.
pub const DEMO_EMAIL: &str = "demo@example.org";
/// Demo user's password.
pub const DEMO_PASSWORD: &str = "demo";
/// Demo user's display name.
pub const DEMO_NAME: &str = "Demo User";
/// Demo workgroup (demo is a member).
pub const DEMO_WORKGROUP: &str = "Demo Lab";
/// Project in demo's personal context.
pub const DEMO_PROJECT: &str = "Demo Project";
/// Project in the Demo Lab workgroup context.
pub const DEMO_WORKGROUP_PROJECT: &str = "Demo Lab Project";
/// Biosamples in [`DEMO_PROJECT`] (sample numbers S1, S2).
pub const DEMO_BIOSAMPLES: [&str; 2] = ["NA12878", "NA12891"];
/// Biosample in [`DEMO_WORKGROUP_PROJECT`] (sample number S3).
pub const DEMO_WORKGROUP_BIOSAMPLE: &str = "NA12892";
/// Lanes per biosample.
pub const DEMO_LANES: u32 = 2;
/// Experiment name of the personal demo run.
pub const DEMO_RUN: &str = "Demo Run";
/// Experiment name of the workgroup's demo run.
pub const DEMO_WORKGROUP_RUN: &str = "Demo Lab Run";

fn anyhow_api(error: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}

struct Context<'a> {
    owner: &'a str,
    project_name: &'static str,
    run_name: &'static str,
    samples: Vec<(&'static str, u32)>,
}

/// Seeds the demo data (idempotent).
pub async fn seed(hub: &Hub, options: &DemoOptions) -> anyhow::Result<()> {
    let db = &hub.state.db;
    let user_id = ids::numeric_from(&format!("user:{DEMO_EMAIL}"));
    auth::create_user_with_id(db, &user_id, DEMO_EMAIL, DEMO_PASSWORD, Some(DEMO_NAME)).await?;
    let user_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(DEMO_EMAIL)
        .fetch_one(&db.pool)
        .await?;
    let workgroup_id = auth::create_workgroup(db, DEMO_WORKGROUP, &[DEMO_EMAIL.to_string()]).await?;
    let contexts = [
        Context {
            owner: &user_id,
            project_name: DEMO_PROJECT,
            run_name: DEMO_RUN,
            samples: vec![(DEMO_BIOSAMPLES[0], 1), (DEMO_BIOSAMPLES[1], 2)],
        },
        Context {
            owner: &workgroup_id,
            project_name: DEMO_WORKGROUP_PROJECT,
            run_name: DEMO_WORKGROUP_RUN,
            samples: vec![(DEMO_WORKGROUP_BIOSAMPLE, 3)],
        },
    ];
    for context in &contexts {
        seed_context(hub, &user_id, context, options).await?;
    }
    tracing::info!(reads_per_file = options.reads_per_file, "demo data ready");
    Ok(())
}

async fn seed_context(hub: &Hub, user_id: &str, context: &Context<'_>, options: &DemoOptions) -> anyhow::Result<()> {
    let db = &hub.state.db;
    let now = ferry_api::dates::now_millis();
    let owner = context.owner;
    let seed = |kind: &str, name: &str| format!("demo:{owner}:{kind}:{name}");
    let project_id = ids::numeric_from(&seed("project", context.project_name));
    sqlx::query(
        "INSERT INTO projects (id, owner_id, created_by, name, description, created, modified) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&project_id)
    .bind(owner)
    .bind(user_id)
    .bind(context.project_name)
    .bind("Synthetic paired-end FASTQ data seeded by `ferry hub --demo`.")
    .bind(now)
    .execute(&db.pool)
    .await?;
    let run_id = ids::numeric_from(&seed("run", context.run_name));
    let flowcell = "HGYFKBGXY";
    sqlx::query(
        "INSERT INTO runs (id, owner_id, name, experiment_name, status, flowcell_barcode, reagent_barcode, \
         instrument_id, instrument_name, instrument_type, platform_name, workflow, v1pre3_id, created, modified) \
         VALUES ($1, $2, $3, $4, 'Complete', $5, 'NS7654321-REAGT', 551234, 'NB551234', 'NextSeq', 'NextSeq', \
         'GenerateFASTQ', $6, $7, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&run_id)
    .bind(owner)
    .bind(format!("221122_NB551234_0012_A{flowcell}"))
    .bind(context.run_name)
    .bind(flowcell)
    .bind(ids::v1_number_from(&seed("run", context.run_name)).to_string())
    .bind(now)
    .execute(&db.pool)
    .await?;
    let run_info = format!(
        "<?xml version=\"1.0\"?>\n<RunInfo Version=\"5\">\n  <Run Id=\"221122_NB551234_0012_A{flowcell}\" \
         Number=\"12\">\n    <Flowcell>{flowcell}</Flowcell>\n    <Instrument>NB551234</Instrument>\n  </Run>\n</RunInfo>\n"
    );
    seed_file(hub, owner, FileParent::Run(&run_id), "RunInfo.xml", {
        move |out: &mut dyn std::io::Write| out.write_all(run_info.as_bytes())
    })
    .await?;
    // Run folders nest (InterOp/, Data/Intensities/BaseCalls/…): one file in a subfolder.
    let summary = format!("Run,221122_NB551234_0012_A{flowcell}\nLanes,4\nCycles,151\nYield (Gbp),0.01\n");
    seed_file(
        hub,
        owner,
        FileParent::Run(&run_id),
        "InterOp/Summary/RunSummary.csv",
        move |out: &mut dyn std::io::Write| out.write_all(summary.as_bytes()),
    )
    .await?;
    let session_id = ids::numeric_from(&seed("appsession", context.project_name));
    sqlx::query(
        "INSERT INTO appsessions (id, owner_id, created_by, name, purpose, execution_status, status_summary, created, \
         modified, completed) VALUES ($1, $2, $3, $4, 'AppUpload', 'Complete', 'Demo data', $5, $5, $5) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&session_id)
    .bind(owner)
    .bind(user_id)
    .bind(format!("Demo upload {}", context.project_name))
    .bind(now)
    .execute(&db.pool)
    .await?;
    sqlx::query(
        "INSERT INTO appsession_links (appsession_id, owner_id, kind, resource_id) \
         VALUES ($1, $2, 'output.project', $3) ON CONFLICT (appsession_id, kind, resource_id) DO NOTHING",
    )
    .bind(&session_id)
    .bind(owner)
    .bind(&project_id)
    .execute(&db.pool)
    .await?;
    for (sample, number) in &context.samples {
        let biosample_id = ids::numeric_from(&seed("biosample", sample));
        sqlx::query(
            "INSERT INTO biosamples (id, owner_id, project_id, name, created, modified) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&biosample_id)
        .bind(owner)
        .bind(&project_id)
        .bind(*sample)
        .bind(now)
        .execute(&db.pool)
        .await?;
        for lane in 1..=DEMO_LANES {
            let name = format!("{sample}_L{lane:03}");
            let dataset_id = ids::dataset_from(&seed("dataset", &name));
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM datasets WHERE id = $1")
                .bind(&dataset_id)
                .fetch_optional(&db.pool)
                .await?;
            if exists.is_none() {
                sqlx::query(
                    "INSERT INTO datasets (id, owner_id, created_by, project_id, biosample_id, appsession_id, run_id, \
                     name, dataset_type, attributes, upload_status, upload_status_summary, qc_status, v1pre3_number, \
                     created, modified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '{}', 'Pending', '', 'Undefined', \
                     $10, $11, $11) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&dataset_id)
                .bind(owner)
                .bind(user_id)
                .bind(&project_id)
                .bind(&biosample_id)
                .bind(&session_id)
                .bind(&run_id)
                .bind(&name)
                .bind(ferry_api::FASTQ_DATASET_TYPE)
                .bind(ids::v1_number_from(&seed("dataset", &name)))
                .bind(now)
                .execute(&db.pool)
                .await?;
            }
            let mut stats = Vec::new();
            for read in [1u8, 2] {
                let spec = SynthSpec::new(*sample, *number, lane, read, options.reads_per_file);
                let file_name = spec.file_name();
                let made = seed_file(hub, owner, FileParent::Dataset(&dataset_id), &file_name, {
                    move |out: &mut dyn std::io::Write| ferry_fastq::write_fastq_gz(&spec, out)
                })
                .await?;
                stats.push(made);
            }
            // Statistics of what was just written; files made by an earlier start are the same
            // bytes (deterministic), whose statistics the spec gives.
            let spec = SynthSpec::new(*sample, *number, lane, 1, options.reads_per_file);
            let (r1_reads, r1_max, r2_reads, r2_max) = match (&stats[0], &stats[1]) {
                (Some(r1), Some(r2)) => (r1.reads, r1.max_length, r2.reads, r2.max_length),
                _ => (spec.reads, spec.read_length as u64, spec.reads, spec.read_length as u64),
            };
            let common = CommonFastq {
                is_paired_end: Some(true),
                max_length_read1: Some(r1_max as i64),
                max_length_read2: Some(r2_max as i64),
                max_length_index_read1: None,
                max_length_index_read2: None,
                total_clusters_pf: Some(r1_reads as i64),
                total_clusters_raw: Some(r1_reads as i64),
                total_reads_pf: Some((r1_reads + r2_reads) as i64),
                total_reads_raw: Some((r1_reads + r2_reads) as i64),
            };
            let attributes = serde_json::to_string(&DatasetAttributes {
                common_fastq: Some(common),
                other: Default::default(),
            })?;
            sqlx::query(
                "UPDATE datasets SET attributes = $1, upload_status = 'Complete' WHERE id = $2 AND upload_status <> 'Complete'",
            )
            .bind(attributes)
            .bind(&dataset_id)
            .execute(&db.pool)
            .await?;
        }
    }
    Ok(())
}

enum FileParent<'a> {
    Dataset(&'a str),
    Run(&'a str),
}

/// Generates a file into the blob store unless it exists already; returns what `produce`
/// returned when the file was made now.
async fn seed_file<F, T>(
    hub: &Hub,
    owner: &str,
    parent: FileParent<'_>,
    path: &str,
    produce: F,
) -> anyhow::Result<Option<T>>
where
    F: FnOnce(&mut dyn std::io::Write) -> std::io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let db = &hub.state.db;
    let (dataset_id, run_id, parent_id) = match parent {
        FileParent::Dataset(id) => (Some(id.to_string()), None, id),
        FileParent::Run(id) => (None, Some(id.to_string()), id),
    };
    let file_id = ids::numeric_from(&format!("demo:file:{parent_id}:{path}"));
    let existing: Option<String> = sqlx::query_scalar("SELECT id FROM files WHERE id = $1 AND status = 'complete'")
        .bind(&file_id)
        .fetch_optional(&db.pool)
        .await?;
    if existing.is_some() {
        return Ok(None);
    }
    let key = ids::blob_key();
    let (written, value) = hub.state.blobs.put_with(&key, produce).await?;
    let etag = if written.size > ferry_api::BASESPACE_PART_SIZE {
        written.multipart_etag.clone()
    } else {
        written.md5.clone()
    };
    let (directory, name) = path.rsplit_once('/').unwrap_or(("", path));
    let now = ferry_api::dates::now_millis();
    let inserted = sqlx::query(
        "INSERT INTO files (id, owner_id, dataset_id, run_id, path, name, directory, content_type, size, etag, \
         blob_key, status, upload_id, created, modified) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'complete', NULL, $12, $12) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&file_id)
    .bind(owner)
    .bind(dataset_id)
    .bind(run_id)
    .bind(path)
    .bind(name)
    .bind(directory)
    .bind(crate::api::files::content_type_for(name))
    .bind(written.size as i64)
    .bind(&etag)
    .bind(&key)
    .bind(now)
    .execute(&db.pool)
    .await
    .map_err(|e| anyhow_api(e.into()))?;
    if inserted.rows_affected() == 0 {
        hub.state.blobs.delete(&key).await?;
        return Ok(None);
    }
    Ok(Some(value))
}
