//! Where records that failed go, with the reason.

pub mod folder;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

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
