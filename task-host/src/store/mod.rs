//! The task store: datasets, their tasks, task states, progress counters,
//! checkpoints and the execution log.
//!
//! Checkpoints are opaque strings owned by the source (a byte offset, a
//! sequence number, a last evaluated key) and by the sink (e.g. the length
//! of an output file). A checkpoint and the progress counters that go with
//! it are committed together, so after a crash the counters describe
//! exactly the records before the checkpoint.
//!
//! A task is owned by one run while it runs, so runs of one dataset on
//! many machines never process the same task at once: `start_task` takes
//! ownership only when no run holds it or the holder's lease ran out;
//! `commit_checkpoint` and `finish_task` succeed only for the owner (each
//! commit renews the lease), and any other run gets
//! [`StoreError::NotOwner`]; `finish_task` releases ownership, whatever
//! the end. Leases compare the writers' wall clocks, so machines sharing
//! a store must keep their clocks within a small part of the lease. A run
//! also takes a task over at once, lease or not, when its owner was a
//! process of the same machine that has died (see `holder`): a run killed
//! and started again is not kept waiting.
//!
//! Two implementations keep this one contract: [`SqliteTaskStore`] (one
//! file, the default) and [`DynamoDbTaskStore`] (one table, for runs
//! spread over machines). `--store` picks one through [`StoreLocation`].

mod dynamodb;
mod holder;
mod sqlite;

#[cfg(test)]
mod contract_tests;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::sources::SourceError;

pub use dynamodb::DynamoDbTaskStore;
pub use sqlite::SqliteTaskStore;

/// How long a run owns a task after starting it or committing its last
/// checkpoint. Checkpoints are committed every `checkpointIntervalMs`
/// (default 1 s) while batches complete, so a live run renews its lease
/// many times within a minute; a run that died on another machine stops
/// renewing, and its tasks can be taken over a minute later. A minute
/// also dwarfs the clock skew between machines kept by NTP. A run that
/// commits nothing for longer (a batch slower than that, a queue with
/// nothing to read) may lose the task to another run asking for it then,
/// and learns so at its next commit (`NotOwner`); a run alone keeps its
/// tasks however long it takes.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

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
    /// The run that owns the task, while one does.
    pub owner: Option<Lease>,
}

/// A run's hold on a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub run_id: String,
    /// When another run may take the task over, unless the owner commits
    /// a checkpoint before (milliseconds since the Unix epoch).
    pub expires_at_ms: i64,
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
    /// Read all its source had for now (a drained queue, an open shard
    /// with no new records); goes on from its checkpoint next run.
    CaughtUp,
    Errored(String),
}

impl TaskEnd {
    /// The task's state after this end, and its error message.
    pub fn state_and_error(&self) -> (State, Option<&str>) {
        match self {
            TaskEnd::Completed => (State::Completed, None),
            TaskEnd::Interrupted | TaskEnd::CaughtUp => (State::Processing, None),
            TaskEnd::Errored(message) => (State::Errored, Some(message)),
        }
    }
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
    #[error(
        "dataset {name} was started with a different configuration; run it with --restart to start over, or give it a new datasetName"
    )]
    ConfigChanged { name: String },
    /// Another run owns the task (`owner`), or none does because this run's
    /// ownership ended. Another worker has the task: not retryable, this
    /// run must leave it alone.
    #[error("task {task} of dataset {dataset} {}", owned_by(.owner.as_deref()))]
    NotOwner { dataset: String, task: String, owner: Option<String> },
    /// A DynamoDB call failed; retryable when the service called the
    /// failure transient (throttling, a timeout, a 5xx, a transaction
    /// conflict).
    #[error("task store: {0}")]
    Service(SourceError),
    /// The store's DynamoDB table is missing and could not be created
    /// (no `dynamodb:CreateTable` permission, a table limit). The user
    /// must create it or grant the permission.
    #[error(
        "task store: the DynamoDB table {table} does not exist and cannot be created ({message}); create it with partition key pk (String) and sort key sk (String), or allow ferry dynamodb:CreateTable"
    )]
    CreateTable { table: String, message: String },
    /// The table `--store` names exists with another key than the task
    /// store's: it belongs to something else. The user must name another
    /// table.
    #[error(
        "task store: the DynamoDB table {table} is not a ferry task store (its key is not pk and sk, both strings); give --store a table of ferry's own"
    )]
    ForeignTable { table: String },
    /// A request to the store could not be built: a ferry bug.
    #[error("task store: {0}")]
    Internal(String),
    /// The store holds a value this build does not understand.
    #[error("task store is corrupt: {0}")]
    Corrupt(String),
    /// The blocking store thread panicked or was cancelled.
    #[error("task store worker failed: {0}")]
    Worker(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Database(_) | StoreError::Worker(_) => true,
            StoreError::Service(err) => err.is_retryable(),
            _ => false,
        }
    }
}

fn owned_by(owner: Option<&str>) -> String {
    match owner {
        Some(owner) => format!("is owned by run {owner}, not by this run: another worker has it"),
        None => "is owned by no run: this run's ownership of it has ended".to_owned(),
    }
}

/// Tasks, their states, progress and checkpoints.
///
/// Implementations must make `commit_checkpoint` atomic: the checkpoint and
/// its counters are stored together or not at all. Ownership checks and
/// the writes they guard are one conditional write (see the module doc).
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
    /// Makes `run_id` the task's owner, marks it PROCESSING and opens an
    /// execution for the run. Fails with `NotOwner` while another run
    /// holds a live lease on it.
    async fn start_task(&self, dataset: &str, task_id: &str, run_id: &str) -> Result<TaskRecord, StoreError>;
    /// Stores a checkpoint and its counters atomically and renews the
    /// lease, when `run_id` owns the task; fails with `NotOwner` otherwise.
    async fn commit_checkpoint(
        &self,
        dataset: &str,
        task_id: &str,
        run_id: &str,
        checkpoint: &Checkpoint,
    ) -> Result<(), StoreError>;
    /// Closes the run's execution, sets the task's state and releases the
    /// task, when `run_id` owns it; fails with `NotOwner` otherwise.
    async fn finish_task(&self, dataset: &str, task_id: &str, run_id: &str, end: &TaskEnd) -> Result<(), StoreError>;
    /// Every execution of the dataset's tasks, oldest first.
    async fn executions(&self, dataset: &str) -> Result<Vec<ExecutionRecord>, StoreError>;
}

/// Where the task store lives, as `--store` names it: `dynamodb://TABLE`
/// for a DynamoDB table, anything else for a SQLite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    DynamoDb { table: String },
}

/// The `--store` prefix that names a DynamoDB table.
const DYNAMODB_SCHEME: &str = "dynamodb://";

impl FromStr for StoreLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some(table) = text.strip_prefix(DYNAMODB_SCHEME) else {
            return Ok(StoreLocation::Sqlite(PathBuf::from(text)));
        };
        // DynamoDB's own rule for table names, checked here so a typo is
        // reported before any call.
        let valid = (3..=255).contains(&table.len())
            && table.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if valid {
            Ok(StoreLocation::DynamoDb { table: table.to_owned() })
        } else {
            Err(format!(
                "{text:?} does not name a DynamoDB table: after {DYNAMODB_SCHEME} give 3 to 255 letters, digits, '_', '-' or '.'"
            ))
        }
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::DynamoDb { table } => write!(f, "{DYNAMODB_SCHEME}{table}"),
        }
    }
}

impl StoreLocation {
    /// Opens the store, with the default lease. A DynamoDB table is
    /// reached through the standard AWS configuration chain and created
    /// when missing.
    pub async fn open(&self) -> Result<Arc<dyn TaskStore>, StoreError> {
        match self {
            StoreLocation::Sqlite(path) => Ok(Arc::new(SqliteTaskStore::open(path)?)),
            StoreLocation::DynamoDb { table } => {
                let config = crate::aws::load_config(None).await.map_err(StoreError::Service)?;
                let client = aws_sdk_dynamodb::Client::new(&config);
                Ok(Arc::new(DynamoDbTaskStore::open(client, table, DEFAULT_LEASE).await?))
            }
        }
    }
}

/// `duration` in whole milliseconds, as leases are stored.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
