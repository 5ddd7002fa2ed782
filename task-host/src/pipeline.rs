//! One task, from records to durable outcomes:
//!
//! ```text
//! source reader --(bounded batches)--> in-flight bridge calls (bounded,
//! completed in order) --> route: Document -> sink, ErrorDoc/exception ->
//! error folder, SkipDoc -> counted --> checkpoint --> acknowledge
//! ```
//!
//! Outcomes are routed in record order, and a checkpoint (source
//! position, sink checkpoint and the counters) is committed only after the
//! sink and the error sink have made everything before it durable. Work
//! after the last checkpoint is redone on resume: a sink that can take
//! back what it wrote (the file sink cuts its file back, the aggregate S3
//! sink replaces its objects) delivers exactly once; the others deliver at
//! least once: what a task wrote after its last checkpoint is written
//! again when a crash or a failed task is redone. Sources that act on
//! durable records (deleting SQS messages) are told only after the
//! checkpoint that covers them is committed.
//!
//! Cancellation stops the reader, lets the batches in flight finish and
//! be routed, commits a final checkpoint and leaves the task resumable.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ferry_proto::pb;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bridge_client::{BridgeClient, BridgeError};
use crate::config::ComputeEngine;
use crate::error_sinks::{ErrorRecord, ErrorSink, ErrorSinkError, record_excerpt};
use crate::latency::LatencyHistogram;
use crate::sinks::{DocumentSink, SinkError, SinkFactory, SinkMetrics};
use crate::sources::{
    Acknowledge, OpenContext, RecordOrigin, RecordSource, SourceBatch, SourceError, SourceItem, TaskUnit,
};
use crate::store::{Checkpoint, Progress, StoreError, TaskEnd, TaskStore};

/// Live counters of a whole run, read by the progress display.
#[derive(Debug, Default)]
pub struct RunCounters {
    pub documents: AtomicU64,
    pub errors: AtomicU64,
    pub skipped: AtomicU64,
    /// Bytes read from storage (compressed bytes for gzip files).
    pub disk_bytes: Arc<AtomicU64>,
    /// Size in storage of what this run reads; 0 when unknown (queues,
    /// streams).
    pub total_disk_bytes: AtomicU64,
    /// Round trip of each batch of record calls to the bridge.
    pub batch_latency: LatencyHistogram,
    /// What the sink did.
    pub sink: Arc<SinkMetrics>,
}

impl RunCounters {
    fn add(&self, progress: Progress) {
        self.documents.fetch_add(progress.processed, Ordering::Relaxed);
        self.errors.fetch_add(progress.errored, Ordering::Relaxed);
        self.skipped.fetch_add(progress.skipped, Ordering::Relaxed);
    }

    pub fn records(&self) -> u64 {
        self.documents.load(Ordering::Relaxed)
            + self.errors.load(Ordering::Relaxed)
            + self.skipped.load(Ordering::Relaxed)
    }
}

/// What one task needs to run.
#[derive(Debug, Clone)]
pub struct Task {
    pub dataset: String,
    /// Unique within the dataset; the store's key for the task.
    pub id: String,
    /// What the task reads.
    pub unit: Arc<dyn TaskUnit>,
    pub compute: ComputeEngine,
    pub run_id: String,
}

/// Shared by all tasks of a run.
#[derive(Clone)]
pub struct TaskServices {
    pub bridge: BridgeClient,
    pub store: Arc<dyn TaskStore>,
    pub sinks: Arc<dyn SinkFactory>,
    pub errors: Arc<dyn ErrorSink>,
    pub counters: Arc<RunCounters>,
    pub cancel: CancellationToken,
}

impl std::fmt::Debug for TaskServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskServices").field("sinks", &self.sinks).field("errors", &self.errors).finish_non_exhaustive()
    }
}

/// How a task run ended and what it accounted for in total.
#[derive(Debug, Clone)]
pub struct TaskReport {
    pub task_id: String,
    pub end: TaskEnd,
    pub progress: Progress,
}

/// Why a task stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Bridge(#[from] BridgeError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    ErrorSink(#[from] ErrorSinkError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The reader task panicked: a ferry bug.
    #[error("the reader task failed: {0}")]
    Reader(String),
}

impl TaskError {
    /// Whether running the dataset again, unchanged, may get past this
    /// (throttling, a service briefly down), as opposed to needing a fix
    /// first (a missing resource, denied access, a bad checkpoint).
    pub fn is_retryable(&self) -> bool {
        match self {
            TaskError::Bridge(err) => err.is_retryable(),
            TaskError::Source(err) => err.is_retryable(),
            TaskError::Sink(err) => err.is_retryable(),
            TaskError::ErrorSink(err) => err.is_retryable(),
            TaskError::Store(err) => err.is_retryable(),
            TaskError::Reader(_) => false,
        }
    }

    /// The message a failed task is recorded with: the error, and whether
    /// running the dataset again may help.
    fn report(&self) -> String {
        match self.is_retryable() {
            true => format!("{self} (transient: run the dataset again to resume from the last checkpoint)"),
            false => self.to_string(),
        }
    }
}

/// Calls per record, the first included, while the handler reports a
/// retryable failure.
pub const RETRYABLE_ATTEMPTS: u32 = 3;

/// Pause before the first retry; it doubles for each further one.
pub const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

fn is_retryable(outcome: &pb::Outcome) -> bool {
    matches!(&outcome.result, Some(pb::outcome::Result::Error(error)) if error.retryable)
}

/// Runs one task to completion, interruption or failure, and records the
/// outcome in the store.
pub async fn run_task(task: Task, services: TaskServices) -> TaskReport {
    let task_id = task.id.clone();
    let record = match services.store.start_task(&task.dataset, &task_id, &task.run_id).await {
        Ok(record) => record,
        // Never started (another run owns it, or the store failed): this
        // run has no execution to close and nothing of the task to record.
        Err(err) => {
            return TaskReport { task_id, end: TaskEnd::Errored(err.to_string()), progress: Progress::default() };
        }
    };
    let mut runner = TaskRunner { progress: record.progress, task: &task, services: &services };
    let end = match runner.run(record.checkpoint).await {
        Ok(end) => end,
        Err(err) => TaskEnd::Errored(err.report()),
    };
    let progress = runner.progress;
    let end = match services.store.finish_task(&task.dataset, &task_id, &task.run_id, &end).await {
        Ok(()) => end,
        Err(err) => TaskEnd::Errored(format!("{end:?}, but recording it failed: {err}")),
    };
    TaskReport { task_id, end, progress }
}

struct TaskRunner<'a> {
    task: &'a Task,
    services: &'a TaskServices,
    /// Counters up to the last routed batch.
    progress: Progress,
}

/// A batch routed to the sinks and not yet covered by a checkpoint.
#[derive(Debug)]
struct Routed {
    /// The sink `write` call that took its documents, counted from 1.
    write: u64,
    /// The source checkpoint once it is durable.
    source_checkpoint: String,
    /// The task's counters up to and including it.
    progress: Progress,
    acks: Vec<String>,
}

impl TaskRunner<'_> {
    async fn run(&mut self, checkpoint: Option<Checkpoint>) -> Result<TaskEnd, TaskError> {
        let task = self.task;
        let context = OpenContext {
            bridge: self.services.bridge.clone(),
            read_bytes: Arc::clone(&self.services.counters.disk_bytes),
        };
        let opened = task.unit.open(checkpoint.as_ref().map(|c| c.source.as_str()), &context).await?;
        if let Some(key) = &opened.clear_errors_from {
            self.services.errors.clear_from(&task.id, key).await?;
        }
        let mut sink = self.services.sinks.open(&task.id, checkpoint.as_ref().map(|c| c.sink.as_str())).await?;
        let function = opened.function;
        let acknowledger = opened.acknowledger;

        let compute = &task.compute;
        let (batches_tx, mut batches) = mpsc::channel(compute.max_in_flight_batches);
        let reader =
            tokio::spawn(read_batches(opened.records, compute.batch_size, compute.max_batch_bytes, batches_tx));

        let mut in_flight = FuturesOrdered::new();
        let mut reading = true;
        let mut routed = VecDeque::new();
        let mut writes = 0;
        let mut last_commit = Instant::now();
        let mut failure = None;
        // After a sink or error sink failed, what they hold is unknown (a
        // batch may be half written): no checkpoint may be taken from them.
        let mut sinks_failed = false;
        let mut interrupted = false;
        loop {
            tokio::select! {
                biased;
                () = self.services.cancel.cancelled(), if reading => {
                    reading = false;
                    interrupted = true;
                    batches.close();
                }
                Some((batch, outcomes)) = in_flight.next(), if !in_flight.is_empty() => {
                    let batch: SourceBatch = batch;
                    match outcomes {
                        Ok(outcomes) => {
                            match self.route(&batch, outcomes, sink.as_mut()).await {
                                Ok(counted) => {
                                    self.progress.add(counted);
                                    self.services.counters.add(counted);
                                }
                                Err(err) => {
                                    failure = Some(err);
                                    sinks_failed = true;
                                    break;
                                }
                            }
                            writes += 1;
                            routed.push_back(Routed {
                                write: writes,
                                source_checkpoint: batch.checkpoint,
                                progress: self.progress,
                                acks: batch.acks,
                            });
                            if last_commit.elapsed() >= compute.checkpoint_interval {
                                let committed = self.commit(sink.as_mut(), false, &mut routed, acknowledger.as_deref()).await;
                                if let Err(err) = committed {
                                    sinks_failed = !matches!(err, TaskError::Store(_) | TaskError::Source(_));
                                    failure = Some(err);
                                    break;
                                }
                                last_commit = Instant::now();
                            }
                        }
                        Err(err) => {
                            failure = Some(TaskError::Bridge(err));
                            break;
                        }
                    }
                }
                next = batches.recv(), if reading && in_flight.len() < compute.max_in_flight_batches => {
                    match next {
                        Some(Ok(batch)) => in_flight.push_back(self.invoke(function, batch)),
                        Some(Err(err)) => {
                            failure = Some(TaskError::Source(err));
                            break;
                        }
                        None => reading = false,
                    }
                }
                else => break,
            }
        }
        // Stop the reader: it may be waiting on a full channel, or on a
        // source with nothing to read yet (a queue, a stream).
        drop(batches);
        drop(in_flight);
        reader.abort();
        let reader_result = reader.await;
        let committed = match sinks_failed {
            // The last checkpoint stands; the work after it is redone.
            true => Ok(()),
            false => self.commit(sink.as_mut(), true, &mut routed, acknowledger.as_deref()).await,
        };
        if let Some(acknowledger) = &acknowledger {
            acknowledger.close().await;
        }
        if let Some(err) = failure {
            return Err(err);
        }
        committed?;
        if let Some(err) = failure {
            return Err(err);
        }
        match reader_result {
            Err(err) if err.is_panic() => Err(TaskError::Reader(err.to_string())),
            _ if interrupted => Ok(TaskEnd::Interrupted),
            Ok(false) => Ok(TaskEnd::CaughtUp),
            _ => Ok(TaskEnd::Completed),
        }
    }

    /// Sends a batch's records to the handler. Records whose failure the
    /// handler marked retryable are sent again, up to
    /// `RETRYABLE_ATTEMPTS` times in all, with a growing pause.
    fn invoke(
        &self,
        function: pb::Function,
        batch: SourceBatch,
    ) -> impl Future<Output = (SourceBatch, Result<Vec<pb::Outcome>, BridgeError>)> + use<> {
        let bridge = self.services.bridge.clone();
        let counters = Arc::clone(&self.services.counters);
        async move {
            let records: Vec<&pb::call::Args> = batch
                .items
                .iter()
                .filter_map(|item| match item {
                    SourceItem::Record(record) => Some(&record.args),
                    SourceItem::Refused { .. } | SourceItem::Handled { .. } => None,
                })
                .collect();
            let calls_for = |indices: &mut dyn Iterator<Item = usize>| -> Vec<pb::Call> {
                indices.map(|index| pb::Call { args: Some(records[index].clone()) }).collect()
            };
            let mut outcomes = Vec::new();
            if !records.is_empty() {
                let sent = Instant::now();
                let first = bridge.invoke(function, calls_for(&mut (0..records.len()))).await;
                counters.batch_latency.record(sent.elapsed());
                outcomes = match first {
                    Ok(outcomes) => outcomes,
                    Err(err) => return (batch, Err(err)),
                };
            }
            for attempt in 1..RETRYABLE_ATTEMPTS {
                let retry: Vec<usize> = (0..outcomes.len()).filter(|&index| is_retryable(&outcomes[index])).collect();
                if retry.is_empty() {
                    break;
                }
                tokio::time::sleep(RETRY_PAUSE * 2_u32.pow(attempt - 1)).await;
                match bridge.invoke(function, calls_for(&mut retry.iter().copied())).await {
                    Ok(again) => {
                        for (index, outcome) in retry.into_iter().zip(again) {
                            outcomes[index] = outcome;
                        }
                    }
                    Err(err) => return (batch, Err(err)),
                }
            }
            (batch, Ok(outcomes))
        }
    }

    /// Sends each outcome of a batch where it belongs, in record order:
    /// documents to the sink, failures (and documents the sink refused) to
    /// the error sink. Returns what the batch counted.
    async fn route(
        &self,
        batch: &SourceBatch,
        outcomes: Vec<pb::Outcome>,
        sink: &mut dyn DocumentSink,
    ) -> Result<Progress, TaskError> {
        let mut outcomes = outcomes.into_iter();
        let mut counted = Progress::default();
        let mut errors = Vec::new();
        let mut documents = Vec::new();
        // The origin and payload of each document, for its error document
        // if the sink refuses it.
        let mut document_sources = Vec::new();
        for item in &batch.items {
            let (origin, payload, outcome) = match item {
                SourceItem::Refused { origin, error_type, message, payload } => {
                    let mut error = self.error_record(origin, payload);
                    error.error_type.clone_from(error_type);
                    error.message.clone_from(message);
                    errors.push(error);
                    counted.errored += 1;
                    continue;
                }
                SourceItem::Record(record) => (
                    &record.origin,
                    &record.payload,
                    outcomes.next().ok_or_else(|| BridgeError::Protocol("fewer outcomes than records".to_owned()))?,
                ),
                SourceItem::Handled { origin, payload, outcome } => (origin, payload, outcome.clone()),
            };
            match outcome.result {
                Some(pb::outcome::Result::Parsed(parsed)) => {
                    let status = parsed.status();
                    let document = parsed.document;
                    let kind = document.as_ref().map(|doc| doc.document_type());
                    match (status, kind) {
                        (pb::ParseStatus::Success, Some(pb::DocumentType::Document)) => {
                            if let Some(document) = document {
                                documents.push(document.flat_json);
                                document_sources.push((origin, payload));
                            }
                            counted.processed += 1;
                        }
                        (pb::ParseStatus::Skip, _) | (_, Some(pb::DocumentType::SkipDoc)) => {
                            counted.skipped += 1;
                        }
                        _ => {
                            let mut error = self.error_record(origin, payload);
                            error.error_type = "ErrorDoc".to_owned();
                            if let Some(document) = document {
                                error.message = document.message;
                                error.error_start_offset_map = document.start_offsets;
                                error.error_end_offset_map = document.end_offsets;
                                error.document = raw_json(&document.flat_json);
                            }
                            errors.push(error);
                            counted.errored += 1;
                        }
                    }
                }
                Some(pb::outcome::Result::Error(user_error)) => {
                    let mut error = self.error_record(origin, payload);
                    error.error_type = user_error.error_type;
                    error.message = user_error.message;
                    error.traceback = Some(user_error.traceback).filter(|text| !text.is_empty());
                    error.retryable = user_error.retryable;
                    errors.push(error);
                    counted.errored += 1;
                }
                other => {
                    return Err(BridgeError::Protocol(format!(
                        "a record call answered with {other:?} instead of a result or an error"
                    ))
                    .into());
                }
            }
        }
        let rejections = sink.write(documents).await?;
        self.services.counters.sink.rejected(rejections.len() as u64);
        for rejection in rejections {
            let Some(&(origin, payload)) = document_sources.get(rejection.index) else {
                continue;
            };
            let mut error = self.error_record(origin, payload);
            error.error_type = rejection.error_type;
            error.message = rejection.message;
            errors.push(error);
            counted.processed -= 1;
            counted.errored += 1;
        }
        if !errors.is_empty() {
            self.services.errors.write(&errors).await?;
        }
        Ok(counted)
    }

    fn error_record<'a>(&'a self, origin: &'a RecordOrigin, payload: &[u8]) -> ErrorRecord<'a> {
        let (excerpt, truncated) = record_excerpt(payload);
        ErrorRecord {
            dataset: &self.task.dataset,
            task: &self.task.id,
            key: &origin.key,
            origin: &origin.fields,
            error_type: String::new(),
            message: String::new(),
            traceback: None,
            retryable: false,
            error_start_offset_map: BTreeMap::new(),
            error_end_offset_map: BTreeMap::new(),
            document: None,
            record: excerpt,
            record_truncated: truncated,
        }
    }

    /// Makes what the sink can durable and commits the checkpoint of the
    /// last routed batch that covers (with `last`, the task is ending and
    /// the sink makes everything durable); then hands the acks of the
    /// batches it covers to the source. Nothing to do when no routed batch
    /// became durable since the last commit.
    async fn commit(
        &self,
        sink: &mut dyn DocumentSink,
        last: bool,
        routed: &mut VecDeque<Routed>,
        acknowledger: Option<&dyn Acknowledge>,
    ) -> Result<(), TaskError> {
        if routed.is_empty() {
            return Ok(());
        }
        let durable = sink.flush(last).await?;
        let mut covered = None;
        let mut acks = Vec::new();
        while let Some(batch) = routed.pop_front_if(|batch| batch.write <= durable.writes) {
            acks.extend(batch.acks);
            covered = Some((batch.source_checkpoint, batch.progress));
        }
        let Some((source, progress)) = covered else { return Ok(()) };
        self.services.errors.sync().await?;
        let checkpoint = Checkpoint { source, sink: durable.checkpoint, progress };
        self.services
            .store
            .commit_checkpoint(&self.task.dataset, &self.task.id, &self.task.run_id, &checkpoint)
            .await?;
        if let Some(acknowledger) = acknowledger
            && !acks.is_empty()
        {
            acknowledger.acknowledge(acks).await?;
        }
        Ok(())
    }
}

/// Reads batches from `records` into `batches` until the source ends, a
/// read fails (the error is sent as the last item) or the receiver goes
/// away. True when the source ended for good (see
/// [`RecordSource::finished`]).
async fn read_batches(
    mut records: Box<dyn RecordSource>,
    batch_size: usize,
    max_bytes: usize,
    batches: mpsc::Sender<Result<SourceBatch, SourceError>>,
) -> bool {
    loop {
        let next = records.next_batch(batch_size, max_bytes).await;
        let done = !matches!(next, Ok(Some(_)));
        let Some(item) = next.transpose() else { return records.finished() };
        if batches.send(item).await.is_err() || done {
            return false;
        }
    }
}

fn raw_json(bytes: &[u8]) -> Option<Box<serde_json::value::RawValue>> {
    let text = String::from_utf8(bytes.to_vec()).ok()?;
    serde_json::value::RawValue::from_string(text).ok()
}
