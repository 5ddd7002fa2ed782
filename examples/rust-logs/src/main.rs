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
//! `python` reproduces the Python behaviours the original relies on
//! (UTF-8 and JSON error messages, `str.strip`), so both write the same
//! bytes; see its docs for what still differs.

mod python;

use std::process::ExitCode;

use ferry_bridge::host::rust::{
    Document, HandlerFailure, ParseDocumentResult, RecordParseHint, RustHandlers, SingleFileParser,
};
use serde_json::Value;

use python::LoadError;

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
        let line = python::strip(python::decode_utf8(record)?);
        let end_offset = offset_bytes + record.len() as u64;
        let entry = match python::json_loads(line) {
            Ok(entry) => entry,
            Err(LoadError::Decode(message)) => {
                let error = Document::error_doc(format!("not JSON: {message}"))
                    .with_record_type(RECORD_TYPE)
                    .with_partition_key(s3_filename)
                    .with_start_offset(s3_file_type, offset_bytes)
                    .with_end_offset(s3_file_type, end_offset);
                return Ok(ParseDocumentResult::error(error));
            }
            Err(LoadError::Other(failure)) => return Err(failure),
        };
        let mut entry = python::into_dict(entry)?;
        if entry.get("level").and_then(Value::as_str) == Some("DEBUG") {
            let mut skip = Document::skip_doc("debug line")
                .with_record_type(RECORD_TYPE)
                .with_partition_key(s3_filename)
                .with_start_offset(s3_file_type, offset_bytes)
                .with_end_offset(s3_file_type, end_offset);
            skip.document_id = entry.get("id").map(text);
            return Ok(ParseDocumentResult::skip(skip));
        }
        // In the order Python evaluates `entry[...]`, so the same key is
        // reported missing.
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

/// A JSON string's text; other values as JSON (see `python`'s docs).
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
