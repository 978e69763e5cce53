//! S3 errors: one typed enum for everything the S3 layer can refuse, mapped once to S3's error
//! codes (and so to its XML error bodies and HTTP statuses) by [`S3Error::into_s3s`].

use s3s::{S3Error as WireError, S3ErrorCode};

use super::request_id::RequestId;
use crate::kv::KvError;

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("The specified bucket does not exist")]
    NoSuchBucket,
    #[error("The specified key does not exist.")]
    NoSuchKey,
    #[error("The specified version does not exist.")]
    NoSuchVersion,
    #[error("The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")]
    NoSuchUpload,
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou,
    #[error("A conflicting conditional operation is currently in progress against this resource. Please try again.")]
    OperationAborted,
    #[error("The specified bucket is not valid.")]
    InvalidBucketName,
    #[error("The requested range is not satisfiable")]
    InvalidRange,
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    /// Not an error to the client (HTTP 304), but it ends the request like one. It carries
    /// the object's ETag, which a 304 must repeat.
    #[error("Not Modified")]
    NotModified { etag: String },
    #[error("One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")]
    InvalidPart,
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed object size.")]
    EntityTooSmall,
    #[error("Your proposed upload exceeds the maximum allowed object size.")]
    EntityTooLarge,
    #[error("The Content-MD5 you specified did not match what we received.")]
    BadDigest,
    #[error("The Content-MD5 you specified is not valid.")]
    InvalidDigest,
    #[error("The {0} you specified did not match the calculated checksum.")]
    ChecksumMismatch(&'static str),
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header.")]
    IncompleteBody,
    #[error("Your key is too long")]
    KeyTooLong,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("The XML you provided was not well-formed or did not validate against our published schema")]
    MalformedXml,
    #[error("Access Denied")]
    AccessDenied,
    #[error("{0}")]
    InvalidTag(String),
    #[error("The XML you provided was not well-formed or did not validate against our published schema")]
    MalformedAcl,
    #[error("The TagSet does not exist")]
    NoSuchTagSet,
    #[error("The requested partnumber is not satisfiable")]
    InvalidPartNumber,
    #[error("{0} is not implemented")]
    NotImplemented(&'static str),
    /// Reading the request body failed (the client went away, or its signature or checksum
    /// chunks did not verify).
    #[error("reading the request body: {0}")]
    Body(String),
    /// Stored bytes that do not decode: a bug or corruption, never the client's fault.
    #[error("corrupt stored record: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Kv(#[from] KvError),
}

pub type S3Result<T> = Result<T, S3Error>;

impl S3Error {
    pub fn code(&self) -> S3ErrorCode {
        match self {
            S3Error::NoSuchBucket => S3ErrorCode::NoSuchBucket,
            S3Error::NoSuchKey => S3ErrorCode::NoSuchKey,
            S3Error::NoSuchUpload => S3ErrorCode::NoSuchUpload,
            S3Error::NoSuchVersion => S3ErrorCode::NoSuchVersion,
            S3Error::BucketNotEmpty => S3ErrorCode::BucketNotEmpty,
            S3Error::BucketAlreadyOwnedByYou => S3ErrorCode::BucketAlreadyOwnedByYou,
            S3Error::OperationAborted => S3ErrorCode::OperationAborted,
            S3Error::InvalidBucketName => S3ErrorCode::InvalidBucketName,
            S3Error::InvalidRange => S3ErrorCode::InvalidRange,
            S3Error::PreconditionFailed => S3ErrorCode::PreconditionFailed,
            S3Error::NotModified { .. } => S3ErrorCode::NotModified,
            S3Error::InvalidPart => S3ErrorCode::InvalidPart,
            S3Error::InvalidPartOrder => S3ErrorCode::InvalidPartOrder,
            S3Error::EntityTooSmall => S3ErrorCode::EntityTooSmall,
            S3Error::EntityTooLarge => S3ErrorCode::EntityTooLarge,
            S3Error::BadDigest => S3ErrorCode::BadDigest,
            S3Error::InvalidDigest => S3ErrorCode::InvalidDigest,
            S3Error::ChecksumMismatch(_) => S3ErrorCode::BadDigest,
            S3Error::IncompleteBody => S3ErrorCode::IncompleteBody,
            S3Error::KeyTooLong => S3ErrorCode::KeyTooLongError,
            S3Error::InvalidArgument(_) => S3ErrorCode::InvalidArgument,
            S3Error::InvalidRequest(_) => S3ErrorCode::InvalidRequest,
            S3Error::MalformedXml => S3ErrorCode::MalformedXML,
            S3Error::AccessDenied => S3ErrorCode::AccessDenied,
            S3Error::InvalidTag(_) => S3ErrorCode::InvalidTag,
            S3Error::MalformedAcl => S3ErrorCode::MalformedACLError,
            S3Error::NoSuchTagSet => S3ErrorCode::NoSuchTagSet,
            S3Error::InvalidPartNumber => S3ErrorCode::Custom("InvalidPartNumber".into()),
            S3Error::NotImplemented(_) => S3ErrorCode::NotImplemented,
            S3Error::Body(_) => S3ErrorCode::IncompleteBody,
            S3Error::Corrupt(_) => S3ErrorCode::InternalError,
            S3Error::Kv(KvError::Unavailable(_) | KvError::TryAgain(_)) => S3ErrorCode::ServiceUnavailable,
            S3Error::Kv(KvError::Invalid(_)) => S3ErrorCode::InvalidRequest,
            S3Error::Kv(KvError::Internal(_) | KvError::CrossRange) => S3ErrorCode::InternalError,
        }
    }

    /// The one place S3 errors become wire errors (XML body, HTTP status).
    pub fn into_s3s(self) -> WireError {
        let code = self.code();
        if matches!(code, S3ErrorCode::InternalError) {
            tracing::warn!(error = %self, "s3 internal error");
        }
        let status = self.custom_status();
        let mut wire = WireError::with_message(code, self.to_string());
        if let Some(status) = status {
            wire.set_status_code(status);
        }
        if let S3Error::NotModified { etag } = &self {
            if let Ok(etag) = http::HeaderValue::from_str(etag) {
                let mut headers = http::HeaderMap::new();
                headers.insert(http::header::ETAG, etag);
                wire.set_headers(headers);
            }
        }
        wire
    }

    /// The HTTP status of codes s3s does not know (it would answer 500 for them).
    fn custom_status(&self) -> Option<http::StatusCode> {
        match self {
            S3Error::InvalidPartNumber => Some(http::StatusCode::RANGE_NOT_SATISFIABLE),
            _ => None,
        }
    }

    /// As [`into_s3s`](Self::into_s3s), naming the request in the XML body.
    pub fn into_wire(self, request_id: Option<RequestId>) -> WireError {
        let mut wire = self.into_s3s();
        if let Some(id) = request_id {
            wire.set_request_id(id.0);
        }
        wire
    }
}

impl From<S3Error> for WireError {
    fn from(e: S3Error) -> Self {
        e.into_s3s()
    }
}
