//! Object sizes as people write them: `4KiB`, `1MiB`, `64MiB`, `4096`. Units are binary
//! (`k`, `K`, `KiB` are all 1024 bytes) because object-size benchmarks are quoted that way.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SizeError {
    #[error("empty size")]
    Empty,
    #[error("{0:?} is not a number of bytes (try 4096, 4KiB, 1MiB, 64MiB)")]
    NotANumber(String),
    #[error("unknown unit {0:?} (use B, KiB, MiB or GiB)")]
    UnknownUnit(String),
    #[error("size {0:?} does not fit in 64 bits")]
    Overflow(String),
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

impl FromStr for ByteSize {
    type Err = SizeError;

    fn from_str(text: &str) -> Result<Self, SizeError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SizeError::Empty);
        }
        let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(digits_end);
        let number: u64 = number.parse().map_err(|_| SizeError::NotANumber(text.to_string()))?;
        let multiplier = match unit.trim() {
            "" | "B" | "b" => 1,
            "k" | "K" | "KiB" | "KB" | "kb" => KIB,
            "m" | "M" | "MiB" | "MB" | "mb" => MIB,
            "g" | "G" | "GiB" | "GB" | "gb" => GIB,
            other => return Err(SizeError::UnknownUnit(other.to_string())),
        };
        number.checked_mul(multiplier).map(ByteSize).ok_or_else(|| SizeError::Overflow(text.to_string()))
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly, so `4KiB` prints as it was written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
            if bytes >= unit && bytes.is_multiple_of(unit) {
                return write!(f, "{}{name}", bytes / unit);
            }
        }
        write!(f, "{bytes}B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_bytes_and_binary_units() {
        assert_eq!("4096".parse(), Ok(ByteSize(4096)));
        assert_eq!("4KiB".parse(), Ok(ByteSize(4096)));
        assert_eq!("4k".parse(), Ok(ByteSize(4096)));
        assert_eq!("1MiB".parse(), Ok(ByteSize(1 << 20)));
        assert_eq!("64M".parse(), Ok(ByteSize(64 << 20)));
        assert_eq!(" 2 GiB ".parse(), Ok(ByteSize(2 << 30)));
        assert_eq!("0".parse(), Ok(ByteSize(0)));
    }

    #[test]
    fn rejects_what_is_not_a_size() {
        assert_eq!("".parse::<ByteSize>(), Err(SizeError::Empty));
        assert!(matches!("MiB".parse::<ByteSize>(), Err(SizeError::NotANumber(_))));
        assert!(matches!("-1".parse::<ByteSize>(), Err(SizeError::NotANumber(_))));
        assert!(matches!("1.5MiB".parse::<ByteSize>(), Err(SizeError::UnknownUnit(_))));
        assert!(matches!("4TiB".parse::<ByteSize>(), Err(SizeError::UnknownUnit(_))));
        assert!(matches!("99999999999999999999".parse::<ByteSize>(), Err(SizeError::NotANumber(_))));
        assert!(matches!("17179869184GiB".parse::<ByteSize>(), Err(SizeError::Overflow(_))));
    }

    #[test]
    fn displays_in_the_largest_exact_unit() {
        assert_eq!(ByteSize(4096).to_string(), "4KiB");
        assert_eq!(ByteSize(1 << 20).to_string(), "1MiB");
        assert_eq!(ByteSize(64 << 20).to_string(), "64MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
        assert_eq!(ByteSize(1536).to_string(), "1536B");
        assert_eq!(ByteSize(0).to_string(), "0B");
    }

    #[test]
    fn display_round_trips_through_parse() {
        for bytes in [0, 1, 1023, 4096, 1 << 20, 3 << 20, 64 << 20, 5 << 30] {
            assert_eq!(ByteSize(bytes).to_string().parse(), Ok(ByteSize(bytes)));
        }
    }
}
