//! SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP: bit operations on string values, as Redis's
//! bitops.c does them (bit 0 is the most significant bit of the first byte; missing keys and
//! bytes past the end read as zeros).

use bytes::Bytes;

use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::command::{arg, int_arg, is_option};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{current_expiry, encode_string, kv_key, read_string};
use crate::redis::retry::{read_modify_write, Plan};
use crate::redis::session::ServerContext;
use crate::resp::{parse_i64, Reply};

/// A bit offset argument (Redis's `getBitOffsetFromArgument`): a non-negative integer whose
/// byte lies within `proto-max-bulk-len`.
fn bit_offset(raw: &[u8], max_bytes: u64) -> Result<u64, RedisError> {
    let offset = parse_i64(raw).ok_or(RedisError::BitOffset)?;
    let offset = u64::try_from(offset).map_err(|_| RedisError::BitOffset)?;
    if offset >> 3 >= max_bytes {
        return Err(RedisError::BitOffset);
    }
    Ok(offset)
}

/// Reads one string key: `None` when missing, WRONGTYPE for other types.
async fn read<K: KvStore>(kv: &K, key: &[u8]) -> Result<Option<Bytes>, RedisError> {
    let snapshot = kv.get(vec![kv_key(key)]).await?;
    read_string(&snapshot.states.into_iter().next().unwrap_or_default())
}

#[derive(Clone, Debug, PartialEq)]
pub struct SetBit {
    key: Bytes,
    offset: Bytes,
    value: Bytes,
}

impl SetBit {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(SetBit { key: arg(args, 1)?, offset: arg(args, 2)?, value: arg(args, 3)? })
    }

    pub async fn apply<K: KvStore>(self, kv: &K, ctx: &ServerContext) -> Result<Reply, RedisError> {
        let offset = bit_offset(&self.offset, ctx.limits.proto_max_bulk_len)?;
        let on = match parse_i64(&self.value) {
            Some(0) => false,
            Some(1) => true,
            _ => return Err(RedisError::BitValue),
        };
        let key = kv_key(&self.key);
        let byte = usize::try_from(offset >> 3).map_err(|_| RedisError::BitOffset)?;
        let mask = 1u8 << (7 - (offset & 7));
        read_modify_write(kv, vec![key.clone()], |snapshot| {
            let state = snapshot.states.first().cloned().unwrap_or_default();
            let current = read_string(&state)?;
            let old = current.as_ref().and_then(|c| c.get(byte)).is_some_and(|b| b & mask != 0);
            let grows = current.as_ref().is_none_or(|c| c.len() <= byte);
            if old == on && !grows {
                return Ok(Plan::Done(Reply::Integer(i64::from(old))));
            }
            let mut updated = current.map(|c| c.to_vec()).unwrap_or_default();
            if updated.len() <= byte {
                updated.resize(byte + 1, 0);
            }
            if on {
                updated[byte] |= mask;
            } else {
                updated[byte] &= !mask;
            }
            let expiry = if state.is_live() { current_expiry(&state) } else { Expiry::Never };
            let put = Mutation::Put { key: key.clone(), value: encode_string(&updated), expiry };
            Ok(Plan::Write { mutations: vec![put], reply: Reply::Integer(i64::from(old)) })
        })
        .await
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct GetBit {
    key: Bytes,
    offset: Bytes,
}

impl GetBit {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(GetBit { key: arg(args, 1)?, offset: arg(args, 2)? })
    }

    pub async fn apply<K: KvStore>(self, kv: &K, ctx: &ServerContext) -> Result<Reply, RedisError> {
        let offset = bit_offset(&self.offset, ctx.limits.proto_max_bulk_len)?;
        let value = read(kv, &self.key).await?.unwrap_or_default();
        let byte = usize::try_from(offset >> 3).unwrap_or(usize::MAX);
        let set = value.get(byte).is_some_and(|b| b & (1 << (7 - (offset & 7))) != 0);
        Ok(Reply::Integer(i64::from(set)))
    }
}

/// A `start end [BYTE|BIT]` range resolved against a string of `len` bytes: the inclusive
/// byte span and the masks of bits outside the range in its first and last bytes.
struct Span {
    start: i64,
    end: i64,
    first_outside: u8,
    last_outside: u8,
}

fn resolve_span(len: usize, start: i64, end: i64, bits: bool) -> Span {
    let mut total = len as i64;
    if bits {
        total <<= 3;
    }
    let (mut start, mut end) = (start, end);
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    let (mut first_outside, mut last_outside) = (0, 0);
    if bits && start <= end {
        first_outside = !((1u16 << (8 - (start & 7))) - 1) as u8;
        last_outside = ((1u16 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    Span { start, end, first_outside, last_outside }
}

fn unit(arg: &[u8]) -> Result<bool, RedisError> {
    if is_option(arg, "bit") {
        Ok(true)
    } else if is_option(arg, "byte") {
        Ok(false)
    } else {
        Err(RedisError::Syntax)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BitCount {
    key: Bytes,
    /// The range arguments, checked after the key is read, as Redis does.
    range: Vec<Bytes>,
}

impl BitCount {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(BitCount { key: arg(args, 1)?, range: args.get(2..).unwrap_or_default().to_vec() })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let Some(value) = read(kv, &self.key).await? else { return Ok(Reply::Integer(0)) };
        let span = match self.range.as_slice() {
            [] => Span { start: 0, end: value.len() as i64 - 1, first_outside: 0, last_outside: 0 },
            [start, end, rest @ ..] if rest.len() <= 1 => {
                let (start, end) = (int_arg(start)?, int_arg(end)?);
                if start < 0 && end < 0 && start > end {
                    return Ok(Reply::Integer(0));
                }
                let bits = rest.first().map(|u| unit(u)).transpose()?.unwrap_or(false);
                resolve_span(value.len(), start, end, bits)
            }
            _ => return Err(RedisError::Syntax),
        };
        if span.start > span.end {
            return Ok(Reply::Integer(0));
        }
        let bytes = &value[span.start as usize..=span.end as usize];
        let mut count: i64 = bytes.iter().map(|b| i64::from(b.count_ones())).sum();
        count -= i64::from((value[span.start as usize] & span.first_outside).count_ones());
        count -= i64::from((value[span.end as usize] & span.last_outside).count_ones());
        Ok(Reply::Integer(count))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BitPos {
    key: Bytes,
    bit: Bytes,
    range: Vec<Bytes>,
}

impl BitPos {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(BitPos { key: arg(args, 1)?, bit: arg(args, 2)?, range: args.get(3..).unwrap_or_default().to_vec() })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let bit = int_arg(&self.bit)?;
        if bit != 0 && bit != 1 {
            return Err(RedisError::BitArgument);
        }
        let want = bit == 1;
        let Some(value) = read(kv, &self.key).await? else { return Ok(Reply::Integer(if want { -1 } else { 0 })) };
        let len = value.len();
        let (span, end_given) = match self.range.as_slice() {
            [] => (Span { start: 0, end: len as i64 - 1, first_outside: 0, last_outside: 0 }, false),
            [start, rest @ ..] if rest.len() <= 2 => {
                let start = int_arg(start)?;
                let bits = rest.get(1).map(|u| unit(u)).transpose()?.unwrap_or(false);
                let (end, given) = match rest.first() {
                    Some(end) => (int_arg(end)?, true),
                    None if bits => (((len as i64) << 3) + 7, false),
                    None => (len as i64 - 1, false),
                };
                (resolve_span(len, start, end, bits), given)
            }
            _ => return Err(RedisError::Syntax),
        };
        if span.start > span.end {
            return Ok(Reply::Integer(-1));
        }
        // Bits outside the range read as the opposite of what is looked for.
        let mut bytes = value[span.start as usize..=span.end as usize].to_vec();
        let last = bytes.len() - 1;
        let hide = |byte: &mut u8, outside: u8| {
            if want {
                *byte &= !outside;
            } else {
                *byte |= outside;
            }
        };
        hide(&mut bytes[0], span.first_outside);
        hide(&mut bytes[last], span.last_outside);
        let found = bytes.iter().enumerate().find_map(|(i, &b)| {
            let b = if want { b } else { !b };
            (b != 0).then(|| i as i64 * 8 + i64::from(b.leading_zeros()))
        });
        let pos = match found {
            Some(pos) => pos,
            None if want => return Ok(Reply::Integer(-1)),
            // No clear bit in the range: with an explicit end there is none; otherwise the
            // string is zero-padded on the right.
            None if end_given => return Ok(Reply::Integer(-1)),
            None => bytes.len() as i64 * 8,
        };
        Ok(Reply::Integer(pos + (span.start << 3)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum BitOpKind {
    And,
    Or,
    Xor,
    Not,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BitOp {
    op: BitOpKind,
    destination: Bytes,
    sources: Vec<Bytes>,
}

impl BitOp {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let name = arg(args, 1)?;
        let op = if is_option(&name, "and") {
            BitOpKind::And
        } else if is_option(&name, "or") {
            BitOpKind::Or
        } else if is_option(&name, "xor") {
            BitOpKind::Xor
        } else if is_option(&name, "not") {
            BitOpKind::Not
        } else {
            return Err(RedisError::Syntax);
        };
        let sources = args.get(3..).unwrap_or_default().to_vec();
        if op == BitOpKind::Not && sources.len() != 1 {
            return Err(RedisError::BitopNotArity);
        }
        Ok(BitOp { op, destination: arg(args, 2)?, sources })
    }

    /// Reads every source and writes the destination conditioned on all their versions.
    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let destination = kv_key(&self.destination);
        let mut keys: Vec<Bytes> = self.sources.iter().map(|k| kv_key(k)).collect();
        keys.push(destination.clone());
        read_modify_write(kv, keys, |snapshot| {
            let count = self.sources.len();
            let values = snapshot.states[..count].iter().map(read_string).collect::<Result<Vec<_>, _>>()?;
            let values: Vec<Bytes> = values.into_iter().map(Option::unwrap_or_default).collect();
            let max_len = values.iter().map(Bytes::len).max().unwrap_or(0);
            let result: Vec<u8> = (0..max_len)
                .map(|i| {
                    let byte = |v: &Bytes| v.get(i).copied().unwrap_or(0);
                    match self.op {
                        BitOpKind::Not => !byte(&values[0]),
                        BitOpKind::And => values.iter().map(byte).fold(0xff, |a, b| a & b),
                        BitOpKind::Or => values.iter().map(byte).fold(0, |a, b| a | b),
                        BitOpKind::Xor => values.iter().map(byte).fold(0, |a, b| a ^ b),
                    }
                })
                .collect();
            let dest_live = snapshot.states.last().is_some_and(|s| s.is_live());
            let mutation = if result.is_empty() {
                if !dest_live {
                    return Ok(Plan::Done(Reply::Integer(0)));
                }
                Mutation::Delete { key: destination.clone() }
            } else {
                Mutation::Put { key: destination.clone(), value: encode_string(&result), expiry: Expiry::Never }
            };
            Ok(Plan::Write { mutations: vec![mutation], reply: Reply::Integer(max_len as i64) })
        })
        .await
    }
}
