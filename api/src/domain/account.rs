//! Usernames, passwords, e-mail addresses and names.

use super::FieldError;

/// 3–30 characters of `[A-Za-z0-9_]`; unique case-insensitively (enforced by the database).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Shortest and longest username, in characters (SPEC §3.1).
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 30;
    /// The characters a username is made of, as the OpenAPI `pattern` states it.
    pub const PATTERN: &'static str = "^[A-Za-z0-9_]+$";

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let len = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&len) {
            return Err(FieldError::new(
                "username",
                "must be 3 to 30 characters long",
            ));
        }
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(FieldError::new(
                "username",
                "may contain only letters A-Z, digits and underscores",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the policy. Never logged: it has no `Debug` output of its value.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// Shortest and longest password, in characters (SPEC §3.1).
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 256;

    /// Checks every rule and returns all the unmet ones, so the client can fix them at once.
    pub fn parse(raw: &str, username: &str) -> Result<Self, Vec<String>> {
        let mut unmet = Vec::new();
        let len = raw.chars().count();
        if len < Self::MIN_CHARS {
            unmet.push("must be at least 10 characters long".to_owned());
        }
        if len > Self::MAX_CHARS {
            unmet.push("must be at most 256 characters long".to_owned());
        }
        if !raw.chars().any(char::is_alphabetic) {
            unmet.push("must contain a letter".to_owned());
        }
        if !raw.chars().any(|c| c.is_ascii_digit() || c.is_numeric()) {
            unmet.push("must contain a digit".to_owned());
        }
        if !raw.chars().any(|c| !c.is_alphanumeric()) {
            unmet.push("must contain a character that is neither a letter nor a digit".to_owned());
        }
        if !username.is_empty() && raw.to_lowercase() == username.to_lowercase() {
            unmet.push("must not be the username".to_owned());
        }
        if unmet.is_empty() {
            Ok(Self(raw.to_owned()))
        } else {
            Err(unmet)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A plausible e-mail address (`local@domain.tld`, at most 254 characters). Uniqueness is
/// case-insensitive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        let invalid = || FieldError::new("email", "must be a valid e-mail address");
        if raw.len() > 254 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = raw.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An optional first or last name: trimmed, at most 100 characters, empty means absent.
pub fn parse_name(field: &str, raw: Option<&str>) -> Result<Option<String>, FieldError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(name) if name.chars().count() > 100 => Err(FieldError::new(
            field,
            "must be at most 100 characters long",
        )),
        Some(name) if name.chars().any(char::is_control) => Err(FieldError::new(
            field,
            "must not contain control characters",
        )),
        Some(name) => Ok(Some(name.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["abc", "A_b_9", &"x".repeat(30)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            &"x".repeat(31),
            "has space",
            "dash-ed",
            "émile",
            "a@b",
            "",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_policy_lists_every_unmet_rule() {
        assert!(Password::parse("correct-horse-42", "alice").is_ok());
        let unmet = Password::parse("short", "alice").unwrap_err();
        assert_eq!(unmet.len(), 3, "{unmet:?}"); // length, digit, symbol
        let unmet = Password::parse("", "alice").unwrap_err();
        assert_eq!(unmet.len(), 4, "{unmet:?}");
        assert!(Password::parse("onlyletters!!", "x").unwrap_err()[0].contains("digit"));
        assert!(Password::parse("1234567890!", "x").unwrap_err()[0].contains("letter"));
        assert!(Password::parse("abcdefghi12", "x").unwrap_err()[0].contains("neither"));
        let too_long = format!("a1!{}", "x".repeat(254));
        assert!(Password::parse(&too_long, "x").unwrap_err()[0].contains("256"));
        assert!(Password::parse(&format!("a1!{}", "x".repeat(253)), "x").is_ok());
        let same = Password::parse("Alice_1234", "alice_1234").unwrap_err();
        assert_eq!(same, vec!["must not be the username".to_owned()]);
        // Characters are Unicode scalar values: 10 of them suffice even if multi-byte.
        assert!(Password::parse("ééééééé1!a", "x").is_ok());
    }

    #[test]
    fn password_debug_hides_value() {
        let p = Password::parse("correct-horse-42", "alice").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn emails() {
        assert!(Email::parse("a@b.co").is_ok());
        assert_eq!(Email::parse(" A@B.co ").unwrap().as_str(), "A@B.co");
        for bad in [
            "", "a", "a@b", "@b.co", "a@.co", "a b@c.de", "a@b..c", "a@b@c.de",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(
            parse_name("first_name", Some("  Ann ")).unwrap().as_deref(),
            Some("Ann")
        );
        assert_eq!(parse_name("first_name", Some("  ")).unwrap(), None);
        assert!(parse_name("first_name", Some(&"n".repeat(101))).is_err());
    }
}
