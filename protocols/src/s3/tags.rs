//! Object and bucket tags: S3's limits (10 tags per object, 50 per bucket, keys up to 128 and
//! values up to 256 characters, unique non-empty keys, no `aws:` keys) checked in one place
//! for every way tags arrive — a Tagging XML body or the `x-amz-tagging` header of PutObject,
//! CopyObject and CreateMultipartUpload.

use s3s::dto::{Tag, TagSet, Tagging};

use crate::s3::error::{S3Error, S3Result};

/// Where a tag set goes: the two have different size limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagOwner {
    Object,
    Bucket,
}

impl TagOwner {
    pub fn max_tags(self) -> usize {
        match self {
            TagOwner::Object => 10,
            TagOwner::Bucket => 50,
        }
    }
}

pub const MAX_KEY_CHARS: usize = 128;
pub const MAX_VALUE_CHARS: usize = 256;

/// Checks a tag set against S3's rules; every violation is InvalidTag.
pub fn validate(tags: &[(String, String)], owner: TagOwner) -> S3Result<()> {
    if tags.len() > owner.max_tags() {
        let what = match owner {
            TagOwner::Object => "Object",
            TagOwner::Bucket => "Bucket",
        };
        return Err(S3Error::InvalidTag(format!("{what} tags cannot be greater than {}", owner.max_tags())));
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
            return Err(S3Error::InvalidTag("The TagKey you have provided is invalid".into()));
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(S3Error::InvalidTag("The TagValue you have provided is invalid".into()));
        }
        if key.starts_with("aws:") {
            return Err(S3Error::InvalidTag("System tags cannot be added/updated by requester".into()));
        }
        if tags[..i].iter().any(|(earlier, _)| earlier == key) {
            return Err(S3Error::InvalidTag("Cannot provide multiple Tags with the same key".into()));
        }
    }
    Ok(())
}

/// A Tagging XML body as checked tag pairs, in the order given.
pub fn from_tagging(tagging: Tagging, owner: TagOwner) -> S3Result<Vec<(String, String)>> {
    let tags: Vec<(String, String)> =
        tagging.tag_set.into_iter().map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())).collect();
    validate(&tags, owner)?;
    Ok(tags)
}

/// Stored tags as the TagSet of a Get*Tagging answer.
pub fn to_tag_set(tags: &[(String, String)]) -> TagSet {
    tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()
}

/// `x-amz-tagging: k1=v1&k2=v2` (URL query encoding) as checked object tag pairs.
pub fn from_header(query: &str) -> S3Result<Vec<(String, String)>> {
    let mut tags = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| S3Error::InvalidArgument("tags must be UTF-8".into()))
        };
        tags.push((decode(k)?, decode(v)?));
    }
    validate(&tags, TagOwner::Object)?;
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn message(result: S3Result<()>) -> String {
        match result {
            Err(S3Error::InvalidTag(m)) => m,
            other => panic!("expected InvalidTag, got {other:?}"),
        }
    }

    #[test]
    fn object_and_bucket_limits_differ() {
        let ten: Vec<(String, String)> = (0..10).map(|i| (format!("k{i}"), "v".to_string())).collect();
        validate(&ten, TagOwner::Object).unwrap();
        let mut eleven = ten.clone();
        eleven.push(("k10".into(), "v".into()));
        assert_eq!(message(validate(&eleven, TagOwner::Object)), "Object tags cannot be greater than 10");
        validate(&eleven, TagOwner::Bucket).unwrap();
        let fifty_one: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(message(validate(&fifty_one, TagOwner::Bucket)), "Bucket tags cannot be greater than 50");
    }

    #[test]
    fn key_and_value_lengths_count_characters() {
        let key = "é".repeat(MAX_KEY_CHARS);
        validate(&[(key.clone(), "v".repeat(MAX_VALUE_CHARS))], TagOwner::Object).unwrap();
        assert!(message(validate(&[(format!("{key}x"), String::new())], TagOwner::Object)).contains("TagKey"));
        assert!(
            message(validate(&[("k".into(), "v".repeat(MAX_VALUE_CHARS + 1))], TagOwner::Object)).contains("TagValue")
        );
        assert!(message(validate(&tags(&[("", "v")]), TagOwner::Object)).contains("TagKey"));
    }

    #[test]
    fn duplicate_and_system_keys_are_refused() {
        assert!(message(validate(&tags(&[("a", "1"), ("b", "2"), ("a", "3")]), TagOwner::Bucket)).contains("same key"));
        assert!(message(validate(&tags(&[("aws:cost", "1")]), TagOwner::Object)).contains("System tags"));
    }

    #[test]
    fn header_tags_are_url_decoded_and_checked() {
        assert_eq!(
            from_header("a=1&b%20c=d+e&empty=&bare").unwrap(),
            tags(&[("a", "1"), ("b c", "d e"), ("empty", ""), ("bare", "")])
        );
        assert!(from_header("").unwrap().is_empty());
        assert!(matches!(from_header("a=1&a=2"), Err(S3Error::InvalidTag(_))));
        assert!(matches!(from_header("%ff=1"), Err(S3Error::InvalidArgument(_))));
    }

    #[test]
    fn tagging_bodies_round_trip() {
        let body = Tagging { tag_set: to_tag_set(&tags(&[("x", "1"), ("y", "")])) };
        assert_eq!(from_tagging(body, TagOwner::Object).unwrap(), tags(&[("x", "1"), ("y", "")]));
    }
}
