//! ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
//! ZINCRBY key increment member (ZADD INCR without flags, answering the new score)

use std::collections::HashMap;

use bytes::Bytes;

use super::store::{parse_score, put_member, scores_of};
use crate::kv::KvStore;
use crate::redis::collection::{load_or_create, save_meta, Atomic};
use crate::redis::command::is_option;
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZAdd {
    key: Bytes,
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
    pairs: Vec<(f64, Bytes)>,
}

impl ZAdd {
    /// Checks in Redis's order: syntax, incompatible flags, INCR arity, then every score.
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let mut cmd = ZAdd { key: super::super::arg(args, 1)?, ..ZAdd::default() };
        let mut at = 2;
        while let Some(flag) = args.get(at) {
            let set = match () {
                _ if is_option(flag, "nx") => &mut cmd.nx,
                _ if is_option(flag, "xx") => &mut cmd.xx,
                _ if is_option(flag, "gt") => &mut cmd.gt,
                _ if is_option(flag, "lt") => &mut cmd.lt,
                _ if is_option(flag, "ch") => &mut cmd.ch,
                _ if is_option(flag, "incr") => &mut cmd.incr,
                _ => break,
            };
            *set = true;
            at += 1;
        }
        let rest = args.get(at..).unwrap_or_default();
        if rest.is_empty() || rest.len() % 2 != 0 {
            return Err(RedisError::Syntax);
        }
        if cmd.nx && cmd.xx {
            return Err(RedisError::Custom("ERR XX and NX options at the same time are not compatible"));
        }
        if [cmd.gt, cmd.lt, cmd.nx].iter().filter(|set| **set).count() > 1 {
            return Err(RedisError::Custom("ERR GT, LT, and/or NX options at the same time are not compatible"));
        }
        if cmd.incr && rest.len() > 2 {
            return Err(RedisError::Custom("ERR INCR option supports a single increment-element pair"));
        }
        for pair in rest.chunks_exact(2) {
            cmd.pairs.push((parse_score(&pair[0])?, pair[1].clone()));
        }
        Ok(cmd)
    }

    pub fn parse_zincrby(args: &[Bytes]) -> Result<Self, RedisError> {
        let (key, increment, member) = (super::super::arg(args, 1)?, args.get(2), super::super::arg(args, 3)?);
        let increment = parse_score(increment.ok_or(RedisError::Syntax)?)?;
        Ok(ZAdd { key, incr: true, pairs: vec![(increment, member)], ..ZAdd::default() })
    }
}

impl ZAdd {
    pub(super) fn key(&self) -> &Bytes {
        &self.key
    }
}

impl Atomic for ZAdd {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let found = load_or_create(kv, &self.key, ValueType::ZSet).await?;
        let mut meta = found.meta;
        let none = if self.incr { Reply::Null } else { Reply::Integer(0) };
        if meta.size == 0 && self.xx {
            return Ok(none);
        }
        let members: Vec<Bytes> = self.pairs.iter().map(|(_, m)| m.clone()).collect();
        let stored = if meta.size == 0 { vec![None; members.len()] } else { scores_of(kv, &meta, &members).await? };
        // Current scores as this command changes them (a member may appear twice).
        let mut current: HashMap<Bytes, Option<f64>> = HashMap::new();
        let mut changed: HashMap<Bytes, (Option<f64>, f64)> = HashMap::new();
        let (mut added, mut updated) = (0i64, 0i64);
        let mut last_score = None;
        for ((score, member), stored) in self.pairs.iter().zip(stored) {
            let now = *current.entry(member.clone()).or_insert(stored);
            let new_score = match now {
                Some(old) => {
                    if self.nx {
                        continue;
                    }
                    let new_score = if self.incr { old + score } else { *score };
                    if new_score.is_nan() {
                        return Err(RedisError::Custom("ERR resulting score is not a number (NaN)"));
                    }
                    if (self.lt && new_score >= old) || (self.gt && new_score <= old) {
                        continue;
                    }
                    if new_score != old {
                        updated += 1;
                    }
                    new_score
                }
                None => {
                    if self.xx {
                        continue;
                    }
                    added += 1;
                    *score
                }
            };
            last_score = Some(new_score);
            current.insert(member.clone(), Some(new_score));
            let original = changed.get(member).map_or(now, |(original, _)| *original);
            changed.insert(member.clone(), (original, new_score));
        }
        let mut mutations = Vec::new();
        for (member, (original, score)) in &changed {
            if *original != Some(*score) || original.is_some_and(|o| o.to_bits() != score.to_bits()) {
                put_member(&meta, member, *score, *original, &mut mutations);
            }
        }
        meta.size += added as u64;
        if !mutations.is_empty() {
            mutations.push(save_meta(&self.key, &meta, found.expiry));
            kv.write(Vec::new(), mutations).await?;
        }
        Ok(match (self.incr, last_score) {
            (true, Some(score)) => Reply::Double(score),
            (true, None) => none,
            (false, _) => Reply::Integer(if self.ch { added + updated } else { added }),
        })
    }
}
