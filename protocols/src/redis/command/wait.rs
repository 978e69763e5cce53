//! WAIT numreplicas timeout
//!
//! A Strata write is acknowledged only once a quorum of its range's replicas has it durably, so
//! every earlier write of this connection is already on at least `quorum - 1` replicas besides
//! the leader when WAIT runs. WAIT answers at once with the number of replicas asked for, capped
//! at the smallest range's replica count minus one (the leader is not a replica), without
//! waiting for the timeout.

use bytes::Bytes;

use super::{arg, int_arg};
use crate::kv::KvStore;
use crate::redis::error::RedisError;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Wait {
    replicas: i64,
}

impl Wait {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let replicas = int_arg(&arg(args, 1)?)?;
        let timeout = int_arg(&arg(args, 2)?)?;
        if timeout < 0 {
            return Err(RedisError::NegativeTimeout);
        }
        Ok(Wait { replicas })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let info = kv.cluster_info().await?;
        Ok(Reply::Integer(self.replicas.clamp(0, min_followers(&info.fields))))
    }
}

/// The smallest number of followers (replicas besides the leader) of any range, from the
/// `strata_rangeN: leader=...,replicas=1@a|2@b|3@c,epoch=...` lines of [`KvStore::cluster_info`].
fn min_followers(fields: &[(String, String)]) -> i64 {
    let followers = fields
        .iter()
        .filter(|(field, _)| field.starts_with("strata_range") && field != "strata_ranges")
        .filter_map(|(_, value)| {
            let replicas = value.split(',').find_map(|part| part.strip_prefix("replicas="))?;
            Some(replicas.split('|').filter(|r| !r.is_empty()).count().saturating_sub(1))
        })
        .min()
        .unwrap_or(0);
    i64::try_from(followers).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::min_followers;

    #[test]
    fn counts_the_followers_of_the_smallest_range() {
        let line = |range: &str, replicas: &str| {
            (format!("strata_range{range}"), format!("leader=a,replicas={replicas},epoch=1.1"))
        };
        let fields = vec![
            ("strata_ranges".to_string(), "2".to_string()),
            line("1", "1@a|2@b|3@c"),
            line("2", "1@a|2@b|3@c|4@d|5@e"),
        ];
        assert_eq!(min_followers(&fields), 2);
        assert_eq!(min_followers(&[]), 0);
    }
}
