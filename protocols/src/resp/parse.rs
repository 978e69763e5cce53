//! Request parsing: RESP multibulk (`*N\r\n$len\r\n...`) and inline commands (`SET a "b c"`).
//!
//! The parser is stateless: every call re-reads the buffer from its start and either takes one
//! whole command off it or leaves it untouched. Re-reading is cheap because a bulk payload is
//! never scanned, only its length header. Limits are checked on headers, before the payload
//! they announce is buffered, so a client cannot make the gateway hold 4 GiB by announcing it.
//!
//! Error texts and the points at which they fire follow Redis 7.0's `processMultibulkBuffer`
//! and `processInlineBuffer`.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

use super::parse_i64;

/// Size limits applied while parsing requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted bulk string (Redis's `proto-max-bulk-len`, 512 MiB by default).
    pub proto_max_bulk_len: u64,
    /// Largest accepted argument count of one multibulk request. Redis 7.0 accepts up to
    /// `INT_MAX`; Strata caps it at 1 Mi arguments by default to bound memory per request.
    pub max_multibulk_len: u64,
    /// Longest inline request, and longest `*N` / `$N` header line (Redis: 64 KiB).
    pub max_inline_len: usize,
    /// When set (requirepass configured and the client has not authenticated yet), requests
    /// are capped at 10 arguments of 16 KiB each, as Redis does to blunt unauthenticated
    /// memory attacks. See [`Limits::for_unauthenticated`].
    pub unauthenticated: bool,
}

/// Redis's `proto-max-bulk-len` default.
pub const DEFAULT_PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
const UNAUTHENTICATED_MAX_MULTIBULK_LEN: i64 = 10;
const UNAUTHENTICATED_MAX_BULK_LEN: i64 = 16 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            proto_max_bulk_len: DEFAULT_PROTO_MAX_BULK_LEN,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
            unauthenticated: false,
        }
    }
}

impl Limits {
    /// The same limits with Redis's stricter caps for clients that still have to AUTH.
    pub fn for_unauthenticated(self) -> Self {
        Limits { unauthenticated: true, ..self }
    }
}

/// A malformed or oversized request. The gateway replies `-ERR <text>` (see
/// [`ProtocolError::to_reply`]) and closes the connection, as Redis does.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// The byte found where a `$` bulk header should start (reported raw, like Redis's `%c`).
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
}

impl ProtocolError {
    /// The error reply Redis sends before closing the connection.
    pub fn to_reply(&self) -> super::Reply {
        let mut text = b"ERR ".to_vec();
        match self {
            // Keep the offending byte raw rather than UTF-8 encoding it.
            ProtocolError::ExpectedDollar(byte) => {
                text.extend_from_slice(b"Protocol error: expected '$', got '");
                text.push(*byte);
                text.push(b'\'');
            }
            other => text.extend_from_slice(other.to_string().as_bytes()),
        }
        super::Reply::Error(Bytes::from(text))
    }
}

/// Takes one complete command off the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed (the buffer is left untouched), and
/// `Ok(Some(args))` with at least one argument otherwise. Empty requests (blank inline lines,
/// `*0`, `*-1`) are consumed and skipped, as Redis does.
pub fn parse_request(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    loop {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let parsed = if first == b'*' { parse_multibulk(buf, limits)? } else { parse_inline(buf, limits)? };
        match parsed {
            Parsed::Incomplete => return Ok(None),
            Parsed::Empty { consumed } => buf.advance(consumed),
            Parsed::Ranges { consumed, ranges } => {
                // Arguments are zero-copy slices of the request's bytes.
                let frame = buf.split_to(consumed).freeze();
                return Ok(Some(ranges.into_iter().map(|r| frame.slice(r)).collect()));
            }
            Parsed::Owned { consumed, args } => {
                buf.advance(consumed);
                return Ok(Some(args));
            }
        }
    }
}

enum Parsed {
    Incomplete,
    Empty { consumed: usize },
    Ranges { consumed: usize, ranges: Vec<Range<usize>> },
    Owned { consumed: usize, args: Vec<Bytes> },
}

/// A `\r`-terminated header line starting at `start`: its content range, and where the next
/// line starts. Like Redis, the byte after `\r` is skipped without checking it is `\n`.
enum Line {
    Found { content: Range<usize>, next: usize },
    Incomplete,
}

fn header_line(buf: &[u8], start: usize, max_len: usize, too_big: ProtocolError) -> Result<Line, ProtocolError> {
    let rest = buf.get(start..).unwrap_or_default();
    match rest.iter().position(|&b| b == b'\r') {
        None if rest.len() > max_len => Err(too_big),
        None => Ok(Line::Incomplete),
        // The `\n` has not arrived yet.
        Some(cr) if cr + 1 >= rest.len() => Ok(Line::Incomplete),
        Some(cr) => Ok(Line::Found { content: start..start + cr, next: start + cr + 2 }),
    }
}

fn parse_multibulk(buf: &[u8], limits: &Limits) -> Result<Parsed, ProtocolError> {
    let (count_range, mut pos) = match header_line(buf, 0, limits.max_inline_len, ProtocolError::TooBigMultibulkCount)?
    {
        Line::Found { content, next } => (content, next),
        Line::Incomplete => return Ok(Parsed::Incomplete),
    };
    // Skip the leading '*'.
    let count_text = buf.get(count_range.start + 1..count_range.end).unwrap_or_default();
    let count = match parse_i64(count_text) {
        Some(n) if n <= i64::from(i32::MAX) && (n <= 0 || n as u64 <= limits.max_multibulk_len) => n,
        _ => return Err(ProtocolError::InvalidMultibulkLength),
    };
    if count > UNAUTHENTICATED_MAX_MULTIBULK_LEN && limits.unauthenticated {
        return Err(ProtocolError::UnauthenticatedMultibulkLength);
    }
    if count <= 0 {
        return Ok(Parsed::Empty { consumed: pos });
    }

    // Grow the argument vector as arguments arrive rather than trusting the announced count.
    let mut ranges = Vec::with_capacity(count.min(1024) as usize);
    for _ in 0..count {
        let (len_range, next) = match header_line(buf, pos, limits.max_inline_len, ProtocolError::TooBigBulkCount)? {
            Line::Found { content, next } => (content, next),
            Line::Incomplete => return Ok(Parsed::Incomplete),
        };
        match buf.get(len_range.start) {
            Some(b'$') => {}
            Some(&other) => return Err(ProtocolError::ExpectedDollar(other)),
            // An empty line: Redis reports the terminating `\r` it found there.
            None => return Err(ProtocolError::ExpectedDollar(b'\r')),
        }
        let len_text = buf.get(len_range.start + 1..len_range.end).unwrap_or_default();
        let len = match parse_i64(len_text) {
            Some(n) if n >= 0 && n as u64 <= limits.proto_max_bulk_len => n,
            _ => return Err(ProtocolError::InvalidBulkLength),
        };
        if len > UNAUTHENTICATED_MAX_BULK_LEN && limits.unauthenticated {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        let len = len as usize;
        // The payload plus its trailing CRLF (which Redis skips without checking).
        let end = next.saturating_add(len).saturating_add(2);
        if end > buf.len() {
            return Ok(Parsed::Incomplete);
        }
        ranges.push(next..next + len);
        pos = end;
    }
    Ok(Parsed::Ranges { consumed: pos, ranges })
}

fn parse_inline(buf: &[u8], limits: &Limits) -> Result<Parsed, ProtocolError> {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > limits.max_inline_len {
            Err(ProtocolError::TooBigInlineRequest)
        } else {
            Ok(Parsed::Incomplete)
        };
    };
    let mut line = buf.get(..newline).unwrap_or_default();
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    let args = split_args(line).ok_or(ProtocolError::UnbalancedQuotes)?;
    let consumed = newline + 1;
    if args.is_empty() {
        Ok(Parsed::Empty { consumed })
    } else {
        Ok(Parsed::Owned { consumed, args })
    }
}

/// C's `isspace` in the "C" locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits an inline request into arguments with the quoting rules of Redis's
/// `sdssplitargs`: `"..."` supports `\n \r \t \b \a \xHH` and `\<any>` escapes, `'...'` only
/// `\'`; a closing quote must be followed by whitespace or the end of the line. Like the C
/// original, which works on a NUL-terminated string, a NUL byte ends the line.
/// Returns `None` for unbalanced quotes.
fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => line.get(..nul).unwrap_or_default(),
        None => line,
    };
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while at(i) != 0 && is_space(at(i)) {
            i += 1;
        }
        if at(i) == 0 {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let c = at(i);
            if in_double {
                if c == b'\\' && at(i + 1) == b'x' {
                    if let (Some(hi), Some(lo)) = (hex_value(at(i + 2)), hex_value(at(i + 3))) {
                        current.push(hi * 16 + lo);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(i + 1) != 0 {
                    current.push(match at(i + 1) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => b'\x08',
                        b'a' => b'\x07',
                        other => other,
                    });
                    i += 2;
                    continue;
                }
                match c {
                    b'"' => {
                        if at(i + 1) != 0 && !is_space(at(i + 1)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    0 => return None,
                    _ => current.push(c),
                }
            } else if in_single {
                if c == b'\\' && at(i + 1) == b'\'' {
                    current.push(b'\'');
                    i += 2;
                    continue;
                }
                match c {
                    b'\'' => {
                        if at(i + 1) != 0 && !is_space(at(i + 1)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    0 => return None,
                    _ => current.push(c),
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => current.push(c),
                }
            }
            i += 1;
        }
        args.push(Bytes::from(current));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8], limits: &Limits) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(args) = parse_request(&mut buf, limits)? {
            out.push(args);
        }
        Ok(out)
    }

    fn strs(args: &[Bytes]) -> Vec<&[u8]> {
        args.iter().map(|a| a.as_ref()).collect()
    }

    #[test]
    fn multibulk_command_is_parsed_and_consumed() {
        let mut buf = BytesMut::from(&b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n"[..]);
        let args = parse_request(&mut buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(strs(&args), vec![&b"SET"[..], b"k", b"hello"]);
        assert_eq!(&buf[..], b"*1\r\n$4\r\nPING\r\n");
        let args = parse_request(&mut buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(strs(&args), vec![&b"PING"[..]]);
        assert!(buf.is_empty());
        assert_eq!(parse_request(&mut buf, &Limits::default()), Ok(None));
    }

    #[test]
    fn binary_payloads_with_crlf_inside_survive() {
        let out = parse_all(b"*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n", &Limits::default()).unwrap();
        assert_eq!(strs(&out[0]), vec![&b"ECHO"[..], b"a\r\nb"]);
    }

    #[test]
    fn every_prefix_of_a_frame_is_incomplete_and_untouched() {
        let frame = b"*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n";
        for cut in 0..frame.len() {
            let mut buf = BytesMut::from(&frame[..cut]);
            assert_eq!(parse_request(&mut buf, &Limits::default()), Ok(None), "cut at {cut}");
            assert_eq!(&buf[..], &frame[..cut]);
        }
        let mut buf = BytesMut::from(&frame[..]);
        assert!(parse_request(&mut buf, &Limits::default()).unwrap().is_some());
    }

    #[test]
    fn empty_multibulk_and_blank_lines_are_skipped() {
        let out = parse_all(b"*0\r\n*-1\r\n\r\n   \r\n*1\r\n$4\r\nPING\r\n", &Limits::default()).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(strs(&out[0]), vec![&b"PING"[..]]);
    }

    #[test]
    fn trailing_crlf_of_a_bulk_is_not_checked_like_redis() {
        let out = parse_all(b"*1\r\n$4\r\nPINGxx", &Limits::default()).unwrap();
        assert_eq!(strs(&out[0]), vec![&b"PING"[..]]);
    }

    #[test]
    fn header_errors_have_redis_texts() {
        let l = Limits::default();
        assert_eq!(parse_all(b"*1\r\n$536870913\r\n", &l), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(parse_all(b"*1\r\n$-1\r\n", &l), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(parse_all(b"*1\r\n$abc\r\n", &l), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(parse_all(b"*01\r\n", &l), Err(ProtocolError::InvalidMultibulkLength));
        assert_eq!(parse_all(b"*+1\r\n", &l), Err(ProtocolError::InvalidMultibulkLength));
        assert_eq!(parse_all(b"*1048577\r\n", &l), Err(ProtocolError::InvalidMultibulkLength));
        assert_eq!(parse_all(b"*2147483648\r\n", &l), Err(ProtocolError::InvalidMultibulkLength));
        assert_eq!(parse_all(b"*1\r\nx3\r\n", &l), Err(ProtocolError::ExpectedDollar(b'x')));
        assert_eq!(
            ProtocolError::ExpectedDollar(b'x').to_reply(),
            crate::resp::Reply::Error(Bytes::from_static(b"ERR Protocol error: expected '$', got 'x'"))
        );
        assert_eq!(
            ProtocolError::InvalidBulkLength.to_reply(),
            crate::resp::Reply::Error(Bytes::from_static(b"ERR Protocol error: invalid bulk length"))
        );
    }

    #[test]
    fn configured_bulk_limit_is_enforced_before_the_payload_arrives() {
        let l = Limits { proto_max_bulk_len: 10, ..Limits::default() };
        assert_eq!(parse_all(b"*1\r\n$11\r\n", &l), Err(ProtocolError::InvalidBulkLength));
        assert!(parse_all(b"*1\r\n$10\r\n0123456789\r\n", &l).is_ok());
    }

    #[test]
    fn oversized_header_lines_and_inline_requests_are_rejected() {
        let l = Limits::default();
        let mut long = b"PING ".to_vec();
        long.extend(std::iter::repeat_n(b'x', 64 * 1024 + 1));
        assert_eq!(parse_all(&long, &l), Err(ProtocolError::TooBigInlineRequest));
        let mut count = b"*1".to_vec();
        count.extend(std::iter::repeat_n(b'1', 64 * 1024 + 1));
        assert_eq!(parse_all(&count, &l), Err(ProtocolError::TooBigMultibulkCount));
        let mut bulk = b"*1\r\n$1".to_vec();
        bulk.extend(std::iter::repeat_n(b'1', 64 * 1024 + 1));
        assert_eq!(parse_all(&bulk, &l), Err(ProtocolError::TooBigBulkCount));
        // Below the limit, a line without its newline just waits for more bytes.
        assert_eq!(parse_all(b"PING", &l), Ok(vec![]));
    }

    #[test]
    fn unauthenticated_clients_get_tight_caps() {
        let l = Limits::default().for_unauthenticated();
        assert_eq!(parse_all(b"*11\r\n", &l), Err(ProtocolError::UnauthenticatedMultibulkLength));
        assert_eq!(parse_all(b"*1\r\n$16385\r\n", &l), Err(ProtocolError::UnauthenticatedBulkLength));
        assert!(parse_all(b"*10\r\n", &l).is_ok());
    }

    #[test]
    fn inline_commands_follow_sdssplitargs() {
        let l = Limits::default();
        let out = parse_all(b"SET a \"b c\"\r\nECHO \"a\\x41b\\n\\t\\z\"\nECHO 'it\\'s' x\"y\"\r\n", &l).unwrap();
        assert_eq!(strs(&out[0]), vec![&b"SET"[..], b"a", b"b c"]);
        assert_eq!(strs(&out[1]), vec![&b"ECHO"[..], b"aAb\n\tz"]);
        assert_eq!(strs(&out[2]), vec![&b"ECHO"[..], b"it's", b"xy"]);
        // A lone \r inside the line separates arguments.
        let out = parse_all(b"ECHO x\ry\r\n", &l).unwrap();
        assert_eq!(strs(&out[0]), vec![&b"ECHO"[..], b"x", b"y"]);
        // NUL ends the line like the C string it is in Redis.
        let out = parse_all(b"ECHO a\0b c\r\n", &l).unwrap();
        assert_eq!(strs(&out[0]), vec![&b"ECHO"[..], b"a"]);
    }

    #[test]
    fn unbalanced_quotes_are_protocol_errors() {
        let l = Limits::default();
        for bad in [&b"SET a \"b\r\n"[..], b"ECHO \"a\"b\r\n", b"ECHO 'a\r\n", b"ECHO 'a'b\n"] {
            assert_eq!(parse_all(bad, &l), Err(ProtocolError::UnbalancedQuotes), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// Deterministic xorshift so the fuzz test needs no extra crate and always replays the same.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn random_bytes_never_panic_and_never_overconsume() {
        let alphabet = b"*$\r\n0123456789-+ \"'\\xabPING\0";
        let limits = Limits { max_inline_len: 64, proto_max_bulk_len: 32, ..Limits::default() };
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let len = (xorshift(&mut seed) % 48) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    let r = xorshift(&mut seed);
                    if r.is_multiple_of(4) {
                        (r >> 8) as u8
                    } else {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    }
                })
                .collect();
            let mut buf = BytesMut::from(&input[..]);
            let mut guard = 0;
            while let Ok(Some(args)) = parse_request(&mut buf, &limits) {
                assert!(!args.is_empty());
                assert!(buf.len() < input.len());
                guard += 1;
                assert!(guard <= input.len(), "parser made no progress");
            }
        }
    }
}
