//! ListObjects / ListObjectsV2 / ListObjectVersions over a range scan of one bucket's
//! manifests: prefix, delimiter (keys folded into common prefixes, each counted once toward
//! max-keys) and a start position, read at one snapshot timestamp so the pages of one request
//! agree.

use super::keys::{key_after, object_key, object_name_of, object_range, prefix_end};
use super::records::{decode, ObjectManifest};
use crate::kv::KvStore;
use crate::s3::error::S3Result;

/// Manifests read per scan call.
const PAGE: usize = 1000;
/// The most entries one listing returns, whatever max-keys asks.
pub const MAX_KEYS: usize = 1000;

#[derive(Clone, Debug, Default)]
pub struct ListRequest {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// List only keys (and common prefixes) after this one.
    pub after: Option<String>,
    pub max_keys: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    // Boxed: a manifest is large next to a common prefix.
    Object { key: String, manifest: Box<ObjectManifest> },
    CommonPrefix(String),
}

impl Entry {
    pub fn name(&self) -> &str {
        match self {
            Entry::Object { key, .. } => key,
            Entry::CommonPrefix(prefix) => prefix,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listing {
    /// Objects and common prefixes in key order.
    pub entries: Vec<Entry>,
    /// More entries follow the last one returned.
    pub truncated: bool,
}

impl Listing {
    /// Where the next page starts: the last key or common prefix returned.
    pub fn next_marker(&self) -> Option<&str> {
        if self.truncated {
            self.entries.last().map(Entry::name)
        } else {
            None
        }
    }
}

/// Lists `bucket` as of timestamp `ts`.
pub async fn list_objects<K: KvStore>(kv: &K, ts: u64, bucket: &str, req: &ListRequest) -> S3Result<Listing> {
    let mut listing = Listing::default();
    if req.max_keys == 0 {
        return Ok(listing);
    }
    let (range_start, end) = object_range(bucket, &req.prefix);
    let mut from = match &req.after {
        Some(after) if object_key(bucket, after) >= range_start => key_after(&object_key(bucket, after)),
        _ => range_start,
    };
    let delimiter = req.delimiter.as_deref().filter(|d| !d.is_empty());
    while end.is_empty() || from < end {
        let page = kv.scan_at(from.clone(), end.clone(), PAGE, false, ts).await?;
        let full_page = page.len() == PAGE;
        for scanned in &page {
            let Some(key) = object_name_of(bucket, &scanned.key) else { continue };
            let entry = match delimiter.and_then(|d| common_prefix(key, &req.prefix, d)) {
                Some(prefix) => {
                    // Every key under this common prefix folds into it: the scan restarts
                    // past all of them.
                    from = prefix_end(&object_key(bucket, &prefix));
                    if req.after.as_deref().is_some_and(|after| prefix.as_str() <= after) {
                        break;
                    }
                    Entry::CommonPrefix(prefix)
                }
                None => {
                    from = key_after(&scanned.key);
                    let Some(value) = &scanned.state.value else { continue };
                    Entry::Object { key: key.to_string(), manifest: Box::new(decode(value)?) }
                }
            };
            if listing.entries.len() >= req.max_keys {
                listing.truncated = true;
                return Ok(listing);
            }
            let folded = matches!(entry, Entry::CommonPrefix(_));
            listing.entries.push(entry);
            if folded {
                break;
            }
        }
        let restarted = page.last().is_some_and(|last| from <= last.key);
        if !full_page && !restarted {
            return Ok(listing);
        }
    }
    Ok(listing)
}

/// `prefix + (part of the rest up to and including the first delimiter)` when the key has a
/// delimiter after the prefix.
pub fn common_prefix(key: &str, prefix: &str, delimiter: &str) -> Option<String> {
    let rest = key.strip_prefix(prefix)?;
    let at = rest.find(delimiter)?;
    Some(format!("{prefix}{}", &rest[..at + delimiter.len()]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{Expiry, Mutation};
    use crate::redis::command::test_support::FakeKv;
    use crate::s3::store::records::{encode, CannedAcl, Checksums, ContentHeaders};

    fn manifest(size: u64) -> ObjectManifest {
        ObjectManifest {
            size,
            etag: "e".into(),
            last_modified_ms: 1,
            segments: Vec::new(),
            headers: ContentHeaders::default(),
            metadata: Vec::new(),
            checksums: Checksums::default(),
            tags: Vec::new(),
            acl: CannedAcl::Private,
            parts_count: None,
        }
    }

    async fn store(keys: &[&str]) -> FakeKv {
        let kv = FakeKv::new();
        let mut mutations: Vec<Mutation> = keys
            .iter()
            .map(|k| Mutation::Put { key: object_key("b", k), value: encode(&manifest(1)), expiry: Expiry::Never })
            .collect();
        // Neighbours that must never show up.
        mutations.push(Mutation::Put { key: object_key("a", "x"), value: encode(&manifest(1)), expiry: Expiry::Never });
        mutations.push(Mutation::Put {
            key: object_key("bb", "x"),
            value: encode(&manifest(1)),
            expiry: Expiry::Never,
        });
        kv.write(Vec::new(), mutations).await.unwrap();
        kv
    }

    fn names(listing: &Listing) -> Vec<String> {
        listing
            .entries
            .iter()
            .map(|e| match e {
                Entry::Object { key, .. } => key.clone(),
                Entry::CommonPrefix(p) => format!("[{p}]"),
            })
            .collect()
    }

    async fn list(kv: &FakeKv, prefix: &str, delimiter: Option<&str>, after: Option<&str>, max: usize) -> Listing {
        let ts = kv.timestamp().await.unwrap();
        let req = ListRequest {
            prefix: prefix.into(),
            delimiter: delimiter.map(Into::into),
            after: after.map(Into::into),
            max_keys: max,
        };
        list_objects(kv, ts, "b", &req).await.unwrap()
    }

    const KEYS: &[&str] = &["a", "b/1", "b/2", "b/c/3", "c", "d/4", "e"];

    #[tokio::test]
    async fn plain_listing_is_in_key_order_and_stays_in_its_bucket() {
        let kv = store(KEYS).await;
        let all = list(&kv, "", None, None, 1000).await;
        assert_eq!(names(&all), KEYS);
        assert!(!all.truncated);
        let prefixed = list(&kv, "b/", None, None, 1000).await;
        assert_eq!(names(&prefixed), ["b/1", "b/2", "b/c/3"]);
    }

    #[tokio::test]
    async fn delimiter_folds_keys_into_common_prefixes_counted_once() {
        let kv = store(KEYS).await;
        let top = list(&kv, "", Some("/"), None, 1000).await;
        assert_eq!(names(&top), ["a", "[b/]", "c", "[d/]", "e"]);
        let inner = list(&kv, "b/", Some("/"), None, 1000).await;
        assert_eq!(names(&inner), ["b/1", "b/2", "[b/c/]"]);
        let page = list(&kv, "", Some("/"), None, 2).await;
        assert_eq!(names(&page), ["a", "[b/]"]);
        assert!(page.truncated);
        assert_eq!(page.next_marker(), Some("b/"));
        let next = list(&kv, "", Some("/"), Some("b/"), 2).await;
        assert_eq!(names(&next), ["c", "[d/]"]);
        assert!(next.truncated);
        let last = list(&kv, "", Some("/"), Some("d/"), 2).await;
        assert_eq!(names(&last), ["e"]);
        assert!(!last.truncated);
    }

    #[tokio::test]
    async fn pages_resume_after_the_marker_and_report_truncation_exactly() {
        let kv = store(KEYS).await;
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = list(&kv, "", None, after.as_deref(), 3).await;
            seen.extend(names(&page));
            match page.next_marker() {
                Some(marker) => after = Some(marker.to_string()),
                None => break,
            }
        }
        assert_eq!(seen, KEYS);
        let exact = list(&kv, "", None, None, KEYS.len()).await;
        assert!(!exact.truncated, "no more keys after a page that holds them all");
        let none = list(&kv, "", None, None, 0).await;
        assert!(none.entries.is_empty());
        assert!(list(&kv, "", None, Some("zzz"), 5).await.entries.is_empty());
    }

    #[test]
    fn common_prefix_uses_the_first_delimiter_after_the_prefix() {
        assert_eq!(common_prefix("a/b/c", "", "/"), Some("a/".into()));
        assert_eq!(common_prefix("a/b/c", "a/", "/"), Some("a/b/".into()));
        assert_eq!(common_prefix("a/b", "a/b", "/"), None);
        assert_eq!(common_prefix("x--y--z", "", "--"), Some("x--".into()));
    }
}
