//! The s3s [`S3`] trait implemented over a [`KvStore`]: each method hands its request to the
//! operation's module in [`super::op`] and maps its typed error once. Operations not listed
//! keep s3s's default answer, 501 NotImplemented with an S3 XML error body.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::op;
use super::request_id::RequestId;
use crate::kv::KvStore;

/// Strata's S3 service over the KV store `K`.
#[derive(Clone)]
pub struct StrataS3<K> {
    kv: K,
}

impl<K> StrataS3<K> {
    pub fn new(kv: K) -> Self {
        StrataS3 { kv }
    }
}

macro_rules! ops {
    ($($method:ident($input:ty) -> $output:ty => $module:ident;)*) => {
        #[async_trait::async_trait]
        impl<K: KvStore + Clone + 'static> s3s::S3 for StrataS3<K> {
            $(
                async fn $method(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    let request_id = req.extensions.get::<RequestId>().cloned();
                    op::$module::run(&self.kv, req).await.map_err(|e| e.into_wire(request_id))
                }
            )*
        }
    };
}

ops! {
    list_buckets(ListBucketsInput) -> ListBucketsOutput => list_buckets;
    create_bucket(CreateBucketInput) -> CreateBucketOutput => create_bucket;
    head_bucket(HeadBucketInput) -> HeadBucketOutput => head_bucket;
    delete_bucket(DeleteBucketInput) -> DeleteBucketOutput => delete_bucket;
    get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput => get_bucket_location;
    get_bucket_versioning(GetBucketVersioningInput) -> GetBucketVersioningOutput => get_bucket_versioning;
    put_object(PutObjectInput) -> PutObjectOutput => put_object;
    get_object(GetObjectInput) -> GetObjectOutput => get_object;
    head_object(HeadObjectInput) -> HeadObjectOutput => head_object;
    delete_object(DeleteObjectInput) -> DeleteObjectOutput => delete_object;
    delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput => delete_objects;
    copy_object(CopyObjectInput) -> CopyObjectOutput => copy_object;
    list_objects(ListObjectsInput) -> ListObjectsOutput => list_objects;
    list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output => list_objects_v2;
    list_object_versions(ListObjectVersionsInput) -> ListObjectVersionsOutput => list_object_versions;
    create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput => create_multipart_upload;
    upload_part(UploadPartInput) -> UploadPartOutput => upload_part;
    upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput => upload_part_copy;
    complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput => complete_multipart_upload;
    abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput => abort_multipart_upload;
    list_parts(ListPartsInput) -> ListPartsOutput => list_parts;
    list_multipart_uploads(ListMultipartUploadsInput) -> ListMultipartUploadsOutput => list_multipart_uploads;
    get_object_tagging(GetObjectTaggingInput) -> GetObjectTaggingOutput => get_object_tagging;
    put_object_tagging(PutObjectTaggingInput) -> PutObjectTaggingOutput => put_object_tagging;
    delete_object_tagging(DeleteObjectTaggingInput) -> DeleteObjectTaggingOutput => delete_object_tagging;
    get_bucket_tagging(GetBucketTaggingInput) -> GetBucketTaggingOutput => get_bucket_tagging;
    put_bucket_tagging(PutBucketTaggingInput) -> PutBucketTaggingOutput => put_bucket_tagging;
    delete_bucket_tagging(DeleteBucketTaggingInput) -> DeleteBucketTaggingOutput => delete_bucket_tagging;
    get_object_acl(GetObjectAclInput) -> GetObjectAclOutput => get_object_acl;
    put_object_acl(PutObjectAclInput) -> PutObjectAclOutput => put_object_acl;
    get_bucket_acl(GetBucketAclInput) -> GetBucketAclOutput => get_bucket_acl;
    put_bucket_acl(PutBucketAclInput) -> PutBucketAclOutput => put_bucket_acl;
}
