//! The enumerations both binaries store and read in PostgreSQL: post kinds, visibility, job
//! kinds, statuses and word orders (SPEC §3.3, §3.6). Each is a `text` column with a `CHECK`
//! constraint listing exactly these values (see `migrations/`), and Rust never compares them
//! as strings.

use crate::text_enum::text_enum;

text_enum! {
    /// What a post is (`posts.kind`).
    pub enum PostKind {
        /// An original post with a title and a text.
        Post = "post",
        /// Another post re-shared as is.
        Repost = "repost",
        /// Another post re-shared with a text of one's own.
        Quote = "quote",
    }
}

text_enum! {
    /// Who may see a post (`posts.visibility`).
    #[derive(Default)]
    pub enum Visibility {
        /// The author and their subscribers (the default).
        #[default]
        Followers = "followers",
        /// Every signed-in user.
        Public = "public",
    }
}

text_enum! {
    /// The kinds of job (`jobs.kind`).
    pub enum JobKind {
        /// Counts the words of a text or a page.
        WordCount = "word_count",
    }
}

text_enum! {
    /// Where a job is in its life (`jobs.status`): queued → running → succeeded or failed
    /// (running → queued again when an attempt fails and may be retried).
    pub enum JobStatus {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

text_enum! {
    /// The order of a word count's `words` (`jobs.sort`).
    #[derive(Default)]
    pub enum WordSort {
        /// Most frequent first, ties alphabetically (the default).
        #[default]
        Frequency = "frequency",
        /// By word.
        Alphabetical = "alphabetical",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_their_text_and_json() {
        for kind in PostKind::ALL {
            assert_eq!(PostKind::parse(kind.as_str()), Some(*kind));
            assert_eq!(serde_json::to_string(kind).unwrap(), format!("\"{kind}\""));
        }
        assert_eq!(Visibility::default(), Visibility::Followers);
        assert_eq!(WordSort::default(), WordSort::Frequency);
        assert_eq!(JobStatus::parse("Queued"), None);
        assert_eq!(
            serde_json::from_str::<JobKind>("\"word_count\"").unwrap(),
            JobKind::WordCount
        );
    }
}
