//! The OpenAPI 3 document of the JSON API, served at `/api/openapi.json`.

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok_json(description: &str, schema: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn list_of(schema: &str) -> Value {
    json!({ "type": "object", "required": ["items"], "properties": { "items": { "type": "array", "items": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn id_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

/// The document.
pub(crate) fn document() -> Value {
    let standard_errors = |extra: &[(&str, &str)]| {
        let mut responses = serde_json::Map::new();
        responses.insert("401".into(), error_response("Missing or invalid API key"));
        for (code, text) in extra {
            responses.insert((*code).into(), error_response(text));
        }
        responses
    };
    let with = |mut base: serde_json::Map<String, Value>, code: &str, value: Value| {
        base.insert(code.to_string(), value);
        Value::Object(base)
    };
    let api_key_properties = |with_key: bool| {
        let mut properties = json!({
            "id": { "type": "string", "description": "Key id (not secret): revoke with DELETE /api/v1/api-keys/{id}" },
            "name": { "type": "string" },
            "status": { "type": "string", "enum": ["active", "expired", "revoked"] },
            "created_at": { "type": "string" }, "expires_at": nullable("string"),
            "last_used_at": { "type": ["string", "null"], "description": "Updated at most once a minute" },
            "revoked_at": nullable("string")
        });
        if with_key {
            properties["key"] =
                json!({ "type": "string", "description": "The key itself: shown only in this answer, store it now" });
        }
        properties
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Ferry workspace API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Link a BaseSpace account, browse it, import FASTQ data as verified workspace samples. \
                Authenticate with `Authorization: Bearer <api key>` (create a key on the Profile page or with `ferry workspace api-key --user EMAIL`); \
                a revoked or expired key gets 401 with an error saying so. \
                Errors are `{\"error\": \"…\"}` with a 4xx or 5xx status. Lists are `{\"items\": […]}` holding every item."
        },
        "security": [{ "apiKey": [] }],
        "paths": {
            "/api/v1/basespace-account": {
                "get": {
                    "summary": "The linked BaseSpace account (never the token)",
                    "operationId": "getBaseSpaceAccount",
                    "responses": with(standard_errors(&[("404", "No account linked")]), "200", ok_json("The link", "BaseSpaceAccount"))
                },
                "put": {
                    "summary": "Link (or re-link) a BaseSpace account: the token is checked with GET /v2/users/current of the region, then stored encrypted",
                    "operationId": "linkBaseSpaceAccount",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/LinkRequest" } } } },
                    "responses": with(standard_errors(&[
                        ("400", "Bad input (no token, unknown region, bad URL)"),
                        ("422", "The server rejected the token (invalid, revoked, or made for another region)"),
                        ("502", "The BaseSpace server could not be reached or failed")
                    ]), "200", ok_json("Linked", "BaseSpaceAccount"))
                },
                "delete": {
                    "summary": "Unlink; with revoke=true the token is first revoked at BaseSpace",
                    "operationId": "unlinkBaseSpaceAccount",
                    "parameters": [{ "name": "revoke", "in": "query", "required": false, "schema": { "type": "boolean" } }],
                    "responses": with(standard_errors(&[("404", "No account linked")]), "200", ok_json("Unlinked", "Unlinked"))
                }
            },
            "/api/v1/basespace/projects": {
                "get": {
                    "summary": "Every project of the linked account (all pages), with biosample counts",
                    "operationId": "listBaseSpaceProjects",
                    "parameters": [{ "name": "q", "in": "query", "required": false, "description": "Name or ID contains (case-insensitive)", "schema": { "type": "string" } }],
                    "responses": with(standard_errors(&[("404", "No account linked"), ("422", "Token rejected"), ("502", "BaseSpace failed")]), "200",
                        json!({ "description": "Projects", "content": { "application/json": { "schema": list_of("BsProject") } } }))
                }
            },
            "/api/v1/basespace/projects/{id}/biosamples": {
                "get": {
                    "summary": "Every biosample of a project with its FASTQ datasets",
                    "operationId": "listBaseSpaceProjectBiosamples",
                    "parameters": [id_param("id", "BaseSpace project ID")],
                    "responses": with(standard_errors(&[("404", "No account linked, or no such project"), ("502", "BaseSpace failed")]), "200",
                        json!({ "description": "Biosamples", "content": { "application/json": { "schema": list_of("BsBiosample") } } }))
                }
            },
            "/api/v1/basespace/runs": {
                "get": {
                    "summary": "Every run of the linked account (all pages)",
                    "operationId": "listBaseSpaceRuns",
                    "parameters": [{ "name": "q", "in": "query", "required": false, "schema": { "type": "string" } }],
                    "responses": with(standard_errors(&[("404", "No account linked"), ("502", "BaseSpace failed")]), "200",
                        json!({ "description": "Runs", "content": { "application/json": { "schema": list_of("BsRun") } } }))
                }
            },
            "/api/v1/basespace/runs/{id}/datasets": {
                "get": {
                    "summary": "The FASTQ datasets a run produced",
                    "operationId": "listBaseSpaceRunDatasets",
                    "parameters": [id_param("id", "BaseSpace run ID")],
                    "responses": with(standard_errors(&[("404", "No account linked, or no such run"), ("502", "BaseSpace failed")]), "200",
                        json!({ "description": "Datasets", "content": { "application/json": { "schema": list_of("BsDataset") } } }))
                }
            },
            "/api/v1/imports": {
                "get": {
                    "summary": "The user's imports, newest first",
                    "operationId": "listImports",
                    "responses": with(standard_errors(&[]), "200",
                        json!({ "description": "Imports", "content": { "application/json": { "schema": list_of("ImportStatus") } } }))
                },
                "post": {
                    "summary": "Start an import of projects, biosamples and/or runs; it runs in the background",
                    "operationId": "createImport",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ImportRequest" } } } },
                    "responses": with(standard_errors(&[("400", "Nothing selected or bad options"), ("409", "No BaseSpace account linked")]), "202",
                        ok_json("Queued; poll status_url", "ImportCreated"))
                }
            },
            "/api/v1/imports/{id}": {
                "get": {
                    "summary": "Progress and report of an import",
                    "operationId": "getImport",
                    "parameters": [id_param("id", "Import ID")],
                    "responses": with(standard_errors(&[("404", "No such import")]), "200", ok_json("The import", "ImportStatus"))
                }
            },
            "/api/v1/imports/{id}/cancel": {
                "post": {
                    "summary": "Cancel an import: queued files are cancelled, running ones stop at their next chunk",
                    "operationId": "cancelImport",
                    "parameters": [id_param("id", "Import ID")],
                    "responses": with(standard_errors(&[("404", "No such import")]), "200", ok_json("The import", "ImportStatus"))
                }
            },
            "/api/v1/samples": {
                "get": {
                    "summary": "The user's samples, newest first",
                    "operationId": "listSamples",
                    "responses": with(standard_errors(&[]), "200",
                        json!({ "description": "Samples", "content": { "application/json": { "schema": list_of("SampleSummary") } } }))
                }
            },
            "/api/v1/samples/{id}": {
                "get": {
                    "summary": "A sample with its files, statistics, checksums and provenance",
                    "operationId": "getSample",
                    "parameters": [id_param("id", "Sample ID")],
                    "responses": with(standard_errors(&[("404", "No such sample")]), "200", ok_json("The sample", "SampleDetail"))
                },
                "delete": {
                    "summary": "Delete a sample and its stored files",
                    "operationId": "deleteSample",
                    "parameters": [id_param("id", "Sample ID")],
                    "responses": with(standard_errors(&[("404", "No such sample")]), "204", json!({ "description": "Deleted" }))
                }
            },
            "/api/v1/samples/{id}/resume": {
                "post": {
                    "summary": "Import again what a failed or cancelled sample is missing (verified files are kept)",
                    "operationId": "resumeSample",
                    "parameters": [id_param("id", "Sample ID")],
                    "responses": with(standard_errors(&[("404", "No such sample"), ("400", "The sample is not failed or cancelled")]), "202", ok_json("The new import", "ImportCreated"))
                }
            },
            "/api/v1/api-keys": {
                "get": {
                    "summary": "The user's API keys, newest first, revoked and expired ones included (never the keys themselves)",
                    "operationId": "listApiKeys",
                    "responses": with(standard_errors(&[]), "200",
                        json!({ "description": "API keys", "content": { "application/json": { "schema": list_of("ApiKey") } } }))
                },
                "post": {
                    "summary": "Create an API key; the answer is the only time the key is shown. A key that expires cannot create one that lives longer",
                    "operationId": "createApiKey",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ApiKeyRequest" } } } },
                    "responses": with(standard_errors(&[("400", "Bad name or lifetime"), ("403", "The calling key expires before the new one would")]), "201",
                        ok_json("Created", "CreatedApiKey"))
                }
            },
            "/api/v1/api-keys/{id}": {
                "delete": {
                    "summary": "Revoke one of the user's API keys: from now on it gets 401",
                    "operationId": "revokeApiKey",
                    "parameters": [id_param("id", "API key ID")],
                    "responses": with(standard_errors(&[("404", "The user has no key with this ID")]), "200", ok_json("The revoked key", "ApiKey"))
                }
            },
            "/api/v1/samples/{id}/files/{file_id}/content": {
                "get": {
                    "summary": "Download a verified file",
                    "operationId": "downloadSampleFile",
                    "parameters": [id_param("id", "Sample ID"), id_param("file_id", "File ID")],
                    "responses": with(standard_errors(&[("404", "No such file, or not completely imported")]), "200",
                        json!({ "description": "The bytes", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } }))
                }
            }
        },
        "components": {
            "securitySchemes": { "apiKey": { "type": "http", "scheme": "bearer", "description": "Workspace API key" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
                "ApiKeyRequest": { "type": "object", "properties": {
                    "name": { "type": "string", "description": "To recognise the key by (at most 100 characters)" },
                    "expires_in": { "type": ["string", "null"], "description": "Lifetime: a number and m, h, d or w (90m, 12h, 30d, 1w); absent, null or \"never\": never expires",
                        "examples": ["30d", "12h"] } } },
                "ApiKey": { "type": "object", "required": ["id", "name", "status", "created_at"], "properties": api_key_properties(false) },
                "CreatedApiKey": { "type": "object", "required": ["id", "name", "status", "created_at", "key"], "properties": api_key_properties(true) },
                "LinkRequest": {
                    "type": "object", "required": ["access_token"],
                    "description": "Give region (USE1, EUC1, EUW2, CAC1, APS2, APS4, CNN1) or api_server (a custom server such as a Ferry hub).",
                    "properties": {
                        "access_token": { "type": "string", "writeOnly": true },
                        "region": { "type": "string", "examples": ["USE1", "EUC1", "custom"] },
                        "api_server": { "type": "string", "format": "uri", "description": "A custom API server (a Ferry hub, or a server the administrator allows): give it with region \"custom\" or without a region. With one of Illumina's regions it is refused (400), not ignored." }
                    }
                },
                "BaseSpaceUser": { "type": "object", "required": ["id", "name", "email"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "email": { "type": "string" } } },
                "BaseSpaceAccount": { "type": "object", "required": ["linked", "basespace_user", "api_server", "region", "context", "token_last4"], "properties": {
                    "linked": { "type": "boolean" },
                    "basespace_user": { "$ref": "#/components/schemas/BaseSpaceUser" },
                    "api_server": { "type": "string" }, "region": { "type": "string" }, "region_label": { "type": "string" },
                    "context": { "type": "string", "description": "Personal, or Workgroup: NAME" },
                    "token_last4": { "type": "string" }, "linked_at": { "type": "string", "format": "date-time", "description": "When the token was linked (RFC 3339, UTC)" },
                    "token_rejected_at": { "type": ["string", "null"], "format": "date-time", "description": "When BaseSpace last rejected the token while the workspace used it (RFC 3339, UTC); null when it has not been rejected since it was linked or last worked. Set a new token when it is not null." } } },
                "Unlinked": { "type": "object", "properties": { "linked": { "type": "boolean" }, "revoked": { "type": "boolean" }, "warning": nullable("string") } },
                "BsProject": { "type": "object", "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "size": { "type": "integer" },
                    "biosample_count": { "type": "integer" }, "date_created": nullable("string") } },
                "BsDataset": { "type": "object", "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "lane": nullable("integer"),
                    "paired_end": nullable("boolean"), "size": { "type": "integer" }, "reads": nullable("integer") } },
                "BsBiosample": { "type": "object", "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "lanes": { "type": "array", "items": { "type": "integer" } },
                    "paired_end": nullable("boolean"), "size": { "type": "integer" }, "reads": nullable("integer"),
                    "datasets": { "type": "array", "items": { "$ref": "#/components/schemas/BsDataset" } } } },
                "BsRun": { "type": "object", "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "experiment_name": nullable("string"),
                    "status": nullable("string"), "size": { "type": "integer" }, "date_created": nullable("string") } },
                "ImportRequest": { "type": "object", "properties": {
                    "project_ids": { "type": "array", "items": { "type": "string" } },
                    "biosample_ids": { "type": "array", "items": { "type": "string" } },
                    "run_ids": { "type": "array", "items": { "type": "string" } },
                    "dataset_ids": { "type": "array", "items": { "type": "string" }, "description": "FASTQ datasets picked one by one (a run's lanes, say), grouped into samples by the sample names in their files" },
                    "merge_into": { "type": ["string", "null"], "description": "Merge everything into one sample with this name" },
                    "skip_undetermined": { "type": "boolean", "default": true },
                    "genome": nullable("string"), "data_type": nullable("string"), "platform": nullable("string"),
                    "workspace_project": nullable("string"),
                    "on_conflict": { "type": "string", "enum": ["skip", "rename", "replace"], "default": "skip" } } },
                "ImportCreated": { "type": "object", "required": ["id"], "properties": { "id": { "type": "string" }, "status_url": { "type": "string" } } },
                "ImportSample": { "type": "object", "required": ["id", "name", "status"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "status": { "type": "string" }, "reason": { "type": "string" } } },
                "ReportEntry": { "type": "object", "description": "What the import did with one BaseSpace biosample, kept as it happened.",
                    "required": ["biosample_id", "biosample_name", "status", "sample_exists"], "properties": {
                    "biosample_id": { "type": "string" }, "biosample_name": { "type": "string" }, "sample_id": { "type": "string" },
                    "sample_name": { "type": "string" },
                    "status": { "type": "string", "enum": ["queued", "running", "completed", "failed", "cancelled", "skipped", "already_imported"] },
                    "reason": { "type": "string" },
                    "sample_exists": { "type": "boolean", "description": "Whether the workspace sample still exists (it may have been deleted or replaced since)." } } },
                "ImportStatus": { "type": "object",
                    "required": ["id", "title", "status", "files_total", "files_done", "files_failed", "files_cancelled", "bytes_total", "bytes_done", "samples", "errors"],
                    "properties": {
                        "id": { "type": "string" },
                        "title": { "type": "string", "description": "What is imported, by BaseSpace names (before planning: a description of the request)." },
                        "status": { "type": "string", "enum": ["queued", "running", "completed", "failed", "cancelled"] },
                        "request": { "$ref": "#/components/schemas/ImportRequest" },
                        "files_total": { "type": "integer" }, "files_done": { "type": "integer" }, "files_failed": { "type": "integer" },
                        "files_cancelled": { "type": "integer", "description": "Files stopped before they finished (import cancelled, sample deleted or replaced)." },
                        "bytes_total": { "type": "integer" }, "bytes_done": { "type": "integer" },
                        "rate_bytes_per_sec": { "type": "number" }, "eta_seconds": nullable("integer"),
                        "samples": { "type": "array", "items": { "$ref": "#/components/schemas/ImportSample" } },
                        "errors": { "type": "array", "items": { "type": "string" } },
                        "report": { "type": "array", "items": { "$ref": "#/components/schemas/ReportEntry" } },
                        "created_at": { "type": "string" }, "started_at": nullable("string"), "finished_at": nullable("string") } },
                "SampleSource": { "type": "object", "properties": {
                    "api_server": { "type": "string" }, "project_id": nullable("string"), "biosample_id": nullable("string"),
                    "project_ids": { "type": "array", "items": { "type": "string" } },
                    "biosample_ids": { "type": "array", "items": { "type": "string" } },
                    "biosample_names": { "type": "array", "items": { "type": "string" } },
                    "run_ids": { "type": "array", "items": { "type": "string" } } } },
                "FileSource": { "type": "object", "properties": {
                    "api_server": { "type": "string" }, "project_id": nullable("string"), "biosample_id": nullable("string"),
                    "dataset_id": { "type": "string" }, "file_id": { "type": "string" }, "etag": { "type": "string" } } },
                "SampleFile": { "type": "object", "required": ["id", "name", "size", "status"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" },
                    "read": nullable("integer"), "lane": nullable("integer"),
                    "size": { "type": "integer" }, "bytes_done": { "type": "integer" },
                    "md5": nullable("string"), "sha256": nullable("string"),
                    "reads": nullable("integer"), "bases": nullable("integer"),
                    "mean_quality": nullable("number"), "gc_percent": nullable("number"), "q30_percent": nullable("number"),
                    "min_length": nullable("integer"), "max_length": nullable("integer"),
                    "status": { "type": "string" }, "reason": nullable("string"),
                    "source": { "$ref": "#/components/schemas/FileSource" } } },
                "SampleSummary": { "type": "object", "required": ["id", "name", "status"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "status": { "type": "string" }, "reason": nullable("string"),
                    "file_count": { "type": "integer" }, "size": { "type": "integer" }, "reads": nullable("integer"),
                    "paired": { "type": "boolean" }, "genome": nullable("string"), "data_type": nullable("string"),
                    "platform": nullable("string"), "workspace_project": nullable("string"), "import_id": nullable("string"),
                    "source": { "$ref": "#/components/schemas/SampleSource" }, "created_at": { "type": "string" } } },
                "SampleDetail": { "type": "object", "required": ["id", "name", "files", "source"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "status": { "type": "string" }, "reason": nullable("string"),
                    "files": { "type": "array", "items": { "$ref": "#/components/schemas/SampleFile" } },
                    "genome": nullable("string"), "data_type": nullable("string"), "platform": nullable("string"),
                    "workspace_project": nullable("string"), "import_id": nullable("string"),
                    "source": { "$ref": "#/components/schemas/SampleSource" }, "created_at": { "type": "string" } } }
            }
        }
    })
}
