//! A store to test: a local directory, or a prefix in a bucket of an S3 server (in-process
//! s3s-fs, or the endpoint named by `FERRY_TEST_S3_ENDPOINT`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_store::{BlobStore, S3Options};
use futures_util::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3, AmazonS3Builder};

/// Credentials the in-process server accepts.
pub const ACCESS_KEY: &str = "ferry-test-key";
/// Secret the in-process server accepts.
pub const SECRET_KEY: &str = "ferry-test-secret";
/// Bucket created in the in-process server.
pub const BUCKET: &str = "ferry-test";
/// The smallest part size S3 allows, so multipart paths run with little data.
pub const PART_SIZE: usize = 5 * 1024 * 1024;

/// An s3s-fs server on 127.0.0.1, stopped when dropped.
pub struct S3sServer {
    pub endpoint: String,
    pub root: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3sServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3sServer {
    /// Serves the directory `root` (buckets are its subdirectories) with our test credentials.
    pub async fn start(root: &Path) -> S3sServer {
        std::fs::create_dir_all(root).unwrap();
        let fs = s3s_fs::FileSystem::new(root).unwrap_or_else(|error| panic!("s3s-fs: {error:?}"));
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let connection = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = connection.serve_connection(TokioIo::new(socket), service).await;
                });
            }
        });
        S3sServer {
            endpoint,
            root: root.to_path_buf(),
            task,
        }
    }

    /// Creates a bucket (s3s-fs keeps a bucket as a directory; object_store cannot create one).
    pub fn create_bucket(&self, name: &str) {
        std::fs::create_dir_all(self.root.join(name)).unwrap();
    }

    /// Multipart uploads started and neither completed nor aborted (s3s-fs keeps their parts
    /// as `.upload_id-*` files in its root).
    pub fn pending_upload_parts(&self) -> usize {
        std::fs::read_dir(&self.root)
            .unwrap()
            .filter(|entry| {
                entry
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".upload_id-")
            })
            .count()
    }
}

/// Where an S3 harness stores.
pub struct S3Target {
    /// The in-process server, when no external endpoint was given.
    pub server: Option<S3sServer>,
    pub bucket: String,
    pub prefix: String,
    pub options: S3Options,
}

impl S3Target {
    /// A raw client for the bucket, to look behind the store's back.
    pub fn raw(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(self.options.region.clone().unwrap_or_else(|| "us-east-1".into()))
            .with_endpoint(self.options.endpoint.clone().unwrap())
            .with_allow_http(true)
            .with_access_key_id(self.options.access_key_id.clone().unwrap())
            .with_secret_access_key(self.options.secret_access_key.clone().unwrap())
            .build()
            .unwrap()
    }
}

/// A store under test, with what is needed to look at what it left behind.
pub struct Harness {
    pub store: BlobStore,
    pub s3: Option<S3Target>,
    pub dir: tempfile::TempDir,
}

impl Harness {
    /// A local store in a fresh directory.
    pub async fn local() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path().join("store")).unwrap();
        Harness { store, s3: None, dir }
    }

    /// An S3 store under a fresh prefix: on `FERRY_TEST_S3_ENDPOINT` when set, else on an
    /// in-process s3s-fs server.
    pub async fn s3() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("ferry-test/{}", uuid::Uuid::new_v4().simple());
        let external = std::env::var("FERRY_TEST_S3_ENDPOINT")
            .ok()
            .filter(|value| !value.is_empty());
        let (server, bucket, mut options) = match external {
            Some(endpoint) => {
                let bucket = std::env::var("FERRY_TEST_S3_BUCKET")
                    .expect("FERRY_TEST_S3_BUCKET must name an existing bucket when FERRY_TEST_S3_ENDPOINT is set");
                let mut options = S3Options::from_env();
                options.endpoint = Some(endpoint);
                options.access_key_id.get_or_insert_with(|| "testing".into());
                options.secret_access_key.get_or_insert_with(|| "testing".into());
                (None, bucket, options)
            }
            None => {
                let server = S3sServer::start(&dir.path().join("s3s")).await;
                server.create_bucket(BUCKET);
                let options = S3Options {
                    endpoint: Some(server.endpoint.clone()),
                    access_key_id: Some(ACCESS_KEY.into()),
                    secret_access_key: Some(SECRET_KEY.into()),
                    ..S3Options::default()
                };
                (Some(server), BUCKET.to_string(), options)
            }
        };
        options.staging_dir = Some(dir.path().join("staging"));
        options.part_size = PART_SIZE;
        let store = BlobStore::s3(&bucket, &prefix, &options).unwrap();
        Harness {
            store,
            s3: Some(S3Target {
                server,
                bucket,
                prefix,
                options,
            }),
            dir,
        }
    }

    pub fn is_s3(&self) -> bool {
        self.s3.is_some()
    }

    /// True on the in-process s3s-fs server.
    pub fn is_s3s_fs(&self) -> bool {
        self.s3.as_ref().is_some_and(|target| target.server.is_some())
    }

    /// A new store over the same place, as after a restart.
    pub fn reopen(&self) -> BlobStore {
        match &self.s3 {
            None => BlobStore::local(self.dir.path().join("store")).unwrap(),
            Some(target) => BlobStore::s3(&target.bucket, &target.prefix, &target.options).unwrap(),
        }
    }

    /// Everything stored, sorted: object keys as they are, staged parts as
    /// `.uploads/<upload>/<file>`, and any temporary file by its path. Partial bytes of
    /// resumable writes are not included.
    pub async fn visible(&self) -> Vec<String> {
        let mut found = Vec::new();
        match &self.s3 {
            None => {
                let root = self.dir.path().join("store");
                walk(&root.join("objects"), "", &mut found);
                walk(&root.join("uploads"), ".uploads/", &mut found);
            }
            Some(target) => {
                let raw = target.raw();
                let prefix = object_store::path::Path::parse(&target.prefix).unwrap();
                let mut listing = raw.list(Some(&prefix));
                while let Some(meta) = listing.next().await {
                    let location = meta.unwrap().location.to_string();
                    found.push(location[target.prefix.len() + 1..].to_string());
                }
            }
        }
        found.sort();
        found
    }

    /// Waits until the S3 server holds no unfinished multipart upload (s3s-fs only; other
    /// servers do not show them).
    pub async fn assert_no_pending_uploads(&self) {
        let Some(server) = self.s3.as_ref().and_then(|target| target.server.as_ref()) else {
            return;
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while server.pending_upload_parts() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} multipart parts were never aborted",
                server.pending_upload_parts()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn walk(dir: &Path, prefix: &str, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().unwrap().is_dir() {
            walk(&entry.path(), &format!("{name}/"), found);
        } else {
            found.push(name);
        }
    }
}
