//! The S3 aggregate-file sink against moto: a task's documents land in
//! objects of about the configured size (10 MiB, the smallest the config
//! takes), keyed `PREFIX + TASK + "-" + NNNNN + ".jsonl"`, each document
//! followed by the separator; big objects go up as multipart uploads.
//! A run interrupted, then one killed after an upload, then a last run,
//! leave every document exactly once and no object of the stopped runs
//! behind.
//!
//! Documents are about 10 KB (`RecordKind::Large`), so an object holds
//! about a thousand of them.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use ferry_e2e_tests::TIMEOUT;
use ferry_e2e_tests::bucket::Bucket;
use ferry_e2e_tests::gate::Gate;
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::process::{Signal, wait_until_gone};
use ferry_e2e_tests::runs::interrupt_at_gate;
use ferry_e2e_tests::sink_runs::{DATASET, RecordKind, SinkRun, assert_exactly_once};
use ferry_e2e_tests::workspace::TaskView;
use serde_json::{Value, json};

const BUCKET: &str = "ferry-aggregates";
const KEY_PREFIX: &str = "aggregates/";
const MIB: u64 = 1024 * 1024;
/// `aggregateFileSizeInMB`.
const OBJECT_MIB: u64 = 10;
const BATCH_SIZE: usize = 50;
/// Bytes of a large document's `text`.
const TEXT_BYTES: usize = 10_000;
/// More than any large document takes with its separator.
const MAX_DOCUMENT_BYTES: u64 = TEXT_BYTES as u64 + 200;
/// The task of the first data file.
const TASK: &str = "items-000.jsonl";

/// The write connector: aggregate files of [`OBJECT_MIB`] under `prefix`,
/// with `separator` when given (the default, a newline, otherwise).
fn connector(prefix: &str, separator: Option<&str>) -> Value {
    let mut connector = json!({
        "connectorDestination": "S3",
        "bucketName": BUCKET,
        "keyPrefix": prefix,
        "writerType": "Aggregate File Writer",
        "aggregateFileSizeInMB": OBJECT_MIB,
    });
    if let Some(separator) = separator {
        connector["fileRecordsSeparator"] = json!(separator);
    }
    connector
}

/// The key of a task's object `number`, as the sink documents it.
fn object_key(prefix: &str, task: &str, number: u64) -> String {
    format!("{prefix}{task}-{number:05}.jsonl")
}

/// One object as listed.
#[derive(Debug, Clone)]
struct Listed {
    key: String,
    size: u64,
    e_tag: String,
}

/// Every object under `prefix`, by key.
fn listed(bucket: &Bucket, prefix: &str) -> Vec<Listed> {
    let objects = bucket.list(prefix).into_iter();
    objects
        .map(|object| Listed {
            key: object.key().expect("a key").to_owned(),
            size: object.size().and_then(|size| u64::try_from(size).ok()).expect("a size"),
            e_tag: object.e_tag().expect("an ETag").trim_matches('"').to_owned(),
        })
        .collect()
}

/// Starts a multipart upload of `key` with one part and leaves it
/// unfinished, as a run killed mid-upload does.
fn start_upload(bucket: &Bucket, key: &str) {
    let client = bucket.client();
    bucket.block_on(async {
        let created = client.create_multipart_upload().bucket(BUCKET).key(key).send().await.expect("create an upload");
        let upload_id = created.upload_id().expect("an upload id");
        client
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(upload_id)
            .part_number(1)
            .body(ByteStream::from_static(b"half an object"))
            .send()
            .await
            .expect("upload a part");
    });
}

/// The keys of the multipart uploads under way.
fn uploads(bucket: &Bucket) -> Vec<String> {
    let answer = bucket.block_on(bucket.client().list_multipart_uploads().bucket(BUCKET).send());
    answer.expect("list the uploads").uploads().iter().filter_map(|upload| upload.key()).map(str::to_owned).collect()
}

/// Waits until `key` exists. moto tells no one when an object lands, so
/// this asks every few milliseconds.
fn wait_for(bucket: &Bucket, key: &str) {
    let started = Instant::now();
    while !bucket.keys(key).iter().any(|listed| listed == key) {
        assert!(started.elapsed() < TIMEOUT, "no object {key} after {TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The documents of `objects`, in order: each object is documents each
/// followed by `separator`.
fn read_documents(bucket: &Bucket, objects: &[Listed], separator: &str) -> Vec<Value> {
    let mut documents = Vec::new();
    for object in objects {
        let body = String::from_utf8(bucket.read(&object.key)).expect("an object is UTF-8");
        assert_eq!(body.len() as u64, object.size, "{} as listed and as read", object.key);
        let Some(body) = body.strip_suffix(separator) else {
            panic!("{} does not end with the separator {separator:?}", object.key)
        };
        for text in body.split(separator) {
            documents.push(serde_json::from_str(text).unwrap_or_else(|err| panic!("{}: {err}: {text}", object.key)));
        }
    }
    documents
}

/// Records numbered from 0: large documents, but `Raise` at `raising`.
fn large_records(count: usize, raising: &[usize]) -> Vec<RecordKind> {
    (0..count).map(|n| if raising.contains(&n) { RecordKind::Raise } else { RecordKind::Large(TEXT_BYTES) }).collect()
}

/// The record numbers of `documents`, checked to be in record order.
#[track_caller]
fn assert_in_record_order(documents: &[Value]) {
    let numbers: Vec<u64> = documents.iter().map(|document| document["n"].as_u64().expect("n")).collect();
    assert!(numbers.is_sorted(), "documents out of record order");
}

/// The one task's view.
fn the_task(run: &SinkRun) -> TaskView {
    let tasks = run.workspace.tasks(DATASET);
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    tasks.into_iter().next().expect("one task")
}

#[track_caller]
fn assert_summary_line_starts(stdout: &str, start: &str) {
    assert!(stdout.lines().any(|line| line.starts_with(start)), "no line starting {start:?} in:\n{stdout}");
}

#[test]
fn documents_are_gathered_into_numbered_objects_multipart_when_big() {
    let moto = Moto::start();
    let bucket = Bucket::create(&moto, BUCKET);
    // About 24.8 MiB of documents: two full objects and a smaller last one.
    let raising = [0, 777, 1500, 2599];
    let run = SinkRun::new(connector(KEY_PREFIX, None), large_records(2600, &raising), 1, BATCH_SIZE);

    let started = Instant::now();
    let finished = run.run(Some(&moto));
    let elapsed = started.elapsed();
    finished
        .expect_code(0)
        .expect_stdout_line("  tasks    1 of 1 complete (1 in this run, 0 before)")
        .expect_stdout_line("  records  2600: 2596 documents, 4 errors, 0 skipped")
        .expect_stdout_line(&format!("  output   s3://{BUCKET}/{KEY_PREFIX} (aggregate files of {OBJECT_MIB} MiB)"));

    let objects = listed(&bucket, KEY_PREFIX);
    let keys: Vec<&str> = objects.iter().map(|object| object.key.as_str()).collect();
    let wanted: Vec<String> = (0..3).map(|number| object_key(KEY_PREFIX, TASK, number)).collect();
    assert_eq!(keys, wanted);
    let object_bytes = OBJECT_MIB * MIB;
    for full in &objects[..2] {
        assert!(
            (object_bytes..object_bytes + BATCH_SIZE as u64 * MAX_DOCUMENT_BYTES).contains(&full.size),
            "{} holds {} bytes: not the size passed by at most one batch",
            full.key,
            full.size
        );
        // An 8 MiB part and the rest.
        assert!(full.e_tag.ends_with("-2"), "{} was not uploaded in two parts: ETag {}", full.key, full.e_tag);
    }
    let last = &objects[2];
    assert!(last.size < object_bytes, "{last:?}");
    assert!(!last.e_tag.contains('-'), "the last object, under a part, is put whole: {last:?}");

    let documents = read_documents(&bucket, &objects, "\n");
    assert_exactly_once(&documents, &run.expected_documents(|_| false));
    assert_in_record_order(&documents);
    run.assert_errors(|_| false, "");
    let total_bytes: u64 = objects.iter().map(|object| object.size).sum();
    // Not the retries: the SDK may retry any call once moto hiccups.
    assert_summary_line_starts(&finished.stdout, &format!("  writes   3 puts, 2596 documents, {total_bytes} bytes, "));
    let task = the_task(&run);
    assert_eq!(task.state, "COMPLETED");
    assert_eq!(task.checkpoint.map(|checkpoint| checkpoint.sink), Some(3), "the next object number");
    eprintln!(
        "{} objects of {:?} bytes in {elapsed:.2?}",
        objects.len(),
        objects.iter().map(|object| object.size).collect::<Vec<_>>()
    );
}

#[test]
fn a_custom_separator_follows_every_document_and_empty_tasks_upload_nothing() {
    let moto = Moto::start();
    let bucket = Bucket::create(&moto, BUCKET);
    // The first file's records become documents but two; the second
    // file's all raise.
    let records: Vec<RecordKind> = (0..400)
        .map(|n| if n >= 200 || n == 3 || n == 150 { RecordKind::Raise } else { RecordKind::Document })
        .collect();
    let separator = "\u{1e}";
    let run = SinkRun::new(connector("", Some(separator)), records, 2, BATCH_SIZE);

    run.run(Some(&moto))
        .expect_code(0)
        .expect_stdout_line("  tasks    2 of 2 complete (2 in this run, 0 before)")
        .expect_stdout_line("  records  400: 198 documents, 202 errors, 0 skipped");

    let objects = listed(&bucket, "");
    let keys: Vec<&str> = objects.iter().map(|object| object.key.as_str()).collect();
    assert_eq!(keys, [object_key("", TASK, 0)], "one object for the first task, none for the second");
    let documents = read_documents(&bucket, &objects, separator);
    assert_exactly_once(&documents, &run.expected_documents(|_| false));
    assert_in_record_order(&documents);
    run.assert_errors(|_| false, "");
}

/// Record numbers of the gates, and the records in all; see the test.
const INTERRUPT_AT: usize = 1300;
const KILL_AT: usize = 2800;
const RECORDS: usize = 3200;

/// The handler, made to stop at the gates: a subclass of the dataset's,
/// which the bridge picks as the most derived handler class.
fn gated_handler(handler: &str, gate_dir: &std::path::Path) -> String {
    format!(
        r#"{handler}
import os
{gate_code}

GATES = {{{INTERRUPT_AT}: "interrupt", {KILL_AT}: "kill"}}


class GatedItems(Items):
    def parseDocument(self, s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex):
        n = json.loads(bytes(byteArr[startIndex:endIndex]))["n"]
        if n in GATES:
            wait_at_gate({gate_dir:?}, GATES[n])
        return super().parseDocument(s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex)
"#,
        gate_code = Gate::PYTHON,
        gate_dir = gate_dir.to_str().expect("a UTF-8 path"),
    )
}

#[test]
fn runs_interrupted_and_killed_after_an_upload_leave_every_document_once() {
    let moto = Moto::start();
    let bucket = Bucket::create(&moto, BUCKET);
    // Raising records stay far from the gates, so that no error file is
    // being written when a run is stopped there.
    let raising = [5, 600, 3150];
    let separator = "\n";
    let run = SinkRun::new(connector(KEY_PREFIX, Some(separator)), large_records(RECORDS, &raising), 1, BATCH_SIZE);
    let workspace = &run.workspace;
    let gate_dir = workspace.path("gates");
    let handler = std::fs::read_to_string(workspace.path("handler.py")).expect("read the handler");
    workspace.write("handler.py", gated_handler(&handler, &gate_dir));
    let interrupt = Gate::create(&gate_dir, "interrupt");
    let kill = Gate::create(&gate_dir, "kill");
    let key = |number| object_key(KEY_PREFIX, TASK, number);
    let started = Instant::now();

    // First run: Ctrl-C at record 1300, past the first object (about 1040
    // documents). The last flush uploads what is spilled as object 1.
    let mut first = moto.spawn_run(workspace);
    first.wait_at(&interrupt);
    interrupt_at_gate(first, &interrupt).expect_code(130);
    assert_eq!(bucket.keys(KEY_PREFIX), [key(0), key(1)]);
    let interrupted = the_task(&run);
    assert_eq!(interrupted.checkpoint.map(|checkpoint| checkpoint.sink), Some(2), "{interrupted:?}");

    // Second run: from object 2 on; killed at record 2800 once object 2
    // (the next thousand-odd documents) is uploaded. Its checkpoint may
    // or may not cover object 2 by then.
    let mut second = moto.spawn_run(workspace);
    second.wait_at(&kill);
    wait_for(&bucket, &key(2));
    let bridges = second.children_named("ferry-bridge");
    second.signal(Signal::KILL);
    for bridge in bridges {
        wait_until_gone(bridge, "the bridge of the killed ferry");
    }
    assert_eq!(second.wait().status.signal(), Some(9));
    let killed = the_task(&run);
    assert_eq!(killed.state, "PROCESSING");
    let killed_at = killed.checkpoint.map(|checkpoint| checkpoint.sink);
    assert!(matches!(killed_at, Some(2 | 3)), "{killed:?}");

    // What else a stopped run may leave: an object numbered past the next
    // run's (its batches were cut differently) and an unfinished upload.
    // Another task's object that shares the prefix stays.
    bucket.put(&key(9), "stale\n");
    start_upload(&bucket, &key(8));
    let stranger = object_key(KEY_PREFIX, &format!("{TASK}-x"), 0);
    bucket.put(&stranger, "another task's\n");

    let last = moto.run(workspace);
    last.expect_code(0)
        .expect_stdout_line("  tasks    1 of 1 complete (1 in this run, 0 before)")
        .expect_stdout_line(&format!("  records  {RECORDS}: {} documents, 3 errors, 0 skipped", RECORDS - 3));
    let elapsed = started.elapsed();

    let mut objects = listed(&bucket, KEY_PREFIX);
    let stranger_at = objects.iter().position(|object| object.key == stranger).expect("the other task's object stays");
    objects.remove(stranger_at);
    let keys: Vec<&str> = objects.iter().map(|object| object.key.as_str()).collect();
    let wanted: Vec<String> = (0..4).map(key).collect();
    assert_eq!(keys, wanted, "objects 0 and 2 full, 1 the interrupted run's rest, 3 the last");
    assert!(uploads(&bucket).is_empty(), "unfinished uploads: {:?}", uploads(&bucket));
    let documents = read_documents(&bucket, &objects, separator);
    assert_exactly_once(&documents, &run.expected_documents(|_| false));
    assert_in_record_order(&documents);
    run.assert_errors(|_| false, "");
    let task = the_task(&run);
    assert_eq!(task.state, "COMPLETED");
    assert_eq!(task.checkpoint.map(|checkpoint| checkpoint.sink), Some(4));
    eprintln!(
        "killed with sink checkpoint {killed_at:?}; {} objects of {:?} bytes; three runs in {elapsed:.2?}",
        objects.len(),
        objects.iter().map(|object| object.size).collect::<Vec<_>>()
    );
    let sizes: BTreeMap<&str, u64> = objects.iter().map(|object| (object.key.as_str(), object.size)).collect();
    for full in [key(0), key(2)] {
        assert!(sizes[full.as_str()] >= OBJECT_MIB * MIB, "{full} is not full: {sizes:?}");
    }
}
