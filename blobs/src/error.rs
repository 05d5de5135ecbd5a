//! [`BlobError`]: what went wrong with a blob, in words a person can act on. The S3 variants
//! name the bucket, the key and, for a refusal, the IAM permission the call needed.

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("S3 bucket '{bucket}' does not exist: create it or set s3Bucket / DEVFLOW_S3_BUCKET")]
    BucketMissing { bucket: String },

    #[error("nothing is stored at {location}")]
    NotFound { location: String },

    #[error("access denied to {resource}: the credentials need {permission} on {arn} ({detail})")]
    AccessDenied {
        /// `s3://bucket/key`, or the bucket alone.
        resource: String,
        /// `arn:aws:s3:::bucket/key` (or the bucket's ARN for bucket-level calls).
        arn: String,
        /// The IAM action the call needs, e.g. `s3:PutObject`.
        permission: &'static str,
        detail: String,
    },

    #[error(
        "S3 refused the credentials while accessing {resource} ({detail}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and AWS_SESSION_TOKEN"
    )]
    CredentialsRefused { resource: String, detail: String },

    #[error(
        "no AWS credentials for S3 ({detail}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an IAM role"
    )]
    NoCredentials { detail: String },

    #[error(
        "cannot reach the S3 endpoint {endpoint} ({detail}): check the network, s3Endpoint / AWS_ENDPOINT_URL_S3 and AWS_REGION"
    )]
    Unreachable { endpoint: String, detail: String },

    #[error("S3 {operation} of {resource} failed: {detail}")]
    Service {
        operation: &'static str,
        resource: String,
        detail: String,
    },

    #[error("cannot {action} {what}: {source}")]
    Io {
        action: &'static str,
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0} is not a usable blob location (bucket and key segments must be plain names, no '.', '..', '\\\\' or empty parts)")]
    InvalidLocation(String),

    #[error("{0}")]
    Unsupported(String),
}

impl BlobError {
    /// The blob or bucket is simply not there (as opposed to unreachable or refused).
    pub fn is_not_found(&self) -> bool {
        matches!(self, BlobError::NotFound { .. })
    }
}
