//! The sinks' retries, end to end: `ferry run` writes through a
//! [`FaultProxy`] in front of moto that throttles or fails part of the
//! calls as AWS does, and the destination, read back from moto directly,
//! must still hold every document exactly once.
//!
//! - Kinesis and SQS: batch answers fail some entries; the sinks resend
//!   only those, and count them as retries in the run summary.
//! - DynamoDB and S3: whole calls fail (throttling, a 500) at their first
//!   attempt; the SDK's retry puts them, and the summary counts it.

use aws_sdk_kinesis::types::ShardIteratorType;
use ferry_e2e_tests::bucket::Bucket;
use ferry_e2e_tests::fault_proxy::{BatchApi, ErrorReply, Fault, FaultProxy, Faults, Operation};
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::process::Finished;
use ferry_e2e_tests::sink_runs::{RecordKind, SinkRun, assert_exactly_once, summary_writes};
use ferry_e2e_tests::table::Table;
use serde_json::{Value, json};

/// What a run through the proxy left.
struct Outcome {
    run: Finished,
    proxy: FaultProxy,
}

impl Outcome {
    /// Runs `sink_run` against `moto` through a proxy injecting `faults`;
    /// the run must succeed with no error documents, and the faults must
    /// have fired.
    fn of(moto: &Moto, sink_run: &SinkRun, faults: Faults) -> Self {
        let proxy = FaultProxy::start(moto.endpoint(), faults);
        let run = proxy.run(moto, &sink_run.workspace);
        run.expect_code(0);
        sink_run.assert_errors(|_| false, "");
        assert!(proxy.injected() > 0, "no fault was injected; stdout:\n{}", run.stdout);
        Self { run, proxy }
    }

    /// The summary's `writes` figure named `what` (`documents`,
    /// `retries`, ...).
    fn written(&self, what: &str) -> u64 {
        summary_writes(&self.run.stdout, what)
    }

    /// Checks the documents read back, and that the sink counted each
    /// expected document as written once.
    #[track_caller]
    fn assert_delivered(&self, sink_run: &SinkRun, found: &[Value]) {
        let expected = sink_run.expected_documents(|_| false);
        assert_exactly_once(found, &expected);
        assert_eq!(self.written("documents"), expected.len() as u64, "stdout:\n{}", self.run.stdout);
    }

    /// Checks that the proxy failed entries of `batches` batch calls and
    /// that the sink resent each failed entry once (the proxy fails no
    /// resend).
    #[track_caller]
    fn assert_each_failed_entry_resent_once(&self, batches: u64) {
        assert_eq!(self.proxy.injected(), batches);
        assert_eq!(self.written("retries"), self.proxy.dropped_entries());
    }

    /// Checks that the proxy failed `calls` whole calls and that the sink
    /// retried each once.
    #[track_caller]
    fn assert_each_failed_call_retried_once(&self, calls: u64) {
        assert_eq!(self.proxy.injected(), calls);
        assert_eq!(self.written("retries"), calls, "each failed call retried once");
    }
}

/// Where the S3 sinks' tests write.
const BUCKET: &str = "documents";
const KEY_PREFIX: &str = "out/";

fn documents(count: usize) -> Vec<RecordKind> {
    vec![RecordKind::Document; count]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("a tokio runtime")
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(bytes)))
}

#[test]
fn kinesis_resends_the_records_a_put_records_answer_failed() {
    let moto = Moto::start();
    let runtime = runtime();
    let client = runtime.block_on(async { aws_sdk_kinesis::Client::new(&moto.sdk_config().await) });
    runtime.block_on(client.create_stream().stream_name("documents").shard_count(2).send()).expect("create a stream");
    let sink_run =
        SinkRun::new(json!({ "connectorDestination": "Kinesis", "streamName": "documents" }), documents(300), 3, 50);
    let faults = Faults::none().with(Fault::PartialBatch { api: BatchApi::KinesisPutRecords, batches: 4, every: 3 });
    let outcome = Outcome::of(&moto, &sink_run, faults);

    let found = runtime.block_on(async {
        let mut found = Vec::new();
        let shards = client.list_shards().stream_name("documents").send().await.expect("list shards");
        for shard in shards.shards() {
            let mut iterator = client
                .get_shard_iterator()
                .stream_name("documents")
                .shard_id(shard.shard_id())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("a shard iterator")
                .shard_iterator;
            while let Some(current) = iterator {
                let got = client.get_records().shard_iterator(current).send().await.expect("get records");
                if got.records().is_empty() {
                    break;
                }
                found.extend(got.records().iter().map(|record| parse(record.data().as_ref())));
                iterator = got.next_shard_iterator;
            }
        }
        found
    });
    outcome.assert_delivered(&sink_run, &found);
    outcome.assert_each_failed_entry_resent_once(4);
}

#[test]
fn sqs_resends_the_messages_a_batch_answer_failed() {
    let moto = Moto::start();
    let runtime = runtime();
    let client = runtime.block_on(async { aws_sdk_sqs::Client::new(&moto.sdk_config().await) });
    let queue_url = runtime
        .block_on(client.create_queue().queue_name("documents").send())
        .expect("create a queue")
        .queue_url
        .expect("a queue URL");
    let sink_run =
        SinkRun::new(json!({ "connectorDestination": "SQS", "queueName": "documents" }), documents(120), 2, 30);
    let faults = Faults::none().with(Fault::PartialBatch { api: BatchApi::SqsSendMessageBatch, batches: 5, every: 4 });
    let outcome = Outcome::of(&moto, &sink_run, faults);

    let found = runtime.block_on(async {
        let mut found = Vec::new();
        loop {
            let got = client
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive messages");
            if got.messages().is_empty() {
                return found;
            }
            for message in got.messages() {
                found.push(parse(message.body().expect("a body").as_bytes()));
                client
                    .delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(message.receipt_handle().expect("a receipt handle"))
                    .send()
                    .await
                    .expect("delete a message");
            }
        }
    });
    outcome.assert_delivered(&sink_run, &found);
    outcome.assert_each_failed_entry_resent_once(5);
}

#[test]
fn dynamodb_puts_are_retried_after_throttling() {
    let moto = Moto::start();
    let table = Table::create(&moto, "documents", "documentId");
    let sink_run = SinkRun::new(
        json!({ "connectorDestination": "DynamoDB", "tableName": "documents", "dynamoDBWriters": 4 }),
        documents(120),
        2,
        20,
    );
    let throttled = ErrorReply::json(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.");
    let faults = Faults::none().with(Fault::FailCall {
        operation: Operation::Target("DynamoDB_20120810.PutItem"),
        calls: 6,
        reply: throttled,
    });
    let outcome = Outcome::of(&moto, &sink_run, faults);

    outcome.assert_delivered(&sink_run, &table.scan());
    outcome.assert_each_failed_call_retried_once(6);
}

/// The S3 write connector, writer `writer_type`, writing under
/// [`KEY_PREFIX`] in [`BUCKET`].
fn s3_connector(writer_type: &str) -> Value {
    json!({
        "connectorDestination": "S3",
        "bucketName": BUCKET,
        "keyPrefix": KEY_PREFIX,
        "writerType": writer_type,
    })
}

fn s3_internal_error() -> ErrorReply {
    ErrorReply::s3(500, "InternalError", "We encountered an internal error. Please try again.")
}

#[test]
fn s3_object_puts_are_retried_after_internal_errors() {
    let moto = Moto::start();
    let bucket = Bucket::create(&moto, BUCKET);
    let sink_run = SinkRun::new(s3_connector("Single Record Writer"), documents(120), 2, 20);
    let faults = Faults::none().with(Fault::FailCall {
        operation: Operation::S3PutObject,
        calls: 6,
        reply: s3_internal_error(),
    });
    let outcome = Outcome::of(&moto, &sink_run, faults);

    let objects = bucket.objects(KEY_PREFIX);
    for key in objects.keys() {
        assert!(key.ends_with(".json"), "{key}");
    }
    let found: Vec<Value> = objects.values().map(|body| parse(body)).collect();
    outcome.assert_delivered(&sink_run, &found);
    outcome.assert_each_failed_call_retried_once(6);
}

#[test]
fn s3_aggregate_uploads_are_retried_after_failed_parts() {
    let moto = Moto::start();
    let bucket = Bucket::create(&moto, BUCKET);
    // One task of about 12 MiB: an object past the 10 MiB size goes up
    // in parts (8 MiB, then the rest), the remainder in one PutObject.
    let mut connector = s3_connector("Aggregate File Writer");
    connector["fileRecordsSeparator"] = json!("\n");
    connector["aggregateFileSizeInMB"] = json!(10);
    let sink_run = SinkRun::new(connector, vec![RecordKind::Large(100_000); 120], 1, 10);
    let faults = Faults::none()
        .with(Fault::FailCall { operation: Operation::S3UploadPart, calls: 2, reply: s3_internal_error() })
        .with(Fault::FailCall { operation: Operation::S3PutObject, calls: 1, reply: s3_internal_error() });
    let outcome = Outcome::of(&moto, &sink_run, faults);

    let objects = bucket.objects(KEY_PREFIX);
    assert_eq!(
        objects.keys().collect::<Vec<_>>(),
        ["out/items-000.jsonl-00000.jsonl", "out/items-000.jsonl-00001.jsonl"],
        "the task's objects"
    );
    let mut found = Vec::new();
    for (key, body) in &objects {
        let text = std::str::from_utf8(body).unwrap_or_else(|err| panic!("{key}: {err}"));
        let lines = text.strip_suffix('\n').unwrap_or_else(|| panic!("{key} does not end with the separator"));
        found.extend(lines.split('\n').map(|line| parse(line.as_bytes())));
    }
    outcome.assert_delivered(&sink_run, &found);
    // Both parts of the first object and the second object failed once.
    outcome.assert_each_failed_call_retried_once(3);
}
