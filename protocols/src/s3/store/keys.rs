//! Where S3 data lives in the KV keyspace. Each kind of record has its own one-byte prefix,
//! distinct from the Redis (`R`, `r`, `L`), gRPC (`K`) and gateway (`G`) prefixes:
//!
//! | prefix | key | value |
//! | --- | --- | --- |
//! | `B` | bucket name | [`super::records::BucketRecord`] |
//! | `O` | bucket + `00` + object key | [`super::records::ObjectManifest`] |
//! | `U` | bucket + `00` + object key + `00` + upload id (BE u64) | [`super::records::UploadRecord`] |
//! | `P` | upload id (BE u64) + part number (BE u32) | [`super::records::PartRecord`] |
//! | `W` | data id (BE u64) | a write in progress: its chunks are not garbage yet |
//! | `C` | data id (BE u64) + chunk index (BE u32) | up to one chunk of object bytes |
//!
//! Bucket names never contain `00`, so one bucket's objects are one contiguous run of keys in
//! object-key order and ListObjects is a range scan. Chunk keys carry a *data id* (a fresh
//! oracle timestamp per upload, unique cluster-wide), not the bucket or key: overwriting or
//! deleting an object is one manifest write, and the chunks no manifest names any more are
//! collected in the background.

use bytes::{BufMut, Bytes, BytesMut};

pub const BUCKET_PREFIX: u8 = b'B';
pub const OBJECT_PREFIX: u8 = b'O';
pub const UPLOAD_PREFIX: u8 = b'U';
pub const PART_PREFIX: u8 = b'P';
pub const PENDING_PREFIX: u8 = b'W';
pub const CHUNK_PREFIX: u8 = b'C';

pub fn bucket_key(bucket: &str) -> Bytes {
    prefixed(BUCKET_PREFIX, bucket.as_bytes())
}

/// `[start, end)` of every bucket record.
pub fn bucket_range() -> (Bytes, Bytes) {
    (Bytes::from_static(b"B"), Bytes::from_static(b"C"))
}

pub fn bucket_name_of(key: &[u8]) -> Option<&str> {
    key.strip_prefix(&[BUCKET_PREFIX]).and_then(|name| std::str::from_utf8(name).ok())
}

/// The common start of every object key of `bucket` (and of every upload key with `prefix`).
fn bucket_scope(prefix: u8, bucket: &str) -> BytesMut {
    let mut key = BytesMut::with_capacity(2 + bucket.len());
    key.put_u8(prefix);
    key.put_slice(bucket.as_bytes());
    key.put_u8(0);
    key
}

pub fn object_key(bucket: &str, key: &str) -> Bytes {
    let mut k = bucket_scope(OBJECT_PREFIX, bucket);
    k.put_slice(key.as_bytes());
    k.freeze()
}

/// The KV key of object `key` in `bucket` with the S3 key stripped back off.
pub fn object_name_of<'a>(bucket: &str, kv_key: &'a [u8]) -> Option<&'a str> {
    let rest = kv_key.strip_prefix(&[OBJECT_PREFIX])?.strip_prefix(bucket.as_bytes())?.strip_prefix(&[0])?;
    std::str::from_utf8(rest).ok()
}

/// `[start, end)` of the objects of `bucket` whose key starts with `prefix`.
pub fn object_range(bucket: &str, prefix: &str) -> (Bytes, Bytes) {
    let mut start = bucket_scope(OBJECT_PREFIX, bucket);
    start.put_slice(prefix.as_bytes());
    let start = start.freeze();
    let end = prefix_end(&start);
    (start, end)
}

/// `[start, end)` of every object manifest of every bucket.
pub fn object_range_all() -> (Bytes, Bytes) {
    (Bytes::from_static(b"O"), Bytes::from_static(b"P"))
}

/// `[start, end)` of every uploaded part.
pub fn part_range_all() -> (Bytes, Bytes) {
    (Bytes::from_static(b"P"), Bytes::from_static(b"Q"))
}

pub fn upload_key(bucket: &str, key: &str, upload_id: u64) -> Bytes {
    let mut k = bucket_scope(UPLOAD_PREFIX, bucket);
    k.put_slice(key.as_bytes());
    k.put_u8(0);
    k.put_u64(upload_id);
    k.freeze()
}

/// `[start, end)` of the uploads of `bucket` whose object key starts with `prefix`.
pub fn upload_range(bucket: &str, prefix: &str) -> (Bytes, Bytes) {
    let mut start = bucket_scope(UPLOAD_PREFIX, bucket);
    start.put_slice(prefix.as_bytes());
    let start = start.freeze();
    let end = prefix_end(&start);
    (start, end)
}

/// The object key and upload id of an upload record's KV key.
pub fn upload_of<'a>(bucket: &str, kv_key: &'a [u8]) -> Option<(&'a str, u64)> {
    let rest = kv_key.strip_prefix(&[UPLOAD_PREFIX])?.strip_prefix(bucket.as_bytes())?.strip_prefix(&[0])?;
    let (key, id) = rest.split_at_checked(rest.len().checked_sub(9)?)?;
    let id = id.strip_prefix(&[0])?;
    Some((std::str::from_utf8(key).ok()?, u64::from_be_bytes(id.try_into().ok()?)))
}

pub fn part_key(upload_id: u64, part_number: u32) -> Bytes {
    let mut k = BytesMut::with_capacity(13);
    k.put_u8(PART_PREFIX);
    k.put_u64(upload_id);
    k.put_u32(part_number);
    k.freeze()
}

/// `[start, end)` of the parts of one upload.
pub fn part_range(upload_id: u64) -> (Bytes, Bytes) {
    let mut start = BytesMut::with_capacity(9);
    start.put_u8(PART_PREFIX);
    start.put_u64(upload_id);
    let start = start.freeze();
    let end = prefix_end(&start);
    (start, end)
}

pub fn part_number_of(kv_key: &[u8]) -> Option<u32> {
    let tail: [u8; 4] = kv_key.get(9..13)?.try_into().ok()?;
    Some(u32::from_be_bytes(tail))
}

pub fn pending_key(data_id: u64) -> Bytes {
    let mut k = BytesMut::with_capacity(9);
    k.put_u8(PENDING_PREFIX);
    k.put_u64(data_id);
    k.freeze()
}

pub fn pending_range() -> (Bytes, Bytes) {
    (Bytes::from_static(b"W"), Bytes::from_static(b"X"))
}

pub fn chunk_key(data_id: u64, index: u32) -> Bytes {
    let mut k = BytesMut::with_capacity(13);
    k.put_u8(CHUNK_PREFIX);
    k.put_u64(data_id);
    k.put_u32(index);
    k.freeze()
}

/// `[start, end)` of every chunk of one data id.
pub fn chunks_of(data_id: u64) -> (Bytes, Bytes) {
    (chunk_key(data_id, 0), chunk_key_end(data_id))
}

fn chunk_key_end(data_id: u64) -> Bytes {
    match data_id.checked_add(1) {
        Some(next) => chunk_key(next, 0),
        None => Bytes::from_static(b"D"),
    }
}

/// `[start, end)` of the whole chunk space.
pub fn chunk_range() -> (Bytes, Bytes) {
    (Bytes::from_static(b"C"), Bytes::from_static(b"D"))
}

/// The data id of a chunk key or a pending-write key.
pub fn data_id_of(kv_key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(kv_key.get(1..9)?.try_into().ok()?))
}

fn prefixed(prefix: u8, rest: &[u8]) -> Bytes {
    let mut k = BytesMut::with_capacity(1 + rest.len());
    k.put_u8(prefix);
    k.put_slice(rest);
    k.freeze()
}

/// The smallest key above every key that starts with `prefix`.
/// The smallest KV key above `key`: where the next page of a scan starts.
pub fn key_after(key: &[u8]) -> Bytes {
    let mut next = key.to_vec();
    next.push(0);
    Bytes::from(next)
}

pub fn prefix_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Bytes::from(end);
        }
    }
    Bytes::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_of_one_bucket_are_contiguous_and_ordered() {
        let (start, end) = object_range("b", "");
        for key in ["", "a", "a/b", "\u{7f}", "é"] {
            let k = object_key("b", key);
            assert!(k >= start && k < end, "{key:?}");
            assert_eq!(object_name_of("b", &k), Some(key));
        }
        assert!(object_key("b", "a") < object_key("b", "ab"));
        // A bucket that extends another's name never falls in its range.
        let other = object_key("bb", "");
        assert!(!(other >= start && other < end));
    }

    #[test]
    fn upload_and_part_keys_round_trip() {
        let k = upload_key("b", "dir/obj", 42);
        assert_eq!(upload_of("b", &k), Some(("dir/obj", 42)));
        let (start, end) = upload_range("b", "dir/");
        assert!(k >= start && k < end);
        let p = part_key(42, 7);
        assert_eq!(part_number_of(&p), Some(7));
        let (start, end) = part_range(42);
        assert!(p >= start && p < end);
        assert!(part_key(43, 0) >= end);
    }

    #[test]
    fn chunk_ranges_hold_exactly_one_data_id() {
        let (start, end) = chunks_of(5);
        assert!(chunk_key(5, 0) >= start && chunk_key(5, u32::MAX) < end);
        assert!(chunk_key(6, 0) >= end);
        assert_eq!(data_id_of(&chunk_key(5, 9)), Some(5));
        assert_eq!(prefix_end(b"a\xff"), Bytes::from_static(b"b"));
    }
}
