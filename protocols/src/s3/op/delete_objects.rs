//! DeleteObjects: up to 1000 keys deleted in one transaction. A key that cannot be deleted
//! (too long, empty, or naming a version other than `null` — buckets are never versioned) gets
//! its own `<Error>` entry and the others are still deleted; quiet mode lists only the errors.

use s3s::dto::{DeleteObjectsInput, DeleteObjectsOutput, DeletedObject, ObjectIdentifier};
use s3s::{S3Request, S3Response};

use super::check_key;
use crate::kv::{KvStore, Mutation};
use crate::redis::transaction::Transaction;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::keys::object_key;
use crate::s3::store::{bucket_in, commit, Retry};

const MAX_KEYS: usize = 1000;

/// Why one key of the request cannot be deleted, if it cannot.
pub fn refusal(object: &ObjectIdentifier) -> Option<S3Error> {
    if let Err(e) = check_key(&object.key) {
        return Some(e);
    }
    match object.version_id.as_deref() {
        None | Some("null") => None,
        Some(_) => Some(S3Error::NoSuchVersion),
    }
}

/// The `<Error>` entry of a refused key.
pub fn error_entry(object: &ObjectIdentifier, error: &S3Error) -> s3s::dto::Error {
    s3s::dto::Error {
        code: Some(error.code().as_str().to_string()),
        key: Some(object.key.clone()),
        message: Some(error.to_string()),
        version_id: object.version_id.clone(),
    }
}

pub async fn run<K: KvStore>(kv: &K, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let input = req.input;
    let objects = input.delete.objects;
    if objects.len() > MAX_KEYS {
        return Err(S3Error::MalformedXml);
    }
    let quiet = input.delete.quiet.unwrap_or(false);
    let mut errors = Vec::new();
    let mut deletable = Vec::new();
    for object in objects {
        match refusal(&object) {
            Some(error) => errors.push(error_entry(&object, &error)),
            None => deletable.push(object),
        }
    }
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        bucket_in(&txn, &input.bucket).await?;
        let deletes = deletable.iter().map(|o| Mutation::Delete { key: object_key(&input.bucket, &o.key) }).collect();
        txn.write(Vec::new(), deletes).await?;
        if commit(kv, txn).await? {
            break;
        }
        retry.pause().await?;
    }
    let deleted = (!quiet).then(|| {
        deletable
            .into_iter()
            .map(|o| DeletedObject { key: Some(o.key), version_id: o.version_id, ..Default::default() })
            .collect()
    });
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted,
        errors: (!errors.is_empty()).then_some(errors),
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(key: &str, version: Option<&str>) -> ObjectIdentifier {
        ObjectIdentifier { key: key.into(), version_id: version.map(str::to_string), ..Default::default() }
    }

    #[test]
    fn refused_keys_get_their_s3_error_code() {
        assert!(refusal(&id("fine", None)).is_none());
        assert!(refusal(&id("fine", Some("null"))).is_none());
        let entry = error_entry(&id("k", Some("v1")), &refusal(&id("k", Some("v1"))).unwrap());
        assert_eq!(entry.code.as_deref(), Some("NoSuchVersion"));
        assert_eq!(entry.key.as_deref(), Some("k"));
        assert_eq!(entry.version_id.as_deref(), Some("v1"));
        let long = "x".repeat(1025);
        assert_eq!(refusal(&id(&long, None)).unwrap().code().as_str(), "KeyTooLongError");
    }
}
