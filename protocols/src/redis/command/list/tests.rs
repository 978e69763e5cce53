//! List commands against the in-memory fake store; replies checked against redis-server 7.0.15.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::redis::command::test_support::{bulk, err, int, ok, Harness};
use crate::redis::command::{execute, Command};
use crate::redis::session::Session;
use crate::resp::{parse_request, Limits, Reply};

async fn script(h: &mut Harness, steps: &[(&str, Reply)]) {
    for (line, expected) in steps {
        assert_eq!(&h.run(line).await, expected, "command: {line}");
    }
}

fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

fn ints(items: &[i64]) -> Reply {
    Reply::Array(items.iter().map(|&n| int(n)).collect())
}

fn queued() -> Reply {
    Reply::Simple("QUEUED".into())
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[tokio::test]
async fn push_pop_and_length() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("LPUSH l a b c", int(3)),
            ("RPUSH l d e", int(5)),
            ("LRANGE l 0 -1", arr(&["c", "b", "a", "d", "e"])),
            ("LLEN l", int(5)),
            ("LLEN nokey", int(0)),
            ("TYPE l", Reply::Simple("list".into())),
            ("LPOP l", bulk("c")),
            ("RPOP l", bulk("e")),
            ("LPOP l 2", arr(&["b", "a"])),
            ("LPOP l 0", Reply::Array(vec![])),
            ("RPOP l 10", arr(&["d"])),
            // Popping the last element deletes the key.
            ("EXISTS l", int(0)),
            ("LPOP l", Reply::Null),
            ("LPOP l 0", Reply::NullArray),
            ("RPOP l 3", Reply::NullArray),
            ("LPOP l -1", err("ERR value is out of range, must be positive")),
            ("LPOP l x", err("ERR value is out of range, must be positive")),
            ("LPOP l 1 2", err("ERR wrong number of arguments for 'lpop' command")),
            ("LPUSH l", err("ERR wrong number of arguments for 'lpush' command")),
            ("LPUSHX l a", int(0)),
            ("RPUSHX l a", int(0)),
            ("EXISTS l", int(0)),
            ("RPUSH l a", int(1)),
            ("LPUSHX l z", int(2)),
            ("RPUSHX l y x", int(4)),
            ("LRANGE l 0 -1", arr(&["z", "a", "y", "x"])),
        ],
    )
    .await;
}

#[tokio::test]
async fn every_command_refuses_other_types() {
    let mut h = Harness::new();
    h.run("SET s v").await;
    h.run("HSET h f v").await;
    for line in [
        "LPUSH s a",
        "RPUSH s a",
        "LPUSHX s a",
        "RPUSHX s a",
        "LPOP s",
        "RPOP s 2",
        "LLEN s",
        "LRANGE s 0 -1",
        "LINDEX s 0",
        "LINDEX s notanumber",
        "LSET s 0 a",
        "LINSERT s BEFORE a b",
        "LREM s 0 a",
        "LTRIM s 0 1",
        "LPOS s a",
        "LMOVE s l LEFT LEFT",
        "RPOPLPUSH s l",
        "LMPOP 1 s LEFT",
        "BLPOP s 0",
        "BRPOP nokey s 0",
        "BLMOVE s l LEFT LEFT 0",
        "BLMPOP 0 1 s LEFT",
        "LPUSH h a",
    ] {
        assert_eq!(h.run(line).await, err(WRONGTYPE), "command: {line}");
    }
    script(
        &mut h,
        &[
            ("RPUSH l a", int(1)),
            ("GET l", err(WRONGTYPE)),
            ("HGET l a", err(WRONGTYPE)),
            // The destination's type is checked once the source exists.
            ("LMOVE nokey s LEFT LEFT", Reply::Null),
            ("LMOVE l s LEFT LEFT", err(WRONGTYPE)),
            ("LRANGE l 0 -1", arr(&["a"])),
        ],
    )
    .await;
}

#[tokio::test]
async fn lrange_and_lindex_count_from_either_end() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("RPUSH l a b c d e", int(5)),
            ("LRANGE l 1 3", arr(&["b", "c", "d"])),
            ("LRANGE l -2 -1", arr(&["d", "e"])),
            ("LRANGE l -100 1", arr(&["a", "b"])),
            ("LRANGE l 3 100", arr(&["d", "e"])),
            ("LRANGE l 3 1", Reply::Array(vec![])),
            ("LRANGE l 5 10", Reply::Array(vec![])),
            ("LRANGE l -9223372036854775808 9223372036854775807", arr(&["a", "b", "c", "d", "e"])),
            ("LRANGE nokey 0 -1", Reply::Array(vec![])),
            ("LRANGE l a 1", err("ERR value is not an integer or out of range")),
            ("LINDEX l 0", bulk("a")),
            ("LINDEX l -1", bulk("e")),
            ("LINDEX l -5", bulk("a")),
            ("LINDEX l 5", Reply::Null),
            ("LINDEX l -6", Reply::Null),
            ("LINDEX l x", err("ERR value is not an integer or out of range")),
            // Redis looks the key up before parsing the index.
            ("LINDEX nokey x", Reply::Null),
        ],
    )
    .await;
}

#[tokio::test]
async fn lset_overwrites_in_place() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("RPUSH l a b c", int(3)),
            ("LSET l 1 B", ok()),
            ("LSET l -1 C", ok()),
            ("LRANGE l 0 -1", arr(&["a", "B", "C"])),
            ("LSET l 3 x", err("ERR index out of range")),
            ("LSET l -4 x", err("ERR index out of range")),
            ("LSET l x x", err("ERR value is not an integer or out of range")),
            ("LSET nokey 0 x", err("ERR no such key")),
            ("LSET nokey x x", err("ERR no such key")),
        ],
    )
    .await;
}

#[tokio::test]
async fn linsert_moves_the_shorter_side() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("RPUSH l a b c d e", int(5)),
            ("LINSERT l BEFORE b x", int(6)),
            ("LINSERT l after d y", int(7)),
            ("LINSERT l BEFORE a first", int(8)),
            ("LINSERT l AFTER e last", int(9)),
            ("LRANGE l 0 -1", arr(&["first", "a", "x", "b", "c", "d", "y", "e", "last"])),
            ("LINSERT l BEFORE nothere z", int(-1)),
            ("LINSERT nokey BEFORE a z", int(0)),
            ("EXISTS nokey", int(0)),
            ("LINSERT l MIDDLE a z", err("ERR syntax error")),
            ("LINDEX l 4", bulk("c")),
            ("LLEN l", int(9)),
        ],
    )
    .await;
}

#[tokio::test]
async fn lrem_from_the_head_the_tail_or_everywhere() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("RPUSH l a b a c a d a", int(7)),
            ("LREM l 2 a", int(2)),
            ("LRANGE l 0 -1", arr(&["b", "c", "a", "d", "a"])),
            ("LREM l -1 a", int(1)),
            ("LRANGE l 0 -1", arr(&["b", "c", "a", "d"])),
            ("LREM l 0 zz", int(0)),
            ("RPUSH l a", int(5)),
            ("LREM l 0 a", int(2)),
            ("LRANGE l 0 -1", arr(&["b", "c", "d"])),
            ("LREM l -5 b", int(1)),
            ("LRANGE l 0 -1", arr(&["c", "d"])),
            ("LINDEX l 0", bulk("c")),
            ("LINDEX l 1", bulk("d")),
            ("LREM l 0 c", int(1)),
            ("LREM l 0 d", int(1)),
            ("EXISTS l", int(0)),
            ("LREM nokey 0 a", int(0)),
            ("LREM l x a", err("ERR value is not an integer or out of range")),
        ],
    )
    .await;
}

#[tokio::test]
async fn ltrim_keeps_a_range_and_deletes_empty_lists() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("RPUSH l a b c d e", int(5)),
            ("LTRIM l 1 -2", ok()),
            ("LRANGE l 0 -1", arr(&["b", "c", "d"])),
            ("LTRIM l 0 100", ok()),
            ("LRANGE l 0 -1", arr(&["b", "c", "d"])),
            ("LTRIM l -1 -1", ok()),
            ("LRANGE l 0 -1", arr(&["d"])),
            ("RPUSH l e", int(2)),
            ("LPUSH l c", int(3)),
            ("LRANGE l 0 -1", arr(&["c", "d", "e"])),
            ("LTRIM l 2 1", ok()),
            ("EXISTS l", int(0)),
            ("LTRIM nokey 0 1", ok()),
            ("LTRIM l a 1", err("ERR value is not an integer or out of range")),
        ],
    )
    .await;
}

#[tokio::test]
async fn lpos_ranks_counts_and_maxlen() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("RPUSH l a b c 1 2 3 c c", int(8)),
            ("LPOS l c", int(2)),
            ("LPOS l c RANK 2", int(6)),
            ("LPOS l c RANK -1", int(7)),
            ("LPOS l c RANK -3", int(2)),
            ("LPOS l c RANK 4", Reply::Null),
            ("LPOS l c COUNT 0", ints(&[2, 6, 7])),
            ("LPOS l c COUNT 2", ints(&[2, 6])),
            ("LPOS l c COUNT 2 RANK 2", ints(&[6, 7])),
            ("LPOS l c COUNT 0 RANK -1", ints(&[7, 6, 2])),
            ("LPOS l c COUNT 0 MAXLEN 7", ints(&[2, 6])),
            ("LPOS l c RANK -1 MAXLEN 2", int(7)),
            ("LPOS l c COUNT 0 RANK -1 MAXLEN 3", ints(&[7, 6])),
            ("LPOS l c MAXLEN 2", Reply::Null),
            ("LPOS l c COUNT 5 MAXLEN 2", Reply::Array(vec![])),
            ("LPOS l zz", Reply::Null),
            ("LPOS l zz COUNT 1", Reply::Array(vec![])),
            ("LPOS nokey a", Reply::Null),
            ("LPOS nokey a COUNT 0", Reply::Array(vec![])),
            // Redis negates the rank without checking: i64::MIN counts every match.
            ("LPOS l c RANK -9223372036854775808", int(7)),
            (
                "LPOS l c RANK 0",
                err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"),
            ),
            ("LPOS l c RANK x", err("ERR value is not an integer or out of range")),
            ("LPOS l c COUNT -1", err("ERR COUNT can't be negative")),
            ("LPOS l c COUNT x", err("ERR COUNT can't be negative")),
            ("LPOS l c MAXLEN -1", err("ERR MAXLEN can't be negative")),
            ("LPOS l c RANK", err("ERR syntax error")),
            ("LPOS l c FOO 1", err("ERR syntax error")),
        ],
    )
    .await;
}

#[tokio::test]
async fn lpos_walks_lists_longer_than_a_page() {
    let mut h = Harness::new();
    let mut args: Vec<Bytes> = vec![Bytes::from_static(b"RPUSH"), Bytes::from_static(b"big")];
    args.extend((0..3000).map(|i| Bytes::from((i % 1000).to_string())));
    assert_eq!(h.run_args(args).await, int(3000));
    script(
        &mut h,
        &[
            ("LPOS big 999 COUNT 0", ints(&[999, 1999, 2999])),
            ("LPOS big 5 RANK -2", int(1005)),
            ("LPOS big 5 COUNT 0 MAXLEN 1500", ints(&[5, 1005])),
            ("LINSERT big AFTER 998 x", int(3001)),
            ("LINDEX big 999", bulk("x")),
            ("LINDEX big 1000", bulk("999")),
            ("LINSERT big BEFORE 100 y", int(3002)),
            ("LRANGE big 99 101", arr(&["99", "y", "100"])),
            ("LREM big 0 x", int(1)),
            ("LREM big 0 y", int(1)),
            ("LRANGE big 998 1000", arr(&["998", "999", "0"])),
            ("LLEN big", int(3000)),
        ],
    )
    .await;
}

#[tokio::test]
async fn lmove_and_rpoplpush_between_and_within_lists() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("RPUSH src a b c", int(3)),
            ("LMOVE src dst LEFT RIGHT", bulk("a")),
            ("LMOVE src dst right left", bulk("c")),
            ("LRANGE dst 0 -1", arr(&["c", "a"])),
            ("RPOPLPUSH src dst", bulk("b")),
            ("EXISTS src", int(0)),
            ("LRANGE dst 0 -1", arr(&["b", "c", "a"])),
            // Rotation within one list.
            ("LMOVE dst dst LEFT RIGHT", bulk("b")),
            ("LRANGE dst 0 -1", arr(&["c", "a", "b"])),
            ("RPOPLPUSH dst dst", bulk("b")),
            ("LRANGE dst 0 -1", arr(&["b", "c", "a"])),
            ("LMOVE nokey dst LEFT LEFT", Reply::Null),
            ("RPOPLPUSH nokey dst", Reply::Null),
            ("LMOVE dst x MIDDLE LEFT", err("ERR syntax error")),
            ("LMOVE dst x LEFT UP", err("ERR syntax error")),
        ],
    )
    .await;
}

#[tokio::test]
async fn lmpop_takes_the_first_non_empty_list() {
    let mut h = Harness::new();
    let nested = |key: &str, items: &[&str]| Reply::Array(vec![bulk(key), arr(items)]);
    script(
        &mut h,
        &[
            ("RPUSH b 1 2 3", int(3)),
            ("LMPOP 2 a b LEFT", nested("b", &["1"])),
            ("LMPOP 2 a b RIGHT COUNT 5", nested("b", &["3", "2"])),
            ("EXISTS b", int(0)),
            ("LMPOP 2 a b LEFT", Reply::NullArray),
            ("LMPOP 0 a LEFT", err("ERR numkeys should be greater than 0")),
            ("LMPOP x a LEFT", err("ERR numkeys should be greater than 0")),
            ("LMPOP 1 a MIDDLE", err("ERR syntax error")),
            ("LMPOP 2 a LEFT", err("ERR syntax error")),
            ("LMPOP 99999999999999 a LEFT", err("ERR syntax error")),
            ("LMPOP 1 a LEFT COUNT 0", err("ERR count should be greater than 0")),
            ("LMPOP 1 a LEFT COUNT x", err("ERR count should be greater than 0")),
            ("LMPOP 1 a LEFT COUNT 1 COUNT 1", err("ERR syntax error")),
            ("LMPOP 1 a LEFT COUNT", err("ERR syntax error")),
            ("LMPOP 1 a LEFT FOO", err("ERR syntax error")),
        ],
    )
    .await;
}

#[tokio::test]
async fn blocking_commands_answer_at_once_when_data_is_there() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("RPUSH b 1 2 3", int(3)),
            ("BLPOP a b 0", arr(&["b", "1"])),
            ("BRPOP a b 0", arr(&["b", "3"])),
            ("BLMOVE b c LEFT RIGHT 0", bulk("2")),
            ("BRPOPLPUSH c b 0", bulk("2")),
            ("BLMPOP 0 2 a b LEFT COUNT 3", Reply::Array(vec![bulk("b"), arr(&["2"])])),
            ("BLPOP a -1", err("ERR timeout is negative")),
            ("BLPOP a inf", err("ERR timeout is negative")),
            ("BLPOP a 1e400", err("ERR timeout is negative")),
            ("BLPOP a 9223372036854775807", err("ERR timeout is negative")),
            ("BLPOP a abc", err("ERR timeout is not a float or out of range")),
            ("BLPOP a nan", err("ERR timeout is not a float or out of range")),
            ("BLMOVE a b LEFT LEFT x", err("ERR timeout is not a float or out of range")),
            ("BLMOVE a b UP LEFT x", err("ERR syntax error")),
            ("BRPOPLPUSH a b -0.5", err("ERR timeout is negative")),
            ("BLMPOP x 1 a LEFT", err("ERR timeout is not a float or out of range")),
            ("BLMPOP 0 0 a LEFT", err("ERR numkeys should be greater than 0")),
            ("BLPOP a", err("ERR wrong number of arguments for 'blpop' command")),
        ],
    )
    .await;
}

#[tokio::test]
async fn blocking_commands_time_out_with_their_nil() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("BLPOP a 0.01", Reply::NullArray),
            ("BRPOP a b 0.01", Reply::NullArray),
            // Every blocking list command times out with the null array, BLMOVE too.
            ("BLMOVE a b LEFT LEFT 0.01", Reply::NullArray),
            ("BRPOPLPUSH a b 0.01", Reply::NullArray),
            ("BLMPOP 0.01 1 a LEFT", Reply::NullArray),
        ],
    )
    .await;
    assert_eq!(h.ctx.key_waiters.waiting_on(b"a"), 0, "timed-out clients leave the queues");
}

#[tokio::test]
async fn blocking_commands_inside_multi_do_not_block() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("MULTI", ok()),
            ("BLPOP a 0", queued()),
            ("BLMOVE a b LEFT LEFT 0", queued()),
            ("BLMPOP 0 1 a LEFT", queued()),
            ("RPUSH a x", queued()),
            ("BRPOP a 0", queued()),
            ("EXEC", Reply::Array(vec![Reply::NullArray, Reply::Null, Reply::NullArray, int(1), arr(&["a", "x"])])),
        ],
    )
    .await;
}

#[tokio::test]
async fn list_commands_inside_multi_see_their_own_writes() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("MULTI", ok()),
            ("RPUSH l a b c", queued()),
            ("LPOP l", queued()),
            ("LINSERT l AFTER b x", queued()),
            ("LRANGE l 0 -1", queued()),
            ("LMOVE l m LEFT LEFT", queued()),
            ("LSET l 5 y", queued()),
            (
                "EXEC",
                Reply::Array(vec![
                    int(3),
                    bulk("a"),
                    int(3),
                    arr(&["b", "x", "c"]),
                    bulk("b"),
                    err("ERR index out of range"),
                ]),
            ),
            ("LRANGE l 0 -1", arr(&["x", "c"])),
            ("LRANGE m 0 -1", arr(&["b"])),
        ],
    )
    .await;
}

#[tokio::test]
async fn expire_and_rename_apply_to_lists() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("RPUSH l a b", int(2)),
            ("EXPIRE l 10", int(1)),
            ("RPUSH l c", int(3)),
            ("TTL l", int(10)),
            ("RENAME l k", ok()),
            ("LRANGE k 0 -1", arr(&["a", "b", "c"])),
        ],
    )
    .await;
    h.kv.advance_ms(10_001);
    script(&mut h, &[("LLEN k", int(0)), ("RPUSH k z", int(1)), ("LRANGE k 0 -1", arr(&["z"]))]).await;
}

fn parse(line: &str, session: &Session, h: &Harness) -> Command {
    let mut buf = BytesMut::from(format!("{line}\r\n").as_bytes());
    let args = parse_request(&mut buf, &Limits::default()).unwrap().unwrap();
    Command::parse(args, session, &h.ctx).unwrap()
}

#[tokio::test]
async fn a_push_wakes_a_blocked_client_on_the_same_gateway() {
    let h = Harness::new();
    let mut blocked = h.session.clone();
    let mut pusher = h.other.clone();
    let blpop = parse("BLPOP q 0", &blocked, &h);
    assert!(blpop.blocks());
    let waiting = execute(blpop, &mut blocked, &h.kv, &h.ctx);
    let push = async {
        // Pushes once the client is registered, so the wake-up (not a poll) serves it.
        while h.ctx.key_waiters.waiting_on(b"q") == 0 {
            tokio::task::yield_now().await;
        }
        execute(parse("RPUSH q hello", &pusher, &h), &mut pusher, &h.kv, &h.ctx).await
    };
    let (popped, pushed) = tokio::join!(waiting, push);
    assert_eq!(pushed.reply, int(1));
    assert_eq!(popped.reply, arr(&["q", "hello"]));
    assert_eq!(h.ctx.key_waiters.waiting_on(b"q"), 0);
}

#[tokio::test]
async fn blocked_clients_are_served_in_arrival_order() {
    let h = Harness::new();
    let sessions: Vec<Session> = (0..3).map(|i| Session::new(100 + i, &h.ctx)).collect();
    let waiters = sessions.into_iter().enumerate().map(|(i, mut session)| {
        let h = &h;
        async move {
            // Registers in order: client i waits until i clients are queued.
            while h.ctx.key_waiters.waiting_on(b"q") < i {
                tokio::task::yield_now().await;
            }
            let cmd = parse("BLPOP q 0", &session, h);
            execute(cmd, &mut session, &h.kv, &h.ctx).await.reply
        }
    });
    let push = async {
        let mut pusher = h.other.clone();
        while h.ctx.key_waiters.waiting_on(b"q") < 3 {
            tokio::task::yield_now().await;
        }
        for element in ["first", "second", "third"] {
            execute(parse(&format!("RPUSH q {element}"), &pusher, &h), &mut pusher, &h.kv, &h.ctx).await;
        }
    };
    let (replies, ()) = tokio::join!(futures::future::join_all(waiters), push);
    assert_eq!(replies, vec![arr(&["q", "first"]), arr(&["q", "second"]), arr(&["q", "third"])]);
}

#[tokio::test]
async fn a_client_that_hangs_up_while_blocked_pops_nothing() {
    let h = Harness::new();
    let mut blocked = h.session.clone();
    let hangup = blocked.hangup.clone();
    let waiting = execute(parse("BLMOVE q dst LEFT LEFT 0", &blocked, &h), &mut blocked, &h.kv, &h.ctx);
    let leave = async {
        while h.ctx.key_waiters.waiting_on(b"q") == 0 {
            tokio::task::yield_now().await;
        }
        hangup.signal();
    };
    let (outcome, ()) = tokio::join!(waiting, leave);
    assert_eq!(outcome.reply, Reply::NullArray, "nobody reads it: the timeout reply");
    let mut h = h;
    script(&mut h, &[("RPUSH q a", int(1)), ("LRANGE q 0 -1", arr(&["a"])), ("EXISTS dst", int(0))]).await;
}

#[tokio::test]
async fn a_push_from_elsewhere_is_found_by_polling() {
    let h = Harness::new();
    let mut blocked = h.session.clone();
    let waiting = execute(parse("BRPOP q 5", &blocked, &h), &mut blocked, &h.kv, &h.ctx);
    let push = async {
        while h.ctx.key_waiters.waiting_on(b"q") == 0 {
            tokio::task::yield_now().await;
        }
        // Another gateway's push: the store changes, nobody signals this gateway.
        let foreign = crate::redis::ServerContext::new(6380, None);
        let mut pusher = Session::new(9, &foreign);
        let cmd = {
            let mut buf = BytesMut::from(&b"RPUSH q far\r\n"[..]);
            let args = parse_request(&mut buf, &Limits::default()).unwrap().unwrap();
            Command::parse(args, &pusher, &foreign).unwrap()
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        execute(cmd, &mut pusher, &h.kv, &foreign).await
    };
    let (popped, _) = tokio::join!(waiting, push);
    assert_eq!(popped.reply, arr(&["q", "far"]));
}

#[tokio::test]
async fn a_blocked_client_passes_over_a_key_that_changed_type() {
    let h = Harness::new();
    let mut blocked = h.session.clone();
    let mut other = h.other.clone();
    let waiting = execute(parse("BLPOP q 0", &blocked, &h), &mut blocked, &h.kv, &h.ctx);
    let change = async {
        while h.ctx.key_waiters.waiting_on(b"q") == 0 {
            tokio::task::yield_now().await;
        }
        for line in ["MULTI", "LPUSH q a", "DEL q", "SET q foo", "EXEC", "DEL q", "RPUSH q b"] {
            execute(parse(line, &other, &h), &mut other, &h.kv, &h.ctx).await;
        }
    };
    let (outcome, ()) = tokio::join!(waiting, change);
    assert_eq!(outcome.reply, arr(&["q", "b"]));
}

/// Redis's "BLMPOP with multiple blocked clients": one EXEC fills two lists, four clients
/// blocked on both are served in arrival order.
#[tokio::test]
async fn one_exec_serves_several_blocked_clients_in_order() {
    let h = Harness::new();
    let commands = [
        "BLMPOP 0 2 b1 b2 LEFT COUNT 1",
        "BLMPOP 0 2 b1 b2 RIGHT COUNT 10",
        "BLMPOP 0 2 b1 b2 LEFT COUNT 10",
        "BLMPOP 0 2 b1 b2 RIGHT COUNT 1",
    ];
    let waiters = commands.iter().enumerate().map(|(i, line)| {
        let h = &h;
        async move {
            let mut session = Session::new(100 + i as u64, &h.ctx);
            while h.ctx.key_waiters.waiting_on(b"b1") < i {
                tokio::task::yield_now().await;
            }
            let cmd = parse(line, &session, h);
            execute(cmd, &mut session, &h.kv, &h.ctx).await.reply
        }
    });
    let push = async {
        let mut other = h.other.clone();
        while h.ctx.key_waiters.waiting_on(b"b1") < 4 {
            tokio::task::yield_now().await;
        }
        for line in ["MULTI", "LPUSH b1 a b c d e", "LPUSH b2 1 2 3 4 5", "EXEC"] {
            execute(parse(line, &other, &h), &mut other, &h.kv, &h.ctx).await;
        }
        // The fourth client finds b2 empty after the third; it gets the next push.
        while h.ctx.key_waiters.waiting_on(b"b1") > 1 {
            tokio::task::yield_now().await;
        }
        execute(parse("LPUSH b2 1 2 3", &other, &h), &mut other, &h.kv, &h.ctx).await;
    };
    let (replies, ()) = tokio::join!(futures::future::join_all(waiters), push);
    let nested = |key: &str, items: &[&str]| Reply::Array(vec![bulk(key), arr(items)]);
    assert_eq!(
        replies,
        vec![
            nested("b1", &["e"]),
            nested("b1", &["a", "b", "c", "d"]),
            nested("b2", &["5", "4", "3", "2", "1"]),
            nested("b2", &["1"])
        ]
    );
}

/// Redis's "Linked LMOVEs": a push wakes a BLMOVE whose move wakes another; both moves are
/// committed before the push replies, so the pusher reads the final state at once.
#[tokio::test]
async fn a_push_replies_after_the_clients_it_woke_are_served() {
    let h = Harness::new();
    let chained = |line: &'static str, id: u64, waiting_before: usize| {
        let h = &h;
        async move {
            let mut session = Session::new(id, &h.ctx);
            while h.ctx.key_waiters.blocked_clients() < waiting_before {
                tokio::task::yield_now().await;
            }
            let cmd = parse(line, &session, h);
            execute(cmd, &mut session, &h.kv, &h.ctx).await.reply
        }
    };
    let first = chained("BLMOVE list1 list2 RIGHT LEFT 0", 100, 0);
    let second = chained("BLMOVE list2 list3 LEFT RIGHT 0", 101, 1);
    let push = async {
        let mut pusher = h.other.clone();
        while h.ctx.key_waiters.blocked_clients() < 2 {
            tokio::task::yield_now().await;
        }
        execute(parse("RPUSH list1 foo", &pusher, &h), &mut pusher, &h.kv, &h.ctx).await;
        // Read right after the push's reply, as the Tcl test does.
        let mut lists = Vec::new();
        for key in ["list1", "list2", "list3"] {
            lists.push(run_as(&h, &mut pusher, &format!("LRANGE {key} 0 -1")).await);
        }
        lists
    };
    let (first, second, lists) = tokio::join!(first, second, push);
    assert_eq!(lists, vec![arr(&[]), arr(&[]), arr(&["foo"])]);
    assert_eq!((first, second), (bulk("foo"), bulk("foo")));
}

/// Redis serves a blocked BRPOPLPUSH whose destination holds another type with WRONGTYPE (and
/// leaves the source as it was), while a blocked client whose source changed type waits on.
#[tokio::test]
async fn a_blocked_move_into_a_key_of_another_type_gets_wrongtype() {
    let mut h = Harness::new();
    script(&mut h, &[("SET target nolist", ok())]).await;
    let mut blocked = h.session.clone();
    let waiting = execute(parse("BRPOPLPUSH blist target 0", &blocked, &h), &mut blocked, &h.kv, &h.ctx);
    let push = async {
        let mut pusher = h.other.clone();
        while h.ctx.key_waiters.waiting_on(b"blist") == 0 {
            tokio::task::yield_now().await;
        }
        execute(parse("RPUSH blist a b c", &pusher, &h), &mut pusher, &h.kv, &h.ctx).await
    };
    let (outcome, pushed) = tokio::join!(waiting, push);
    assert_eq!(pushed.reply, int(3));
    assert_eq!(outcome.reply, err(WRONGTYPE));
    script(&mut h, &[("LRANGE blist 0 -1", arr(&["a", "b", "c"]))]).await;
}

/// Runs `line` as `session`; an argument error found while parsing is the reply, as on a
/// connection.
async fn run_as(h: &Harness, session: &mut Session, line: &str) -> Reply {
    let mut buf = BytesMut::from(format!("{line}\r\n").as_bytes());
    let args = parse_request(&mut buf, &Limits::default()).unwrap().unwrap();
    match Command::parse(args, session, &h.ctx) {
        Ok(cmd) => execute(cmd, session, &h.kv, &h.ctx).await.reply,
        Err(reply) => reply,
    }
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR] ends another connection's blocked command; it answers 0
/// for a connection that is not blocked.
#[tokio::test]
async fn client_unblock_ends_a_blocked_command() {
    use crate::redis::clients::ClientHandle;

    let h = Harness::new();
    let handle = ClientHandle::new(77, "127.0.0.1:1".into(), "127.0.0.1:2".into(), -1);
    h.ctx.clients.register(handle.clone());
    let blocked = Session::new(77, &h.ctx).with_connection(handle);
    let mut admin = h.other.clone();
    assert_eq!(run_as(&h, &mut admin, "CLIENT UNBLOCK 77").await, int(0), "not blocked yet");
    for (mode, expected) in [
        ("", Reply::NullArray),
        (" TIMEOUT", Reply::NullArray),
        (" ERROR", err("UNBLOCKED client unblocked via CLIENT UNBLOCK")),
    ] {
        let mut session = blocked.clone();
        let waiting = run_as(&h, &mut session, "BLPOP l 0");
        let line = format!("CLIENT UNBLOCK 77{mode}");
        let mut unblocker = admin.clone();
        let unblocking = async {
            while h.ctx.key_waiters.blocked_clients() == 0 {
                tokio::task::yield_now().await;
            }
            run_as(&h, &mut unblocker, &line).await
        };
        let (reply, answered) = tokio::join!(waiting, unblocking);
        assert_eq!(answered, int(1), "{line}");
        assert_eq!(reply, expected, "{line}");
    }
    assert_eq!(run_as(&h, &mut admin, "CLIENT UNBLOCK asd").await, err("ERR value is not an integer or out of range"));
    assert_eq!(
        run_as(&h, &mut admin, "CLIENT UNBLOCK 77 NOW").await,
        err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    );
    assert_eq!(run_as(&h, &mut admin, "CLIENT UNBLOCK 12345").await, int(0), "no such client");
}
