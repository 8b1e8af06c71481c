//! Scans of JSON text for `\u` escapes that parsers and PostgreSQL treat specially, without
//! parsing the document: a lone UTF-16 surrogate (`"\ud83d"`, what JavaScript makes of a cut
//! emoji), which `serde_json` refuses, and the NUL escape `\u0000`, which `jsonb` refuses.
//!
//! Both scans only look inside strings and skip escaped backslashes, so `"\\ud83d"` (a
//! backslash followed by text) is left alone. Text that is not JSON is scanned as far as it
//! goes; the parser that runs afterwards reports it.

/// `\ufffd`, U+FFFD REPLACEMENT CHARACTER: as long as the escape it replaces.
const REPLACEMENT: &[u8; 6] = br"\ufffd";

/// A `\uXXXX` escape starting at `at` (the backslash), as its code unit.
fn unicode_escape(text: &[u8], at: usize) -> Option<u16> {
    let escape = text.get(at..at + 6)?;
    if escape[0] != b'\\' || escape[1] != b'u' {
        return None;
    }
    let hex = std::str::from_utf8(&escape[2..]).ok()?;
    u16::from_str_radix(hex, 16).ok()
}

fn is_high(unit: u16) -> bool {
    (0xD800..0xDC00).contains(&unit)
}

fn is_low(unit: u16) -> bool {
    (0xDC00..0xE000).contains(&unit)
}

/// The index of the backslash of every `\u` escape inside a string, in order.
fn unicode_escapes(text: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut in_string = false;
    let mut i = 0;
    while i < text.len() {
        match (in_string, text[i]) {
            (_, b'"') => {
                in_string = !in_string;
                i += 1;
            }
            (true, b'\\') => {
                if text.get(i + 1) == Some(&b'u') {
                    found.push(i);
                }
                // `\uXXXX` is skipped past its `u`; its hex digits hold no quote or backslash.
                i += 2;
            }
            _ => i += 1,
        }
    }
    found
}

/// Replaces every lone UTF-16 surrogate escape with `\ufffd` in place (the same length), as
/// PostHog's capture does; valid pairs are kept. Returns how many were replaced.
pub fn replace_lone_surrogates(text: &mut [u8]) -> usize {
    // Most bodies have no escape at all.
    if !text.windows(2).any(|w| w == b"\\u") {
        return 0;
    }
    let escapes = unicode_escapes(text);
    let mut replaced = 0;
    let mut i = 0;
    while i < escapes.len() {
        let at = escapes[i];
        let Some(unit) = unicode_escape(text, at) else {
            i += 1;
            continue;
        };
        let paired = escapes.get(i + 1) == Some(&(at + 6))
            && unicode_escape(text, at + 6).is_some_and(is_low);
        if is_high(unit) && paired {
            i += 2;
            continue;
        }
        if is_high(unit) || is_low(unit) {
            text[at..at + 6].copy_from_slice(REPLACEMENT);
            replaced += 1;
        }
        i += 1;
    }
    replaced
}

/// Whether the JSON text holds a `\u0000` escape in a string or key.
pub fn has_nul_escape(text: &str) -> bool {
    text.contains("\\u")
        && unicode_escapes(text.as_bytes())
            .into_iter()
            .any(|at| unicode_escape(text.as_bytes(), at) == Some(0))
}

/// Most digits PostgreSQL's `numeric` (so `jsonb`) holds before and after the decimal point
/// (PostgreSQL 15 docs, §8.1.2).
const MAX_INTEGER_DIGITS: i64 = 131_072;
const MAX_FRACTION_DIGITS: i64 = 16_383;

/// Whether the JSON text holds a number PostgreSQL cannot store (`1e999999`, or more digits
/// than `numeric` keeps, see [`MAX_INTEGER_DIGITS`]).
pub fn has_unstorable_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match (in_string, bytes[i]) {
            (_, b'"') => {
                in_string = !in_string;
                i += 1;
            }
            (true, b'\\') => i += 2,
            (false, b'-' | b'0'..=b'9') => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                if !storable(&text[start..i]) {
                    return true;
                }
            }
            _ => i += 1,
        }
    }
    false
}

/// Whether one JSON number fits `numeric`.
fn storable(number: &str) -> bool {
    let (mantissa, exponent) = match number.find(['e', 'E']) {
        Some(at) => (&number[..at], &number[at + 1..]),
        None => (number, "0"),
    };
    let exponent: i64 = exponent.parse().unwrap_or_else(|_| {
        // Beyond i64: only its sign matters.
        if exponent.starts_with('-') {
            i64::MIN / 2
        } else {
            i64::MAX / 2
        }
    });
    let mantissa = mantissa.trim_start_matches('-');
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let integer = integer.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    if integer.is_empty() && fraction.is_empty() {
        return true; // zero, whatever its exponent
    }
    let integer_digits = integer.len() as i64 + exponent;
    let fraction_digits = fraction.len() as i64 - exponent;
    integer_digits <= MAX_INTEGER_DIGITS && fraction_digits <= MAX_FRACTION_DIGITS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(text: &str) -> (String, usize) {
        let mut bytes = text.as_bytes().to_vec();
        let n = replace_lone_surrogates(&mut bytes);
        (String::from_utf8(bytes).unwrap(), n)
    }

    #[test]
    fn lone_surrogates_become_the_replacement_character() {
        assert_eq!(
            fixed(r#"{"a": "x\ud83d"}"#),
            (r#"{"a": "x\ufffd"}"#.into(), 1)
        );
        assert_eq!(fixed(r#"["\uDE00y"]"#), (r#"["\ufffdy"]"#.into(), 1));
        // Two high surrogates in a row: both are lone.
        assert_eq!(fixed(r#""\ud83d\ud83d""#), (r#""\ufffd\ufffd""#.into(), 2));
        // In a key too.
        assert_eq!(fixed(r#"{"\ud800": 1}"#), (r#"{"\ufffd": 1}"#.into(), 1));
        let (text, _) = fixed(r#"{"a": "x\ud83d", "b": 1}"#);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["a"], "x\u{fffd}");
    }

    #[test]
    fn pairs_escaped_backslashes_and_text_outside_strings_are_kept() {
        for text in [
            r#"{"a": "\ud83d\ude00"}"#,
            r#"{"a": "\\ud83d"}"#,
            r#"{"a": "\u00e9\n\"\\"}"#,
            r#"{"a": 1} \ud83d"#,
            r#""\ud8"#,
            r#""\"#,
        ] {
            assert_eq!(fixed(text), (text.to_owned(), 0), "{text}");
        }
    }

    #[test]
    fn numbers_beyond_postgresql_numeric_are_found() {
        for ok in [
            r#"{"a": 12345678901234567890123, "b": 0.1234567890123456789, "c": -1.5e300}"#,
            r#"{"a": 0e999999, "b": 1e131071, "c": 1e-16383, "s": "1e999999"}"#,
        ] {
            assert!(!has_unstorable_number(ok), "{ok}");
        }
        for bad in [
            r#"{"a": 1e999999}"#,
            r#"{"a": [1, -2E+131072]}"#,
            r#"{"a": 1e-16384}"#,
            r#"{"a": 1e99999999999999999999999}"#,
        ] {
            assert!(has_unstorable_number(bad), "{bad}");
        }
    }

    #[test]
    fn nul_escapes_are_found_in_strings_only() {
        assert!(has_nul_escape(r#"{"a": "x\u0000"}"#));
        assert!(has_nul_escape(r#"{"k\u0000": 1}"#));
        assert!(!has_nul_escape(r#"{"a": "\\u0000"}"#));
        assert!(!has_nul_escape(r#"{"a": "\u0001"}"#));
        assert!(!has_nul_escape(r#"{"a": 1}"#));
    }
}
