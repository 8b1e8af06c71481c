//! SQL, one module per aggregate. Functions take a pool or a transaction, return rows or
//! outcome enums for business conflicts, and leave HTTP concerns to the routes.

pub mod analytics;
pub mod applications;
pub mod comments;
pub mod events;
pub mod jobs;
pub mod notifications;
pub mod posts;
pub mod subscriptions;
pub mod tokens;
pub mod users;

/// Escapes `%`, `_` and `\` so a search term matches literally inside `ILIKE '%…%'`.
pub fn like_pattern(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The constraint a unique violation hit, if that is what the error is.
pub fn unique_violation(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            db.constraint().map(str::to_owned)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(super::like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
