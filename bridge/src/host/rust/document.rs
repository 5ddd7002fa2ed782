//! The LetsData document model, for Rust handlers.
//!
//! A [`Document`] is what a record becomes; an ErrorDoc and a SkipDoc are
//! documents of another [`DocumentType`] that also carry a message and
//! the start and end offsets of the record, as in the Python and JS
//! models. A handler returns one in a [`ParseDocumentResult`] whose
//! status tells ferry where it goes: SUCCESS with a Document to the
//! sink, SKIP (or a SkipDoc) to the skip counter, anything else to the
//! error folder.
//!
//! Sinks write a document in its flat form (see [`crate::flat_json`]):
//! `documentId`, `recordType`, `partitionKey` (JSON `null` when `None`),
//! `documentMetadata`, then the key-values entries in insertion order.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Display;

use serde_json::{Map, Value};

use crate::flat_json::{self, FlatDocument, HeadField};

/// What a returned document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DocumentType {
    /// A record turned into a document, written to the sink.
    #[default]
    Document,
    /// A record that could not be turned into a document; written to the
    /// error folder with its message and offsets.
    ErrorDoc,
    /// A record deliberately left out; only counted.
    SkipDoc,
}

/// A document, an ErrorDoc or a SkipDoc.
///
/// Build one with [`Document::new`], [`Document::error_doc`] or
/// [`Document::skip_doc`] and the `with_*` methods; the fields are public
/// for handlers that would rather fill them in directly.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    pub document_type: DocumentType,
    /// `documentId`; `None` is written as `null` (an ErrorDoc for a record
    /// that could not be read often has no id).
    pub document_id: Option<String>,
    /// `recordType`; `None` is written as `null`.
    pub record_type: Option<String>,
    /// `partitionKey`; `None` is written as `null`.
    pub partition_key: Option<String>,
    /// `documentMetadata`, in insertion order.
    pub document_metadata: Map<String, Value>,
    /// `documentKeyValuesMap`, in insertion order. Entries named like a
    /// head field (`documentId`, `recordType`, `partitionKey`,
    /// `documentMetadata`) are left out of the flat form.
    pub document_key_values: Map<String, Value>,
    /// ErrorDoc and SkipDoc: `errorStartoffsetMap`, file type to the
    /// offset of the record's first byte.
    pub error_start_offsets: BTreeMap<String, String>,
    /// ErrorDoc and SkipDoc: `errorEndoffsetMap`, file type to the offset
    /// just after the record.
    pub error_end_offsets: BTreeMap<String, String>,
    /// `errorMessage` of an ErrorDoc, `skipMessage` of a SkipDoc; empty
    /// for a Document.
    pub message: String,
}

impl Document {
    /// A Document with its id and record type.
    pub fn new(document_id: impl Into<String>, record_type: impl Into<String>) -> Self {
        Self { document_id: Some(document_id.into()), record_type: Some(record_type.into()), ..Self::default() }
    }

    /// An ErrorDoc with its message, and no id or record type.
    pub fn error_doc(error_message: impl Into<String>) -> Self {
        Self { document_type: DocumentType::ErrorDoc, message: error_message.into(), ..Self::default() }
    }

    /// A SkipDoc with its message, and no id or record type.
    pub fn skip_doc(skip_message: impl Into<String>) -> Self {
        Self { document_type: DocumentType::SkipDoc, message: skip_message.into(), ..Self::default() }
    }

    pub fn with_document_id(mut self, document_id: impl Into<String>) -> Self {
        self.document_id = Some(document_id.into());
        self
    }

    pub fn with_record_type(mut self, record_type: impl Into<String>) -> Self {
        self.record_type = Some(record_type.into());
        self
    }

    pub fn with_partition_key(mut self, partition_key: impl Into<String>) -> Self {
        self.partition_key = Some(partition_key.into());
        self
    }

    /// Adds (or replaces, keeping its place) one `documentMetadata` entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.document_metadata.insert(key.into(), value.into());
        self
    }

    /// Adds (or replaces, keeping its place) one `documentKeyValuesMap`
    /// entry.
    pub fn with_value(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.document_key_values.insert(key.into(), value.into());
        self
    }

    /// Sets the whole `documentKeyValuesMap`.
    pub fn with_key_values(mut self, key_values: Map<String, Value>) -> Self {
        self.document_key_values = key_values;
        self
    }

    /// Adds an `errorStartoffsetMap` entry (ErrorDoc, SkipDoc).
    pub fn with_start_offset(mut self, file_type: impl Into<String>, offset: impl Display) -> Self {
        self.error_start_offsets.insert(file_type.into(), offset.to_string());
        self
    }

    /// Adds an `errorEndoffsetMap` entry (ErrorDoc, SkipDoc).
    pub fn with_end_offset(mut self, file_type: impl Into<String>, offset: impl Display) -> Self {
        self.error_end_offsets.insert(file_type.into(), offset.to_string());
        self
    }

    /// Appends the document's flat form (what sinks write) to `out`.
    pub fn write_flat_json(&self, out: &mut Vec<u8>) {
        let Ok(()) = flat_json::write_document(self, out);
    }

    /// The document's flat form, as sinks write it.
    pub fn to_flat_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        self.write_flat_json(&mut out);
        out
    }
}

impl FlatDocument for Document {
    type Error = Infallible;

    fn write_head(&self, field: HeadField, out: &mut Vec<u8>) -> Result<(), Infallible> {
        match field {
            HeadField::DocumentId => write_optional(self.document_id.as_deref(), out),
            HeadField::RecordType => write_optional(self.record_type.as_deref(), out),
            HeadField::PartitionKey => write_optional(self.partition_key.as_deref(), out),
            HeadField::DocumentMetadata => write_map(&self.document_metadata, out),
        }
        Ok(())
    }

    fn write_entries(&self, out: &mut Vec<u8>) -> Result<(), Infallible> {
        for (key, value) in &self.document_key_values {
            if !flat_json::is_reserved(key) {
                flat_json::write_entry_key(key, out);
                write_value(value, out);
            }
        }
        Ok(())
    }
}

fn write_optional(text: Option<&str>, out: &mut Vec<u8>) {
    match text {
        Some(text) => flat_json::write_str(text, out),
        None => out.extend_from_slice(b"null"),
    }
}

// A serde_json value always serializes (string keys, finite numbers), and
// writing into a Vec cannot fail.
fn write_value(value: &Value, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, value);
}

fn write_map(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, map);
}

/// Where a parsed record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseDocumentResultStatus {
    Success,
    Error,
    Skip,
}

/// What `parse_document` returns: the document and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDocumentResult {
    /// The next state of a state-machine reader; `None` for stateless
    /// parsers.
    pub next_record_type: Option<String>,
    /// Required when the status is SUCCESS.
    pub document: Option<Document>,
    pub status: ParseDocumentResultStatus,
}

impl ParseDocumentResult {
    pub fn new(
        next_record_type: Option<String>,
        document: Option<Document>,
        status: ParseDocumentResultStatus,
    ) -> Self {
        Self { next_record_type, document, status }
    }

    /// SUCCESS with `document`, which goes to the sink.
    pub fn success(document: Document) -> Self {
        Self::new(None, Some(document), ParseDocumentResultStatus::Success)
    }

    /// ERROR with `document` (an ErrorDoc), which goes to the error folder.
    pub fn error(document: Document) -> Self {
        Self::new(None, Some(document), ParseDocumentResultStatus::Error)
    }

    /// SKIP with `document` (a SkipDoc), which is only counted.
    pub fn skip(document: Document) -> Self {
        Self::new(None, Some(document), ParseDocumentResultStatus::Skip)
    }
}

/// How a record's start or end is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordHintType {
    /// A byte pattern: a record starts at it, or ends just after it.
    Pattern,
    /// A fixed offset: 0 for "where the previous record ended".
    Offset,
}

/// The answer of `get_record_start_pattern` / `get_record_end_pattern`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordParseHint {
    record_hint_type: RecordHintType,
    pattern: Vec<u8>,
    offset: i64,
}

impl RecordParseHint {
    /// A PATTERN hint (the UTF-8 of a string, or raw bytes). It must not
    /// be empty.
    pub fn from_pattern(pattern: impl Into<Vec<u8>>) -> Self {
        Self { record_hint_type: RecordHintType::Pattern, pattern: pattern.into(), offset: -1 }
    }

    /// An OFFSET hint.
    pub fn from_offset(offset: i64) -> Self {
        Self { record_hint_type: RecordHintType::Offset, pattern: Vec::new(), offset }
    }

    pub fn record_hint_type(&self) -> RecordHintType {
        self.record_hint_type
    }

    /// The pattern of a PATTERN hint.
    pub fn pattern(&self) -> Option<&[u8]> {
        (self.record_hint_type == RecordHintType::Pattern).then_some(self.pattern.as_slice())
    }

    /// The offset of an OFFSET hint.
    pub fn offset(&self) -> Option<i64> {
        (self.record_hint_type == RecordHintType::Offset).then_some(self.offset)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn flat(document: &Document) -> String {
        String::from_utf8(document.to_flat_json()).unwrap_or_default()
    }

    #[test]
    fn a_document_is_written_head_first_then_its_values_in_insertion_order() {
        let document = Document::new("id-1", "LogEntry")
            .with_partition_key("web-01")
            .with_metadata("file", "logs.jsonl")
            .with_metadata("offset", 120)
            .with_value("ts", 1_700_000_000_000_u64)
            .with_value("msg", "a \"quoted\" é")
            .with_value("nested", json!({"z": [1, 2.5, null], "a": true}));
        assert_eq!(
            flat(&document),
            r#"{"documentId":"id-1","recordType":"LogEntry","partitionKey":"web-01","documentMetadata":{"file":"logs.jsonl","offset":120},"ts":1700000000000,"msg":"a \"quoted\" é","nested":{"z":[1,2.5,null],"a":true}}"#
        );
    }

    #[test]
    fn missing_fields_are_null_and_missing_metadata_is_an_empty_object() {
        let error = Document::error_doc("not JSON").with_record_type("LogEntry");
        assert_eq!(
            flat(&error),
            r#"{"documentId":null,"recordType":"LogEntry","partitionKey":null,"documentMetadata":{}}"#
        );
    }

    #[test]
    fn key_values_named_like_the_head_are_left_out() {
        let document = Document::new("real", "T")
            .with_value("documentId", "fake")
            .with_value("documentMetadata", json!({"x": 1}))
            .with_value("kept", 1);
        assert_eq!(
            flat(&document),
            r#"{"documentId":"real","recordType":"T","partitionKey":null,"documentMetadata":{},"kept":1}"#
        );
    }

    #[test]
    fn replacing_a_value_keeps_its_place() {
        let document = Document::new("i", "T").with_value("a", 1).with_value("b", 2).with_value("a", 3);
        assert_eq!(
            flat(&document),
            r#"{"documentId":"i","recordType":"T","partitionKey":null,"documentMetadata":{},"a":3,"b":2}"#
        );
    }

    #[test]
    fn error_and_skip_docs_carry_their_message_and_offsets() {
        let skip = Document::skip_doc("debug line").with_start_offset("LOGS", 10_u64).with_end_offset("LOGS", 25_u64);
        assert_eq!(skip.document_type, DocumentType::SkipDoc);
        assert_eq!(skip.message, "debug line");
        assert_eq!(skip.error_start_offsets, BTreeMap::from([("LOGS".to_owned(), "10".to_owned())]));
        assert_eq!(skip.error_end_offsets, BTreeMap::from([("LOGS".to_owned(), "25".to_owned())]));
        assert_eq!(ParseDocumentResult::skip(skip).status, ParseDocumentResultStatus::Skip);
    }

    #[test]
    fn hints_answer_only_for_their_type() {
        let pattern = RecordParseHint::from_pattern("\n");
        assert_eq!((pattern.pattern(), pattern.offset()), (Some(&b"\n"[..]), None));
        let offset = RecordParseHint::from_offset(0);
        assert_eq!(
            (offset.record_hint_type(), offset.pattern(), offset.offset()),
            (RecordHintType::Offset, None, Some(0))
        );
    }
}
