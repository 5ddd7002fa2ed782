//! The dataset file as serde reads it, before validation.
//!
//! Field names are LetsData's, so a LetsData dataset file reads as it is;
//! the LetsData fields the local engine has no use for (`region`,
//! `interfaceECRImagePath`, ...) are accepted on purpose and listed here.
//! Every struct denies unknown fields. Required fields are `Option` so that
//! a missing one is reported by validation alongside every other problem
//! instead of stopping serde at the first.
//!
//! A connector object is first kept as JSON: its `connectorDestination`
//! decides which struct below it is deserialized into. The same holds for
//! `computeEngine` (by `computeEngineType`) and `manifestFile` (by
//! `manifestType`).

use serde::Deserialize;
use serde_json::Value;

/// The top level of a dataset file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawDataset {
    /// Name of the dataset; required; 1 to 128 characters of
    /// `A-Z a-z 0-9 . _ -`.
    pub dataset_name: Option<String>,
    /// AWS region name (LetsData); kept, unused by the local engine.
    pub region: Option<String>,
    /// IAM role ARN LetsData assumes (LetsData); kept, unused locally.
    pub access_grant_role_arn: Option<String>,
    /// AWS account id of the customer (LetsData); kept, unused locally.
    pub customer_account_for_access: Option<String>,
    /// Where records come from; required; parsed by destination.
    pub read_connector: Option<Value>,
    /// Which files to read; required; parsed by manifest type.
    pub manifest_file: Option<Value>,
    /// Where documents go; required; parsed by destination.
    pub write_connector: Option<Value>,
    /// Where failed records go; optional (default: `Folder` at `errors`);
    /// parsed by destination.
    pub error_connector: Option<Value>,
    /// How tasks run; optional (all defaults); parsed by engine type.
    pub compute_engine: Option<Value>,
}

/// `readConnector` with `connectorDestination: "File"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawFileReadConnector {
    /// `"File"`; already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub connector_destination: Option<String>,
    /// How files become records; required; `SingleFileReader`.
    pub reader_type: Option<String>,
    /// Language of the handler; required; `Python`.
    pub artifact_implementation_language: Option<String>,
    /// Handler file or package directory; required; relative to the dataset
    /// file's directory.
    pub handler_path: Option<String>,
    /// Directory the manifest's files are in; required; relative to the
    /// dataset file's directory.
    pub directory: Option<String>,
    /// Who owns the handler's container image (LetsData); ignored locally.
    #[serde(rename = "interfaceECRImageResourceLocation")]
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub interface_ecr_image_resource_location: Option<String>,
    /// The handler's container image (LetsData); ignored locally.
    #[serde(rename = "interfaceECRImagePath")]
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub interface_ecr_image_path: Option<String>,
}

/// `manifestFile` listing files, with `manifestType` absent,
/// `S3ReaderTextManifestFile` or `LocalFileManifest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawFileListManifest {
    /// Already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub manifest_type: Option<String>,
    /// Optional; when set, must name the read connector's reader type.
    pub reader_type: Option<String>,
    /// File names relative to the read directory, one per line; exactly one
    /// of this and `glob`.
    pub file_contents: Option<String>,
    /// Pattern relative to the read directory (`*`, `?`, `[...]`, `**`);
    /// exactly one of this and `fileContents`.
    pub glob: Option<String>,
    /// AWS region of the bucket (LetsData); ignored locally.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub region: Option<String>,
}

/// `writeConnector` with `connectorDestination: "File"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawFileWriteConnector {
    /// `"File"`; already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub connector_destination: Option<String>,
    /// Output directory; required; relative to the dataset file's
    /// directory; created at run time if missing.
    pub directory: Option<String>,
}

/// `writeConnector` with a cloud `connectorDestination` (Kinesis, SQS,
/// DynamoDB, S3, Kafka). Each destination requires its own fields and
/// refuses the others' (see `destinations.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawCloudWriteConnector {
    /// Already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub connector_destination: Option<String>,
    /// Who owns the destination (LetsData); ignored locally.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub resource_location: Option<String>,
    /// Kinesis: the stream's name; this or `streamArn`.
    pub stream_name: Option<String>,
    /// Kinesis: the stream's ARN; this or `streamName`.
    pub stream_arn: Option<String>,
    /// Kinesis: shards of a stream LetsData creates; ignored locally,
    /// where the stream must exist.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub kinesis_shard_count: Option<u64>,
    /// SQS: the queue; required.
    pub queue_name: Option<String>,
    /// SQS: the document field holding each message's id; optional.
    pub message_id_attribute_name: Option<String>,
    /// DynamoDB: the table; required.
    pub table_name: Option<String>,
    /// DynamoDB: PutItem calls in flight per task; optional.
    #[serde(rename = "dynamoDBWriters")]
    pub dynamodb_writers: Option<u64>,
    /// S3: the bucket; required.
    pub bucket_name: Option<String>,
    /// S3: prefix of every object key; optional.
    pub key_prefix: Option<String>,
    /// S3: `Single Record Writer` or `Aggregate File Writer`; required.
    pub writer_type: Option<String>,
    /// S3 aggregate files: what follows each document; optional.
    pub file_records_separator: Option<String>,
    /// S3 aggregate files: object size in MiB; optional.
    #[serde(rename = "aggregateFileSizeInMB")]
    pub aggregate_file_size_in_mb: Option<u64>,
    /// Kafka: `host:port` pairs, comma-separated; required.
    pub bootstrap_servers: Option<String>,
    /// Kafka: the topic; required.
    pub topic: Option<String>,
    /// Kafka: partitions of the topic when it must be created; optional.
    pub partitions: Option<u64>,
}

/// `errorConnector` with `connectorDestination: "S3"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawS3ErrorConnector {
    /// `"S3"`; already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub connector_destination: Option<String>,
    /// Who owns the bucket (LetsData); ignored locally.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub resource_location: Option<String>,
    /// The bucket; required.
    pub bucket_name: Option<String>,
    /// Prefix of every object key; optional.
    pub key_prefix: Option<String>,
}

/// `errorConnector` with `connectorDestination: "Folder"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawFolderErrorConnector {
    /// `"Folder"`; already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub connector_destination: Option<String>,
    /// Error directory; required; relative to the dataset file's
    /// directory; created at run time if missing.
    pub directory: Option<String>,
}

/// `computeEngine` with `computeEngineType` absent or `"Local"`. Every
/// number is optional; the defaults and ranges are on
/// [`super::ComputeEngine`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawLocalComputeEngine {
    /// `"Local"`; already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub compute_engine_type: Option<String>,
    /// Tasks run at once.
    pub concurrency: Option<u64>,
    /// Records per bridge call.
    pub batch_size: Option<u64>,
    /// Bytes of record payload per bridge call.
    pub max_batch_bytes: Option<u64>,
    /// Batches sent but not yet answered, per task.
    pub max_in_flight_batches: Option<u64>,
    /// Milliseconds between checkpoints.
    pub checkpoint_interval_ms: Option<u64>,
    /// Handler processes shared by all tasks.
    pub bridge_processes: Option<u64>,
}

/// `readConnector` with `connectorDestination` `S3`, `SQS`, `Kinesis`,
/// `DynamoDBStreams` or `DynamoDB`: one struct for all five, since LetsData
/// spreads the same few fields over them; which fields a destination
/// needs, and which it refuses, is checked by `cloud`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawCloudReadConnector {
    /// Already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub connector_destination: Option<String>,
    /// S3: `SingleFileReader`; Kinesis: `KinesisStreamReader` (optional
    /// for both); refused for the others.
    pub reader_type: Option<String>,
    /// Language of the handler; required.
    pub artifact_implementation_language: Option<String>,
    /// Handler file or package directory; required for Python and
    /// JavaScript; relative to the dataset file's directory.
    pub handler_path: Option<String>,
    /// S3: the bucket; required.
    pub bucket_name: Option<String>,
    /// SQS: the queue; required.
    pub queue_name: Option<String>,
    /// Kinesis and DynamoDB Streams: the stream; required.
    pub stream_arn: Option<String>,
    /// DynamoDB: the table; required.
    pub table_name: Option<String>,
    /// Who owns the bucket (LetsData); ignored locally.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub bucket_resource_location: Option<String>,
    /// Who owns the queue, stream or table (LetsData); ignored locally.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub resource_location: Option<String>,
    /// Who owns the handler's container image (LetsData); ignored locally.
    #[serde(rename = "interfaceECRImageResourceLocation")]
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub interface_ecr_image_resource_location: Option<String>,
    /// The handler's container image (LetsData); ignored locally.
    #[serde(rename = "interfaceECRImagePath")]
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub interface_ecr_image_path: Option<String>,
}

/// `manifestFile` of an S3 read connector (`manifestType` absent or
/// `S3ReaderTextManifestFile`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawS3Manifest {
    /// Already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub manifest_type: Option<String>,
    /// Optional; when set, must name the read connector's reader type.
    pub reader_type: Option<String>,
    /// Manifest names, one per line; exactly one of this and `prefix`.
    pub file_contents: Option<String>,
    /// Key prefix; every object under it is read; exactly one of this and
    /// `fileContents`.
    pub prefix: Option<String>,
    /// AWS region of the bucket (LetsData); the AWS configuration's region
    /// is used.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub region: Option<String>,
}

/// `manifestFile` of an SQS read connector (no `manifestType`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawSqsManifest {
    /// `DrainQueues` (default) or `Continuous`.
    pub sqs_reader_task_stop_condition: Option<String>,
    /// Empty receives in a row that end a draining task.
    pub sqs_reader_task_stop_after_consecutive_empty_receives: Option<u64>,
}

/// `manifestFile` of a Kinesis read connector
/// (`KinesisStreamReaderManifest`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawKinesisManifest {
    /// Already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub manifest_type: Option<String>,
    /// `StopWhenNoData` (default) or `Continuous`.
    pub kinesis_reader_task_stop_condition: Option<String>,
    /// `Earliest` (default) or `Latest`.
    pub kinesis_reader_task_start_from_condition: Option<String>,
    /// LetsData's polling setting; polling here always backs off
    /// exponentially up to a minute while a shard is idle.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub kinesis_reader_task_continuous_poll_frequency: Option<String>,
}

/// `manifestFile` of a DynamoDB Streams read connector
/// (`DynamoDBStreamReaderManifest`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDynamoDbStreamsManifest {
    /// Already read to choose this struct.
    #[serde(rename = "manifestType")]
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub manifest_type: Option<String>,
    /// `StopWhenNoData` (default) or `Continuous`.
    #[serde(rename = "dynamoDBReaderTaskStopCondition")]
    pub stop_condition: Option<String>,
    /// `Earliest` (default) or `Latest`.
    #[serde(rename = "dynamoDBReaderTaskStartFromCondition")]
    pub start_from_condition: Option<String>,
    /// As `kinesisReaderTaskContinuousPollFrequency`.
    #[serde(rename = "dynamoDBReaderTaskContinuousPollFrequency")]
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub continuous_poll_frequency: Option<String>,
}

/// `manifestFile` of a DynamoDB table read connector (`manifestType`
/// absent or `DynamoDBTableReaderManifest`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDynamoDbTableManifest {
    /// Already read to choose this struct.
    #[serde(rename = "manifestType")]
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub manifest_type: Option<String>,
    /// Scan segments, one task each.
    #[serde(rename = "dynamoDBTableReaderSegments")]
    pub segments: Option<u64>,
    /// A DynamoDB filter expression.
    #[serde(rename = "dynamoDBTableReaderFilterExpression")]
    pub filter_expression: Option<String>,
    /// `#name` placeholders of the filter expression.
    #[serde(rename = "dynamoDBTableReaderExpressionAttributeNames")]
    pub expression_attribute_names: Option<std::collections::BTreeMap<String, String>>,
    /// `:value` placeholders of the filter expression, as plain JSON.
    #[serde(rename = "dynamoDBTableReaderExpressionAttributeValues")]
    pub expression_attribute_values: Option<serde_json::Map<String, Value>>,
    /// `SingleScan` (default) or `Continuous`.
    #[serde(rename = "dynamoDBTableReaderTaskStopCondition")]
    pub stop_condition: Option<String>,
}
