//! SINTER / SUNION / SDIFF key [key ...], their STORE forms (destination first) and
//! SINTERCARD numkeys key [key ...] [LIMIT limit].
//!
//! Every source is read at the command's one snapshot (it runs in one transaction), and a
//! STORE replaces the destination with a brand-new collection (a fresh version) in the same
//! commit, so readers see the old destination or the new one, never a mix.

use std::collections::{BTreeSet, HashSet};

use bytes::Bytes;

use super::super::{arg, int_arg, is_option};
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::collection::{found, scan_sub, sub_key_rest, Atomic, Found, Meta, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{kv_key, ValueType};
use crate::resp::Reply;

/// Membership in a set at least this many times larger than the candidates is checked with
/// point reads instead of reading the whole set.
const POINT_READ_RATIO: u64 = 8;
/// Point reads per round trip.
const POINT_READ_BATCH: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Inter,
    Union,
    Diff,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The members, as a set reply.
    Members,
    /// Replace this key with the result; answer its size.
    Store(Bytes),
    /// SINTERCARD: the result's size, counting stops at the limit (0: no limit).
    Card { limit: u64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Combine {
    op: Op,
    keys: Vec<Bytes>,
    output: Output,
}

impl Combine {
    /// SINTER / SUNION / SDIFF (`store` false) and their STORE forms.
    pub fn parse(args: &[Bytes], op: Op, store: bool) -> Result<Self, RedisError> {
        let rest = args.get(1..).unwrap_or_default();
        if store {
            let destination = arg(args, 1)?;
            Ok(Combine { op, keys: rest.get(1..).unwrap_or_default().to_vec(), output: Output::Store(destination) })
        } else {
            Ok(Combine { op, keys: rest.to_vec(), output: Output::Members })
        }
    }

    /// SINTERCARD, with Redis's checks in its order.
    pub fn parse_intercard(args: &[Bytes]) -> Result<Self, RedisError> {
        let numkeys = int_arg(&arg(args, 1)?).map_err(|_| RedisError::NumkeysNotPositive)?;
        if numkeys < 1 {
            return Err(RedisError::NumkeysNotPositive);
        }
        let available = args.len().saturating_sub(2);
        let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
        if numkeys > available {
            return Err(RedisError::TooManyKeys);
        }
        let keys = args[2..2 + numkeys].to_vec();
        let mut limit = 0;
        let mut options = args[2 + numkeys..].iter();
        while let Some(option) = options.next() {
            match options.next() {
                Some(value) if is_option(option, "limit") => {
                    let value = int_arg(value).map_err(|_| RedisError::LimitNegative)?;
                    limit = u64::try_from(value).map_err(|_| RedisError::LimitNegative)?;
                }
                _ => return Err(RedisError::Syntax),
            }
        }
        Ok(Combine { op: Op::Inter, keys, output: Output::Card { limit } })
    }
}

impl Atomic for Combine {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        // One read for every source's metadata; any source of the wrong type is an error,
        // even when another is missing (Redis checks them all first).
        let read = kv.get(self.keys.iter().map(|key| kv_key(key)).collect()).await?;
        let sources: Vec<Option<Found>> =
            read.states.iter().map(|state| found(state, ValueType::Set)).collect::<Result<_, _>>()?;
        let members = match self.op {
            Op::Inter => intersection(kv, &sources).await?,
            Op::Union => union(kv, &sources).await?,
            Op::Diff => difference(kv, &sources).await?,
        };
        match &self.output {
            Output::Members => Ok(Reply::Set(members.into_iter().map(Reply::Bulk).collect())),
            Output::Card { limit } => {
                let size = members.len() as u64;
                Ok(Reply::Integer(if *limit > 0 { size.min(*limit) } else { size } as i64))
            }
            Output::Store(destination) => {
                let size = members.len();
                let mut mutations = Vec::with_capacity(size + 1);
                if size == 0 {
                    mutations.push(Mutation::Delete { key: kv_key(destination) });
                } else {
                    // A new version: the old destination's sub-keys (if any) become garbage.
                    let mut meta = Meta::new(ValueType::Set, kv.timestamp().await?);
                    meta.size = size as u64;
                    mutations.extend(members.into_iter().map(|member| Mutation::Put {
                        key: meta.sub_key(SubKind::Member, &member),
                        value: Bytes::new(),
                        expiry: Expiry::Never,
                    }));
                    // Storing replaces the key outright: any TTL it had is gone, as in Redis.
                    mutations.push(Mutation::Put {
                        key: kv_key(destination),
                        value: meta.encode(),
                        expiry: Expiry::Never,
                    });
                }
                kv.write(Vec::new(), mutations).await?;
                Ok(Reply::Integer(size as i64))
            }
        }
    }
}

/// Every member of a set, in key order.
async fn members<K: KvStore>(kv: &K, meta: &Meta) -> Result<Vec<Bytes>, RedisError> {
    let (start, end) = meta.sub_range(SubKind::Member);
    Ok(scan_sub(kv, start, end, usize::MAX, false).await?.into_iter().map(|(key, _)| sub_key_rest(&key)).collect())
}

/// Which of `candidates` are members of the set `meta`: point reads when the set is much
/// larger than the candidates, one scan otherwise.
async fn contained<K: KvStore>(kv: &K, meta: &Meta, candidates: &[Bytes]) -> Result<Vec<bool>, RedisError> {
    if meta.size / POINT_READ_RATIO > candidates.len() as u64 {
        let mut present = Vec::with_capacity(candidates.len());
        for batch in candidates.chunks(POINT_READ_BATCH) {
            let keys = batch.iter().map(|member| meta.sub_key(SubKind::Member, member)).collect();
            present.extend(kv.get(keys).await?.states.iter().map(|state| state.is_live()));
        }
        return Ok(present);
    }
    let all: HashSet<Bytes> = members(kv, meta).await?.into_iter().collect();
    Ok(candidates.iter().map(|member| all.contains(member)).collect())
}

async fn intersection<K: KvStore>(kv: &K, sources: &[Option<Found>]) -> Result<Vec<Bytes>, RedisError> {
    let mut metas: Vec<Meta> = Vec::with_capacity(sources.len());
    for source in sources {
        match source {
            Some(found) => metas.push(found.meta),
            None => return Ok(Vec::new()),
        }
    }
    // Start from the smallest set, as Redis does: the result is a subset of it.
    metas.sort_by_key(|meta| meta.size);
    let Some((smallest, others)) = metas.split_first() else { return Ok(Vec::new()) };
    let mut result = members(kv, smallest).await?;
    for meta in others {
        if result.is_empty() {
            break;
        }
        if meta.version == smallest.version {
            continue;
        }
        let present = contained(kv, meta, &result).await?;
        let mut keep = present.into_iter();
        result.retain(|_| keep.next().unwrap_or(false));
    }
    Ok(result)
}

async fn union<K: KvStore>(kv: &K, sources: &[Option<Found>]) -> Result<Vec<Bytes>, RedisError> {
    let mut all = BTreeSet::new();
    let mut seen_versions = HashSet::new();
    for found in sources.iter().flatten() {
        if seen_versions.insert(found.meta.version) {
            all.extend(members(kv, &found.meta).await?);
        }
    }
    Ok(all.into_iter().collect())
}

async fn difference<K: KvStore>(kv: &K, sources: &[Option<Found>]) -> Result<Vec<Bytes>, RedisError> {
    let Some(Some(first)) = sources.first() else { return Ok(Vec::new()) };
    let mut result = members(kv, &first.meta).await?;
    for found in sources[1..].iter().flatten() {
        if result.is_empty() {
            break;
        }
        if found.meta.version == first.meta.version {
            return Ok(Vec::new());
        }
        let present = contained(kv, &found.meta, &result).await?;
        let mut drop = present.into_iter();
        result.retain(|_| !drop.next().unwrap_or(false));
    }
    Ok(result)
}
