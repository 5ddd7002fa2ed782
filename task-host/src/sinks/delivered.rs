//! The account kept by sinks that write through (every sink but the
//! aggregate S3 files).

use super::{Durable, SinkError};

/// The account of a sink that writes through: `write` returns only once
/// the destination accepted every document it did not refuse, so every
/// `write` is durable when it returns.
///
/// Its checkpoint is the count of documents the task has put, over all
/// its runs: a figure for `ferry tasks list`. A destination that cannot
/// take documents back (a stream, a queue) has no position to resume
/// from, so the count is only read back to go on counting.
#[derive(Debug, Default)]
pub struct Delivered {
    /// `write` calls since the sink opened.
    writes: u64,
    documents: u64,
}

impl Delivered {
    /// The account of a sink opened at `checkpoint` for `resource`.
    pub fn resume(resource: &str, checkpoint: Option<&str>) -> Result<Self, SinkError> {
        let documents = match checkpoint.map(str::trim) {
            None | Some("") => 0,
            Some(text) => text.parse().map_err(|_| SinkError::BadCheckpoint {
                resource: resource.to_owned(),
                checkpoint: text.to_owned(),
                reason: "it is not a count of documents put".to_owned(),
            })?,
        };
        Ok(Self { writes: 0, documents })
    }

    /// One `write` whose `documents` were all accepted.
    pub fn write(&mut self, documents: usize) {
        self.writes += 1;
        self.documents += documents as u64;
    }

    pub fn durable(&self) -> Durable {
        Durable { writes: self.writes, checkpoint: self.documents.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_counts_documents_over_all_runs() {
        let mut delivered = Delivered::resume("stream s", Some("40")).expect("a count");
        assert_eq!(delivered.durable(), Durable { writes: 0, checkpoint: "40".to_owned() });
        delivered.write(3);
        delivered.write(0);
        assert_eq!(delivered.durable(), Durable { writes: 2, checkpoint: "43".to_owned() });
        assert_eq!(Delivered::resume("s", None).expect("fresh").durable().checkpoint, "0");
        assert_eq!(Delivered::resume("s", Some("")).expect("empty").durable().checkpoint, "0");
        let err = Delivered::resume("stream s", Some("shard-1:42")).expect_err("not a count");
        assert!(matches!(err, SinkError::BadCheckpoint { .. }), "{err:?}");
    }
}
