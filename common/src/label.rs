//! The one rule for labels: event categories and names, event type keys, client application
//! names (SPEC §3.5): 1 to 100 characters (Unicode scalar values), not only whitespace, no
//! control characters. The API checks it on input; the OpenAPI patterns say the same.

/// The longest label, in characters.
pub const MAX_CHARS: usize = 100;

/// What is wrong with `value` as a label, in words for a field error (`"must not be empty"`,
/// `"must be at most 100 characters"`, `"must not contain control characters"`), or None.
/// Callers that store labels trimmed trim before calling.
pub fn problem(value: &str) -> Option<&'static str> {
    if value.trim().is_empty() {
        Some("must not be empty")
    } else if value.chars().count() > MAX_CHARS {
        Some("must be at most 100 characters")
    } else if value.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_1_to_100_characters_without_control_characters() {
        assert_eq!(problem("signup"), None);
        assert_eq!(problem(&"é".repeat(100)), None, "characters, not bytes");
        assert_eq!(problem(""), Some("must not be empty"));
        assert_eq!(problem(" \t"), Some("must not be empty"));
        assert_eq!(
            problem(&"a".repeat(101)),
            Some("must be at most 100 characters")
        );
        assert_eq!(
            problem("a\u{0}b"),
            Some("must not contain control characters")
        );
        assert_eq!(
            problem("a\u{85}b"),
            Some("must not contain control characters")
        );
    }
}
