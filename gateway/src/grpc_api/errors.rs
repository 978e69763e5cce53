//! Every failure of the public gRPC API, and its gRPC status, in one place.
//!
//! A status carries a stable machine-readable reason twice: as the prefix of its message
//! (`"CONFLICT: ..."`) and as the `strata-error-reason` metadata entry. `kv.proto` and
//! `docs/grpc.md` document the table below to clients.

use strata_protocols::kv::{KvError, TxnOutcome, WriteOutcome};
use tonic::{Code, Status};

use crate::limits::Refused;

/// The metadata key carrying [`ApiError::reason`].
pub const REASON_METADATA: &str = "strata-error-reason";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// A transaction lost a write conflict (first committer wins); restart it from Begin.
    Conflict(String),
    /// The cluster could not serve the call right now; retry with backoff.
    Retryable(String),
    /// Unknown, finished or expired transaction id.
    TxnNotFound(String),
    /// Bad input.
    Invalid(String),
    /// A gateway limit was reached.
    Exhausted(String),
    /// A bug or corrupted state.
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> Code {
        match self {
            ApiError::Conflict(_) => Code::Aborted,
            ApiError::Retryable(_) => Code::Unavailable,
            ApiError::TxnNotFound(_) => Code::NotFound,
            ApiError::Invalid(_) => Code::InvalidArgument,
            ApiError::Exhausted(_) => Code::ResourceExhausted,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    /// The stable reason clients match on.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::Retryable(_) => "RETRYABLE",
            ApiError::TxnNotFound(_) => "TXN_NOT_FOUND",
            ApiError::Invalid(_) => "INVALID_ARGUMENT",
            ApiError::Exhausted(_) => "RESOURCE_EXHAUSTED",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    fn detail(&self) -> &str {
        match self {
            ApiError::Conflict(m)
            | ApiError::Retryable(m)
            | ApiError::TxnNotFound(m)
            | ApiError::Invalid(m)
            | ApiError::Exhausted(m)
            | ApiError::Internal(m) => m,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason(), self.detail())
    }
}

impl From<KvError> for ApiError {
    fn from(e: KvError) -> Self {
        match e {
            KvError::Unavailable(m) | KvError::TryAgain(m) => ApiError::Retryable(m),
            KvError::Invalid(m) => ApiError::Invalid(m),
            KvError::Internal(m) => ApiError::Internal(m),
            // Cross-range writes commit as transactions; this only means the ranges moved.
            e @ KvError::CrossRange => ApiError::Retryable(e.to_string()),
        }
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        ApiError::Exhausted(refused.to_string())
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        let mut metadata = tonic::metadata::MetadataMap::new();
        metadata.insert(REASON_METADATA, tonic::metadata::MetadataValue::from_static(e.reason()));
        Status::with_metadata(e.code(), e.to_string(), metadata)
    }
}

/// The outcome of a write that carries no conditions: it can only commit.
pub fn unconditional(outcome: WriteOutcome) -> Result<u64, ApiError> {
    match outcome {
        WriteOutcome::Committed { commit_ts } => Ok(commit_ts),
        WriteOutcome::ConditionFailed => {
            Err(ApiError::Internal("a write without conditions failed a condition".into()))
        }
    }
}

/// The outcome of a TxnKV commit (it carries no conditions).
pub fn txn_outcome(outcome: TxnOutcome) -> Result<u64, ApiError> {
    match outcome {
        TxnOutcome::Committed { commit_ts } => Ok(commit_ts),
        TxnOutcome::Conflict => Err(ApiError::Conflict(
            "another transaction wrote a key this transaction writes after it began; nothing was written, \
             restart the transaction"
                .into(),
        )),
        TxnOutcome::ConditionFailed => {
            Err(ApiError::Internal("a transaction without conditions failed a condition".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(e: impl Into<ApiError>) -> Status {
        Status::from(e.into())
    }

    #[test]
    fn kv_errors_map_to_documented_codes() {
        let cases = [
            (KvError::Unavailable("no leader".into()), Code::Unavailable, "RETRYABLE: no leader"),
            (KvError::TryAgain("busy".into()), Code::Unavailable, "RETRYABLE: busy"),
            (KvError::Invalid("too big".into()), Code::InvalidArgument, "INVALID_ARGUMENT: too big"),
            (KvError::Internal("bug".into()), Code::Internal, "INTERNAL: bug"),
        ];
        for (error, code, message) in cases {
            let s = status(error);
            assert_eq!((s.code(), s.message()), (code, message));
        }
        assert_eq!(status(KvError::CrossRange).code(), Code::Unavailable);
    }

    #[test]
    fn the_reason_travels_in_the_message_and_in_metadata() {
        let s = status(ApiError::TxnNotFound("transaction 7 is unknown or expired".into()));
        assert_eq!(s.code(), Code::NotFound);
        assert!(s.message().starts_with("TXN_NOT_FOUND: "));
        assert_eq!(s.metadata().get(REASON_METADATA).and_then(|v| v.to_str().ok()), Some("TXN_NOT_FOUND"));
        let s = status(Refused::InFlight(10));
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert!(s.message().starts_with("RESOURCE_EXHAUSTED: too many commands in flight"));
    }

    #[test]
    fn outcomes_map_to_answers_or_errors() {
        assert_eq!(txn_outcome(TxnOutcome::Committed { commit_ts: 9 }), Ok(9));
        let conflict = status(txn_outcome(TxnOutcome::Conflict).unwrap_err());
        assert_eq!(conflict.code(), Code::Aborted);
        assert!(conflict.message().starts_with("CONFLICT: "));
        assert_eq!(unconditional(WriteOutcome::Committed { commit_ts: 3 }), Ok(3));
        assert_eq!(unconditional(WriteOutcome::ConditionFailed).unwrap_err().code(), Code::Internal);
        assert_eq!(txn_outcome(TxnOutcome::ConditionFailed).unwrap_err().code(), Code::Internal);
    }
}
