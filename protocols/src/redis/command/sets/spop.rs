//! SPOP key [count] / SRANDMEMBER key [count]

use bytes::Bytes;

use super::super::{arg, int_arg};
use crate::kv::{KvStore, Mutation};
use crate::redis::collection::random::{pick_distinct, pick_with_repetition, shuffle};
use crate::redis::collection::{load, save_meta, sub_key_rest, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct SPop {
    key: Bytes,
    /// `None`: one member as a bulk string. Negative (SRANDMEMBER only): with repetition.
    count: Option<i64>,
    /// SPOP: remove what is picked; SRANDMEMBER leaves the set alone.
    pop: bool,
}

impl SPop {
    pub fn parse(args: &[Bytes], pop: bool) -> Result<Self, RedisError> {
        let key = arg(args, 1)?;
        let count = match args.get(2..).unwrap_or_default() {
            [] => None,
            [count] => {
                // SPOP's count check (`getPositiveLongFromObjectOrReply`) answers the same
                // error for a non-integer as for a negative number.
                let count = match int_arg(count) {
                    Ok(count) if pop && count < 0 => return Err(RedisError::NotPositive),
                    Err(_) if pop => return Err(RedisError::NotPositive),
                    parsed => parsed?,
                };
                if count == i64::MIN {
                    return Err(RedisError::ValueOutOfRange { min: -i64::MAX, max: i64::MAX });
                }
                Some(count)
            }
            _ => return Err(RedisError::Syntax),
        };
        Ok(SPop { key, count, pop })
    }

    /// The empty reply with a count: SPOP answers a set, SRANDMEMBER an array.
    fn empty(&self) -> Reply {
        if self.pop {
            Reply::Set(Vec::new())
        } else {
            Reply::Array(Vec::new())
        }
    }
}

impl Atomic for SPop {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let found = load(kv, &self.key, ValueType::Set).await?;
        let (Some(found), Some(count)) = (&found, self.count) else {
            // Without a count: one member or nil.
            let Some(found) = found else {
                return Ok(if self.count.is_some() { self.empty() } else { Reply::Null });
            };
            let picked = pick_distinct(kv, &found.meta, SubKind::Member, 1).await?;
            let Some((key, _)) = picked.into_iter().next() else { return Ok(Reply::Null) };
            if self.pop {
                let mut meta = found.meta;
                meta.size -= 1;
                let mutations = vec![Mutation::Delete { key: key.clone() }, save_meta(&self.key, &meta, found.expiry)];
                kv.write(Vec::new(), mutations).await?;
            }
            return Ok(Reply::Bulk(sub_key_rest(&key)));
        };
        if count == 0 {
            return Ok(self.empty());
        }
        let mut meta = found.meta;
        let mut picked = if count > 0 {
            pick_distinct(kv, &meta, SubKind::Member, count.unsigned_abs()).await?
        } else {
            pick_with_repetition(kv, &meta, SubKind::Member, count.unsigned_abs()).await?
        };
        if self.pop {
            let mut mutations = Vec::new();
            if picked.len() as u64 >= meta.size {
                // Popping everything drops the set in one write; GC collects the members.
                meta.size = 0;
            } else {
                meta.size -= picked.len() as u64;
                mutations.extend(picked.iter().map(|(key, _)| Mutation::Delete { key: key.clone() }));
            }
            mutations.push(save_meta(&self.key, &meta, found.expiry));
            kv.write(Vec::new(), mutations).await?;
        }
        if count > 0 && (picked.len() as u64) < found.meta.size {
            shuffle(&mut picked);
        }
        let members = picked.into_iter().map(|(key, _)| Reply::Bulk(sub_key_rest(&key))).collect();
        Ok(if self.pop { Reply::Set(members) } else { Reply::Array(members) })
    }
}
