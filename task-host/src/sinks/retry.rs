//! What the sinks that put documents in batched calls share (Kinesis
//! PutRecords, SQS SendMessageBatch):
//!
//! - [`into_requests`] splits a `write`'s documents into requests within
//!   the service's limits on entries and bytes per call;
//! - [`Resends`] sends again the entries of a request that the answer
//!   says failed for a transient reason (throttling, an internal
//!   failure), only those, after a [`Backoff`] pause, until all are
//!   accepted or the attempts run out.
//!
//! The SDK retries whole calls that fail transiently; what it cannot see
//! is a call that succeeds while some of its entries fail, which is what
//! the resends here are for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{SinkError, SinkMetrics};

/// Pauses between the attempts of a resend: exponential with full jitter,
/// so that tasks throttled together do not come back together.
///
/// The pause before resend `k` (from 1) is uniformly random between zero
/// and `min(cap, base * 2^(k-1))`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    max_attempts: u32,
    /// Attempts made so far, the first one included.
    attempts: u32,
    /// xorshift64 state; never zero.
    state: u64,
}

impl Backoff {
    /// The default: 100 ms doubling up to 5 s, 10 attempts in all (about
    /// 10 s of pauses on average, 21 s at most).
    pub fn new() -> Self {
        Self::with_limits(Duration::from_millis(100), Duration::from_secs(5), 10)
    }

    /// Pauses starting at most at `base`, doubling up to `cap`, for
    /// `max_attempts` attempts in all (the first, unpaused, included).
    pub fn with_limits(base: Duration, cap: Duration, max_attempts: u32) -> Self {
        Self { base, cap, max_attempts, attempts: 1, state: jitter_seed() }
    }

    /// Attempts made so far, the first one included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The pause before the next attempt, counting that attempt; `None`
    /// once all attempts are made.
    pub fn next_pause(&mut self) -> Option<Duration> {
        if self.attempts >= self.max_attempts {
            return None;
        }
        let doublings = self.attempts - 1;
        self.attempts += 1;
        let ceiling = self.base.saturating_mul(2_u32.saturating_pow(doublings)).min(self.cap);
        let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Some(Duration::from_nanos(self.next_random() % ceiling_nanos.saturating_add(1)))
    }

    /// Waits before the next attempt. False, at once, when all attempts
    /// are made.
    pub async fn pause(&mut self) -> bool {
        match self.next_pause() {
            Some(pause) => {
                tokio::time::sleep(pause).await;
                true
            }
            None => false,
        }
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// A seed that differs between backoffs made at the same moment (the
/// tasks of a run throttled by the same call) and between runs.
fn jitter_seed() -> u64 {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64);
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    // splitmix64's finaliser spreads nearby inputs over the whole range.
    let mut z = nanos ^ sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) | 1
}

/// `items`, in order, in consecutive requests of at most `max_entries`
/// items and `max_bytes` bytes by `size`. An item larger than `max_bytes`
/// gets a request of its own: callers refuse those beforehand.
pub fn into_requests<T>(
    items: Vec<T>,
    size: impl Fn(&T) -> usize,
    max_entries: usize,
    max_bytes: usize,
) -> Vec<Vec<T>> {
    let mut requests = Vec::new();
    let mut current = Vec::new();
    let mut current_bytes = 0_usize;
    for item in items {
        let bytes = size(&item);
        if !current.is_empty() && (current.len() >= max_entries || current_bytes + bytes > max_bytes) {
            requests.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current_bytes += bytes;
        current.push(item);
    }
    if !current.is_empty() {
        requests.push(current);
    }
    requests
}

/// An entry of a call that the service failed for a transient reason.
#[derive(Debug)]
pub struct Failed<E> {
    pub entry: E,
    /// The service's error code, e.g. `ProvisionedThroughputExceededException`.
    pub code: String,
    pub message: String,
}

/// The resends of one request's entries: after each call, the entries
/// the service failed for a transient reason are sent again, only those
/// and in order, after a [`Backoff`] pause, until none fail:
///
/// ```text
/// let mut resends = Resends::new("PutRecords", resource, metrics, Backoff::new());
/// let mut pending = request;
/// while !pending.is_empty() {
///     pending = resends.after(put(pending).await?).await?;
/// }
/// ```
#[derive(Debug)]
pub struct Resends<'a> {
    operation: &'static str,
    resource: &'a str,
    metrics: &'a SinkMetrics,
    backoff: Backoff,
}

impl<'a> Resends<'a> {
    /// Resends of `operation` calls on `resource`, paused by `backoff`
    /// and counted as retries in `metrics`.
    pub fn new(operation: &'static str, resource: &'a str, metrics: &'a SinkMetrics, backoff: Backoff) -> Self {
        Self { operation, resource, metrics, backoff }
    }

    /// The entries to send again after a call that failed `failed` (in
    /// the order sent), once the pause before the next attempt is over;
    /// none when nothing failed. When the attempts run out, the error
    /// names how many still failed and the last failure, and is
    /// retryable: the task stops before its checkpoint, and a later run
    /// sends them again.
    pub async fn after<E>(&mut self, failed: Vec<Failed<E>>) -> Result<Vec<E>, SinkError> {
        let Some(last) = failed.last() else { return Ok(Vec::new()) };
        if !self.backoff.pause().await {
            return Err(SinkError::Service {
                operation: self.operation,
                resource: self.resource.to_owned(),
                message: format!(
                    "{} entries still failed after {} attempts, the last with {}: {}",
                    failed.len(),
                    self.backoff.attempts(),
                    last.code,
                    last.message
                ),
                retryable: true,
            });
        }
        self.metrics.retried(failed.len() as u64);
        Ok(failed.into_iter().map(|failed| failed.entry).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_to_the_cap_within_full_jitter_and_stop_after_the_attempts() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_millis(500);
        let mut backoff = Backoff::with_limits(base, cap, 6);
        let ceilings = [100, 200, 400, 500, 500].map(Duration::from_millis);
        for (resend, ceiling) in ceilings.into_iter().enumerate() {
            let pause = backoff.next_pause().expect("attempts left");
            assert!(pause <= ceiling, "resend {resend}: {pause:?} over {ceiling:?}");
            assert_eq!(backoff.attempts(), resend as u32 + 2);
        }
        assert_eq!(backoff.next_pause(), None);
        assert_eq!(backoff.attempts(), 6);
    }

    #[test]
    fn pauses_are_spread_and_differ_between_backoffs() {
        let draw = || {
            let mut backoff = Backoff::with_limits(Duration::from_secs(1), Duration::from_secs(1), 50);
            (0..40).map(|_| backoff.next_pause().expect("attempts left")).collect::<Vec<_>>()
        };
        let first = draw();
        assert_ne!(first, draw(), "two backoffs drew the same pauses");
        let short = first.iter().filter(|pause| **pause < Duration::from_millis(500)).count();
        assert!((5..=35).contains(&short), "{short} of 40 pauses under half the ceiling");
    }

    #[tokio::test]
    async fn a_single_attempt_never_pauses() {
        let mut backoff = Backoff::with_limits(Duration::from_secs(60), Duration::from_secs(60), 1);
        assert!(!backoff.pause().await);
    }

    #[test]
    fn requests_keep_order_and_respect_both_limits() {
        let requests = into_requests(vec![4, 4, 3, 1, 1, 1, 1, 9, 12, 2], |size| *size, 4, 10);
        assert_eq!(requests, vec![vec![4, 4], vec![3, 1, 1, 1], vec![1, 9], vec![12], vec![2]]);
        assert!(into_requests(Vec::<usize>::new(), |size| *size, 4, 10).is_empty());
        let exactly_full = into_requests(vec![5, 5, 5, 5], |size| *size, 2, 10);
        assert_eq!(exactly_full, vec![vec![5, 5], vec![5, 5]]);
    }

    fn quick() -> Backoff {
        Backoff::with_limits(Duration::ZERO, Duration::ZERO, 4)
    }

    fn failures(entries: impl IntoIterator<Item = u32>, code: &str) -> Vec<Failed<u32>> {
        entries
            .into_iter()
            .map(|entry| Failed { entry, code: code.to_owned(), message: "try later".to_owned() })
            .collect()
    }

    #[tokio::test]
    async fn only_failed_entries_are_sent_again_in_order() {
        let metrics = SinkMetrics::default();
        let mut resends = Resends::new("Put", "here", &metrics, quick());
        assert_eq!(resends.after(failures([1, 3, 5], "Throttled")).await.expect("a resend"), vec![1, 3, 5]);
        assert_eq!(resends.after(failures([3], "Throttled")).await.expect("a resend"), vec![3]);
        assert_eq!(resends.after(Vec::<Failed<u32>>::new()).await.expect("done"), Vec::<u32>::new());
        assert_eq!(metrics.snapshot().retries, 4);
    }

    #[tokio::test]
    async fn entries_failing_every_attempt_fail_the_write_as_retryable() {
        let metrics = SinkMetrics::default();
        let mut resends = Resends::new("Put", "stream s", &metrics, quick());
        for _ in 0..3 {
            resends.after(failures([7, 8], "InternalFailure")).await.expect("attempts left");
        }
        let err = resends.after(failures([8], "InternalFailure")).await.expect_err("attempts used up");
        assert!(err.is_retryable());
        let text = err.to_string();
        assert!(text.contains("1 entries still failed after 4 attempts, the last with InternalFailure"), "{text}");
        assert!(text.contains("Put on stream s"), "{text}");
        assert_eq!(metrics.snapshot().retries, 6);
    }
}
