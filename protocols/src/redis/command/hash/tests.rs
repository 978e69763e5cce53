//! Hash commands against the in-memory fake store; replies checked against redis-server 7.0.15.

use crate::redis::command::test_support::{bulk, err, int, ok, Harness};
use crate::resp::Reply;

async fn script(h: &mut Harness, steps: &[(&str, Reply)]) {
    for (line, expected) in steps {
        assert_eq!(&h.run(line).await, expected, "command: {line}");
    }
}

fn map(pairs: &[(&str, &str)]) -> Reply {
    Reply::Map(pairs.iter().map(|(k, v)| (bulk(k), bulk(v))).collect())
}

#[tokio::test]
async fn hset_counts_new_fields_and_hget_reads_them() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("HSET h a 1 b 2 a 3", int(2)),
            ("HGET h a", bulk("3")),
            ("HGET h b", bulk("2")),
            ("HGET h missing", Reply::Null),
            ("HGET nokey a", Reply::Null),
            ("HSET h b 20 c 30", int(1)),
            ("HMSET h d 4", ok()),
            ("HGETALL h", map(&[("a", "3"), ("b", "20"), ("c", "30"), ("d", "4")])),
            ("HGETALL nokey", Reply::Map(vec![])),
            ("TYPE h", Reply::Simple("hash".into())),
            ("HSET h a", err("ERR wrong number of arguments for 'hset' command")),
            ("HMSET h a 1 b", err("ERR wrong number of arguments for 'hmset' command")),
        ],
    )
    .await;
}

#[tokio::test]
async fn strings_and_hashes_refuse_each_other() {
    let mut h = Harness::new();
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    script(
        &mut h,
        &[
            ("SET s v", ok()),
            ("HSET s a 1", wrongtype.clone()),
            ("HGET s a", wrongtype.clone()),
            ("HGETALL s", wrongtype.clone()),
            ("HSET h a 1", int(1)),
            ("GET h", wrongtype.clone()),
            ("APPEND h x", wrongtype),
        ],
    )
    .await;
}

#[tokio::test]
async fn del_drops_the_hash_in_one_write_and_a_new_one_starts_empty() {
    let mut h = Harness::new();
    script(&mut h, &[("HSET h a 1 b 2", int(2)), ("DEL h", int(1)), ("EXISTS h", int(0)), ("HGET h a", Reply::Null)])
        .await;
    let writes = h.kv.write_count();
    h.run("HSET h c 3").await;
    // The old fields are not resurrected: the new hash has a new version.
    script(&mut h, &[("HGETALL h", map(&[("c", "3")]))]).await;
    assert_eq!(h.kv.write_count(), writes, "HSET commits as a transaction, not a plain write");
}

#[tokio::test]
async fn rename_moves_the_whole_hash_and_expire_applies_to_it() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("HSET h a 1 b 2", int(2)),
            ("RENAME h g", ok()),
            ("HGETALL g", map(&[("a", "1"), ("b", "2")])),
            ("EXISTS h", int(0)),
            ("EXPIRE g 10", int(1)),
            ("TTL g", int(10)),
            ("HSET g c 3", int(1)),
            ("TTL g", int(10)),
        ],
    )
    .await;
    h.kv.advance_ms(10_001);
    script(&mut h, &[("HGET g a", Reply::Null), ("EXISTS g", int(0))]).await;
}

#[tokio::test]
async fn hset_inside_multi_sees_its_own_writes() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("MULTI", ok()),
            ("HSET h a 1", Reply::Simple("QUEUED".into())),
            ("HSET h a 2 b 1", Reply::Simple("QUEUED".into())),
            ("HGETALL h", Reply::Simple("QUEUED".into())),
            ("EXEC", Reply::Array(vec![int(1), int(1), map(&[("a", "2"), ("b", "1")])])),
        ],
    )
    .await;
}
