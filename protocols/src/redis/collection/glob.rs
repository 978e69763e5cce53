//! Redis's glob matcher (`stringmatchlen` in util.c) for the MATCH option of HSCAN / SSCAN.

/// True when `text` matches `pattern` (`*`, `?`, `[...]` with `^` and ranges, `\\` escapes),
/// byte for byte like Redis, including its handling of malformed patterns (a port of
/// `stringmatchlen_impl`, case-sensitive).
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let mut skip_longer_matches = false;
    match_impl(pattern, text, &mut skip_longer_matches)
}

fn match_impl(pattern: &[u8], text: &[u8], skip_longer_matches: &mut bool) -> bool {
    // Reading past the end yields 0, like the NUL terminator the C code relies on.
    let at = |i: usize| pattern.get(i).copied().unwrap_or(0);
    let (mut p, mut t) = (0usize, 0usize);
    while p < pattern.len() && t < text.len() {
        match at(p) {
            b'*' => {
                while p < pattern.len() && at(p + 1) == b'*' {
                    p += 1;
                }
                if p + 1 == pattern.len() {
                    return true;
                }
                while t < text.len() {
                    if match_impl(&pattern[p + 1..], &text[t..], skip_longer_matches) {
                        return true;
                    }
                    if *skip_longer_matches {
                        return false;
                    }
                    t += 1;
                }
                // No match for the rest from anywhere: longer matches of earlier stars cannot
                // help either.
                *skip_longer_matches = true;
                return false;
            }
            b'?' => t += 1,
            b'[' => {
                p += 1;
                let negate = at(p) == b'^';
                if negate {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    let left = pattern.len().saturating_sub(p);
                    if at(p) == b'\\' && left >= 2 {
                        p += 1;
                        if at(p) == text[t] {
                            matched = true;
                        }
                    } else if at(p) == b']' {
                        break;
                    } else if left == 0 {
                        p -= 1;
                        break;
                    } else if left >= 3 && at(p + 1) == b'-' {
                        let (low, high) = (at(p), at(p + 2));
                        let (start, end) = if low > high { (high, low) } else { (low, high) };
                        p += 2;
                        if (start..=end).contains(&text[t]) {
                            matched = true;
                        }
                    } else if at(p) == text[t] {
                        matched = true;
                    }
                    p += 1;
                }
                if matched == negate {
                    return false;
                }
                t += 1;
            }
            c => {
                let c = if c == b'\\' && pattern.len() - p >= 2 {
                    p += 1;
                    at(p)
                } else {
                    c
                };
                if c != text[t] {
                    return false;
                }
                t += 1;
            }
        }
        p += 1;
        if t == text.len() {
            while at(p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pattern.len() && t == text.len()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn matches_like_redis() {
        // Redis never matches an empty string against a star (SCAN skips matching for "*").
        assert!(!matches(b"*", b""));
        assert!(matches(b"a*", b"a"));
        assert!(matches(b"a*", b"abc"));
        assert!(!matches(b"a*", b"bac"));
        assert!(matches(b"*c", b"abc"));
        assert!(matches(b"a?c", b"abc"));
        assert!(!matches(b"a?c", b"ac"));
        assert!(matches(b"[ab]x", b"bx"));
        assert!(!matches(b"[^ab]x", b"bx"));
        assert!(matches(b"[a-c]", b"b"));
        assert!(matches(b"[c-a]", b"b"));
        assert!(matches(b"\\*", b"*"));
        assert!(!matches(b"\\*", b"a"));
        assert!(matches(b"*1*", b"key:10"));
        assert!(matches(b"foo*bar*baz", b"fooXbarYbaz"));
        assert!(!matches(b"foo*bar*baz", b"fooXbarY"));
        assert!(matches(b"[a", b"a"));
    }
}
