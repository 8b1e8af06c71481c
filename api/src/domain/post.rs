//! Post, quote and comment content. Lengths count Unicode scalar values (`char`s).

use super::FieldError;

pub const MAX_TITLE: usize = 100;
pub const MAX_TEXT: usize = 1000;

pub use roost_common::model::{PostKind, Visibility};

/// A post's `visibility` field: absent means [`Visibility::Followers`].
pub fn parse_visibility(raw: Option<&str>) -> Result<Visibility, FieldError> {
    match raw {
        None => Ok(Visibility::default()),
        Some(text) => Visibility::parse(text)
            .ok_or_else(|| FieldError::new("visibility", "must be `followers` or `public`")),
    }
}

/// A post title: 1–100 characters after trimming; stored trimmed.
pub fn parse_title(raw: Option<&str>) -> Result<String, FieldError> {
    let title = raw
        .ok_or_else(|| FieldError::new("title", "is required"))?
        .trim();
    let len = title.chars().count();
    if title.contains('\0') {
        return Err(FieldError::new("title", "must not contain NUL characters"));
    }
    if len == 0 {
        return Err(FieldError::new("title", "must not be empty"));
    }
    if len > MAX_TITLE {
        return Err(FieldError::new(
            "title",
            format!("must be at most {MAX_TITLE} characters long (got {len})"),
        ));
    }
    Ok(title.to_owned())
}

/// A text of at most 1000 characters; `required` texts (quotes, comments) need at least one.
pub fn parse_text(field: &str, raw: Option<&str>, required: bool) -> Result<String, FieldError> {
    let text = match raw {
        Some(t) => t,
        None if required => return Err(FieldError::new(field, "is required")),
        None => "",
    };
    let len = text.chars().count();
    if required && len == 0 {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if text.contains('\0') {
        return Err(FieldError::new(field, "must not contain NUL characters"));
    }
    if len > MAX_TEXT {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_TEXT} characters long (got {len})"),
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_count_scalar_values_after_trimming() {
        assert_eq!(parse_title(Some("  hi  ")).unwrap(), "hi");
        assert!(parse_title(Some("   ")).is_err());
        assert!(parse_title(None).is_err());
        assert!(parse_title(Some(&"é".repeat(100))).is_ok());
        assert!(parse_title(Some(&"é".repeat(101))).is_err());
        assert!(parse_title(Some(&format!("  {}  ", "a".repeat(100)))).is_ok());
        // An emoji is one scalar value even though it is four bytes.
        assert!(parse_title(Some(&"🦀".repeat(100))).is_ok());
    }

    #[test]
    fn texts() {
        assert_eq!(parse_text("text", None, false).unwrap(), "");
        assert!(parse_text("text", None, true).is_err());
        assert!(parse_text("text", Some(""), true).is_err());
        assert!(parse_text("text", Some(" "), true).is_ok());
        assert!(parse_text("text", Some("a\0b"), false).is_err());
        assert!(parse_title(Some("a\0b")).is_err());
        assert!(parse_text("text", Some(&"🦀".repeat(1000)), true).is_ok());
        assert!(parse_text("text", Some(&"🦀".repeat(1001)), false).is_err());
    }

    #[test]
    fn visibility() {
        assert_eq!(parse_visibility(None).unwrap(), Visibility::Followers);
        assert_eq!(
            parse_visibility(Some("public")).unwrap(),
            Visibility::Public
        );
        assert!(parse_visibility(Some("Public")).is_err());
    }
}
