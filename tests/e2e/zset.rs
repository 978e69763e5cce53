//! Sorted sets end to end: every command family through the `redis` crate, a scripted
//! sequence compared byte for byte with redis-server (RESP2 and RESP3), blocking pops woken by
//! another client, ZSCAN paging, and range queries over a score index split across ranges.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::AsyncCommands;

use crate::cluster::{eventually, Cluster};
use crate::compat::ReferenceRedis;
use crate::raw::RawConn;

/// The script shared with the unit tests (whose expectations were generated from it).
const SCRIPT: &str = include_str!("zset_script.txt");

/// Lines RawConn can send (it splits on spaces, so no quoted arguments).
fn script_lines() -> Vec<&'static str> {
    SCRIPT.lines().filter(|l| !l.is_empty() && !l.contains('"')).collect()
}

async fn same_replies(strata: &mut RawConn, redis: &mut RawConn, lines: &[&str]) {
    for line in lines {
        let expected = redis.cmd(line).await;
        let actual = strata.cmd(line).await;
        assert_eq!(actual, expected, "reply to `{line}` differs from redis-server");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn zset_script_matches_redis_byte_for_byte_in_resp2_and_resp3() {
    let reference = ReferenceRedis::start().await;
    let cluster = Cluster::start().await;
    let lines = script_lines();
    {
        let mut redis = RawConn::connect(reference.port).await;
        let mut strata = RawConn::connect(cluster.redis_port).await;
        same_replies(&mut strata, &mut redis, &lines).await;
    }
    let mut redis = RawConn::connect(reference.port).await;
    let mut strata = RawConn::connect(cluster.redis_port).await;
    redis.cmd("FLUSHALL").await;
    strata.cmd("FLUSHALL").await;
    redis.cmd("HELLO 3").await;
    strata.cmd("HELLO 3").await;
    same_replies(&mut strata, &mut redis, &lines).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn zset_families_work_through_the_redis_crate() {
    let cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;

    let added: i64 = conn.zadd_multiple("z", &[(1.5, "a"), (2.0, "b"), (3.0, "c")]).await.unwrap();
    assert_eq!(added, 3);
    let score: Option<f64> = conn.zscore("z", "a").await.unwrap();
    assert_eq!(score, Some(1.5));
    let incremented: f64 = conn.zincr("z", "a", 10).await.unwrap();
    assert_eq!(incremented, 11.5);
    let all: Vec<(String, f64)> = conn.zrange_withscores("z", 0, -1).await.unwrap();
    assert_eq!(all, vec![("b".into(), 2.0), ("c".into(), 3.0), ("a".into(), 11.5)]);
    let by_score: Vec<String> = conn.zrangebyscore("z", "(2", "+inf").await.unwrap();
    assert_eq!(by_score, vec!["c", "a"]);
    let rev: Vec<String> = conn.zrevrangebyscore_limit("z", "+inf", "-inf", 1, 1).await.unwrap();
    assert_eq!(rev, vec!["c"]);
    let rank: Option<i64> = conn.zrank("z", "a").await.unwrap();
    assert_eq!(rank, Some(2));
    let count: i64 = conn.zcount("z", 2, 3).await.unwrap();
    assert_eq!(count, 2);
    let card: i64 = conn.zcard("z").await.unwrap();
    assert_eq!(card, 3);

    let _: i64 = conn.zadd_multiple("lex", &[(0, "a"), (0, "b"), (0, "c"), (0, "d")]).await.unwrap();
    let lex: Vec<String> = conn.zrangebylex("lex", "(a", "[c").await.unwrap();
    assert_eq!(lex, vec!["b", "c"]);
    let lexcount: i64 = conn.zlexcount("lex", "-", "+").await.unwrap();
    assert_eq!(lexcount, 4);
    let removed: i64 = conn.zrembylex("lex", "[a", "[b").await.unwrap();
    assert_eq!(removed, 2);

    let _: i64 = conn.zadd_multiple("other", &[(1, "c"), (5, "d")]).await.unwrap();
    let stored: i64 = conn.zunionstore("u", &["z", "other"]).await.unwrap();
    assert_eq!(stored, 4);
    let union: Vec<(String, f64)> = conn.zrange_withscores("u", 0, -1).await.unwrap();
    assert_eq!(union, vec![("b".into(), 2.0), ("c".into(), 4.0), ("d".into(), 5.0), ("a".into(), 11.5)]);
    let inter: i64 = conn.zinterstore("i", &["z", "other"]).await.unwrap();
    assert_eq!(inter, 1);
    let diff: Vec<String> = redis::cmd("ZDIFF").arg(2).arg("z").arg("other").query_async(&mut conn).await.unwrap();
    assert_eq!(diff, vec!["b", "a"]);

    let popped: Vec<(String, f64)> = conn.zpopmin("u", 2).await.unwrap();
    assert_eq!(popped, vec![("b".into(), 2.0), ("c".into(), 4.0)]);
    let popped: Vec<(String, f64)> = conn.zpopmax("u", 1).await.unwrap();
    assert_eq!(popped, vec![("a".into(), 11.5)]);
    let random: Vec<String> = conn.zrandmember("z", Some(10)).await.unwrap();
    assert_eq!(random.len(), 3);
    let removed: i64 = conn.zrem("z", &["a", "nosuch"]).await.unwrap();
    assert_eq!(removed, 1);
    let removed: i64 = conn.zrembyscore("z", "-inf", "+inf").await.unwrap();
    assert_eq!(removed, 2);
    let exists: bool = conn.exists("z").await.unwrap();
    assert!(!exists, "the last removal deletes the key");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_pop_is_served_by_another_clients_add_and_zscan_pages_large_sets() {
    let cluster = Cluster::start().await;
    let mut waiter = cluster.connection().await;
    let blocked = tokio::spawn(async move {
        let got: Option<(String, String, f64)> =
            redis::cmd("BZPOPMIN").arg("q1").arg("q2").arg(10).query_async(&mut waiter).await.unwrap();
        got
    });
    let mut conn = cluster.connection().await;
    let _: i64 = conn.zadd("q2", "job", 7).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), blocked).await.expect("woken in time").unwrap();
    assert_eq!(got, Some(("q2".into(), "job".into(), 7.0)));
    let left: i64 = conn.zcard("q2").await.unwrap();
    assert_eq!(left, 0);

    // More than 128 members: ZSCAN pages with a cursor and visits every member once.
    let members: Vec<(i64, String)> = (0..500).map(|i| (i, format!("m{i:03}"))).collect();
    let _: i64 = conn.zadd_multiple("big", &members).await.unwrap();
    let mut cursor = 0u64;
    let mut seen = BTreeMap::new();
    loop {
        let (next, page): (u64, Vec<(String, f64)>) =
            redis::cmd("ZSCAN").arg("big").arg(cursor).arg("COUNT").arg(50).query_async(&mut conn).await.unwrap();
        for (member, score) in page {
            assert!(seen.insert(member, score).is_none(), "a member was returned twice");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 500);
    assert_eq!(seen.get("m123"), Some(&123.0));
}

/// Versions (sub-key bytes 1..9) whose score index (kind `s`, byte 9) holds a range boundary.
async fn split_indexes(cluster: &Cluster) -> Option<Vec<[u8; 8]>> {
    let catalog = cluster.catalog().await?;
    let mut versions: Vec<[u8; 8]> = catalog
        .ranges
        .iter()
        .map(|r| r.start_key.to_vec())
        .filter(|k| k.len() > 10 && k[0] == b'r' && k[9] == b's')
        .filter_map(|k| k[1..9].try_into().ok())
        .collect();
    versions.dedup();
    Some(versions)
}

#[tokio::test(flavor = "multi_thread")]
async fn score_and_lex_ranges_match_a_model_across_a_range_split() {
    // A low key threshold makes ranges split by themselves inside the sub-key space; the
    // catalog then shows where, and the test waits until both indexes are cut.
    let cluster = Cluster::start_with(&["--split-keys", "80", "--split-check-ms", "200"], &[]).await;
    let mut conn = cluster.connection().await;
    let mut scored = BTreeMap::new();
    for chunk in 0..6 {
        let batch: Vec<(f64, String)> = (0..50)
            .map(|i| chunk * 50 + i)
            .map(|i| (((i * 37) % 101) as f64 / 4.0 - 10.0, format!("s{i:03}")))
            .collect();
        let _: i64 = conn.zadd_multiple("scored", &batch).await.unwrap();
        scored.extend(batch.into_iter().map(|(s, m)| (m, s)));
    }
    let lex_members: Vec<String> = (0..300).map(|i| format!("w{:03}", (i * 7) % 300)).collect();
    for chunk in lex_members.chunks(50) {
        let batch: Vec<(i64, &String)> = chunk.iter().map(|m| (0, m)).collect();
        let _: i64 = conn.zadd_multiple("lex", &batch).await.unwrap();
    }
    eventually(Duration::from_secs(60), "both score indexes to span a range split", || async {
        let versions = split_indexes(&cluster).await?;
        (versions.len() >= 2).then_some(())
    })
    .await;

    let mut by_score: Vec<(f64, &String)> = scored.iter().map(|(m, s)| (*s, m)).collect();
    by_score.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    let all: Vec<(String, f64)> = conn.zrange_withscores("scored", 0, -1).await.unwrap();
    assert_eq!(all, by_score.iter().map(|(s, m)| ((*m).clone(), *s)).collect::<Vec<_>>());
    for (lo, hi) in [(-10.0, 15.0), (-3.25, 4.5), (0.0, 0.0), (7.75, 12.0)] {
        let want: Vec<String> =
            by_score.iter().filter(|(s, _)| *s > lo && *s <= hi).map(|(_, m)| (*m).clone()).collect();
        let got: Vec<String> = conn.zrangebyscore("scored", format!("({lo}"), hi).await.unwrap();
        assert_eq!(got, want, "ZRANGEBYSCORE ({lo} {hi}");
        let got: Vec<String> = redis::cmd("ZRANGE")
            .arg("scored")
            .arg(hi)
            .arg(format!("({lo}"))
            .arg("BYSCORE")
            .arg("REV")
            .arg("LIMIT")
            .arg(3)
            .arg(20)
            .query_async(&mut conn)
            .await
            .unwrap();
        let reversed: Vec<String> = want.iter().rev().skip(3).take(20).cloned().collect();
        assert_eq!(got, reversed, "ZRANGE {hi} ({lo} BYSCORE REV LIMIT 3 20");
        let count: i64 = conn.zcount("scored", format!("({lo}"), hi).await.unwrap();
        assert_eq!(count, want.len() as i64);
    }
    for member in ["s000", "s150", "s299"] {
        let rank: Option<usize> = conn.zrank("scored", member).await.unwrap();
        assert_eq!(rank, by_score.iter().position(|(_, m)| m.as_str() == member));
    }

    let mut sorted_lex = lex_members.clone();
    sorted_lex.sort();
    for (min, max) in [("-", "+"), ("[w050", "(w250"), ("(w100", "[w101"), ("[w299", "+")] {
        let inside = |m: &String| {
            let above = match min.as_bytes()[0] {
                b'-' => true,
                b'[' => m.as_str() >= &min[1..],
                _ => m.as_str() > &min[1..],
            };
            let below = match max.as_bytes()[0] {
                b'+' => true,
                b'[' => m.as_str() <= &max[1..],
                _ => m.as_str() < &max[1..],
            };
            above && below
        };
        let want: Vec<String> = sorted_lex.iter().filter(|m| inside(m)).cloned().collect();
        let got: Vec<String> = conn.zrangebylex("lex", min, max).await.unwrap();
        assert_eq!(got, want, "ZRANGEBYLEX {min} {max}");
        let got: Vec<String> = conn.zrevrangebylex("lex", max, min).await.unwrap();
        assert_eq!(got, want.iter().rev().cloned().collect::<Vec<_>>(), "ZREVRANGEBYLEX {max} {min}");
        let count: i64 = conn.zlexcount("lex", min, max).await.unwrap();
        assert_eq!(count, want.len() as i64);
    }
}
