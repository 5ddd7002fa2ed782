//! The DynamoDB table read connector against moto: a parallel scan, one
//! task per segment, each item sent to a Python `DynamoDBTableItemReader`
//! through the bridge with its keys and attributes as plain JSON.
//!
//! Items `item-000`, `item-001`, ... (hash key `pk`, range key `sk`) hold
//! every attribute type; by its number, an item is skipped, raises or
//! returns an `ErrorDoc` (see [`Kind`]), and the handler's document holds
//! what it was given (the item, its keys, the Python type of each
//! attribute), so the tests check the conversion end to end.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType,
    WriteRequest,
};
use ferry_e2e_tests::gate::Gate;
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::runs::interrupt_at_gate;
use ferry_e2e_tests::workspace::Workspace;
use serde_json::{Value, json};

const DATASET: &str = "table-scan";
const TABLE: &str = "orders";
/// The gate of the resume test.
const GATE: &str = "stop";

/// What the handler makes of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Document,
    Skip,
    Raise,
    ErrorDoc,
}

impl Kind {
    fn of(number: usize) -> Self {
        if number % 10 == 3 {
            Kind::Skip
        } else if number % 37 == 17 {
            Kind::Raise
        } else if number % 41 == 5 {
            Kind::ErrorDoc
        } else {
            Kind::Document
        }
    }

    /// The item's `kind` attribute, which the handler acts on.
    fn name(self) -> &'static str {
        match self {
            Kind::Document => "doc",
            Kind::Skip => "skip",
            Kind::Raise => "raise",
            Kind::ErrorDoc => "error",
        }
    }
}

fn pk(number: usize) -> String {
    format!("item-{number:03}")
}

/// A number with more digits than an f64 keeps.
fn big(number: usize) -> String {
    format!("1234567890123456789012{}", number % 10)
}

/// Item `number` as DynamoDB stores it.
fn item(number: usize) -> HashMap<String, AttributeValue> {
    let text = |value: String| AttributeValue::S(value);
    let decimal = |value: String| AttributeValue::N(value);
    let depth = HashMap::from([("level".to_owned(), decimal("2".to_owned()))]);
    let meta = HashMap::from([
        ("kind".to_owned(), text(Kind::of(number).name().to_owned())),
        ("depth".to_owned(), AttributeValue::M(depth)),
    ]);
    HashMap::from([
        ("pk".to_owned(), text(pk(number))),
        ("sk".to_owned(), decimal((number % 5).to_string())),
        ("kind".to_owned(), text(Kind::of(number).name().to_owned())),
        ("n".to_owned(), decimal(number.to_string())),
        ("price".to_owned(), decimal(format!("{number}.25"))),
        ("big".to_owned(), decimal(big(number))),
        ("flag".to_owned(), AttributeValue::Bool(number.is_multiple_of(2))),
        (
            "tags".to_owned(),
            AttributeValue::L(vec![text(format!("t{}", number % 3)), decimal((number % 3).to_string())]),
        ),
        ("meta".to_owned(), AttributeValue::M(meta)),
        ("bin".to_owned(), AttributeValue::B(Blob::new(vec![u8::try_from(number % 256).expect("a byte"), 0xff]))),
        ("none".to_owned(), AttributeValue::Null(true)),
        ("colors".to_owned(), AttributeValue::Ss(vec!["red".to_owned(), "blue".to_owned()])),
    ])
}

/// Item `number` as the handler should get it, string sets sorted (a
/// set's order is the store's).
fn item_json(number: usize) -> Value {
    let byte = u8::try_from(number % 256).expect("a byte");
    json!({
        "big": big(number),
        "bin": base64(&[byte, 0xff]),
        "colors": ["blue", "red"],
        "flag": number.is_multiple_of(2),
        "kind": Kind::of(number).name(),
        "meta": {"depth": {"level": 2}, "kind": Kind::of(number).name()},
        "n": number,
        "none": null,
        "pk": pk(number),
        "price": number as f64 + 0.25,
        "sk": number % 5,
        "tags": [format!("t{}", number % 3), number % 3],
    })
}

/// The Python type of each attribute as the handler sees it.
fn python_types() -> Value {
    json!({
        "big": "str", "bin": "str", "colors": "list", "flag": "bool", "kind": "str", "meta": "dict",
        "n": "int", "none": "NoneType", "pk": "str", "price": "float", "sk": "int", "tags": "list",
    })
}

/// Standard base64, written out here so the test does not share ferry's.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0_u32, |word, (at, byte)| word | u32::from(*byte) << (16 - 8 * at));
        for at in 0..4 {
            if at <= chunk.len() {
                text.push(char::from(ALPHABET[(word >> (18 - 6 * at)) as usize & 63]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// A string set's order is the store's: sorts `colors` wherever it is.
fn sorted_sets(mut item: Value) -> Value {
    if let Some(Value::Array(colors)) = item.get_mut("colors") {
        colors.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    item
}

/// Creates the table (`pk` string hash key, `sk` number range key) and
/// writes items `0..count`.
fn create_table(moto: &Moto, count: usize) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
        let attribute = |name: &str, kind: ScalarAttributeType| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().expect("a definition")
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().expect("a key element")
        };
        client
            .create_table()
            .table_name(TABLE)
            .attribute_definitions(attribute("pk", ScalarAttributeType::S))
            .attribute_definitions(attribute("sk", ScalarAttributeType::N))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("create the table");
        let numbers: Vec<usize> = (0..count).collect();
        // BatchWriteItem takes at most 25 items.
        for chunk in numbers.chunks(25) {
            let writes = chunk
                .iter()
                .map(|number| {
                    let put = PutRequest::builder().set_item(Some(item(*number))).build().expect("a put request");
                    WriteRequest::builder().put_request(put).build()
                })
                .collect();
            let written =
                client.batch_write_item().request_items(TABLE, writes).send().await.expect("write a batch of items");
            assert!(written.unprocessed_items().is_none_or(HashMap::is_empty), "moto left items unwritten");
        }
    });
}

/// The handler: a document holding what it was given, except for the
/// items whose `kind` asks to skip, raise or return an `ErrorDoc`. With a
/// gate, it stops at the item `gate_pk` the first time.
fn handler(gate_dir: &str, gate_pk: Option<&str>) -> String {
    format!(
        r#"import os

from ferry import (
    Document,
    DynamoDBTableItemReader,
    ErrorDoc,
    ParseDocumentResult,
    ParseDocumentResultStatus,
    SkipDoc,
)

GATE_DIR = {gate_dir:?}
GATE_PK = {gate_pk}
{gate_code}

class Items(DynamoDBTableItemReader):
    def parseDynamoDBItem(self, tableName, segmentNumber, keys, item):
        if item["pk"] == GATE_PK:
            wait_at_gate(GATE_DIR, {GATE:?})
        document_id = "|".join(str(value) for value in keys.values())
        kind = item["kind"]
        if kind == "raise":
            raise ValueError("item " + item["pk"] + " asks to fail")
        if kind == "error":
            error = ErrorDoc(
                documentId=document_id,
                recordType="Item",
                partitionKey=item["pk"],
                documentMetadata={{}},
                errorStartoffsetMap={{}},
                errorEndoffsetMap={{}},
                errorMessage="item " + item["pk"] + " is refused",
            )
            return ParseDocumentResult(None, error, ParseDocumentResultStatus.ERROR)
        if kind == "skip":
            skip = SkipDoc(documentId=document_id, recordType="Item", partitionKey=item["pk"], skipMessage="skipped")
            return ParseDocumentResult(None, skip, ParseDocumentResultStatus.SKIP)
        document = Document(
            documentId=document_id,
            recordType="Item",
            partitionKey=item["pk"],
            documentMetadata={{}},
            documentKeyValuesMap={{
                "tableName": tableName,
                "segment": segmentNumber,
                "keys": keys,
                "item": item,
                "types": {{name: type(value).__name__ for name, value in item.items()}},
            }},
        )
        return ParseDocumentResult(None, document, ParseDocumentResultStatus.SUCCESS)
"#,
        gate_pk = gate_pk.map_or_else(|| "None".to_owned(), |pk| format!("{pk:?}")),
        gate_code = Gate::PYTHON,
    )
}

/// Writes the dataset file and the handler.
fn set_up(workspace: &Workspace, manifest: &Value, concurrency: usize, batch_size: usize, gate_pk: Option<&str>) {
    let dataset = json!({
        "datasetName": DATASET,
        "readConnector": {
            "connectorDestination": "DynamoDB",
            "tableName": TABLE,
            "artifactImplementationLanguage": "Python",
            "handlerPath": "handler.py",
        },
        "manifestFile": manifest,
        "writeConnector": { "connectorDestination": "File", "directory": "output" },
        "errorConnector": { "connectorDestination": "Folder", "directory": "errors" },
        "computeEngine": {
            "computeEngineType": "Local",
            "concurrency": concurrency,
            "batchSize": batch_size,
            "checkpointIntervalMs": 100,
        },
    });
    workspace.write("dataset.json", format!("{dataset:#}\n"));
    let gate_dir = workspace.path("gates");
    workspace.write("handler.py", handler(gate_dir.to_str().expect("a UTF-8 path"), gate_pk));
}

fn segment_manifest(segments: u32) -> Value {
    json!({ "manifestType": "DynamoDBTableReaderManifest", "dynamoDBTableReaderSegments": segments })
}

/// Output documents by id, each checked to be in the output file of the
/// segment it names; panics on a document written twice.
fn documents_by_id(workspace: &Workspace) -> BTreeMap<String, Value> {
    let mut documents = BTreeMap::new();
    for name in workspace.file_names("output") {
        let text = std::fs::read_to_string(workspace.path(&format!("output/{name}"))).expect("read an output file");
        for line in text.lines() {
            let document: Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("output/{name}: {err}"));
            let segment = document["segment"].as_u64().unwrap_or_else(|| panic!("no segment in {document:#}"));
            assert_eq!(name, format!("segment-{segment:04}.jsonl"), "a document in another segment's file");
            let id = document["documentId"].as_str().expect("a document id").to_owned();
            assert!(documents.insert(id.clone(), document).is_none(), "{id} was written twice");
        }
    }
    documents
}

/// Checks every document and error file of items `numbers` (each once,
/// nothing else), and returns how many items each kind counts.
#[track_caller]
fn assert_items_done(
    workspace: &Workspace,
    moto: &Moto,
    numbers: &[usize],
    segments: u64,
) -> BTreeMap<&'static str, u64> {
    let documents = documents_by_id(workspace);
    let mut counts = BTreeMap::new();
    let mut expected_ids = BTreeSet::new();
    let mut expected_errors = BTreeMap::new();
    for &number in numbers {
        let kind = Kind::of(number);
        *counts.entry(kind.name()).or_insert(0) += 1;
        let id = format!("{}|{}", pk(number), number % 5);
        match kind {
            Kind::Document => {
                expected_ids.insert(id.clone());
                let document = documents.get(&id).unwrap_or_else(|| panic!("no document {id}"));
                assert_eq!(sorted_sets(document["item"].clone()), item_json(number), "the item of {id}");
                assert_eq!(document["keys"], json!({"pk": pk(number), "sk": number % 5}), "the keys of {id}");
                assert_eq!(document["types"], python_types(), "the attribute types of {id}");
                assert_eq!(document["tableName"], TABLE);
                assert_eq!(document["partitionKey"], pk(number));
            }
            Kind::Raise | Kind::ErrorDoc => {
                expected_errors.insert(pk(number), (number, kind));
            }
            Kind::Skip => {}
        }
    }
    let ids: BTreeSet<String> = documents.keys().cloned().collect();
    assert_eq!(ids, expected_ids, "the documents written");
    let mut segments_seen = BTreeSet::new();
    for document in documents.values() {
        segments_seen.insert(document["segment"].as_u64().expect("a segment"));
    }
    assert_eq!(segments_seen, (0..segments).collect(), "every segment read items");

    let results = moto.results(workspace, DATASET);
    let mut errors_seen = BTreeSet::new();
    for (name, error) in &results.errors {
        let key = error["keys"]["pk"].as_str().unwrap_or_else(|| panic!("{name} names no key: {error:#}"));
        let (number, kind) = *expected_errors.get(key).unwrap_or_else(|| panic!("{name}: {key} should not fail"));
        assert!(errors_seen.insert(key.to_owned()), "{key} has two error files");
        let segment = error["segment"].as_u64().expect("an error names its segment");
        let (task, record) = name.strip_suffix(".json").and_then(|stem| stem.split_once('@')).expect("TASK@KEY.json");
        assert_eq!(task, format!("segment-{segment:04}"), "{name}");
        assert_eq!(error["task"], task, "{name}");
        assert!(record.len() == 19 && record.starts_with("000000-"), "{name}: a pass and index key");
        assert_eq!(error["tableName"], TABLE, "{name}");
        assert_eq!(error["keys"], json!({"pk": pk(number), "sk": number % 5}), "{name}");
        let payload: Value =
            serde_json::from_str(error["record"].as_str().expect("the record")).expect("the item JSON");
        assert_eq!(sorted_sets(payload), item_json(number), "{name}: the record is the item");
        match kind {
            Kind::Raise => {
                assert_eq!(error["errorType"], "ValueError", "{name}");
                assert_eq!(error["message"], format!("item {key} asks to fail"), "{name}");
            }
            _ => {
                assert_eq!(error["errorType"], "ErrorDoc", "{name}");
                assert_eq!(error["message"], format!("item {key} is refused"), "{name}");
            }
        }
    }
    let expected_failing: BTreeSet<String> = expected_errors.keys().cloned().collect();
    assert_eq!(errors_seen, expected_failing, "the error files written");
    counts
}

/// The tasks of a finished scan: every segment completed its first pass,
/// counting `counts` between them.
#[track_caller]
fn assert_tasks_completed(moto: &Moto, workspace: &Workspace, segments: u64, counts: &BTreeMap<&str, u64>) {
    let tasks = moto.results(workspace, DATASET).tasks;
    let names: Vec<&str> = tasks.iter().map(|task| task["task"].as_str().expect("a task id")).collect();
    let expected: Vec<String> = (0..segments).map(|segment| format!("segment-{segment:04}")).collect();
    assert_eq!(names, expected);
    let (mut read, mut processed, mut errored, mut skipped) = (0, 0, 0, 0);
    for task in &tasks {
        assert_eq!(task["state"], "COMPLETED", "{task:#}");
        let source = task["checkpoint"]["source"].as_str().unwrap_or_else(|| panic!("no checkpoint: {task:#}"));
        let checkpoint: Value = serde_json::from_str(source).expect("the checkpoint is JSON");
        assert_eq!(checkpoint["at"], "passEnded", "{task:#}");
        assert_eq!(checkpoint["pass"], 0, "{task:#}");
        assert_eq!(checkpoint["totalSegments"], segments, "{task:#}");
        let progress = &task["progress"];
        let count = |key: &str| progress[key].as_u64().expect("a count");
        assert_eq!(
            checkpoint["read"].as_u64(),
            Some(count("processed") + count("errored") + count("skipped")),
            "every item read was counted: {task:#}"
        );
        read += checkpoint["read"].as_u64().expect("items read");
        processed += count("processed");
        errored += count("errored");
        skipped += count("skipped");
    }
    let count = |kind: Kind| counts.get(kind.name()).copied().unwrap_or(0);
    assert_eq!(processed, count(Kind::Document));
    assert_eq!(errored, count(Kind::Raise) + count(Kind::ErrorDoc));
    assert_eq!(skipped, count(Kind::Skip));
    assert_eq!(read, processed + errored + skipped);
}

#[test]
fn every_item_of_every_segment_is_read_once() {
    let workspace = Workspace::new();
    let moto = Moto::start();
    create_table(&moto, 300);
    set_up(&workspace, &segment_manifest(3), 3, 25, None);

    let run = moto.run(&workspace);
    run.expect_code(0).expect_stdout_line("  tasks    3 of 3 complete (3 in this run, 0 before)");
    let numbers: Vec<usize> = (0..300).collect();
    let counts = assert_items_done(&workspace, &moto, &numbers, 3);
    assert!(counts.len() == 4, "every kind of item is there: {counts:?}");
    assert_tasks_completed(&moto, &workspace, 3, &counts);
}

#[test]
fn a_filter_expression_reads_only_matching_items() {
    let workspace = Workspace::new();
    let moto = Moto::start();
    create_table(&moto, 300);
    let mut manifest = segment_manifest(2);
    manifest["dynamoDBTableReaderFilterExpression"] = json!("#kind = :doc AND #n >= :least");
    manifest["dynamoDBTableReaderExpressionAttributeNames"] = json!({"#kind": "kind", "#n": "n"});
    manifest["dynamoDBTableReaderExpressionAttributeValues"] = json!({":doc": "doc", ":least": 200});
    // Small pages: most hold no matching item, and the scan goes on.
    set_up(&workspace, &manifest, 2, 10, None);

    let run = moto.run(&workspace);
    run.expect_code(0);
    let matching: Vec<usize> = (200..300).filter(|number| Kind::of(*number) == Kind::Document).collect();
    let counts = assert_items_done(&workspace, &moto, &matching, 2);
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), ["doc"]);
    assert_tasks_completed(&moto, &workspace, 2, &counts);
}

#[test]
fn an_interrupted_scan_resumes_exactly_once() {
    let workspace = Workspace::new();
    let moto = Moto::start();
    create_table(&moto, 300);
    set_up(&workspace, &segment_manifest(3), 3, 10, Some(&pk(150)));
    let gate = Gate::create(&workspace.path("gates"), GATE);

    let mut run = moto.spawn_run(&workspace);
    run.wait_at(&gate);
    interrupt_at_gate(run, &gate).expect_code(130);

    let stopped = moto.results(&workspace, DATASET);
    let checkpoints: Vec<Value> = stopped
        .tasks
        .iter()
        .filter(|task| task["state"] == "PROCESSING")
        .map(|task| serde_json::from_str(task["checkpoint"]["source"].as_str().expect("a checkpoint")).expect("JSON"))
        .collect();
    assert!(
        checkpoints
            .iter()
            .any(|checkpoint| checkpoint["at"] == "scanning" && checkpoint["lastEvaluatedKey"].is_object()),
        "a segment stopped part way: {:#?}",
        stopped.tasks
    );
    let all_documents = (0..300).filter(|number| Kind::of(*number) == Kind::Document).count();
    assert!(
        stopped.documents.len() < all_documents,
        "the first run stopped early: {} of {all_documents} documents",
        stopped.documents.len()
    );

    moto.run(&workspace).expect_code(0);
    let numbers: Vec<usize> = (0..300).collect();
    let counts = assert_items_done(&workspace, &moto, &numbers, 3);
    assert_tasks_completed(&moto, &workspace, 3, &counts);
}

#[test]
fn a_missing_table_fails_before_any_task_starts() {
    let workspace = Workspace::new();
    let moto = Moto::start();
    set_up(&workspace, &segment_manifest(2), 2, 25, None);

    let run = moto.run(&workspace);
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "cannot list the tasks of the read connector: DescribeTable on table {TABLE} failed: ResourceNotFoundException"
        )),
        "{}",
        run.stderr
    );
    assert!(workspace.file_names("output").is_empty(), "nothing was written");
}
