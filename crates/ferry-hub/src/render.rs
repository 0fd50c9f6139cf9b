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
     attributes, upload_status, upload_status_summary, qc_status, v1pre3_number, created, modified, archived, \
     restore_ready, (SELECT CAST(COALESCE(SUM(f.size), 0) AS BIGINT) FROM files f WHERE f.dataset_id = datasets.id \
     AND f.status = 'complete') AS total_size";
/// Columns of a file row.
pub const FILE_COLS: &str = "id, owner_id, dataset_id, run_id, path, name, directory, content_type, size, etag, \
     blob_key, status, upload_id, created, modified, \
     COALESCE((SELECT d.archived FROM datasets d WHERE d.id = files.dataset_id), \
     (SELECT r.archived FROM runs r WHERE r.id = files.run_id), 0) AS parent_archived, \
     COALESCE((SELECT d.restore_ready FROM datasets d WHERE d.id = files.dataset_id), \
     (SELECT r.restore_ready FROM runs r WHERE r.id = files.run_id), 0) AS parent_restore_ready";
/// Columns of a run row (with its total size).
pub const RUN_COLS: &str = "id, owner_id, name, experiment_name, status, flowcell_barcode, reagent_barcode, \
     instrument_id, instrument_name, instrument_type, platform_name, workflow, v1pre3_id, created, modified, \
     archived, restore_ready, (SELECT CAST(COALESCE(SUM(f.size), 0) AS BIGINT) FROM files f WHERE f.run_id = runs.id \
     AND f.status = 'complete') AS total_size";
/// Whether something archived at `archived` (0: never) is still archived now, its restore (ready
/// at `restore_ready`, 0: none asked) not yet done.
pub fn is_archived(archived: i64, restore_ready: i64) -> bool {
    archived > 0 && (restore_ready == 0 || restore_ready > ferry_api::dates::now_millis())
}

/// Columns of an appsession row.
pub const APPSESSION_COLS: &str = "id, owner_id, created_by, name, purpose, execution_status, status_summary, created, modified, completed, \
     application_id, qc_status, delivery_status, deleted";

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

/// A dataset's upload status as v2 answers spell it: the real service writes `Complete` but
/// answers `Completed`.
fn v2_upload_status(stored: String) -> String {
    if stored == "Complete" {
        "Completed".to_string()
    } else {
        stored
    }
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
    apps: HashMap<String, Option<Application>>,
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
            apps: HashMap::new(),
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

    fn cached_owner(&self, id: &str) -> Option<UserCompact> {
        self.owners.get(id).cloned().flatten()
    }

    /// Loads the owners (users or workgroups) not cached yet: at most two queries for any number.
    async fn load_owners(&mut self, ids: impl IntoIterator<Item = String>) -> ApiResult<()> {
        let mut missing = uncached(&self.owners, ids);
        if missing.is_empty() {
            return Ok(());
        }
        for table in ["users", "workgroups"] {
            if missing.is_empty() {
                break;
            }
            let sql = format!(
                "SELECT id, name, created FROM {table} WHERE id IN ({})",
                placeholders(missing.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in &missing {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(&self.state.db.pool).await? {
                let id: String = row.get("id");
                let compact = UserCompact {
                    extra: Default::default(),
                    href: Some(self.href(&format!("users/{id}"))),
                    name: Some(row.get("name")),
                    date_created: date(row.get("created")),
                    gravatar_url: None,
                    id: id.clone(),
                };
                self.owners.insert(id, Some(compact));
            }
            missing.retain(|id| !self.owners.contains_key(id));
        }
        for id in missing {
            self.owners.insert(id, None);
        }
        Ok(())
    }

    /// Total size of the complete files in each project's datasets: one grouped query.
    async fn project_sizes(&self, ids: &[String]) -> ApiResult<HashMap<String, i64>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT d.project_id, CAST(COALESCE(SUM(f.size), 0) AS BIGINT) AS total FROM datasets d \
             JOIN files f ON f.dataset_id = d.id AND f.status = 'complete' WHERE d.project_id IN ({}) \
             GROUP BY d.project_id",
            placeholders(ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(id.clone());
        }
        let rows = query.fetch_all(&self.state.db.pool).await?;
        Ok(rows
            .iter()
            .map(|row| (row.get::<String, _>("project_id"), row.get::<i64, _>("total")))
            .collect())
    }

    fn build_project(&self, row: &AnyRow) -> Project {
        let id: String = row.get("id");
        let owner: String = row.get("owner_id");
        Project {
            extra: Default::default(),
            href: Some(self.href(&format!("projects/{id}"))),
            name: Some(row.get("name")),
            description: non_empty(row.get("description")),
            date_created: date(row.get("created")),
            date_modified: date(row.get("modified")),
            user_owned_by: self.cached_owner(&owner),
            href_samples: Some(self.href(&format!("projects/{id}/samples"))),
            href_app_results: Some(self.href(&format!("projects/{id}/appresults"))),
            href_datasets: Some(self.href(&format!("projects/{id}/datasets"))),
            href_base_space_ui: Some(format!("{}/projects/{id}", self.state.base)),
            has_collaborators: Some(false),
            is_deleted: Some(false),
            total_size: None,
            id,
        }
    }

    /// Project rows, with their total sizes (a fixed number of queries for the whole page).
    pub async fn projects(&mut self, rows: &[AnyRow]) -> ApiResult<Vec<Project>> {
        self.load_owners(rows.iter().map(|row| row.get::<String, _>("owner_id")))
            .await?;
        let ids: Vec<String> = rows.iter().map(|row| row.get("id")).collect();
        let sizes = self.project_sizes(&ids).await?;
        Ok(rows
            .iter()
            .map(|row| {
                let mut project = self.build_project(row);
                project.total_size = Some(sizes.get(&project.id).copied().unwrap_or(0));
                project
            })
            .collect())
    }

    /// A project row (with its total size).
    pub async fn project(&mut self, row: &AnyRow) -> ApiResult<Project> {
        let mut projects = self.projects(std::slice::from_ref(row)).await?;
        projects
            .pop()
            .ok_or_else(|| crate::error::ApiError::internal("render", "a project row rendered to nothing"))
    }

    /// Loads the embedded (compact) form of the projects not cached yet, with their owners.
    async fn load_projects(&mut self, ids: impl IntoIterator<Item = String>) -> ApiResult<()> {
        let missing = uncached(&self.projects, ids);
        if missing.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT {PROJECT_COLS} FROM projects WHERE id IN ({})",
            placeholders(missing.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &missing {
            query = query.bind(id.clone());
        }
        let rows = query.fetch_all(&self.state.db.pool).await?;
        self.load_owners(rows.iter().map(|row| row.get::<String, _>("owner_id")))
            .await?;
        for row in &rows {
            // Embedded projects are the compact form: no list Hrefs, no size.
            let project = Project {
                href_samples: None,
                href_app_results: None,
                href_datasets: None,
                href_base_space_ui: None,
                ..self.build_project(row)
            };
            self.projects.insert(project.id.clone(), Some(project));
        }
        for id in missing {
            self.projects.entry(id).or_insert(None);
        }
        Ok(())
    }

    fn cached_project(&self, id: &str) -> Option<Project> {
        self.projects.get(id).cloned().flatten()
    }

    /// The projects holding datasets of each biosample: one query for the whole page.
    async fn biosample_projects(&self, ids: &[String]) -> ApiResult<HashMap<String, Vec<String>>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT DISTINCT biosample_id, project_id FROM datasets WHERE biosample_id IN ({}) \
             ORDER BY biosample_id, project_id",
            placeholders(ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(id.clone());
        }
        for row in query.fetch_all(&self.state.db.pool).await? {
            out.entry(row.get("biosample_id"))
                .or_default()
                .push(row.get("project_id"));
        }
        Ok(out)
    }

    /// Biosample rows (with the projects their datasets are in): a fixed number of queries for
    /// the whole page.
    pub async fn biosamples(&mut self, rows: &[AnyRow]) -> ApiResult<Vec<Biosample>> {
        self.load_owners(rows.iter().map(|row| row.get::<String, _>("owner_id")))
            .await?;
        self.load_projects(rows.iter().map(|row| row.get::<String, _>("project_id")))
            .await?;
        let ids: Vec<String> = rows.iter().map(|row| row.get("id")).collect();
        let mut outputs = self.biosample_projects(&ids).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.get("id");
            let owner: String = row.get("owner_id");
            let project_id: String = row.get("project_id");
            let mut output = outputs.remove(&id).unwrap_or_default();
            if !output.contains(&project_id) {
                output.insert(0, project_id.clone());
            }
            items.push(Biosample {
                extra: Default::default(),
                href: Some(self.href(&format!("biosamples/{id}"))),
                bio_sample_name: Some(row.get("name")),
                nickname: None,
                user_owned_by: self.cached_owner(&owner),
                default_project: self.cached_project(&project_id),
                date_created: date(row.get("created")),
                date_modified: date(row.get("modified")),
                status: Some("New".to_string()),
                lab_status: Some("Sequencing".to_string()),
                container_name: None,
                container_position: None,
                output_project_ids: Some(output),
                id,
            });
        }
        Ok(items)
    }

    /// A biosample row (with the projects its datasets are in).
    pub async fn biosample(&mut self, row: &AnyRow) -> ApiResult<Biosample> {
        let mut items = self.biosamples(std::slice::from_ref(row)).await?;
        items
            .pop()
            .ok_or_else(|| crate::error::ApiError::internal("render", "a biosample row rendered to nothing"))
    }

    fn build_appsession(&self, row: &AnyRow) -> AppSession {
        let id: String = row.get("id");
        let created_by: String = row.get("created_by");
        AppSession {
            extra: Default::default(),
            href: Some(self.href(&format!("appsessions/{id}"))),
            name: Some(row.get("name")),
            application: Some(self.cached_app(&row.get::<String, _>("application_id"))),
            user_created_by: self.cached_owner(&created_by),
            execution_status: Some(row.get("execution_status")),
            // v1pre3 spells the state `Status`.
            status: (!self.v2).then(|| row.get("execution_status")),
            qc_status: non_empty(row.get("qc_status")),
            status_summary: non_empty(row.get("status_summary")),
            purpose: Some(row.get("purpose")),
            date_created: date(row.get("created")),
            date_modified: date(row.get("modified")),
            date_started: date(row.get("created")),
            date_completed: date(row.get("completed")),
            total_size: None,
            delivery_status: non_empty(row.get("delivery_status")),
            id,
        }
    }

    /// Appsession rows: one owner query for the whole page.
    pub async fn appsessions(&mut self, rows: &[AnyRow]) -> ApiResult<Vec<AppSession>> {
        self.load_owners(rows.iter().map(|row| row.get::<String, _>("created_by")))
            .await?;
        self.load_apps(rows.iter().map(|row| row.get::<String, _>("application_id")))
            .await?;
        Ok(rows.iter().map(|row| self.build_appsession(row)).collect())
    }

    /// An appsession row.
    pub async fn appsession(&mut self, row: &AnyRow) -> ApiResult<AppSession> {
        self.load_owners([row.get::<String, _>("created_by")]).await?;
        self.load_apps([row.get::<String, _>("application_id")]).await?;
        Ok(self.build_appsession(row))
    }

    /// The compact application of a session (BaseSpace CLI for uploads and unknown IDs).
    fn cached_app(&self, id: &str) -> Application {
        self.apps
            .get(id)
            .cloned()
            .flatten()
            .unwrap_or_else(|| crate::apps::basespace_cli(|p| self.href(p)))
    }

    /// Loads the applications (disabled ones too) not cached yet, in one query.
    async fn load_apps(&mut self, ids: impl IntoIterator<Item = String>) -> ApiResult<()> {
        let missing = uncached(&self.apps, ids);
        if missing.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT {} FROM applications WHERE id IN ({})",
            crate::apps::APP_COLS,
            placeholders(missing.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &missing {
            query = query.bind(id.clone());
        }
        for row in query.fetch_all(&self.state.db.pool).await? {
            let app = crate::apps::render(&row, false, |p| self.href(p));
            self.apps.insert(app.id.clone(), Some(app));
        }
        for id in missing {
            self.apps.entry(id).or_insert(None);
        }
        Ok(())
    }

    /// Loads the appsessions not cached yet (with their creators) in one query.
    async fn load_sessions(&mut self, ids: impl IntoIterator<Item = String>) -> ApiResult<()> {
        let missing = uncached(&self.sessions, ids);
        if missing.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT {APPSESSION_COLS} FROM appsessions WHERE id IN ({})",
            placeholders(missing.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &missing {
            query = query.bind(id.clone());
        }
        let rows = query.fetch_all(&self.state.db.pool).await?;
        for session in self.appsessions(&rows).await? {
            self.sessions.insert(session.id.clone(), Some(session));
        }
        for id in missing {
            self.sessions.entry(id).or_insert(None);
        }
        Ok(())
    }

    /// Dataset rows: a fixed number of queries (owners, projects, appsessions) for the whole page.
    pub async fn datasets(&mut self, rows: &[AnyRow]) -> ApiResult<Vec<Dataset>> {
        self.load_owners(rows.iter().map(|row| row.get::<String, _>("owner_id")))
            .await?;
        self.load_projects(rows.iter().map(|row| row.get::<String, _>("project_id")))
            .await?;
        self.load_sessions(
            rows.iter()
                .filter_map(|row| row.get::<Option<String>, _>("appsession_id")),
        )
        .await?;
        Ok(rows.iter().map(|row| self.build_dataset(row)).collect())
    }

    /// A dataset row.
    pub async fn dataset(&mut self, row: &AnyRow) -> ApiResult<Dataset> {
        let mut items = self.datasets(std::slice::from_ref(row)).await?;
        items
            .pop()
            .ok_or_else(|| crate::error::ApiError::internal("render", "a dataset row rendered to nothing"))
    }

    fn build_dataset(&self, row: &AnyRow) -> Dataset {
        let id: String = row.get("id");
        let owner: String = row.get("owner_id");
        let project_id: String = row.get("project_id");
        let appsession_id: Option<String> = row.get("appsession_id");
        let dataset_type: String = row.get("dataset_type");
        let attributes: String = row.get("attributes");
        let attributes: Option<DatasetAttributes> = serde_json::from_str(&attributes).ok();
        let appsession = appsession_id.and_then(|session| self.sessions.get(&session).cloned().flatten());
        let v1: i64 = row.get("v1pre3_number");
        Dataset {
            extra: Default::default(),
            href: Some(self.href(&format!("datasets/{id}"))),
            href_files: Some(self.href(&format!("datasets/{id}/files"))),
            name: Some(row.get("name")),
            date_created: date(row.get("created")),
            date_modified: date(row.get("modified")),
            app_session: appsession,
            project: self.cached_project(&project_id),
            total_size: Some(row.get("total_size")),
            is_archived: Some(is_archived(row.get("archived"), row.get("restore_ready"))),
            is_deleted: Some(false),
            user_owned_by: self.cached_owner(&owner),
            dataset_type: Some(DatasetType {
                extra: Default::default(),
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
            upload_status: Some(v2_upload_status(row.get("upload_status"))),
            upload_status_summary: non_empty(row.get("upload_status_summary")),
            validation_status: Some("Passed".to_string()),
            v1pre3_id: Some(format!("sample.{v1}")),
            id,
        }
    }

    /// A file row.
    pub fn file(&self, row: &AnyRow) -> File {
        let id: String = row.get("id");
        let status: String = row.get("status");
        File {
            extra: Default::default(),
            id_as_long: id.parse().ok(),
            href: Some(self.href(&format!("files/{id}"))),
            href_content: Some(self.href(&format!("files/{id}/content"))),
            name: Some(row.get("name")),
            path: Some(row.get("path")),
            content_type: Some(row.get("content_type")),
            size: Some(row.get("size")),
            is_archived: Some(is_archived(row.get("parent_archived"), row.get("parent_restore_ready"))),
            date_created: date(row.get("created")),
            date_modified: date(row.get("modified")),
            etag: non_empty(row.get("etag")),
            href_parts: (status == "pending").then(|| self.href(&format!("files/{id}/parts"))),
            upload_status: Some(status),
            id,
        }
    }

    /// Run rows: one owner query for the whole page.
    pub async fn runs(&mut self, rows: &[AnyRow]) -> ApiResult<Vec<Run>> {
        self.load_owners(rows.iter().map(|row| row.get::<String, _>("owner_id")))
            .await?;
        Ok(rows.iter().map(|row| self.build_run(row)).collect())
    }

    /// A run row.
    pub async fn run(&mut self, row: &AnyRow) -> ApiResult<Run> {
        self.load_owners([row.get::<String, _>("owner_id")]).await?;
        Ok(self.build_run(row))
    }

    fn build_run(&self, row: &AnyRow) -> Run {
        let id: String = row.get("id");
        let owner: String = row.get("owner_id");
        Run {
            extra: Default::default(),
            href: Some(self.href(&format!("runs/{id}"))),
            name: Some(row.get("name")),
            experiment_name: Some(row.get("experiment_name")),
            status: Some(row.get("status")),
            date_created: date(row.get("created")),
            date_modified: date(row.get("modified")),
            user_owned_by: self.cached_owner(&owner),
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
            is_archived: Some(is_archived(row.get("archived"), row.get("restore_ready"))),
            href_files: Some(self.href(&format!("runs/{id}/files"))),
            v1pre3_id: Some(row.get("v1pre3_id")),
            id,
        }
    }
}

/// `$1, $2, …, $n`.
fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The distinct IDs not in `cache` yet.
fn uncached<T>(cache: &HashMap<String, T>, ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = ids.into_iter().filter(|id| !cache.contains_key(id)).collect();
    out.sort_unstable();
    out.dedup();
    out
}
