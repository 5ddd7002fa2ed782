//! The Kinesis read connector against moto: a task per shard, every record
//! through a Python `KinesisRecordReader`. A run reads each shard up to its
//! tip and leaves the task to resume; the next run reads only the records
//! put since; a run stopped part way resumes from its checkpoints, every
//! document and error written exactly once.
//!
//! Resharding is not tested here, as moto does not model it as Kinesis
//! does: a closed shard never ends (GetRecords always returns a next
//! iterator), and SplitShard moves the parent's records into the children
//! under new sequence numbers, where Kinesis leaves them in the parent.
//! The shard model's unit tests cover the order of parents and children.

use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use ferry_e2e_tests::gate::Gate;
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::runs::interrupt_at_gate;
use ferry_e2e_tests::streams::{self, Kind, StreamRecord, assert_caught_up, assert_results};
use ferry_e2e_tests::workspace::Workspace;
use serde_json::{Value, json};

const DATASET: &str = "kinesis-records";

/// A stream in moto, and a runtime for the test's own calls to it.
struct Stream {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_kinesis::Client,
    arn: String,
}

impl Stream {
    fn create(moto: &Moto, shards: i32) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let (client, arn) = runtime.block_on(async {
            let client = aws_sdk_kinesis::Client::new(&moto.sdk_config().await);
            client
                .create_stream()
                .stream_name("ferry-records")
                .shard_count(shards)
                .send()
                .await
                .expect("create a stream");
            let described =
                client.describe_stream_summary().stream_name("ferry-records").send().await.expect("describe it");
            let arn = described.stream_description_summary.expect("a summary").stream_arn;
            (client, arn)
        });
        Self { runtime, client, arn }
    }

    /// Puts records `numbers`, record `n` with partition key `key-N` and
    /// data `{"n": N, "id": "record-NNNN", "kind": KIND}`; returns them in
    /// the order put.
    fn put(&self, numbers: Range<usize>) -> Vec<StreamRecord> {
        let numbers: Vec<usize> = numbers.collect();
        self.runtime.block_on(async {
            let mut written = Vec::new();
            for chunk in numbers.chunks(100) {
                let entries = chunk
                    .iter()
                    .map(|&n| {
                        let data = json!({ "n": n, "id": id(n), "kind": Kind::of(n).name() });
                        PutRecordsRequestEntry::builder()
                            .data(Blob::new(data.to_string()))
                            .partition_key(format!("key-{n}"))
                            .build()
                            .expect("a record")
                    })
                    .collect();
                let put = self
                    .client
                    .put_records()
                    .stream_arn(&self.arn)
                    .set_records(Some(entries))
                    .send()
                    .await
                    .expect("put records");
                assert_eq!(put.failed_record_count, Some(0), "every record put");
                written.extend(chunk.iter().zip(put.records).map(|(&n, result)| StreamRecord {
                    n,
                    shard_id: result.shard_id.expect("the record's shard"),
                    sequence_number: result.sequence_number.expect("the record's sequence number"),
                    kind: Kind::of(n),
                    id: id(n),
                }));
            }
            written
        })
    }
}

fn id(n: usize) -> String {
    format!("record-{n:04}")
}

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    u64::try_from(since_epoch.as_millis()).expect("a u64")
}

/// Writes the dataset file, with `stop` as the stop condition, and the
/// handler, which stops at gate `NAME` on record `N` for each `(N, NAME)`
/// of `gates`.
fn set_up(workspace: &Workspace, stream_arn: &str, stop: &str, gates: &[(usize, &str)]) {
    streams::write_dataset(
        workspace,
        DATASET,
        &json!({
            "connectorDestination": "Kinesis",
            "readerType": "KinesisStreamReader",
            "streamArn": stream_arn,
            "artifactImplementationLanguage": "Python",
            "handlerPath": "handler.py",
        }),
        &json!({
            "manifestType": "KinesisStreamReaderManifest",
            "kinesisReaderTaskStopCondition": stop,
            "kinesisReaderTaskStartFromCondition": "Earliest",
        }),
    );
    let gates: Vec<String> = gates.iter().map(|(n, name)| format!("{n}: {name:?}")).collect();
    let gate_dir = workspace.path("gates");
    workspace.write(
        "handler.py",
        format!(
            r#""""The Kinesis handler of ferry's Kinesis source tests (written by the test)."""

import json
import os

from ferry import (
    Document,
    DocumentType,
    ErrorDoc,
    KinesisRecordReader,
    ParseDocumentResult,
    ParseDocumentResultStatus,
    SkipDoc,
)

GATE_DIR = {gate_dir:?}
GATES = {{{gates}}}
{gate_code}
{outcome_code}

class Records(KinesisRecordReader):
    def parseMessage(self, streamArn, shardId, partitionKey, sequenceNumber, approximateArrivalTimestamp, data):
        entry = json.loads(data.decode("utf-8"))
        gate = GATES.get(entry["n"])
        if gate is not None:
            wait_at_gate(GATE_DIR, gate)
        values = {{
            "n": entry["n"],
            "streamArn": streamArn,
            "shardId": shardId,
            "sequenceNumber": sequenceNumber,
            "arrivedMs": approximateArrivalTimestamp,
            "bytes": len(data),
        }}
        return outcome(entry["kind"], entry["id"], "Record", partitionKey, sequenceNumber, values)
"#,
            gate_dir = gate_dir.to_str().expect("a UTF-8 path"),
            gates = gates.join(", "),
            gate_code = Gate::PYTHON,
            outcome_code = streams::PYTHON_OUTCOME,
        ),
    );
}

/// Each document carries the arguments its record was read with.
#[track_caller]
fn assert_documents_show_their_records(
    documents: &[Value],
    records: &[StreamRecord],
    stream_arn: &str,
    put_after_ms: u64,
) {
    for document in documents {
        let record = records
            .iter()
            .find(|record| document["documentId"] == record.id.as_str())
            .unwrap_or_else(|| panic!("no record for {document:#}"));
        let arrived = document["arrivedMs"].as_u64().unwrap_or_else(|| panic!("no arrivedMs in {document:#}"));
        assert!((put_after_ms..=now_ms()).contains(&arrived), "arrival time {arrived} in {document:#}");
        let data = json!({ "n": record.n, "id": record.id, "kind": "doc" }).to_string();
        assert_eq!(
            document,
            &json!({
                "documentId": record.id,
                "recordType": "Record",
                "partitionKey": format!("key-{}", record.n),
                "documentMetadata": {},
                "n": record.n,
                "streamArn": stream_arn,
                "shardId": record.shard_id,
                "sequenceNumber": record.sequence_number,
                "arrivedMs": arrived,
                "bytes": data.len(),
            })
        );
    }
}

#[test]
fn each_run_reads_every_shard_up_to_its_tip_once() {
    let moto = Moto::start();
    let stream = Stream::create(&moto, 2);
    let workspace = Workspace::new();
    set_up(&workspace, &stream.arn, "StopWhenNoData", &[]);
    let put_after_ms = now_ms();
    let mut records = stream.put(0..120);
    let shards: std::collections::BTreeSet<&str> = records.iter().map(|record| record.shard_id.as_str()).collect();
    assert_eq!(shards.len(), 2, "records went to both shards");

    let first = moto.run(&workspace);
    assert_caught_up(&first, 2);
    assert!(first.stdout.contains("(120 records in this run)"), "{}", first.stdout);
    let results = moto.results(&workspace, DATASET);
    assert_results(&results, &stream.arn, &records);
    assert_documents_show_their_records(&results.documents, &records, &stream.arn, put_after_ms);

    records.extend(stream.put(120..160));
    let second = moto.run(&workspace);
    assert_caught_up(&second, 2);
    assert!(second.stdout.contains("(40 records in this run)"), "{}", second.stdout);
    let results = moto.results(&workspace, DATASET);
    assert_results(&results, &stream.arn, &records);
    assert_documents_show_their_records(&results.documents, &records, &stream.arn, put_after_ms);
}

#[test]
fn a_stopped_run_resumes_from_its_checkpoints_exactly_once() {
    let moto = Moto::start();
    let stream = Stream::create(&moto, 2);
    let workspace = Workspace::new();
    let records = stream.put(0..200);
    // The run stops at the 20th document of the first shard, with several
    // checkpoints before it and more records after it than the batches
    // that can be in flight with it (a task has at most 4 at the bridge).
    let shard = records[0].shard_id.clone();
    let in_shard: Vec<&StreamRecord> = records.iter().filter(|record| record.shard_id == shard).collect();
    let gated = in_shard.iter().filter(|record| record.kind == Kind::Document).nth(20).expect("20 documents");
    let gated_at = in_shard.iter().position(|record| record.n == gated.n).expect("the gated record");
    assert!(in_shard.len() > gated_at + 5 * streams::BATCH_SIZE, "{} records in the shard", in_shard.len());
    set_up(&workspace, &stream.arn, "StopWhenNoData", &[(gated.n, "stop")]);
    let gate = Gate::create(&workspace.path("gates"), "stop");

    let mut run = moto.spawn_run(&workspace);
    run.wait_at(&gate);
    interrupt_at_gate(run, &gate).expect_code(130);

    let results = moto.results(&workspace, DATASET);
    let task = results.tasks.iter().find(|task| task["task"] == shard.as_str()).expect("the shard's task");
    assert_eq!(task["state"], "PROCESSING", "{task:#}");
    let checkpoint = task["checkpoint"]["source"].as_str().expect("a checkpoint");
    let stopped_after = in_shard
        .iter()
        .position(|record| record.sequence_number == checkpoint)
        .unwrap_or_else(|| panic!("the checkpoint {checkpoint} is no record's sequence number"));
    assert!(
        (gated_at..in_shard.len() - 1).contains(&stopped_after),
        "the run stopped past the gate ({gated_at}) and before the shard's end, not at {stopped_after}"
    );
    let mut written: Vec<&str> = results
        .documents
        .iter()
        .filter(|document| document["shardId"] == shard.as_str())
        .map(|document| document["documentId"].as_str().expect("an id"))
        .collect();
    written.sort_unstable();
    let up_to_checkpoint: Vec<&str> = in_shard[..=stopped_after]
        .iter()
        .filter(|record| record.kind == Kind::Document)
        .map(|record| record.id.as_str())
        .collect();
    assert_eq!(written, up_to_checkpoint, "the output holds the documents up to the checkpoint");

    let last = moto.run(&workspace);
    assert_caught_up(&last, 2);
    assert_results(&moto.results(&workspace, DATASET), &stream.arn, &records);
}

#[test]
fn a_continuous_run_reads_records_put_while_it_runs() {
    let moto = Moto::start();
    let stream = Stream::create(&moto, 1);
    let workspace = Workspace::new();
    let mut records = stream.put(0..30);
    // The handler stops at record 29, the last put before the run, and at
    // record 44, the last put while it runs.
    set_up(&workspace, &stream.arn, "Continuous", &[(29, "before"), (44, "while")]);
    let gates = [Gate::create(&workspace.path("gates"), "before"), Gate::create(&workspace.path("gates"), "while")];

    let mut run = moto.spawn_run(&workspace);
    run.wait_at(&gates[0]);
    gates[0].release();
    records.extend(stream.put(30..45));
    run.wait_at(&gates[1]);
    let stopped = interrupt_at_gate(run, &gates[1]);
    stopped.expect_code(130);
    assert!(stopped.stdout.contains("(45 records in this run)"), "{}", stopped.stdout);
    assert_results(&moto.results(&workspace, DATASET), &stream.arn, &records);
}

#[test]
fn a_missing_stream_fails_before_any_task_starts() {
    let moto = Moto::start();
    let workspace = Workspace::new();
    let arn = "arn:aws:kinesis:us-east-1:123456789012:stream/no-such-stream";
    set_up(&workspace, arn, "StopWhenNoData", &[]);
    let run = moto.run(&workspace);
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!("cannot list the tasks of the read connector: ListShards on {arn} failed")),
        "{}",
        run.stderr
    );
}
