//! Record sources: where a task's records come from, and how far it got.
//!
//! A task reads one unit of a source (a file, an S3 object, a queue, a
//! shard, a scan segment). Opening it at its last checkpoint gives a
//! [`RecordSource`], which the pipeline drains batch by batch on a task of
//! its own. Each batch carries the handler calls for its records and the
//! source checkpoint that holds once the batch and every one before it are
//! durably written. Sources that must act after that point (an SQS
//! message is deleted only then) hand the pipeline an [`Acknowledge`].

pub mod attribute_values;
pub mod dynamodb_streams;
pub mod dynamodb_table;
pub mod file;
pub mod kinesis;
pub mod record_cutter;
pub mod s3;
pub mod shards;
pub mod single_file;
pub mod sqs;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_proto::pb;
use serde_json::{Map, Value};

use crate::bridge_client::{BridgeClient, BridgeError};

/// Where one record came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordOrigin {
    /// Unique within its task, and sorting in source order where the
    /// source has one: names the record's error document, so redoing a
    /// record rewrites its error document rather than adding a copy.
    pub key: String,
    /// The position as error documents show it, e.g. `file` and
    /// `offsetBytes`, or `shardId` and `sequenceNumber`.
    pub fields: Map<String, Value>,
}

/// One record, ready to be sent to the handler.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    /// The arguments of the handler call for this record.
    pub args: pb::call::Args,
    pub origin: RecordOrigin,
    /// The record's raw bytes, quoted in its error document if it fails.
    pub payload: Bytes,
}

/// One item of a batch, in source order.
#[derive(Debug, Clone)]
pub enum SourceItem {
    Record(SourceRecord),
    /// A record ferry will not send to the handler (too large, not
    /// readable as what the interface takes); it goes straight to the
    /// error sink with this reason.
    Refused {
        origin: RecordOrigin,
        error_type: String,
        message: String,
        payload: Bytes,
    },
    /// A record the source already ran through its handler in process (a
    /// state machine's next record depends on the last one's document, so
    /// its records cannot be sent ahead in batches); the pipeline routes
    /// the outcome without calling the bridge.
    Handled {
        origin: RecordOrigin,
        payload: Bytes,
        outcome: pb::Outcome,
    },
}

/// Consecutive items of a source.
#[derive(Debug, Clone)]
pub struct SourceBatch {
    pub items: Vec<SourceItem>,
    /// The source's checkpoint once this batch, and every batch before
    /// it, is durably written. Opaque to the pipeline and the store.
    pub checkpoint: String,
    /// What to hand to the source's [`Acknowledge`] once that checkpoint
    /// is committed (e.g. SQS receipt handles).
    pub acks: Vec<String>,
}

/// The records of one task, from its checkpoint on.
#[async_trait]
pub trait RecordSource: Send {
    /// The next batch, at most `max_records` records and about
    /// `max_bytes` bytes of payload; `None` once the task's unit is read
    /// to its end (for a continuous source: never, until it is
    /// cancelled by the pipeline dropping it).
    async fn next_batch(&mut self, max_records: usize, max_bytes: usize) -> Result<Option<SourceBatch>, SourceError>;

    /// Asked once `next_batch` gave `None`: whether the unit is read to
    /// its end for good (a file, a closed shard, a finished scan), as
    /// opposed to caught up with a source that grows (a queue, an open
    /// shard), whose task goes on from its checkpoint in the next run.
    fn finished(&self) -> bool {
        true
    }
}

/// Work a source does once records are durably written.
#[async_trait]
pub trait Acknowledge: Send + Sync {
    /// Called with the `acks` of every batch a committed checkpoint
    /// covers, after the commit.
    async fn acknowledge(&self, acks: Vec<String>) -> Result<(), SourceError>;

    /// Called once the task's last checkpoint is committed (or could not
    /// be): nothing more will be acknowledged, so whatever the source still
    /// holds can be let go (SQS messages received and never routed).
    async fn close(&self) {}
}

/// A task's source, opened at its checkpoint.
pub struct OpenedSource {
    /// The handler function every record is sent to.
    pub function: pb::Function,
    pub records: Box<dyn RecordSource>,
    pub acknowledger: Option<Arc<dyn Acknowledge>>,
    /// For sources whose record keys sort in source order: the key of the
    /// first record to be read. The task's error documents from there on
    /// are removed before reading, since that work is redone and may now
    /// succeed.
    pub clear_errors_from: Option<String>,
}

impl std::fmt::Debug for OpenedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedSource").field("function", &self.function).finish_non_exhaustive()
    }
}

/// What opening a task's source may use.
#[derive(Debug, Clone)]
pub struct OpenContext {
    /// The handler, for sources that ask it how to read (file layouts).
    pub bridge: BridgeClient,
    /// Counts bytes read from storage, for the progress display.
    pub read_bytes: Arc<AtomicU64>,
}

/// The unit of a source one task reads.
#[async_trait]
pub trait TaskUnit: Send + Sync + std::fmt::Debug {
    /// Opens the unit at `checkpoint` (the start when `None`).
    async fn open(&self, checkpoint: Option<&str>, context: &OpenContext) -> Result<OpenedSource, SourceError>;

    /// Bytes the unit holds in storage, for the progress display; 0 when
    /// unknown or unbounded.
    fn stored_bytes(&self) -> u64 {
        0
    }

    /// Tasks that must complete before this one starts (a shard's
    /// parents: their records come first for a key).
    fn waits_for(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Why a source could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A local file is missing, unreadable or corrupt: the environment's
    /// or the user's fault; a retry helps only once the file is fixed.
    #[error("cannot read {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    /// The stored checkpoint does not belong to this source: the store
    /// was changed by hand, or the dataset's source changed. Not
    /// retryable; run the dataset with --restart.
    #[error("the checkpoint {checkpoint:?} of {unit} cannot be read: {reason}; run the dataset with --restart")]
    BadCheckpoint { unit: String, checkpoint: String, reason: String },
    /// The unit is shorter than its checkpoint: it changed since the last
    /// run. Not retryable; run the dataset with --restart.
    #[error(
        "{unit} holds {length} bytes but its checkpoint is at byte {checkpoint}: it changed since the last run; run the dataset with --restart"
    )]
    Shrunk { unit: String, length: u64, checkpoint: u64 },
    /// The handler's record hints cannot cut records (an empty pattern, a
    /// zero-length record). The handler's fault.
    #[error("the handler's record hints for {unit} are unusable: {source}")]
    Hints { unit: String, source: record_cutter::CutterConfigError },
    /// A call to a cloud service failed. `retryable` says whether the
    /// service called it transient (throttling, a timeout, a 5xx) as
    /// opposed to a missing resource or denied access, which need the
    /// user to act.
    #[error("{operation} on {resource} failed: {message}")]
    Service { operation: &'static str, resource: String, message: String, retryable: bool },
    /// The handler's answer to a setup call (getS3FileType, the record
    /// hints...) was an error or unusable. The handler's fault.
    #[error("{function} failed: {message}")]
    Handler { function: &'static str, message: String },
    #[error(transparent)]
    Bridge(#[from] BridgeError),
}

impl SourceError {
    /// Whether running the task again, unchanged, may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SourceError::Service { retryable, .. } => *retryable,
            SourceError::Bridge(err) => err.is_retryable(),
            _ => false,
        }
    }
}
