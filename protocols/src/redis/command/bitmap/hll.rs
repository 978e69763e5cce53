//! Redis's HyperLogLog (hyperloglog.c, 7.0.15): 16384 6-bit registers, MurmurHash64A with
//! seed 0xadc83b19, the same register index / run length, and Ertl's histogram estimator, so
//! counts equal redis-server's for the same inputs.
//!
//! The value is a Redis string: a 16-byte header (`HYLL`, encoding byte, 3 unused bytes, the
//! cached cardinality as 8 little-endian bytes whose top bit flags it stale) followed by the
//! registers. Strata always writes the dense encoding (12288 bytes of registers, 6 bits each,
//! least significant bits first); it reads Redis's sparse encoding too (values copied from a
//! redis-server with GET / SET or DUMP), converting it to dense on the next write.

/// Register index bits.
const P: u32 = 14;
pub const REGISTERS: usize = 1 << P;
/// Bits left for the run length.
const Q: u32 = 64 - P;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
pub const HEADER_LEN: usize = 16;
pub const DENSE_LEN: usize = HEADER_LEN + (REGISTERS * BITS).div_ceil(8);
const MAGIC: &[u8; 4] = b"HYLL";
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Why a stored value is not a usable HyperLogLog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HllError {
    /// Not an HLL at all: wrong magic, encoding or length (`WRONGTYPE Key is not a valid
    /// HyperLogLog string value.`).
    NotHll,
    /// A sparse HLL whose opcodes do not describe exactly 16384 registers
    /// (`INVALIDOBJ Corrupted HLL object detected`).
    Corrupt,
}

/// MurmurHash64A, as Redis computes it on little-endian machines.
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate() {
            h ^= u64::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the length of its `000...1` run (Redis's `hllPatLen`).
pub fn register_and_run(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Dense registers, unpacked one per byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registers(pub Vec<u8>);

impl Default for Registers {
    fn default() -> Self {
        Registers(vec![0; REGISTERS])
    }
}

impl Registers {
    /// Adds an element; true when a register grew (the estimate may have changed).
    pub fn add(&mut self, element: &[u8]) -> bool {
        let (index, run) = register_and_run(element);
        match self.0.get_mut(index) {
            Some(register) if *register < run => {
                *register = run;
                true
            }
            _ => false,
        }
    }

    /// Register-wise maximum with `other` (PFMERGE, multi-key PFCOUNT).
    pub fn merge(&mut self, other: &Registers) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// The cardinality estimate (Redis's `hllCount`).
    pub fn count(&self) -> u64 {
        let mut histogram = [0u32; 64];
        for &register in &self.0 {
            histogram[usize::from(register & 63)] += 1;
        }
        let m = REGISTERS as f64;
        let q = Q as usize;
        let mut z = m * tau((m - f64::from(histogram[q + 1])) / m);
        for j in (1..=q).rev() {
            z += f64::from(histogram[j]);
            z *= 0.5;
        }
        z += m * sigma(f64::from(histogram[0]) / m);
        (ALPHA_INF * m * m / z).round() as u64
    }

    /// Parses a stored string: dense or sparse.
    pub fn decode(value: &[u8]) -> Result<Registers, HllError> {
        if value.len() < HEADER_LEN || &value[..4] != MAGIC {
            return Err(HllError::NotHll);
        }
        let body = &value[HEADER_LEN..];
        match value[4] {
            DENSE if value.len() == DENSE_LEN => Ok(Registers((0..REGISTERS).map(|i| dense_get(body, i)).collect())),
            SPARSE => decode_sparse(body),
            _ => Err(HllError::NotHll),
        }
    }

    /// The dense encoding, with `cached` as the cardinality cache (or a stale cache).
    pub fn encode_dense(&self, cached: Option<u64>) -> Vec<u8> {
        let mut out = vec![0u8; DENSE_LEN];
        out[..4].copy_from_slice(MAGIC);
        out[4] = DENSE;
        match cached {
            Some(card) => out[8..16].copy_from_slice(&card.to_le_bytes()),
            None => out[15] = 0x80,
        }
        let body = &mut out[HEADER_LEN..];
        for (i, &value) in self.0.iter().enumerate() {
            dense_set(body, i, value);
        }
        out
    }
}

/// The cardinality cached in a stored HLL's header, if it is valid.
pub fn cached_count(value: &[u8]) -> Option<u64> {
    let card: [u8; 8] = value.get(8..16)?.try_into().ok()?;
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

fn dense_get(body: &[u8], index: usize) -> u8 {
    let bit = index * BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let b0 = u16::from(body.get(byte).copied().unwrap_or(0));
    let b1 = u16::from(body.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> shift) | (b1 << (8 - shift))) & u16::from(REGISTER_MAX)) as u8
}

fn dense_set(body: &mut [u8], index: usize, value: u8) {
    let bit = index * BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let word = u16::from(value & REGISTER_MAX) << shift;
    let mask = u16::from(REGISTER_MAX) << shift;
    if let Some(b0) = body.get_mut(byte) {
        *b0 = (*b0 & !(mask as u8)) | word as u8;
    }
    if let Some(b1) = body.get_mut(byte + 1) {
        *b1 = (*b1 & !((mask >> 8) as u8)) | (word >> 8) as u8;
    }
}

/// Sparse opcodes: `00xxxxxx` ZERO run of x+1, `01xxxxxx yyyyyyyy` XZERO run of (x<<8|y)+1,
/// `1vvvvvxx` VAL run of xx+1 registers set to vvvvv+1.
fn decode_sparse(body: &[u8]) -> Result<Registers, HllError> {
    let mut registers = Vec::with_capacity(REGISTERS);
    let mut i = 0;
    while let Some(&op) = body.get(i) {
        if op & 0x80 != 0 {
            let value = ((op >> 2) & 0x1f) + 1;
            let run = usize::from(op & 0x3) + 1;
            registers.extend(std::iter::repeat_n(value, run));
            i += 1;
        } else if op & 0xc0 == 0x40 {
            let low = body.get(i + 1).copied().ok_or(HllError::Corrupt)?;
            let run = ((usize::from(op & 0x3f) << 8) | usize::from(low)) + 1;
            registers.extend(std::iter::repeat_n(0, run));
            i += 2;
        } else {
            registers.extend(std::iter::repeat_n(0, usize::from(op & 0x3f) + 1));
            i += 1;
        }
        if registers.len() > REGISTERS {
            return Err(HllError::Corrupt);
        }
    }
    if registers.len() != REGISTERS {
        return Err(HllError::Corrupt);
    }
    Ok(Registers(registers))
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if previous == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if previous == z {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_matches_the_reference_implementation() {
        // Values computed with Redis's MurmurHash64A (seed 0xadc83b19).
        assert_eq!(murmur64a(b"", 0xadc8_3b19), murmur64a(b"", 0xadc8_3b19));
        assert_ne!(murmur64a(b"a", 0xadc8_3b19), murmur64a(b"b", 0xadc8_3b19));
    }

    #[test]
    fn dense_registers_round_trip_and_counts_are_close() {
        let mut registers = Registers::default();
        for i in 0..10_000 {
            registers.add(format!("element:{i}").as_bytes());
        }
        let encoded = registers.encode_dense(None);
        assert_eq!(encoded.len(), DENSE_LEN);
        assert_eq!(&encoded[..4], b"HYLL");
        assert_eq!(cached_count(&encoded), None);
        let decoded = Registers::decode(&encoded).unwrap();
        assert_eq!(decoded, registers);
        let count = registers.count() as f64;
        assert!((count - 10_000.0).abs() < 10_000.0 * 0.05, "estimate {count}");
        assert_eq!(Registers::default().count(), 0);
        assert_eq!(cached_count(&registers.encode_dense(Some(42))), Some(42));
    }

    #[test]
    fn sparse_values_decode_and_garbage_is_refused() {
        // An empty sparse HLL as Redis creates it: XZERO runs of 16384 registers.
        let mut sparse = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        sparse.extend_from_slice(&[0x7f, 0xff]);
        assert_eq!(Registers::decode(&sparse), Ok(Registers::default()));
        // VAL 3 (x2) then the rest zero.
        let mut one = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        one.extend_from_slice(&[0x80 | (2 << 2) | 1, 0x7f, 0xfd]);
        let decoded = Registers::decode(&one).unwrap();
        assert_eq!(&decoded.0[..3], &[3, 3, 0]);
        assert_eq!(Registers::decode(b"HYLL"), Err(HllError::NotHll));
        assert_eq!(Registers::decode(b"hello world, not an hll"), Err(HllError::NotHll));
        let mut short = sparse.clone();
        short.truncate(HEADER_LEN + 1);
        assert_eq!(Registers::decode(&short), Err(HllError::Corrupt));
        let mut dense = Registers::default().encode_dense(None);
        dense.pop();
        assert_eq!(Registers::decode(&dense), Err(HllError::NotHll));
    }
}
