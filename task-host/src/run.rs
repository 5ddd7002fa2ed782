//! `ferry run`: one dataset from its configuration file to a summary.
//!
//! Validates the configuration before any work, records the dataset and
//! its tasks in the store, starts the bridge processes, runs the tasks
//! that are not complete (from their checkpoints) with bounded
//! concurrency, and stops the bridges. Running the same dataset again
//! resumes where the last run stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_proto::pb;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::aws;
use crate::bridge_client::{BridgeClient, BridgeError, BridgeProcess, SpawnError};
use crate::config::{
    self, CloudSource, ConfigError, DatasetConfig, ErrorConnector, Language, ReadConnector, WriteConnector,
};
use crate::error_sinks::{self, ErrorSink, ErrorSinkError};
use crate::pipeline::{RunCounters, Task, TaskReport, TaskServices, run_task};
use crate::sinks::metrics::SinkFigures;
use crate::sinks::{self, SinkError, SinkFactory};
use crate::sources::file::FileUnit;
use crate::sources::{SourceError, TaskUnit, dynamodb_streams, dynamodb_table, kinesis, s3, sqs};
use crate::state_machine::{self, MissingStateMachine};
use crate::store::{Progress, State, StoreError, TaskEnd, TaskStore};
use ferry_bridge::Handler;
use ferry_bridge::host::rust::StateMachines;

/// How `ferry run` is set up, apart from the dataset file.
#[derive(Clone)]
pub struct RunOptions {
    /// The ferry-bridge executable to start.
    pub bridge_binary: PathBuf,
    /// Forget the dataset's progress and start over.
    pub restart: bool,
    /// The Rust handlers linked into this binary, for datasets whose
    /// `artifactImplementationLanguage` is Rust.
    pub rust_handler: Option<Arc<dyn Handler>>,
    /// The state machine readers linked into this binary, for datasets
    /// read by one.
    pub rust_state_machines: Option<StateMachines>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("bridge_binary", &self.bridge_binary)
            .field("restart", &self.restart)
            .field("rust_handler", &self.rust_handler.is_some())
            .field("rust_state_machines", &self.rust_state_machines)
            .finish()
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub dataset: String,
    pub state: State,
    pub tasks: Vec<TaskReport>,
    /// Tasks already complete before this run.
    pub tasks_already_complete: usize,
    /// Counters over every task, earlier runs included.
    pub total: Progress,
    pub elapsed: Duration,
    /// Records handled by this run.
    pub records_this_run: u64,
    /// Where documents went, e.g. a directory or `kinesis stream NAME`.
    pub output: String,
    /// Where error documents went.
    pub errors: String,
    /// What the sink did in this run.
    pub sink: SinkFigures,
    pub interrupted: bool,
    /// Round trip of parseDocument batches in this run, when there were any.
    pub batch_latency_p50: Option<Duration>,
    pub batch_latency_p99: Option<Duration>,
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The dataset file is invalid: the user's fault, not retryable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    Bridge(#[from] BridgeError),
    /// The dataset asks for Rust handlers and this binary has none.
    #[error(
        "the dataset's handler is written in Rust, and this ferry binary has no Rust handlers linked in: run the binary your handler crate builds (see examples/rust-logs)"
    )]
    NoRustHandlers,
    #[error(transparent)]
    StateMachine(#[from] MissingStateMachine),
    /// The source's tasks could not be listed (a missing bucket, queue,
    /// stream or table; no AWS credentials; the service unreachable).
    #[error("cannot list the tasks of the read connector: {0}")]
    Source(#[from] SourceError),
    /// The write connector's destination is missing or unreachable.
    #[error("cannot reach the write connector's destination: {0}")]
    Sink(#[from] SinkError),
    /// The error connector's destination is missing or unreachable.
    #[error("cannot reach the error connector's destination: {0}")]
    ErrorSink(#[from] ErrorSinkError),
    /// A working directory (bridge sockets) could not be created.
    #[error("cannot create a directory for bridge sockets: {0}")]
    SocketDir(std::io::Error),
}

impl RunError {
    /// The process exit code for this error: 2 for invalid input, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Config(_) => 2,
            _ => 1,
        }
    }
}

/// Runs (or resumes) the dataset in `dataset_file`. `counters` receives
/// live progress; `cancel` stops the run after a final checkpoint.
pub async fn run_dataset(
    dataset_file: &Path,
    store: Arc<dyn TaskStore>,
    options: &RunOptions,
    counters: Arc<RunCounters>,
    cancel: CancellationToken,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let text = std::fs::read_to_string(dataset_file)
        .map_err(|source| ConfigError::Read { file: dataset_file.to_path_buf(), source })?;
    let config = config::parse_str(&text, dataset_file)?;
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    if options.restart {
        store.delete_dataset(&config.name).await?;
    }
    store.open_dataset(&config.name, &digest, &text).await?;
    let aws = match uses_aws(&config) {
        true => Some(aws::load_config(config.aws.region.as_deref()).await?),
        false => None,
    };
    let units = match state_machine::task_units(&config, options.rust_state_machines.as_ref())? {
        Some(units) => units,
        None => task_units(&config, aws.as_ref()).await?,
    };
    let task_ids: Vec<String> = units.iter().map(|(id, _)| id.clone()).collect();
    store.ensure_tasks(&config.name, &task_ids).await?;
    let records = store.tasks(&config.name).await?;
    let pending: Vec<_> = units
        .iter()
        .filter(|(id, _)| {
            records.iter().find(|record| &record.task_id == id).is_none_or(|record| record.state != State::Completed)
        })
        .cloned()
        .collect();
    let sinks = sinks::connect(&config.write, aws.as_ref(), Arc::clone(&counters.sink)).await?;
    let errors = error_sinks::connect(&config.error, aws.as_ref()).await?;
    let tasks_already_complete = units.len() - pending.len();
    let pending_bytes = pending.iter().map(|(_, unit)| unit.stored_bytes()).sum();
    counters.total_disk_bytes.store(pending_bytes, std::sync::atomic::Ordering::Relaxed);

    let mut reports = Vec::new();
    if !pending.is_empty() {
        store.set_dataset_state(&config.name, State::Processing).await?;
        let services =
            RunServices { store: Arc::clone(&store), sinks: Arc::clone(&sinks), errors: Arc::clone(&errors) };
        reports = run_tasks(&config, &pending, services, options, &counters, &cancel).await?;
    }

    let records_after = store.tasks(&config.name).await?;
    let mut total = Progress::default();
    for record in &records_after {
        total.add(record.progress);
    }
    let interrupted = reports.iter().any(|report| report.end == TaskEnd::Interrupted);
    let state = if records_after.iter().all(|record| record.state == State::Completed) {
        State::Completed
    } else if records_after.iter().any(|record| record.state == State::Errored) {
        State::Errored
    } else {
        State::Processing
    };
    store.set_dataset_state(&config.name, state).await?;
    Ok(RunSummary {
        dataset: config.name.clone(),
        state,
        records_this_run: counters.records(),
        tasks: reports,
        tasks_already_complete,
        total,
        elapsed: started.elapsed(),
        output: sinks.describe(),
        errors: errors.describe(),
        sink: counters.sink.snapshot(),
        interrupted,
        batch_latency_p50: counters.batch_latency.quantile(0.5),
        batch_latency_p99: counters.batch_latency.quantile(0.99),
    })
}

/// The tasks of the dataset, by id, in the order to run them; a task that
/// waits for others comes after them.
async fn task_units(
    config: &DatasetConfig,
    aws: Option<&aws_config::SdkConfig>,
) -> Result<Vec<(String, Arc<dyn TaskUnit>)>, SourceError> {
    let source = match &config.read {
        ReadConnector::File(_) => {
            return Ok(config
                .manifest
                .iter()
                .map(|entry| (entry.name.clone(), Arc::new(FileUnit(entry.clone())) as Arc<dyn TaskUnit>))
                .collect());
        }
        ReadConnector::Cloud(cloud) => &cloud.source,
    };
    let aws = aws.expect("the run loads the AWS configuration for a cloud source");
    match source {
        CloudSource::S3 { bucket, objects } => s3::s3_units(aws, bucket, objects).await,
        CloudSource::Sqs { queue_name, stop } => {
            sqs::queue_units(aws, queue_name, *stop, config.compute.concurrency).await
        }
        CloudSource::Kinesis(read) => kinesis::kinesis_units(aws, read).await,
        CloudSource::DynamoDbStreams(read) => dynamodb_streams::stream_units(aws, read).await,
        CloudSource::DynamoDbTable(scan) => dynamodb_table::scan_units(aws, scan).await,
    }
}

/// The handler interface a dataset's records are sent to.
fn interface(config: &DatasetConfig) -> pb::Interface {
    match &config.read {
        ReadConnector::File(_) => pb::Interface::SingleFileParser,
        ReadConnector::Cloud(cloud) => match cloud.source {
            CloudSource::S3 { .. } => pb::Interface::SingleFileParser,
            CloudSource::Sqs { .. } => pb::Interface::QueueMessageReader,
            CloudSource::Kinesis(_) => pb::Interface::KinesisRecordReader,
            CloudSource::DynamoDbStreams(_) => pb::Interface::DynamodbStreamsRecordReader,
            CloudSource::DynamoDbTable(_) => pb::Interface::DynamodbTableItemReader,
        },
    }
}

/// Whether the dataset reads or writes an AWS service.
fn uses_aws(config: &DatasetConfig) -> bool {
    let reads = matches!(config.read, ReadConnector::Cloud(_));
    let writes = !matches!(config.write, WriteConnector::File { .. } | WriteConnector::Kafka { .. });
    let errors = matches!(config.error, ErrorConnector::S3 { .. });
    reads || writes || errors
}

/// What every task of a run shares besides the bridges.
struct RunServices {
    store: Arc<dyn TaskStore>,
    sinks: Arc<dyn SinkFactory>,
    errors: Arc<dyn ErrorSink>,
}

async fn run_tasks(
    config: &DatasetConfig,
    pending: &[(String, Arc<dyn TaskUnit>)],
    shared: RunServices,
    options: &RunOptions,
    counters: &Arc<RunCounters>,
    cancel: &CancellationToken,
) -> Result<Vec<TaskReport>, RunError> {
    let handler = config.read.handler();
    let interface = interface(config);
    let (clients, processes, _sockets) = match (handler.language, &handler.path) {
        (Language::Rust, _) => {
            let handler = options.rust_handler.clone().ok_or(RunError::NoRustHandlers)?;
            let client = BridgeClient::in_process(handler)?;
            // State machine readers are called directly, not through it.
            if !state_machine::reads(config) {
                client.require(interface)?;
            }
            (vec![client], Vec::new(), None)
        }
        (language, Some(handler)) => {
            let language = if language == Language::Python { "python" } else { "js" };
            let bridges = config.compute.bridge_processes.min(pending.len()).max(1);
            let (clients, processes, sockets) =
                start_bridges(&options.bridge_binary, language, handler, interface, bridges).await?;
            (clients, processes, Some(sockets))
        }
        (_, None) => unreachable!("validation requires handlerPath for bridge languages"),
    };
    let run_id = format!("{}-{}", crate::store::now_ms(), std::process::id());
    // Each pending task tells the tasks waiting for it whether it
    // completed; tasks not pending here are complete already.
    let completions: HashMap<&str, watch::Sender<Option<bool>>> =
        pending.iter().map(|(id, _)| (id.as_str(), watch::channel(None).0)).collect();
    let completions = &completions;
    let reports = futures::stream::iter(pending.iter().enumerate())
        .map(|(index, (id, unit))| {
            let task = Task {
                dataset: config.name.clone(),
                id: id.clone(),
                unit: Arc::clone(unit),
                compute: config.compute.clone(),
                run_id: run_id.clone(),
            };
            let services = TaskServices {
                bridge: clients[index % clients.len()].clone(),
                store: Arc::clone(&shared.store),
                sinks: Arc::clone(&shared.sinks),
                errors: Arc::clone(&shared.errors),
                counters: Arc::clone(counters),
                cancel: cancel.clone(),
            };
            let waits_for = unit.waits_for();
            async move {
                let completed = completions.get(id.as_str());
                let ready = parents_completed(&waits_for, completions).await;
                if services.cancel.is_cancelled() || !ready {
                    completed.map(|sender| sender.send_replace(Some(false)));
                    return None;
                }
                let report = run_task(task, services).await;
                completed.map(|sender| sender.send_replace(Some(report.end == TaskEnd::Completed)));
                Some(report)
            }
        })
        .buffer_unordered(config.compute.concurrency)
        .filter_map(|report| async move { report })
        .collect::<Vec<_>>()
        .await;
    stop_all(processes).await;
    let mut reports = reports;
    if cancel.is_cancelled() {
        // Tasks that never started were interrupted too, as far as the
        // caller is concerned.
        for (id, _) in pending {
            if !reports.iter().any(|report| &report.task_id == id) {
                reports.push(TaskReport {
                    task_id: id.clone(),
                    end: TaskEnd::Interrupted,
                    progress: Progress::default(),
                });
            }
        }
    }
    Ok(reports)
}

/// Waits until every task of `parents` that is pending in this run has
/// ended; true when all of them completed.
async fn parents_completed(parents: &[String], completions: &HashMap<&str, watch::Sender<Option<bool>>>) -> bool {
    for parent in parents {
        let Some(sender) = completions.get(parent.as_str()) else { continue };
        let mut ended = sender.subscribe();
        match ended.wait_for(Option::is_some).await {
            Ok(completed) if *completed == Some(true) => {}
            _ => return false,
        }
    }
    true
}

/// Starts `count` bridge processes and connects to each. Unix socket
/// paths must be short (108 bytes), so they live in a private temporary
/// directory rather than next to the dataset.
async fn start_bridges(
    binary: &Path,
    language: &str,
    handler: &Path,
    interface: pb::Interface,
    count: usize,
) -> Result<(Vec<BridgeClient>, Vec<BridgeProcess>, tempfile::TempDir), RunError> {
    let sockets = tempfile::Builder::new().prefix("ferry-").tempdir().map_err(RunError::SocketDir)?;
    let mut processes = Vec::with_capacity(count);
    let mut clients = Vec::with_capacity(count);
    let started = async {
        for index in 0..count {
            let socket = sockets.path().join(format!("bridge-{index}.sock"));
            let process = BridgeProcess::spawn(binary, language, handler, &socket).await?;
            let client = BridgeClient::connect(process.addr()).await;
            processes.push(process);
            let client = client?;
            client.require(interface)?;
            clients.push(client);
        }
        Ok::<(), RunError>(())
    }
    .await;
    match started {
        Ok(()) => Ok((clients, processes, sockets)),
        Err(err) => {
            stop_all(processes).await;
            Err(err)
        }
    }
}

async fn stop_all(processes: Vec<BridgeProcess>) {
    futures::future::join_all(processes.into_iter().map(BridgeProcess::stop)).await;
}
