use aws_sdk_s3::error::{ConnectorError, SdkError};

use super::*;
use crate::checker::linearizable::check_register;
use crate::history::Op;

#[test]
fn bodies_round_trip_and_torn_ones_do_not_parse() {
    for value in [0, 7, 123_456_789, i64::MAX] {
        assert_eq!(parse_body(body(value).as_bytes()), Some(value));
    }
    assert!(body(42).len() < 1024, "a small object");
    // Half of one body and half of another, a truncated body, an empty one, junk.
    let (a, b) = (body(41), body(42));
    let mixed = format!("{}{}", &a[..a.len() / 2], &b[b.len() / 2..]);
    assert_eq!(parse_body(mixed.as_bytes()), None);
    assert_eq!(parse_body(&a.as_bytes()[..a.len() - 3]), None);
    assert_eq!(parse_body(b""), None);
    assert_eq!(parse_body(b"\xff\xfe"), None);
    assert_eq!(parse_body(b"41\n"), None);
}

#[test]
fn write_outcomes_by_failure() {
    // Definite refusals: nothing was written.
    assert_eq!(Failure::NotSent.write_outcome(), Outcome::Fail);
    assert_eq!(Failure::Refused(403).write_outcome(), Outcome::Fail);
    assert_eq!(Failure::Refused(404).write_outcome(), Outcome::Fail);
    // The gateway may have committed before answering 5xx; a timeout may have landed.
    assert_eq!(Failure::Refused(500).write_outcome(), Outcome::Info);
    assert_eq!(Failure::Refused(503).write_outcome(), Outcome::Info);
    assert_eq!(Failure::Unknown.write_outcome(), Outcome::Info);
}

#[test]
fn sdk_errors_classified() {
    type Error = SdkError<std::io::Error, u16>;
    let status = |r: &u16| *r;
    let timeout: Error = SdkError::timeout_error("operation timed out");
    assert_eq!(Failure::of(&timeout, status), Failure::Unknown);
    let construction: Error = SdkError::construction_failure("bad input");
    assert_eq!(Failure::of(&construction, status), Failure::NotSent);
    let refused: Error = SdkError::service_error(std::io::Error::other("conflict"), 409);
    assert_eq!(Failure::of(&refused, status), Failure::Refused(409));
    let garbled: Error = SdkError::response_error("half a response", 200);
    assert_eq!(Failure::of(&garbled, status), Failure::Unknown);
    let io = |kind: std::io::ErrorKind| -> Error {
        SdkError::dispatch_failure(ConnectorError::io(Box::new(std::io::Error::from(kind))))
    };
    assert_eq!(Failure::of(&io(std::io::ErrorKind::ConnectionRefused), status), Failure::NotSent);
    assert_eq!(Failure::of(&io(std::io::ErrorKind::ConnectionReset), status), Failure::Unknown);
    assert_eq!(Failure::of(&io(std::io::ErrorKind::BrokenPipe), status), Failure::Unknown);
}

#[tokio::test]
async fn a_gateway_that_is_down_refuses_definitely() {
    // A port nothing listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint =
        S3Endpoint { url: format!("http://127.0.0.1:{port}"), access_key: "a".into(), secret_key: "s".into() };
    let mut p = S3Process::new(0, &endpoint);
    let put = super::put(&mut p, &object_key(0), 1).await;
    assert_eq!(put.outcome, Outcome::Fail, "a put that never reached the gateway had no effect");
    let get = read(&mut p, &object_key(0)).await;
    assert_eq!(get.outcome, Outcome::Fail);
}

#[test]
fn split_keys_fall_between_the_objects_manifests() {
    let manifest = |i: usize| {
        let mut key = format!("O{BUCKET}").into_bytes();
        key.push(0);
        key.extend_from_slice(object_key(i).as_bytes());
        key
    };
    let splits = split_keys();
    assert_eq!(splits.len(), OBJECTS - 1);
    for (i, split) in splits.iter().enumerate() {
        // Object i+1 starts the range the split creates; object i stays before it.
        assert!(manifest(i) < *split && *split <= manifest(i + 1));
    }
}

fn op(process: usize, call: u64, ret: Option<u64>, outcome: Outcome, value: RegisterOp) -> Op<RegisterOp> {
    Op { process, call_ns: call, return_ns: ret, outcome, value }
}

fn put(p: usize, call: u64, ret: u64, key: &str, value: i64) -> Op<RegisterOp> {
    op(p, call, Some(ret), Outcome::Ok, RegisterOp::Write { key: key.into(), value })
}

fn get(p: usize, call: u64, ret: u64, key: &str, value: Option<i64>) -> Op<RegisterOp> {
    op(p, call, Some(ret), Outcome::Ok, RegisterOp::Read { key: key.into(), value })
}

fn del(p: usize, call: u64, ret: u64, key: &str) -> Op<RegisterOp> {
    op(p, call, Some(ret), Outcome::Ok, RegisterOp::Delete { key: key.into() })
}

/// A history shaped as the workload records it: unique values, two objects, an
/// indeterminate put, a failed get, a definite refusal, and final reads.
fn fabricated() -> Vec<Op<RegisterOp>> {
    let (a, b) = (object_key(0), object_key(1));
    vec![
        put(0, 0, 10, &a, 0),
        put(1, 5, 12, &b, 1),
        get(2, 15, 20, &a, Some(0)),
        op(3, 16, None, Outcome::Info, RegisterOp::Write { key: a.clone(), value: 2 }),
        del(4, 21, 30, &b),
        get(5, 25, 28, &b, Some(1)),
        get(0, 31, 40, &b, None),
        op(1, 32, Some(33), Outcome::Fail, RegisterOp::Read { key: a.clone(), value: None }),
        op(2, 34, Some(35), Outcome::Fail, RegisterOp::Write { key: b.clone(), value: 3 }),
        put(4, 41, 50, &b, 4),
        // Final reads after heal and restart.
        get(usize::MAX, 100, 110, &a, Some(2)),
        get(usize::MAX, 111, 120, &b, Some(4)),
    ]
}

#[test]
fn fabricated_s3_history_is_linearizable() {
    let v = check_register(&fabricated());
    assert!(v.valid, "{:#?}", v.anomalies);
    assert_eq!(v.checked, 12);
}

#[test]
fn checker_rejects_a_non_linearizable_s3_history() {
    let b = object_key(1);
    // A get that sees an object its acknowledged delete removed before the get began.
    let mut h = fabricated();
    h.push(get(3, 121, 130, &b, Some(1)));
    let v = check_register(&h);
    assert!(!v.valid);
    assert_eq!(v.anomalies.len(), 1, "{:#?}", v.anomalies);
    let a = &v.anomalies[0];
    assert_eq!(a.kind, "nonlinearizable");
    assert!(a.explanation.starts_with(&format!("On key {b:?}")), "{}", a.explanation);
    assert!(a.explanation.contains("1 was written by process 1's write of 1"), "{}", a.explanation);
    let culprit: Vec<_> = a.witness.iter().filter(|w| w["role"] == "not-linearizable").collect();
    assert_eq!(culprit.len(), 1);
    assert_eq!(culprit[0]["index"], h.len() - 1);

    // An acknowledged put lost across the restart: the final read sees the object absent.
    let mut h = fabricated();
    let last = h.len() - 1;
    h[last] = get(usize::MAX, 111, 120, &b, None);
    let v = check_register(&h);
    assert!(!v.valid);
    let e = &v.anomalies[0].explanation;
    assert!(e.contains("returned nothing (the key absent)"), "{e}");
    assert!(e.contains("can only hold 4 (written by process 4's write of 4"), "{e}");
    assert!(e.contains("The key was deleted by process 4's delete"), "{e}");

    // A get racing nothing that sees a put reported as failed.
    let mut h = fabricated();
    h.push(get(5, 200, 210, &b, Some(3)));
    let v = check_register(&h);
    assert!(!v.valid);
    assert!(v.anomalies[0].explanation.contains("3 was only written by operations reported as failed"));
}
