//! Redis's glob matcher (`stringmatchlen` in Redis 7.0's `util.c`), byte for byte: `*`, `?`,
//! `[abc]`, `[^a]`, `[a-z]` (reversed ranges allowed), backslash escapes, and Redis's handling
//! of malformed patterns (an unterminated `[` class, a trailing backslash).
//!
//! The C code reads one byte past the pattern in a few places, where an sds string always
//! holds its NUL terminator; [`Pattern::at`] returns 0 there to behave the same.

/// Whether `string` matches the glob `pattern` (PSUBSCRIBE, PUBSUB CHANNELS; KEYS and SCAN
/// MATCH use the same rules). `nocase` folds ASCII case like C's `tolower`.
pub fn matches(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer_matches = false;
    match_impl(pattern, string, nocase, &mut skip_longer_matches, 0)
}

/// The literal bytes every key matching `pattern` starts with (up to the first wildcard), so
/// a scan can be limited to that slice of the key order.
pub fn literal_prefix(pattern: &[u8]) -> Vec<u8> {
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

/// Recursion bound for patterns with very many `*`: such a pattern simply does not match.
const MAX_NESTING: usize = 1000;

struct Pattern<'a> {
    bytes: &'a [u8],
}

impl Pattern<'_> {
    /// The byte at `i`, or the NUL terminator C would read past the end.
    fn at(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(0)
    }
}

fn lower(b: u8) -> u8 {
    b.to_ascii_lowercase()
}

fn match_impl(pattern: &[u8], string: &[u8], nocase: bool, skip_longer_matches: &mut bool, nesting: usize) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    let pat = Pattern { bytes: pattern };
    // `p` / `s` are the positions of C's `pattern` / `string` pointers; the remaining lengths
    // are `pattern.len() - p` and `string.len() - s`.
    let mut p = 0usize;
    let mut s = 0usize;
    let pattern_left = |p: usize| pattern.len().saturating_sub(p);
    while pattern_left(p) > 0 && s < string.len() {
        let c = string[s];
        match pat.at(p) {
            b'*' => {
                while pattern_left(p) > 0 && pat.at(p + 1) == b'*' {
                    p += 1;
                }
                if pattern_left(p) == 1 {
                    return true;
                }
                while s < string.len() {
                    if match_impl(&pattern[p + 1..], &string[s..], nocase, skip_longer_matches, nesting + 1) {
                        return true;
                    }
                    if *skip_longer_matches {
                        return false;
                    }
                    s += 1;
                }
                // Nothing after this `*` matches anywhere in the rest of the string, so no
                // longer match of an earlier `*` can help either.
                *skip_longer_matches = true;
                return false;
            }
            b'?' => {
                s += 1;
            }
            b'[' => {
                p += 1;
                let not = pat.at(p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    if pat.at(p) == b'\\' && pattern_left(p) >= 2 {
                        p += 1;
                        if pat.at(p) == c {
                            matched = true;
                        }
                    } else if pat.at(p) == b']' {
                        break;
                    } else if pattern_left(p) == 0 {
                        // Unterminated class: step back so the shared advance below lands on
                        // the end of the pattern.
                        p -= 1;
                        break;
                    } else if pattern_left(p) >= 3 && pat.at(p + 1) == b'-' {
                        let (mut start, mut end, mut ch) = (pat.at(p), pat.at(p + 2), c);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = lower(start);
                            end = lower(end);
                            ch = lower(ch);
                        }
                        p += 2;
                        if ch >= start && ch <= end {
                            matched = true;
                        }
                    } else if (!nocase && pat.at(p) == c) || (nocase && lower(pat.at(p)) == lower(c)) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s += 1;
            }
            other => {
                let mut literal = other;
                if other == b'\\' && pattern_left(p) >= 2 {
                    p += 1;
                    literal = pat.at(p);
                }
                let equal = if nocase { lower(literal) == lower(c) } else { literal == c };
                if !equal {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == string.len() {
            while pat.at(p) == b'*' && pattern_left(p) > 0 {
                p += 1;
            }
            break;
        }
    }
    pattern_left(p) == 0 && s == string.len()
}

#[cfg(test)]
mod tests {
    use super::{literal_prefix, matches};

    #[test]
    fn literal_prefixes_stop_at_the_first_wildcard() {
        assert_eq!(literal_prefix(b"user:*"), b"user:");
        assert_eq!(literal_prefix(b"a\\*b?c"), b"a*b");
        assert_eq!(literal_prefix(b"*x"), b"");
        assert_eq!(literal_prefix(b"[ab]"), b"");
        assert_eq!(literal_prefix(b"exact"), b"exact");
    }

    fn m(pattern: &str, string: &str) -> bool {
        matches(pattern.as_bytes(), string.as_bytes(), false)
    }

    /// (pattern, string, matches) as redis-server 7.0.15 answered them: a connection
    /// PSUBSCRIBEd to the pattern, another PUBLISHed to the string and read the receiver count.
    const REDIS_7_0_15: &[(&str, &str, bool)] = &[
        ("*", "", false),
        ("*", "a", true),
        ("?", "", false),
        ("", "", true),
        ("", "a", false),
        ("a*", "", false),
        ("**", "", false),
        ("[a-]", "]", true),
        ("[a-]", "b", false),
        ("[a-]", "a", true),
        ("[a-]", "-", false),
        ("[]", "]", false),
        ("[]a]", "a", false),
        ("[]a]", "]", false),
        ("[^]a]", "b", false),
        ("[a", "a", true),
        ("[abc", "c", true),
        ("[abc", "d", false),
        ("[", "a", false),
        ("[", "[", false),
        ("[^", "a", true),
        ("[\\", "\\", true),
        ("[\\]", "]", true),
        ("[a\\", "a", true),
        ("a\\", "a\\", true),
        ("\\", "\\", true),
        ("\\a", "a", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "axb", false),
        ("h[b-a]llo", "hallo", true),
        ("[z-a]", "m", true),
        ("x[^a-c]y", "xdy", true),
        ("x[^a-c]y", "xby", false),
        ("x[!a]y", "x!y", true),
        ("x[!a]y", "xay", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXbYcZ", false),
        ("*c", "abc", true),
        ("*?", "a", true),
        ("*?", "", false),
        ("?*", "ab", true),
        ("a*?", "a", false),
        ("[-a]", "-", true),
        ("[a-c-e]", "d", false),
        ("[a-c-e]", "-", true),
        ("[a-c-e]", "e", true),
        ("[^]", "x", true),
        ("[^]", "]", true),
        ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa", false),
        ("*a*b", "aaab", true),
        ("a[", "a[", false),
        ("a[", "a", false),
    ];

    #[test]
    fn matches_like_redis_7_0_15() {
        for &(pattern, string, expected) in REDIS_7_0_15 {
            assert_eq!(m(pattern, string), expected, "pattern {pattern:?} against {string:?}");
        }
    }

    #[test]
    fn common_patterns() {
        assert!(m("news.*", "news.art"));
        assert!(!m("news.*", "news"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
    }

    #[test]
    fn binary_and_case() {
        assert!(matches(b"a\x00*", b"a\x00bc", false));
        assert!(!matches(b"HELLO", b"hello", false));
        assert!(matches(b"HEL[K-M]O", b"hello", true));
    }

    #[test]
    fn nesting_is_bounded_like_redis() {
        // redis-server 7.0.15: `a*` repeated 1001 times matches 1001 `a`s, 1002 times does not
        // (each `*` but the last recurses once; deeper than 1000 levels is no match).
        assert!(m(&"a*".repeat(1001), &"a".repeat(1001)));
        assert!(!m(&"a*".repeat(1002), &"a".repeat(1002)));
    }

    #[test]
    fn abusive_patterns_end_quickly() {
        let pattern = "a*".repeat(50) + "b";
        let string = "a".repeat(60);
        let started = std::time::Instant::now();
        assert!(!m(&pattern, &string));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
