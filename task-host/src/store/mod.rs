//! The task store: datasets, their tasks, task states, progress counters,
//! checkpoints and the execution log.
//!
//! Checkpoints are opaque strings owned by the source (a byte offset, a
//! sequence number, a last evaluated key) and by the sink (e.g. the length
//! of an output file). A checkpoint and the progress counters that go with
//! it are committed together, so after a crash the counters describe
//! exactly the records before the checkpoint.

mod sqlite;

use std::fmt;
use std::str::FromStr;

pub use sqlite::SqliteTaskStore;

/// State of a dataset or a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Known, not yet started.
    Created,
    /// Started and not finished: running now, or interrupted and resumable.
    Processing,
    Completed,
    /// Failed; running the dataset again retries from the checkpoint.
    Errored,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "CREATED",
            State::Processing => "PROCESSING",
            State::Completed => "COMPLETED",
            State::Errored => "ERRORED",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "CREATED" => Ok(State::Created),
            "PROCESSING" => Ok(State::Processing),
            "COMPLETED" => Ok(State::Completed),
            "ERRORED" => Ok(State::Errored),
            other => Err(StoreError::Corrupt(format!("unknown state {other:?}"))),
        }
    }
}

/// Records accounted for by a task, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Documents written to the sink.
    pub processed: u64,
    /// Records routed to the error sink.
    pub errored: u64,
    /// Records the handler skipped.
    pub skipped: u64,
}

impl Progress {
    pub fn records(&self) -> u64 {
        self.processed + self.errored + self.skipped
    }

    pub fn add(&mut self, other: Progress) {
        self.processed += other.processed;
        self.errored += other.errored;
        self.skipped += other.skipped;
    }
}

/// A resumable position: everything before it is durably written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The source's position, opaque to the store.
    pub source: String,
    /// The sink's position, opaque to the store.
    pub sink: String,
    /// Counters for all records before `source`.
    pub progress: Progress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRecord {
    pub name: String,
    pub state: State,
    /// Digest of the configuration the dataset was created with.
    pub config_digest: String,
    /// The configuration file as given, for `datasets view`.
    pub config_json: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub dataset: String,
    pub task_id: String,
    /// Order of the task in the manifest.
    pub ordinal: u32,
    pub state: State,
    pub progress: Progress,
    pub checkpoint: Option<Checkpoint>,
    pub last_error: Option<String>,
    pub updated_at_ms: i64,
}

/// One run of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRecord {
    pub dataset: String,
    pub task_id: String,
    pub run_id: String,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    /// The task's state when the run ended.
    pub outcome: Option<State>,
}

/// How a run of a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEnd {
    Completed,
    /// Stopped on request after its last checkpoint; stays resumable.
    Interrupted,
    Errored(String),
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, read or written (disk full, file
    /// locked, permissions). The environment's fault; a retry may help.
    #[error("task store: {0}")]
    Database(#[from] rusqlite::Error),
    /// The store's directory could not be created.
    #[error("task store: cannot create {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    /// The named dataset or task is not in the store: the caller's fault.
    #[error("{0}")]
    NotFound(String),
    /// The dataset exists with another configuration: the user must choose
    /// to start over; retrying cannot help.
    #[error("dataset {name} was started with a different configuration; run it with --restart to start over, or give it a new datasetName")]
    ConfigChanged { name: String },
    /// The store holds a value this build does not understand.
    #[error("task store is corrupt: {0}")]
    Corrupt(String),
    /// The blocking store thread panicked or was cancelled.
    #[error("task store worker failed: {0}")]
    Worker(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Database(_) | StoreError::Worker(_))
    }
}

/// Tasks, their states, progress and checkpoints.
///
/// Implementations must make `commit_checkpoint` atomic: the checkpoint and
/// its counters are stored together or not at all.
#[async_trait::async_trait]
pub trait TaskStore: Send + Sync {
    /// Returns the dataset, creating it in CREATED when it is new. Fails with
    /// `ConfigChanged` when it exists with another config digest.
    async fn open_dataset(
        &self,
        name: &str,
        config_digest: &str,
        config_json: &str,
    ) -> Result<DatasetRecord, StoreError>;
    /// Forgets a dataset with its tasks and executions.
    async fn delete_dataset(&self, name: &str) -> Result<(), StoreError>;
    async fn set_dataset_state(&self, name: &str, state: State) -> Result<(), StoreError>;
    async fn dataset(&self, name: &str) -> Result<Option<DatasetRecord>, StoreError>;
    async fn datasets(&self) -> Result<Vec<DatasetRecord>, StoreError>;
    /// Adds the tasks that do not exist yet, in CREATED; keeps the others.
    async fn ensure_tasks(&self, dataset: &str, task_ids: &[String]) -> Result<(), StoreError>;
    /// The dataset's tasks, in manifest order.
    async fn tasks(&self, dataset: &str) -> Result<Vec<TaskRecord>, StoreError>;
    /// Marks a task PROCESSING and opens an execution for `run_id`.
    async fn start_task(
        &self,
        dataset: &str,
        task_id: &str,
        run_id: &str,
    ) -> Result<TaskRecord, StoreError>;
    /// Stores a checkpoint and its counters atomically.
    async fn commit_checkpoint(
        &self,
        dataset: &str,
        task_id: &str,
        checkpoint: &Checkpoint,
    ) -> Result<(), StoreError>;
    /// Closes the run's execution and sets the task's state.
    async fn finish_task(
        &self,
        dataset: &str,
        task_id: &str,
        run_id: &str,
        end: &TaskEnd,
    ) -> Result<(), StoreError>;
    /// Every execution of the dataset's tasks, oldest first.
    async fn executions(&self, dataset: &str) -> Result<Vec<ExecutionRecord>, StoreError>;
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
