//! The progress line of `ferry run`: bytes read against the input size,
//! with documents, errors, skips and the record rate. Drawn on stderr,
//! and only when stderr is a terminal.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use crate::pipeline::RunCounters;

const REFRESH: Duration = Duration::from_millis(200);

/// A progress bar kept up to date from the run's counters.
#[derive(Debug)]
pub struct ProgressDisplay {
    bar: ProgressBar,
    ticker: JoinHandle<()>,
}

impl ProgressDisplay {
    /// Starts drawing.
    pub fn start(counters: Arc<RunCounters>) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let shown = bar.clone();
        let ticker = tokio::spawn(async move {
            let started = Instant::now();
            let mut interval = tokio::time::interval(REFRESH);
            loop {
                interval.tick().await;
                let records = counters.records();
                let rate = records as f64 / started.elapsed().as_secs_f64().max(1e-3);
                shown.set_length(counters.total_disk_bytes.load(Ordering::Relaxed));
                shown.set_position(counters.disk_bytes.load(Ordering::Relaxed));
                shown.set_message(format!(
                    "{} docs, {} errors, {} skipped, {rate:.0} rec/s",
                    counters.documents.load(Ordering::Relaxed),
                    counters.errors.load(Ordering::Relaxed),
                    counters.skipped.load(Ordering::Relaxed),
                ));
            }
        });
        Self { bar, ticker }
    }

    /// Stops drawing and clears the line.
    pub fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}
