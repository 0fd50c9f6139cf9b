//! Template data: plain strings prepared for display, so templates stay logic-free.

use askama::Template;
use axum::response::Html;

use crate::accounts::{ApiKeyInfo, ApiKeyStatus, Session};
use crate::basespace::LinkInfo;
use crate::browse::{BsBiosample, BsDataset, BsProject, BsRun};
use crate::import::{ImportStatus, SampleDetail, SampleFile, SampleSummary};

/// Renders a template, or a plain error if the template fails (it should not).
pub(crate) fn html<T: Template>(template: &T) -> Html<String> {
    match template.render() {
        Ok(text) => Html(text),
        Err(error) => {
            tracing::error!(%error, "template failed");
            Html("<!doctype html><title>Error</title><p>The page could not be drawn.</p>".to_string())
        }
    }
}

/// `1.5 MiB`-style sizes: binary units with IEC labels, as `bs` prints them (one convention for
/// the CLI and the web).
pub(crate) fn human_bytes(bytes: u64) -> String {
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

/// A point in time for a page: the machine-readable RFC 3339 instant (`<time datetime>`, which
/// the page's script turns into the reader's own time zone) and a readable UTC text for pages
/// read without scripts (`30 Nov 2026, 14:05 UTC`).
pub(crate) struct When {
    pub(crate) iso: String,
    pub(crate) text: String,
}

impl When {
    /// From Unix milliseconds.
    pub(crate) fn millis(millis: i64) -> When {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        When::at(at)
    }

    /// From an RFC 3339 (or BaseSpace) date; text that is not a date is shown as it is.
    pub(crate) fn text(text: &str) -> When {
        match ferry_api::dates::parse(text) {
            Some(at) => When::at(at),
            None => When {
                iso: String::new(),
                text: text.to_string(),
            },
        }
    }

    fn at(at: time::OffsetDateTime) -> When {
        let at = at.to_offset(time::UtcOffset::UTC);
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        When {
            iso: format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            ),
            text: format!(
                "{} {} {}, {:02}:{:02} UTC",
                at.day(),
                MONTHS[usize::from(u8::from(at.month()) - 1)],
                at.year(),
                at.hour(),
                at.minute()
            ),
        }
    }
}

/// A message for the page as HTML: escaped, first letter capitalised, a full stop at the end, and
/// `code` in backticks shown as code (templates insert it with `|safe`).
pub(crate) fn message_html(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let mut text: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !text.ends_with(['.', '!', '?', ':', ')']) {
        text.push('.');
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in text.split('`').enumerate() {
        let escaped = part
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&escaped);
            out.push_str("</code>");
        } else {
            out.push_str(&escaped);
        }
    }
    out
}

/// The data types the import form offers: (value, label).
pub(crate) const DATA_TYPES: [(&str, &str); 10] = [
    ("rna-seq", "RNA-Seq"),
    ("dna-seq", "DNA-Seq"),
    ("wgs", "WGS"),
    ("wes", "WES"),
    ("chip-seq", "ChIP-Seq"),
    ("atac-seq", "ATAC-Seq"),
    ("scrna-seq", "scRNA-Seq"),
    ("small-rna-seq", "small RNA-Seq"),
    ("panel", "Panel"),
    ("other", "Other"),
];

/// The label of a data type value (`wgs` → `WGS`); other values as they are.
pub(crate) fn data_type_label(value: &str) -> String {
    DATA_TYPES
        .iter()
        .find(|(v, _)| v.eq_ignore_ascii_case(value))
        .map(|(_, label)| label.to_string())
        .unwrap_or_else(|| value.to_string())
}

/// Read counts of a sample: pairs for paired-end samples (files count read 1 and read 2 apart).
pub(crate) fn reads_text(reads: Option<u64>, paired: bool) -> String {
    match reads {
        Some(n) if paired => format!("{} pairs", thousands(n / 2)),
        Some(n) => thousands(n),
        None => "—".to_string(),
    }
}

/// `12,345`-style counts.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn opt_num(n: Option<u64>) -> String {
    n.map(thousands).unwrap_or_else(|| "—".to_string())
}

/// Navigation and identity shared by every page.
pub(crate) struct Base {
    pub(crate) title: String,
    pub(crate) user_email: String,
    pub(crate) csrf: String,
    pub(crate) active: &'static str,
}

impl Base {
    pub(crate) fn anonymous(title: &str) -> Self {
        Base {
            title: title.to_string(),
            user_email: String::new(),
            csrf: String::new(),
            active: "",
        }
    }

    pub(crate) fn user(title: &str, session: &Session, active: &'static str) -> Self {
        Base {
            title: title.to_string(),
            user_email: session.user.email.clone(),
            csrf: session.csrf_token.clone(),
            active,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) base: Base,
    pub(crate) status: u16,
    /// HTML (from [`message_html`]).
    pub(crate) message: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub(crate) base: Base,
    pub(crate) signup: bool,
    pub(crate) form_csrf: String,
    pub(crate) email: String,
    pub(crate) next: String,
    pub(crate) error: String,
    /// A notice such as "You have logged out".
    pub(crate) notice: String,
    /// Whether to offer sign-up (the workspace's sign-up mode is open).
    pub(crate) signup_open: bool,
}

#[derive(Template)]
#[template(path = "signup_closed.html")]
pub(crate) struct SignupClosedPage {
    pub(crate) base: Base,
}

pub(crate) struct LinkView {
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) context: String,
    pub(crate) region_label: String,
    pub(crate) api_server: String,
    pub(crate) last4: String,
    pub(crate) linked: When,
    /// When BaseSpace last rejected the token (not worked since).
    pub(crate) rejected: Option<When>,
}

impl From<&LinkInfo> for LinkView {
    fn from(link: &LinkInfo) -> Self {
        LinkView {
            name: link.basespace_user.name.clone(),
            email: link.basespace_user.email.clone(),
            context: link.context.clone(),
            region_label: link.region_label.clone(),
            api_server: link.api_server.clone(),
            last4: link.token_last4.clone(),
            linked: When::millis(link.linked_at),
            rejected: link.token_rejected_at.map(When::millis),
        }
    }
}

/// Asks before something that cannot be undone; works without scripts (a page with a form that
/// sends the original fields again with `confirmed=yes`).
#[derive(Template)]
#[template(path = "confirm.html")]
pub(crate) struct ConfirmPage {
    pub(crate) base: Base,
    pub(crate) heading: String,
    /// HTML (from [`message_html`]).
    pub(crate) intro: String,
    /// What will be lost, HTML items.
    pub(crate) losses: Vec<String>,
    pub(crate) action: String,
    /// The original form's fields, sent again.
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) confirm_label: String,
    /// A second button sending the fields with `confirmed=back` (back to the form), if not empty.
    pub(crate) back_label: String,
    /// A link away that changes nothing.
    pub(crate) cancel_href: String,
    pub(crate) cancel_label: String,
    /// A milder action: (form action, button label), posted with no other fields.
    pub(crate) alternative: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "profile.html")]
pub(crate) struct ProfilePage {
    pub(crate) base: Base,
    pub(crate) link: Option<LinkView>,
    pub(crate) regions: Vec<(String, String)>,
    pub(crate) selected_region: String,
    pub(crate) custom_url: String,
    /// HTML (from [`message_html`]).
    pub(crate) error: String,
    /// The token was refused: the (emptied) field must be filled again.
    pub(crate) token_again: bool,
    pub(crate) notice: String,
    pub(crate) editing: bool,
    pub(crate) api_keys: Vec<ApiKeyRow>,
    /// A key just created: shown this once.
    pub(crate) new_key: String,
    pub(crate) new_key_name: String,
    pub(crate) key_error: String,
    pub(crate) key_notice: String,
    /// The name field of the create form (kept when the form is refused).
    pub(crate) key_name: String,
    /// (value, label) of the lifetimes offered for a new key.
    pub(crate) expiry_choices: Vec<(&'static str, &'static str)>,
    pub(crate) selected_expiry: String,
}

/// The lifetimes the Profile page offers for a new API key: form value (as `--expires-in`) and label.
pub(crate) const EXPIRY_CHOICES: [(&str, &str); 4] = [
    ("never", "Never"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("365d", "1 year"),
];

pub(crate) struct ApiKeyRow {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The name, or the start of the id for unnamed keys (for the confirmation text).
    pub(crate) label: String,
    pub(crate) created: When,
    pub(crate) expires: Option<When>,
    pub(crate) last_used: Option<When>,
    pub(crate) status: &'static str,
    pub(crate) active: bool,
}

impl ApiKeyRow {
    pub(crate) fn new(key: &ApiKeyInfo, now: i64) -> Self {
        let status = key.status_at(now);
        ApiKeyRow {
            id: key.id.clone(),
            name: key.name.clone(),
            label: if key.name.is_empty() {
                format!("{}…", &key.id[..key.id.len().min(8)])
            } else {
                format!("“{}”", key.name)
            },
            created: When::millis(key.created_at),
            expires: key.expires_at.map(When::millis),
            last_used: key.last_used_at.map(When::millis),
            status: status.as_str(),
            active: status == ApiKeyStatus::Active,
        }
    }
}

pub(crate) struct SampleRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) reason: String,
    pub(crate) files: u64,
    pub(crate) size: String,
    pub(crate) size_bytes: u64,
    pub(crate) reads: String,
    /// Every read counted (R1 and R2 apart), for the tooltip.
    pub(crate) reads_exact: String,
    pub(crate) layout: String,
    pub(crate) genome: String,
    pub(crate) data_type: String,
    pub(crate) project: String,
    pub(crate) created: When,
}

impl From<&SampleSummary> for SampleRow {
    fn from(s: &SampleSummary) -> Self {
        SampleRow {
            id: s.id.clone(),
            name: s.name.clone(),
            status: s.status.clone(),
            reason: s.reason.clone().unwrap_or_default(),
            files: s.file_count,
            size: human_bytes(s.size),
            size_bytes: s.size,
            reads: reads_text(s.reads, s.paired),
            reads_exact: s
                .reads
                .map(|n| format!("{} reads in all files", thousands(n)))
                .unwrap_or_default(),
            layout: if s.paired { "paired-end" } else { "single-end" }.to_string(),
            genome: s.genome.clone().unwrap_or_default(),
            data_type: s.data_type.as_deref().map(data_type_label).unwrap_or_default(),
            project: s.workspace_project.clone().unwrap_or_default(),
            created: When::text(&s.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "samples.html")]
pub(crate) struct SamplesPage {
    pub(crate) base: Base,
    pub(crate) samples: Vec<SampleRow>,
    pub(crate) notice: String,
}

pub(crate) struct FileRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) read: String,
    pub(crate) lane: String,
    pub(crate) size: String,
    pub(crate) size_bytes: u64,
    pub(crate) md5: String,
    pub(crate) sha256: String,
    pub(crate) reads: String,
    pub(crate) reads_exact: String,
    pub(crate) bases: String,
    pub(crate) mean_quality: String,
    pub(crate) gc_percent: String,
    pub(crate) q30_percent: String,
    pub(crate) lengths: String,
    pub(crate) status: String,
    pub(crate) reason: String,
    pub(crate) downloadable: bool,
    pub(crate) dataset_id: String,
    pub(crate) file_id: String,
    pub(crate) project_id: String,
    pub(crate) biosample_id: String,
    pub(crate) etag: String,
}

impl From<&SampleFile> for FileRow {
    fn from(f: &SampleFile) -> Self {
        let lengths = match (f.min_length, f.max_length) {
            (Some(a), Some(b)) if a == b => format!("{a}"),
            (Some(a), Some(b)) => format!("{a}–{b}"),
            _ => "—".to_string(),
        };
        FileRow {
            id: f.id.clone(),
            name: f.name.clone(),
            read: f.read.map(|r| format!("R{r}")).unwrap_or_else(|| "—".into()),
            lane: f.lane.map(|l| format!("L{l:03}")).unwrap_or_else(|| "—".into()),
            size: human_bytes(f.size),
            size_bytes: f.size,
            md5: f.md5.clone().unwrap_or_default(),
            sha256: f.sha256.clone().unwrap_or_default(),
            reads: opt_num(f.reads),
            reads_exact: f.reads.map(|r| r.to_string()).unwrap_or_default(),
            bases: opt_num(f.bases),
            mean_quality: f.mean_quality.map(|q| format!("{q:.1}")).unwrap_or_else(|| "—".into()),
            gc_percent: f.gc_percent.map(|q| format!("{q:.1} %")).unwrap_or_else(|| "—".into()),
            q30_percent: f.q30_percent.map(|q| format!("{q:.1} %")).unwrap_or_else(|| "—".into()),
            lengths,
            status: f.status.clone(),
            reason: f.reason.clone().unwrap_or_default(),
            downloadable: f.status == "completed",
            dataset_id: f.source.dataset_id.clone(),
            file_id: f.source.file_id.clone(),
            project_id: f.source.project_id.clone().unwrap_or_default(),
            biosample_id: f.source.biosample_id.clone().unwrap_or_default(),
            etag: f.source.etag.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "sample.html")]
pub(crate) struct SamplePage {
    pub(crate) base: Base,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) reason: String,
    pub(crate) genome: String,
    pub(crate) data_type: String,
    pub(crate) platform: String,
    pub(crate) project: String,
    pub(crate) created: When,
    pub(crate) import_id: String,
    pub(crate) api_server: String,
    pub(crate) bs_projects: String,
    pub(crate) bs_biosamples: String,
    pub(crate) bs_runs: String,
    pub(crate) total_reads: String,
    /// Label of the reads fact: `Read pairs` or `Reads`.
    pub(crate) reads_label: String,
    /// `8,000 reads in all files` when pairs are shown.
    pub(crate) reads_note: String,
    pub(crate) total_size: String,
    /// `1.2 MiB of 3.4 MiB stored` while files are missing; empty when all are stored.
    pub(crate) stored_note: String,
    /// Whether the sample can be resumed (it failed or was cancelled).
    pub(crate) resumable: bool,
    pub(crate) files: Vec<FileRow>,
}

impl SamplePage {
    pub(crate) fn new(base: Base, s: &SampleDetail) -> Self {
        let files: Vec<FileRow> = s.files.iter().map(FileRow::from).collect();
        let total_reads = s.files.iter().map(|f| f.reads).sum::<Option<u64>>();
        let paired = s.files.iter().any(|f| f.read == Some(2));
        let bs_biosamples = s
            .source
            .biosample_ids
            .iter()
            .enumerate()
            .map(|(i, id)| match s.source.biosample_names.get(i) {
                Some(name) => format!("{name} ({id})"),
                None => id.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        SamplePage {
            base,
            id: s.id.clone(),
            name: s.name.clone(),
            status: s.status.clone(),
            reason: s.reason.clone().unwrap_or_default(),
            genome: s.genome.clone().unwrap_or_default(),
            data_type: s.data_type.as_deref().map(data_type_label).unwrap_or_default(),
            platform: s.platform.clone().unwrap_or_default(),
            project: s.workspace_project.clone().unwrap_or_default(),
            created: When::text(&s.created_at),
            import_id: s.import_id.clone().unwrap_or_default(),
            api_server: s.source.api_server.clone(),
            bs_projects: s.source.project_ids.join(", "),
            bs_biosamples,
            bs_runs: s.source.run_ids.join(", "),
            total_reads: reads_text(total_reads, paired),
            reads_label: if paired { "Read pairs" } else { "Reads" }.to_string(),
            reads_note: match total_reads {
                Some(n) if paired => format!("{} reads, counting read 1 and read 2", thousands(n)),
                _ => String::new(),
            },
            total_size: human_bytes(s.files.iter().map(|f| f.size).sum()),
            stored_note: {
                let stored: u64 = s.files.iter().filter(|f| f.status == "completed").map(|f| f.size).sum();
                let total: u64 = s.files.iter().map(|f| f.size).sum();
                if stored < total {
                    format!("{} of {} stored", human_bytes(stored), human_bytes(total))
                } else {
                    String::new()
                }
            },
            resumable: matches!(s.status.as_str(), "failed" | "cancelled"),
            files,
        }
    }
}

pub(crate) struct ProjectRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) biosamples: u64,
}

impl From<&BsProject> for ProjectRow {
    fn from(p: &BsProject) -> Self {
        ProjectRow {
            id: p.id.clone(),
            name: p.name.clone(),
            biosamples: p.biosample_count,
        }
    }
}

pub(crate) struct RunRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) experiment: String,
    pub(crate) status: String,
}

impl From<&BsRun> for RunRow {
    fn from(r: &BsRun) -> Self {
        RunRow {
            id: r.id.clone(),
            name: r.name.clone(),
            experiment: r.experiment_name.clone().unwrap_or_default(),
            status: r.status.clone().unwrap_or_default(),
        }
    }
}

/// What the import form had selected and chosen, kept when the form is shown again.
#[derive(Default)]
pub(crate) struct ImportFormState {
    pub(crate) project_ids: Vec<String>,
    pub(crate) run_ids: Vec<String>,
    pub(crate) biosample_ids: Vec<String>,
    pub(crate) merge: bool,
    pub(crate) merge_name: String,
    pub(crate) skip_undetermined: bool,
    pub(crate) genome: String,
    pub(crate) data_type: String,
    pub(crate) platform: String,
    pub(crate) workspace_project: String,
    pub(crate) on_conflict: String,
}

impl ImportFormState {
    /// A fresh form: nothing selected, Undetermined skipped.
    pub(crate) fn fresh() -> Self {
        ImportFormState {
            skip_undetermined: true,
            on_conflict: "skip".to_string(),
            ..Default::default()
        }
    }

    pub(crate) fn has_project(&self, id: &str) -> bool {
        self.project_ids.iter().any(|p| p == id)
    }

    pub(crate) fn has_run(&self, id: &str) -> bool {
        self.run_ids.iter().any(|r| r == id)
    }

    pub(crate) fn has_biosample(&self, id: &str) -> bool {
        self.biosample_ids.iter().any(|b| b == id)
    }

    /// `Selected: 1 project, 2 biosamples.` (as the page's script writes it).
    pub(crate) fn summary(&self) -> String {
        let count = |n: usize, one: &str, many: &str| match n {
            0 => None,
            1 => Some(format!("1 {one}")),
            n => Some(format!("{n} {many}")),
        };
        let parts: Vec<String> = [
            count(self.project_ids.len(), "project", "projects"),
            count(self.biosample_ids.len(), "biosample", "biosamples"),
            count(self.run_ids.len(), "run", "runs"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            "Nothing selected yet.".to_string()
        } else {
            format!("Selected: {}.", parts.join(", "))
        }
    }
}

/// A biosample found by the search.
pub(crate) struct BiosampleHitRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) project: String,
}

#[derive(Template)]
#[template(path = "import_select.html")]
pub(crate) struct ImportSelectPage {
    pub(crate) base: Base,
    pub(crate) linked: bool,
    pub(crate) link_label: String,
    pub(crate) search: String,
    pub(crate) projects: Vec<ProjectRow>,
    pub(crate) runs: Vec<RunRow>,
    /// Biosamples whose name matches the search (empty without a search).
    pub(crate) biosample_hits: Vec<BiosampleHitRow>,
    /// Browsing failed: HTML (from [`message_html`]).
    pub(crate) error: String,
    /// BaseSpace rejected the linked token: the form is replaced by a way to set a new one.
    pub(crate) token_rejected: bool,
    pub(crate) form: ImportFormState,
    /// The submitted form was refused: HTML (from [`message_html`]).
    pub(crate) form_error: String,
    /// Selected biosamples not shown in the search results (kept as ticked boxes).
    pub(crate) kept_biosamples: Vec<String>,
    pub(crate) data_types: Vec<(&'static str, &'static str)>,
}

pub(crate) struct DatasetRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) lane: String,
    pub(crate) layout: String,
    pub(crate) size: String,
    pub(crate) reads: String,
}

impl From<&BsDataset> for DatasetRow {
    fn from(d: &BsDataset) -> Self {
        DatasetRow {
            id: d.id.clone(),
            name: d.name.clone(),
            lane: d.lane.map(|l| format!("L{l:03}")).unwrap_or_else(|| "—".into()),
            layout: match d.paired_end {
                Some(true) => "paired-end",
                Some(false) => "single-end",
                None => "—",
            }
            .to_string(),
            size: human_bytes(d.size),
            reads: reads_text(d.reads, d.paired_end == Some(true)),
        }
    }
}

pub(crate) struct BiosampleRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) lanes: String,
    pub(crate) layout: String,
    pub(crate) size: String,
    pub(crate) reads: String,
    pub(crate) undetermined: bool,
    pub(crate) datasets: Vec<DatasetRow>,
}

impl From<&BsBiosample> for BiosampleRow {
    fn from(b: &BsBiosample) -> Self {
        BiosampleRow {
            id: b.id.clone(),
            name: b.name.clone(),
            lanes: if b.lanes.is_empty() {
                "—".to_string()
            } else {
                b.lanes.iter().map(|l| format!("L{l:03}")).collect::<Vec<_>>().join(" ")
            },
            layout: match b.paired_end {
                Some(true) => "paired-end",
                Some(false) => "single-end",
                None => "—",
            }
            .to_string(),
            size: human_bytes(b.size),
            reads: reads_text(b.reads, b.paired_end == Some(true)),
            undetermined: b.name.eq_ignore_ascii_case("undetermined"),
            datasets: b.datasets.iter().map(DatasetRow::from).collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "project_fragment.html")]
pub(crate) struct ProjectFragment {
    pub(crate) project_id: String,
    pub(crate) biosamples: Vec<BiosampleRow>,
    /// Size of the FASTQ datasets listed.
    pub(crate) total_size: String,
}

#[derive(Template)]
#[template(path = "run_fragment.html")]
pub(crate) struct RunFragment {
    pub(crate) datasets: Vec<DatasetRow>,
    /// Size of the FASTQ datasets listed.
    pub(crate) total_size: String,
}

pub(crate) struct ImportRow {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) options: String,
    pub(crate) status: String,
    pub(crate) status_label: String,
    pub(crate) files: String,
    pub(crate) bytes: String,
    pub(crate) samples: usize,
    pub(crate) created: When,
    pub(crate) finished: Option<When>,
}

/// A status as a person reads it (`already_imported` → `already imported`).
pub(crate) fn status_label(status: &str) -> String {
    status.replace('_', " ")
}

/// The options an import was started with, in the words of the import form.
pub(crate) fn options_summary(options: &crate::import::ImportOptions) -> String {
    use crate::import::OnConflict;
    let mut parts = Vec::new();
    match &options.merge_into {
        Some(name) => parts.push(format!("merged into one sample \"{name}\"")),
        None => parts.push("one sample per biosample".to_string()),
    }
    for (label, value) in [
        ("genome", &options.genome),
        ("data type", &options.data_type),
        ("platform", &options.platform),
        ("project", &options.workspace_project),
    ] {
        if let Some(value) = value {
            parts.push(format!("{label} {value}"));
        }
    }
    parts.push(
        match options.on_conflict {
            OnConflict::Skip => "existing sample names skipped",
            OnConflict::Rename => "existing sample names: imported under a new name",
            OnConflict::Replace => "existing samples replaced",
        }
        .to_string(),
    );
    if !options.skip_undetermined {
        parts.push("Undetermined reads included".to_string());
    }
    parts.join(" · ")
}

impl From<&ImportStatus> for ImportRow {
    fn from(s: &ImportStatus) -> Self {
        ImportRow {
            id: s.id.clone(),
            title: s.title.clone(),
            options: options_summary(&s.request.options),
            status: s.status.clone(),
            status_label: status_label(&s.status),
            files: format!("{} / {}", s.files_done, s.files_total),
            bytes: format!("{} / {}", human_bytes(s.bytes_done), human_bytes(s.bytes_total)),
            samples: s.samples.len(),
            created: When::text(&s.created_at),
            finished: s.finished_at.as_deref().map(When::text),
        }
    }
}

#[derive(Template)]
#[template(path = "imports.html")]
pub(crate) struct ImportsPage {
    pub(crate) base: Base,
    pub(crate) imports: Vec<ImportRow>,
}

pub(crate) struct ReportRow {
    pub(crate) biosample: String,
    /// The sample's ID while it exists (a link); empty once deleted or replaced.
    pub(crate) sample_id: String,
    pub(crate) sample_name: String,
    /// Set when the sample no longer exists: what the reader should know.
    pub(crate) sample_note: String,
    pub(crate) status: String,
    pub(crate) status_label: String,
    pub(crate) reason: String,
}

#[derive(Template)]
#[template(path = "import.html")]
pub(crate) struct ImportPage {
    pub(crate) base: Base,
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) options: String,
    /// Said when the import had nothing to transfer (everything imported before, or skipped).
    pub(crate) nothing_to_do: String,
    pub(crate) status: String,
    pub(crate) status_label: String,
    pub(crate) created: When,
    pub(crate) finished_at: Option<When>,
    pub(crate) files: String,
    pub(crate) bytes: String,
    pub(crate) percent: u64,
    pub(crate) rate: String,
    pub(crate) eta: String,
    pub(crate) finished: bool,
    pub(crate) errors: Vec<String>,
    pub(crate) report: Vec<ReportRow>,
}

/// `1 min 5 s`-style durations.
pub(crate) fn human_duration(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60),
    }
}

impl ImportPage {
    pub(crate) fn new(base: Base, s: &ImportStatus) -> Self {
        let finished = matches!(s.status.as_str(), "completed" | "failed" | "cancelled");
        let nothing_to_do = finished && s.files_total == 0 && s.status == "completed";
        ImportPage {
            base,
            id: s.id.clone(),
            title: s.title.clone(),
            options: options_summary(&s.request.options),
            nothing_to_do: if nothing_to_do {
                "Nothing new to transfer: every file was imported before and verified, or its biosample was \
                 skipped (see the report below)."
                    .to_string()
            } else {
                String::new()
            },
            status: s.status.clone(),
            status_label: status_label(&s.status),
            created: When::text(&s.created_at),
            finished_at: s.finished_at.as_deref().map(When::text),
            files: if s.files_total == 0 && !finished {
                "finding the files…".to_string()
            } else {
                let cancelled = if s.files_cancelled > 0 {
                    format!(" ({} stopped)", s.files_cancelled)
                } else {
                    String::new()
                };
                format!("{} of {} files{cancelled}", s.files_done, s.files_total)
            },
            bytes: format!("{} of {}", human_bytes(s.bytes_done), human_bytes(s.bytes_total)),
            percent: (s.bytes_done.saturating_mul(100))
                .checked_div(s.bytes_total)
                .unwrap_or(if nothing_to_do { 100 } else { 0 })
                .min(100),
            rate: if nothing_to_do {
                "—".to_string()
            } else {
                format!("{}/s", human_bytes(s.rate_bytes_per_sec.max(0.0) as u64))
            },
            eta: s.eta_seconds.map(human_duration).unwrap_or_else(|| "—".to_string()),
            finished,
            errors: s.errors.clone(),
            report: s
                .report
                .iter()
                .map(|r| ReportRow {
                    biosample: if r.biosample_id.is_empty() {
                        r.biosample_name.clone()
                    } else {
                        format!("{} ({})", r.biosample_name, r.biosample_id)
                    },
                    sample_id: if r.sample_exists {
                        r.sample_id.clone().unwrap_or_default()
                    } else {
                        String::new()
                    },
                    sample_name: r.sample_name.clone().unwrap_or_default(),
                    sample_note: if r.sample_id.is_some() && !r.sample_exists {
                        "deleted or replaced since".to_string()
                    } else {
                        String::new()
                    },
                    status: r.status.clone(),
                    status_label: status_label(&r.status),
                    reason: r.reason.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// The confirmation asked before an import is cancelled.
#[derive(Template)]
#[template(path = "import_cancel.html")]
pub(crate) struct CancelImportPage {
    pub(crate) base: Base,
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) files_left: u64,
    pub(crate) bytes_left: String,
    pub(crate) files_done: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.4 MiB");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(reads_text(Some(8000), true), "4,000 pairs");
        assert_eq!(reads_text(Some(8000), false), "8,000");
        assert_eq!(data_type_label("wgs"), "WGS");
        let when = When::text("2026-11-30T14:05:09.1234567Z");
        assert_eq!(
            (when.iso.as_str(), when.text.as_str()),
            ("2026-11-30T14:05:09Z", "30 Nov 2026, 14:05 UTC")
        );
        assert_eq!(
            message_html("run `bs auth` <now>"),
            "Run <code>bs auth</code> &lt;now&gt;."
        );
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(human_duration(65), "1 min 5 s");
    }
}
