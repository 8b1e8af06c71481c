//! A job request, parsed (SPEC §3.6): `kind`, exactly one of `text` (at most 10 MiB) and
//! `url` (at most 2048 bytes), and the word order. Whether a URL may be fetched is the
//! service's question (it depends on settings).

pub use roost_common::model::{JobKind, JobStatus, WordSort};

use super::FieldError;

/// Longest `text`, in bytes (UTF-8).
pub const MAX_TEXT: usize = 10 * 1024 * 1024;
/// Longest `url`, in bytes.
pub const MAX_URL: usize = 2048;

/// What a job counts the words of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Text(String),
    Url(String),
}

/// A valid job request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    pub kind: JobKind,
    pub source: Source,
    pub sort: WordSort,
}

impl NewJob {
    /// Parses the request's fields, collecting every field error.
    pub fn parse(
        kind: Option<&str>,
        text: Option<String>,
        url: Option<String>,
        sort: Option<&str>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let kind = match kind.map(JobKind::parse) {
            Some(Some(kind)) => Some(kind),
            Some(None) => {
                errors.push(FieldError::new("kind", "must be `word_count`"));
                None
            }
            None => {
                errors.push(FieldError::new("kind", "is required"));
                None
            }
        };
        let sort = match sort {
            None => Some(WordSort::default()),
            Some(text) => WordSort::parse(text).or_else(|| {
                errors.push(FieldError::new(
                    "sort",
                    "must be `frequency` or `alphabetical`",
                ));
                None
            }),
        };
        let source = match (text, url) {
            (Some(_), Some(_)) | (None, None) => {
                errors.push(FieldError::new(
                    "text",
                    "give exactly one of `text` and `url`",
                ));
                None
            }
            (Some(text), None) if text.len() > MAX_TEXT => {
                errors.push(FieldError::new("text", "must be at most 10 MiB"));
                None
            }
            (Some(text), None) if text.contains('\0') => {
                errors.push(FieldError::new("text", "must not contain NUL characters"));
                None
            }
            (Some(text), None) => Some(Source::Text(text)),
            (None, Some(url)) if url.len() > MAX_URL => {
                errors.push(FieldError::new("url", "must be at most 2048 characters"));
                None
            }
            (None, Some(url)) => Some(Source::Url(url)),
        };
        match (kind, source, sort) {
            (Some(kind), Some(source), Some(sort)) if errors.is_empty() => {
                Ok(Self { kind, source, sort })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_or_name_every_bad_field() {
        let job = NewJob::parse(Some("word_count"), Some("a b".into()), None, None).unwrap();
        assert_eq!(job.source, Source::Text("a b".into()));
        assert_eq!(job.sort, WordSort::Frequency);
        let job = NewJob::parse(
            Some("word_count"),
            None,
            Some("https://example.com".into()),
            Some("alphabetical"),
        )
        .unwrap();
        assert_eq!(job.sort, WordSort::Alphabetical);
        let fields = |r: Result<NewJob, Vec<FieldError>>| -> Vec<String> {
            r.unwrap_err().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(
            fields(NewJob::parse(Some("x"), None, None, Some("size"))),
            ["kind", "sort", "text"]
        );
        assert_eq!(
            fields(NewJob::parse(None, Some("a\0".into()), None, None)),
            ["kind", "text"]
        );
        assert_eq!(
            fields(NewJob::parse(
                Some("word_count"),
                None,
                Some("h".repeat(2049)),
                None
            )),
            ["url"]
        );
        assert_eq!(
            fields(NewJob::parse(
                Some("word_count"),
                Some("a".repeat(MAX_TEXT + 1)),
                None,
                None
            )),
            ["text"]
        );
    }
}
