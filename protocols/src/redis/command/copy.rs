//! COPY source destination [DB destination-db] [REPLACE]: writes `source`'s value and expiry
//! (the same absolute instant) to `destination`, in one write conditioned on the versions of
//! both keys — atomic wherever they live.
//!
//! Strata has one database, so `DB 0` is the only index accepted; any other answers
//! `-ERR DB index is out of range`, as SELECT does (what a redis-server started with
//! `--databases 1` answers).
//!
//! A string's stored bytes (type tag and payload) are copied as they are, in one write
//! conditioned on both keys' versions. A collection gets a fresh version and a copy of every
//! sub-key under it, all in one transaction with the new metadata record (O(N), like Redis):
//! two metadata records must never name the same version, or a write through one would
//! corrupt the other. A replaced destination collection's sub-keys are left to the garbage
//! collector, as DEL leaves them.

use bytes::{BufMut, Bytes, BytesMut};

use super::{arg, int_arg, is_option};
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::collection::{atomically, scan_sub, Atomic, Meta, SUBKEY_PREFIX};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{current_expiry, kv_key, value_type, ValueType};
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct CopyKey {
    source: Bytes,
    destination: Bytes,
    /// Overwrite an existing destination instead of answering 0.
    replace: bool,
}

impl CopyKey {
    /// Options are checked left to right and the first bad one answers, as in Redis's
    /// `copyCommand`; then copying a key onto itself is refused, before any key is read.
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let source = arg(args, 1)?;
        let destination = arg(args, 2)?;
        let mut replace = false;
        let mut i = 3;
        while let Some(option) = args.get(i) {
            if is_option(option, "replace") {
                replace = true;
            } else if let (true, Some(db)) = (is_option(option, "db"), args.get(i + 1)) {
                check_db(db)?;
                i += 1;
            } else {
                return Err(RedisError::Syntax);
            }
            i += 1;
        }
        if source == destination {
            return Err(RedisError::SameObject);
        }
        Ok(CopyKey { source, destination, replace })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let from = kv_key(&self.source);
        let to = kv_key(&self.destination);
        let copied = read_modify_write(kv, vec![from, to.clone()], |snapshot| {
            let source = snapshot.states.first().cloned().unwrap_or_default();
            let Some(value) = source.value.clone() else {
                return Ok(Plan::Done(Reply::Integer(0)));
            };
            let target_exists = snapshot.states.get(1).is_some_and(|state| state.is_live());
            if target_exists && !self.replace {
                return Ok(Plan::Done(Reply::Integer(0)));
            }
            if value_type(&value)? != ValueType::String {
                // Never a COPY reply: hands the collection over to `CopyCollection` below.
                return Ok(Plan::Done(Reply::Null));
            }
            // The put replaces whatever the destination held, its expiry included.
            let mutations = vec![Mutation::Put { key: to.clone(), value, expiry: current_expiry(&source) }];
            Ok(Plan::Write { mutations, reply: Reply::Integer(1) })
        })
        .await?;
        match copied {
            // A collection: copied with its sub-keys in a transaction.
            Reply::Null => {
                atomically(
                    kv,
                    &CopyCollection { source: self.source, destination: self.destination, replace: self.replace },
                )
                .await
            }
            reply => Ok(reply),
        }
    }
}

/// COPY of a collection: new version, every sub-key copied, one transaction.
struct CopyCollection {
    source: Bytes,
    destination: Bytes,
    replace: bool,
}

/// Sub-keys copied per scan page.
const COPY_PAGE: usize = 1024;

impl Atomic for CopyCollection {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let to = kv_key(&self.destination);
        let snapshot = kv.get(vec![kv_key(&self.source), to.clone()]).await?;
        let source = snapshot.states.first().cloned().unwrap_or_default();
        let Some(value) = source.value.clone() else { return Ok(Reply::Integer(0)) };
        let target_exists = snapshot.states.get(1).is_some_and(|state| state.is_live());
        if target_exists && !self.replace {
            return Ok(Reply::Integer(0));
        }
        let expiry = current_expiry(&source);
        if value_type(&value)? == ValueType::String {
            // Became a string since the first look.
            kv.write(Vec::new(), vec![Mutation::Put { key: to, value, expiry }]).await?;
            return Ok(Reply::Integer(1));
        }
        let meta = Meta::decode(&value)?;
        let copy = Meta { version: kv.timestamp().await?, ..meta };
        let (mut from, end) = version_range(meta.version);
        let mut mutations = Vec::new();
        loop {
            let page = scan_sub(kv, from.clone(), end.clone(), COPY_PAGE, false).await?;
            for (key, sub_value) in &page {
                let mut copied = BytesMut::from(&key[..]);
                copied[1..9].copy_from_slice(&copy.version.to_be_bytes());
                mutations.push(Mutation::Put { key: copied.freeze(), value: sub_value.clone(), expiry: Expiry::Never });
            }
            match page.last() {
                Some((last, _)) if page.len() == COPY_PAGE => {
                    let mut next = BytesMut::from(&last[..]);
                    next.put_u8(0);
                    from = next.freeze();
                }
                _ => break,
            }
        }
        mutations.push(Mutation::Put { key: to, value: copy.encode(), expiry });
        kv.write(Vec::new(), mutations).await?;
        Ok(Reply::Integer(1))
    }
}

/// Every sub-key of one version, whatever its kind: `[r<version>, r<version + 1>)`.
fn version_range(version: u64) -> (Bytes, Bytes) {
    let prefix = |v: u64| {
        let mut out = BytesMut::with_capacity(9);
        out.put_u8(SUBKEY_PREFIX);
        out.put_u64(v);
        out.freeze()
    };
    let end = version.checked_add(1).map_or_else(|| crate::redis::collection::subkey_range().1, prefix);
    (prefix(version), end)
}

/// The `DB` argument: an integer that fits a C `int` (Redis's `getIntFromObjectOrReply`), and
/// then a database that exists — only 0 here.
fn check_db(db: &[u8]) -> Result<(), RedisError> {
    let index = int_arg(db)?;
    if i32::try_from(index).is_err() {
        return Err(RedisError::ValueOutOfRange { min: i32::MIN.into(), max: i32::MAX.into() });
    }
    if index != 0 {
        return Err(RedisError::DbIndexOutOfRange);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::redis::command::test_support::{bulk, err, int, ok, Harness};
    use crate::resp::Reply;

    fn map(pairs: &[(&str, &str)]) -> Reply {
        Reply::Map(pairs.iter().map(|(k, v)| (bulk(k), bulk(v))).collect())
    }

    #[tokio::test]
    async fn copying_a_hash_makes_an_independent_collection() {
        let mut h = Harness::new();
        let steps = [
            ("HSET h a 1 b 2", int(2)),
            ("EXPIRE h 100", int(1)),
            ("COPY h h2", int(1)),
            ("HGETALL h2", map(&[("a", "1"), ("b", "2")])),
            ("TTL h2", int(100)),
            ("HSET h2 a 10 c 3", int(1)),
            ("HGETALL h", map(&[("a", "1"), ("b", "2")])),
            ("HGETALL h2", map(&[("a", "10"), ("b", "2"), ("c", "3")])),
            ("DEL h", int(1)),
            ("HGETALL h2", map(&[("a", "10"), ("b", "2"), ("c", "3")])),
            ("SET s v", ok()),
            ("COPY h2 s", int(0)),
            ("GET s", bulk("v")),
            ("COPY h2 s REPLACE", int(1)),
            ("TYPE s", Reply::Simple("hash".into())),
            ("HGETALL s", map(&[("a", "10"), ("b", "2"), ("c", "3")])),
            ("HSET s a 100", int(0)),
            ("HGET h2 a", bulk("10")),
            ("COPY s h2 REPLACE", int(1)),
            ("HGET h2 a", bulk("100")),
            ("COPY nokey x", int(0)),
            ("COPY s s", err("ERR source and destination objects are the same")),
        ];
        for (line, expected) in steps {
            assert_eq!(h.run(line).await, expected, "{line}");
        }
    }

    #[tokio::test]
    async fn copying_a_big_hash_copies_every_field_and_works_inside_multi() {
        let mut h = Harness::new();
        for chunk in 0..3 {
            let pairs: Vec<String> =
                (0..1000).map(|i| format!("f{} v{}", chunk * 1000 + i, chunk * 1000 + i)).collect();
            h.run(&format!("HSET big {}", pairs.join(" "))).await;
        }
        assert_eq!(h.run("COPY big big2").await, int(1));
        let Reply::Map(fields) = h.run("HGETALL big2").await else { panic!() };
        assert_eq!(fields.len(), 3000);
        assert_eq!(h.run("HGET big2 f2999").await, bulk("v2999"));
        h.run("MULTI").await;
        h.run("HSET m x 1").await;
        h.run("COPY m m2").await;
        h.run("HSET m2 y 2").await;
        assert_eq!(h.run("EXEC").await, Reply::Array(vec![int(1), int(1), int(1)]));
        assert_eq!(h.run("HGETALL m").await, map(&[("x", "1")]));
        assert_eq!(h.run("HGETALL m2").await, map(&[("x", "1"), ("y", "2")]));
    }

    #[tokio::test]
    async fn rename_moves_a_hash_with_its_fields() {
        let mut h = Harness::new();
        let steps = [
            ("HSET h a 1 b 2", int(2)),
            ("RENAME h h2", ok()),
            ("EXISTS h", int(0)),
            ("HGETALL h2", map(&[("a", "1"), ("b", "2")])),
            ("HSET h a 9", int(1)),
            ("HGETALL h", map(&[("a", "9")])),
            ("RENAME h h2", ok()),
            ("HGETALL h2", map(&[("a", "9")])),
            ("RENAMENX h2 s", int(1)),
            ("HGET s a", bulk("9")),
        ];
        for (line, expected) in steps {
            assert_eq!(h.run(line).await, expected, "{line}");
        }
    }
}
