//! Sorted-set scores as 8 bytes whose byte order is the numeric order, for the score index.

/// Encodes `score` so that comparing encodings bytewise compares scores numerically
/// (−inf < … < −0 = +0 < … < +inf). NaN never reaches here: Redis refuses it as a score.
pub fn encode_score(score: f64) -> [u8; 8] {
    // -0.0 and 0.0 are the same score in Redis.
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    let ordered = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    ordered.to_be_bytes()
}

/// The inverse of [`encode_score`]; `None` if `bytes` is not 8 bytes long.
pub fn decode_score(bytes: &[u8]) -> Option<f64> {
    let ordered = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    let bits = if ordered >> 63 == 1 { ordered & !(1 << 63) } else { !ordered };
    Some(f64::from_bits(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_is_numeric_order_and_decoding_inverts() {
        let scores =
            [f64::NEG_INFINITY, -1e300, -2.5, -1.0, -f64::MIN_POSITIVE, 0.0, 1e-300, 1.0, 2.5, 1e300, f64::INFINITY];
        for pair in scores.windows(2) {
            assert!(encode_score(pair[0]) < encode_score(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        for score in scores {
            assert_eq!(decode_score(&encode_score(score)), Some(score));
        }
        assert_eq!(encode_score(-0.0), encode_score(0.0));
        assert_eq!(decode_score(b"short"), None);
    }
}
