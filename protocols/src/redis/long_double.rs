//! A software model of x86's 80-bit `long double`, just enough for INCRBYFLOAT.
//!
//! Redis 7.0 computes INCRBYFLOAT in `long double` (64-bit significand), parses with
//! `strtold` and prints with `"%.17Lf"` before trimming zeros. Its answers show that
//! precision: `1000 + 0.1` is `1000.09999999999999998`, which no `f64` computation
//! reproduces. Rust has no 80-bit float, so this module implements the three operations
//! exactly: correctly rounded decimal parsing, correctly rounded addition, and exact
//! fixed-point printing (round half to even everywhere, as the FPU and glibc do).

use std::cmp::Ordering;

/// Value = `mantissa * 2^exponent`. Normal numbers have bit 63 of `mantissa` set;
/// subnormals have `exponent == MIN_EXPONENT` and a smaller mantissa; zero has mantissa 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LongDouble {
    Finite { negative: bool, mantissa: u64, exponent: i32 },
    Infinite { negative: bool },
    NaN,
}

/// Exponent of the smallest subnormal, 2^-16445, and of the largest finite value's unit.
const MIN_EXPONENT: i32 = -16382 - 63;
const MAX_EXPONENT: i32 = 16383 - 63;
/// Redis refuses float strings of this many bytes or more (`MAX_LONG_DOUBLE_CHARS`).
const MAX_INPUT_LEN: usize = 5 * 1024;

impl LongDouble {
    pub(crate) fn is_finite(self) -> bool {
        matches!(self, LongDouble::Finite { .. })
    }

    /// Parses like Redis's `string2ld`: `strtold` on the whole string, refusing leading
    /// whitespace, trailing garbage, NaN, and values that overflow or underflow to zero.
    /// Infinity (`inf`, `infinity`) is accepted. Hexadecimal floats are not supported.
    pub(crate) fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= MAX_INPUT_LEN {
            return None;
        }
        let (negative, body) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, text),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble::Infinite { negative });
        }
        let decimal = Decimal::parse(body)?;
        let value = decimal.to_long_double(negative)?;
        match value {
            LongDouble::Finite { mantissa: 0, .. } if !decimal.is_zero() => None,
            LongDouble::Infinite { .. } => None,
            value => Some(value),
        }
    }

    /// `self + other`, rounded to nearest-even.
    pub(crate) fn add(self, other: LongDouble) -> LongDouble {
        let (a, b) = match (self, other) {
            (LongDouble::NaN, _) | (_, LongDouble::NaN) => return LongDouble::NaN,
            (LongDouble::Infinite { negative: x }, LongDouble::Infinite { negative: y }) if x != y => {
                return LongDouble::NaN
            }
            (inf @ LongDouble::Infinite { .. }, _) | (_, inf @ LongDouble::Infinite { .. }) => return inf,
            (a, b) => (a, b),
        };
        let (
            LongDouble::Finite { negative: an, mantissa: am, exponent: ae },
            LongDouble::Finite { negative: bn, mantissa: bm, exponent: be },
        ) = (a, b)
        else {
            return LongDouble::NaN;
        };
        if bm == 0 {
            return a;
        }
        if am == 0 {
            return b;
        }
        // Let `a` be the operand with the larger exponent.
        let ((an, am, ae), (bn, bm, be)) =
            if ae >= be { ((an, am, ae), (bn, bm, be)) } else { ((bn, bm, be), (an, am, ae)) };
        // Work in units of 2^(ae - 63): `a` gets 63 guard bits, `b` is aligned to it and
        // whatever falls off its bottom only matters as a "sticky" nonzero remainder.
        let base = ae - 63;
        let big_a = u128::from(am) << 63;
        let distance = i64::from(ae) - i64::from(be);
        let (big_b, sticky) = if distance <= 63 {
            (u128::from(bm) << (63 - distance), false)
        } else {
            let drop = distance - 63;
            if drop >= 64 {
                (0, true)
            } else {
                (u128::from(bm >> drop), bm & ((1u64 << drop) - 1) != 0)
            }
        };
        if an == bn {
            return round(an, big_a + big_b, sticky, base);
        }
        match big_a.cmp(&big_b) {
            Ordering::Equal if !sticky => LongDouble::Finite { negative: false, mantissa: 0, exponent: 0 },
            // The true difference is a bit below `big_a - big_b` when bits of b were dropped.
            Ordering::Greater | Ordering::Equal => {
                round(an, (big_a - big_b).saturating_sub(u128::from(sticky)), sticky, base)
            }
            Ordering::Less => round(bn, big_b - big_a, false, base),
        }
    }

    /// Formats like glibc's `printf("%.17Lf")` followed by Redis's trimming of trailing
    /// zeros (and of a bare `.`), with `-0` shown as `0`. NaN / infinities give `nan`, `inf`.
    pub(crate) fn to_redis_string(self) -> String {
        let (negative, mantissa, exponent) = match self {
            LongDouble::NaN => return "nan".into(),
            LongDouble::Infinite { negative } => return if negative { "-inf" } else { "inf" }.into(),
            LongDouble::Finite { negative, mantissa, exponent } => (negative, mantissa, exponent),
        };
        const FRACTION_DIGITS: u32 = 17;
        let mut text = if exponent >= 0 {
            // An integer: all 17 fraction digits are zeros, which the trimming removes.
            BigUint::from_u64(mantissa).shl(exponent as u32).to_decimal()
        } else {
            let scaled = u128::from(mantissa) * 10u128.pow(FRACTION_DIGITS);
            let shift = exponent.unsigned_abs();
            let rounded = if shift >= 128 {
                // value * 10^17 < 2^121 / 2^128 < 1/2: rounds to zero.
                0
            } else {
                let quotient = scaled >> shift;
                let remainder = scaled & ((1u128 << shift) - 1);
                let half = 1u128 << (shift - 1);
                let round_up = remainder > half || (remainder == half && quotient & 1 == 1);
                quotient + u128::from(round_up)
            };
            let unit = 10u128.pow(FRACTION_DIGITS);
            let fixed = format!("{}.{:017}", rounded / unit, rounded % unit);
            fixed.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        if negative && text != "0" {
            text.insert(0, '-');
        }
        text
    }
}

/// Rounds `(value + sticky fraction) * 2^exponent` to a [`LongDouble`], where `sticky`
/// means "some nonzero amount below the last bit of `value`".
fn round(negative: bool, value: u128, sticky: bool, exponent: i32) -> LongDouble {
    if value == 0 {
        return LongDouble::Finite { negative, mantissa: 0, exponent: 0 };
    }
    let bits = 128 - value.leading_zeros() as i32;
    let mut shift = bits - 64;
    if exponent.saturating_add(shift) < MIN_EXPONENT {
        // Subnormal: keep fewer bits so the exponent stays at its minimum.
        shift = MIN_EXPONENT - exponent;
    }
    let (mut mantissa, mut exponent) = if shift <= 0 {
        // Fits without dropping bits (any sticky fraction is far below half a unit here).
        (value << shift.unsigned_abs(), exponent + shift)
    } else if shift > 128 {
        (0, exponent + shift)
    } else {
        let shift = shift as u32;
        let (kept, dropped) = if shift == 128 { (0, value) } else { (value >> shift, value & ((1u128 << shift) - 1)) };
        let half = 1u128 << (shift - 1);
        let round_up = dropped > half || (dropped == half && (sticky || kept & 1 == 1));
        (kept + u128::from(round_up), exponent + shift as i32)
    };
    if mantissa >> 64 != 0 {
        // Rounding carried into a 65th bit.
        mantissa >>= 1;
        exponent += 1;
    }
    if exponent > MAX_EXPONENT {
        return LongDouble::Infinite { negative };
    }
    LongDouble::Finite { negative, mantissa: mantissa as u64, exponent: if mantissa == 0 { 0 } else { exponent } }
}

/// A decimal literal `digits * 10^exponent`, digits without leading zeros.
struct Decimal {
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    /// `strtold`'s decimal syntax, which must span the whole input:
    /// `digits[.digits][e[+-]digits]` or `.digits[...]`.
    fn parse(text: &[u8]) -> Option<Decimal> {
        let mut i = 0;
        let mut digits = Vec::new();
        let mut exponent: i64 = 0;
        let mut seen_digit = false;
        while let Some(&c) = text.get(i).filter(|c| c.is_ascii_digit()) {
            digits.push(c - b'0');
            seen_digit = true;
            i += 1;
        }
        if text.get(i) == Some(&b'.') {
            i += 1;
            while let Some(&c) = text.get(i).filter(|c| c.is_ascii_digit()) {
                digits.push(c - b'0');
                exponent -= 1;
                seen_digit = true;
                i += 1;
            }
        }
        if !seen_digit {
            return None;
        }
        if matches!(text.get(i), Some(b'e' | b'E')) {
            i += 1;
            let exponent_negative = match text.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let start = i;
            let mut written: i64 = 0;
            while let Some(&c) = text.get(i).filter(|c| c.is_ascii_digit()) {
                // Saturate: anything this large over- or underflows anyway.
                written = written.saturating_mul(10).saturating_add(i64::from(c - b'0')).min(1 << 40);
                i += 1;
            }
            if i == start {
                return None;
            }
            exponent += if exponent_negative { -written } else { written };
        }
        if i != text.len() {
            return None;
        }
        let first_nonzero = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
        digits.drain(..first_nonzero);
        // Trailing zeros only scale the exponent.
        while digits.last() == Some(&0) {
            digits.pop();
            exponent += 1;
        }
        Some(Decimal { digits, exponent })
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// The correctly rounded value; `None` only for inputs so large or small that they
    /// certainly overflow (`Infinite` is returned for those that round up to overflow).
    fn to_long_double(&self, negative: bool) -> Option<LongDouble> {
        if self.is_zero() {
            return Some(LongDouble::Finite { negative, mantissa: 0, exponent: 0 });
        }
        // Decimal magnitude: value lies in [10^(magnitude-1), 10^magnitude).
        let magnitude = self.exponent + self.digits.len() as i64;
        if magnitude > 4934 {
            return Some(LongDouble::Infinite { negative });
        }
        if magnitude < -4952 {
            return Some(LongDouble::Finite { negative, mantissa: 0, exponent: 0 });
        }
        let digits = BigUint::from_decimal_digits(&self.digits);
        if self.exponent >= 0 {
            let value = digits.mul_pow10(self.exponent as u32);
            let (top, sticky, shift) = value.top_128_bits();
            return Some(round(negative, top, sticky, shift));
        }
        // value = digits / 10^k: divide with enough quotient bits (127 or 128) to round.
        let denominator = BigUint::from_u64(1).mul_pow10(self.exponent.unsigned_abs() as u32);
        let scale = 127 + denominator.bit_len() as i64 - digits.bit_len() as i64;
        let (numerator, denominator) = if scale >= 0 {
            (digits.shl(scale as u32), denominator)
        } else {
            (digits, denominator.shl(scale.unsigned_abs() as u32))
        };
        let (quotient, remainder_nonzero) = numerator.div_to_u128(&denominator);
        Some(round(negative, quotient, remainder_nonzero, -(scale as i32)))
    }
}

/// Minimal unsigned big integer (little-endian 32-bit limbs) for exact conversions.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BigUint {
    limbs: Vec<u32>,
}

impl BigUint {
    fn from_u64(n: u64) -> BigUint {
        let mut big = BigUint { limbs: vec![n as u32, (n >> 32) as u32] };
        big.normalize();
        big
    }

    fn normalize(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    fn from_decimal_digits(digits: &[u8]) -> BigUint {
        let mut big = BigUint { limbs: Vec::new() };
        for chunk in digits.chunks(9) {
            let chunk_value = chunk.iter().fold(0u32, |acc, &d| acc * 10 + u32::from(d));
            big.mul_add_small(10u32.pow(chunk.len() as u32), chunk_value);
        }
        big
    }

    /// `self = self * factor + addend`.
    fn mul_add_small(&mut self, factor: u32, addend: u32) {
        let mut carry = u64::from(addend);
        for limb in &mut self.limbs {
            let product = u64::from(*limb) * u64::from(factor) + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
    }

    fn mul_pow10(mut self, mut power: u32) -> BigUint {
        while power > 0 {
            let step = power.min(9);
            self.mul_add_small(10u32.pow(step), 0);
            power -= step;
        }
        self
    }

    fn bit_len(&self) -> u64 {
        match self.limbs.last() {
            None => 0,
            Some(&top) => (self.limbs.len() as u64 - 1) * 32 + u64::from(32 - top.leading_zeros()),
        }
    }

    fn shl(&self, bits: u32) -> BigUint {
        let limb_shift = (bits / 32) as usize;
        let bit_shift = bits % 32;
        let mut limbs = vec![0u32; limb_shift];
        let mut carry = 0u32;
        for &limb in &self.limbs {
            if bit_shift == 0 {
                limbs.push(limb);
            } else {
                limbs.push((limb << bit_shift) | carry);
                carry = limb >> (32 - bit_shift);
            }
        }
        if carry != 0 {
            limbs.push(carry);
        }
        let mut big = BigUint { limbs };
        big.normalize();
        big
    }

    fn bit(&self, index: u64) -> bool {
        self.limbs.get((index / 32) as usize).is_some_and(|limb| (limb >> (index % 32)) & 1 == 1)
    }

    /// The top (up to) 128 bits, whether any bit below them is set, and how many bits
    /// were cut off: `self ≈ (top + sticky) * 2^shift`.
    fn top_128_bits(&self) -> (u128, bool, i32) {
        let len = self.bit_len();
        let shift = len.saturating_sub(128);
        let mut top = 0u128;
        for index in (shift..len).rev() {
            top = (top << 1) | u128::from(self.bit(index));
        }
        let sticky = (0..shift).any(|index| self.bit(index));
        (top, sticky, shift as i32)
    }

    fn cmp_shifted(&self, other: &BigUint) -> Ordering {
        self.limbs.len().cmp(&other.limbs.len()).then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }

    fn sub_assign(&mut self, other: &BigUint) {
        let mut borrow = 0i64;
        for (i, limb) in self.limbs.iter_mut().enumerate() {
            let subtrahend = i64::from(other.limbs.get(i).copied().unwrap_or(0)) + borrow;
            let mut value = i64::from(*limb) - subtrahend;
            borrow = 0;
            if value < 0 {
                value += 1 << 32;
                borrow = 1;
            }
            *limb = value as u32;
        }
        self.normalize();
    }

    /// `self / divisor` when the quotient is known to fit in 128 bits, and whether the
    /// division left a remainder. Plain binary long division: the quotient is short.
    fn div_to_u128(&self, divisor: &BigUint) -> (u128, bool) {
        let mut remainder = self.clone();
        let mut quotient = 0u128;
        for bit in (0..128u32).rev() {
            let shifted = divisor.shl(bit);
            if remainder.cmp_shifted(&shifted) != Ordering::Less {
                remainder.sub_assign(&shifted);
                quotient |= 1u128 << bit;
            }
        }
        (quotient, !remainder.limbs.is_empty())
    }

    fn to_decimal(&self) -> String {
        if self.limbs.is_empty() {
            return "0".into();
        }
        let mut limbs = self.limbs.clone();
        let mut chunks = Vec::new();
        while !limbs.is_empty() {
            let mut remainder = 0u64;
            for limb in limbs.iter_mut().rev() {
                let current = (remainder << 32) | u64::from(*limb);
                *limb = (current / 1_000_000_000) as u32;
                remainder = current % 1_000_000_000;
            }
            chunks.push(remainder as u32);
            while limbs.last() == Some(&0) {
                limbs.pop();
            }
        }
        let mut text = String::new();
        for (i, chunk) in chunks.iter().rev().enumerate() {
            if i == 0 {
                text.push_str(&chunk.to_string());
            } else {
                text.push_str(&format!("{chunk:09}"));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::LongDouble;

    fn incr(current: &str, increment: &str) -> String {
        let a = LongDouble::parse(current.as_bytes()).expect("current parses");
        let b = LongDouble::parse(increment.as_bytes()).expect("increment parses");
        a.add(b).to_redis_string()
    }

    /// Expected values were produced by redis-server 7.0.15's INCRBYFLOAT.
    #[test]
    fn matches_redis_incrbyfloat() {
        assert_eq!(incr("10.50", "0.1"), "10.6");
        assert_eq!(incr("10.6", "-5"), "5.6");
        assert_eq!(incr("5.0e3", "2.0e2"), "5200");
        assert_eq!(incr("1000", "0.1"), "1000.09999999999999998");
        assert_eq!(incr("1000.09999999999999998", "10000000000.1"), "10000001000.19999999925494194");
        assert_eq!(incr("10000001000.19999999925494194", "1e20"), "100000000010000001000");
        assert_eq!(incr("0", "3"), "3");
        assert_eq!(incr("3", "-3"), "0");
        assert_eq!(incr("0", "1e-20"), "0");
        assert_eq!(
            incr("0", "1e400"),
            "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880"
        );
        assert_eq!(
            incr("0", "1.5e300"),
            "1500000000000000000049800109861472166362379239118673928551219718248973529929812708792854310575830930686530644566050229406926646739311017606984258288377434143937602778196710661234655944195770838513268846826150205418632995547271874827072936230594920013241190363994471886080567336615911694509046614720512"
        );
    }

    #[test]
    fn parsing_follows_string2ld() {
        for bad in ["", " 1", "1 ", "abc", "1e", "1e+", ".", "-", "nan", "1.5e4932", "1e-5000", "0x"] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        for good in ["1", "+1", "-1.5", ".5", "5.", "1E3", "1e-3", "inf", "-Infinity", "0.000", "1e-4940"] {
            assert!(LongDouble::parse(good.as_bytes()).is_some(), "{good:?}");
        }
        assert!(!LongDouble::parse(b"inf").unwrap().is_finite());
    }

    #[test]
    fn infinities_and_nan_propagate() {
        let inf = LongDouble::parse(b"inf").unwrap();
        let minus_inf = LongDouble::parse(b"-inf").unwrap();
        let one = LongDouble::parse(b"1").unwrap();
        assert!(!inf.add(one).is_finite());
        assert_eq!(inf.add(minus_inf), LongDouble::NaN);
        // The largest finite value plus itself overflows.
        let big = LongDouble::parse(b"1.1e4932").unwrap();
        assert!(!big.add(big).is_finite());
    }

    #[test]
    fn negative_zero_prints_as_zero() {
        assert_eq!(incr("-0", "0"), "0");
        assert_eq!(incr("-1", "1"), "0");
        assert_eq!(incr("-1.25", "0"), "-1.25");
    }
}
