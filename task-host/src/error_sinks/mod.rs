//! Where records that failed go, with the reason.
//!
//! Every error sink names a record's error document after its task and
//! its key (`TASK@KEY.json`), so redoing work after a crash rewrites the
//! same documents instead of adding copies, and a task resumed at a key
//! can remove the documents of the work it is about to redo.

pub mod folder;
pub mod s3;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::config::ErrorConnector;
use crate::sinks::task_file_stem;

/// Bytes of the failed record kept in its error document.
pub const RECORD_EXCERPT_BYTES: usize = 4096;

/// One failed record, as the error sinks write it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRecord<'a> {
    pub dataset: &'a str,
    pub task: &'a str,
    /// The record's key within its task (see `RecordOrigin::key`); names
    /// the error document.
    #[serde(skip)]
    pub key: &'a str,
    /// Where the record came from, e.g. `file`, `resolvedFileName`,
    /// `offsetBytes` and `endOffsetBytes` for a file.
    #[serde(flatten)]
    pub origin: &'a Map<String, Value>,
    /// `ErrorDoc` when the handler returned one; the exception's class
    /// when it raised; `RecordTooLarge` or `InvalidHandlerResult` when
    /// ferry refused the record or the result.
    pub error_type: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
    /// Whether the handler marked the failure as transient.
    pub retryable: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub error_start_offset_map: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub error_end_offset_map: BTreeMap<String, String>,
    /// The ErrorDoc in its flat form, when the handler returned one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<Box<RawValue>>,
    /// The start of the record, decoded as UTF-8 with replacement.
    pub record: String,
    pub record_truncated: bool,
}

/// The first `RECORD_EXCERPT_BYTES` of a record as text, and whether it
/// was cut.
pub fn record_excerpt(bytes: &[u8]) -> (String, bool) {
    let cut = bytes.len() > RECORD_EXCERPT_BYTES;
    let shown = &bytes[..bytes.len().min(RECORD_EXCERPT_BYTES)];
    (String::from_utf8_lossy(shown).into_owned(), cut)
}

/// The error sink of `connector`, checked (the bucket exists) before any
/// task starts. `aws` is the run's AWS configuration, required for S3.
pub async fn connect(
    connector: &ErrorConnector,
    aws: Option<&SdkConfig>,
) -> Result<Arc<dyn ErrorSink>, ErrorSinkError> {
    Ok(match connector {
        ErrorConnector::Folder { directory } => Arc::new(folder::ErrorFolder::new(directory)),
        ErrorConnector::S3 { bucket, key_prefix } => {
            let aws = aws.expect("the run loads the AWS configuration for an S3 error connector");
            Arc::new(s3::S3ErrorSink::connect(aws, bucket, key_prefix).await?)
        }
    })
}

/// Where a run's failed records go.
#[async_trait]
pub trait ErrorSink: Send + Sync + std::fmt::Debug {
    /// Writes the error documents of one batch's failed records.
    async fn write(&self, records: &[ErrorRecord<'_>]) -> Result<(), ErrorSinkError>;

    /// Makes every error document written so far durable; called before
    /// each checkpoint.
    async fn sync(&self) -> Result<(), ErrorSinkError>;

    /// Removes the task's error documents whose key sorts at or after
    /// `key`: work from there on is about to be redone, and may now
    /// succeed. Returns how many were removed.
    async fn clear_from(&self, task: &str, key: &str) -> Result<usize, ErrorSinkError>;

    /// Where error documents go, as the run summary shows it.
    fn describe(&self) -> String;
}

/// The error sink could not be written: the environment's fault (disk
/// full, permissions, a failing service); the task stops and resumes from
/// its last checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum ErrorSinkError {
    #[error("cannot write error document {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    /// `retryable` says whether the service called the failure transient.
    #[error("{operation} on {resource} failed: {message}")]
    Service { operation: &'static str, resource: String, message: String, retryable: bool },
}

impl ErrorSinkError {
    /// Whether running the task again, unchanged, may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ErrorSinkError::Service { retryable: true, .. })
    }
}

/// A record's error document as every error sink stores it: pretty JSON
/// and a newline.
pub fn document_body(record: &ErrorRecord<'_>) -> Result<Vec<u8>, serde_json::Error> {
    let mut body = serde_json::to_vec_pretty(record)?;
    body.push(b'\n');
    Ok(body)
}

/// The name of a record's error document: `TASK@KEY.json`, both parts
/// percent-encoded as file names.
pub fn document_name(task: &str, key: &str) -> String {
    format!("{}@{}.json", task_file_stem(task), task_file_stem(key))
}

/// Whether `name` is the error document of `task` for a key at or after
/// `key` (see [`document_name`]).
pub fn named_from(name: &str, task: &str, key: &str) -> bool {
    let Some(found) =
        name.strip_prefix(&format!("{}@", task_file_stem(task))).and_then(|rest| rest.strip_suffix(".json"))
    else {
        return false;
    };
    *found >= *task_file_stem(key)
}
