//! The DynamoDB write connector against moto: every document becomes one
//! item of the table, its fields as attributes; documents that cannot be
//! items (a key attribute missing or of the wrong type, an item over the
//! size limit) become error documents and the run still succeeds; a
//! missing table stops the run before any task.
//!
//! Items are read back with a Scan and turned into plain JSON with the
//! conversion ferry's DynamoDB sources hand items to handlers with.

use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::sink_runs::{DATASET, RecordKind, SinkRun, assert_exactly_once};
use ferry_e2e_tests::table::Table;
use serde_json::{Value, json};

const TABLE: &str = "documents";
/// PutItem calls in flight per task.
const WRITERS: usize = 4;

fn connector() -> Value {
    json!({ "connectorDestination": "DynamoDB", "tableName": TABLE, "dynamoDBWriters": WRITERS })
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
    let table = Table::create(&moto, TABLE, "documentId");
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

/// Runs `sink_run` into a table keyed by the string attribute `hash_key`,
/// which no document's key fits: the run succeeds, the table stays empty
/// and every document becomes an error document of `refusal_type`.
#[track_caller]
fn assert_every_document_refused(sink_run: &SinkRun, hash_key: &str, refusal_type: &str) {
    let moto = Moto::start();
    let table = Table::create(&moto, TABLE, hash_key);
    sink_run.run(Some(&moto)).expect_code(0);
    assert_eq!(table.scan(), Vec::<Value>::new());
    sink_run.assert_errors(|_| true, refusal_type);
}

#[test]
fn documents_whose_key_attribute_has_the_wrong_type_are_refused() {
    let records = (0..40).map(|n| if n % 10 == 3 { RecordKind::Raise } else { RecordKind::Document }).collect();
    let sink_run = SinkRun::new(connector(), records, 2, 8);
    // Documents carry `n` as a number; the table wants a string.
    assert_every_document_refused(&sink_run, "n", "InvalidKeyAttribute");
    let error = std::fs::read_to_string(sink_run.workspace.path("errors/items-000.jsonl@00000000000000000000.json"))
        .expect("the first record's error document");
    let error: Value = serde_json::from_str(&error).expect("JSON");
    let message = error["message"].as_str().expect("a message");
    assert!(message.contains("\"n\" must be a non-empty string") && message.contains("a number, 0"), "{message}");
}

#[test]
fn documents_without_the_key_attribute_are_refused() {
    let sink_run = SinkRun::new(connector(), vec![RecordKind::Document; 12], 1, 5);
    assert_every_document_refused(&sink_run, "missingField", "MissingKeyAttribute");
}

#[test]
fn items_over_the_size_limit_are_refused_and_the_rest_arrive() {
    let moto = Moto::start();
    let table = Table::create(&moto, TABLE, "documentId");
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
