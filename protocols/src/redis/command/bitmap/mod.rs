//! Bit operations on strings (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP) and HyperLogLog
//! (PFADD, PFCOUNT, PFMERGE), both stored as plain string values.

mod bits;
pub(crate) mod hll;
mod pf;

use bytes::Bytes;

use crate::kv::KvStore;
use crate::redis::error::RedisError;
use crate::redis::session::ServerContext;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum Bitmap {
    SetBit(bits::SetBit),
    GetBit(bits::GetBit),
    BitCount(bits::BitCount),
    BitPos(bits::BitPos),
    BitOp(bits::BitOp),
    PfAdd(pf::PfAdd),
    PfCount(pf::PfCount),
    PfMerge(pf::PfMerge),
}

impl Bitmap {
    /// `None` when `name` is not a bitmap or HyperLogLog command.
    pub fn parse(name: &str, args: &[Bytes]) -> Option<Result<Bitmap, RedisError>> {
        Some(match name {
            "setbit" => bits::SetBit::parse(args).map(Bitmap::SetBit),
            "getbit" => bits::GetBit::parse(args).map(Bitmap::GetBit),
            "bitcount" => bits::BitCount::parse(args).map(Bitmap::BitCount),
            "bitpos" => bits::BitPos::parse(args).map(Bitmap::BitPos),
            "bitop" => bits::BitOp::parse(args).map(Bitmap::BitOp),
            "pfadd" => pf::PfAdd::parse(args).map(Bitmap::PfAdd),
            "pfcount" => pf::PfCount::parse(args).map(Bitmap::PfCount),
            "pfmerge" => pf::PfMerge::parse(args).map(Bitmap::PfMerge),
            _ => return None,
        })
    }

    pub async fn apply<K: KvStore>(self, kv: &K, ctx: &ServerContext) -> Result<Reply, RedisError> {
        match self {
            Bitmap::SetBit(c) => c.apply(kv, ctx).await,
            Bitmap::GetBit(c) => c.apply(kv, ctx).await,
            Bitmap::BitCount(c) => c.apply(kv).await,
            Bitmap::BitPos(c) => c.apply(kv).await,
            Bitmap::BitOp(c) => c.apply(kv).await,
            Bitmap::PfAdd(c) => c.apply(kv).await,
            Bitmap::PfCount(c) => c.apply(kv).await,
            Bitmap::PfMerge(c) => c.apply(kv).await,
        }
    }
}

#[cfg(test)]
mod tests;
