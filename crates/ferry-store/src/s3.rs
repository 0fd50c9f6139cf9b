//! The S3-compatible backend (AWS S3, MinIO, Ceph RGW, Garage, moto, …) on `object_store`.
//!
//! Layout in the bucket, below the store's prefix:
//! - `<prefix>/<key>`: stored objects;
//! - `<prefix>/.uploads/<upload_id>/<part:05>/<stored at, unix ns:020>.<md5>`: staged multipart
//!   parts. The part's MD5 is part of its name, so listing the staging area gives every part's
//!   number, size and ETag without one request per part; a part uploaded again gets a later
//!   name, which wins (as in S3), and the older ones are removed. Parts larger than one write
//!   buffer are streamed to `<prefix>/.uploads/<upload_id>/.tmp-<uuid>` first and copied
//!   (server side) to their final name once their MD5 is known;
//! - the key `.uploads` (and everything below it) is therefore reserved.
//!
//! Writes are only published by S3 when they complete: a single `PUT` for objects smaller than
//! one part, a multipart upload otherwise. A write whose stream fails, or whose size or MD5
//! does not match, is aborted (also when the future is dropped), so nothing partial is ever
//! visible under a key.
//!
//! Resumable writes keep their partial bytes in a local staging directory
//! ([`S3Options::staging_dir`]) and upload them on [`crate::ResumableWrite::finish`]: S3 cannot
//! append to an object, and an unfinished multipart upload cannot be read back or resumed
//! from another process without its upload id. The trade-off: partial bytes live on the
//! local disk of the process that wrote them, so a resumed write must run on the same machine
//! (or on a shared staging directory).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::signer::{Method, SignedUrlOptions, Signer};
use object_store::{
    ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use sha2::Sha256;

use crate::local::LocalStore;
use crate::{
    BlobReader, CompleteOutcome, Expect, PartOutcome, PutOutcome, Result, StoreError, normalize_etag, validate_key,
};

/// Variables naming where the host's credentials come from, used when no key pair is given.
const HOST_CREDENTIAL_VARIABLES: [&str; 8] = [
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_METADATA_ENDPOINT",
    "AWS_ENDPOINT_URL_STS",
];

/// Name of the staging area for multipart parts, below the prefix.
const UPLOADS: &str = ".uploads";
/// Name prefix of a part being streamed before its MD5 is known.
const TEMP_PREFIX: &str = ".tmp-";
/// Smallest part S3 accepts (except for the last one).
const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts one multipart upload may have.
const MAX_PARTS: u64 = 10_000;

/// How to reach an S3-compatible store. Build it with [`S3Options::from_env`] (the standard AWS
/// variables) and override fields from command-line flags, or fill it in directly.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Options {
    /// Endpoint URL, e.g. `http://127.0.0.1:9000` for MinIO. `None`: AWS S3 for the region.
    pub endpoint: Option<String>,
    /// Region; `us-east-1` when `None`.
    pub region: Option<String>,
    /// Access key id. Without a key pair the host's credentials are used: a web identity
    /// (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`), container credentials
    /// (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`/`_FULL_URI`) or the instance metadata service.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// Allow plain `http://` endpoints (also implied by an endpoint that starts with `http://`).
    pub allow_http: bool,
    /// Address buckets as `bucket.endpoint` instead of `endpoint/bucket` (path style, the default,
    /// which is what most self-hosted stores expect). A custom endpoint is then given without the
    /// bucket (`https://s3.example.org`); the bucket is put in front of its host.
    pub virtual_hosted: bool,
    /// Local directory for the partial bytes of resumable writes. `None`: `ferry/s3-staging` in the
    /// user's cache directory (`$XDG_CACHE_HOME`, else `~/.cache`, else the temporary directory).
    pub staging_dir: Option<PathBuf>,
    /// Size of each part of a multipart write, in bytes (at least 5 MiB; raised automatically when
    /// the announced size needs more than 10 000 parts). Default 8 MiB.
    pub part_size: usize,
    /// Parts uploaded at once by one write. Default 4. Memory per write is about
    /// `part_size × (upload_concurrency + 1)`.
    pub upload_concurrency: usize,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            allow_http: false,
            virtual_hosted: false,
            staging_dir: None,
            part_size: 8 * 1024 * 1024,
            upload_concurrency: 4,
        }
    }
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted", &self.virtual_hosted)
            .field("staging_dir", &self.staging_dir)
            .field("part_size", &self.part_size)
            .field("upload_concurrency", &self.upload_concurrency)
            .finish()
    }
}

impl S3Options {
    /// Options from the standard AWS environment variables: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (else `AWS_DEFAULT_REGION`),
    /// `AWS_ENDPOINT_URL_S3` (else `AWS_ENDPOINT_URL`, else `AWS_ENDPOINT`), `AWS_ALLOW_HTTP`
    /// (`true`/`1`) and `AWS_VIRTUAL_HOSTED_STYLE_REQUEST` (`true`/`1`). Empty values count as unset.
    pub fn from_env() -> S3Options {
        S3Options::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`S3Options::from_env`] with the variables read through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> S3Options {
        let get = |names: &[&str]| {
            names.iter().find_map(|name| {
                lookup(name)
                    .map(|value| value.trim().to_string())
                    .filter(|v| !v.is_empty())
            })
        };
        let flag = |name: &str| {
            get(&[name]).is_some_and(|value| matches!(value.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        };
        S3Options {
            endpoint: get(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]),
            region: get(&["AWS_REGION", "AWS_DEFAULT_REGION"]),
            access_key_id: get(&["AWS_ACCESS_KEY_ID"]),
            secret_access_key: get(&["AWS_SECRET_ACCESS_KEY"]),
            session_token: get(&["AWS_SESSION_TOKEN"]),
            allow_http: flag("AWS_ALLOW_HTTP"),
            virtual_hosted: flag("AWS_VIRTUAL_HOSTED_STYLE_REQUEST"),
            ..S3Options::default()
        }
    }
}

/// Splits `s3://bucket[/prefix]` into bucket and prefix (without surrounding slashes).
pub(crate) fn parse_s3_url(url: &str) -> std::result::Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| "an S3 location starts with s3://".to_string())?;
    if rest.contains(['?', '#']) {
        return Err(
            "an S3 location takes no query or fragment; give the endpoint, region and credentials \
                    as options or AWS_* environment variables"
                .to_string(),
        );
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    validate_bucket(bucket)?;
    let prefix =
        crate::percent_decode(prefix).ok_or_else(|| "the prefix is not valid percent-encoded UTF-8".to_string())?;
    Ok((bucket.to_string(), prefix.trim_end_matches('/').to_string()))
}

fn validate_bucket(bucket: &str) -> std::result::Result<(), String> {
    if bucket.is_empty() {
        return Err("no bucket named: use s3://bucket or s3://bucket/prefix".to_string());
    }
    if bucket.len() > 255
        || bucket.starts_with('.')
        || !bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(format!(
            "{bucket:?} is not a bucket name (letters, digits, '.', '-' and '_' only)"
        ));
    }
    Ok(())
}

/// The endpoint of a virtual-hosted bucket: `https://host` → `https://bucket.host` (unless the
/// host already starts with the bucket).
fn bucket_endpoint(endpoint: &str, bucket: &str) -> std::result::Result<String, String> {
    let mut url =
        url::Url::parse(endpoint).map_err(|error| format!("the endpoint {endpoint:?} is not a URL: {error}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("the endpoint {endpoint:?} names no host"))?
        .to_string();
    if !host.starts_with(&format!("{bucket}.")) {
        url.set_host(Some(&format!("{bucket}.{host}")))
            .map_err(|error| format!("cannot address bucket {bucket:?} at {endpoint:?}: {error}"))?;
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// `attachment; filename="name"` with quotes, backslashes and control characters replaced, plus
/// an RFC 5987 `filename*` when the name is not plain ASCII.
fn content_disposition(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if plain == name {
        return format!("attachment; filename=\"{plain}\"");
    }
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
}

fn cache_dir() -> PathBuf {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    from_env("XDG_CACHE_HOME")
        .or_else(|| from_env("HOME").map(|home| home.join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
}

/// A blob store in an S3-compatible bucket, below a prefix. Cheap to clone (clones share state).
#[derive(Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
}

struct Inner {
    client: AmazonS3,
    bucket: String,
    prefix: String,
    endpoint: Option<String>,
    part_size: usize,
    concurrency: usize,
    staging_dir: PathBuf,
    /// The local store holding partial bytes of resumable writes, created on first use.
    staging: Mutex<Option<LocalStore>>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.inner.bucket)
            .field("prefix", &self.inner.prefix)
            .field("endpoint", &self.inner.endpoint)
            .field("part_size", &self.inner.part_size)
            .field("staging_dir", &self.inner.staging_dir)
            .finish_non_exhaustive()
    }
}

/// An object-store failure, named after the key and the action.
fn remote<'a>(
    store: &'a S3Store,
    key: &'a str,
    action: &'static str,
) -> impl FnOnce(object_store::Error) -> StoreError + 'a {
    move |error| {
        let hint = match &error {
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                " (check the access key and secret: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that they may use the bucket)"
            }
            // Reads map a missing object to `StoreError::NotFound` before calling this; here a 404
            // means the bucket is missing.
            object_store::Error::NotFound { .. } => " (does the bucket exist? Ferry does not create buckets)",
            _ => "",
        };
        StoreError::Remote {
            key: key.to_string(),
            action,
            location: store.url(),
            source: format!("{error}{hint}").into(),
        }
    }
}

/// True when S3 says the bucket itself is missing (a 404 that is not about the object).
fn is_missing_bucket(error: &object_store::Error) -> bool {
    matches!(error, object_store::Error::NotFound { .. }) && error.to_string().contains("NoSuchBucket")
}

/// Aborts a multipart write that is dropped before it finished (an error, a size or checksum
/// mismatch, or a cancelled future), so S3 discards the parts already sent.
struct AbortOnDrop {
    writer: Option<WriteMultipart>,
    key: String,
}

impl AbortOnDrop {
    fn writer(&mut self) -> &mut WriteMultipart {
        self.writer
            .as_mut()
            .expect("the multipart writer is present until finished or aborted")
    }

    async fn abort(mut self) {
        if let Some(writer) = self.writer.take()
            && let Err(error) = abort_settled(writer).await
        {
            tracing::warn!(key = %self.key, %error, "cannot abort an unfinished multipart upload; the bucket's lifecycle rules must remove it");
        }
    }

    async fn finish(mut self) -> object_store::Result<()> {
        let writer = self
            .writer
            .take()
            .expect("the multipart writer is present until finished or aborted");
        writer.finish().await.map(|_| ())
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            let key = std::mem::take(&mut self.key);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(error) = abort_settled(writer).await {
                        tracing::warn!(%key, %error, "cannot abort a cancelled multipart upload");
                    }
                });
            }
        }
    }
}

/// Aborts a multipart upload once the parts already in flight have settled. A part that
/// is still arriving when the abort is handled can outlive it (S3 documents this; its
/// storage would be billed until a lifecycle rule removes it), so the in-flight requests
/// are let finish, successfully or not, before the abort is sent.
async fn abort_settled(mut writer: WriteMultipart) -> object_store::Result<()> {
    let _ = writer.wait_for_capacity(0).await;
    writer.abort().await
}

/// What a streamed write produced.
struct Streamed {
    size: u64,
    md5: [u8; 16],
    sha256: [u8; 32],
}

impl S3Store {
    /// A store for `bucket`, keys below `prefix` (may be empty). Makes no request: a wrong
    /// endpoint or credentials show on first use.
    pub fn new(bucket: &str, prefix: &str, options: &S3Options) -> Result<S3Store> {
        let location = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        let unsupported = |reason: String| StoreError::UnsupportedUrl {
            url: location.clone(),
            reason,
        };
        validate_bucket(bucket).map_err(unsupported)?;
        let prefix = prefix.trim_end_matches('/').to_string();
        if !prefix.is_empty() {
            validate_key(&prefix).map_err(|error| unsupported(format!("the prefix cannot be used: {error}")))?;
        }
        let allow_http = options.allow_http || options.endpoint.as_deref().is_some_and(|e| e.starts_with("http://"));
        // No overall request timeout: a large ranged read streams for as long as its reader
        // consumes it. A stalled connection still fails through the read timeout.
        let client_options = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_timeout_disabled()
            .with_connect_timeout(Duration::from_secs(10))
            .with_read_timeout(Duration::from_secs(120));
        let retry = RetryConfig {
            max_retries: 5,
            retry_timeout: Duration::from_secs(120),
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(options.region.clone().unwrap_or_else(|| "us-east-1".to_string()))
            .with_allow_http(allow_http)
            .with_virtual_hosted_style_request(options.virtual_hosted)
            .with_client_options(client_options)
            .with_retry(retry);
        if let Some(endpoint) = &options.endpoint {
            let endpoint = endpoint.trim_end_matches('/');
            let endpoint = if options.virtual_hosted {
                bucket_endpoint(endpoint, bucket).map_err(unsupported)?
            } else {
                endpoint.to_string()
            };
            builder = builder.with_endpoint(endpoint);
        }
        match (&options.access_key_id, &options.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder.with_access_key_id(id).with_secret_access_key(secret);
                if let Some(token) = &options.session_token {
                    builder = builder.with_token(token);
                }
            }
            (None, None) => {
                // The host's credentials: instance metadata by default, or a container/web-identity
                // source named by the usual variables (EKS, ECS).
                for name in HOST_CREDENTIAL_VARIABLES {
                    if let Ok(value) = std::env::var(name)
                        && !value.is_empty()
                        && let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()
                    {
                        builder = builder.with_config(key, value);
                    }
                }
            }
            _ => {
                return Err(unsupported(
                    "give both an access key id and a secret access key (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), \
                     or neither to use the host's credentials"
                        .to_string(),
                ));
            }
        }
        let client = builder
            .build()
            .map_err(|error| unsupported(format!("the S3 settings are not usable: {error}")))?;
        let staging_dir = options
            .staging_dir
            .clone()
            .unwrap_or_else(|| cache_dir().join("ferry").join("s3-staging"));
        let staging_dir = staging_dir
            .join(bucket)
            .join(if prefix.is_empty() { "_" } else { prefix.as_str() });
        Ok(S3Store {
            inner: Arc::new(Inner {
                client,
                bucket: bucket.to_string(),
                prefix,
                endpoint: options.endpoint.clone(),
                part_size: options.part_size.max(MIN_PART_SIZE),
                concurrency: options.upload_concurrency.max(1),
                staging_dir,
                staging: Mutex::new(None),
            }),
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    /// The key prefix (no leading or trailing `/`; empty for the whole bucket).
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// `s3://bucket/prefix`, for messages.
    pub fn url(&self) -> String {
        match (self.inner.prefix.is_empty(), &self.inner.endpoint) {
            (true, None) => format!("s3://{}", self.inner.bucket),
            (false, None) => format!("s3://{}/{}", self.inner.bucket, self.inner.prefix),
            (true, Some(endpoint)) => format!("s3://{} at {endpoint}", self.inner.bucket),
            (false, Some(endpoint)) => format!("s3://{}/{} at {endpoint}", self.inner.bucket, self.inner.prefix),
        }
    }

    /// The local directory holding partial bytes of resumable writes.
    pub fn staging_dir(&self) -> &std::path::Path {
        &self.inner.staging_dir
    }

    fn full_path(&self, relative: &str) -> Result<ObjectPath> {
        let full = if self.inner.prefix.is_empty() {
            relative.to_string()
        } else {
            format!("{}/{relative}", self.inner.prefix)
        };
        ObjectPath::parse(&full).map_err(|_| StoreError::InvalidKey {
            key: relative.to_string(),
            reason: "it contains a control character",
        })
    }

    /// The object's full key in the bucket (prefix included).
    pub fn object_key(&self, key: &str) -> Result<String> {
        self.object_path(key).map(|path| path.to_string())
    }

    /// Where the object `key` lives in the bucket.
    fn object_path(&self, key: &str) -> Result<ObjectPath> {
        validate_key(key)?;
        if key == UPLOADS || key.starts_with(".uploads/") {
            return Err(StoreError::InvalidKey {
                key: key.to_string(),
                reason: "'.uploads' is reserved for multipart staging",
            });
        }
        self.full_path(key)
    }

    fn upload_path(&self, upload_id: &str) -> Result<ObjectPath> {
        validate_key(upload_id)?;
        if upload_id.contains('/') {
            return Err(StoreError::InvalidKey {
                key: upload_id.to_string(),
                reason: "an upload id is a single path segment (no '/')",
            });
        }
        self.full_path(&format!("{UPLOADS}/{upload_id}"))
    }

    /// A URL that lets anyone holding it `GET` the object for `expires_in`, straight from the
    /// store (AWS signature version 4 in the query string; at most 7 days). With `download_name`
    /// the store answers with `Content-Disposition: attachment; filename="…"`, as BaseSpace's
    /// content URLs do.
    pub async fn presigned_get_url(
        &self,
        key: &str,
        expires_in: Duration,
        download_name: Option<&str>,
    ) -> Result<url::Url> {
        let path = self.object_path(key)?;
        let mut options = SignedUrlOptions::new();
        if let Some(name) = download_name {
            options = options.with_query([("response-content-disposition", content_disposition(name))]);
        }
        self.inner
            .client
            .signed_url_opts(Method::GET, &path, expires_in, &options)
            .await
            .map_err(remote(self, key, "sign a download URL"))
    }

    fn part_size_for(&self, expected: Option<u64>) -> usize {
        let base = self.inner.part_size;
        match expected {
            Some(size) if size > base as u64 * MAX_PARTS => {
                // Round up to whole MiB so that 10 000 parts hold the object.
                let needed = size.div_ceil(MAX_PARTS).div_ceil(1024 * 1024) * 1024 * 1024;
                usize::try_from(needed).unwrap_or(usize::MAX)
            }
            _ => base,
        }
    }

    /// Streams `stream` to `path`, hashing it, and publishes it only when the stream ended
    /// without error within `limit` and `check` accepts what was read. Objects smaller than one
    /// part go up in one `PUT`, larger ones through a multipart upload that is aborted on any
    /// failure (or when this future is dropped).
    async fn write_stream<S, E>(
        &self,
        label: &str,
        path: &ObjectPath,
        stream: S,
        limit: Option<u64>,
        part_size: usize,
        check: impl FnOnce(&Streamed) -> Result<()>,
    ) -> Result<Streamed>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut md5 = Md5::new();
        let mut sha256 = Sha256::new();
        let mut size = 0u64;
        let mut stream = std::pin::pin!(stream);
        let mut next = async |md5: &mut Md5, sha256: &mut Sha256, size: &mut u64| -> Result<Option<Bytes>> {
            match stream.next().await {
                None => Ok(None),
                Some(Err(error)) => Err(StoreError::Source {
                    key: label.to_string(),
                    received: *size,
                    source: error.into(),
                }),
                Some(Ok(chunk)) => {
                    *size += chunk.len() as u64;
                    if let Some(limit) = limit
                        && *size > limit
                    {
                        return Err(StoreError::SizeMismatch {
                            key: label.to_string(),
                            expected: limit,
                            actual: *size,
                        });
                    }
                    md5.update(&chunk);
                    sha256.update(&chunk);
                    Ok(Some(chunk))
                }
            }
        };

        // Read up to one part: a smaller object is a single PUT.
        let mut first = Vec::new();
        let mut buffered = 0usize;
        let mut ended = false;
        while buffered < part_size {
            match next(&mut md5, &mut sha256, &mut size).await? {
                Some(chunk) => {
                    buffered += chunk.len();
                    first.push(chunk);
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            let streamed = Streamed {
                size,
                md5: md5.finalize().into(),
                sha256: sha256.finalize().into(),
            };
            check(&streamed)?;
            self.inner
                .client
                .put(path, PutPayload::from_iter(first))
                .await
                .map_err(remote(self, label, "store the object"))?;
            return Ok(streamed);
        }

        let upload =
            self.inner
                .client
                .put_multipart(path)
                .await
                .map_err(remote(self, label, "start a multipart upload"))?;
        let mut writer = AbortOnDrop {
            writer: Some(WriteMultipart::new_with_chunk_size(upload, part_size)),
            key: label.to_string(),
        };
        for chunk in first {
            writer.writer().put(chunk);
        }
        loop {
            let chunk = match next(&mut md5, &mut sha256, &mut size).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(error) => {
                    writer.abort().await;
                    return Err(error);
                }
            };
            if let Err(error) = writer.writer().wait_for_capacity(self.inner.concurrency).await {
                writer.abort().await;
                return Err(remote(self, label, "upload a part")(error));
            }
            writer.writer().put(chunk);
        }
        let streamed = Streamed {
            size,
            md5: md5.finalize().into(),
            sha256: sha256.finalize().into(),
        };
        if let Err(error) = check(&streamed) {
            writer.abort().await;
            return Err(error);
        }
        writer
            .finish()
            .await
            .map_err(remote(self, label, "complete the multipart upload"))?;
        Ok(streamed)
    }

    pub(crate) async fn put_stream<S, E>(&self, key: &str, stream: S, expect: &Expect) -> Result<PutOutcome>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = self.object_path(key)?;
        let check = |streamed: &Streamed| {
            if let Some(expected) = expect.size
                && streamed.size != expected
            {
                return Err(StoreError::SizeMismatch {
                    key: key.to_string(),
                    expected,
                    actual: streamed.size,
                });
            }
            if let Some(expected) = &expect.md5_hex {
                let actual = hex::encode(streamed.md5);
                if normalize_etag(expected) != actual {
                    return Err(StoreError::ChecksumMismatch {
                        key: key.to_string(),
                        expected: normalize_etag(expected),
                        actual,
                    });
                }
            }
            Ok(())
        };
        let part_size = self.part_size_for(expect.size);
        let streamed = self
            .write_stream(key, &path, stream, expect.size, part_size, check)
            .await?;
        Ok(PutOutcome {
            size: streamed.size,
            md5_hex: hex::encode(streamed.md5),
            sha256_hex: hex::encode(streamed.sha256),
        })
    }

    async fn head_size(&self, key: &str, path: &ObjectPath) -> Result<Option<u64>> {
        match self.inner.client.head(path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(remote(self, key, "read the size")(error)),
        }
    }

    pub(crate) async fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobReader> {
        let path = self.object_path(key)?;
        self.open_path(key, &path, range).await
    }

    async fn open_path(&self, key: &str, path: &ObjectPath, range: Option<Range<u64>>) -> Result<BlobReader> {
        let not_satisfiable = |range: &Range<u64>, size: u64| StoreError::RangeNotSatisfiable {
            key: key.to_string(),
            start: range.start,
            end: range.end,
            size,
        };
        let empty = |size: u64, at: u64| BlobReader {
            size,
            range: at..at,
            stream: futures_util::stream::empty().boxed(),
        };
        let options = match &range {
            None => GetOptions::default(),
            Some(range) if range.start >= range.end => {
                // HTTP cannot ask for an empty range: answer from the size alone.
                let size = self
                    .head_size(key, path)
                    .await?
                    .ok_or_else(|| StoreError::NotFound { key: key.to_string() })?;
                if range.start > range.end || range.start > size {
                    return Err(not_satisfiable(range, size));
                }
                return Ok(empty(size, range.start));
            }
            Some(range) => GetOptions {
                range: Some(GetRange::Bounded(range.clone())),
                ..GetOptions::default()
            },
        };
        match self.inner.client.get_opts(path, options).await {
            Ok(result) => {
                let size = result.meta.size;
                let served = result.range.clone();
                let stream = result.into_stream().map_err(std::io::Error::from).boxed();
                Ok(BlobReader {
                    size,
                    range: served,
                    stream,
                })
            }
            Err(error) if is_missing_bucket(&error) => Err(remote(self, key, "read")(error)),
            Err(object_store::Error::NotFound { .. }) => Err(StoreError::NotFound { key: key.to_string() }),
            Err(error) => {
                // A start at or past the end is refused by S3 (416); tell those cases apart.
                if let Some(range) = &range
                    && let Some(size) = self.head_size(key, path).await?
                    && range.start >= size
                {
                    if range.start == size {
                        return Ok(empty(size, size));
                    }
                    return Err(not_satisfiable(range, size));
                }
                Err(remote(self, key, "read")(error))
            }
        }
    }

    pub(crate) async fn stat(&self, key: &str) -> Result<Option<u64>> {
        let path = self.object_path(key)?;
        self.head_size(key, &path).await
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        let path = self.object_path(key)?;
        match self.inner.client.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(remote(self, key, "delete")(error)),
        }
    }

    /// Every object below `dir`, with its name relative to `dir`.
    async fn list_dir(&self, label: &str, dir: &ObjectPath) -> Result<Vec<(String, object_store::ObjectMeta)>> {
        let mut listing = self.inner.client.list(Some(dir));
        let mut found = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = match meta {
                Ok(meta) => meta,
                Err(object_store::Error::NotFound { .. }) => break,
                Err(error) => return Err(remote(self, label, "list the staged parts")(error)),
            };
            let Some(name) = meta.location.prefix_match(dir).map(|parts| {
                parts
                    .map(|part| part.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            }) else {
                continue;
            };
            found.push((name, meta));
        }
        Ok(found)
    }

    pub(crate) async fn put_part<S, E>(
        &self,
        upload_id: &str,
        part_number: u32,
        stream: S,
        max_part_size: u64,
    ) -> Result<PartOutcome>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let dir = self.upload_path(upload_id)?;
        let label = format!("{upload_id}/{part_number}");
        let temp = dir
            .clone()
            .join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        let part_size = self.part_size_for(Some(max_part_size));
        let too_large = || StoreError::PartTooLarge {
            upload_id: upload_id.to_string(),
            part: part_number,
            max: max_part_size,
        };
        // A part that fits one buffer is written straight under its final name (its MD5 is
        // known before the PUT); a larger one streams to a temporary object first.
        let outcome = {
            let mut md5 = Md5::new();
            let mut size = 0u64;
            let mut stream = std::pin::pin!(stream);
            let mut first = Vec::new();
            let mut more = None;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|error| StoreError::Source {
                    key: label.clone(),
                    received: size,
                    source: error.into(),
                })?;
                size += chunk.len() as u64;
                if size > max_part_size {
                    return Err(too_large());
                }
                if size > part_size as u64 {
                    more = Some(chunk);
                    break;
                }
                md5.update(&chunk);
                first.push(chunk);
            }
            match more {
                None => {
                    let md5_hex = hex::encode(md5.finalize());
                    let name = part_location(&dir, part_number, &md5_hex);
                    self.inner
                        .client
                        .put(&name, PutPayload::from_iter(first))
                        .await
                        .map_err(remote(self, &label, "store the part"))?;
                    self.finish_part(upload_id, part_number, &dir, &name, size, md5_hex)
                        .await?
                }
                Some(chunk) => {
                    let rest =
                        futures_util::stream::iter(first.into_iter().chain([chunk]).map(Ok::<_, std::io::Error>))
                            .chain(stream.map(|item| item.map_err(|error| std::io::Error::other(error.into()))));
                    let streamed = match self
                        .write_stream(&label, &temp, rest, Some(max_part_size), part_size, |_| Ok(()))
                        .await
                    {
                        Err(StoreError::SizeMismatch { .. }) => return Err(too_large()),
                        other => other?,
                    };
                    let md5_hex = hex::encode(streamed.md5);
                    let name = part_location(&dir, part_number, &md5_hex);
                    let copied = self.inner.client.copy(&temp, &name).await;
                    if let Err(error) = self.inner.client.delete(&temp).await {
                        tracing::warn!(upload_id, part_number, %error, "cannot remove a temporary part object");
                    }
                    copied.map_err(remote(self, &label, "move the part into place"))?;
                    self.finish_part(upload_id, part_number, &dir, &name, streamed.size, md5_hex)
                        .await?
                }
            }
        };
        Ok(outcome)
    }

    /// Removes older uploads of the same part (names sort by the time they were stored) and
    /// describes the stored part.
    async fn finish_part(
        &self,
        upload_id: &str,
        part_number: u32,
        dir: &ObjectPath,
        name: &ObjectPath,
        size: u64,
        md5_hex: String,
    ) -> Result<PartOutcome> {
        let versions = dir.clone().join(format!("{part_number:05}"));
        for (_, meta) in self.list_dir(upload_id, &versions).await? {
            if meta.location.as_ref() < name.as_ref()
                && let Err(error) = self.inner.client.delete(&meta.location).await
            {
                tracing::warn!(upload_id, part_number, %error, "cannot remove an older upload of a part");
            }
        }
        Ok(PartOutcome {
            part_number,
            size,
            md5_hex,
        })
    }

    /// Stored parts: part number → (size, md5, location), the newest when several exist.
    async fn stored_parts(&self, upload_id: &str) -> Result<BTreeMap<u32, (u64, String, ObjectPath)>> {
        let dir = self.upload_path(upload_id)?;
        let mut newest: BTreeMap<u32, (String, u64, String, ObjectPath)> = BTreeMap::new();
        for (file, meta) in self.list_dir(upload_id, &dir).await? {
            let Some((number, md5)) = parse_part_name(&file) else {
                continue;
            };
            if newest.get(&number).is_some_and(|seen| seen.0 > file) {
                continue;
            }
            let md5 = md5.to_string();
            newest.insert(number, (file, meta.size, md5, meta.location));
        }
        Ok(newest
            .into_iter()
            .map(|(number, (_, size, md5, location))| (number, (size, md5, location)))
            .collect())
    }

    pub(crate) async fn list_parts(&self, upload_id: &str) -> Result<Vec<(u32, u64, String)>> {
        Ok(self
            .stored_parts(upload_id)
            .await?
            .into_iter()
            .map(|(number, (size, md5, _))| (number, size, md5))
            .collect())
    }

    pub(crate) async fn complete_multipart(
        &self,
        upload_id: &str,
        key: &str,
        parts: &[(u32, String)],
    ) -> Result<CompleteOutcome> {
        let path = self.object_path(key)?;
        let stored = self.stored_parts(upload_id).await?;
        let mut plan = Vec::with_capacity(parts.len());
        let mut total = 0u64;
        let mut part_md5s = Vec::with_capacity(parts.len());
        for (number, etag) in parts {
            let Some((size, md5, location)) = stored.get(number) else {
                return Err(StoreError::MissingPart {
                    upload_id: upload_id.to_string(),
                    part: *number,
                });
            };
            if normalize_etag(etag) != *md5 {
                return Err(StoreError::PartEtagMismatch {
                    upload_id: upload_id.to_string(),
                    part: *number,
                    given: etag.clone(),
                    stored: md5.clone(),
                });
            }
            let mut digest = [0u8; 16];
            hex::decode_to_slice(md5, &mut digest).map_err(|_| StoreError::InvalidPartList {
                upload_id: upload_id.to_string(),
                reason: format!("part {number} has no MD5"),
            })?;
            part_md5s.push(digest);
            total += size;
            plan.push((*number, *size, md5.clone(), location.clone()));
        }

        // Stream the parts in order, re-checking each one's MD5 on the way.
        let store = self.clone();
        let upload = upload_id.to_string();
        let parts_stream = futures_util::stream::iter(plan)
            .then(move |(number, size, md5_hex, location)| {
                let store = store.clone();
                let upload = upload.clone();
                async move {
                    let reader =
                        store.inner.client.get(&location).await.map_err(|error| {
                            std::io::Error::other(format!("cannot read staged part {number}: {error}"))
                        })?;
                    let checked = VerifiedPart {
                        inner: reader.into_stream().map_err(std::io::Error::from).boxed(),
                        md5: Md5::new(),
                        size: 0,
                        expected_size: size,
                        expected_md5: md5_hex,
                        number,
                        upload,
                        done: false,
                    };
                    Ok::<_, std::io::Error>(checked.into_stream())
                }
            })
            .try_flatten()
            // Boxed: the closure's future is then named `Send` once, not per lifetime, which keeps
            // this whole future `Send` (callers run it in spawned tasks and axum handlers).
            .boxed();
        let check = |streamed: &Streamed| {
            if streamed.size != total {
                return Err(StoreError::SizeMismatch {
                    key: key.to_string(),
                    expected: total,
                    actual: streamed.size,
                });
            }
            Ok(())
        };
        let part_size = self.part_size_for(Some(total));
        let streamed = self
            .write_stream(key, &path, parts_stream, Some(total), part_size, check)
            .await?;
        self.abort_multipart(upload_id).await.unwrap_or_else(|error| {
            tracing::warn!(upload_id, %error, "cannot remove the staged parts of a completed upload");
        });
        Ok(CompleteOutcome {
            size: streamed.size,
            etag: ferry_api::etag::multipart_etag(&part_md5s),
            md5_hex: hex::encode(streamed.md5),
            sha256_hex: hex::encode(streamed.sha256),
        })
    }

    pub(crate) async fn abort_multipart(&self, upload_id: &str) -> Result<()> {
        let dir = self.upload_path(upload_id)?;
        let locations = self.list_dir(upload_id, &dir).await?;
        let locations = futures_util::stream::iter(locations.into_iter().map(|(_, meta)| Ok(meta.location))).boxed();
        let mut deleted = self.inner.client.delete_stream(locations);
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(remote(self, upload_id, "remove the staged parts")(error)),
            }
        }
        Ok(())
    }

    /// Removes temporary part objects (`.uploads/*/.tmp-*`) of part uploads that were killed and
    /// not modified for `older_than`. Returns how many were removed. Unfinished multipart uploads
    /// are invisible to listings: a bucket lifecycle rule ("abort incomplete multipart uploads
    /// after N days") removes those.
    pub async fn remove_stale_temporaries(&self, older_than: Duration) -> Result<u64> {
        let dir = self.full_path(UPLOADS)?;
        let cutoff = SystemTime::now() - older_than;
        let mut removed = 0;
        for (name, meta) in self.list_dir(UPLOADS, &dir).await? {
            let is_temp = name
                .rsplit('/')
                .next()
                .is_some_and(|file| file.starts_with(TEMP_PREFIX));
            if is_temp && SystemTime::from(meta.last_modified) <= cutoff {
                match self.inner.client.delete(&meta.location).await {
                    Ok(()) => removed += 1,
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(error) => return Err(remote(self, &name, "remove a stale temporary part")(error)),
                }
            }
        }
        Ok(removed)
    }

    /// The local store holding partial bytes of resumable writes (created on first use).
    pub(crate) fn staging(&self) -> Result<LocalStore> {
        let mut staging = self.inner.staging.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some(store) = staging.as_ref() {
            return Ok(store.clone());
        }
        let store = LocalStore::new(&self.inner.staging_dir)?;
        *staging = Some(store.clone());
        Ok(store)
    }

    /// Checks the key as an object key (the staging area only checks it as a path).
    pub(crate) fn check_key(&self, key: &str) -> Result<()> {
        self.object_path(key).map(|_| ())
    }
}

/// Where a part is stored: `<dir>/<part:05>/<unix nanoseconds:020>.<md5>`, so that the names of
/// one part's uploads sort by the time they were stored.
fn part_location(dir: &ObjectPath, part_number: u32, md5_hex: &str) -> ObjectPath {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    dir.clone()
        .join(format!("{part_number:05}"))
        .join(format!("{nanos:020}.{md5_hex}"))
}

/// `NNNNN/<20 digits>.<32 hex>` → (part number, md5).
fn parse_part_name(name: &str) -> Option<(u32, &str)> {
    let (number, file) = name.split_once('/')?;
    let (stamp, md5) = file.split_once('.')?;
    if number.len() != 5
        || stamp.len() != 20
        || !stamp.bytes().all(|b| b.is_ascii_digit())
        || md5.len() != 32
        || !md5.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    Some((number.parse().ok()?, md5))
}

/// A staged part's bytes, failing at the end when its size or MD5 no longer match its name.
struct VerifiedPart {
    inner: BoxStream<'static, std::io::Result<Bytes>>,
    md5: Md5,
    size: u64,
    expected_size: u64,
    expected_md5: String,
    number: u32,
    upload: String,
    done: bool,
}

impl VerifiedPart {
    fn into_stream(self) -> BoxStream<'static, std::io::Result<Bytes>> {
        futures_util::stream::unfold(self, |mut part| async move {
            if part.done {
                return None;
            }
            match part.inner.next().await {
                Some(Ok(chunk)) => {
                    part.md5.update(&chunk);
                    part.size += chunk.len() as u64;
                    Some((Ok(chunk), part))
                }
                Some(Err(error)) => {
                    part.done = true;
                    Some((Err(error), part))
                }
                None => {
                    part.done = true;
                    let md5 = hex::encode(std::mem::take(&mut part.md5).finalize());
                    if md5 == part.expected_md5 && part.size == part.expected_size {
                        None
                    } else {
                        let error = std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!(
                                "staged part {} of upload {:?} changed in the store (its MD5 no longer matches); upload it again",
                                part.number, part.upload
                            ),
                        );
                        Some((Err(error), part))
                    }
                }
            }
        })
        .boxed()
    }
}
