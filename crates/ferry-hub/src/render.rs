//! Database rows to BaseSpace resources. v2 answers carry absolute Hrefs, v1pre3 answers relative
//! ones; dates use BaseSpace's format; empty fields are left out.

use std::collections::HashMap;

use ferry_api::dates::format_millis;
use ferry_api::{
    AppSession, Application, Biosample, Dataset, DatasetAttributes, DatasetType, File, Instrument, Project, Run,
    UserCompact,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::State;
use crate::error::ApiResult;

/// Columns of a project row.
pub const PROJECT_COLS: &str = "id, owner_id, name, description, created, modified";
/// Columns of a biosample row.
pub const BIOSAMPLE_COLS: &str = "id, owner_id, project_id, name, created, modified";
/// Columns of a dataset row (with its total size).
pub const DATASET_COLS: &str = "id, owner_id, project_id, biosample_id, appsession_id, run_id, name, dataset_type, \
     attributes, upload_status, upload_status_summary, qc_status, v1pre3_number, created, modified, \
     (SELECT CAST(COALESCE(SUM(f.size), 0) AS BIGINT) FROM files f WHERE f.dataset_id = datasets.id \
     AND f.status = 'complete') AS total_size";
/// Columns of a file row.
pub const FILE_COLS: &str = "id, owner_id, dataset_id, run_id, path, name, directory, content_type, size, etag, \
     blob_key, status, upload_id, created, modified";
/// Columns of a run row (with its total size).
pub const RUN_COLS: &str = "id, owner_id, name, experiment_name, status, flowcell_barcode, reagent_barcode, \
     instrument_id, instrument_name, instrument_type, platform_name, workflow, v1pre3_id, created, modified, \
     (SELECT CAST(COALESCE(SUM(f.size), 0) AS BIGINT) FROM files f WHERE f.run_id = runs.id \
     AND f.status = 'complete') AS total_size";
/// Columns of an appsession row.
pub const APPSESSION_COLS: &str =
    "id, owner_id, created_by, name, purpose, execution_status, status_summary, created, modified, completed";

/// Dataset types the hub knows, with the types they conform to.
pub fn conforms_to(dataset_type: &str) -> Vec<String> {
    match dataset_type {
        ferry_api::FASTQ_DATASET_TYPE => ferry_api::FASTQ_CONFORMS_TO.iter().map(|s| s.to_string()).collect(),
        "common.fastq" => vec!["common.files".to_string()],
        "common.files" => Vec::new(),
        _ => vec!["common.files".to_string()],
    }
}

/// The known dataset types that are `wanted` or conform to it (`~common.fastq`).
pub fn types_conforming_to(wanted: &str) -> Vec<String> {
    let mut types = vec![wanted.to_string()];
    for known in [ferry_api::FASTQ_DATASET_TYPE, "common.fastq", "common.files"] {
        if known != wanted && conforms_to(known).iter().any(|c| c == wanted) {
            types.push(known.to_string());
        }
    }
    types
}

fn date(millis: i64) -> Option<String> {
    (millis > 0).then(|| format_millis(millis))
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// Renders rows, caching owners and projects within one answer.
pub struct Renderer<'a> {
    state: &'a State,
    v2: bool,
    owners: HashMap<String, Option<UserCompact>>,
    projects: HashMap<String, Option<Project>>,
    sessions: HashMap<String, Option<AppSession>>,
}

impl<'a> Renderer<'a> {
    /// A renderer for a v2 (`v2 = true`) or v1pre3 answer.
    pub fn new(state: &'a State, v2: bool) -> Self {
        Self {
            state,
            v2,
            owners: HashMap::new(),
            projects: HashMap::new(),
            sessions: HashMap::new(),
        }
    }

    /// An Href for `path` (`projects/1`).
    pub fn href(&self, path: &str) -> String {
        if self.v2 {
            format!("{}/v2/{path}", self.state.base)
        } else {
            format!("v1pre3/{path}")
        }
    }

    /// The owner of a resource (user or workgroup) as embedded in resources.
    pub async fn owner(&mut self, id: &str) -> ApiResult<Option<UserCompact>> {
        if let Some(cached) = self.owners.get(id) {
            return Ok(cached.clone());
        }
        let user = sqlx::query("SELECT name, created FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.state.db.pool)
            .await?;
        let row = match user {
            Some(row) => Some(row),
            None => {
                sqlx::query("SELECT name, created FROM workgroups WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.state.db.pool)
                    .await?
            }
        };
        let compact = row.map(|row| UserCompact {
            id: id.to_string(),
            href: Some(self.href(&format!("users/{id}"))),
            name: Some(row.get("name")),
            date_created: date(row.get("created")),
            gravatar_url: None,
        });
        self.owners.insert(id.to_string(), compact.clone());
        Ok(compact)
    }

    /// A project row.
    pub async fn project(&mut self, row: &AnyRow) -> ApiResult<Project> {
        let id: String = row.get("id");
        let owner: String = row.get("owner_id");
        Ok(Project {
            href: Some(self.href(&format!("projects/{id}"))),
            name: Some(row.get("name")),
            description: non_empty(row.get("description")),
            date_created: date(row.get("created")),
            date_modified: date(row.get("modified")),
            user_owned_by: self.owner(&owner).await?,
            href_samples: Some(self.href(&format!("projects/{id}/samples"))),
            href_app_results: Some(self.href(&format!("projects/{id}/appresults"))),
            href_datasets: Some(self.href(&format!("projects/{id}/datasets"))),
            href_base_space_ui: Some(format!("{}/projects/{id}", self.state.base)),
            has_collaborators: Some(false),
            is_deleted: Some(false),
            total_size: None,
            id,
        })
    }

    /// A project by ID, embedded in another resource.
    pub async fn project_by_id(&mut self, id: &str) -> ApiResult<Option<Project>> {
        if let Some(cached) = self.projects.get(id) {
            return Ok(cached.clone());
        }
        let sql = format!("SELECT {PROJECT_COLS} FROM projects WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.state.db.pool)
            .await?;
        let project = match row {
            // Embedded projects are the compact form: no list Hrefs.
            Some(row) => Some(Project {
                href_samples: None,
                href_app_results: None,
                href_datasets: None,
                href_base_space_ui: None,
                ..self.project(&row).await?
            }),
            None => None,
        };
        self.projects.insert(id.to_string(), project.clone());
        Ok(project)
    }

    /// A biosample row (with the projects its datasets are in).
    pub async fn biosample(&mut self, row: &AnyRow) -> ApiResult<Biosample> {
        let id: String = row.get("id");
        let owner: String = row.get("owner_id");
        let project_id: String = row.get("project_id");
        let mut output: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT project_id FROM datasets WHERE biosample_id = $1 ORDER BY project_id")
                .bind(&id)
                .fetch_all(&self.state.db.pool)
                .await?;
        if !output.contains(&project_id) {
            output.insert(0, project_id.clone());
        }
        Ok(Biosample {
            href: Some(self.href(&format!("biosamples/{id}"))),
            bio_sample_name: Some(row.get("name")),
            nickname: None,
            user_owned_by: self.owner(&owner).await?,
            default_project: self.project_by_id(&project_id).await?,
            date_created: date(row.get("created")),
            date_modified: date(row.get("modified")),
            status: Some("New".to_string()),
            lab_status: Some("Sequencing".to_string()),
            container_name: None,
            container_position: None,
            output_project_ids: Some(output),
            id,
        })
    }

    /// An appsession row.
    pub async fn appsession(&mut self, row: &AnyRow) -> ApiResult<AppSession> {
        let id: String = row.get("id");
        let created_by: String = row.get("created_by");
        Ok(AppSession {
            href: Some(self.href(&format!("appsessions/{id}"))),
            name: Some(row.get("name")),
            application: Some(Application {
                id: "1375375".to_string(),
                href: Some(self.href("applications/1375375")),
                name: Some("BaseSpace CLI".to_string()),
                version_number: Some(env!("CARGO_PKG_VERSION").to_string()),
                app_family_slug: Some("illumina-inc.basespace-cli".to_string()),
                app_version_slug: None,
                company_name: Some("Ferry".to_string()),
            }),
            user_created_by: self.owner(&created_by).await?,
            execution_status: Some(row.get("execution_status")),
            qc_status: None,
            status_summary: non_empty(row.get("status_summary")),
            purpose: Some(row.get("purpose")),
            date_created: date(row.get("created")),
            date_modified: date(row.get("modified")),
            date_started: date(row.get("created")),
            date_completed: date(row.get("completed")),
            total_size: None,
            delivery_status: None,
            id,
        })
    }

    async fn appsession_by_id(&mut self, id: &str) -> ApiResult<Option<AppSession>> {
        if let Some(cached) = self.sessions.get(id) {
            return Ok(cached.clone());
        }
        let sql = format!("SELECT {APPSESSION_COLS} FROM appsessions WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.state.db.pool)
            .await?;
        let session = match row {
            Some(row) => Some(self.appsession(&row).await?),
            None => None,
        };
        self.sessions.insert(id.to_string(), session.clone());
        Ok(session)
    }

    /// A dataset row.
    pub async fn dataset(&mut self, row: &AnyRow) -> ApiResult<Dataset> {
        let id: String = row.get("id");
        let owner: String = row.get("owner_id");
        let project_id: String = row.get("project_id");
        let appsession_id: Option<String> = row.get("appsession_id");
        let dataset_type: String = row.get("dataset_type");
        let attributes: String = row.get("attributes");
        let attributes: Option<DatasetAttributes> = serde_json::from_str(&attributes).ok();
        let appsession = match appsession_id {
            Some(session) => self.appsession_by_id(&session).await?,
            None => None,
        };
        let v1: i64 = row.get("v1pre3_number");
        Ok(Dataset {
            href: Some(self.href(&format!("datasets/{id}"))),
            href_files: Some(self.href(&format!("datasets/{id}/files"))),
            name: Some(row.get("name")),
            date_created: date(row.get("created")),
            date_modified: date(row.get("modified")),
            app_session: appsession,
            project: self.project_by_id(&project_id).await?,
            total_size: Some(row.get("total_size")),
            is_archived: Some(false),
            is_deleted: Some(false),
            user_owned_by: self.owner(&owner).await?,
            dataset_type: Some(DatasetType {
                href: Some(self.href(&format!("datasettypes/{dataset_type}"))),
                name: Some(match dataset_type.as_str() {
                    ferry_api::FASTQ_DATASET_TYPE => "Illumina Fastq".to_string(),
                    other => other.to_string(),
                }),
                conforms_to_ids: Some(conforms_to(&dataset_type)),
                id: dataset_type,
            }),
            attributes: attributes.filter(|a| a.common_fastq.is_some() || !a.other.is_empty()),
            qc_status: Some(row.get("qc_status")),
            upload_status: Some(row.get("upload_status")),
            upload_status_summary: non_empty(row.get("upload_status_summary")),
            validation_status: Some("Passed".to_string()),
            v1pre3_id: Some(format!("sample.{v1}")),
            id,
        })
    }

    /// A file row.
    pub fn file(&self, row: &AnyRow) -> File {
        let id: String = row.get("id");
        let status: String = row.get("status");
        File {
            id_as_long: id.parse().ok(),
            href: Some(self.href(&format!("files/{id}"))),
            href_content: Some(self.href(&format!("files/{id}/content"))),
            name: Some(row.get("name")),
            path: Some(row.get("path")),
            content_type: Some(row.get("content_type")),
            size: Some(row.get("size")),
            is_archived: Some(false),
            date_created: date(row.get("created")),
            date_modified: date(row.get("modified")),
            etag: non_empty(row.get("etag")),
            href_parts: (status == "pending").then(|| self.href(&format!("files/{id}/parts"))),
            upload_status: Some(status),
            id,
        }
    }

    /// A run row.
    pub async fn run(&mut self, row: &AnyRow) -> ApiResult<Run> {
        let id: String = row.get("id");
        let owner: String = row.get("owner_id");
        Ok(Run {
            href: Some(self.href(&format!("runs/{id}"))),
            name: Some(row.get("name")),
            experiment_name: Some(row.get("experiment_name")),
            status: Some(row.get("status")),
            date_created: date(row.get("created")),
            date_modified: date(row.get("modified")),
            user_owned_by: self.owner(&owner).await?,
            instrument: Some(Instrument {
                id: Some(row.get("instrument_id")),
                name: Some(row.get("instrument_name")),
                r#type: Some(row.get("instrument_type")),
                platform_name: Some(row.get("platform_name")),
            }),
            flowcell_barcode: Some(row.get("flowcell_barcode")),
            reagent_barcode: non_empty(row.get("reagent_barcode")),
            workflow: non_empty(row.get("workflow")),
            total_size: Some(row.get("total_size")),
            upload_status: Some("Completed".to_string()),
            is_archived: Some(false),
            href_files: Some(self.href(&format!("runs/{id}/files"))),
            v1pre3_id: Some(row.get("v1pre3_id")),
            id,
        })
    }
}
