//! The dataset every sink test runs: JSON-lines files in a local folder,
//! read by a Python `SingleFileParser` through the real bridge, documents
//! to the write connector under test, errors to `errors/`.
//!
//! Record `n` is `{"n": n, "id": "doc-NNNNNN", ...}`; what the handler
//! makes of it is its [`RecordKind`]. A document is
//! `{"documentId", "recordType": "Item", "partitionKey", "documentMetadata":
//! {}, "n", "text"}` (the flat form sinks write), with `partitionKey`
//! spread over a few values so every shard or partition gets some.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::moto::Moto;
use crate::process::Finished;
use crate::workspace::Workspace;

/// The dataset's name.
pub const DATASET: &str = "sink-e2e";

/// Distinct partition keys among the documents.
pub const PARTITION_KEYS: usize = 7;

/// What the handler makes of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A document with a short text.
    Document,
    /// A document whose `text` is this many bytes long: for records over
    /// a destination's size limit.
    Large(usize),
    /// The handler raises `ValueError` (an error document, never sent to
    /// the sink).
    Raise,
}

const HANDLER: &str = r#"
import json

from ferry import (
    Document,
    DocumentType,
    ParseDocumentResult,
    ParseDocumentResultStatus,
    RecordHintType,
    RecordParseHint,
    SingleFileParser,
)


class Items(SingleFileParser):
    def getS3FileType(self):
        return "ITEMS"

    def getResolvedS3FileName(self, s3FileType, fileName):
        return fileName

    def getRecordStartPattern(self, s3FileType):
        return RecordParseHint(RecordHintType.OFFSET, None, 0)

    def getRecordEndPattern(self, s3FileType):
        return RecordParseHint(RecordHintType.PATTERN, "\n", -1)

    def parseDocument(self, s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex):
        record = json.loads(bytes(byteArr[startIndex:endIndex]))
        if record["kind"] == "raise":
            raise ValueError(f"{record['id']} asks to fail")
        text = "x" * record["size"] if record["kind"] == "large" else f"item {record['n']}"
        values = {"n": record["n"], "text": text}
        document = Document(DocumentType.Document, record["id"], "Item", record["partitionKey"], {}, values)
        return ParseDocumentResult(None, document, ParseDocumentResultStatus.SUCCESS)
"#;

/// A workspace holding the dataset, and the records it reads.
#[derive(Debug)]
pub struct SinkRun {
    pub workspace: Workspace,
    /// Every record, by `n`.
    pub records: Vec<RecordKind>,
}

impl SinkRun {
    /// `records` spread over `files` input files (one task each), written
    /// to `write_connector` by tasks of `batch_size` records, with
    /// checkpoints every 100 ms.
    pub fn new(write_connector: Value, records: Vec<RecordKind>, files: usize, batch_size: usize) -> Self {
        let workspace = Workspace::new();
        workspace.write("handler.py", HANDLER);
        let per_file = records.len().div_ceil(files.max(1)).max(1);
        for (index, chunk) in records.chunks(per_file).enumerate() {
            let mut lines = String::new();
            for (offset, kind) in chunk.iter().enumerate() {
                let n = index * per_file + offset;
                let (kind, size) = match kind {
                    RecordKind::Document => ("document", 0),
                    RecordKind::Large(size) => ("large", *size),
                    RecordKind::Raise => ("raise", 0),
                };
                let record = json!({
                    "n": n, "id": document_id(n), "partitionKey": partition_key(n), "kind": kind, "size": size,
                });
                lines.push_str(&format!("{record}\n"));
            }
            workspace.write(&format!("data/items-{index:03}.jsonl"), lines);
        }
        let mut dataset = json!({
            "datasetName": DATASET,
            "readConnector": {
                "connectorDestination": "File",
                "readerType": "Single File Reader",
                "artifactImplementationLanguage": "Python",
                "handlerPath": "handler.py",
                "directory": "data",
            },
            "manifestFile": { "glob": "items-*.jsonl" },
            "writeConnector": null,
            "errorConnector": { "connectorDestination": "Folder", "directory": "errors" },
            "computeEngine": {
                "computeEngineType": "Local",
                "concurrency": 2,
                "batchSize": batch_size,
                "checkpointIntervalMs": 100,
            },
        });
        dataset["writeConnector"] = write_connector;
        workspace.write("dataset.json", format!("{dataset:#}\n"));
        Self { workspace, records }
    }

    /// `ferry run` to its end, against `moto` when given.
    pub fn run(&self, moto: Option<&Moto>) -> Finished {
        match moto {
            Some(moto) => moto.run(&self.workspace),
            None => self.workspace.run(),
        }
    }

    /// The documents the sink must hold, by document id: every record
    /// the handler turns into a document and the sink takes
    /// (`refused(n)` says which it refuses).
    pub fn expected_documents(&self, refused: impl Fn(usize) -> bool) -> BTreeMap<String, Value> {
        self.records
            .iter()
            .enumerate()
            .filter(|&(n, kind)| *kind != RecordKind::Raise && !refused(n))
            .map(|(n, kind)| (document_id(n), expected_document(n, *kind)))
            .collect()
    }

    /// Checks `errors/`: one error document per record that raised (a
    /// `ValueError` with its traceback) and per record `refused(n)`
    /// (`refusal_type`), and nothing else.
    #[track_caller]
    pub fn assert_errors(&self, refused: impl Fn(usize) -> bool, refusal_type: &str) {
        let mut found = BTreeMap::new();
        for name in self.workspace.file_names("errors") {
            let text = std::fs::read_to_string(self.workspace.path(&format!("errors/{name}"))).expect("read an error");
            let error: Value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("errors/{name}: {err}"));
            let record: Value = serde_json::from_str(error["record"].as_str().unwrap_or("").trim())
                .unwrap_or_else(|err| panic!("errors/{name} quotes no record ({err}): {error:#}"));
            let n = record["n"].as_u64().unwrap_or_else(|| panic!("errors/{name}: no n")) as usize;
            found.insert(n, error);
        }
        let mut expected = BTreeMap::new();
        for (n, kind) in self.records.iter().enumerate() {
            if *kind == RecordKind::Raise {
                expected.insert(n, "ValueError");
            } else if refused(n) {
                expected.insert(n, refusal_type);
            }
        }
        let found_numbers: Vec<usize> = found.keys().copied().collect();
        let expected_numbers: Vec<usize> = expected.keys().copied().collect();
        assert_eq!(found_numbers, expected_numbers, "records with error documents");
        for (n, error) in &found {
            assert_eq!(error["errorType"], expected[n], "record {n}: {error:#}");
            assert!(!error["message"].as_str().unwrap_or("").is_empty(), "record {n} has no message: {error:#}");
            if expected[n] == "ValueError" {
                assert!(error["traceback"].as_str().is_some_and(|text| text.contains("ValueError")), "{error:#}");
            }
        }
    }
}

/// The document id of record `n`.
pub fn document_id(n: usize) -> String {
    format!("doc-{n:06}")
}

/// The partition key of record `n`.
pub fn partition_key(n: usize) -> String {
    format!("key-{}", n % PARTITION_KEYS)
}

/// Record `n`'s document in its flat form.
pub fn expected_document(n: usize, kind: RecordKind) -> Value {
    let text = match kind {
        RecordKind::Large(size) => "x".repeat(size),
        _ => format!("item {n}"),
    };
    json!({
        "documentId": document_id(n),
        "recordType": "Item",
        "partitionKey": partition_key(n),
        "documentMetadata": {},
        "n": n,
        "text": text,
    })
}

/// The figure before `field` (`puts`, `documents`, `bytes`, `retries` or
/// `refused`) in the `writes` line of a run summary on `stdout`:
///
/// ```text
///   writes   N puts, M documents, B bytes, R retries, X refused; p50 ...
/// ```
#[track_caller]
pub fn summary_writes(stdout: &str, field: &str) -> u64 {
    let line = stdout
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("writes "))
        .unwrap_or_else(|| panic!("the summary has no writes line:\n{stdout}"));
    let figures = line.split(';').next().unwrap_or_default();
    figures
        .split(',')
        .find_map(|figure| figure.trim().strip_suffix(field)?.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("no {field} figure in the writes line {line:?}"))
}

/// Checks that `found` (every document read back from the destination,
/// parsed) holds each expected document exactly once and nothing else.
#[track_caller]
pub fn assert_exactly_once(found: &[Value], expected: &BTreeMap<String, Value>) {
    let mut by_id: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for document in found {
        let id = document["documentId"].as_str().unwrap_or_else(|| panic!("a document without an id: {document}"));
        by_id.entry(id.to_owned()).or_default().push(document);
    }
    let twice: Vec<&String> = by_id.iter().filter(|(_, copies)| copies.len() > 1).map(|(id, _)| id).collect();
    assert!(twice.is_empty(), "documents delivered more than once: {twice:?}");
    let missing: Vec<&String> = expected.keys().filter(|id| !by_id.contains_key(*id)).collect();
    assert!(missing.is_empty(), "{} documents missing, first {:?}", missing.len(), missing.first());
    let unexpected: Vec<&String> = by_id.keys().filter(|id| !expected.contains_key(*id)).collect();
    assert!(unexpected.is_empty(), "unexpected documents: {unexpected:?}");
    for (id, copies) in &by_id {
        assert_eq!(copies[0], &expected[id], "document {id}");
    }
}
