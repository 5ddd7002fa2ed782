//! The DynamoDB Streams read connector against moto: a table whose stream
//! holds new and old images, items put, updated and deleted, each change
//! sent to a Python `DynamoDBStreamsRecordReader` with its keys and images
//! as plain JSON. The handler's document holds the event name, the keys
//! and both images, so the test checks the conversion end to end; a run
//! reads the shard up to its tip, and the next run only the changes made
//! since; a run stopped part way resumes after its checkpoint.
//!
//! Item `item-N` holds every attribute type, and its number gives the
//! outcome of each of its changes (see `streams::Kind`).

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use ferry_e2e_tests::gate::Gate;
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::runs::interrupt_at_gate;
use ferry_e2e_tests::streams::{self, Kind, StreamRecord, assert_caught_up, assert_results};
use ferry_e2e_tests::workspace::Workspace;
use serde_json::{Value, json};

const DATASET: &str = "table-changes";
const TABLE: &str = "items";

/// One change made to the table, and what the handler should see of it.
#[derive(Debug, Clone)]
struct Change {
    event_name: &'static str,
    item: usize,
    /// The item's images as plain JSON, `{}` for none.
    old_image: Value,
    new_image: Value,
}

impl Change {
    /// The document id the handler gives it: the event, the key and the
    /// item's `n` (from the new image, or the old one for a removal).
    fn document_id(&self) -> String {
        let image = if self.event_name == "REMOVE" { &self.old_image } else { &self.new_image };
        format!("{}:{}:{}", self.event_name, key(self.item), image["n"])
    }
}

fn key(item: usize) -> String {
    format!("item-{item:03}")
}

/// A table with a stream, the test's own clients, and the model of what
/// the table holds.
struct Table {
    runtime: tokio::runtime::Runtime,
    dynamodb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    items: BTreeMap<usize, Value>,
    changes: Vec<Change>,
}

impl Table {
    fn create(moto: &Moto) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let (dynamodb, streams, stream_arn) = runtime.block_on(async {
            let config = moto.sdk_config().await;
            let dynamodb = aws_sdk_dynamodb::Client::new(&config);
            let created = dynamodb
                .create_table()
                .table_name(TABLE)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("id")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .expect("an attribute"),
                )
                .key_schema(
                    KeySchemaElement::builder().attribute_name("id").key_type(KeyType::Hash).build().expect("a key"),
                )
                .billing_mode(BillingMode::PayPerRequest)
                .stream_specification(
                    StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(StreamViewType::NewAndOldImages)
                        .build()
                        .expect("a stream"),
                )
                .send()
                .await
                .expect("create the table");
            let stream_arn = created.table_description.and_then(|table| table.latest_stream_arn).expect("a stream ARN");
            (dynamodb, aws_sdk_dynamodbstreams::Client::new(&config), stream_arn)
        });
        Self { runtime, dynamodb, streams, stream_arn, items: BTreeMap::new(), changes: Vec::new() }
    }

    /// Puts item `item` with `n` = `item`: an INSERT.
    fn put(&mut self, item: usize) {
        let text = |value: &str| AttributeValue::S(value.to_owned());
        let detail = HashMap::from([
            ("even".to_owned(), AttributeValue::Bool(item.is_multiple_of(2))),
            (
                "list".to_owned(),
                AttributeValue::L(vec![AttributeValue::N(item.to_string()), text("x"), AttributeValue::Null(true)]),
            ),
        ]);
        let attributes = HashMap::from([
            ("id".to_owned(), text(&key(item))),
            ("n".to_owned(), AttributeValue::N(item.to_string())),
            ("kind".to_owned(), text(Kind::of(item).name())),
            ("tags".to_owned(), AttributeValue::Ss(vec!["blue".to_owned(), "red".to_owned()])),
            ("detail".to_owned(), AttributeValue::M(detail)),
            ("raw".to_owned(), AttributeValue::B(Blob::new(vec![0_u8, 255]))),
        ]);
        self.runtime.block_on(async {
            self.dynamodb.put_item().table_name(TABLE).set_item(Some(attributes)).send().await.expect("put an item");
        });
        // The same item as plain JSON: numbers as numbers, sets and lists
        // as arrays, binary as base64.
        let image = json!({
            "id": key(item),
            "n": item,
            "kind": Kind::of(item).name(),
            "tags": ["blue", "red"],
            "detail": { "even": item.is_multiple_of(2), "list": [item, "x", null] },
            "raw": "AP8=",
        });
        self.record("INSERT", item, json!({}), image);
    }

    /// Adds `step` to item `item`'s `n`: a MODIFY.
    fn add(&mut self, item: usize, step: usize) {
        self.runtime.block_on(async {
            self.dynamodb
                .update_item()
                .table_name(TABLE)
                .key("id", AttributeValue::S(key(item)))
                .update_expression("SET n = n + :step")
                .expression_attribute_values(":step", AttributeValue::N(step.to_string()))
                .send()
                .await
                .expect("update an item");
        });
        let old = self.items[&item].clone();
        let mut new = old.clone();
        new["n"] = json!(old["n"].as_u64().expect("n is a number") + step as u64);
        self.record("MODIFY", item, old, new);
    }

    /// Deletes item `item`: a REMOVE.
    fn delete(&mut self, item: usize) {
        self.runtime.block_on(async {
            let deleted = self.dynamodb.delete_item().table_name(TABLE).key("id", AttributeValue::S(key(item)));
            deleted.send().await.expect("delete an item");
        });
        let old = self.items[&item].clone();
        self.record("REMOVE", item, old, json!({}));
    }

    fn record(&mut self, event_name: &'static str, item: usize, old_image: Value, new_image: Value) {
        if event_name == "REMOVE" {
            self.items.remove(&item);
        } else {
            self.items.insert(item, new_image.clone());
        }
        self.changes.push(Change { event_name, item, old_image, new_image });
    }

    /// Every change made so far as the stream holds it, read by the test
    /// itself: its shard and sequence number, in stream order.
    fn stream_records(&self) -> Vec<StreamRecord> {
        let read = self.runtime.block_on(async {
            let described = self.streams.describe_stream().stream_arn(&self.stream_arn).send().await.expect("describe");
            let shards = described.stream_description.and_then(|stream| stream.shards).expect("shards");
            let mut read = Vec::new();
            for shard in shards {
                let shard_id = shard.shard_id.expect("a shard id");
                let mut iterator = self
                    .streams
                    .get_shard_iterator()
                    .stream_arn(&self.stream_arn)
                    .shard_id(&shard_id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .expect("an iterator")
                    .shard_iterator;
                while let Some(at) = iterator {
                    let page = self.streams.get_records().shard_iterator(at).send().await.expect("a page");
                    let records = page.records.unwrap_or_default();
                    if records.is_empty() {
                        break;
                    }
                    for record in records {
                        let change = record.dynamodb.expect("a change");
                        read.push((shard_id.clone(), change.sequence_number.expect("a sequence number")));
                    }
                    iterator = page.next_shard_iterator;
                }
            }
            read
        });
        assert_eq!(read.len(), self.changes.len(), "one stream record per change");
        read.into_iter()
            .zip(&self.changes)
            .map(|((shard_id, sequence_number), change)| StreamRecord {
                n: change.item,
                shard_id,
                sequence_number,
                kind: Kind::of(change.item),
                id: change.document_id(),
            })
            .collect()
    }
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

/// The dataset and its handler; with `gate`, `(n, NAME)`, the handler
/// stops at gate `NAME` on the change that inserts item `n`.
fn set_up(workspace: &Workspace, stream_arn: &str, gate: Option<(usize, &str)>) {
    streams::write_dataset(
        workspace,
        DATASET,
        &json!({
            "connectorDestination": "DynamoDBStreams",
            "streamArn": stream_arn,
            "artifactImplementationLanguage": "Python",
            "handlerPath": "handler.py",
        }),
        &json!({
            "manifestType": "DynamoDBStreamReaderManifest",
            "dynamoDBReaderTaskStopCondition": "StopWhenNoData",
            "dynamoDBReaderTaskStartFromCondition": "Earliest",
        }),
    );
    workspace.write(
        "handler.py",
        format!(
            r#""""The handler of ferry's DynamoDB Streams source tests (written by the test)."""

import os

from ferry import (
    Document,
    DocumentType,
    DynamoDBStreamsRecordReader,
    ErrorDoc,
    ParseDocumentResult,
    ParseDocumentResultStatus,
    SkipDoc,
)
{outcome_code}
GATE_DIR = {gate_dir:?}
GATE = {gate}
{gate_code}

class Changes(DynamoDBStreamsRecordReader):
    def parseRecord(self, streamArn, shardId, eventId, eventName, identityPrincipalId, identityType,
                    sequenceNumber, sizeBytes, streamViewType, approximateCreationDateTime, keys, oldImage, newImage):
        image = newImage or oldImage
        if GATE is not None and eventName == "INSERT" and image["n"] == GATE[0]:
            wait_at_gate(GATE_DIR, GATE[1])
        values = {{
            "eventName": eventName,
            "keys": keys,
            "oldImage": oldImage,
            "newImage": newImage,
            "streamArn": streamArn,
            "shardId": shardId,
            "sequenceNumber": sequenceNumber,
            "eventId": eventId,
            "identity": [identityPrincipalId, identityType],
            "sizeBytes": sizeBytes,
            "streamViewType": streamViewType,
            "createdS": approximateCreationDateTime,
        }}
        document_id = f"{{eventName}}:{{keys['id']}}:{{image['n']}}"
        return outcome(image["kind"], document_id, "Change", keys["id"], sequenceNumber, values)
"#,
            outcome_code = streams::PYTHON_OUTCOME,
            gate_dir = workspace.path("gates").to_str().expect("a UTF-8 path"),
            gate = gate.map_or("None".to_owned(), |(n, name)| format!("({n}, {name:?})")),
            gate_code = Gate::PYTHON,
        ),
    );
}

/// The documents, in stream order, are the changes that make one, each
/// with what its stream record held.
#[track_caller]
fn assert_documents_show_their_changes(documents: &[Value], table: &Table, records: &[StreamRecord], since_s: u64) {
    let expected: Vec<(&Change, &StreamRecord)> =
        table.changes.iter().zip(records).filter(|(_, record)| record.kind == Kind::Document).collect();
    assert_eq!(documents.len(), expected.len(), "one document per change that makes one");
    for (document, (change, record)) in documents.iter().zip(expected) {
        let created = document["createdS"].as_u64().unwrap_or_else(|| panic!("no createdS in {document:#}"));
        assert!((since_s..=now_s()).contains(&created), "creation time {created} in {document:#}");
        let size = document["sizeBytes"].as_u64().unwrap_or_else(|| panic!("no sizeBytes in {document:#}"));
        assert!(size > 0, "{document:#}");
        let event_id = document["eventId"].as_str().unwrap_or_else(|| panic!("no eventId in {document:#}"));
        assert!(!event_id.is_empty(), "{document:#}");
        assert_eq!(
            document,
            &json!({
                "documentId": record.id,
                "recordType": "Change",
                "partitionKey": key(change.item),
                "documentMetadata": {},
                "eventName": change.event_name,
                "keys": { "id": key(change.item) },
                "oldImage": change.old_image,
                "newImage": change.new_image,
                "streamArn": table.stream_arn,
                "shardId": record.shard_id,
                "sequenceNumber": record.sequence_number,
                "eventId": event_id,
                "identity": [null, null],
                "sizeBytes": size,
                "streamViewType": "NEW_AND_OLD_IMAGES",
                "createdS": created,
            })
        );
    }
}

#[test]
fn inserts_updates_and_removals_reach_the_handler_as_plain_json() {
    let moto = Moto::start();
    let mut table = Table::create(&moto);
    let workspace = Workspace::new();
    set_up(&workspace, &table.stream_arn, None);
    let since_s = now_s();
    for item in 0..24 {
        table.put(item);
    }
    for item in (0..24).filter(|item| item % 4 == 0) {
        table.add(item, 1000);
    }
    for item in (0..24).filter(|item| item % 6 == 1) {
        table.delete(item);
    }
    let records = table.stream_records();

    let first = moto.run(&workspace);
    assert_caught_up(&first, 1);
    let results = moto.results(&workspace, DATASET);
    assert_results(&results, &table.stream_arn, &records);
    assert_documents_show_their_changes(&results.documents, &table, &records, since_s);

    // More changes: only they are read.
    for item in 24..32 {
        table.put(item);
    }
    table.add(4, 2000);
    table.delete(2);
    let records = table.stream_records();
    let second = moto.run(&workspace);
    assert_caught_up(&second, 1);
    let new_changes = 8 + 2;
    assert!(second.stdout.contains(&format!("({new_changes} records in this run)")), "{}", second.stdout);
    let results = moto.results(&workspace, DATASET);
    assert_results(&results, &table.stream_arn, &records);
    assert_documents_show_their_changes(&results.documents, &table, &records, since_s);
}

#[test]
fn a_missing_stream_fails_before_any_task_starts() {
    let moto = Moto::start();
    let workspace = Workspace::new();
    let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/no-such-table/stream/2024-01-01T00:00:00.000";
    set_up(&workspace, arn, None);
    let run = moto.run(&workspace);
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!("cannot list the tasks of the read connector: DescribeStream on {arn} failed")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_stopped_run_resumes_after_its_checkpoint_exactly_once() {
    let moto = Moto::start();
    let mut table = Table::create(&moto);
    let workspace = Workspace::new();
    for item in 0..80 {
        table.put(item);
    }
    let records = table.stream_records();
    // Stopped well inside the shard: checkpoints before the gate, and more
    // changes after it than the batches that can be in flight with it.
    let gated = (30..).find(|&item| Kind::of(item) == Kind::Document).expect("a document");
    set_up(&workspace, &table.stream_arn, Some((gated, "stop")));
    let gate = Gate::create(&workspace.path("gates"), "stop");

    let mut run = moto.spawn_run(&workspace);
    run.wait_at(&gate);
    interrupt_at_gate(run, &gate).expect_code(130);
    let stopped = moto.results(&workspace, DATASET);
    let task = &stopped.tasks[0];
    assert_eq!(task["state"], "PROCESSING", "{task:#}");
    let checkpoint = task["checkpoint"]["source"].as_str().expect("a checkpoint");
    let stopped_after = records
        .iter()
        .position(|record| record.sequence_number == checkpoint)
        .unwrap_or_else(|| panic!("the checkpoint {checkpoint} is no record's sequence number"));
    assert!(
        (gated..records.len() - 1).contains(&stopped_after),
        "the run stopped past the gate ({gated}) and before the shard's end, not at {stopped_after}"
    );

    let last = moto.run(&workspace);
    assert_caught_up(&last, 1);
    assert_results(&moto.results(&workspace, DATASET), &table.stream_arn, &records);
}
