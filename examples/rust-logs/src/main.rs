//! A SingleFileParser for JSON log lines: `examples/python-logs/handler.py`
//! in Rust, linked into its own `ferry` binary.
//!
//! One line is one record. A line becomes a LogEntry document keyed by its
//! `id`; DEBUG lines are skipped; a line that is not JSON becomes an error
//! document; a line without an `id` fails with a `KeyError`, which ferry
//! records as an error.
//!
//! The binary is the whole `ferry` command line (`rust-logs run
//! dataset.json`, `rust-logs tasks list ...`) with this parser behind
//! every dataset whose `artifactImplementationLanguage` is `Rust`.
//!
//! Its documents are byte for byte those of the Python handler; the
//! messages of its errors are Rust's own (serde_json's, for lines that are
//! not JSON).

use std::process::ExitCode;

use ferry_bridge::host::rust::{
    Document, HandlerFailure, ParseDocumentResult, RecordParseHint, RustHandlers, SingleFileParser,
};
use serde_json::Value;

const RECORD_TYPE: &str = "LogEntry";

struct LogLineParser;

impl SingleFileParser for LogLineParser {
    fn get_s3_file_type(&self) -> String {
        "LOGS".to_owned()
    }

    fn get_record_start_pattern(&self, _s3_file_type: &str) -> RecordParseHint {
        // Every record starts where the previous one ended.
        RecordParseHint::from_offset(0)
    }

    fn get_record_end_pattern(&self, _s3_file_type: &str) -> RecordParseHint {
        RecordParseHint::from_pattern("\n")
    }

    fn parse_document(
        &self,
        s3_file_type: &str,
        s3_filename: &str,
        offset_bytes: u64,
        record: &[u8],
    ) -> Result<ParseDocumentResult, HandlerFailure> {
        let line = std::str::from_utf8(record)?.trim();
        let end_offset = offset_bytes + record.len() as u64;
        let entry = match serde_json::from_str::<Value>(line) {
            Ok(entry) => entry,
            Err(err) => {
                let error = Document::error_doc(format!("not JSON: {err}"))
                    .with_record_type(RECORD_TYPE)
                    .with_partition_key(s3_filename)
                    .with_start_offset(s3_file_type, offset_bytes)
                    .with_end_offset(s3_file_type, end_offset);
                return Ok(ParseDocumentResult::error(error));
            }
        };
        let Value::Object(mut entry) = entry else {
            return Err(HandlerFailure::new("TypeError", "the line is JSON but not an object"));
        };
        if entry.get("level").and_then(Value::as_str) == Some("DEBUG") {
            let mut skip = Document::skip_doc("debug line")
                .with_record_type(RECORD_TYPE)
                .with_partition_key(s3_filename)
                .with_start_offset(s3_file_type, offset_bytes)
                .with_end_offset(s3_file_type, end_offset);
            skip.document_id = entry.get("id").map(text);
            return Ok(ParseDocumentResult::skip(skip));
        }
        // In the order the Python handler reads them, so both report the
        // same key missing.
        if let Some(missing) = ["id", "host", "ts", "level", "msg"].into_iter().find(|key| !entry.contains_key(*key)) {
            return Err(HandlerFailure::missing_key(missing));
        }
        let mut take = |key: &str| entry.remove(key).unwrap_or_default();
        let (id, host, ts, level, msg) = (take("id"), take("host"), take("ts"), take("level"), take("msg"));
        let document = Document {
            document_id: optional_text(id),
            partition_key: optional_text(host.clone()),
            ..Document::default()
        }
        .with_record_type(RECORD_TYPE)
        .with_metadata("file", s3_filename)
        .with_metadata("offset", offset_bytes)
        .with_value("ts", ts)
        .with_value("level", level)
        .with_value("host", host)
        .with_value("msg", msg);
        Ok(ParseDocumentResult::success(document))
    }
}

/// A JSON string's text; other values as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Like `text`, with JSON `null` as `None` (written back as `null`).
fn optional_text(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text),
        other => Some(other.to_string()),
    }
}

fn main() -> ExitCode {
    let handlers =
        RustHandlers::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")).single_file_parser(LogLineParser);
    ferry_task_host::cli::main_with(handlers)
}
