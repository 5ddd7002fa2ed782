//! A lock-free latency histogram for hot paths: log-linear buckets (16 per
//! power of two, so any quantile is within about 6% of the truth) from 1
//! microsecond to about 70 minutes, each an atomic counter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SUB_BUCKETS: usize = 16;
const SUB_BITS: u32 = SUB_BUCKETS.trailing_zeros();
const POWERS: usize = 32;

#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self { buckets: (0..POWERS * SUB_BUCKETS).map(|_| AtomicU64::new(0)).collect() }
    }
}

impl LatencyHistogram {
    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|bucket| bucket.load(Ordering::Relaxed)).sum()
    }

    /// The latency below which a `quantile` (0..=1) of samples fall, or
    /// None when nothing was recorded.
    pub fn quantile(&self, quantile: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(Duration::from_micros(upper_bound_of(index)));
            }
        }
        None
    }
}

/// Values below 16 us get a bucket each; above, each power of two is cut
/// into 16 equal parts.
fn bucket_of(micros: u64) -> usize {
    if micros < SUB_BUCKETS as u64 {
        return micros as usize;
    }
    let power = 63 - micros.leading_zeros();
    let shift = power - SUB_BITS;
    let sub = ((micros >> shift) as usize) - SUB_BUCKETS;
    let index = (power - SUB_BITS + 1) as usize * SUB_BUCKETS + sub;
    index.min(POWERS * SUB_BUCKETS - 1)
}

fn upper_bound_of(index: usize) -> u64 {
    if index < SUB_BUCKETS {
        return index as u64;
    }
    let group = (index / SUB_BUCKETS) as u32;
    let sub = (index % SUB_BUCKETS) as u64;
    let shift = group - 1;
    ((SUB_BUCKETS as u64 + sub + 1) << shift) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_empty_histogram_has_no_quantiles() {
        assert_eq!(LatencyHistogram::default().quantile(0.5), None);
    }

    #[test]
    fn quantiles_of_a_known_spread() {
        let histogram = LatencyHistogram::default();
        for micros in 1..=1000 {
            histogram.record(Duration::from_micros(micros));
        }
        let p50 = histogram.quantile(0.5).expect("samples").as_micros() as f64;
        let p99 = histogram.quantile(0.99).expect("samples").as_micros() as f64;
        assert!((500.0..=500.0 * 1.07).contains(&p50), "p50 {p50}");
        assert!((990.0..=990.0 * 1.07).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn values_past_the_range_land_in_the_last_bucket() {
        let histogram = LatencyHistogram::default();
        histogram.record(Duration::from_secs(100_000));
        assert_eq!(bucket_of(u64::MAX), POWERS * SUB_BUCKETS - 1);
        assert!(histogram.quantile(1.0).expect("sample") >= Duration::from_secs(3600));
    }

    proptest! {
        #[test]
        fn a_value_lies_within_its_bucket(micros in 0_u64..(1 << 31)) {
            let index = bucket_of(micros);
            let upper = upper_bound_of(index);
            prop_assert!(micros <= upper);
            prop_assert!(upper as f64 <= (micros as f64) * 1.0625 + 1.0);
            if index > 0 {
                prop_assert!(upper_bound_of(index - 1) < micros);
            }
        }
    }
}
