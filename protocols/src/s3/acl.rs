//! Canned ACLs as S3 shows them and as clients set them. Strata stores one of two canned
//! ACLs per bucket and object (`private`, `public-read`); Get*Acl renders it as S3's grant
//! list, and Put*Acl accepts the `x-amz-acl` header or an AccessControlPolicy body that is
//! equivalent to one of the two. Anything finer (other grantees or permissions, `x-amz-grant-*`
//! headers) is 501 NotImplemented rather than silently widened or narrowed.

use s3s::dto::{AccessControlPolicy, Grant, Grantee, Grants, Permission, Type};

use crate::s3::error::{S3Error, S3Result};
use crate::s3::op::owner;
use crate::s3::store::records::CannedAcl;

/// The group S3 uses for "everyone, signed or not".
pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

/// Whether an ACL is set on a bucket or an object: objects also take the two
/// `bucket-owner-*` canned ACLs, which mean `private` when bucket and object have one owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclTarget {
    Bucket,
    Object,
}

/// The grants a canned ACL stands for: the owner's FULL_CONTROL, plus READ for AllUsers when
/// public.
pub fn grants(acl: CannedAcl) -> Grants {
    let owner = owner();
    let mut grants = vec![Grant {
        grantee: Some(Grantee {
            display_name: owner.display_name.clone(),
            email_address: None,
            id: owner.id.clone(),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }];
    if acl == CannedAcl::PublicRead {
        grants.push(Grant {
            grantee: Some(Grantee {
                display_name: None,
                email_address: None,
                id: None,
                type_: Type::from_static(Type::GROUP),
                uri: Some(ALL_USERS.to_string()),
            }),
            permission: Some(Permission::from_static(Permission::READ)),
        });
    }
    grants
}

/// A canned ACL name (`x-amz-acl`) as the ACL Strata stores.
pub fn from_canned(name: &str, target: AclTarget) -> S3Result<CannedAcl> {
    match (name, target) {
        ("private", _) => Ok(CannedAcl::Private),
        ("public-read", _) => Ok(CannedAcl::PublicRead),
        ("bucket-owner-read" | "bucket-owner-full-control", AclTarget::Object) => Ok(CannedAcl::Private),
        _ => Err(S3Error::NotImplemented("canned ACLs other than private and public-read")),
    }
}

/// The canned ACL an AccessControlPolicy is equivalent to: the owner's FULL_CONTROL and
/// nothing else (private), or that plus READ for AllUsers (public-read).
pub fn from_policy(policy: &AccessControlPolicy) -> S3Result<CannedAcl> {
    let us = owner();
    if policy.owner.as_ref().is_some_and(|o| o.id.is_some() && o.id != us.id) {
        return Err(S3Error::AccessDenied);
    }
    let mut owner_full_control = false;
    let mut public_read = false;
    for grant in policy.grants.iter().flatten() {
        let (Some(grantee), Some(permission)) = (&grant.grantee, &grant.permission) else {
            return Err(S3Error::MalformedAcl);
        };
        let is_owner = grantee.type_.as_str() == Type::CANONICAL_USER && grantee.id == us.id;
        let is_everyone = grantee.type_.as_str() == Type::GROUP && grantee.uri.as_deref() == Some(ALL_USERS);
        match permission.as_str() {
            Permission::FULL_CONTROL if is_owner => owner_full_control = true,
            Permission::READ if is_everyone => public_read = true,
            _ => return Err(S3Error::NotImplemented("ACL grants other than those of private and public-read")),
        }
    }
    if !owner_full_control {
        return Err(S3Error::NotImplemented("ACLs that do not give the owner FULL_CONTROL"));
    }
    Ok(if public_read { CannedAcl::PublicRead } else { CannedAcl::Private })
}

/// What a PutBucketAcl / PutObjectAcl asks for: exactly one of a canned ACL and a policy
/// body; grant headers are not supported.
pub fn from_request(
    canned: Option<&str>,
    policy: Option<&AccessControlPolicy>,
    grant_headers: bool,
    target: AclTarget,
) -> S3Result<CannedAcl> {
    if grant_headers {
        return Err(S3Error::NotImplemented("x-amz-grant-* headers"));
    }
    match (canned, policy) {
        (Some(name), None) => from_canned(name, target),
        (None, Some(policy)) => from_policy(policy),
        (Some(_), Some(_)) => Err(S3Error::InvalidRequest(
            "Specifying both a canned ACL and an access control policy is not allowed".into(),
        )),
        (None, None) => Err(S3Error::MalformedAcl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::dto::Owner;

    fn policy(grants: Grants) -> AccessControlPolicy {
        AccessControlPolicy { grants: Some(grants), owner: Some(owner()) }
    }

    #[test]
    fn canned_acls_round_trip_through_their_grants() {
        for acl in [CannedAcl::Private, CannedAcl::PublicRead] {
            assert_eq!(from_policy(&policy(grants(acl))).unwrap(), acl);
        }
        assert_eq!(grants(CannedAcl::Private).len(), 1);
        assert_eq!(grants(CannedAcl::PublicRead)[1].grantee.as_ref().unwrap().uri.as_deref(), Some(ALL_USERS));
    }

    #[test]
    fn policies_beyond_the_two_canned_acls_are_not_implemented() {
        let mut write = grants(CannedAcl::PublicRead);
        write[1].permission = Some(Permission::from_static(Permission::WRITE));
        assert!(matches!(from_policy(&policy(write)), Err(S3Error::NotImplemented(_))));
        let mut other_user = grants(CannedAcl::Private);
        other_user[0].grantee.as_mut().unwrap().id = Some("someone-else".into());
        assert!(matches!(from_policy(&policy(other_user)), Err(S3Error::NotImplemented(_))));
        assert!(matches!(from_policy(&policy(Vec::new())), Err(S3Error::NotImplemented(_))));
        let foreign = AccessControlPolicy {
            grants: Some(grants(CannedAcl::Private)),
            owner: Some(Owner { display_name: None, id: Some("x".into()) }),
        };
        assert!(matches!(from_policy(&foreign), Err(S3Error::AccessDenied)));
    }

    #[test]
    fn requests_name_exactly_one_acl() {
        assert_eq!(from_request(Some("public-read"), None, false, AclTarget::Bucket).unwrap(), CannedAcl::PublicRead);
        assert_eq!(
            from_request(Some("bucket-owner-full-control"), None, false, AclTarget::Object).unwrap(),
            CannedAcl::Private
        );
        assert!(matches!(
            from_request(Some("bucket-owner-full-control"), None, false, AclTarget::Bucket),
            Err(S3Error::NotImplemented(_))
        ));
        assert!(matches!(
            from_request(Some("authenticated-read"), None, false, AclTarget::Object),
            Err(S3Error::NotImplemented(_))
        ));
        assert!(matches!(from_request(None, None, true, AclTarget::Object), Err(S3Error::NotImplemented(_))));
        assert!(matches!(from_request(None, None, false, AclTarget::Object), Err(S3Error::MalformedAcl)));
        let both = from_request(Some("private"), Some(&policy(grants(CannedAcl::Private))), false, AclTarget::Object);
        assert!(matches!(both, Err(S3Error::InvalidRequest(_))));
    }
}
