//! One file task, from records to durable outcomes:
//!
//! ```text
//! reader thread --(bounded batches)--> in-flight bridge calls (bounded,
//! completed in order) --> route: Document -> sink, ErrorDoc/exception ->
//! error folder, SkipDoc -> counted --> checkpoint
//! ```
//!
//! Delivery is exactly once into the file sink: outcomes are routed in
//! record order, and a checkpoint (source position, sink length and the
//! counters) is committed only after the sink and the error folder have
//! made everything before it durable. Work after the last checkpoint is
//! redone on resume, and the sink drops what it wrote of it.
//!
//! Cancellation stops the reader, lets the batches in flight finish and
//! be routed, commits a final checkpoint and leaves the task resumable.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use ferry_proto::pb;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bridge_client::{BridgeClient, BridgeError};
use crate::config::{ComputeEngine, ManifestEntry};
use crate::error_sinks::folder::{ErrorFolder, ErrorFolderError};
use crate::error_sinks::{ErrorRecord, record_excerpt};
use crate::latency::LatencyHistogram;
use crate::sinks::jsonl_file::{JsonLinesFileSink, SinkError};
use crate::sources::file::{self, SourceError};
use crate::sources::record_cutter::{Cut, CutterLimits, RecordHint};
use crate::store::{Checkpoint, Progress, StoreError, TaskEnd, TaskStore};

/// Live counters of a whole run, read by the progress display.
#[derive(Debug, Default)]
pub struct RunCounters {
    pub documents: AtomicU64,
    pub errors: AtomicU64,
    pub skipped: AtomicU64,
    /// Bytes read from disk (compressed bytes for gzip files).
    pub disk_bytes: Arc<AtomicU64>,
    /// Size on disk of the files this run reads.
    pub total_disk_bytes: AtomicU64,
    /// Round trip of each parseDocument batch to the bridge.
    pub batch_latency: LatencyHistogram,
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
pub struct FileTask {
    pub dataset: String,
    pub entry: ManifestEntry,
    pub output: std::path::PathBuf,
    pub compute: ComputeEngine,
    pub run_id: String,
}

/// Shared by all tasks of a run.
#[derive(Clone)]
pub struct TaskServices {
    pub bridge: BridgeClient,
    pub store: Arc<dyn TaskStore>,
    pub errors: ErrorFolder,
    pub counters: Arc<RunCounters>,
    pub cancel: CancellationToken,
}

impl std::fmt::Debug for TaskServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskServices").field("errors", &self.errors).finish_non_exhaustive()
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
    ErrorFolder(#[from] ErrorFolderError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A setup call of the handler (getS3FileType, the record hints...)
    /// raised or returned something unusable. The handler's fault.
    #[error("{function} failed: {message}")]
    Handler { function: &'static str, message: String },
    /// The reader thread panicked: a ferry bug.
    #[error("the reader thread failed: {0}")]
    Reader(String),
}

/// Calls per record, the first included, while the handler reports a
/// retryable failure.
pub const RETRYABLE_ATTEMPTS: u32 = 3;

/// Pause before the first retry; it doubles for each further one.
const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

fn is_retryable(outcome: &pb::Outcome) -> bool {
    matches!(&outcome.result, Some(pb::outcome::Result::Error(error)) if error.retryable)
}

/// Records cut from the file, sent to the bridge as one call.
struct ReadBatch {
    cuts: Vec<Cut>,
    /// Source position after the last cut.
    end: u64,
}

/// How the file is to be cut and named, asked of the handler once.
struct FileLayout {
    file_type: String,
    resolved_name: String,
    start: RecordHint,
    end: RecordHint,
}

/// Runs one file task to completion, interruption or failure, and records
/// the outcome in the store.
pub async fn run_file_task(task: FileTask, services: TaskServices) -> TaskReport {
    let task_id = task.entry.name.clone();
    let started = services.store.start_task(&task.dataset, &task_id, &task.run_id).await;
    let (end, progress) = match started {
        Err(err) => (TaskEnd::Errored(err.to_string()), Progress::default()),
        Ok(record) => {
            let mut runner = TaskRunner {
                progress: record.progress,
                task: &task,
                services: &services,
            };
            let end = match runner.run(record.checkpoint).await {
                Ok(end) => end,
                Err(err) => TaskEnd::Errored(err.to_string()),
            };
            (end, runner.progress)
        }
    };
    let end = match services.store.finish_task(&task.dataset, &task_id, &task.run_id, &end).await {
        Ok(()) => end,
        Err(err) => TaskEnd::Errored(format!("{end:?}, but recording it failed: {err}")),
    };
    TaskReport { task_id, end, progress }
}

struct TaskRunner<'a> {
    task: &'a FileTask,
    services: &'a TaskServices,
    /// Counters up to the last routed batch.
    progress: Progress,
}

impl TaskRunner<'_> {
    async fn run(&mut self, checkpoint: Option<Checkpoint>) -> Result<TaskEnd, TaskError> {
        let task = self.task;
        let layout = self.layout().await?;
        let position = file::parse_checkpoint(&task.entry.path, checkpoint.as_ref().map(|c| c.source.as_str()))?;
        self.services.errors.clear_from(&task.entry.name, position)?;
        let mut sink = JsonLinesFileSink::open(&task.output, checkpoint.as_ref().map(|c| c.sink.as_str()))?;
        let records = file::open_records(
            &task.entry.path,
            position,
            layout.start.clone(),
            layout.end.clone(),
            CutterLimits::default(),
            Arc::clone(&self.services.counters.disk_bytes),
        )?;

        let compute = &task.compute;
        let (batches_tx, mut batches) = mpsc::channel(compute.max_in_flight_batches);
        let (batch_size, max_bytes) = (compute.batch_size, compute.max_batch_bytes);
        let path = task.entry.path.clone();
        let reader = tokio::task::spawn_blocking(move || {
            read_batches(records, &path, batch_size, max_bytes, &batches_tx);
        });

        let mut in_flight = FuturesOrdered::new();
        let mut reading = true;
        let mut routed_to = position;
        let mut last_commit = Instant::now();
        let mut failure = None;
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
                    let batch: ReadBatch = batch;
                    match outcomes {
                        Ok(outcomes) => {
                            if let Err(err) = self.route(&layout, &batch, outcomes, &mut sink) {
                                failure = Some(err);
                                break;
                            }
                            routed_to = batch.end;
                            if last_commit.elapsed() >= compute.checkpoint_interval {
                                self.commit(&mut sink, routed_to).await?;
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
                        Some(Ok(batch)) => in_flight.push_back(self.invoke(&layout, batch)),
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
        // Stop the reader (it may be blocked on a full channel) before
        // waiting for it.
        drop(batches);
        drop(in_flight);
        let reader_result = reader.await;
        self.commit(&mut sink, routed_to).await?;
        if let Some(err) = failure {
            return Err(err);
        }
        match reader_result {
            Err(err) => Err(TaskError::Reader(err.to_string())),
            Ok(()) if interrupted => Ok(TaskEnd::Interrupted),
            Ok(()) => Ok(TaskEnd::Completed),
        }
    }

    /// Asks the handler for the file type, resolved name and record hints.
    async fn layout(&self) -> Result<FileLayout, TaskError> {
        use pb::Function as F;
        use pb::call::Args;
        let bridge = &self.services.bridge;
        let file_type = text_of(
            "getS3FileType",
            bridge.call(F::SingleFileParserGetS3FileType, Args::GetS3FileType(pb::GetS3FileTypeArgs {})).await?,
        )?;
        let resolved_name = text_of(
            "getResolvedS3FileName",
            bridge
                .call(
                    F::SingleFileParserGetResolvedS3FileName,
                    Args::GetResolvedS3FileName(pb::GetResolvedS3FileNameArgs {
                        s3_file_type: file_type.clone(),
                        file_name: self.task.entry.name.clone(),
                    }),
                )
                .await?,
        )?;
        let type_args = || pb::FileTypeArgs { s3_file_type: file_type.clone() };
        let start = hint_of(
            "getRecordStartPattern",
            bridge
                .call(F::SingleFileParserGetRecordStartPattern, Args::GetRecordStartPattern(type_args()))
                .await?,
        )?;
        let end = hint_of(
            "getRecordEndPattern",
            bridge
                .call(F::SingleFileParserGetRecordEndPattern, Args::GetRecordEndPattern(type_args()))
                .await?,
        )?;
        Ok(FileLayout { file_type, resolved_name, start, end })
    }

    /// Sends a batch's records to the handler. Records whose failure the
    /// handler marked retryable are sent again, up to
    /// `RETRYABLE_ATTEMPTS` times in all, with a growing pause.
    fn invoke(
        &self,
        layout: &FileLayout,
        batch: ReadBatch,
    ) -> impl Future<Output = (ReadBatch, Result<Vec<pb::Outcome>, BridgeError>)> + use<> {
        let bridge = self.services.bridge.clone();
        let counters = Arc::clone(&self.services.counters);
        let (file_type, file_name) = (layout.file_type.clone(), layout.resolved_name.clone());
        async move {
            let records: Vec<(u64, &Bytes)> = batch
                .cuts
                .iter()
                .filter_map(|cut| match cut {
                    Cut::Record { offset, bytes } => Some((*offset, bytes)),
                    Cut::Oversized { .. } => None,
                })
                .collect();
            let calls_for = |indices: &mut dyn Iterator<Item = usize>| -> Vec<pb::Call> {
                indices
                    .map(|index| {
                        let (offset, content) = records[index];
                        pb::Call {
                            args: Some(pb::call::Args::ParseDocument(pb::ParseDocumentArgs {
                                s3_file_type: file_type.clone(),
                                file_name: file_name.clone(),
                                offset_bytes: offset,
                                content: content.clone(),
                            })),
                        }
                    })
                    .collect()
            };
            let function = pb::Function::SingleFileParserParseDocument;
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

    /// Sends each outcome of a batch where it belongs, in record order.
    fn route(
        &mut self,
        layout: &FileLayout,
        batch: &ReadBatch,
        outcomes: Vec<pb::Outcome>,
        sink: &mut JsonLinesFileSink,
    ) -> Result<(), TaskError> {
        let mut outcomes = outcomes.into_iter();
        let mut counted = Progress::default();
        for cut in &batch.cuts {
            let (offset, record) = match cut {
                Cut::Oversized { offset, length } => {
                    let mut error = self.error_record(layout, *offset, offset + length, &Bytes::new());
                    error.error_type = "RecordTooLarge".to_owned();
                    error.message = format!(
                        "the record is {length} bytes, over the limit of {} bytes; it was not sent to the handler",
                        CutterLimits::default().max_record_bytes
                    );
                    self.services.errors.write(&error)?;
                    counted.errored += 1;
                    continue;
                }
                Cut::Record { offset, bytes } => (*offset, bytes),
            };
            let outcome = outcomes
                .next()
                .ok_or_else(|| BridgeError::Protocol("fewer outcomes than records".to_owned()))?;
            let end = offset + record.len() as u64;
            match outcome.result {
                Some(pb::outcome::Result::Parsed(parsed)) => {
                    let status = parsed.status();
                    let document = parsed.document;
                    let kind = document.as_ref().map(|doc| doc.document_type());
                    match (status, kind) {
                        (pb::ParseStatus::Success, Some(pb::DocumentType::Document)) => {
                            if let Some(document) = document {
                                sink.write(&document.flat_json)?;
                            }
                            counted.processed += 1;
                        }
                        (pb::ParseStatus::Skip, _) | (_, Some(pb::DocumentType::SkipDoc)) => {
                            counted.skipped += 1;
                        }
                        _ => {
                            let mut error = self.error_record(layout, offset, end, record);
                            error.error_type = "ErrorDoc".to_owned();
                            if let Some(document) = document {
                                error.message = document.message;
                                error.error_start_offset_map = document.start_offsets;
                                error.error_end_offset_map = document.end_offsets;
                                error.document = raw_json(&document.flat_json);
                            }
                            self.services.errors.write(&error)?;
                            counted.errored += 1;
                        }
                    }
                }
                Some(pb::outcome::Result::Error(user_error)) => {
                    let mut error = self.error_record(layout, offset, end, record);
                    error.error_type = user_error.error_type;
                    error.message = user_error.message;
                    error.traceback = Some(user_error.traceback).filter(|text| !text.is_empty());
                    error.retryable = user_error.retryable;
                    self.services.errors.write(&error)?;
                    counted.errored += 1;
                }
                other => {
                    return Err(BridgeError::Protocol(format!(
                        "parseDocument answered with {other:?} instead of a result or an error"
                    ))
                    .into());
                }
            }
        }
        self.progress.add(counted);
        self.services.counters.add(counted);
        Ok(())
    }

    fn error_record<'a>(
        &'a self,
        layout: &'a FileLayout,
        offset: u64,
        end: u64,
        record: &Bytes,
    ) -> ErrorRecord<'a> {
        let (excerpt, truncated) = record_excerpt(record);
        ErrorRecord {
            dataset: &self.task.dataset,
            task: &self.task.entry.name,
            file: &self.task.entry.name,
            resolved_file_name: &layout.resolved_name,
            offset_bytes: offset,
            end_offset_bytes: end,
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

    async fn commit(&self, sink: &mut JsonLinesFileSink, position: u64) -> Result<(), TaskError> {
        self.services.errors.sync()?;
        let checkpoint = Checkpoint {
            source: position.to_string(),
            sink: sink.checkpoint()?,
            progress: self.progress,
        };
        self.services
            .store
            .commit_checkpoint(&self.task.dataset, &self.task.entry.name, &checkpoint)
            .await?;
        Ok(())
    }
}

/// Cuts records into batches of at most `batch_size` records and about
/// `max_bytes` bytes, until the file ends, a read fails (the error is sent
/// as the last item) or the receiver goes away.
fn read_batches(
    mut records: file::FileRecords,
    path: &std::path::Path,
    batch_size: usize,
    max_bytes: usize,
    batches: &mpsc::Sender<Result<ReadBatch, SourceError>>,
) {
    let mut cuts = Vec::with_capacity(batch_size);
    let mut bytes = 0;
    loop {
        let cut = match records.next_cut() {
            Ok(cut) => cut,
            Err(source) => {
                let _ = batches.blocking_send(Err(SourceError::Io { path: path.to_path_buf(), source }));
                return;
            }
        };
        let done = cut.is_none();
        if let Some(cut) = cut {
            if let Cut::Record { bytes: record, .. } = &cut {
                bytes += record.len();
            }
            cuts.push(cut);
        }
        if !cuts.is_empty() && (done || cuts.len() >= batch_size || bytes >= max_bytes) {
            let batch = ReadBatch { cuts: std::mem::take(&mut cuts), end: records.position() };
            bytes = 0;
            if batches.blocking_send(Ok(batch)).is_err() {
                return;
            }
        }
        if done {
            return;
        }
    }
}

fn text_of(function: &'static str, outcome: pb::Outcome) -> Result<String, TaskError> {
    match outcome.result {
        Some(pb::outcome::Result::Text(text)) => Ok(text),
        other => Err(setup_failure(function, other)),
    }
}

fn hint_of(function: &'static str, outcome: pb::Outcome) -> Result<RecordHint, TaskError> {
    match outcome.result {
        Some(pb::outcome::Result::Hint(hint)) => match hint.hint_type() {
            pb::RecordHintType::Pattern => Ok(RecordHint::Pattern(hint.pattern.to_vec())),
            pb::RecordHintType::Offset => u64::try_from(hint.offset).map(RecordHint::Offset).map_err(|_| {
                TaskError::Handler { function, message: format!("offset {} is negative", hint.offset) }
            }),
            pb::RecordHintType::Unspecified => {
                Err(TaskError::Handler { function, message: "the hint has no type".to_owned() })
            }
        },
        other => Err(setup_failure(function, other)),
    }
}

fn setup_failure(function: &'static str, result: Option<pb::outcome::Result>) -> TaskError {
    let message = match result {
        Some(pb::outcome::Result::Error(error)) => {
            format!("{}: {}\n{}", error.error_type, error.message, error.traceback)
        }
        other => format!("unexpected answer {other:?}"),
    };
    TaskError::Handler { function, message }
}

fn raw_json(bytes: &[u8]) -> Option<Box<serde_json::value::RawValue>> {
    let text = String::from_utf8(bytes.to_vec()).ok()?;
    serde_json::value::RawValue::from_string(text).ok()
}
