//! The S3 error connector against moto: each failed record's error
//! document is an object `PREFIX + TASK@OFFSET.json` holding what the
//! error folder would (the exception's type, message and traceback, where
//! the record came from, the record); a run started over rewrites them
//! and removes the task's stale ones, leaving other tasks' alone; and the
//! sink's `clear_from` removes exactly a task's documents from a key on,
//! past S3's 1,000 keys per listing page and per DeleteObjects call.

use std::collections::BTreeMap;

use ferry_e2e_tests::bucket::Bucket;
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::process::Running;
use ferry_e2e_tests::sink_runs::{RecordKind, SinkRun};
use ferry_task_host::error_sinks::ErrorRecord;
use ferry_task_host::error_sinks::ErrorSink;
use ferry_task_host::error_sinks::s3::S3ErrorSink;
use serde_json::{Map, Value, json};

const BUCKET: &str = "ferry-errors";
const KEY_PREFIX: &str = "errors/";

/// Every error document under [`KEY_PREFIX`]: its name (the key without
/// the prefix) and its body.
fn error_documents(bucket: &Bucket) -> BTreeMap<String, Vec<u8>> {
    let objects = bucket.objects(KEY_PREFIX).into_iter();
    objects.map(|(key, body)| (key.strip_prefix(KEY_PREFIX).expect("under the prefix").to_owned(), body)).collect()
}

/// Replaces the workspace's `errors/` folder with the bucket's error
/// documents, so that [`SinkRun::assert_errors`] checks them.
fn download_errors(sink_run: &SinkRun, documents: &BTreeMap<String, Vec<u8>>) {
    let folder = sink_run.workspace.path("errors");
    if folder.exists() {
        std::fs::remove_dir_all(&folder).expect("remove errors/");
    }
    for (name, body) in documents {
        sink_run.workspace.write(&format!("errors/{name}"), body);
    }
}

/// Checks that each document is named `TASK@OFFSET.json` after the task
/// and the record offset it holds.
#[track_caller]
fn assert_named_after_their_records(documents: &BTreeMap<String, Vec<u8>>) {
    for (name, body) in documents {
        let error: Value = serde_json::from_slice(body).unwrap_or_else(|err| panic!("{name}: {err}"));
        let task = error["task"].as_str().unwrap_or_else(|| panic!("{name} names no task"));
        let offset = error["offsetBytes"].as_u64().unwrap_or_else(|| panic!("{name} holds no offset"));
        assert_eq!(name, &format!("{task}@{offset:020}.json"));
        assert!(body.ends_with(b"}\n"), "{name} does not end with a newline");
    }
}

#[test]
fn failed_records_become_objects_that_a_restart_rewrites() {
    let moto = Moto::start();
    let bucket = Bucket::create(&moto, BUCKET);
    let records = (0..90).map(|n| if n % 7 == 3 { RecordKind::Raise } else { RecordKind::Document }).collect();
    let sink_run = SinkRun::new(json!({ "connectorDestination": "File", "directory": "output" }), records, 2, 10);
    let dataset_file = sink_run.workspace.dataset_file();
    let mut dataset: Value =
        serde_json::from_str(&std::fs::read_to_string(&dataset_file).expect("read dataset.json")).expect("JSON");
    dataset["errorConnector"] = json!({ "connectorDestination": "S3", "bucketName": BUCKET, "keyPrefix": KEY_PREFIX });
    sink_run.workspace.write("dataset.json", format!("{dataset:#}\n"));

    sink_run.run(Some(&moto)).expect_code(0).expect_stdout_line(&format!("  errors   s3://{BUCKET}/{KEY_PREFIX}"));
    let first = error_documents(&bucket);
    assert_named_after_their_records(&first);
    download_errors(&sink_run, &first);
    sink_run.assert_errors(|_| false, "");

    // What an earlier run could have left: a document of the first task
    // for a record past any this run fails, and one of another task.
    let stale = format!("items-000.jsonl@{:020}.json", 999_999);
    let other = format!("items-999.jsonl@{:020}.json", 0);
    bucket.put(&format!("{KEY_PREFIX}{stale}"), "{}\n");
    bucket.put(&format!("{KEY_PREFIX}{other}"), "{}\n");
    Running::start(moto.command(&sink_run.workspace, &["run", &dataset_file, "--restart"])).wait().expect_code(0);

    let mut second = error_documents(&bucket);
    assert_eq!(second.remove(&other).as_deref(), Some(&b"{}\n"[..]), "another task's document was touched");
    assert_eq!(
        second.keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>(),
        "the restart leaves the same documents, and not the stale one"
    );
    assert_named_after_their_records(&second);
    download_errors(&sink_run, &second);
    sink_run.assert_errors(|_| false, "");
}

/// The record key of the record at `offset`, as file sources make it.
fn offset_key(offset: u64) -> String {
    format!("{offset:020}")
}

/// Failed records of `task`, one per key.
fn failed<'a>(task: &'a str, keys: &'a [String], origin: &'a Map<String, Value>) -> Vec<ErrorRecord<'a>> {
    keys.iter()
        .map(|key| ErrorRecord {
            dataset: "d",
            task,
            key,
            origin,
            error_type: "ValueError".to_owned(),
            message: "refused".to_owned(),
            traceback: None,
            retryable: false,
            error_start_offset_map: BTreeMap::new(),
            error_end_offset_map: BTreeMap::new(),
            document: None,
            record: "{}".to_owned(),
            record_truncated: false,
        })
        .collect()
}

#[test]
fn clear_from_removes_a_tasks_documents_from_a_key_on() {
    // Its name is encoded in keys; the other task's encoded name is a
    // prefix of its own.
    const TASK: &str = "logs/a b.jsonl";
    const OTHER: &str = "logs/a";
    let moto = Moto::start();
    let bucket = Bucket::create(&moto, BUCKET);
    let origin = Map::new();
    let task_keys: Vec<String> = (0..1_100).map(offset_key).collect();
    let other_keys: Vec<String> = (0..5).map(offset_key).collect();
    let removed = bucket.block_on(async {
        let sink = S3ErrorSink::connect(&moto.sdk_config().await, BUCKET, KEY_PREFIX).await.expect("connect");
        assert_eq!(sink.describe(), format!("s3://{BUCKET}/{KEY_PREFIX}"));
        sink.write(&failed(TASK, &task_keys, &origin)).await.expect("write the task's errors");
        sink.write(&failed(OTHER, &other_keys, &origin)).await.expect("write the other task's errors");
        sink.sync().await.expect("sync");
        [
            sink.clear_from(TASK, &offset_key(50)).await.expect("clear from 50"),
            sink.clear_from(TASK, &offset_key(50)).await.expect("clear from 50 again"),
            sink.clear_from("never-failed", &offset_key(0)).await.expect("clear a task without errors"),
        ]
    });
    assert_eq!(removed, [1_050, 0, 0]);
    let mut expected: Vec<String> = (0..50)
        .map(|offset| format!("logs%2Fa%20b.jsonl@{offset:020}.json"))
        .chain((0..5).map(|offset| format!("logs%2Fa@{offset:020}.json")))
        .collect();
    expected.sort();
    assert_eq!(error_documents(&bucket).into_keys().collect::<Vec<_>>(), expected);
}
