//! Dataset configuration: the dataset JSON file read, checked and turned
//! into a [`DatasetConfig`].
//!
//! # Contract
//!
//! - **Field names are LetsData's.** A LetsData dataset file's field names
//!   are accepted as they are, including the AWS ones the local engine does
//!   not use (`region`, `accessGrantRoleArn`, `customerAccountForAccess`,
//!   `interfaceECRImagePath`, ...). Any other field, at any level, is an
//!   error.
//! - **Enum values** compare ignoring case, whitespace, `_` and `-`
//!   (`"Single File Reader"` is `"SINGLEFILEREADER"`). LetsData values this
//!   build cannot run (`S3`, `Kinesis`, `Lambda`, ...) are refused as "not
//!   available in this build", naming what is.
//! - **A connector's destination decides its fields**: `connectorDestination`
//!   is read first and the object is then parsed as that destination's
//!   connector. This build reads `File`, `S3`, `SQS`, `Kinesis`,
//!   `DynamoDBStreams` and `DynamoDB`; writes `File`, `Kinesis`, `SQS`,
//!   `DynamoDB`, `S3` and `Kafka`; sends errors to a `Folder` or `S3`; and
//!   runs on the `Local` compute engine.
//! - **Paths** are relative to the dataset file's directory. The handler
//!   and the read directory must exist and are stored canonical. The write
//!   and error directories need not exist (they are created at run time)
//!   but must not be anything other than a directory; the read, write and
//!   error directories must be three different directories.
//! - **The manifest is resolved here**: to the files it names, each checked
//!   to exist, in manifest order; or for a `glob`, to the regular files it
//!   matches (`*` stays within one directory, dot files need a literal `.`),
//!   sorted by name. At least one file.
//! - **Every problem is reported**, not only the first: unknown fields,
//!   wrong JSON types, missing or invalid values, each under its JSON path
//!   (see [`ConfigIssue`]). A configuration is built only when there are
//!   none.
//!
//! The steps are parse (JSON into the structs of `raw`, by `parse`), then
//! validate and build (`validate`, with `manifest` for the manifest).

mod choices;
mod cloud;
mod destinations;
mod error;
mod issues;
mod manifest;
mod parse;
mod paths;
mod raw;
mod state_machines;
mod validate;

#[cfg(test)]
mod tests;

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, ConfigIssue};

/// Reads, parses and validates the dataset file at `path`.
pub fn load(path: &Path) -> Result<DatasetConfig, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { file: path.to_path_buf(), source })?;
    parse_str(&text, path)
}

/// Parses and validates `text` as the contents of `dataset_file`: relative
/// paths resolve against `dataset_file`'s directory, which is read (the
/// handler, the data files) but `dataset_file` itself is not.
pub fn parse_str(text: &str, dataset_file: &Path) -> Result<DatasetConfig, ConfigError> {
    let root: serde_json::Value = serde_json::from_str(text).map_err(|err| json_error(&err, dataset_file))?;
    validate::dataset(root, dataset_file)
        .map_err(|issues| ConfigError::Invalid { file: dataset_file.to_path_buf(), issues })
}

fn json_error(err: &serde_json::Error, dataset_file: &Path) -> ConfigError {
    let (line, column) = (err.line(), err.column());
    let full = err.to_string();
    let message = full.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(&full).to_owned();
    ConfigError::Json { file: dataset_file.to_path_buf(), line, column, message }
}

/// A validated dataset configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetConfig {
    /// `datasetName`: 1 to 128 characters of `A-Z a-z 0-9 . _ -`.
    pub name: String,
    /// The LetsData AWS fields, kept for reference; unused locally.
    pub aws: LetsDataAccount,
    /// Where records come from.
    pub read: ReadConnector,
    /// The files to read, in the order to read them; never empty for a
    /// `File` read connector, empty for a cloud one (whose manifest
    /// settings are in its [`CloudSource`]).
    pub manifest: Vec<ManifestEntry>,
    /// Where documents go.
    pub write: WriteConnector,
    /// Where failed records go.
    pub error: ErrorConnector,
    /// How tasks run.
    pub compute: ComputeEngine,
}

/// The AWS account fields of a LetsData dataset file, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LetsDataAccount {
    /// `region`: an AWS region name such as `us-east-1`.
    pub region: Option<String>,
    /// `accessGrantRoleArn`: the IAM role LetsData assumes.
    pub access_grant_role_arn: Option<String>,
    /// `customerAccountForAccess`: the customer's AWS account id.
    pub customer_account_for_access: Option<String>,
}

/// Where records come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadConnector {
    /// Files in a local directory (`connectorDestination: "File"`).
    File(FileReadConnector),
    /// An AWS service, reached through the standard AWS configuration
    /// chain (credentials, region, `AWS_ENDPOINT_URL`).
    Cloud(CloudReadConnector),
}

impl ReadConnector {
    /// The user code that turns records into documents.
    pub fn handler(&self) -> &HandlerSpec {
        match self {
            ReadConnector::File(file) => &file.handler,
            ReadConnector::Cloud(cloud) => &cloud.handler,
        }
    }
}

/// A read connector over an AWS service.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudReadConnector {
    /// The user code that turns records into documents.
    pub handler: HandlerSpec,
    /// The service, what to read of it, and when to stop.
    pub source: CloudSource,
}

/// What a cloud read connector reads; its manifest's settings included.
#[derive(Debug, Clone, PartialEq)]
pub enum CloudSource {
    /// Objects of an S3 bucket, each a task read by a `SingleFileParser`
    /// (`connectorDestination: "S3"`).
    S3 { bucket: String, objects: S3Objects },
    /// Messages of an SQS queue, read by `concurrency` tasks at once with a
    /// `QueueMessageReader` (`connectorDestination: "SQS"`).
    Sqs { queue_name: String, stop: QueueStop },
    /// Records of a Kinesis data stream, a task per shard, read by a
    /// `KinesisRecordReader` (`connectorDestination: "Kinesis"`).
    Kinesis(StreamRead),
    /// Change records of a DynamoDB stream, a task per shard, read by a
    /// `DynamoDBStreamsRecordReader` (`connectorDestination:
    /// "DynamoDBStreams"`).
    DynamoDbStreams(StreamRead),
    /// Items of a DynamoDB table, a task per scan segment, read by a
    /// `DynamoDBTableItemReader` (`connectorDestination: "DynamoDB"`).
    DynamoDbTable(TableScan),
}

/// Which objects of a bucket are read, each as one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Objects {
    /// `fileContents`: manifest names one per line, in that order; the
    /// handler's `getResolvedS3FileName` turns each into its key.
    Names(Vec<String>),
    /// `prefix`: every object whose key starts with it, sorted by key.
    Prefix(String),
}

/// When an SQS reader task stops (`sqsReaderTaskStopCondition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStop {
    /// `DrainQueues`: after this many receives in a row found no message
    /// (`sqsReaderTaskStopAfterConsecutiveEmptyReceives`).
    Drain { consecutive_empty_receives: u32 },
    /// `Continuous`: until the run is interrupted.
    Continuous,
}

impl QueueStop {
    /// Receives in a row without a message that end a draining task.
    pub const DEFAULT_CONSECUTIVE_EMPTY_RECEIVES: u32 = 10;
    pub const CONSECUTIVE_EMPTY_RECEIVES_RANGE: RangeInclusive<u32> = 1..=10_000;
}

/// A Kinesis or DynamoDB stream, read shard by shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRead {
    /// `streamArn`. For DynamoDB Streams it may also be the table's ARN
    /// (`...:table/NAME`), whose current stream is then read: a stream's
    /// ARN ends in a label the service picks when the stream is enabled.
    pub stream_arn: String,
    /// Where a shard read for the first time starts.
    pub start: StreamStart,
    pub stop: StreamStop,
}

/// Where a shard without a checkpoint is read from
/// (`...ReaderTaskStartFromCondition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// `Earliest`: the oldest record the stream still holds.
    Earliest,
    /// `Latest`: records added after the task starts.
    Latest,
}

/// When a shard task stops (`...ReaderTaskStopCondition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStop {
    /// `StopWhenNoData`: once a read finds the shard caught up. The task
    /// goes on from its checkpoint the next time the dataset runs.
    WhenNoData,
    /// `Continuous`: polls until the run is interrupted or the shard is
    /// closed and read to its end.
    Continuous,
}

/// A parallel scan of a DynamoDB table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableScan {
    /// `tableName`.
    pub table_name: String,
    /// `dynamoDBTableReaderSegments`: scan segments, one task each.
    pub segments: u32,
    /// `dynamoDBTableReaderFilterExpression` and its attribute names and
    /// values; items it rejects are not read.
    pub filter: Option<ScanFilter>,
    pub stop: ScanStop,
}

impl TableScan {
    pub const DEFAULT_SEGMENTS: u32 = 1;
    /// DynamoDB allows up to 1,000,000; a task each makes more than a few
    /// thousand pointless.
    pub const SEGMENTS_RANGE: RangeInclusive<u32> = 1..=4096;
}

/// A scan's filter expression.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanFilter {
    pub expression: String,
    /// `#name` placeholders to attribute names.
    pub names: std::collections::BTreeMap<String, String>,
    /// `:value` placeholders to plain JSON values (converted to DynamoDB
    /// attribute values when the scan is sent).
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// When a scan segment task stops (`dynamoDBTableReaderTaskStopCondition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanStop {
    /// `SingleScan`: after one pass over its segment.
    SingleScan,
    /// `Continuous`: scans its segment again, a minute after each pass
    /// ends, until the run is interrupted.
    Continuous,
}

/// A read connector over files in a local directory, each read whole by
/// the single file reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReadConnector {
    /// The user code that turns records into documents.
    pub handler: HandlerSpec,
    /// The directory manifest names are relative to; canonical.
    pub directory: PathBuf,
    /// `readerType`: how the files become records.
    pub reader: FileReaderType,
}

/// How a `File` read connector's files become records (`readerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileReaderType {
    /// `Single File Reader`: each manifest file is a task, cut into records
    /// by the handler's fixed hints and parsed in batches.
    SingleFile,
    /// `Single File State Machine Reader`: each manifest file is a task, read
    /// record by record by a stateful Rust parser whose hints depend on the
    /// last record.
    SingleFileStateMachine,
    /// `Multiple File State Machine Reader`: each manifest line
    /// (`FT1:path|FT2:path`) is a task whose files a stateful Rust reader
    /// reads together.
    MultipleFileStateMachine,
}

/// The user's handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerSpec {
    /// `artifactImplementationLanguage`.
    pub language: Language,
    /// `handlerPath`: the handler file or package directory; canonical.
    /// Required for Python and JavaScript; Rust handlers are linked into
    /// the `ferry` binary, so for them it is optional and unused.
    pub path: Option<PathBuf>,
}

/// The language a handler is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// Run by a `ferry-bridge --language python` process.
    Python,
    /// Run by a `ferry-bridge --language js` process.
    JavaScript,
    /// Linked into the `ferry` binary and called in process.
    Rust,
}

/// One task of the manifest: a file, or for the Multiple File State Machine
/// Reader a line's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The name as the manifest line wrote it (trimmed), or for a glob
    /// match the path below the read directory, '/'-separated.
    pub name: String,
    /// The file, absolute; for a multiple-file line, its first file.
    pub path: PathBuf,
    /// Multiple File State Machine Reader only: the line's files by file
    /// type, in line order. Empty for the other readers.
    pub files_by_type: Vec<(String, ManifestEntry)>,
}

/// Where documents go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteConnector {
    /// Files in a local directory (`connectorDestination: "File"`).
    File {
        /// Absolute; may not exist yet.
        directory: PathBuf,
    },
    /// A Kinesis data stream (`"Kinesis"`): records put in PutRecords
    /// batches, keyed by each document's `partitionKey`.
    Kinesis {
        /// `streamName`, or `streamArn` (an ARN starts with `arn:`).
        stream: String,
    },
    /// An SQS queue (`"SQS"`): messages sent in SendMessageBatch calls.
    Sqs {
        /// `queueName`.
        queue_name: String,
        /// `messageIdAttributeName`: the document field whose value is the
        /// message's id (a message attribute of that name, and the
        /// deduplication id on a FIFO queue).
        message_id_attribute: String,
    },
    /// A DynamoDB table (`"DynamoDB"`): one item per document.
    DynamoDb {
        /// `tableName`.
        table_name: String,
        /// `dynamoDBWriters`: PutItem calls in flight per task.
        writers: usize,
    },
    /// An S3 bucket (`"S3"`).
    S3 {
        /// `bucketName`.
        bucket: String,
        /// `keyPrefix`: put before every object key; may be empty.
        key_prefix: String,
        layout: S3Layout,
    },
    /// A Kafka topic (`"Kafka"`), through an idempotent producer.
    Kafka {
        /// `bootstrapServers`: `host:port` pairs, comma-separated.
        bootstrap_servers: String,
        /// `topic`.
        topic: String,
        /// `partitions`: when the topic does not exist, it is created with
        /// this many partitions; without it, a missing topic is an error.
        partitions: Option<u32>,
    },
}

impl WriteConnector {
    /// DynamoDB writers per task.
    pub const DEFAULT_DYNAMODB_WRITERS: usize = 10;
    /// DynamoDB writers per task.
    pub const DYNAMODB_WRITERS_RANGE: RangeInclusive<usize> = 1..=64;
}

/// How an S3 write connector lays documents out in objects
/// (`writerType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Layout {
    /// `Single Record Writer`: one object per document, named
    /// `PREFIX + documentId + ".json"`.
    PerRecord,
    /// `Aggregate File Writer`: documents gathered into objects of about
    /// `file_size_bytes` (`aggregateFileSizeInMB`), one after another,
    /// each followed by `separator` (`fileRecordsSeparator`).
    Aggregate { separator: String, file_size_bytes: u64 },
}

impl S3Layout {
    /// Megabytes (MiB).
    pub const DEFAULT_AGGREGATE_FILE_SIZE_MB: u64 = 64;
    /// Megabytes (MiB).
    pub const AGGREGATE_FILE_SIZE_MB_RANGE: RangeInclusive<u64> = 10..=128;
    pub const DEFAULT_SEPARATOR: &str = "\n";
}

/// Where failed records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorConnector {
    /// Files in a local directory (`connectorDestination: "Folder"`).
    Folder {
        /// Absolute; may not exist yet.
        directory: PathBuf,
    },
    /// Objects in an S3 bucket (`"S3"`), one JSON error document per
    /// failed record.
    S3 {
        /// `bucketName`.
        bucket: String,
        /// `keyPrefix`: put before every object key; may be empty.
        key_prefix: String,
    },
}

impl ErrorConnector {
    /// The error directory when the dataset file has no `errorConnector`,
    /// relative to the dataset file's directory.
    pub const DEFAULT_DIRECTORY: &str = "errors";
}

/// How tasks run on the local compute engine. Each field's JSON name is in
/// its doc; a missing field takes the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeEngine {
    /// `concurrency`: tasks run at once.
    pub concurrency: usize,
    /// `batchSize`: records per bridge call, at most.
    pub batch_size: usize,
    /// `maxBatchBytes`: bytes of record payload per bridge call, at most (a
    /// batch is cut at whichever of this and `batch_size` comes first).
    pub max_batch_bytes: usize,
    /// `maxInFlightBatches`: batches sent to a bridge and not yet answered,
    /// per task.
    pub max_in_flight_batches: usize,
    /// `checkpointIntervalMs` (milliseconds): time between checkpoints.
    pub checkpoint_interval: Duration,
    /// `bridgeProcesses`: handler processes shared by all tasks; at most
    /// `concurrency`.
    pub bridge_processes: usize,
}

impl ComputeEngine {
    /// Tasks.
    pub const DEFAULT_CONCURRENCY: usize = 2;
    /// Tasks.
    pub const CONCURRENCY_RANGE: RangeInclusive<usize> = 1..=64;
    /// Records.
    pub const DEFAULT_BATCH_SIZE: usize = 256;
    /// Records.
    pub const BATCH_SIZE_RANGE: RangeInclusive<usize> = 1..=10_000;
    /// Bytes (4 MiB).
    pub const DEFAULT_MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
    /// Bytes (1 KiB to 32 MiB).
    pub const MAX_BATCH_BYTES_RANGE: RangeInclusive<usize> = 1024..=32 * 1024 * 1024;
    /// Batches per task.
    pub const DEFAULT_MAX_IN_FLIGHT_BATCHES: usize = 4;
    /// Batches per task.
    pub const MAX_IN_FLIGHT_BATCHES_RANGE: RangeInclusive<usize> = 1..=64;
    /// Milliseconds.
    pub const DEFAULT_CHECKPOINT_INTERVAL_MS: usize = 1_000;
    /// Milliseconds (100 ms to 10 minutes).
    pub const CHECKPOINT_INTERVAL_MS_RANGE: RangeInclusive<usize> = 100..=600_000;
    /// Processes.
    pub const DEFAULT_BRIDGE_PROCESSES: usize = 1;
    /// Processes; also at most `concurrency`.
    pub const BRIDGE_PROCESSES_RANGE: RangeInclusive<usize> = 1..=64;
}

impl Default for ComputeEngine {
    fn default() -> Self {
        Self {
            concurrency: Self::DEFAULT_CONCURRENCY,
            batch_size: Self::DEFAULT_BATCH_SIZE,
            max_batch_bytes: Self::DEFAULT_MAX_BATCH_BYTES,
            max_in_flight_batches: Self::DEFAULT_MAX_IN_FLIGHT_BATCHES,
            checkpoint_interval: Duration::from_millis(Self::DEFAULT_CHECKPOINT_INTERVAL_MS as u64),
            bridge_processes: Self::DEFAULT_BRIDGE_PROCESSES,
        }
    }
}
