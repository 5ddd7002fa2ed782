//! Document sinks: where a task's documents go.
//!
//! A run builds one [`SinkFactory`] for its write connector; each task
//! opens a [`DocumentSink`] from it at the task's sink checkpoint. The
//! pipeline hands the sink the documents of each routed batch, in record
//! order, and asks it at every checkpoint how much of what it was given is
//! durable ([`Durable`]). Most sinks write through, so everything handed
//! over is durable once `flush` returns; a sink that gathers documents
//! into large objects (S3 aggregate files) reports only the writes its
//! uploaded objects cover, and the pipeline commits the source position of
//! the last of those. Work after that position is redone on resume.
//!
//! A document the destination refuses for what it is (too large, missing
//! its key, failing a condition) is not a failure of the task: `write`
//! returns it as a [`Rejection`] and the pipeline turns it into an error
//! document.

pub mod delivered;
pub mod dynamodb;
pub mod jsonl_file;
pub mod kafka;
pub mod kinesis;
pub mod metrics;
pub mod retry;
pub mod s3_aggregate;
pub mod s3_objects;
pub mod sqs;

use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use bytes::Bytes;

pub use metrics::SinkMetrics;

use crate::config::{S3Layout, WriteConnector};

/// A document the destination refused, by its index in the `write` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub index: usize,
    /// Names the kind of refusal, e.g. `DocumentTooLarge`,
    /// `MissingKeyAttribute`, `ConditionalCheckFailed`.
    pub error_type: String,
    pub message: String,
}

/// What a sink has made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durable {
    /// `write` calls, counted from the sink's opening, whose documents are
    /// all durable at the destination.
    pub writes: u64,
    /// The sink's checkpoint for that point, stored with the task's
    /// checkpoint and handed back to `SinkFactory::open` on resume.
    pub checkpoint: String,
}

/// One task's writer to the destination.
#[async_trait]
pub trait DocumentSink: Send {
    /// Writes (or, for a gathering sink, takes) the documents of one batch,
    /// in record order; each is the document's flat JSON. Returns the
    /// documents the destination refused; the others are written.
    async fn write(&mut self, documents: Vec<Bytes>) -> Result<Vec<Rejection>, SinkError>;

    /// Makes what the sink can durable and says how far that reaches.
    /// With `last`, the task is ending (completed, caught up or
    /// interrupted): everything taken must be made durable.
    async fn flush(&mut self, last: bool) -> Result<Durable, SinkError>;
}

/// Opens each task's sink; one per run.
#[async_trait]
pub trait SinkFactory: Send + Sync + std::fmt::Debug {
    /// Opens the sink of `task_id` at `checkpoint` (the start when `None`).
    async fn open(&self, task_id: &str, checkpoint: Option<&str>) -> Result<Box<dyn DocumentSink>, SinkError>;

    /// Where documents go, as the run summary shows it.
    fn describe(&self) -> String;
}

/// The sink factory of `connector`, connected and checked (the stream,
/// queue, table, bucket or topic exists) before any task starts. `aws` is
/// the run's AWS configuration, required for the AWS destinations.
pub async fn connect(
    connector: &WriteConnector,
    aws: Option<&SdkConfig>,
    metrics: Arc<SinkMetrics>,
) -> Result<Arc<dyn SinkFactory>, SinkError> {
    let aws = || aws.expect("the run loads the AWS configuration for an AWS destination");
    Ok(match connector {
        WriteConnector::File { directory } => {
            Arc::new(jsonl_file::JsonLinesFiles { directory: directory.clone(), metrics })
        }
        WriteConnector::Kinesis { stream } => Arc::new(kinesis::KinesisSinks::connect(aws(), stream, metrics).await?),
        WriteConnector::Sqs { queue_name, message_id_attribute } => {
            Arc::new(sqs::SqsSinks::connect(aws(), queue_name, message_id_attribute, metrics).await?)
        }
        WriteConnector::DynamoDb { table_name, writers } => {
            Arc::new(dynamodb::DynamoDbSinks::connect(aws(), table_name, *writers, metrics).await?)
        }
        WriteConnector::S3 { bucket, key_prefix, layout: S3Layout::PerRecord } => {
            Arc::new(s3_objects::S3ObjectSinks::connect(aws(), bucket, key_prefix, metrics).await?)
        }
        WriteConnector::S3 { bucket, key_prefix, layout: S3Layout::Aggregate { separator, file_size_bytes } } => {
            Arc::new(
                s3_aggregate::S3AggregateSinks::connect(
                    aws(),
                    bucket,
                    key_prefix,
                    separator,
                    *file_size_bytes,
                    metrics,
                )
                .await?,
            )
        }
        WriteConnector::Kafka { bootstrap_servers, topic, partitions } => {
            Arc::new(kafka::KafkaSinks::connect(bootstrap_servers, topic, *partitions, metrics).await?)
        }
    })
}

/// Why a sink could not take or keep documents. Documents are never lost
/// by it: the task stops before its checkpoint moves past them, and the
/// next run redoes them.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A local file could not be written: the environment's fault (disk
    /// full, permissions); a retry after fixing it resumes.
    #[error("cannot write {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    /// The stored sink checkpoint does not belong to this sink: the store
    /// was changed by hand, or the dataset's destination changed. Not
    /// retryable; run the dataset with --restart.
    #[error(
        "the sink checkpoint {checkpoint:?} of {resource} cannot be read: {reason}; run the dataset with --restart"
    )]
    BadCheckpoint { resource: String, checkpoint: String, reason: String },
    /// Output was changed outside ferry since the last checkpoint. Not
    /// retryable; run the dataset with --restart.
    #[error(
        "{resource} is shorter ({length} bytes) than its checkpoint ({checkpoint} bytes): it was changed outside ferry; run the dataset with --restart"
    )]
    Truncated { resource: String, length: u64, checkpoint: u64 },
    /// The destination failed a call. `retryable` says whether it called
    /// the failure transient (throttling, a timeout, a 5xx; retries were
    /// already made) as opposed to a missing resource or denied access.
    #[error("{operation} on {resource} failed: {message}")]
    Service { operation: &'static str, resource: String, message: String, retryable: bool },
}

impl SinkError {
    /// Whether running the task again, unchanged, may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SinkError::Service { retryable, .. } => *retryable,
            SinkError::Io { .. } | SinkError::BadCheckpoint { .. } | SinkError::Truncated { .. } => false,
        }
    }
}

/// A file name for a task's output: the task id with every character
/// outside `[A-Za-z0-9._-]` percent-encoded, so distinct tasks never share
/// a file and the name stays readable for plain manifest names.
pub fn task_file_stem(task_id: &str) -> String {
    let mut stem = String::with_capacity(task_id.len());
    for byte in task_id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            stem.push(char::from(byte));
        } else {
            stem.push_str(&format!("%{byte:02X}"));
        }
    }
    stem
}

/// A string field of a document's flat JSON, e.g. `documentId` or
/// `partitionKey`; `None` when absent or not a string.
pub fn document_string_field(document: &[u8], field: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Fields<'a>(#[serde(borrow)] std::collections::HashMap<&'a str, &'a serde_json::value::RawValue>);
    let fields: Fields<'_> = serde_json::from_slice(document).ok()?;
    let raw = fields.0.get(field)?;
    serde_json::from_str::<String>(raw.get()).ok()
}

#[cfg(test)]
mod tests {
    use super::{document_string_field, task_file_stem};

    #[test]
    fn stems_are_readable_and_distinct() {
        assert_eq!(task_file_stem("logs-0001.jsonl.gz"), "logs-0001.jsonl.gz");
        assert_eq!(task_file_stem("2024/a b.jsonl"), "2024%2Fa%20b.jsonl");
        assert_ne!(task_file_stem("a/b"), task_file_stem("a_b"));
    }

    #[test]
    fn string_fields_are_read_from_flat_documents() {
        let document = br#"{"documentId":"a\"1","n":5,"partitionKey":"p","nested":{"documentId":"x"}}"#;
        assert_eq!(document_string_field(document, "documentId").as_deref(), Some("a\"1"));
        assert_eq!(document_string_field(document, "partitionKey").as_deref(), Some("p"));
        assert_eq!(document_string_field(document, "n"), None);
        assert_eq!(document_string_field(document, "missing"), None);
        assert_eq!(document_string_field(b"not json", "documentId"), None);
    }
}
