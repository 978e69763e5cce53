//! ZUNION / ZINTER / ZDIFF numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
//! [WITHSCORES], their *STORE forms (destination first, no WITHSCORES), and ZINTERCARD
//! numkeys key [key ...] [LIMIT limit]. Plain sets are accepted as inputs (every member
//! scoring 1), as in Redis.

use std::collections::HashMap;

use bytes::Bytes;

use super::store::{all_entries, entries_reply, parse_score, Entry};
use super::zrange::store_entries;
use crate::kv::KvStore;
use crate::redis::collection::{scan_sub, sub_key_rest, Atomic, Meta, SubKind};
use crate::redis::command::{int_arg, is_option};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{kv_key, value_type, ValueType};
use crate::resp::Reply;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Union,
    Inter,
    Diff,
    /// ZINTERCARD.
    InterCard,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ZSetOp {
    op: Op,
    dest: Option<Bytes>,
    keys: Vec<Bytes>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
    /// ZINTERCARD's LIMIT (0: none).
    limit: usize,
    /// Redis reads (and type-checks) the input keys before it parses the options, so an
    /// option error is only reported once the keys passed that check.
    option_error: Option<RedisError>,
}

impl ZSetOp {
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        let (op, store) = match name {
            "zunionstore" => (Op::Union, true),
            "zinterstore" => (Op::Inter, true),
            "zdiffstore" => (Op::Diff, true),
            "zunion" => (Op::Union, false),
            "zinter" => (Op::Inter, false),
            "zdiff" => (Op::Diff, false),
            _ => (Op::InterCard, false),
        };
        let numkeys_at = if store { 2 } else { 1 };
        let numkeys = int_arg(&super::super::arg(args, numkeys_at)?)?;
        if numkeys < 1 {
            return Err(RedisError::Custom(match name {
                "zunionstore" => "ERR at least 1 input key is needed for 'zunionstore' command",
                "zinterstore" => "ERR at least 1 input key is needed for 'zinterstore' command",
                "zdiffstore" => "ERR at least 1 input key is needed for 'zdiffstore' command",
                "zunion" => "ERR at least 1 input key is needed for 'zunion' command",
                "zinter" => "ERR at least 1 input key is needed for 'zinter' command",
                "zdiff" => "ERR at least 1 input key is needed for 'zdiff' command",
                _ => "ERR at least 1 input key is needed for 'zintercard' command",
            }));
        }
        let numkeys = numkeys as usize;
        let first_key = numkeys_at + 1;
        if numkeys > args.len() - first_key {
            return Err(RedisError::Syntax);
        }
        let keys = args[first_key..first_key + numkeys].to_vec();
        let dest = if store { Some(super::super::arg(args, 1)?) } else { None };
        let mut cmd = ZSetOp {
            op,
            dest,
            keys,
            weights: vec![1.0; numkeys],
            aggregate: Aggregate::Sum,
            with_scores: false,
            limit: 0,
            option_error: None,
        };
        if let Err(err) = cmd.parse_options(&args[first_key + numkeys..], store) {
            cmd.option_error = Some(err);
        }
        Ok(cmd)
    }

    fn parse_options(&mut self, options: &[Bytes], store: bool) -> Result<(), RedisError> {
        let mut at = 0;
        while let Some(option) = options.get(at) {
            let remaining = options.len() - at - 1;
            let set_op = matches!(self.op, Op::Union | Op::Inter);
            if self.op == Op::InterCard && remaining >= 1 && is_option(option, "limit") {
                let negative = || RedisError::Custom("ERR LIMIT can't be negative");
                let limit = int_arg(&options[at + 1]).map_err(|_| negative())?;
                self.limit = usize::try_from(limit).map_err(|_| negative())?;
                at += 2;
            } else if set_op && remaining >= self.keys.len() && is_option(option, "weights") {
                for (i, weight) in options[at + 1..at + 1 + self.keys.len()].iter().enumerate() {
                    self.weights[i] =
                        parse_score(weight).map_err(|_| RedisError::Custom("ERR weight value is not a float"))?;
                }
                at += 1 + self.keys.len();
            } else if set_op && remaining >= 1 && is_option(option, "aggregate") {
                let value = &options[at + 1];
                self.aggregate = match () {
                    _ if is_option(value, "sum") => Aggregate::Sum,
                    _ if is_option(value, "min") => Aggregate::Min,
                    _ if is_option(value, "max") => Aggregate::Max,
                    _ => return Err(RedisError::Syntax),
                };
                at += 2;
            } else if self.op != Op::InterCard && !store && is_option(option, "withscores") {
                self.with_scores = true;
                at += 1;
            } else {
                return Err(RedisError::Syntax);
            }
        }
        Ok(())
    }

    fn aggregate(&self, into: &mut f64, value: f64) {
        match self.aggregate {
            Aggregate::Sum => {
                *into += value;
                // +inf + -inf: Redis keeps 0 rather than NaN.
                if into.is_nan() {
                    *into = 0.0;
                }
            }
            Aggregate::Min => *into = into.min(value),
            Aggregate::Max => *into = into.max(value),
        }
    }
}

/// The members of an input key: a sorted set, or a plain set (every member scoring 1).
/// `None` when the key does not exist.
async fn input<K: KvStore>(kv: &K, key: &[u8]) -> Result<Option<Vec<Entry>>, RedisError> {
    let read = kv.get(vec![kv_key(key)]).await?;
    let Some(raw) = read.states.into_iter().next().and_then(|s| s.value) else { return Ok(None) };
    match value_type(&raw)? {
        ValueType::ZSet => Ok(Some(all_entries(kv, &Meta::decode(&raw)?, usize::MAX, false).await?)),
        ValueType::Set => {
            let meta = Meta::decode(&raw)?;
            let (start, end) = meta.sub_range(SubKind::Member);
            let members = scan_sub(kv, start, end, usize::MAX, false).await?;
            Ok(Some(members.iter().map(|(key, _)| Entry { member: sub_key_rest(key), score: 1.0 }).collect()))
        }
        _ => Err(RedisError::WrongType),
    }
}

impl ZSetOp {
    /// The *STORE forms' destination.
    pub(super) fn destination(&self) -> Option<&Bytes> {
        self.dest.as_ref()
    }
}

impl Atomic for ZSetOp {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let mut inputs = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            inputs.push(input(kv, key).await?);
        }
        if let Some(err) = &self.option_error {
            return Err(err.clone());
        }
        let weighted = |entries: Option<Vec<Entry>>, weight: f64| -> HashMap<Bytes, f64> {
            entries
                .unwrap_or_default()
                .into_iter()
                .map(|e| {
                    let score = e.score * weight;
                    (e.member, if score.is_nan() { 0.0 } else { score })
                })
                .collect()
        };
        let mut inputs = inputs.into_iter().zip(self.weights.iter().copied()).map(|(e, w)| weighted(e, w));
        let mut result: HashMap<Bytes, f64> = inputs.next().unwrap_or_default();
        for other in inputs {
            match self.op {
                Op::Union => {
                    for (member, score) in other {
                        match result.get_mut(&member) {
                            Some(into) => self.aggregate(into, score),
                            None => {
                                result.insert(member, score);
                            }
                        }
                    }
                }
                Op::Inter | Op::InterCard => {
                    result.retain(|member, into| match other.get(member) {
                        Some(score) => {
                            self.aggregate(into, *score);
                            true
                        }
                        None => false,
                    });
                }
                Op::Diff => result.retain(|member, _| !other.contains_key(member)),
            }
        }
        if self.op == Op::InterCard {
            let count = if self.limit > 0 { result.len().min(self.limit) } else { result.len() };
            return Ok(Reply::Integer(count as i64));
        }
        let mut entries: Vec<Entry> = result.into_iter().map(|(member, score)| Entry { member, score }).collect();
        entries.sort_by(|a, b| {
            a.score.partial_cmp(&b.score).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.member.cmp(&b.member))
        });
        match &self.dest {
            Some(dest) => {
                store_entries(kv, dest, &entries).await?;
                Ok(Reply::Integer(entries.len() as i64))
            }
            None => Ok(entries_reply(entries, self.with_scores)),
        }
    }
}
