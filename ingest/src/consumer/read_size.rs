//! How many entries the consumer's next read asks for.

use redis::{Value as RedisValue, streams::StreamId};
use roost_common::settings::PipelineSettings;

/// How many entries the next read asks for: about `batch_bytes` worth at the recent entry size,
/// at most `batch_entries`. The size estimate follows a larger read at once and decays by
/// half per read towards smaller ones, so a consumer of 1 MiB entries reads a handful at a time.
pub struct ReadSize {
    max_entries: usize,
    budget: usize,
    entry_bytes: usize,
}

impl ReadSize {
    pub fn new(settings: &PipelineSettings) -> Self {
        Self {
            max_entries: settings.batch_entries,
            budget: settings.batch_bytes,
            // Until the first read: assume sizeable entries.
            entry_bytes: 64 * 1024,
        }
    }

    /// Entries to ask for next.
    pub fn count(&self) -> usize {
        (self.budget / self.entry_bytes.max(1)).clamp(1, self.max_entries)
    }

    /// Follows the size of the entries just read.
    pub fn observe(&mut self, entries: &[StreamId]) {
        if entries.is_empty() {
            return;
        }
        let bytes: usize = entries
            .iter()
            .flat_map(|e| e.map.values())
            .map(|v| match v {
                RedisValue::BulkString(b) => b.len(),
                _ => 0,
            })
            .sum();
        self.entry_bytes = (bytes / entries.len()).max(self.entry_bytes / 2).max(1);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn entry(fields: &[(&str, &[u8])]) -> StreamId {
        StreamId {
            id: "1700000000000-0".into(),
            map: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), RedisValue::BulkString(v.to_vec())))
                .collect::<HashMap<_, _>>(),
            milliseconds_elapsed_from_delivery: None,
            delivered_count: None,
        }
    }

    #[test]
    fn read_size_follows_entry_size_within_bounds() {
        let mut size = ReadSize {
            max_entries: 1000,
            budget: 1 << 20,
            entry_bytes: 64 * 1024,
        };
        assert_eq!(size.count(), 16);
        // Small entries: the estimate halves per read, then the count is capped.
        let small = vec![entry(&[("events", &[b'x'; 100])]); 10];
        for _ in 0..20 {
            size.observe(&small);
        }
        assert_eq!(size.entry_bytes, 100);
        assert_eq!(size.count(), 1000);
        // One read of large entries takes the estimate up at once.
        size.observe(&[entry(&[("events", &vec![b'x'; 512 * 1024])])]);
        assert_eq!(size.count(), 2);
        size.observe(&[]);
        assert_eq!(size.count(), 2);
    }
}
