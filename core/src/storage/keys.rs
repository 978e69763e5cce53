//! Key layouts of the non-data column families. Range ids are big-endian so a range's
//! records sort together and log entries sort by index.

pub fn raft_log(range_id: u64, index: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&range_id.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

pub fn raft_log_index(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.get(8..16)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// A per-range record in `raft_state` or `range_meta`: range id + a short name.
pub fn range_record(range_id: u64, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + name.len());
    k.extend_from_slice(&range_id.to_be_bytes());
    k.extend_from_slice(name.as_bytes());
    k
}

pub const VOTE: &str = "vote";
pub const COMMITTED: &str = "committed";
pub const LAST_PURGED: &str = "last_purged";
pub const APPLIED: &str = "applied";
pub const MEMBERSHIP: &str = "membership";
pub const DESCRIPTOR: &str = "descriptor";
pub const HLC_CEILING: &str = "hlc_ceiling";
pub const LAST_COMMIT_TS: &str = "last_commit_ts";

/// A committed request id in the `dedup` column family, filed under the write's anchor key
/// (its first key) in the MVCC key order, so the records of a range are the ones inside its
/// bounds and follow their keys through a split without being copied.
pub fn request_record(anchor_key: &[u8], request_id: u128) -> Vec<u8> {
    let mut k = crate::mvcc::user_key_prefix(anchor_key);
    k.extend_from_slice(&request_id.to_be_bytes());
    k
}

/// An entry of the expiry index: expiry time (BE, so entries sort by time) + user key.
pub fn expiry_entry(expire_at_ms: u64, user_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + user_key.len());
    k.extend_from_slice(&expire_at_ms.to_be_bytes());
    k.extend_from_slice(user_key);
    k
}

pub fn parse_expiry_entry(key: &[u8]) -> Option<(u64, &[u8])> {
    let at: [u8; 8] = key.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(at), &key[8..]))
}
