//! [`S3BlobStore`]: blobs in S3 or an S3-compatible store (custom endpoint, path-style
//! addressing) with `aws-sdk-s3`. Credentials, region and endpoint come from the standard AWS
//! chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, IAM roles, loaded by `devflow_aws`) unless
//! [`S3Options`] overrides them. Retries are the SDK's standard ones. Files larger than one
//! part go up as a multipart upload, aborted when any part fails, so a failed put leaves no
//! object and no parts billed.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use devflow_aws::{chain, credentials_problem, AwsOptions, StaticKeys};
use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

use crate::{BlobError, BlobInfo, BlobLocation, BlobStore};

/// 8 MiB: the part size of multipart uploads, and the size above which a put uses one. (S3
/// wants parts of at least 5 MiB, except the last.)
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;

/// S3's smallest part but the last.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// S3's most parts in one upload.
const MAX_PARTS: u64 = 10_000;

/// How to reach S3. `Default` = everything from the standard AWS chain.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); `None` = the SDK's choice
    /// (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile, else AWS's regional one).
    pub endpoint: Option<String>,
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`: what most
    /// S3-compatible stores need, and presigned URLs that work without wildcard DNS.
    pub force_path_style: bool,
    /// `None` = from the chain (`AWS_REGION`, the profile), else us-east-1.
    pub region: Option<String>,
    /// Multipart part size; objects larger than this are uploaded in parts.
    pub part_size: u64,
    /// Parts in flight at once.
    pub part_concurrency: usize,
    /// Attempts per call, with the SDK's standard back-off between them.
    pub max_attempts: u32,
    pub connect_timeout: Duration,
    /// An access key id and secret to use instead of the chain's (tests, tools).
    pub credentials: Option<(String, String)>,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            endpoint: None,
            force_path_style: false,
            region: None,
            part_size: DEFAULT_PART_SIZE,
            part_concurrency: 4,
            max_attempts: 3,
            connect_timeout: Duration::from_secs(5),
            credentials: None,
        }
    }
}

/// Blobs in S3.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    /// For error messages: the endpoint in use.
    endpoint: String,
    part_size: u64,
    part_concurrency: usize,
}

/// What a call was about, for its error message.
enum Target<'a> {
    Bucket(&'a str),
    Object(&'a BlobLocation),
}

impl Target<'_> {
    fn bucket(&self) -> &str {
        match self {
            Target::Bucket(bucket) => bucket,
            Target::Object(at) => &at.bucket,
        }
    }

    fn resource(&self) -> String {
        match self {
            Target::Bucket(bucket) => format!("s3://{bucket}"),
            Target::Object(at) => at.to_string(),
        }
    }

    fn arn(&self) -> String {
        match self {
            Target::Bucket(bucket) => format!("arn:aws:s3:::{bucket}"),
            Target::Object(at) => format!("arn:aws:s3:::{}/{}", at.bucket, at.key),
        }
    }
}

impl S3BlobStore {
    /// A client from the standard AWS chain and `options`. Loading touches no network; the
    /// first call does (see [`BlobStore::check_bucket`] to fail early).
    pub async fn connect(options: S3Options) -> S3BlobStore {
        let shared = devflow_aws::load_shared_config(&AwsOptions {
            service: "S3",
            region: options.region.as_deref(),
            credentials: StaticKeys::named(options.credentials.as_ref(), "devflow-s3-options"),
        })
        .await;
        let mut builder = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(options.force_path_style)
            .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts.max(1)))
            // Only the connection is bounded: a large part may rightly take minutes.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(options.connect_timeout)
                    .build(),
            );
        let custom_endpoint = devflow_aws::endpoint_in_use(
            options.endpoint.as_deref(),
            &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
            &shared,
        );
        if let Some(url) = &options.endpoint {
            builder = builder.endpoint_url(url.clone());
        }
        if custom_endpoint.is_some() {
            // S3-compatible stores often do not know the newer flexible checksums (CRC32 in
            // an aws-chunked trailer); AWS's own S3 keeps the SDK's default.
            builder = builder
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        let endpoint = custom_endpoint
            .unwrap_or_else(|| format!("of AWS S3 in {}", devflow_aws::region(&shared)));
        S3BlobStore {
            client: Client::from_conf(builder.build()),
            endpoint,
            part_size: options.part_size.max(MIN_PART_SIZE),
            part_concurrency: options.part_concurrency.max(1),
        }
    }

    /// The SDK client, for callers that need an S3 call this trait does not offer.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Makes `bucket` unless it exists (`devflow aws init`); `true` when it was made. A
    /// bucket that exists and is someone else's is the error S3 gives for it.
    pub async fn create_bucket(&self, bucket: &str) -> Result<bool, BlobError> {
        if self
            .client
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(false);
        }
        let mut request = self.client.create_bucket().bucket(bucket);
        // us-east-1 is the one region S3 refuses as an explicit location constraint.
        if let Some(region) = self
            .client
            .config()
            .region()
            .map(|r| r.to_string())
            .filter(|r| r != "us-east-1")
        {
            request = request.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                        region.as_str(),
                    ))
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
            {
                Ok(false)
            }
            Err(error) => Err(self.error(
                "CreateBucket",
                "s3:CreateBucket",
                Target::Bucket(bucket),
                error,
            )),
        }
    }

    /// The error a person can act on, from the SDK's.
    fn error<E>(
        &self,
        operation: &'static str,
        permission: &'static str,
        target: Target<'_>,
        error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> BlobError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if let Some(detail) = credentials_problem(&error) {
            return BlobError::NoCredentials { detail };
        }
        match &error {
            SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => {
                return BlobError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    detail: chain(&error),
                }
            }
            SdkError::TimeoutError(_) => {
                return BlobError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    detail: format!("no answer in time: {}", chain(&error)),
                }
            }
            _ => {}
        }
        let status = devflow_aws::http_status(&error);
        let detail = devflow_aws::detail(&error);
        match (error.code(), status) {
            (Some("NoSuchBucket"), _) => BlobError::BucketMissing {
                bucket: target.bucket().to_string(),
            },
            // A HEAD answer has no body, so no code of S3's own: 404 is all it says.
            (None | Some("NotFound"), Some(404)) if matches!(target, Target::Bucket(_)) => {
                BlobError::BucketMissing {
                    bucket: target.bucket().to_string(),
                }
            }
            (Some("NoSuchKey" | "NotFound" | "NoSuchUpload"), _) | (None, Some(404)) => {
                BlobError::NotFound {
                    location: target.resource(),
                }
            }
            (
                Some(
                    "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken"
                    | "InvalidToken" | "TokenRefreshRequired",
                ),
                _,
            ) => BlobError::CredentialsRefused {
                resource: target.resource(),
                detail,
            },
            (Some("AccessDenied" | "AllAccessDisabled" | "Forbidden"), _) => {
                BlobError::AccessDenied {
                    resource: target.resource(),
                    arn: target.arn(),
                    permission,
                    detail,
                }
            }
            (None, Some(403)) => BlobError::AccessDenied {
                resource: target.resource(),
                arn: target.arn(),
                permission,
                detail: format!("{detail} to {operation}, which carries no reason; the keys themselves may also be invalid"),
            },
            (Some("PermanentRedirect" | "AuthorizationHeaderMalformed"), _) => {
                BlobError::Service {
                    operation,
                    resource: target.resource(),
                    detail: format!("{detail} (the bucket is in another region: set AWS_REGION to its region)"),
                }
            }
            _ => BlobError::Service {
                operation,
                resource: target.resource(),
                detail,
            },
        }
    }

    /// One PutObject of a body that fits in one part.
    async fn put_single(
        &self,
        at: &BlobLocation,
        body: ByteStream,
        length: u64,
        content_type: &str,
    ) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .content_type(content_type)
            .content_length(length as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| self.error("PutObject", "s3:PutObject", Target::Object(at), e))?;
        Ok(())
    }

    /// A multipart upload of `size` bytes whose part `n` (0-based) `part` makes; aborted
    /// when anything fails.
    async fn put_multipart<F, Fut>(
        &self,
        at: &BlobLocation,
        size: u64,
        content_type: &str,
        part: F,
    ) -> Result<(), BlobError>
    where
        F: Fn(u64, u64) -> Fut + Send + Sync,
        Fut: std::future::Future<Output = Result<ByteStream, BlobError>> + Send,
    {
        let part_size = part_size_for(size, self.part_size);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&at.bucket)
            .key(&at.key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| {
                self.error(
                    "CreateMultipartUpload",
                    "s3:PutObject",
                    Target::Object(at),
                    e,
                )
            })?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let count = size.div_ceil(part_size);
        tracing::debug!(location = %at, size, parts = count, "multipart upload");
        let uploaded: Result<Vec<CompletedPart>, BlobError> = futures::stream::iter(0..count)
            .map(|index| {
                let (offset, upload_id) = (index * part_size, upload_id.clone());
                let length = part_size.min(size - offset);
                let body = part(offset, length);
                async move {
                    let part_number = (index + 1) as i32;
                    let answer = self
                        .client
                        .upload_part()
                        .bucket(&at.bucket)
                        .key(&at.key)
                        .upload_id(upload_id)
                        .part_number(part_number)
                        .content_length(length as i64)
                        .body(body.await?)
                        .send()
                        .await
                        .map_err(|e| {
                            self.error("UploadPart", "s3:PutObject", Target::Object(at), e)
                        })?;
                    Ok(CompletedPart::builder()
                        .part_number(part_number)
                        .set_e_tag(answer.e_tag().map(str::to_string))
                        .build())
                }
            })
            .buffered(self.part_concurrency)
            .try_collect()
            .await;
        let completed = match uploaded {
            Ok(parts) => self
                .client
                .complete_multipart_upload()
                .bucket(&at.bucket)
                .key(&at.key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    self.error(
                        "CompleteMultipartUpload",
                        "s3:PutObject",
                        Target::Object(at),
                        e,
                    )
                }),
            Err(error) => Err(error),
        };
        if let Err(error) = completed {
            // Uploaded parts cost storage until the upload is aborted.
            if let Err(abort) = self
                .client
                .abort_multipart_upload()
                .bucket(&at.bucket)
                .key(&at.key)
                .upload_id(&upload_id)
                .send()
                .await
            {
                let abort = self.error(
                    "AbortMultipartUpload",
                    "s3:AbortMultipartUpload",
                    Target::Object(at),
                    abort,
                );
                tracing::warn!(location = %at, %abort, "could not abort a failed multipart upload");
            }
            return Err(error);
        }
        Ok(())
    }
}

/// The part size for an object: the configured one, larger when the object would otherwise
/// need more parts than S3 allows.
fn part_size_for(size: u64, configured: u64) -> u64 {
    configured.max(size.div_ceil(MAX_PARTS))
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put_bytes(
        &self,
        at: &BlobLocation,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), BlobError> {
        let size = bytes.len() as u64;
        if size <= self.part_size {
            return self
                .put_single(at, ByteStream::from(bytes), size, content_type)
                .await;
        }
        self.put_multipart(at, size, content_type, |offset, length| {
            let part = bytes.slice(offset as usize..(offset + length) as usize);
            async move { Ok(ByteStream::from(part)) }
        })
        .await
    }

    async fn put_file(
        &self,
        at: &BlobLocation,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, BlobError> {
        let io = |source| BlobError::Io {
            action: "read",
            what: path.display().to_string(),
            source,
        };
        let size = tokio::fs::metadata(path).await.map_err(io)?.len();
        let read_part = |offset: u64, length: u64| async move {
            ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(Length::Exact(length))
                .build()
                .await
                .map_err(|e| BlobError::Io {
                    action: "read",
                    what: path.display().to_string(),
                    source: std::io::Error::other(e),
                })
        };
        if size <= self.part_size {
            let body = read_part(0, size).await?;
            self.put_single(at, body, size, content_type).await?;
        } else {
            self.put_multipart(at, size, content_type, read_part)
                .await?;
        }
        Ok(size)
    }

    async fn get_bytes(&self, at: &BlobLocation) -> Result<Bytes, BlobError> {
        let answer = self
            .client
            .get_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .send()
            .await
            .map_err(|e| self.error("GetObject", "s3:GetObject", Target::Object(at), e))?;
        let body = answer
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Service {
                operation: "GetObject",
                resource: at.to_string(),
                detail: format!("the body was cut off: {}", chain(&e)),
            })?;
        Ok(body.into_bytes())
    }

    async fn get_to_file(&self, at: &BlobLocation, path: &Path) -> Result<u64, BlobError> {
        let answer = self
            .client
            .get_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .send()
            .await
            .map_err(|e| self.error("GetObject", "s3:GetObject", Target::Object(at), e))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| BlobError::InvalidLocation(path.display().to_string()))?;
        let partial = path.with_file_name(format!(".{name}.partial-{}", uuid::Uuid::new_v4()));
        let written = async {
            let mut file =
                tokio::fs::File::create(&partial)
                    .await
                    .map_err(|source| BlobError::Io {
                        action: "create",
                        what: partial.display().to_string(),
                        source,
                    })?;
            let mut body = answer.body;
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| BlobError::Service {
                    operation: "GetObject",
                    resource: at.to_string(),
                    detail: format!("the body was cut off: {}", chain(&e)),
                })?;
                size += chunk.len() as u64;
                file.write_all(&chunk)
                    .await
                    .map_err(|source| BlobError::Io {
                        action: "write",
                        what: partial.display().to_string(),
                        source,
                    })?;
            }
            file.sync_all().await.map_err(|source| BlobError::Io {
                action: "write",
                what: partial.display().to_string(),
                source,
            })?;
            tokio::fs::rename(&partial, path)
                .await
                .map_err(|source| BlobError::Io {
                    action: "write",
                    what: path.display().to_string(),
                    source,
                })?;
            Ok(size)
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        written
    }

    async fn head(&self, at: &BlobLocation) -> Result<Option<BlobInfo>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .send()
            .await
        {
            Ok(answer) => Ok(Some(BlobInfo {
                location: at.clone(),
                size: answer.content_length().unwrap_or(0).max(0) as u64,
            })),
            Err(error) => match self.error("HeadObject", "s3:GetObject", Target::Object(at), error)
            {
                BlobError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn delete(&self, at: &BlobLocation) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .send()
            .await
            .map_err(|e| self.error("DeleteObject", "s3:DeleteObject", Target::Object(at), e))?;
        Ok(())
    }

    async fn list(&self, prefix: &BlobLocation) -> Result<Vec<BlobInfo>, BlobError> {
        let mut found = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&prefix.bucket)
            .prefix(&prefix.key)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.error(
                    "ListObjectsV2",
                    "s3:ListBucket",
                    Target::Bucket(&prefix.bucket),
                    e,
                )
            })?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    found.push(BlobInfo {
                        location: BlobLocation::new(prefix.bucket.clone(), key),
                        size: object.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
        }
        Ok(found)
    }

    async fn presign_get(&self, at: &BlobLocation, ttl: Duration) -> Result<String, BlobError> {
        let request = self
            .client
            .get_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .presigned(presigning(ttl, at)?)
            .await
            .map_err(|e| {
                self.error("presigned GetObject", "s3:GetObject", Target::Object(at), e)
            })?;
        Ok(request.uri().to_string())
    }

    async fn presign_put(&self, at: &BlobLocation, ttl: Duration) -> Result<String, BlobError> {
        let request = self
            .client
            .put_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .presigned(presigning(ttl, at)?)
            .await
            .map_err(|e| {
                self.error("presigned PutObject", "s3:PutObject", Target::Object(at), e)
            })?;
        Ok(request.uri().to_string())
    }

    async fn check_bucket(&self, bucket: &str) -> Result<(), BlobError> {
        self.client
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| self.error("HeadBucket", "s3:ListBucket", Target::Bucket(bucket), e))?;
        Ok(())
    }
}

fn presigning(ttl: Duration, at: &BlobLocation) -> Result<PresigningConfig, BlobError> {
    PresigningConfig::expires_in(ttl).map_err(|e| BlobError::Service {
        operation: "presigning",
        resource: at.to_string(),
        detail: format!("{e} (presigned URLs live between 1 second and 7 days)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use devflow_tests::moto::{self, Moto};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_multipart_upload_that_fails_midway_is_aborted_and_leaves_nothing() {
        let moto = Moto::start();
        moto.create_bucket("session-artifacts").await;
        let store = S3BlobStore::connect(S3Options {
            endpoint: Some(moto.endpoint.clone()),
            force_path_style: true,
            region: Some(moto::REGION.into()),
            credentials: Some((moto::ACCESS_KEY_ID.into(), moto::SECRET_ACCESS_KEY.into())),
            part_concurrency: 1,
            ..S3Options::default()
        })
        .await;
        let at = BlobLocation::new("session-artifacts", "s1/snapshots/broken.zip");
        let size = 3 * DEFAULT_PART_SIZE;
        let error = store
            .put_multipart(&at, size, "application/zip", |offset, length| async move {
                if offset > 0 {
                    return Err(BlobError::Io {
                        action: "read",
                        what: "the test's second part".into(),
                        source: std::io::Error::other("gone"),
                    });
                }
                Ok(ByteStream::from(vec![7u8; length as usize]))
            })
            .await
            .unwrap_err();
        assert!(error.to_string().contains("second part"), "{error}");
        let pending = store
            .client()
            .list_multipart_uploads()
            .bucket("session-artifacts")
            .send()
            .await
            .unwrap();
        assert!(pending.uploads().is_empty(), "{:?}", pending.uploads());
        assert!(moto.log().contains("uploadId="), "an upload had begun");
        assert!(!store.exists(&at).await.unwrap());
    }

    #[test]
    fn parts_grow_only_when_an_object_would_need_more_than_ten_thousand() {
        assert_eq!(
            part_size_for(20 << 20, DEFAULT_PART_SIZE),
            DEFAULT_PART_SIZE
        );
        let huge = 200u64 << 30; // 200 GiB
        let part = part_size_for(huge, DEFAULT_PART_SIZE);
        assert!(huge.div_ceil(part) <= MAX_PARTS);
        assert!(part > DEFAULT_PART_SIZE);
    }
}
