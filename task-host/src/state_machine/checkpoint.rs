//! The checkpoints of state-machine tasks: JSON holding, for each file,
//! where it stands ([`FilePosition`]) and, for a multiple-file task, the
//! last document and how many results came before.
//!
//! ```json
//! {"offset":120,"lastRecordType":"BODY","nextRecordType":null,"lastDocument":{..}}
//! {"files":{"ITEMS":{..},"ORDERS":{..}},"lastDocument":{..},"results":42}
//! ```
//!
//! Documents are kept with the LetsData field names of the Python and JS
//! document model (`documentType`, `documentKeyValuesMap`,
//! `errorStartoffsetMap`, ...) plus `message`, so everything a parser
//! sees of its last document is restored exactly.

use std::collections::BTreeMap;

use ferry_bridge::host::rust::{Document, DocumentType};
use serde_json::{Map, Value, json};

use super::file_reader::FilePosition;

/// The checkpoint of a single-file task.
pub fn encode_file(position: &FilePosition) -> String {
    file_json(position).to_string()
}

pub fn decode_file(text: &str) -> Result<FilePosition, String> {
    let value: Value = serde_json::from_str(text).map_err(|err| format!("it is not JSON: {err}"))?;
    file_position(&value)
}

/// Where a multiple-file task stands between two `parseDocument` calls.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReaderCheckpoint {
    /// Each file's position, by file type.
    pub files: BTreeMap<String, FilePosition>,
    /// The document the last call returned.
    pub last_document: Option<Document>,
    /// Results routed before; numbers the next one.
    pub results: u64,
}

pub fn encode_reader(checkpoint: &ReaderCheckpoint) -> String {
    let files: Map<String, Value> =
        checkpoint.files.iter().map(|(file_type, position)| (file_type.clone(), file_json(position))).collect();
    json!({
        "files": files,
        "lastDocument": checkpoint.last_document.as_ref().map(document_json),
        "results": checkpoint.results,
    })
    .to_string()
}

pub fn decode_reader(text: &str) -> Result<ReaderCheckpoint, String> {
    let value: Value = serde_json::from_str(text).map_err(|err| format!("it is not JSON: {err}"))?;
    let files = value["files"].as_object().ok_or("files is not an object")?;
    Ok(ReaderCheckpoint {
        files: files
            .iter()
            .map(|(file_type, position)| Ok((file_type.clone(), file_position(position)?)))
            .collect::<Result<_, String>>()?,
        last_document: optional_document(&value["lastDocument"])?,
        results: value["results"].as_u64().ok_or("results is not a count")?,
    })
}

fn file_json(position: &FilePosition) -> Value {
    json!({
        "offset": position.offset,
        "lastRecordType": position.last_record_type,
        "nextRecordType": position.next_record_type,
        "lastDocument": position.last_document.as_ref().map(document_json),
    })
}

fn file_position(value: &Value) -> Result<FilePosition, String> {
    Ok(FilePosition {
        offset: value["offset"].as_u64().ok_or("offset is not a byte offset")?,
        last_record_type: optional_text(&value["lastRecordType"], "lastRecordType")?,
        next_record_type: optional_text(&value["nextRecordType"], "nextRecordType")?,
        last_document: optional_document(&value["lastDocument"])?,
    })
}

fn optional_text(value: &Value, name: &str) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text.clone())),
        other => Err(format!("{name} is {other}, not a string")),
    }
}

fn document_json(document: &Document) -> Value {
    let offsets = |map: &BTreeMap<String, String>| -> Map<String, Value> {
        map.iter().map(|(key, value)| (key.clone(), Value::from(value.as_str()))).collect()
    };
    json!({
        "documentType": match document.document_type {
            DocumentType::Document => "Document",
            DocumentType::ErrorDoc => "ErrorDoc",
            DocumentType::SkipDoc => "SkipDoc",
        },
        "documentId": document.document_id,
        "recordType": document.record_type,
        "partitionKey": document.partition_key,
        "documentMetadata": document.document_metadata,
        "documentKeyValuesMap": document.document_key_values,
        "errorStartoffsetMap": offsets(&document.error_start_offsets),
        "errorEndoffsetMap": offsets(&document.error_end_offsets),
        "message": document.message,
    })
}

fn optional_document(value: &Value) -> Result<Option<Document>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let document_type = match value["documentType"].as_str() {
        Some("Document") => DocumentType::Document,
        Some("ErrorDoc") => DocumentType::ErrorDoc,
        Some("SkipDoc") => DocumentType::SkipDoc,
        _ => return Err(format!("lastDocument.documentType is {}", value["documentType"])),
    };
    let object = |name: &str| -> Result<Map<String, Value>, String> {
        value[name].as_object().cloned().ok_or_else(|| format!("lastDocument.{name} is not an object"))
    };
    let offsets = |name: &str| -> Result<BTreeMap<String, String>, String> {
        object(name)?
            .into_iter()
            .map(|(key, offset)| match offset {
                Value::String(offset) => Ok((key, offset)),
                other => Err(format!("lastDocument.{name}.{key} is {other}, not a string")),
            })
            .collect()
    };
    Ok(Some(Document {
        document_type,
        document_id: optional_text(&value["documentId"], "lastDocument.documentId")?,
        record_type: optional_text(&value["recordType"], "lastDocument.recordType")?,
        partition_key: optional_text(&value["partitionKey"], "lastDocument.partitionKey")?,
        document_metadata: object("documentMetadata")?,
        document_key_values: object("documentKeyValuesMap")?,
        error_start_offsets: offsets("errorStartoffsetMap")?,
        error_end_offsets: offsets("errorEndoffsetMap")?,
        message: value["message"].as_str().ok_or("lastDocument.message is not a string")?.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rich_document() -> Document {
        Document::error_doc("body of m-1 is not UTF-8")
            .with_document_id("m-1")
            .with_record_type("BODY")
            .with_partition_key("alice")
            .with_metadata("offset", 12)
            .with_value("z", json!({"nested": [1, 2.5, null, "é"]}))
            .with_value("a", true)
            .with_start_offset("MESSAGES", 12_u64)
            .with_end_offset("MESSAGES", 40_u64)
    }

    #[test]
    fn file_positions_round_trip_with_every_document_field() {
        for last_document in [None, Some(rich_document()), Some(Document::skip_doc("")), Some(Document::new("i", "T"))]
        {
            let position = FilePosition {
                offset: 40,
                last_record_type: Some("BODY".to_owned()),
                next_record_type: None,
                last_document,
            };
            assert_eq!(decode_file(&encode_file(&position)), Ok(position));
        }
        let start = FilePosition::default();
        assert_eq!(
            encode_file(&start),
            r#"{"offset":0,"lastRecordType":null,"nextRecordType":null,"lastDocument":null}"#
        );
        // Key-value order is kept: it is the order documents are written in.
        let decoded = decode_file(&encode_file(&FilePosition { last_document: Some(rich_document()), ..start }));
        let keys: Vec<String> = decoded
            .ok()
            .and_then(|position| position.last_document)
            .map(|document| document.document_key_values.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["z", "a"]);
    }

    #[test]
    fn reader_checkpoints_round_trip() {
        let checkpoint = ReaderCheckpoint {
            files: BTreeMap::from([
                ("ITEMS".to_owned(), FilePosition { offset: 7, ..FilePosition::default() }),
                (
                    "ORDERS".to_owned(),
                    FilePosition {
                        offset: 3,
                        last_record_type: Some("ORDER".to_owned()),
                        next_record_type: Some("ORDER".to_owned()),
                        last_document: Some(Document::new("o1", "ORDER")),
                    },
                ),
            ]),
            last_document: Some(rich_document()),
            results: 5,
        };
        assert_eq!(decode_reader(&encode_reader(&checkpoint)), Ok(checkpoint));
    }

    #[test]
    fn foreign_checkpoints_are_refused_with_the_reason() {
        assert_eq!(decode_file("120"), Err("offset is not a byte offset".to_owned()));
        assert!(decode_file("{").is_err_and(|reason| reason.starts_with("it is not JSON")));
        assert_eq!(
            decode_file(r#"{"offset":1,"lastRecordType":3}"#),
            Err("lastRecordType is 3, not a string".to_owned())
        );
        assert_eq!(
            decode_file(r#"{"offset":1,"lastDocument":{"documentType":"Note"}}"#),
            Err(r#"lastDocument.documentType is "Note""#.to_owned())
        );
        assert_eq!(decode_reader(r#"{"offset":1}"#), Err("files is not an object".to_owned()));
    }
}
