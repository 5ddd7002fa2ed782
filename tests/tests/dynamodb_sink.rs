//! The DynamoDB write connector against moto: every document becomes one
//! item of the table, its fields as attributes; documents that cannot be
//! items (a key attribute missing or of the wrong type, an item over the
//! size limit) become error documents and the run still succeeds; a
//! missing table stops the run before any task.
//!
//! Items are read back with a Scan and turned into plain JSON with the
//! conversion ferry's DynamoDB sources hand items to handlers with.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::sink_runs::{DATASET, RecordKind, SinkRun, assert_exactly_once};
use ferry_task_host::sources::attribute_values::item_to_json;
use serde_json::{Value, json};

const TABLE: &str = "documents";
/// PutItem calls in flight per task.
const WRITERS: usize = 4;

fn connector() -> Value {
    json!({ "connectorDestination": "DynamoDB", "tableName": TABLE, "dynamoDBWriters": WRITERS })
}

/// The test's view of the table, through moto.
struct Table {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_dynamodb::Client,
}

impl Table {
    /// Creates the table, keyed by the string attribute `hash_key`.
    fn create(moto: &Moto, hash_key: &str) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let client = runtime.block_on(async { aws_sdk_dynamodb::Client::new(&moto.sdk_config().await) });
        let definition = AttributeDefinition::builder()
            .attribute_name(hash_key)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("an attribute definition");
        let key = KeySchemaElement::builder().attribute_name(hash_key).key_type(KeyType::Hash).build().expect("a key");
        let request = client
            .create_table()
            .table_name(TABLE)
            .attribute_definitions(definition)
            .key_schema(key)
            .billing_mode(BillingMode::PayPerRequest)
            .send();
        runtime.block_on(request).expect("create the table");
        Self { runtime, client }
    }

    /// Every item, as plain JSON.
    fn scan(&self) -> Vec<Value> {
        self.runtime.block_on(async {
            let mut items = Vec::new();
            let mut start: Option<HashMap<String, AttributeValue>> = None;
            loop {
                let page =
                    self.client.scan().table_name(TABLE).set_exclusive_start_key(start).send().await.expect("scan");
                items.extend(page.items().iter().map(item_to_json));
                start = page.last_evaluated_key;
                if start.is_none() {
                    return items;
                }
            }
        })
    }
}

/// The summary's `writes` line, without its leading spaces.
fn writes_line(stdout: &str) -> &str {
    stdout
        .lines()
        .map(str::trim_start)
        .find(|line| line.starts_with("writes "))
        .unwrap_or_else(|| panic!("no writes line in the summary:\n{stdout}"))
}

#[test]
fn every_document_becomes_one_item() {
    let moto = Moto::start();
    let table = Table::create(&moto, "documentId");
    let records = (0..300).map(|n| if n % 23 == 5 { RecordKind::Raise } else { RecordKind::Document }).collect();
    let sink_run = SinkRun::new(connector(), records, 3, 25);

    let run = sink_run.run(Some(&moto));
    run.expect_code(0).expect_stdout_line(&format!("  output   dynamodb table {TABLE}"));
    let expected = sink_run.expected_documents(|_| false);
    assert_exactly_once(&table.scan(), &expected);
    sink_run.assert_errors(|_| false, "");
    let writes = writes_line(&run.stdout);
    assert!(writes.starts_with(&format!("writes   {0} puts, {0} documents", expected.len())), "{writes}");
    println!("{writes}");
}

#[test]
fn documents_whose_key_attribute_has_the_wrong_type_are_refused() {
    let moto = Moto::start();
    // Documents carry `n` as a number; the table wants a string.
    let table = Table::create(&moto, "n");
    let records = (0..40).map(|n| if n % 10 == 3 { RecordKind::Raise } else { RecordKind::Document }).collect();
    let sink_run = SinkRun::new(connector(), records, 2, 8);

    sink_run.run(Some(&moto)).expect_code(0);
    assert_eq!(table.scan(), Vec::<Value>::new());
    sink_run.assert_errors(|_| true, "InvalidKeyAttribute");
    let error = std::fs::read_to_string(sink_run.workspace.path("errors/items-000.jsonl@00000000000000000000.json"))
        .expect("the first record's error document");
    let error: Value = serde_json::from_str(&error).expect("JSON");
    let message = error["message"].as_str().expect("a message");
    assert!(message.contains("\"n\" must be a non-empty string") && message.contains("a number, 0"), "{message}");
}

#[test]
fn documents_without_the_key_attribute_are_refused() {
    let moto = Moto::start();
    let table = Table::create(&moto, "missingField");
    let sink_run = SinkRun::new(connector(), vec![RecordKind::Document; 12], 1, 5);

    sink_run.run(Some(&moto)).expect_code(0);
    assert_eq!(table.scan(), Vec::<Value>::new());
    sink_run.assert_errors(|_| true, "MissingKeyAttribute");
}

#[test]
fn items_over_the_size_limit_are_refused_and_the_rest_arrive() {
    let moto = Moto::start();
    let table = Table::create(&moto, "documentId");
    let large = |n: usize| n % 9 == 4;
    let records = (0..60).map(|n| if large(n) { RecordKind::Large(420_000) } else { RecordKind::Document }).collect();
    let sink_run = SinkRun::new(connector(), records, 2, 10);

    sink_run.run(Some(&moto)).expect_code(0);
    assert_exactly_once(&table.scan(), &sink_run.expected_documents(large));
    sink_run.assert_errors(large, "ItemTooLarge");
}

#[test]
fn a_missing_table_stops_the_run_before_any_task() {
    let moto = Moto::start();
    let sink_run = SinkRun::new(connector(), vec![RecordKind::Document; 5], 1, 5);

    let run = sink_run.run(Some(&moto));
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!("DescribeTable on table {TABLE} failed: ResourceNotFoundException")),
        "{}",
        run.stderr
    );
    let tasks = sink_run.workspace.tasks(DATASET);
    assert!(!tasks.is_empty() && tasks.iter().all(|task| task.state == "CREATED"), "a task started: {tasks:?}");
}
