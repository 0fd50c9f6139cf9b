//! Applications: Ferry's built-in catalog (FASTQ QC, FASTQ Toolkit, Test App), written into the
//! `applications` table at every start, and its admin switches (`ferry hub app …`). Every row is
//! one application version with its launch form; disabled applications are neither listed nor
//! served, though sessions that ran them still name them.

use ferry_api::{AppForm, AppFormField, Application};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Columns of an application row.
pub const APP_COLS: &str = "id, name, version_number, company_name, category, classifications, short_description, \
     long_description, release_notes, homepage_uri, app_family_slug, app_version_slug, latest, form, disabled, \
     created, published";

/// The application of upload sessions (Illumina's "BaseSpace CLI").
pub const BASESPACE_CLI_APP_ID: &str = "1375375";

/// Ferry's built-in application versions.
pub const FASTQ_QC_ID: &str = "9100001";
/// FASTQ Toolkit 2.2.5 (the older version).
pub const FASTQ_TOOLKIT_OLD_ID: &str = "9100002";
/// FASTQ Toolkit 2.2.6 (the latest version).
pub const FASTQ_TOOLKIT_ID: &str = "9100003";
/// Test App 1.0.0: ends as the launch asks.
pub const TEST_APP_ID: &str = "9100004";

/// A built-in application version.
struct BuiltIn {
    id: &'static str,
    name: &'static str,
    version: &'static str,
    category: &'static str,
    classifications: &'static str,
    short_description: &'static str,
    long_description: &'static str,
    release_notes: &'static str,
    family: &'static str,
    latest: bool,
    form: fn() -> AppForm,
}

fn field(id: &str, label: &str, field_type: &str, required: bool) -> AppFormField {
    AppFormField {
        id: id.to_string(),
        label: label.to_string(),
        field_type: field_type.to_string(),
        required,
        ..AppFormField::default()
    }
}

fn with_default(mut f: AppFormField, default: &str) -> AppFormField {
    f.default = Some(default.to_string());
    f
}

fn number(id: &str, label: &str, default: &str, min: f64, max: f64) -> AppFormField {
    let mut f = with_default(field(id, label, "number", false), default);
    f.min = Some(min);
    f.max = Some(max);
    f
}

fn many(mut f: AppFormField) -> AppFormField {
    f.multiple = true;
    f
}

fn common_head() -> Vec<AppFormField> {
    vec![
        field("app-session-name", "Analysis name", "text", false),
        field("project-id", "Save results to project", "project", true),
    ]
}

fn fastq_qc_form() -> AppForm {
    let mut fields = common_head();
    let mut samples = many(field("sample-id", "Input biosamples", "biosample", false));
    samples.description = "Biosamples whose FASTQ datasets are checked; give these or dataset-id.".into();
    fields.push(samples);
    let mut datasets = many(field("dataset-id", "Input FASTQ datasets", "dataset", false));
    datasets.description = "FASTQ datasets to check; give these or sample-id.".into();
    fields.push(datasets);
    AppForm { fields }
}

fn fastq_toolkit_form() -> AppForm {
    let mut fields = common_head();
    fields.push(many(field("sample-id", "Input biosamples", "biosample", true)));
    fields.push(number("quality-threshold", "Trim bases below quality", "20", 0.0, 41.0));
    fields.push(with_default(
        field("adapter-sequence", "Adapter sequence to trim", "text", false),
        "AGATCGGAAGAGC",
    ));
    fields.push(number("minimum-length", "Drop reads shorter than", "32", 0.0, 1000.0));
    fields.push(number(
        "subsample-reads",
        "Keep at most this many reads (pairs) per lane (0: all)",
        "0",
        0.0,
        1e12,
    ));
    fields.push(with_default(
        field("output-suffix", "Output biosample name suffix", "text", false),
        "_trimmed",
    ));
    AppForm { fields }
}

fn test_app_form() -> AppForm {
    let mut fields = common_head();
    fields.push(field("sample-id", "Input biosample", "biosample", false));
    let mut outcome = with_default(field("outcome", "How the session ends", "choice", false), "Complete");
    outcome.choices = vec!["Complete".into(), "NeedsAttention".into(), "Aborted".into()];
    fields.push(outcome);
    fields.push(number("seconds", "Seconds before it ends", "5", 0.0, 86400.0));
    fields.push(field("message", "Status summary when it ends", "text", false));
    AppForm { fields }
}

const FASTQ_TOOLKIT_DESCRIPTION: &str = "Trims adapters and low-quality bases from FASTQ reads, drops reads that end \
     up too short and can subsample reads; writes one new biosample per input biosample.";

const BUILT_IN: &[BuiltIn] = &[
    BuiltIn {
        id: FASTQ_QC_ID,
        name: "FASTQ QC",
        version: "1.0.0",
        category: "Native",
        classifications: "Quality Control",
        short_description: "Quality report of FASTQ reads (per-base quality, GC content, read lengths).",
        long_description: "Like BaseSpace's FastQC app: reads the FASTQ datasets of the chosen biosamples or the \
             chosen datasets and writes a quality report per dataset to the output project.",
        release_notes: "First version.",
        family: "ferry.fastq-qc",
        latest: true,
        form: fastq_qc_form,
    },
    BuiltIn {
        id: FASTQ_TOOLKIT_OLD_ID,
        name: "FASTQ Toolkit",
        version: "2.2.5",
        category: "Native",
        classifications: "Trimming,Quality Control",
        short_description: "Adapter and quality trimming, length filtering and subsampling of FASTQ reads.",
        long_description: FASTQ_TOOLKIT_DESCRIPTION,
        release_notes: "Adapter trimming.",
        family: "ferry.fastq-toolkit",
        latest: false,
        form: fastq_toolkit_form,
    },
    BuiltIn {
        id: FASTQ_TOOLKIT_ID,
        name: "FASTQ Toolkit",
        version: "2.2.6",
        category: "Native",
        classifications: "Trimming,Quality Control",
        short_description: "Adapter and quality trimming, length filtering and subsampling of FASTQ reads.",
        long_description: FASTQ_TOOLKIT_DESCRIPTION,
        release_notes: "Output biosample name suffix.",
        family: "ferry.fastq-toolkit",
        latest: true,
        form: fastq_toolkit_form,
    },
    BuiltIn {
        id: TEST_APP_ID,
        name: "Test App",
        version: "1.0.0",
        category: "Other",
        classifications: "Testing",
        short_description: "For testing automation: ends Complete, NeedsAttention or Aborted after N seconds.",
        long_description: "Runs for the given number of seconds, then ends with the chosen outcome and message; a \
             session that ends Complete writes a small report dataset. For testing scripts around bs launch, bs await, \
             bs kill and bs download appsession.",
        release_notes: "First version.",
        family: "ferry.test-app",
        latest: true,
        form: test_app_form,
    },
];

/// Writes the built-in applications (their descriptions and forms as this build has them); an
/// admin's enable/disable choice is kept.
pub async fn seed(db: &ferry_db::Db) -> anyhow::Result<()> {
    // A fixed date: the catalog's versions were published with Ferry, not at each start.
    const PUBLISHED: i64 = 1_764_547_200_000; // 2025-12-01
    for app in BUILT_IN {
        let form = serde_json::to_string(&(app.form)())?;
        sqlx::query(
            "INSERT INTO applications (id, name, version_number, company_name, category, classifications, \
             short_description, long_description, release_notes, homepage_uri, app_family_slug, app_version_slug, \
             latest, form, disabled, created, published) \
             VALUES ($1, $2, $3, 'Ferry', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $14) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, version_number = excluded.version_number, \
             category = excluded.category, classifications = excluded.classifications, \
             short_description = excluded.short_description, long_description = excluded.long_description, \
             release_notes = excluded.release_notes, homepage_uri = excluded.homepage_uri, \
             app_family_slug = excluded.app_family_slug, app_version_slug = excluded.app_version_slug, \
             latest = excluded.latest, form = excluded.form",
        )
        .bind(app.id)
        .bind(app.name)
        .bind(app.version)
        .bind(app.category)
        .bind(app.classifications)
        .bind(app.short_description)
        .bind(app.long_description)
        .bind(app.release_notes)
        .bind("https://github.com/ferry-bio/ferry")
        .bind(app.family)
        .bind(format!("{}.{}", app.family, app.version))
        .bind(i64::from(app.latest))
        .bind(form)
        .bind(PUBLISHED)
        .execute(&db.pool)
        .await?;
    }
    Ok(())
}

/// An application row as the API shows it; `full` adds the single-application fields, `href`
/// makes an Href from a path (`applications/1`).
pub fn render(row: &AnyRow, full: bool, href: impl Fn(&str) -> String) -> Application {
    let id: String = row.get("id");
    let classifications: String = row.get("classifications");
    let long_description: String = row.get("long_description");
    let release_notes: String = row.get("release_notes");
    Application {
        href: Some(href(&format!("applications/{id}"))),
        name: Some(row.get("name")),
        version_number: Some(row.get("version_number")),
        app_family_slug: Some(row.get("app_family_slug")),
        app_version_slug: Some(row.get("app_version_slug")),
        company_name: Some(row.get("company_name")),
        short_description: Some(row.get("short_description")),
        category: Some(row.get("category")),
        classifications: Some(
            classifications
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        publish_status: Some("Published".to_string()),
        date_created: Some(ferry_api::dates::format_millis(row.get("created"))),
        date_published: Some(ferry_api::dates::format_millis(row.get("published"))),
        homepage_uri: Some(row.get("homepage_uri")),
        is_billing_activated: Some(false),
        long_description: full.then_some(long_description),
        release_notes: full.then_some(release_notes),
        is_free: full.then_some(true),
        href_settings: full.then(|| href(&format!("applications/{id}/settings"))),
        id,
        ..Application::default()
    }
}

/// The launch form stored with an application row.
pub fn form(row: &AnyRow) -> AppForm {
    serde_json::from_str(&row.get::<String, _>("form")).unwrap_or_default()
}

/// The compact application of upload sessions.
pub fn basespace_cli(href: impl Fn(&str) -> String) -> Application {
    Application {
        id: BASESPACE_CLI_APP_ID.to_string(),
        href: Some(href(&format!("applications/{BASESPACE_CLI_APP_ID}"))),
        name: Some("BaseSpace CLI".to_string()),
        version_number: Some(env!("CARGO_PKG_VERSION").to_string()),
        app_family_slug: Some("illumina-inc.basespace-cli".to_string()),
        company_name: Some("Ferry".to_string()),
        ..Application::default()
    }
}

/// An application as `ferry hub app list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEntry {
    /// Application (version) ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Whether the admin disabled it.
    pub disabled: bool,
}

/// Every application of the catalog, disabled ones included, by name and version.
pub async fn list_all(db: &ferry_db::Db) -> anyhow::Result<Vec<AppEntry>> {
    let rows = sqlx::query("SELECT id, name, version_number, disabled FROM applications ORDER BY name, id")
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .iter()
        .map(|row| AppEntry {
            id: row.get("id"),
            name: row.get("name"),
            version: row.get("version_number"),
            disabled: row.get::<i64, _>("disabled") != 0,
        })
        .collect())
}

/// Disables or enables an application version; an unknown ID is an error that says how to find one.
pub async fn set_disabled(db: &ferry_db::Db, id: &str, disabled: bool) -> anyhow::Result<AppEntry> {
    let done = sqlx::query("UPDATE applications SET disabled = $1 WHERE id = $2")
        .bind(i64::from(disabled))
        .bind(id)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        anyhow::bail!("no application with ID {id}: `ferry hub app list` shows the IDs");
    }
    list_all(db)
        .await?
        .into_iter()
        .find(|app| app.id == id)
        .ok_or_else(|| anyhow::anyhow!("application {id} vanished"))
}
