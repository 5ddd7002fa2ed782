//! A dataset made for stopping runs part way: JSON lines written here, a
//! handler written here that stops at [gates](crate::gate), and the
//! expected outcome of every line.
//!
//! Line `seq` of file `F` is, by `seq`:
//! - a gate's line and the [`QUIET_BEFORE_GATE`] lines before it: a
//!   document (see below), so that when the handler stops at a gate the
//!   task host has no error file to write: the batches it may still be
//!   writing out hold none. A test can then kill it at the gate without
//!   cutting an error file's write short;
//! - `seq % 41 == 5`: cut short, not JSON: an `ErrorDoc` ("not JSON");
//! - else `seq % 10 == 3`: `"kind": "skip"`: skipped;
//! - else `seq % 37 == 17`: `"kind": "raise"`: the handler raises
//!   `ValueError("record SEQ asks to fail")`;
//! - else a document with id `F-SEQ`, partitioned by file, with the offset
//!   as metadata and `seq` and a padding string as values. The padding
//!   makes documents large, so the output file's write buffer spills to
//!   disk between checkpoints.

use std::fmt::Write as _;
use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;

use serde_json::{Value, json};

use crate::expect::{ExpectedError, ExpectedRecord, ExpectedTask, Outcome, lines_with_offsets};
use crate::gate::Gate;
use crate::workspace::Workspace;

pub const DATASET: &str = "gated-lines";

const FILE_TYPE: &str = "LINES";

/// What a workspace is set up with.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// Data files (names and line counts) in manifest order; a name ending
    /// in `.gz` is written gzipped.
    pub files: &'a [(&'a str, usize)],
    /// `computeEngine.concurrency`.
    pub concurrency: usize,
    /// `computeEngine.checkpointIntervalMs`.
    pub checkpoint_interval_ms: u64,
    /// Gates: the handler stops at line `seq` of `file` the first time.
    pub gates: &'a [GateAt<'a>],
}

/// Where a gate stands.
#[derive(Debug, Clone, Copy)]
pub struct GateAt<'a> {
    pub name: &'a str,
    pub file: &'a str,
    pub seq: usize,
}

/// Records per bridge call.
pub const BATCH_SIZE: usize = 50;

/// `computeEngine.maxInFlightBatches`, left at its default: batches of a
/// task at the bridge at once.
pub const MAX_IN_FLIGHT_BATCHES: usize = 4;

/// Lines before a gate that are plain documents: the gate's batch and
/// every batch that can be in flight with it.
pub const QUIET_BEFORE_GATE: usize = (MAX_IN_FLIGHT_BATCHES + 1) * BATCH_SIZE;

/// Writes the dataset file, the handler, the data and the gates; returns
/// the expected outcomes (in manifest order) and the gates (in `spec`
/// order).
pub fn set_up(workspace: &Workspace, spec: &Spec<'_>) -> (Vec<ExpectedTask>, Vec<Gate>) {
    let manifest: Vec<&str> = spec.files.iter().map(|(name, _)| *name).collect();
    let dataset = json!({
        "datasetName": DATASET,
        "readConnector": {
            "connectorDestination": "File",
            "readerType": "Single File Reader",
            "artifactImplementationLanguage": "Python",
            "handlerPath": "handler.py",
            "directory": "data",
        },
        "manifestFile": { "manifestType": "LocalFileManifest", "fileContents": manifest.join("\n") },
        "writeConnector": { "connectorDestination": "File", "directory": "output" },
        "errorConnector": { "connectorDestination": "Folder", "directory": "errors" },
        "computeEngine": {
            "computeEngineType": "Local",
            "concurrency": spec.concurrency,
            "batchSize": BATCH_SIZE,
            "checkpointIntervalMs": spec.checkpoint_interval_ms,
        },
    });
    workspace.write("dataset.json", format!("{dataset:#}\n"));
    let gate_dir = workspace.path("gates");
    workspace.write("handler.py", handler(gate_dir.to_str().expect("a UTF-8 path"), spec.gates));
    let gates = spec.gates.iter().map(|at| Gate::create(&gate_dir, at.name)).collect();
    let tasks = spec
        .files
        .iter()
        .map(|(name, lines)| {
            let gated: Vec<usize> = spec.gates.iter().filter(|at| at.file == *name).map(|at| at.seq).collect();
            let kinds: Vec<Kind> = (0..*lines).map(|seq| kind(seq, &gated)).collect();
            let text: String = kinds.iter().enumerate().map(|(seq, kind)| line(name, seq, *kind)).collect();
            if name.ends_with(".gz") {
                let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
                encoder.write_all(text.as_bytes()).expect("compress");
                workspace.write(&format!("data/{name}"), encoder.finish().expect("compress"));
            } else {
                workspace.write(&format!("data/{name}"), &text);
            }
            expected(workspace, name, text.as_bytes(), &kinds)
        })
        .collect();
    (tasks, gates)
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Malformed,
    Skip,
    Raise,
    Document,
}

fn kind(seq: usize, gates: &[usize]) -> Kind {
    if gates.iter().any(|gate| (gate.saturating_sub(QUIET_BEFORE_GATE)..=*gate).contains(&seq)) {
        Kind::Document
    } else if seq % 41 == 5 {
        Kind::Malformed
    } else if seq % 10 == 3 {
        Kind::Skip
    } else if seq % 37 == 17 {
        Kind::Raise
    } else {
        Kind::Document
    }
}

fn id(file: &str, seq: usize) -> String {
    format!("{file}-{seq:05}")
}

fn padding(seq: usize) -> String {
    let letter = char::from(b'a' + u8::try_from(seq % 26).expect("below 26"));
    letter.to_string().repeat(500 + (seq * 7) % 400)
}

/// Line `seq` of `file`, newline included.
fn line(file: &str, seq: usize, kind: Kind) -> String {
    match kind {
        Kind::Malformed => format!("{{\"seq\": {seq}, \"kind\": \"doc\", \"pad\": \"cut short\n"),
        Kind::Skip => format!("{{\"seq\": {seq}, \"id\": \"{}\", \"kind\": \"skip\"}}\n", id(file, seq)),
        Kind::Raise => format!("{{\"seq\": {seq}, \"id\": \"{}\", \"kind\": \"raise\"}}\n", id(file, seq)),
        Kind::Document => format!(
            "{{\"seq\": {seq}, \"id\": \"{}\", \"kind\": \"doc\", \"pad\": \"{}\"}}\n",
            id(file, seq),
            padding(seq)
        ),
    }
}

fn expected(workspace: &Workspace, file: &str, bytes: &[u8], kinds: &[Kind]) -> ExpectedTask {
    let handler = workspace.path("handler.py");
    let records = lines_with_offsets(bytes)
        .into_iter()
        .enumerate()
        .map(|(seq, (offset, line))| {
            let end = offset + line.len() as u64;
            let text = std::str::from_utf8(line).expect("UTF-8");
            let Value::Object(mut fields) = json!({
                "dataset": DATASET,
                "task": file,
                "file": file,
                "resolvedFileName": file,
                "offsetBytes": offset,
                "endOffsetBytes": end,
                "retryable": false,
                "record": text,
                "recordTruncated": false,
            }) else {
                unreachable!("an object")
            };
            let outcome = match kinds[seq] {
                Kind::Malformed => {
                    fields.insert("errorType".to_owned(), json!("ErrorDoc"));
                    fields.insert("message".to_owned(), json!("not JSON"));
                    fields.insert("errorStartOffsetMap".to_owned(), json!({ FILE_TYPE: offset.to_string() }));
                    fields.insert("errorEndOffsetMap".to_owned(), json!({ FILE_TYPE: end.to_string() }));
                    Outcome::Error(ExpectedError { fields, traceback: None })
                }
                Kind::Skip => Outcome::Skipped,
                Kind::Raise => {
                    let message = format!("record {seq} asks to fail");
                    fields.insert("errorType".to_owned(), json!("ValueError"));
                    fields.insert("message".to_owned(), json!(message));
                    Outcome::Error(ExpectedError {
                        fields,
                        traceback: Some(vec![
                            format!("File \"{}\", line", handler.display()),
                            format!("ValueError: {message}"),
                        ]),
                    })
                }
                Kind::Document => Outcome::Document(
                    json!({
                        "documentId": id(file, seq),
                        "recordType": "Line",
                        "partitionKey": file,
                        "documentMetadata": { "offset": offset },
                        "seq": seq,
                        "pad": padding(seq),
                    })
                    .to_string(),
                ),
            };
            ExpectedRecord { offset, end, outcome }
        })
        .collect();
    ExpectedTask { task: file.to_owned(), records }
}

/// The handler: the rules in the module documentation, and the gates.
fn handler(gate_dir: &str, gates: &[GateAt<'_>]) -> String {
    let mut table = String::new();
    for gate in gates {
        let _ = writeln!(table, "    ({:?}, {}): {:?},", gate.file, gate.seq, gate.name);
    }
    format!(
        r#""""The gated-lines handler of ferry's end-to-end tests (written by the test)."""

import json
import os

from ferry import (
    Document,
    DocumentType,
    ErrorDoc,
    ParseDocumentResult,
    ParseDocumentResultStatus,
    RecordHintType,
    RecordParseHint,
    SingleFileParser,
    SkipDoc,
)

GATE_DIR = {gate_dir:?}
GATES = {{
{table}}}
{gate_code}

class Lines(SingleFileParser):
    def getS3FileType(self):
        return {FILE_TYPE:?}

    def getResolvedS3FileName(self, s3FileType, fileName):
        return fileName

    def getRecordStartPattern(self, s3FileType):
        return RecordParseHint(RecordHintType.OFFSET, None, 0)

    def getRecordEndPattern(self, s3FileType):
        return RecordParseHint(RecordHintType.PATTERN, "\n", -1)

    def parseDocument(self, s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex):
        text = bytes(byteArr[startIndex:endIndex]).decode("utf-8")
        try:
            entry = json.loads(text)
        except ValueError:
            error = ErrorDoc(
                documentId=None,
                recordType="Line",
                partitionKey=s3Filename,
                documentMetadata={{}},
                documentKeyValuesMap=None,
                errorStartoffsetMap={{s3FileType: str(offsetBytes)}},
                errorEndoffsetMap={{s3FileType: str(offsetBytes + endIndex)}},
                errorMessage="not JSON",
            )
            return ParseDocumentResult(None, error, ParseDocumentResultStatus.ERROR)
        gate = GATES.get((s3Filename, entry["seq"]))
        if gate is not None:
            wait_at_gate(GATE_DIR, gate)
        if entry["kind"] == "skip":
            skip = SkipDoc(
                documentId=entry["id"],
                recordType="Line",
                partitionKey=s3Filename,
                documentMetadata={{}},
                documentKeyValuesMap=None,
                errorStartoffsetMap={{}},
                errorEndoffsetMap={{}},
                skipMessage="asked to skip",
            )
            return ParseDocumentResult(None, skip, ParseDocumentResultStatus.SKIP)
        if entry["kind"] == "raise":
            raise ValueError(f"record {{entry['seq']}} asks to fail")
        document = Document(
            DocumentType.Document,
            entry["id"],
            "Line",
            s3Filename,
            {{"offset": offsetBytes}},
            {{"seq": entry["seq"], "pad": entry["pad"]}},
        )
        return ParseDocumentResult(None, document, ParseDocumentResultStatus.SUCCESS)
"#,
        gate_code = Gate::PYTHON,
    )
}
