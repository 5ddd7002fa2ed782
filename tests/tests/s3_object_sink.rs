//! The S3 write connector's `Single Record Writer` against moto: every
//! document becomes one object, `PREFIX + documentId + ".json"`, holding
//! the document's flat JSON as `application/json`; a missing bucket stops
//! the run before any task, naming the bucket.

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

/// One object as read back.
struct Object {
    key: String,
    content_type: Option<String>,
    body: Value,
}

/// The test's view of the bucket, through moto.
struct Bucket {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
}

impl Bucket {
    fn create(moto: &Moto) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let client = runtime.block_on(async {
            let config = moto.sdk_config().await;
            aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build())
        });
        runtime.block_on(client.create_bucket().bucket(BUCKET).send()).expect("create the bucket");
        Self { runtime, client }
    }

    /// Every object under [`KEY_PREFIX`], by key.
    fn objects(&self) -> Vec<Object> {
        self.runtime.block_on(async {
            let mut objects = Vec::new();
            let mut pages = self.client.list_objects_v2().bucket(BUCKET).prefix(KEY_PREFIX).into_paginator().send();
            while let Some(page) = pages.next().await {
                for listed in page.expect("list the bucket").contents() {
                    let key = listed.key().expect("a key").to_owned();
                    let object = self.client.get_object().bucket(BUCKET).key(&key).send().await.expect("get an object");
                    let content_type = object.content_type().map(str::to_owned);
                    let body = object.body.collect().await.expect("read an object").to_vec();
                    let body = serde_json::from_slice(&body).unwrap_or_else(|err| panic!("{key} is not JSON: {err}"));
                    objects.push(Object { key, content_type, body });
                }
            }
            objects
        })
    }
}

#[test]
fn every_document_becomes_one_object_named_after_its_id() {
    let moto = Moto::start();
    let records = (0..240).map(|n| if n % 17 == 2 { RecordKind::Raise } else { RecordKind::Document }).collect();
    let sink_run = SinkRun::new(connector(BUCKET), records, 3, 20);

    let bucket = Bucket::create(&moto);
    let run = sink_run.run(Some(&moto));
    run.expect_code(0).expect_stdout_line(&format!("  output   s3://{BUCKET}/{KEY_PREFIX} (one object per document)"));
    let objects = bucket.objects();
    for object in &objects {
        let id = object.body["documentId"].as_str().unwrap_or_else(|| panic!("{} holds no id", object.key));
        assert_eq!(object.key, format!("{KEY_PREFIX}{id}.json"));
        assert_eq!(object.content_type.as_deref(), Some("application/json"), "{}", object.key);
    }
    let found: Vec<Value> = objects.into_iter().map(|object| object.body).collect();
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
