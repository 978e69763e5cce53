//! LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: the longest common
//! subsequence of two strings, its length, or the matching ranges, as Redis 7.0 answers them.
//!
//! Both keys are read in one snapshot. The table is Redis's dynamic programme (one `u32` per
//! pair of prefixes), so the transient memory is (len1 + 1) × (len2 + 1) × 4 bytes, refused
//! above `proto-max-bulk-len` like Redis does.

use bytes::Bytes;

use super::{arg, int_arg, is_option};
use crate::kv::KvStore;
use crate::redis::error::RedisError;
use crate::redis::keyspace::{kv_key, read_string};
use crate::resp::Reply;

const NOT_STRINGS: &str = "ERR The specified keys must contain string values";
const LEN_AND_IDX: &str = "ERR If you want both the length and indexes, please just use IDX.";
const TOO_MUCH_MEMORY: &str = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";

#[derive(Clone, Debug, PartialEq)]
pub struct Lcs {
    keys: [Bytes; 2],
    /// The options after the keys, parsed only once the keys were read: Redis reports a
    /// wrong-type key before a syntax error.
    options: Vec<Bytes>,
}

#[derive(Debug, Default, PartialEq)]
struct Options {
    len: bool,
    idx: bool,
    min_match_len: u64,
    with_match_len: bool,
}

impl Options {
    fn parse(args: &[Bytes]) -> Result<Options, RedisError> {
        let mut options = Options::default();
        let mut rest = args.iter();
        while let Some(option) = rest.next() {
            if is_option(option, "idx") {
                options.idx = true;
            } else if is_option(option, "len") {
                options.len = true;
            } else if is_option(option, "withmatchlen") {
                options.with_match_len = true;
            } else if is_option(option, "minmatchlen") && rest.len() > 0 {
                let value = rest.next().map(|v| int_arg(v)).transpose()?.unwrap_or(0);
                options.min_match_len = value.max(0) as u64;
            } else {
                return Err(RedisError::Syntax);
            }
        }
        if options.len && options.idx {
            return Err(RedisError::Custom(LEN_AND_IDX));
        }
        Ok(options)
    }
}

impl Lcs {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Lcs { keys: [arg(args, 1)?, arg(args, 2)?], options: args.get(3..).unwrap_or_default().to_vec() })
    }

    pub async fn apply<K: KvStore>(self, kv: &K, max_table_bytes: u64) -> Result<Reply, RedisError> {
        let snapshot = kv.get(self.keys.iter().map(|k| kv_key(k)).collect()).await?;
        let mut values = Vec::with_capacity(2);
        for state in &snapshot.states {
            let value = read_string(state).map_err(|_| RedisError::Custom(NOT_STRINGS))?;
            values.push(value.unwrap_or_default());
        }
        let (Some(a), Some(b)) = (values.first(), values.get(1)) else {
            return Err(RedisError::Kv(crate::kv::KvError::Internal("read returned the wrong number of keys".into())));
        };
        let options = Options::parse(&self.options)?;
        let cells = (a.len() as u64 + 1).saturating_mul(b.len() as u64 + 1);
        if cells.saturating_mul(4) > max_table_bytes {
            return Err(RedisError::Custom(TOO_MUCH_MEMORY));
        }
        Ok(answer(a, b, &options))
    }
}

/// `table[i * (b.len() + 1) + j]` is the LCS length of `a[..i]` and `b[..j]`.
fn lcs_table(a: &[u8], b: &[u8]) -> Vec<u32> {
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    table
}

/// A run of consecutive matching bytes: `a[a_start..=a_end]` equals `b[b_start..=b_end]`.
struct Match {
    a_start: usize,
    a_end: usize,
    b_start: usize,
    b_end: usize,
}

impl Match {
    fn len(&self) -> usize {
        self.a_end - self.a_start + 1
    }
}

fn answer(a: &[u8], b: &[u8], options: &Options) -> Reply {
    let table = lcs_table(a, b);
    let width = b.len() + 1;
    let total = table[a.len() * width + b.len()];
    if options.len {
        return Reply::Integer(i64::from(total));
    }
    // Walk back from the end of both strings, collecting the subsequence (backwards) and the
    // runs of consecutive matches, last run first, as Redis emits them.
    let mut subsequence = Vec::with_capacity(total as usize);
    let mut runs: Vec<Match> = Vec::new();
    let mut current: Option<Match> = None;
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            subsequence.push(a[i - 1]);
            match &mut current {
                // Walking back, a match right before the current run extends it.
                Some(run) if run.a_start == i && run.b_start == j => {
                    run.a_start -= 1;
                    run.b_start -= 1;
                }
                _ => current = Some(Match { a_start: i - 1, a_end: i - 1, b_start: j - 1, b_end: j - 1 }),
            }
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            runs.extend(current.take());
        }
    }
    runs.extend(current.take());
    if !options.idx {
        subsequence.reverse();
        return Reply::Bulk(Bytes::from(subsequence));
    }
    let matches = runs
        .into_iter()
        .filter(|run| run.len() as u64 >= options.min_match_len)
        .map(|run| {
            let range = |start: usize, end: usize| Reply::Array(vec![int(start), int(end)]);
            let mut item = vec![range(run.a_start, run.a_end), range(run.b_start, run.b_end)];
            if options.with_match_len {
                item.push(int(run.len()));
            }
            Reply::Array(item)
        })
        .collect();
    Reply::Map(vec![
        (Reply::Bulk(Bytes::from_static(b"matches")), Reply::Array(matches)),
        (Reply::Bulk(Bytes::from_static(b"len")), Reply::Integer(i64::from(total))),
    ])
}

fn int(n: usize) -> Reply {
    Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use crate::redis::command::test_support::Harness;
    use crate::resp::ProtocolVersion;

    /// Recorded from redis-server 7.0.15 (RESP2).
    const REDIS_SCRIPT: &[(&str, &[u8])] = &[
        ("SET a ohmytext", b"+OK\r\n"),
        ("SET b mynewtext", b"+OK\r\n"),
        ("LCS a b", b"$6\r\nmytext\r\n"),
        ("LCS a b LEN", b":6\r\n"),
        ("LCS a b IDX", b"*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n"),
        ("LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN", b"*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"),
        ("LCS a b LEN IDX", b"-ERR If you want both the length and indexes, please just use IDX.\r\n"),
        ("LCS a b foo", b"-ERR syntax error\r\n"),
        ("LCS a b MINMATCHLEN", b"-ERR syntax error\r\n"),
        ("LCS a b MINMATCHLEN x", b"-ERR value is not an integer or out of range\r\n"),
        ("LPUSH l x", b":1\r\n"),
        ("LCS a l", b"-ERR The specified keys must contain string values\r\n"),
        ("LCS l a foo", b"-ERR The specified keys must contain string values\r\n"),
        ("LCS a missing", b"$0\r\n\r\n"),
        ("LCS a missing IDX", b"*4\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n"),
    ];

    #[tokio::test]
    async fn replies_match_redis() {
        let mut h = Harness::new();
        for (line, expected) in REDIS_SCRIPT {
            let actual = h.run(line).await.to_bytes(ProtocolVersion::Resp2);
            assert_eq!(String::from_utf8_lossy(&actual), String::from_utf8_lossy(expected), "reply to `{line}`");
        }
    }

    #[tokio::test]
    async fn a_table_larger_than_proto_max_bulk_len_is_refused() {
        let mut h = Harness::new();
        h.ctx.limits.proto_max_bulk_len = 100;
        h.run("SET a 0123456789").await;
        assert_eq!(
            h.run("LCS a a").await,
            crate::redis::command::test_support::err(
                "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
            )
        );
    }
}
