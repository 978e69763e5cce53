//! CreateBucket: a bucket record, if the name is free (re-creating one's own bucket is a
//! no-op, as in AWS's us-east-1). Only the `private` and `public-read` canned ACLs are
//! honoured.

use s3s::dto::{CreateBucketInput, CreateBucketOutput};
use s3s::{S3Request, S3Response};

use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::transaction::Transaction;
use crate::s3::acl::{from_canned, AclTarget};
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::keys::bucket_key;
use crate::s3::store::records::{decode, encode, BucketRecord, BucketState, CannedAcl};
use crate::s3::store::{commit, ts_to_ms, Retry};

pub struct CreateBucket {
    pub bucket: String,
    pub acl: CannedAcl,
}

impl CreateBucket {
    pub fn parse(input: CreateBucketInput) -> S3Result<Self> {
        let acl = match input.acl.as_ref() {
            None => CannedAcl::Private,
            Some(name) => from_canned(name.as_str(), AclTarget::Bucket)?,
        };
        Ok(CreateBucket { bucket: input.bucket, acl })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> S3Result<()> {
        let key = bucket_key(&self.bucket);
        let mut retry = Retry::default();
        loop {
            let txn = Transaction::new(kv);
            let existing = txn.get(vec![key.clone()]).await?;
            if let Some(value) = existing.states.into_iter().find(|s| s.is_live()).and_then(|s| s.value) {
                // One owner owns every bucket, and in us-east-1 AWS answers an owner's
                // re-create with 200 and changes nothing; SDK code written for it relies on
                // that. A bucket being deleted right now is a conflict instead.
                let record: BucketRecord = decode(&value)?;
                return match record.state {
                    BucketState::Live => Ok(()),
                    BucketState::Deleting => Err(S3Error::OperationAborted),
                };
            }
            let record =
                BucketRecord { created_ms: ts_to_ms(txn.start_ts().await?), acl: self.acl, ..Default::default() };
            txn.write(
                Vec::new(),
                vec![Mutation::Put { key: key.clone(), value: encode(&record), expiry: Expiry::Never }],
            )
            .await?;
            if commit(kv, txn).await? {
                return Ok(());
            }
            retry.pause().await?;
        }
    }
}

pub async fn run<K: KvStore>(kv: &K, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
    let op = CreateBucket::parse(req.input)?;
    let location = format!("/{}", op.bucket);
    op.apply(kv).await?;
    Ok(S3Response::new(CreateBucketOutput { location: Some(location) }))
}
