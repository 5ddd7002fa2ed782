//! Write metrics of a run's sink, shared by all its tasks: what the
//! summary and the benchmarks report about the destination.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::latency::LatencyHistogram;

#[derive(Debug, Default)]
pub struct SinkMetrics {
    /// Calls that put documents to the destination (a PutRecords, a
    /// SendMessageBatch, a PutItem, an object or part upload, a Kafka
    /// produce), retries included.
    pub put_calls: AtomicU64,
    /// Documents the destination accepted.
    pub records: AtomicU64,
    /// Bytes of those documents.
    pub bytes: AtomicU64,
    /// Documents or calls sent again after a transient failure.
    pub retries: AtomicU64,
    /// Documents the destination refused (turned into error documents).
    pub rejected: AtomicU64,
    /// Time each put call took, from send to answer.
    pub put_latency: LatencyHistogram,
}

impl SinkMetrics {
    /// One put call that took `latency` and landed `records` documents of
    /// `bytes` bytes in all.
    pub fn put(&self, latency: Duration, records: u64, bytes: u64) {
        self.put_calls.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.put_latency.record(latency);
    }

    pub fn retried(&self, count: u64) {
        self.retries.fetch_add(count, Ordering::Relaxed);
    }

    pub fn rejected(&self, count: u64) {
        self.rejected.fetch_add(count, Ordering::Relaxed);
    }

    /// A copy of the counters, for the run summary.
    pub fn snapshot(&self) -> SinkFigures {
        SinkFigures {
            put_calls: self.put_calls.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            put_latency_p50: self.put_latency.quantile(0.5),
            put_latency_p99: self.put_latency.quantile(0.99),
        }
    }
}

/// The sink's counters at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkFigures {
    pub put_calls: u64,
    pub records: u64,
    pub bytes: u64,
    pub retries: u64,
    pub rejected: u64,
    pub put_latency_p50: Option<Duration>,
    pub put_latency_p99: Option<Duration>,
}
