//! Replies and their RESP2 / RESP3 encodings.
//!
//! This is a small hand-written encoder rather than the `redis-protocol` crate's frame types:
//! those keep maps in a `HashMap` (Redis replies such as HELLO have a fixed field order), hold
//! error text as UTF-8 `Str` (Redis echoes raw client bytes in some errors), and format
//! doubles differently from Redis's `%.17g`. The crate's decoders are still used in the tests
//! as an independent check that what we emit is well-formed RESP.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

/// Which RESP dialect a connection speaks (chosen with HELLO).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProtocolVersion {
    #[default]
    Resp2,
    Resp3,
}

impl ProtocolVersion {
    pub fn number(self) -> i64 {
        match self {
            ProtocolVersion::Resp2 => 2,
            ProtocolVersion::Resp3 => 3,
        }
    }
}

/// One reply, independent of the protocol version it will be encoded in.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+text`; must not contain CR or LF (they are replaced by spaces when encoding).
    Simple(Bytes),
    /// `-text` including its code prefix (`ERR ...`, `WRONGTYPE ...`).
    Error(Bytes),
    Integer(i64),
    Bulk(Bytes),
    /// The null bulk string (RESP2 `$-1`, RESP3 `_`).
    Null,
    /// The null array (RESP2 `*-1`, RESP3 `_`).
    NullArray,
    Array(Vec<Reply>),
    /// RESP3 map; flattened to an array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 set; an array in RESP2.
    Set(Vec<Reply>),
    /// Pairs such as ZRANGE WITHSCORES's member and score: an array of 2-element arrays in
    /// RESP3, flattened to one array in RESP2.
    Pairs(Vec<(Reply, Reply)>),
    /// RESP3 double; a bulk string in RESP2. Formatted like Redis's `%.17g`.
    Double(f64),
    /// RESP3 boolean; the integer 1 or 0 in RESP2.
    Boolean(bool),
    /// RESP3 verbatim string (`format` is 3 bytes such as `txt`); a bulk string in RESP2.
    Verbatim {
        format: [u8; 3],
        text: Bytes,
    },
    /// RESP3 big number (decimal digits); a bulk string in RESP2.
    BigNumber(Bytes),
    /// RESP3 out-of-band push; an array in RESP2 (pub/sub messages).
    Push(Vec<Reply>),
    /// Several replies to one command, written one after another (SUBSCRIBE a b confirms each
    /// channel separately).
    Sequence(Vec<Reply>),
    /// Encoded in this protocol version whatever the connection speaks: an element of an EXEC
    /// reply produced before a queued HELLO switched protocols (Redis writes each element as
    /// it is produced, so the elements of one array may mix RESP2 and RESP3).
    Pinned(ProtocolVersion, Box<Reply>),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Simple(Bytes::from_static(b"OK"))
    }

    pub fn simple(text: &'static str) -> Reply {
        Reply::Simple(Bytes::from_static(text.as_bytes()))
    }

    /// An error reply from its full text, e.g. `"ERR syntax error"`.
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(Bytes::from(text.into()))
    }

    pub fn bulk(data: impl Into<Bytes>) -> Reply {
        Reply::Bulk(data.into())
    }

    /// A bulk string, or the null bulk string for `None`.
    pub fn bulk_or_null(data: Option<Bytes>) -> Reply {
        data.map_or(Reply::Null, Reply::Bulk)
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the encoding of this reply in the given protocol version.
    pub fn encode(&self, proto: ProtocolVersion, out: &mut BytesMut) {
        let resp3 = proto == ProtocolVersion::Resp3;
        match self {
            Reply::Simple(text) => line(out, b'+', text),
            Reply::Error(text) => line(out, b'-', text),
            Reply::Integer(n) => header(out, b':', *n),
            Reply::Bulk(data) => bulk(out, b'$', data),
            Reply::Null if resp3 => out.put_slice(b"_\r\n"),
            Reply::Null => out.put_slice(b"$-1\r\n"),
            Reply::NullArray if resp3 => out.put_slice(b"_\r\n"),
            Reply::NullArray => out.put_slice(b"*-1\r\n"),
            Reply::Array(items) => aggregate(out, b'*', items, proto),
            Reply::Set(items) => aggregate(out, if resp3 { b'~' } else { b'*' }, items, proto),
            Reply::Push(items) => aggregate(out, if resp3 { b'>' } else { b'*' }, items, proto),
            Reply::Map(pairs) => {
                if resp3 {
                    header(out, b'%', pairs.len() as i64);
                } else {
                    header(out, b'*', 2 * pairs.len() as i64);
                }
                for (key, value) in pairs {
                    key.encode(proto, out);
                    value.encode(proto, out);
                }
            }
            Reply::Pairs(pairs) => {
                header(out, b'*', if resp3 { pairs.len() } else { 2 * pairs.len() } as i64);
                for (first, second) in pairs {
                    if resp3 {
                        header(out, b'*', 2);
                    }
                    first.encode(proto, out);
                    second.encode(proto, out);
                }
            }
            Reply::Double(d) if resp3 => line(out, b',', format_double(*d).as_bytes()),
            Reply::Double(d) => bulk(out, b'$', format_double(*d).as_bytes()),
            Reply::Boolean(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Reply::Boolean(b) => header(out, b':', i64::from(*b)),
            Reply::Verbatim { format, text } if resp3 => {
                header(out, b'=', (text.len() + 4) as i64);
                out.put_slice(format);
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
            Reply::Verbatim { text, .. } => bulk(out, b'$', text),
            Reply::BigNumber(digits) if resp3 => line(out, b'(', digits),
            Reply::BigNumber(digits) => bulk(out, b'$', digits),
            Reply::Pinned(pinned, reply) => reply.encode(*pinned, out),
            Reply::Sequence(replies) => {
                for reply in replies {
                    reply.encode(proto, out);
                }
            }
        }
    }

    /// Convenience for tests and logging: the encoding as a fresh buffer.
    pub fn to_bytes(&self, proto: ProtocolVersion) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(proto, &mut out);
        out.freeze()
    }
}

fn header(out: &mut BytesMut, kind: u8, n: i64) {
    let mut digits = String::with_capacity(20);
    let _ = write!(digits, "{n}");
    out.reserve(digits.len() + 3);
    out.put_u8(kind);
    out.put_slice(digits.as_bytes());
    out.put_slice(b"\r\n");
}

/// A one-line reply. CR/LF would break framing, so they become spaces (as Redis does for
/// error texts).
fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    for &b in text {
        out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, kind: u8, data: &[u8]) {
    header(out, kind, data.len() as i64);
    out.reserve(data.len() + 2);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

fn aggregate(out: &mut BytesMut, kind: u8, items: &[Reply], proto: ProtocolVersion) {
    header(out, kind, items.len() as i64);
    for item in items {
        item.encode(proto, out);
    }
}

/// Formats a double like C's `printf("%.17g")`, which Redis 7.0 uses for double replies:
/// 17 significant digits, trailing zeros dropped, exponent form outside `1e-4..1e17`, and
/// `inf` / `-inf` / `nan` for the special values.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    const PRECISION: i32 = 17;
    // Rust's `{:e}` rounds exactly (like glibc), so it gives %g's exponent after rounding.
    let scientific = format!("{:.*e}", (PRECISION - 1) as usize, d);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..PRECISION).contains(&exponent) {
        let mantissa = trim_fraction_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let fixed = format!("{:.*}", (PRECISION - 1 - exponent) as usize, d);
        trim_fraction_zeros(&fixed).to_string()
    }
}

fn trim_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::{Resp2, Resp3};

    fn enc(reply: &Reply, proto: ProtocolVersion) -> Vec<u8> {
        reply.to_bytes(proto).to_vec()
    }

    fn sample() -> Reply {
        Reply::Array(vec![
            Reply::ok(),
            Reply::error("ERR boom"),
            Reply::Integer(-7),
            Reply::bulk("a\r\nb"),
            Reply::Null,
            Reply::NullArray,
            Reply::Map(vec![(Reply::bulk("k"), Reply::Integer(1))]),
            Reply::Set(vec![Reply::bulk("m")]),
            Reply::Double(1.5),
            Reply::Boolean(true),
            Reply::Verbatim { format: *b"txt", text: Bytes::from_static(b"hi") },
            Reply::BigNumber(Bytes::from_static(b"12345678901234567890")),
            Reply::Push(vec![Reply::bulk("message")]),
        ])
    }

    #[test]
    fn resp2_encoding_downgrades_resp3_types() {
        let expected: &[u8] = b"*13\r\n+OK\r\n-ERR boom\r\n:-7\r\n$4\r\na\r\nb\r\n$-1\r\n*-1\r\n\
*2\r\n$1\r\nk\r\n:1\r\n*1\r\n$1\r\nm\r\n$3\r\n1.5\r\n:1\r\n$2\r\nhi\r\n\
$20\r\n12345678901234567890\r\n*1\r\n$7\r\nmessage\r\n";
        assert_eq!(enc(&sample(), Resp2), expected);
    }

    #[test]
    fn resp3_encoding_uses_native_types() {
        let expected: &[u8] = b"*13\r\n+OK\r\n-ERR boom\r\n:-7\r\n$4\r\na\r\nb\r\n_\r\n_\r\n\
%1\r\n$1\r\nk\r\n:1\r\n~1\r\n$1\r\nm\r\n,1.5\r\n#t\r\n=6\r\ntxt:hi\r\n\
(12345678901234567890\r\n>1\r\n$7\r\nmessage\r\n";
        assert_eq!(enc(&sample(), Resp3), expected);
    }

    #[test]
    fn encodings_decode_with_the_redis_protocol_crate() {
        let resp2 = sample().to_bytes(Resp2);
        let (frame, used) = redis_protocol::resp2::decode::decode_bytes(&resp2).unwrap().unwrap();
        assert_eq!(used, resp2.len());
        assert!(matches!(frame, redis_protocol::resp2::types::BytesFrame::Array(ref items) if items.len() == 13));
        let resp3 = sample().to_bytes(Resp3);
        let (frame, used) = redis_protocol::resp3::decode::complete::decode_bytes(&resp3).unwrap().unwrap();
        assert_eq!(used, resp3.len());
        assert!(matches!(frame, redis_protocol::resp3::types::BytesFrame::Array { ref data, .. } if data.len() == 13));
    }

    #[test]
    fn line_replies_cannot_break_framing() {
        assert_eq!(enc(&Reply::error("ERR a\r\nb"), Resp2), b"-ERR a  b\r\n");
    }

    #[test]
    fn doubles_match_printf_g17() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(10.0), "10");
        assert_eq!(format_double(-0.0), "-0");
        assert_eq!(format_double(1e17), "1e+17");
        assert_eq!(format_double(1.5e-5), "1.5e-05");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(123456789012345678.0), "1.2345678901234568e+17");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(f64::NAN), "nan");
        assert_eq!(enc(&Reply::Double(f64::INFINITY), Resp3), b",inf\r\n");
    }
}
