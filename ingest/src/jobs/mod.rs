//! Jobs (web–queue–worker): `word_count` over a text or a fetched URL.

pub mod fetch;
pub mod runner;
pub mod wordcount;
