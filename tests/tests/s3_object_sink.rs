//! The S3 write connector's `Single Record Writer` against moto: every
//! document becomes one object, `PREFIX + documentId + ".json"`, holding
//! the document's flat JSON as `application/json`; a missing bucket stops
//! the run before any task, naming the bucket.

use ferry_e2e_tests::bucket::Bucket;
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::sink_runs::{DATASET, RecordKind, SinkRun, assert_exactly_once};
use serde_json::{Value, json};

const BUCKET: &str = "ferry-documents";
const KEY_PREFIX: &str = "out/";

fn connector(bucket: &str) -> Value {
    json!({
        "connectorDestination": "S3",
        "bucketName": bucket,
        "keyPrefix": KEY_PREFIX,
        "writerType": "Single Record Writer",
    })
}

#[test]
fn every_document_becomes_one_object_named_after_its_id() {
    let moto = Moto::start();
    let records = (0..240).map(|n| if n % 17 == 2 { RecordKind::Raise } else { RecordKind::Document }).collect();
    let sink_run = SinkRun::new(connector(BUCKET), records, 3, 20);

    let bucket = Bucket::create(&moto, BUCKET);
    let run = sink_run.run(Some(&moto));
    run.expect_code(0).expect_stdout_line(&format!("  output   s3://{BUCKET}/{KEY_PREFIX} (one object per document)"));
    let mut found = Vec::new();
    for (key, body) in bucket.objects(KEY_PREFIX) {
        let document: Value = serde_json::from_slice(&body).unwrap_or_else(|err| panic!("{key} is not JSON: {err}"));
        let id = document["documentId"].as_str().unwrap_or_else(|| panic!("{key} holds no id"));
        assert_eq!(key, format!("{KEY_PREFIX}{id}.json"));
        assert_eq!(bucket.content_type(&key).as_deref(), Some("application/json"), "{key}");
        found.push(document);
    }
    let expected = sink_run.expected_documents(|_| false);
    assert_exactly_once(&found, &expected);
    sink_run.assert_errors(|_| false, "");
    let writes =
        run.stdout.lines().map(str::trim_start).find(|line| line.starts_with("writes ")).expect("a writes line");
    assert!(writes.starts_with(&format!("writes   {0} puts, {0} documents", expected.len())), "{writes}");
    println!("{writes}");
}

#[test]
fn a_missing_bucket_stops_the_run_before_any_task() {
    let moto = Moto::start();
    let sink_run = SinkRun::new(connector("no-such-bucket"), vec![RecordKind::Document; 5], 1, 5);

    let run = sink_run.run(Some(&moto));
    run.expect_code(1);
    assert!(
        run.stderr.contains("HeadBucket on s3://no-such-bucket failed: the bucket no-such-bucket does not exist"),
        "{}",
        run.stderr
    );
    let tasks = sink_run.workspace.tasks(DATASET);
    assert!(!tasks.is_empty() && tasks.iter().all(|task| task.state == "CREATED"), "a task started: {tasks:?}");
}
