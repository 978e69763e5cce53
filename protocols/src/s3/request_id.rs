//! The id every S3 response carries in `x-amz-request-id` and, for errors, in the XML body's
//! `RequestId`: what an operator greps the gateway logs for when a client reports a failure.

use std::sync::atomic::{AtomicU64, Ordering};

/// A request's id, put into the request's extensions by the listener so the operation's error
/// can name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// A fresh id: 16 upper-case hex digits, as AWS's look. Unique within the process (a
    /// counter), and unlikely to repeat across gateways (it starts from the clock and pid).
    pub fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let start = *START.get_or_init(|| {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            (nanos.as_nanos() as u64).rotate_left(20) ^ u64::from(std::process::id())
        });
        let n = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed));
        RequestId(format!("{n:016X}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_shaped_like_aws_ones() {
        let (a, b) = (RequestId::fresh(), RequestId::fresh());
        assert_ne!(a, b);
        assert_eq!(a.0.len(), 16);
        assert!(a.0.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
    }
}
