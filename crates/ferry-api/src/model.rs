//! BaseSpace resources. All fields but `Id` are optional and omitted when empty; unknown fields
//! are ignored; IDs are strings, though numbers are accepted.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Deserialises an ID sent as a string or a number into a string.
pub fn id_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) => Ok(text),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(serde::de::Error::custom(format!("expected an ID, got {other}"))),
    }
}

/// Like [`id_string`], for an optional ID.
pub fn opt_id_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!("expected an ID, got {other}"))),
    }
}

/// v1pre3 error status, also the body of most BaseSpace errors:
/// `{"ResponseStatus":{"ErrorCode":"BASESPACE.…","Message":"…"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ResponseStatus {
    /// `BASESPACE.*` code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Human-readable message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An error body in either shape the service uses: v1pre3 `ResponseStatus` or v2
/// `ErrorCode`/`ErrorMessage`. Both shapes are written by the hub so either kind of client reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ErrorBody {
    /// v1pre3 shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<ResponseStatus>,
    /// v2 shape: code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// v2 shape: message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// v2 shape: request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// v1pre3 notifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Vec<Value>>,
}

impl ErrorBody {
    /// A body in both shapes at once.
    pub fn new(code: &str, message: impl Into<String>, request_id: Option<String>) -> Self {
        let message = message.into();
        Self {
            response_status: Some(ResponseStatus {
                error_code: Some(code.to_string()),
                message: Some(message.clone()),
            }),
            error_code: Some(code.to_string()),
            error_message: Some(message),
            request_id,
            notifications: Some(Vec::new()),
        }
    }

    /// The error code, from whichever shape carried it.
    pub fn code(&self) -> Option<&str> {
        self.error_code
            .as_deref()
            .or_else(|| self.response_status.as_ref()?.error_code.as_deref())
    }

    /// The message, from whichever shape carried it.
    pub fn message(&self) -> Option<&str> {
        self.error_message
            .as_deref()
            .or_else(|| self.response_status.as_ref()?.message.as_deref())
    }
}

macro_rules! resource {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            /// Resource ID (a string, even when numeric).
            #[serde(deserialize_with = "id_string", default)]
            pub id: String,
            $(
                $(#[$fmeta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            /// Fields the service sent that this type does not name, kept as they came (so
            /// `bs … -f json` prints everything the server said).
            #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
            pub extra: serde_json::Map<String, Value>,
        }
    };
}

resource!(
    /// A user, or a workgroup acting as the current user (`IsWorkgroup`).
    User {
        /// API URL of this user.
        href: String,
        /// Display name.
        name: String,
        /// Email address.
        email: String,
        /// Created.
        date_created: String,
        /// Last seen.
        date_last_active: String,
        /// Avatar.
        gravatar_url: String,
        /// Runs list URL.
        href_runs: String,
        /// Projects list URL.
        href_projects: String,
        /// True when the token acts for a workgroup.
        is_workgroup: bool,
        /// Public-domain user.
        is_public_domain_user: bool,
        /// The person behind a workgroup token.
        logged_in_user: LoggedInUser,
    }
);

/// The person behind a workgroup token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggedInUser {
    /// User ID.
    #[serde(deserialize_with = "id_string", default)]
    pub id: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Public-domain user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_public_domain_user: Option<bool>,
}

resource!(
    /// A user as embedded in other resources (`UserOwnedBy`, `UserCreatedBy`).
    UserCompact {
        /// API URL.
        href: String,
        /// Display name.
        name: String,
        /// Created.
        date_created: String,
        /// Avatar.
        gravatar_url: String,
    }
);

resource!(
    /// A workgroup.
    Workgroup {
        /// Name.
        name: String,
        /// Display name.
        display_name: String,
        /// Enterprise domain.
        domain_name: String,
        /// External provider ID.
        external_provider_id: String,
        /// Collaborative workgroup.
        is_collaborative: bool,
        /// Default workgroup for run uploads.
        is_default_run_upload_workgroup: bool,
        /// Description (Ferry extension, omitted when empty).
        description: String,
    }
);

resource!(
    /// A project.
    Project {
        /// API URL (absolute on v2, relative on v1pre3).
        href: String,
        /// Name.
        name: String,
        /// Description.
        description: String,
        /// Created.
        date_created: String,
        /// Modified.
        date_modified: String,
        /// Owner.
        user_owned_by: UserCompact,
        /// Samples URL.
        href_samples: String,
        /// AppResults URL.
        href_app_results: String,
        /// Datasets URL.
        href_datasets: String,
        /// Web UI URL.
        #[serde(rename = "HrefBaseSpaceUI")]
        href_base_space_ui: String,
        /// Shared with others.
        has_collaborators: bool,
        /// In the trash.
        is_deleted: bool,
        /// Bytes in the project.
        total_size: i64,
    }
);

resource!(
    /// A biosample.
    Biosample {
        /// API URL.
        href: String,
        /// Name (unique within its default project).
        bio_sample_name: String,
        /// Nickname.
        nickname: String,
        /// Owner.
        user_owned_by: UserCompact,
        /// Project the biosample's data goes to by default.
        default_project: Project,
        /// Created.
        date_created: String,
        /// Modified.
        date_modified: String,
        /// Status (`New`).
        status: String,
        /// Lab status (`Sequencing`).
        lab_status: String,
        /// Container.
        container_name: String,
        /// Position in container.
        container_position: String,
        /// Projects holding this biosample's datasets.
        output_project_ids: Vec<String>,
    }
);

resource!(
    /// A dataset type.
    DatasetType {
        /// API URL.
        href: String,
        /// Name (`Illumina Fastq`).
        name: String,
        /// Types this one conforms to (`common.files`, `common.fastq`).
        conforms_to_ids: Vec<String>,
    }
);

/// FASTQ attributes of a dataset (`Attributes.common_fastq`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CommonFastq {
    /// Paired-end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_paired_end: Option<bool>,
    /// Longest read 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length_read1: Option<i64>,
    /// Longest read 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length_read2: Option<i64>,
    /// Longest index read 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length_index_read1: Option<i64>,
    /// Longest index read 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length_index_read2: Option<i64>,
    /// Clusters passing filter.
    #[serde(rename = "TotalClustersPF", skip_serializing_if = "Option::is_none")]
    pub total_clusters_pf: Option<i64>,
    /// Clusters in total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_clusters_raw: Option<i64>,
    /// Reads passing filter.
    #[serde(rename = "TotalReadsPF", skip_serializing_if = "Option::is_none")]
    pub total_reads_pf: Option<i64>,
    /// Reads in total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_reads_raw: Option<i64>,
}

resource!(
    /// A legacy (v1pre3) sample: one FASTQ dataset as the v1pre3 API shows it; `Id` is the number
    /// in the dataset's `V1pre3Id` (`sample.<n>`).
    Sample {
        /// API URL (`v1pre3/samples/<n>`).
        href: String,
        /// Files list URL.
        href_files: String,
        /// Name.
        name: String,
        /// The sample ID from the sample sheet.
        sample_id: String,
        /// Created.
        date_created: String,
        /// Owner.
        user_owned_by: UserCompact,
        /// `Complete` once its files are uploaded.
        status: String,
        /// Paired-end.
        is_paired_end: bool,
        /// Length of read 1.
        read1: i64,
        /// Length of read 2.
        read2: i64,
        /// Reads in total.
        num_reads_raw: i64,
        /// Reads passing filter.
        #[serde(rename = "NumReadsPF")]
        num_reads_pf: i64,
    }
);

/// Dataset attributes: `common_fastq`, plus whatever else the service sends (kept as is).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetAttributes {
    /// FASTQ statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_fastq: Option<CommonFastq>,
    /// Other attribute groups.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

resource!(
    /// An AppSession as embedded in a dataset, or listed.
    AppSession {
        /// API URL.
        href: String,
        /// Name (`BaseSpace CLI 2024-01-01 10:00:00Z`).
        name: String,
        /// Application.
        application: Application,
        /// Creator.
        user_created_by: UserCompact,
        /// `Running`, `Complete`, `Aborted`, …
        execution_status: String,
        /// The same state in v1pre3 answers (`Complete`, `Running`, …).
        status: String,
        /// QC status.
        qc_status: String,
        /// Status summary.
        status_summary: String,
        /// `AppUpload` or `AppTrigger`.
        purpose: String,
        /// Created.
        date_created: String,
        /// Modified.
        date_modified: String,
        /// Started.
        date_started: String,
        /// Completed.
        date_completed: String,
        /// Bytes.
        total_size: i64,
        /// Delivery status.
        delivery_status: String,
    }
);

resource!(
    /// An application.
    Application {
        /// API URL.
        href: String,
        /// Name.
        name: String,
        /// Version.
        version_number: String,
        /// Family slug.
        app_family_slug: String,
        /// Version slug.
        app_version_slug: String,
        /// Company.
        company_name: String,
        /// One-line description.
        short_description: String,
        /// Full description (single application only).
        long_description: String,
        /// `Native`, `Workflow`, `Other`, …
        category: String,
        /// Classifications (`Quality Control`, `Trimming`, …).
        classifications: Vec<String>,
        /// Features.
        features: Vec<String>,
        /// Publish status (`Published`).
        publish_status: String,
        /// Created.
        date_created: String,
        /// Published.
        date_published: String,
        /// Homepage.
        homepage_uri: String,
        /// Logo URL.
        href_logo: String,
        /// Whether launching it is billed.
        is_billing_activated: bool,
        /// Whether it is free.
        is_free: bool,
        /// Settings URL (single application only).
        href_settings: String,
        /// Release notes (single application only).
        release_notes: String,
    }
);

resource!(
    /// An application's settings (`GET /v2/applications/{id}/settings`): the definition's fields,
    /// plus Ferry's launch form (`Form`, a Ferry extension the definition lacks).
    ApplicationSettings {
        /// API URL.
        href: String,
        /// Company.
        company_name: String,
        /// Category.
        category: String,
        /// Homepage.
        homepage_uri: String,
        /// Classifications.
        classifications: Vec<String>,
        /// Where it can be launched from (`Ui`, `Api`).
        launch_sources: Vec<String>,
        /// Feature flags.
        feature_flags: Vec<String>,
        /// Whether some version is published.
        is_any_version_published: bool,
        /// The launch form of this version (Ferry extension).
        form: AppForm,
    }
);

/// An application version's launch form: the options `bs launch application -o id:value` sets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AppForm {
    /// The fields, in display order.
    #[serde(default)]
    pub fields: Vec<AppFormField>,
}

/// One field of an application's launch form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AppFormField {
    /// The option name (`project-id`, `sample-id`, `outcome`).
    pub id: String,
    /// Label shown on the form.
    #[serde(default)]
    pub label: String,
    /// `text`, `number`, `choice`, `checkbox`, `project`, `biosample`, `dataset`.
    #[serde(rename = "Type")]
    pub field_type: String,
    /// Whether a launch must set it.
    #[serde(default)]
    pub required: bool,
    /// Whether it takes several values (comma-separated on the command line).
    #[serde(default)]
    pub multiple: bool,
    /// Allowed values of a `choice` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// Value used when the launch leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Smallest value of a `number` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest value of a `number` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Help text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

resource!(
    /// A dataset (`ds.<32 hex>`).
    Dataset {
        /// API URL.
        href: String,
        /// Files list URL.
        href_files: String,
        /// Name (`Sample_L001`).
        name: String,
        /// Created.
        date_created: String,
        /// Modified.
        date_modified: String,
        /// The AppSession that made it.
        app_session: AppSession,
        /// Project it belongs to.
        project: Project,
        /// Bytes.
        total_size: i64,
        /// Archived (cannot be downloaded).
        is_archived: bool,
        /// In the trash.
        is_deleted: bool,
        /// Owner.
        user_owned_by: UserCompact,
        /// Type.
        dataset_type: DatasetType,
        /// Attributes (`common_fastq`).
        attributes: DatasetAttributes,
        /// QC status.
        qc_status: String,
        /// Upload status (`Completed`, `Pending`, …).
        upload_status: String,
        /// Upload status summary.
        upload_status_summary: String,
        /// Validation status (`Passed`).
        validation_status: String,
        /// Legacy sample ID.
        #[serde(rename = "V1pre3Id", alias = "V1Pre3Id")]
        v1pre3_id: String,
    }
);

resource!(
    /// A file.
    File {
        /// Numeric ID (not in the swagger, sent by the service).
        id_as_long: i64,
        /// API URL.
        href: String,
        /// Content URL.
        href_content: String,
        /// Name.
        name: String,
        /// Path relative to the dataset or run.
        path: String,
        /// MIME type.
        content_type: String,
        /// Bytes.
        size: i64,
        /// Archived.
        is_archived: bool,
        /// Created.
        date_created: String,
        /// Modified.
        date_modified: String,
        /// S3-style ETag (MD5, or md5-of-part-md5s-N).
        #[serde(rename = "ETag", alias = "Etag", alias = "ETAG")]
        etag: String,
        /// `complete`, `pending`, `aborted`.
        upload_status: String,
        /// Parts URL (v1pre3 multipart).
        href_parts: String,
    }
);

/// A subdirectory in a file list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SubDirectory {
    /// URL listing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Instrument of a run (its `Id` is a number on the real service).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Instrument {
    /// ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Type (`NovaSeq6000`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Platform (`NovaSeq`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_name: Option<String>,
}

resource!(
    /// A sequencing run.
    Run {
        /// API URL.
        href: String,
        /// Name.
        name: String,
        /// Experiment name.
        experiment_name: String,
        /// Status (`Complete`).
        status: String,
        /// Created.
        date_created: String,
        /// Modified.
        date_modified: String,
        /// Owner.
        user_owned_by: UserCompact,
        /// Instrument.
        instrument: Instrument,
        /// Flowcell barcode.
        flowcell_barcode: String,
        /// Reagent barcode.
        reagent_barcode: String,
        /// Workflow.
        workflow: String,
        /// Bytes.
        total_size: i64,
        /// Upload status.
        upload_status: String,
        /// Archived.
        is_archived: bool,
        /// Files URL.
        href_files: String,
        /// Legacy ID.
        #[serde(rename = "V1Pre3Id", alias = "V1pre3Id")]
        v1pre3_id: String,
    }
);

/// `?redirect=meta` answer: where the bytes are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContentMeta {
    /// Signed URL of the content.
    pub href_content: String,
    /// When the URL stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Whether the URL honours `Range`.
    #[serde(default)]
    pub supports_range: bool,
}

/// `GET /v2/datasets/{id}/file-upload-info` answer: where to send the bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PresignedUrlForUpload {
    /// PUT the whole file here (one part).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub single_part_url: Option<String>,
    /// Multipart upload ID, to complete with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipart_upload_id: Option<String>,
    /// URL template for parts: `{partNumber}` is replaced by the 1-based part number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipart_template: Option<String>,
    /// Per-part signatures (S3-style services; the hub signs the template instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipart_signatures: Option<Vec<Value>>,
}

/// One part's ETag when completing a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartEtag {
    /// 1-based part number.
    pub part: u32,
    /// The ETag the part PUT returned.
    pub etag: String,
}

/// `POST /v2/datasets/{id}/file-upload-info` body: complete an upload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CompleteUploadRequest {
    /// Multipart upload ID (absent for a single-part upload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Path of the file in the dataset.
    pub file_path: String,
    /// Part ETags, in order.
    pub part_etags: Vec<PartEtag>,
    /// Expected size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_service_quirks() {
        let text = r#"{"Id":11710715826,"Name":"R1.fastq.gz","Size":48526491,"ETag":"3a1f00000000000000000000000083d0-6",
            "IdAsLong":11710715826,"SomethingNew":{"x":1},"DateCreated":"2021-01-01T00:00:00.0000000Z"}"#;
        let file: File = serde_json::from_str(text).unwrap();
        assert_eq!(file.id, "11710715826");
        assert_eq!(file.etag.as_deref(), Some("3a1f00000000000000000000000083d0-6"));
        let dataset: Dataset = serde_json::from_str(
            r#"{"Id":"ds.1","V1pre3Id":"sample.4","Attributes":{"common_fastq":{"IsPairedEnd":true,"TotalReadsPF":10},"other":{"a":1}}}"#,
        )
        .unwrap();
        assert_eq!(dataset.v1pre3_id.as_deref(), Some("sample.4"));
        let fastq = dataset.attributes.as_ref().unwrap().common_fastq.as_ref().unwrap();
        assert_eq!(fastq.total_reads_pf, Some(10));
        let run: Run =
            serde_json::from_str(r#"{"Id":"r.abc","V1Pre3Id":"123","Instrument":{"Id":5,"Name":"NB"}}"#).unwrap();
        assert_eq!(run.v1pre3_id.as_deref(), Some("123"));
        // What the types do not name is kept, and written back out as it came.
        assert_eq!(file.extra["SomethingNew"], serde_json::json!({"x": 1}));
        let run: Run = serde_json::from_str(
            r#"{"Id":"7","Name":"r","SequencingStats":{"PercentGtQ30":93.5},"Properties":{"Items":[]}}"#,
        )
        .unwrap();
        let again = serde_json::to_value(&run).unwrap();
        assert_eq!(again["SequencingStats"]["PercentGtQ30"], 93.5);
        assert_eq!(again["Properties"], serde_json::json!({"Items": []}));
        assert_eq!(again["Name"], "r");
    }

    #[test]
    fn omits_empty_fields_and_reads_both_error_shapes() {
        let text = serde_json::to_string(&Project {
            id: "1".into(),
            name: Some("P".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(text, r#"{"Id":"1","Name":"P"}"#);
        let v1: ErrorBody =
            serde_json::from_str(r#"{"ResponseStatus":{"ErrorCode":"BASESPACE.X","Message":"m"}}"#).unwrap();
        let v2: ErrorBody = serde_json::from_str(r#"{"ErrorCode":"BASESPACE.X","ErrorMessage":"m"}"#).unwrap();
        assert_eq!((v1.code(), v1.message()), (Some("BASESPACE.X"), Some("m")));
        assert_eq!((v2.code(), v2.message()), (Some("BASESPACE.X"), Some("m")));
    }
}
