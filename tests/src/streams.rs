//! What the Kinesis and DynamoDB Streams source tests share: the dataset
//! file, the rule that gives each record its outcome, the Python that
//! applies it, and checks of what runs left behind.
//!
//! Record `n` is, by `n`:
//! - `n % 10 == 3`: skipped (a `SkipDoc`);
//! - else `n % 13 == 5`: an `ErrorDoc` whose offsets name the record's
//!   sequence number;
//! - else `n % 17 == 7`: the handler raises `ValueError("ID asks to fail")`;
//! - else a document.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::moto::RunResults;
use crate::process::Finished;
use crate::workspace::Workspace;

/// Records per bridge call: small, so that a shard takes several batches.
pub const BATCH_SIZE: usize = 10;

/// What the handler does with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Document,
    ErrorDoc,
    Raise,
    Skip,
}

impl Kind {
    /// The outcome of record `n`.
    pub fn of(n: usize) -> Self {
        if n % 10 == 3 {
            Kind::Skip
        } else if n % 13 == 5 {
            Kind::ErrorDoc
        } else if n % 17 == 7 {
            Kind::Raise
        } else {
            Kind::Document
        }
    }

    /// The name the handler reads from the record.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Document => "doc",
            Kind::ErrorDoc => "error",
            Kind::Raise => "raise",
            Kind::Skip => "skip",
        }
    }
}

/// Python for a handler: `outcome(kind, document_id, record_type,
/// partition_key, sequence_number, values)` returns the
/// `ParseDocumentResult` for `kind` (see [`Kind::name`]), or raises. The
/// handler imports `Document`, `DocumentType`, `ErrorDoc`,
/// `ParseDocumentResult`, `ParseDocumentResultStatus` and `SkipDoc` from
/// `ferry`.
pub const PYTHON_OUTCOME: &str = r#"
def outcome(kind, document_id, record_type, partition_key, sequence_number, values):
    position = {"sequenceNumber": sequence_number}
    # What a SkipDoc and an ErrorDoc of this record both say.
    not_a_document = dict(
        documentId=document_id,
        recordType=record_type,
        partitionKey=partition_key,
        documentMetadata={},
        documentKeyValuesMap=None,
        errorStartoffsetMap=position,
        errorEndoffsetMap=position,
    )
    if kind == "skip":
        skip = SkipDoc(**not_a_document, skipMessage="asked to skip")
        return ParseDocumentResult(None, skip, ParseDocumentResultStatus.SKIP)
    if kind == "error":
        error = ErrorDoc(**not_a_document, errorMessage="asked for an error document")
        return ParseDocumentResult(None, error, ParseDocumentResultStatus.ERROR)
    if kind == "raise":
        raise ValueError(f"{document_id} asks to fail")
    document = Document(DocumentType.Document, document_id, record_type, partition_key, {}, values)
    return ParseDocumentResult(None, document, ParseDocumentResultStatus.SUCCESS)
"#;

/// Writes `dataset.json`: `read_connector` and `manifest` as given, the
/// handler in `handler.py`, documents to `output/`, errors to `errors/`,
/// one task per shard at a time, checkpoints every 100 ms.
pub fn write_dataset(workspace: &Workspace, dataset: &str, read_connector: &Value, manifest: &Value) {
    let dataset = json!({
        "datasetName": dataset,
        "readConnector": read_connector,
        "manifestFile": manifest,
        "writeConnector": { "connectorDestination": "File", "directory": "output" },
        "errorConnector": { "connectorDestination": "Folder", "directory": "errors" },
        "computeEngine": {
            "computeEngineType": "Local",
            "concurrency": 2,
            "batchSize": BATCH_SIZE,
            "checkpointIntervalMs": 100,
        },
    });
    workspace.write("dataset.json", format!("{dataset:#}\n"));
}

/// One record written to a stream, and what the handler makes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// The record's number, which gives its [`Kind`].
    pub n: usize,
    pub shard_id: String,
    pub sequence_number: String,
    pub kind: Kind,
    /// The document id the handler gives it.
    pub id: String,
}

/// Checks the documents (by id: each document exactly once), the error
/// documents (one per failed record, naming its shard and sequence
/// number) and each shard's task (caught up, its checkpoint at its last
/// record, its counters) against `records`, every record written so far.
#[track_caller]
pub fn assert_results(results: &RunResults, stream_arn: &str, records: &[StreamRecord]) {
    let mut documents: Vec<&str> =
        results.documents.iter().map(|document| document["documentId"].as_str().expect("a document id")).collect();
    documents.sort_unstable();
    let mut expected: Vec<&str> =
        records.iter().filter(|record| record.kind == Kind::Document).map(|record| record.id.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(documents, expected, "every document exactly once");

    let errors: BTreeMap<(String, String), (String, String)> = results
        .errors
        .iter()
        .map(|(name, error)| {
            let text =
                |key: &str| error[key].as_str().unwrap_or_else(|| panic!("{name}: no {key}: {error:#}")).to_owned();
            let shard = text("shardId");
            assert!(name.starts_with(&format!("{shard}@")), "{name} is named after its task, the shard");
            assert_eq!(text("task"), shard, "{name}");
            assert_eq!(text("streamArn"), stream_arn, "{name}");
            let sequence_number = text("sequenceNumber");
            if text("errorType") == "ErrorDoc" {
                assert_eq!(error["errorStartOffsetMap"], json!({ "sequenceNumber": sequence_number }), "{name}");
            }
            ((shard, sequence_number), (text("errorType"), text("message")))
        })
        .collect();
    let expected_errors: BTreeMap<(String, String), (String, String)> = records
        .iter()
        .filter_map(|record| {
            let error = match record.kind {
                Kind::ErrorDoc => ("ErrorDoc".to_owned(), "asked for an error document".to_owned()),
                Kind::Raise => ("ValueError".to_owned(), format!("{} asks to fail", record.id)),
                Kind::Document | Kind::Skip => return None,
            };
            Some(((record.shard_id.clone(), record.sequence_number.clone()), error))
        })
        .collect();
    assert_eq!(errors, expected_errors, "one error document per failed record");

    let mut shards: BTreeMap<&str, Vec<&StreamRecord>> = BTreeMap::new();
    for record in records {
        shards.entry(&record.shard_id).or_default().push(record);
    }
    for (shard, written) in shards {
        let task = results
            .tasks
            .iter()
            .find(|task| task["task"] == shard)
            .unwrap_or_else(|| panic!("no task {shard} in {:#?}", results.tasks));
        let count = |kind: Kind| written.iter().filter(|record| record.kind == kind).count();
        assert_eq!(task["state"], "PROCESSING", "a caught-up shard resumes in the next run: {task:#}");
        assert_eq!(
            task["checkpoint"]["source"],
            written.last().expect("records").sequence_number.as_str(),
            "the checkpoint is the last record's sequence number: {task:#}"
        );
        assert_eq!(
            task["progress"],
            json!({
                "processed": count(Kind::Document),
                "errored": count(Kind::ErrorDoc) + count(Kind::Raise),
                "skipped": count(Kind::Skip),
            }),
            "{task:#}"
        );
    }
}

/// Checks that `run` read every shard of its `tasks` to the shard's tip,
/// with no task failing.
#[track_caller]
pub fn assert_caught_up(run: &Finished, tasks: usize) {
    run.expect_stdout_line(&format!(
        "  {tasks} tasks read all their source had for now: run again to read what arrives next"
    ));
    assert!(!run.stdout.contains(" failed: "), "a task failed:\n{}\n{}", run.stdout, run.stderr);
}
