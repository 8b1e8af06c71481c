//! A client application's name: trimmed, then a label (`roost_common::label`: 1–100
//! characters, not blank, no control characters). Unique among applications, ever (the store
//! says so).

use super::FieldError;

/// A valid application name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicationName(String);

impl ApplicationName {
    /// Parses the `name` field (`None` when absent).
    pub fn parse(raw: Option<&str>) -> Result<Self, FieldError> {
        let name = raw.map(str::trim).unwrap_or_default();
        if name.is_empty() {
            return Err(FieldError::new("name", "is required"));
        }
        match roost_common::label::problem(name) {
            Some(problem) => Err(FieldError::new("name", problem)),
            None => Ok(Self(name.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_labels() {
        assert_eq!(
            ApplicationName::parse(Some("  shop ")).unwrap().as_str(),
            "shop"
        );
        for bad in [None, Some(""), Some("   "), Some("a\u{7}b")] {
            assert!(ApplicationName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ApplicationName::parse(Some(&"x".repeat(100))).is_ok());
        assert!(ApplicationName::parse(Some(&"x".repeat(101))).is_err());
    }
}
