//! Command-line grammar: Illumina's verbs and nouns, global flags and environment variables.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// BaseSpace Sequence Hub command-line client (Ferry). A drop-in for Illumina's `bs`, with
/// verified, resumable, parallel transfers.
#[derive(Debug, Parser)]
#[command(
    name = "bs",
    version,
    about,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Profile name: ~/.basespace/NAME.cfg.
    #[arg(short = 'c', long = "config", global = true, value_name = "NAME")]
    pub config: Option<String>,
    /// API server URL (or region code: use1, euc1, euw2, cac1, aps2, aps4, cnn1).
    #[arg(long, global = true, env = "BASESPACE_API_SERVER", value_name = "URL")]
    pub api_server: Option<String>,
    /// Access token.
    #[arg(
        long,
        global = true,
        env = "BASESPACE_ACCESS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub access_token: Option<String>,
    /// More log output (repeat for more).
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short = 'q', long = "quiet", global = true)]
    pub quiet: bool,
    /// Also write the log to FILE.
    #[arg(long = "log", global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Retry failed calls (always on; kept for compatibility).
    #[arg(long = "retry", global = true)]
    pub retry: bool,
    /// Hide progress bars.
    #[arg(long = "no-progress-bars", global = true)]
    pub no_progress_bars: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Aligned table.
    #[default]
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// JSON (lists are always arrays).
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Output flags shared by listing commands.
#[derive(Debug, Clone, Args, Default)]
pub struct OutputArgs {
    /// Output format.
    #[arg(short = 'f', long = "format", value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Field(s) to show, dotted paths allowed (Project.Name). Repeat or separate with commas.
    #[arg(short = 'F', long = "field", value_name = "FIELD", value_delimiter = ',')]
    pub fields: Vec<String>,
    /// Print only IDs.
    #[arg(long)]
    pub terse: bool,
    /// Print each item through a Go-style template: `'{{.Id}},{{.Project.Name}}'`,
    /// `{{range .X}}…{{end}}`, `{{if .X}}…{{end}}`, `{{printf "%-20s" .Name}}`.
    #[arg(long, value_name = "TEMPLATE")]
    pub template: Option<String>,
}

/// Filters of list commands.
#[derive(Debug, Clone, Args, Default)]
pub struct ListFilters {
    /// Only items of this project (ID).
    #[arg(long = "project-id", value_name = "ID")]
    pub project_id: Vec<String>,
    /// Only items of this project (exact name).
    #[arg(long = "project-name", value_name = "NAME")]
    pub project_name: Vec<String>,
    /// Datasets of this biosample (ID).
    #[arg(long = "input-biosample", value_name = "ID")]
    pub input_biosample: Vec<String>,
    /// Datasets of this run (ID).
    #[arg(long = "input-run", value_name = "ID")]
    pub input_run: Vec<String>,
    /// Datasets of this type (e.g. illumina.fastq.v1.8, or ~common.fastq for conforming types).
    #[arg(long = "is-type", value_name = "TYPE")]
    pub is_type: Vec<String>,
    /// Datasets of this type or of a type that conforms to it (`--like-type common.fastq`).
    #[arg(long = "like-type", value_name = "TYPE")]
    pub like_type: Vec<String>,
    /// Datasets of any type but this one (`~TYPE`: nor of types conforming to it).
    #[arg(long = "not-type", value_name = "TYPE")]
    pub not_type: Vec<String>,
    /// Sort by this field (dotted path: `Name`, `DateCreated`, `Project.Name`, `TotalSize`).
    #[arg(long = "sort-by", value_name = "FIELD")]
    pub sort_by: Option<String>,
    /// Reverse the order (of --sort-by, or of the server's).
    #[arg(long = "reverse-sort")]
    pub reverse_sort: bool,
    /// Field to filter on (dotted path), with --filter-term.
    #[arg(long = "filter-field", value_name = "FIELD", default_value = "Name")]
    pub filter_field: String,
    /// Keep items whose --filter-field matches this regular expression (`.*Pcli.*`, `^name$`).
    #[arg(long = "filter-term", value_name = "TERM")]
    pub filter_term: Option<String>,
    /// Only items newer than this age (30s, 10m, 2h, 7d, 3w, 1y).
    #[arg(long = "newer-than", value_name = "AGE")]
    pub newer_than: Option<String>,
    /// Only items older than this age.
    #[arg(long = "older-than", value_name = "AGE")]
    pub older_than: Option<String>,
    /// Date field used by --newer-than/--older-than.
    #[arg(long = "date-field", value_name = "FIELD", default_value = "DateModified")]
    pub date_field: String,
}

/// Selects an item by ID or name.
#[derive(Debug, Clone, Args, Default)]
pub struct Select {
    /// ID.
    #[arg(short = 'i', long = "id", value_name = "ID")]
    pub id: Option<String>,
    /// Exact name.
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    pub name: Option<String>,
}

/// Top-level commands (verb first; `bs <noun> <verb>` is rewritten to this order).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with a browser (device login) and write the profile.
    #[command(visible_alias = "authenticate")]
    Auth(AuthArgs),
    /// Show who the token acts for.
    Whoami(OutputArgs),
    /// Load settings into the environment (`bs load config`).
    Load {
        #[command(subcommand)]
        what: LoadWhat,
    },
    /// List items.
    #[command(visible_alias = "list-all", alias = "filter")]
    List {
        #[command(subcommand)]
        what: ListWhat,
    },
    /// Show one item.
    #[command(visible_aliases = ["info", "inspect"])]
    Get {
        #[command(subcommand)]
        what: GetWhat,
    },
    /// List the files of an item.
    #[command(visible_aliases = ["content", "dir"])]
    Contents {
        #[command(subcommand)]
        what: ContentsWhat,
    },
    /// Create an item.
    Create {
        #[command(subcommand)]
        what: CreateWhat,
    },
    /// Print a direct (signed) link to a file's content.
    Link {
        #[command(subcommand)]
        what: LinkWhat,
    },
    /// Download files (verified, resumable, parallel).
    Download {
        #[command(subcommand)]
        what: DownloadWhat,
    },
    /// Upload files.
    Upload {
        #[command(subcommand)]
        what: UploadWhat,
    },
    /// Launch an application (`bs launch application -n NAME -o project-id:ID -o sample-id:ID,…`).
    Launch {
        #[command(subcommand)]
        what: LaunchWhat,
    },
    /// Wait for an AppSession to end; exits 0 only when it is Complete.
    Await {
        #[command(subcommand)]
        what: AwaitWhat,
    },
    /// Stop a running AppSession (it ends Aborted; nothing it made is kept).
    #[command(visible_alias = "abort")]
    Kill {
        #[command(subcommand)]
        what: KillWhat,
    },
    /// Print an AppSession's log files.
    #[command(visible_alias = "log")]
    Logs {
        #[command(subcommand)]
        what: LogsWhat,
    },
    /// Archive a dataset or run (its files cannot be downloaded until it is unarchived).
    Archive {
        #[command(subcommand)]
        what: ArchiveWhat,
    },
    /// Restore an archived dataset or run (it takes the server's restore time).
    Unarchive {
        #[command(subcommand)]
        what: ArchiveWhat,
    },
    /// Invalidate the access token of the profile.
    #[command(visible_alias = "expire")]
    Revoke {
        #[command(subcommand)]
        what: RevokeWhat,
    },
    /// Print a shell completion script.
    Completion {
        /// Shell.
        shell: clap_complete::Shell,
    },
}

/// `bs auth` flags.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Replace an existing profile.
    #[arg(long)]
    pub force: bool,
    /// Scopes to ask for.
    #[arg(long, default_value = ferry_api::oauth::DEFAULT_SCOPES)]
    pub scopes: String,
    /// Seconds to wait for approval.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// OAuth client ID.
    #[arg(long = "client-id", env = "BASESPACE_CLIENT_ID", hide = true)]
    pub client_id: Option<String>,
    /// OAuth client secret.
    #[arg(
        long = "client-secret",
        env = "BASESPACE_CLIENT_SECRET",
        hide = true,
        hide_env_values = true
    )]
    pub client_secret: Option<String>,
}

/// `bs load …`.
#[derive(Debug, Subcommand)]
pub enum LoadWhat {
    /// Print `export` lines for the profile's settings.
    #[command(visible_alias = "configs")]
    Config,
}

/// `bs list …`.
#[derive(Debug, Subcommand)]
pub enum ListWhat {
    /// Projects.
    #[command(visible_alias = "project")]
    Projects(ListArgs),
    /// Biosamples.
    #[command(visible_alias = "biosample")]
    Biosamples(ListArgs),
    /// Datasets.
    #[command(visible_alias = "dataset")]
    Datasets(ListArgs),
    /// Runs.
    #[command(visible_alias = "run")]
    Runs(ListArgs),
    /// AppSessions (filtered by the server: --project-name/--project-id are output projects).
    #[command(visible_alias = "appsession")]
    Appsessions(ListAppsessionsArgs),
    /// Applications that can be launched.
    #[command(visible_alias = "application")]
    Applications(ListApplicationsArgs),
    /// Workgroups of the user.
    #[command(visible_alias = "workgroup")]
    Workgroups(ListArgs),
    /// Profiles in ~/.basespace.
    #[command(visible_aliases = ["config", "configuration"])]
    Configs(OutputArgs),
}

/// Flags of `bs list <noun>`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filters: ListFilters,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Flags of `bs list appsessions`.
#[derive(Debug, Clone, Args)]
pub struct ListAppsessionsArgs {
    /// Only sessions in these execution states (Running, Complete, NeedsAttention, Aborted, TimedOut).
    #[arg(long = "exec-status", value_name = "STATUS", value_delimiter = ',')]
    pub exec_status: Vec<String>,
    /// Only sessions of this application (ID).
    #[arg(long = "app-id", value_name = "ID")]
    pub app_id: Vec<String>,
    #[command(flatten)]
    pub list: ListArgs,
}

/// Flags of `bs list applications`.
#[derive(Debug, Clone, Args)]
pub struct ListApplicationsArgs {
    /// Only applications of this category (Native, Workflow, Other).
    #[arg(long, value_name = "CATEGORY")]
    pub category: Option<String>,
    /// Every version, not only the latest of each application.
    #[arg(long = "all-versions")]
    pub all_versions: bool,
    #[command(flatten)]
    pub list: ListArgs,
}

/// Flags of `bs get application`.
#[derive(Debug, Clone, Args)]
pub struct GetApplicationArgs {
    /// The version to show (default: the latest).
    #[arg(long = "app-version", value_name = "VERSION")]
    pub app_version: Option<String>,
    #[command(flatten)]
    pub get: GetArgs,
}

/// Flags of `bs get <noun>` that also take the ID positionally (`bs get appsession 123`).
#[derive(Debug, Clone, Args)]
pub struct GetByIdArgs {
    /// The ID (same as -i).
    #[arg(value_name = "ID", conflicts_with = "id")]
    pub positional_id: Option<String>,
    #[command(flatten)]
    pub get: GetArgs,
}

impl GetByIdArgs {
    /// The ID given with -i or positionally.
    pub fn id(&self) -> Option<&str> {
        self.get.select.id.as_deref().or(self.positional_id.as_deref())
    }
}

/// `bs get …`.
#[derive(Debug, Subcommand)]
pub enum GetWhat {
    /// A project.
    Project(GetArgs),
    /// A biosample.
    Biosample(GetArgs),
    /// A dataset.
    Dataset(GetArgs),
    /// A run.
    Run(GetArgs),
    /// A file (by ID).
    File(GetArgs),
    /// An AppSession (`-i ID` or the ID alone).
    Appsession(GetByIdArgs),
    /// An application: its details and launch form (`-i ID` or `-n NAME [--app-version V]`).
    Application(GetApplicationArgs),
}

/// Flags of `bs get <noun>`.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub select: Select,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `bs contents …`.
#[derive(Debug, Subcommand)]
pub enum ContentsWhat {
    /// Files of a dataset.
    Dataset(ContentsArgs),
    /// Files of every dataset of a project.
    Project(ContentsArgs),
    /// Files of every dataset of a biosample.
    Biosample(ContentsArgs),
    /// Files of a run.
    Run(ContentsArgs),
}

/// Flags of `bs contents <noun>`.
#[derive(Debug, Clone, Args)]
pub struct ContentsArgs {
    #[command(flatten)]
    pub select: Select,
    /// Only files with these extensions (comma list).
    #[arg(long, value_delimiter = ',')]
    pub extension: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `bs create …`.
#[derive(Debug, Subcommand)]
pub enum CreateWhat {
    /// A project.
    Project {
        /// Name.
        #[arg(short = 'n', long = "name")]
        name: String,
        /// Description.
        #[arg(short = 'd', long = "description")]
        description: Option<String>,
        /// Succeed (and print it) when a project with this name exists.
        #[arg(long = "exist-ok")]
        exist_ok: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A biosample in a project.
    Biosample {
        /// Name.
        #[arg(short = 'n', long = "name")]
        name: String,
        /// Project ID.
        #[arg(short = 'p', long = "project")]
        project: String,
        /// Succeed (and print it) when it exists.
        #[arg(long = "exist-ok")]
        exist_ok: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// `bs archive …` and `bs unarchive …`.
#[derive(Debug, Subcommand)]
pub enum ArchiveWhat {
    /// A dataset (`-i ID` or `-n NAME`).
    Dataset(GetArgs),
    /// A run (`-i ID` or `-n NAME`).
    Run(GetArgs),
}

/// `bs launch …`.
#[derive(Debug, Subcommand)]
pub enum LaunchWhat {
    /// An application version, with its options.
    #[command(visible_aliases = ["applications", "app"])]
    Application(LaunchArgs),
}

/// Flags of `bs launch application`.
#[derive(Debug, Clone, Args)]
pub struct LaunchArgs {
    /// Application (version) ID.
    #[arg(short = 'i', long = "id", value_name = "ID", conflicts_with = "name")]
    pub id: Option<String>,
    /// Application name (its latest version, or --app-version).
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    pub name: Option<String>,
    /// The version to launch (default: the latest).
    #[arg(long = "app-version", value_name = "VERSION")]
    pub app_version: Option<String>,
    /// A launch option, KEY:VALUE (repeat; several values comma-separated:
    /// `-o sample-id:ID1,ID2`). `bs get application` lists the options.
    #[arg(short = 'o', long = "option", value_name = "KEY:VALUE")]
    pub options: Vec<String>,
    /// The AppSession's name (label).
    #[arg(
        short = 'l',
        long = "appsession-label",
        visible_alias = "label",
        value_name = "LABEL"
    )]
    pub label: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// An AppSession by `-i ID` or by the ID alone (`bs await appsession 123`).
#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    /// The AppSession's ID (same as -i).
    #[arg(value_name = "ID", conflicts_with = "id")]
    pub positional_id: Option<String>,
    /// The AppSession's ID.
    #[arg(short = 'i', long = "id", value_name = "ID")]
    pub id: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl SessionArgs {
    /// The ID given with -i or positionally.
    pub fn id(&self) -> anyhow::Result<&str> {
        self.id.as_deref().or(self.positional_id.as_deref()).ok_or_else(|| {
            anyhow::anyhow!("give the AppSession with -i ID (or the ID alone); `bs list appsessions` shows them")
        })
    }
}

/// `bs await …`.
#[derive(Debug, Subcommand)]
pub enum AwaitWhat {
    /// Wait until the AppSession is no longer Running.
    #[command(visible_alias = "appsessions")]
    Appsession(AwaitArgs),
}

/// Flags of `bs await appsession`.
#[derive(Debug, Clone, Args)]
pub struct AwaitArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// Give up after this many seconds (exit 1; the session keeps running). Default: wait on.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Seconds between checks.
    #[arg(long = "poll-interval", value_name = "SECONDS", default_value_t = 5.0)]
    pub poll_interval: f64,
}

/// `bs kill …`.
#[derive(Debug, Subcommand)]
pub enum KillWhat {
    /// A running AppSession.
    #[command(visible_alias = "appsessions")]
    Appsession(SessionArgs),
}

/// `bs logs …`.
#[derive(Debug, Subcommand)]
pub enum LogsWhat {
    /// An AppSession's log files, printed one after the other.
    #[command(visible_alias = "appsessions")]
    Appsession(SessionArgs),
}

/// `bs link …`.
#[derive(Debug, Subcommand)]
pub enum LinkWhat {
    /// A file's signed content URL.
    File {
        /// File ID.
        #[arg(short = 'i', long = "id")]
        id: String,
    },
}

/// `bs revoke …`.
#[derive(Debug, Subcommand)]
pub enum RevokeWhat {
    /// The profile's access token.
    Token,
}

/// `bs download …`.
#[derive(Debug, Subcommand)]
pub enum DownloadWhat {
    /// Every dataset of a project.
    Project(DownloadArgs),
    /// Every dataset of a biosample.
    Biosample(DownloadArgs),
    /// A dataset.
    Dataset(DownloadArgs),
    /// A run folder.
    Run(DownloadArgs),
    /// One file (by ID).
    File(DownloadArgs),
    /// The output datasets of an AppSession.
    Appsession(DownloadArgs),
}

/// Output layout of downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Layout {
    /// `<DatasetName>_ds.<id>/<file>` (Illumina's).
    #[default]
    Dataset,
    /// Every file directly in the output directory.
    Flat,
}

/// Flags of `bs download <noun>`.
#[derive(Debug, Clone, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub select: Select,
    /// Output directory.
    #[arg(short = 'o', long = "output", default_value = ".")]
    pub output: PathBuf,
    /// Only files with these extensions (comma list, e.g. fastq.gz).
    #[arg(long, value_delimiter = ',')]
    pub extension: Vec<String>,
    /// Exclude files matching GLOB (ordered with --include; the last match wins).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Include files matching GLOB (ordered with --exclude; the last match wins).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Replace existing files.
    #[arg(long)]
    pub overwrite: bool,
    /// Fail when a file's checksum cannot be verified (a multipart ETag made with an unusual part
    /// size), keeping its bytes in NAME.partial; by default such a file is kept, checked by size.
    #[arg(long)]
    pub require_checksum: bool,
    /// Do not write metadata JSON.
    #[arg(long = "no-metadata")]
    pub no_metadata: bool,
    /// Files in parallel: a number, or high (16) / low (2).
    #[arg(long, default_value = "4")]
    pub concurrency: String,
    /// Print a closing summary (files, bytes, skipped, verified, seconds, MB/s).
    #[arg(long)]
    pub summary: bool,
    /// Output layout.
    #[arg(long, value_enum, default_value_t = Layout::Dataset)]
    pub layout: Layout,
    /// Output format of the summary.
    #[arg(short = 'f', long = "format", value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Bandwidth cap for the whole download, bytes per second (suffixes K, M, G: 500K, 20M).
    #[arg(long = "max-rate", value_name = "RATE")]
    pub max_rate: Option<String>,
}

/// `bs upload …`.
#[derive(Debug, Subcommand)]
pub enum UploadWhat {
    /// Files into a new dataset per sample and lane.
    Dataset(UploadArgs),
}

/// Flags of `bs upload dataset`.
#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// Destination project: its ID, or its exact name.
    #[arg(short = 'p', long = "project")]
    pub project: String,
    /// Biosample to put the data in (default: the sample name of the files).
    #[arg(long = "biosample-name")]
    pub biosample_name: Option<String>,
    /// Library name (accepted for compatibility; the hub records no libraries).
    #[arg(long = "library-name")]
    pub library_name: Option<String>,
    /// Label of the upload (its AppSession name).
    #[arg(short = 'l', long = "label")]
    pub label: Option<String>,
    /// Dataset type: illumina.fastq.v1.8 (validated FASTQ, default) or common.files (any files).
    #[arg(short = 't', long = "type", default_value = ferry_api::FASTQ_DATASET_TYPE)]
    pub dataset_type: String,
    /// Dataset name (common.files only; default: the first file's name).
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Descend into directories.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Exclude files matching GLOB.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Include files matching GLOB.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Parts in flight: a number, or high (16) / low (2).
    #[arg(long, default_value = "4")]
    pub concurrency: String,
    /// Do not check read headers.
    #[arg(long = "allow-invalid-readnames")]
    pub allow_invalid_readnames: bool,
    /// Only validate; send nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Bandwidth cap, bytes per second (suffixes K, M, G: 500K, 20M).
    #[arg(long = "max-rate", value_name = "RATE")]
    pub max_rate: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

const NOUNS: [&str; 22] = [
    "project",
    "projects",
    "biosample",
    "biosamples",
    "dataset",
    "datasets",
    "run",
    "runs",
    "appsession",
    "appsessions",
    "workgroup",
    "workgroups",
    "file",
    "files",
    "config",
    "configs",
    "configuration",
    "token",
    "application",
    "applications",
    "appresult",
    "appresults",
];

const VERBS: [&str; 25] = [
    "list",
    "list-all",
    "filter",
    "get",
    "info",
    "inspect",
    "contents",
    "content",
    "dir",
    "create",
    "link",
    "download",
    "upload",
    "load",
    "revoke",
    "expire",
    "auth",
    "launch",
    "await",
    "kill",
    "abort",
    "logs",
    "log",
    "archive",
    "unarchive",
];

/// Global options that take a value (so their value is not a command word).
const VALUE_OPTIONS: [&str; 5] = ["-c", "--config", "--api-server", "--access-token", "--log"];

/// Verbs whose noun may be followed by the item's ID alone (`bs get biosample 123`).
const POSITIONAL_ID_VERBS: [&str; 10] = [
    "get",
    "info",
    "inspect",
    "contents",
    "content",
    "dir",
    "download",
    "link",
    "archive",
    "unarchive",
];

/// Reads the command line as Illumina's `bs` does: `bs <noun> <verb> …` becomes `bs <verb> <noun>
/// …`; an en or em dash pasted from a word processor (`–terse`) is `--`; outside `list`, a plural
/// noun is its singular (`bs download runs --id 1`); and after `get`, `contents`, `download`,
/// `link`, `archive` and `unarchive` an ID given alone is `-i ID`.
pub fn normalize_args(args: Vec<String>) -> Vec<String> {
    let mut args: Vec<String> = args
        .into_iter()
        .enumerate()
        .map(|(i, arg)| match arg.strip_prefix(['\u{2013}', '\u{2014}']) {
            Some(rest) if i > 0 => format!("--{}", rest.trim_start_matches(['\u{2013}', '\u{2014}', '-'])),
            _ => arg,
        })
        .collect();
    let mut index = 1;
    while index < args.len() {
        let arg = &args[index];
        if VALUE_OPTIONS.contains(&arg.as_str()) {
            index += 2;
            continue;
        }
        if arg.starts_with('-') {
            index += 1;
            continue;
        }
        break;
    }
    if index + 1 >= args.len() {
        return args;
    }
    let first = args[index].to_ascii_lowercase();
    let second = args[index + 1].to_ascii_lowercase();
    if NOUNS.contains(&first.as_str()) && VERBS.contains(&second.as_str()) {
        args.swap(index, index + 1);
    }
    let verb = args[index].to_ascii_lowercase();
    let noun = args[index + 1].to_ascii_lowercase();
    if !matches!(verb.as_str(), "list" | "list-all" | "filter")
        && let Some(singular) = noun.strip_suffix('s')
        && NOUNS.contains(&noun.as_str())
        && NOUNS.contains(&singular)
    {
        args[index + 1] = singular.to_string();
    }
    let has_id = args.iter().any(|a| {
        a == "-i"
            || a == "--id"
            || a.starts_with("--id=")
            || (a.starts_with("-i") && a.len() > 2 && !a.starts_with("--"))
    });
    if POSITIONAL_ID_VERBS.contains(&verb.as_str())
        && NOUNS.contains(&args[index + 1].to_ascii_lowercase().as_str())
        && !has_id
        && args.get(index + 2).is_some_and(|a| !a.starts_with('-'))
    {
        args.insert(index + 2, "-i".to_string());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> String {
        normalize_args(text.split(' ').map(str::to_string).collect()).join(" ")
    }

    #[test]
    fn scripts_grammar_is_read_as_illuminas_bs_reads_it() {
        assert_eq!(norm("bs download runs --id 5 -o x"), "bs download run --id 5 -o x");
        assert_eq!(
            norm("bs get biosamples 12 \u{2013}terse"),
            "bs get biosample -i 12 --terse"
        );
        assert_eq!(norm("bs list projects \u{2014}terse"), "bs list projects --terse");
        assert_eq!(norm("bs biosample get 7"), "bs get biosample -i 7");
        assert_eq!(norm("bs contents dataset ds.1"), "bs contents dataset -i ds.1");
        assert_eq!(norm("bs get project -n Demo"), "bs get project -n Demo");
        assert_eq!(norm("bs get appsessions 9"), "bs get appsession -i 9");
        assert_eq!(
            norm("bs upload dataset -p 1 a.fastq.gz"),
            "bs upload dataset -p 1 a.fastq.gz"
        );
        assert_eq!(norm("bs await appsessions 9"), "bs await appsession 9");
    }

    #[test]
    fn noun_verb_is_rewritten() {
        assert_eq!(norm("bs project list"), "bs list project");
        assert_eq!(norm("bs -c wg dataset upload -p 1 x"), "bs -c wg upload dataset -p 1 x");
        assert_eq!(norm("bs list projects"), "bs list projects");
        assert_eq!(
            norm("bs --api-server http://x biosample get -i 1"),
            "bs --api-server http://x get biosample -i 1"
        );
    }

    #[test]
    fn grammar_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
