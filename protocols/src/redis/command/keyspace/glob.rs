//! Redis's glob matcher (`stringmatchlen` in util.c, 7.0.15), byte for byte: `*`, `?`,
//! `[abc]`, `[^a-z]`, `\x` escapes, the same handling of unterminated classes and the same
//! nesting limit against abusive patterns. Used by SCAN MATCH and KEYS; the collection SCANs
//! (HSCAN, SSCAN, ZSCAN) can share it.

/// Does `subject` match glob `pattern`? (`nocase` folds ASCII letters, as Redis's `tolower`.)
pub(crate) fn string_match(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
    let mut skip_longer_matches = false;
    match_from(pattern, subject, nocase, &mut skip_longer_matches, 0)
}

/// The literal bytes every key matching `pattern` starts with (up to the first wildcard), so
/// a scan can be limited to that slice of the key order.
pub(crate) fn literal_prefix(pattern: &[u8]) -> Vec<u8> {
    let mut prefix = Vec::new();
    let mut i = 0;
    while let Some(&byte) = pattern.get(i) {
        match byte {
            b'*' | b'?' | b'[' => break,
            b'\\' => match pattern.get(i + 1) {
                Some(&escaped) => {
                    prefix.push(escaped);
                    i += 2;
                }
                // A trailing backslash matches itself.
                None => {
                    prefix.push(byte);
                    i += 1;
                }
            },
            _ => {
                prefix.push(byte);
                i += 1;
            }
        }
    }
    prefix
}

/// C's `char` is signed on the platforms Redis is built for; ranges compare signed values.
fn signed(byte: u8) -> i32 {
    i32::from(byte as i8)
}

fn fold(byte: u8, nocase: bool) -> u8 {
    if nocase {
        byte.to_ascii_lowercase()
    } else {
        byte
    }
}

fn match_from(pattern: &[u8], subject: &[u8], nocase: bool, skip_longer_matches: &mut bool, nesting: u32) -> bool {
    if nesting > 1000 {
        return false;
    }
    // C reads the terminating NUL one past the end; `at` does the same.
    let at = |i: usize| pattern.get(i).copied().unwrap_or(0);
    let (mut p, mut s) = (0usize, 0usize);
    while p < pattern.len() && s < subject.len() {
        let current = subject[s];
        match pattern[p] {
            b'*' => {
                while p + 1 < pattern.len() && pattern[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == pattern.len() {
                    return true;
                }
                while s < subject.len() {
                    if match_from(&pattern[p + 1..], &subject[s..], nocase, skip_longer_matches, nesting + 1) {
                        return true;
                    }
                    if *skip_longer_matches {
                        return false;
                    }
                    s += 1;
                }
                // No match for the rest of the pattern anywhere in the rest of the subject:
                // earlier stars cannot help by matching more.
                *skip_longer_matches = true;
                return false;
            }
            b'?' => s += 1,
            b'[' => {
                p += 1;
                let negate = at(p) == b'^';
                if negate {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    let remaining = pattern.len() - p;
                    if at(p) == b'\\' && remaining >= 2 {
                        p += 1;
                        if at(p) == current {
                            matched = true;
                        }
                    } else if at(p) == b']' {
                        break;
                    } else if remaining == 0 {
                        // Unterminated class: step back so the shared `p += 1` lands on the end.
                        p -= 1;
                        break;
                    } else if remaining >= 3 && at(p + 1) == b'-' {
                        let (mut start, mut end) = (signed(fold(at(p), nocase)), signed(fold(at(p + 2), nocase)));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let c = signed(fold(current, nocase));
                        p += 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if fold(at(p), nocase) == fold(current, nocase) {
                        matched = true;
                    }
                    p += 1;
                }
                if matched == negate {
                    return false;
                }
                s += 1;
            }
            byte => {
                let literal = if byte == b'\\' && pattern.len() - p >= 2 {
                    p += 1;
                    at(p)
                } else {
                    byte
                };
                if fold(literal, nocase) != fold(current, nocase) {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == subject.len() {
            while at(p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pattern.len() && s == subject.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, subject: &str) -> bool {
        string_match(pattern.as_bytes(), subject.as_bytes(), false)
    }

    #[test]
    fn wildcards_classes_and_escapes_match_like_redis() {
        assert!(!m("*", ""), "Redis special-cases a lone star before matching");
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed ranges are swapped");
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("key:*:x", "key:12:x"));
        assert!(!m("key:*:x", "key:12:y"));
        assert!(m("a*b*c", "aXbYc"));
        assert!(!m("a*b*c", "aXbY"));
        assert!(m("abc*", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(string_match(b"HELLO", b"hello", true));
    }

    #[test]
    fn unterminated_classes_and_trailing_backslashes_behave_like_redis() {
        // `[a` is an unterminated class matching `a`; `[` alone never matches.
        assert!(m("[a", "a"));
        assert!(!m("[", "a"));
        assert!(m("a\\", "a\\"));
        assert!(m("[\\]]", "]"));
    }

    #[test]
    fn abusive_patterns_finish_quickly() {
        let pattern = "a*".repeat(50) + "b";
        let subject = "a".repeat(100);
        assert!(!m(&pattern, &subject));
    }

    #[test]
    fn literal_prefixes_stop_at_the_first_wildcard() {
        assert_eq!(literal_prefix(b"user:*"), b"user:");
        assert_eq!(literal_prefix(b"a\\*b?c"), b"a*b");
        assert_eq!(literal_prefix(b"*x"), b"");
        assert_eq!(literal_prefix(b"[ab]"), b"");
        assert_eq!(literal_prefix(b"exact"), b"exact");
    }
}
