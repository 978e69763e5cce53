//! Bit and HyperLogLog commands against the in-memory fake store; expected replies and counts
//! were taken from redis-server 7.0.15.

use bytes::Bytes;

use crate::redis::command::test_support::{bulk, err, int, ok, Harness};
use crate::resp::Reply;

async fn script(h: &mut Harness, steps: &[(&str, Reply)]) {
    for (line, expected) in steps {
        assert_eq!(&h.run(line).await, expected, "command: {line}");
    }
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";

#[tokio::test]
async fn setbit_and_getbit() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("SETBIT b 7 1", int(0)),
            ("SETBIT b 7 1", int(1)),
            ("SETBIT b 100 1", int(0)),
            ("STRLEN b", int(13)),
            ("GETBIT b 7", int(1)),
            ("GETBIT b 6", int(0)),
            ("GETBIT b 1000000", int(0)),
            ("GETBIT nokey 1", int(0)),
            ("SETBIT b 7 0", int(1)),
            ("GETBIT b 7", int(0)),
            ("SETBIT b -1 1", err("ERR bit offset is not an integer or out of range")),
            ("SETBIT b 4294967296 1", err("ERR bit offset is not an integer or out of range")),
            ("SETBIT b 1 2", err("ERR bit is not an integer or out of range")),
            ("SETBIT b 1 x", err("ERR bit is not an integer or out of range")),
            ("GETBIT b x", err("ERR bit offset is not an integer or out of range")),
            ("SET s a", ok()),
            ("SETBIT s 6 1", int(0)),
            ("GET s", bulk("c")),
            ("HSET hash a 1", int(1)),
            ("SETBIT hash 1 1", err(WRONGTYPE)),
            ("GETBIT hash 1", err(WRONGTYPE)),
        ],
    )
    .await;
}

#[tokio::test]
async fn bitcount_with_byte_and_bit_ranges() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("SET s foobar", ok()),
            ("BITCOUNT s", int(26)),
            ("BITCOUNT s 0 0", int(4)),
            ("BITCOUNT s 1 1", int(6)),
            ("BITCOUNT s 1 1 BIT", int(1)),
            ("BITCOUNT s 5 30 bit", int(17)),
            ("BITCOUNT s -2 -1", int(7)),
            ("BITCOUNT s -1 -2", int(0)),
            ("BITCOUNT s 1", err("ERR syntax error")),
            ("BITCOUNT s 0 1 foo", err("ERR syntax error")),
            ("BITCOUNT s x 1", err("ERR value is not an integer or out of range")),
            ("BITCOUNT nokey 1", int(0)),
            ("BITCOUNT nokey", int(0)),
        ],
    )
    .await;
}

#[tokio::test]
async fn bitpos_finds_set_and_clear_bits() {
    let mut h = Harness::new();
    // f = ff f0 00
    for bit in 0..12 {
        h.run(&format!("SETBIT f {bit} 1")).await;
    }
    h.run("SETBIT f 23 0").await;
    script(
        &mut h,
        &[
            ("BITPOS f 0", int(12)),
            ("BITPOS f 1", int(0)),
            ("BITPOS f 1 2", int(-1)),
            ("BITPOS f 0 2", int(16)),
            ("BITPOS f 1 1", int(8)),
            ("BITPOS f 0 0 0", int(-1)),
            ("BITPOS f 1 7 15 BIT", int(7)),
            ("BITPOS f 0 2 10 BIT", int(-1)),
            ("BITPOS f 0 2 -1 BIT", int(12)),
            ("BITPOS f 2", err("ERR The bit argument must be 1 or 0.")),
            ("BITPOS f x", err("ERR value is not an integer or out of range")),
            ("BITPOS nokey 0", int(0)),
            ("BITPOS nokey 1", int(-1)),
            ("BITPOS f 0 0 1 2", err("ERR syntax error")),
            ("SETBIT one 15 1", int(0)),
            ("SETBIT one 15 0", int(1)),
            ("BITPOS one 1", int(-1)),
            ("SETBIT full 7 1", int(0)),
        ],
    )
    .await;
    for bit in 0..7 {
        h.run(&format!("SETBIT full {bit} 1")).await;
    }
    script(&mut h, &[("BITPOS full 0", int(8)), ("BITPOS full 0 0 -1", int(-1))]).await;
}

#[tokio::test]
async fn bitop_combines_strings() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("SET a abc", ok()),
            ("SET b a", ok()),
            ("BITOP AND d a b", int(3)),
            ("GET d", Reply::Bulk(Bytes::from_static(b"a\x00\x00"))),
            ("BITOP OR d a b", int(3)),
            ("GET d", bulk("abc")),
            ("BITOP XOR d a b", int(3)),
            ("GET d", Reply::Bulk(Bytes::from_static(b"\x00bc"))),
            ("BITOP NOT d b", int(1)),
            ("GET d", Reply::Bulk(Bytes::from_static(&[!b'a']))),
            ("BITOP NOT d a b", err("ERR BITOP NOT must be called with a single source key.")),
            ("BITOP FOO d a", err("ERR syntax error")),
            ("BITOP AND d nokey", int(0)),
            ("EXISTS d", int(0)),
            ("HSET h a 1", int(1)),
            ("BITOP AND d h", err(WRONGTYPE)),
            ("BITOP OR h a", int(3)),
            ("TYPE h", Reply::Simple("string".into())),
        ],
    )
    .await;
}

async fn pfadd_range(h: &mut Harness, key: &str, prefix: &str, range: std::ops::Range<usize>) {
    let items: Vec<String> = range.map(|i| format!("{prefix}{i}")).collect();
    for chunk in items.chunks(500) {
        h.run(&format!("PFADD {key} {}", chunk.join(" "))).await;
    }
}

#[tokio::test]
async fn pfcount_matches_redis_estimates() {
    let mut h = Harness::new();
    // (elements added, what redis-server 7.0.15 answers) for PFADD h element:0 .. element:n-1.
    for (n, expected) in [(1, 1), (10, 10), (100, 99), (1000, 997), (10_000, 10_017)] {
        h.run("DEL h").await;
        pfadd_range(&mut h, "h", "element:", 0..n).await;
        assert_eq!(h.run("PFCOUNT h").await, int(expected), "{n} elements");
    }
    pfadd_range(&mut h, "a", "a", 0..300).await;
    pfadd_range(&mut h, "b", "a", 200..700).await;
    assert_eq!(h.run("PFCOUNT a b").await, int(693));
    assert_eq!(h.run("PFCOUNT a b nokey").await, int(693));
    assert_eq!(h.run("PFMERGE m a b").await, ok());
    assert_eq!(h.run("PFCOUNT m").await, int(693));
}

#[tokio::test]
async fn pf_commands_answer_like_redis() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("PFADD hl a b c", int(1)),
            ("PFADD hl a", int(0)),
            ("PFADD hl", int(0)),
            ("PFADD new", int(1)),
            ("PFCOUNT new", int(0)),
            ("PFCOUNT hl", int(3)),
            ("PFCOUNT nokey", int(0)),
            ("GETRANGE hl 0 3", bulk("HYLL")),
            ("GETRANGE hl 8 15", Reply::Bulk(Bytes::from_static(b"\x03\x00\x00\x00\x00\x00\x00\x00"))),
            ("PFADD hl d", int(1)),
            ("GETRANGE hl 15 15", Reply::Bulk(Bytes::from_static(b"\x80"))),
            ("PFCOUNT hl", int(4)),
            ("GETRANGE hl 15 15", Reply::Bulk(Bytes::from_static(b"\x00"))),
            ("STRLEN hl", int(12304)),
            ("SET s foobar", ok()),
            ("PFADD s a", err(NOT_HLL)),
            ("PFCOUNT s", err(NOT_HLL)),
            ("PFCOUNT hl s", err(NOT_HLL)),
            ("PFMERGE m s", err(NOT_HLL)),
            ("HSET h a 1", int(1)),
            ("PFADD h a", err(WRONGTYPE)),
            ("PFCOUNT h", err(WRONGTYPE)),
            ("PFMERGE dest", ok()),
            ("PFCOUNT dest", int(0)),
            ("PFMERGE dest hl new", ok()),
            ("PFCOUNT dest", int(4)),
            ("PFMERGE s hl", err(NOT_HLL)),
        ],
    )
    .await;
}

#[tokio::test]
async fn sparse_hlls_copied_from_redis_are_read() {
    let mut h = Harness::new();
    // What redis-server answers to `PFADD x a b c` then `GET x` (sparse encoding).
    let sparse: &[u8] = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80`\xf3\x80P\xb1\x84K\xfb\x80BZ";
    h.run_args(vec![Bytes::from_static(b"SET"), Bytes::from_static(b"x"), Bytes::from_static(sparse)]).await;
    assert_eq!(h.run("PFCOUNT x").await, int(3));
    assert_eq!(h.run("PFADD x a b c").await, int(0));
    assert_eq!(h.run("PFADD x d").await, int(1));
    assert_eq!(h.run("PFCOUNT x").await, int(4));
}
