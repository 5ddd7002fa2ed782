//! The sinks' retries, end to end: `ferry run` writes through a
//! [`FaultProxy`] in front of moto that throttles or fails part of the
//! calls as AWS does, and the destination, read back from moto directly,
//! must still hold every document exactly once.
//!
//! - Kinesis and SQS: batch answers fail some entries; the sinks resend
//!   only those, and count them as retries in the run summary.
//! - DynamoDB and S3: whole calls fail (throttling, a 500) at their first
//!   attempt; the SDK's retry puts them, and the summary counts it.
//!
//! And when the destination keeps failing past every retry: a DynamoDB
//! PutItem or Kinesis PutRecords call fails at each of the SDK's attempts,
//! the task making it stops ERRORED at the checkpoint of what it wrote
//! before, and the next run, with the destination healthy, delivers the
//! rest from there: nothing is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use aws_sdk_kinesis::types::ShardIteratorType;
use ferry_e2e_tests::bucket::Bucket;
use ferry_e2e_tests::expect::Progress;
use ferry_e2e_tests::fault_proxy::{BatchApi, ErrorReply, Fault, FaultProxy, Faults, Operation};
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::process::Finished;
use ferry_e2e_tests::sink_runs::{
    DATASET, RecordKind, SinkRun, assert_exactly_once, document_id, expected_document, summary_writes,
};
use ferry_e2e_tests::table::Table;
use ferry_e2e_tests::workspace::TaskView;
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
        // At least: the SDK may also retry a call moto was slow to answer.
        assert!(self.written("retries") >= self.proxy.dropped_entries(), "{}", self.run.stdout);
    }

    /// Checks that the proxy failed `calls` whole calls and that the sink
    /// retried each once.
    #[track_caller]
    fn assert_each_failed_call_retried_once(&self, calls: u64) {
        assert_eq!(self.proxy.injected(), calls);
        assert!(self.written("retries") >= calls, "each failed call retried: {}", self.run.stdout);
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

/// The two-shard Kinesis stream the Kinesis tests write to, with a
/// runtime for the test's own calls.
struct DocumentStream {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_kinesis::Client,
}

impl DocumentStream {
    const NAME: &str = "documents";

    fn create(moto: &Moto) -> Self {
        let runtime = runtime();
        let client = runtime.block_on(async { aws_sdk_kinesis::Client::new(&moto.sdk_config().await) });
        runtime
            .block_on(client.create_stream().stream_name(Self::NAME).shard_count(2).send())
            .expect("create a stream");
        Self { runtime, client }
    }

    /// The write connector putting to the stream.
    fn connector() -> Value {
        json!({ "connectorDestination": "Kinesis", "streamName": Self::NAME })
    }

    /// Every record in the stream, from the start of each shard, parsed.
    fn documents(&self) -> Vec<Value> {
        let client = &self.client;
        self.runtime.block_on(async {
            let mut found = Vec::new();
            let shards = client.list_shards().stream_name(Self::NAME).send().await.expect("list shards");
            for shard in shards.shards() {
                let mut iterator = client
                    .get_shard_iterator()
                    .stream_name(Self::NAME)
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
        })
    }
}

#[test]
fn kinesis_resends_the_records_a_put_records_answer_failed() {
    let moto = Moto::start();
    let stream = DocumentStream::create(&moto);
    let sink_run = SinkRun::new(DocumentStream::connector(), documents(300), 3, 50);
    let faults = Faults::none().with(Fault::PartialBatch { api: BatchApi::KinesisPutRecords, batches: 4, every: 3 });
    let outcome = Outcome::of(&moto, &sink_run, faults);

    outcome.assert_delivered(&sink_run, &stream.documents());
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

/// The DynamoDB tests' table, keyed by `documentId`.
const TABLE: &str = "documents";

const PUT_ITEM: Operation = Operation::Target("DynamoDB_20120810.PutItem");

/// The write connector putting to [`TABLE`], four puts in flight per
/// task.
fn dynamodb_connector() -> Value {
    json!({ "connectorDestination": "DynamoDB", "tableName": TABLE, "dynamoDBWriters": 4 })
}

/// DynamoDB's answer when it throttles a call.
fn dynamodb_throttled() -> ErrorReply {
    ErrorReply::json(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")
}

#[test]
fn dynamodb_puts_are_retried_after_throttling() {
    let moto = Moto::start();
    let table = Table::create(&moto, TABLE, "documentId");
    let sink_run = SinkRun::new(dynamodb_connector(), documents(120), 2, 20);
    let faults = Faults::none().with(Fault::FailCall { operation: PUT_ITEM, calls: 6, reply: dynamodb_throttled() });
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

/// Input files of the runs whose destination fails for good: two tasks
/// running side by side, so that one can fail while the other completes.
const FILES: usize = 2;

/// Records per batch, each batch's documents one sink write.
const BATCH_SIZE: usize = 20;

/// 120 records: three batches per file; every tenth record raises, so
/// that error documents have to resume along with the documents.
fn documents_and_raises() -> Vec<RecordKind> {
    (0..120).map(|n| if n % 10 == 7 { RecordKind::Raise } else { RecordKind::Document }).collect()
}

/// Each task's id and the numbers of the records it reads: its input
/// file's, as [`SinkRun::new`] spreads the records over [`FILES`] files.
fn task_records(sink_run: &SinkRun) -> Vec<(String, Range<usize>)> {
    let total = sink_run.records.len();
    let per_file = total.div_ceil(FILES);
    (0..FILES)
        .map(|index| (format!("items-{index:03}.jsonl"), index * per_file..total.min((index + 1) * per_file)))
        .collect()
}

/// The task `id` of `tasks`.
#[track_caller]
fn task<'a>(tasks: &'a [TaskView], id: &str) -> &'a TaskView {
    tasks.iter().find(|task| task.task == id).unwrap_or_else(|| panic!("no task {id} in {tasks:#?}"))
}

/// What the records `numbers` count once handled.
fn counted(sink_run: &SinkRun, numbers: Range<usize>) -> Progress {
    let records = &sink_run.records[numbers];
    let raised = records.iter().filter(|kind| **kind == RecordKind::Raise).count() as u64;
    Progress { processed: records.len() as u64 - raised, errored: raised, skipped: 0 }
}

/// Checks that `task`'s checkpoint holds `progress`, and that its sink
/// checkpoint counts one put per document (no document is refused here).
#[track_caller]
fn assert_checkpoint(task: &TaskView, progress: Progress) {
    assert_eq!(task.progress, progress, "{task:?}");
    let put = task.checkpoint.map_or(0, |checkpoint| checkpoint.sink);
    assert_eq!(put, progress.processed, "the sink checkpoint counts the documents put: {task:?}");
}

/// Runs `sink_run` through a proxy injecting `fault`, which fails one
/// call of the sink at each of the SDK's three attempts, and checks what
/// the run says and leaves: it exits 1; the task that made the call is
/// ERRORED with `failure`, which the summary names, at a checkpoint short
/// of its end (or with none); the other task COMPLETED. Returns the
/// documents the tasks' checkpoints cover, which the next run does not
/// write again.
fn run_until_a_call_fails_for_good(
    moto: &Moto,
    sink_run: &SinkRun,
    fault: Fault,
    failure: &str,
) -> BTreeMap<String, Value> {
    // ferry says the failure is transient: running again can get past it.
    let failure = format!("{failure} (transient: run the dataset again to resume from the last checkpoint)");
    let failure = failure.as_str();
    let proxy = FaultProxy::start(moto.endpoint(), Faults::none().with(fault));
    let run = proxy.run(moto, &sink_run.workspace);
    run.expect_code(1).expect_stdout_line("  tasks    1 of 2 complete (1 in this run, 0 before)");
    assert!(run.stdout.starts_with(&format!("dataset {DATASET}: ERRORED in ")), "{}", run.stdout);
    assert_eq!(proxy.injected(), 3, "the call failed at each of the SDK's attempts");
    assert!(summary_writes(&run.stdout, "retries") >= 2, "the SDK retried the call twice, then gave up");

    let tasks = sink_run.workspace.tasks(DATASET);
    let mut covered = BTreeMap::new();
    let mut errored = Vec::new();
    for (id, numbers) in task_records(sink_run) {
        let task = task(&tasks, &id);
        match task.state.as_str() {
            "COMPLETED" => {}
            "ERRORED" => {
                assert_eq!(task.last_error.as_deref(), Some(failure), "{task:?}");
                run.expect_stdout_line(&format!("  task {id} failed: {failure}"));
                assert!(
                    task.progress.records() < numbers.len() as u64,
                    "the checkpoint stops short of the end: {task:?}"
                );
                errored.push(id);
            }
            other => panic!("task {id} is {other}, not COMPLETED nor ERRORED: {task:?}"),
        }
        // The checkpoint covers the task's first records, each counted
        // once.
        let handled = numbers.start..numbers.start + task.progress.records() as usize;
        assert_checkpoint(task, counted(sink_run, handled.clone()));
        covered.extend(
            handled
                .filter(|&n| sink_run.records[n] == RecordKind::Document)
                .map(|n| (document_id(n), expected_document(n, RecordKind::Document))),
        );
    }
    assert_eq!(errored.len(), 1, "one task failed, the one whose call failed: {tasks:#?}");
    covered
}

/// Runs `sink_run` again, straight at `moto`, and checks that it finishes
/// the failed task from its checkpoint: no flag is needed, it writes every
/// document but those `covered` by the first run's checkpoints, every task
/// ends COMPLETED with each of its records counted once, and there is one
/// error document per record that raised.
fn rerun_delivers_the_rest(moto: &Moto, sink_run: &SinkRun, covered: &BTreeMap<String, Value>) {
    let run = sink_run.run(Some(moto));
    run.expect_code(0)
        .expect_stdout_line("  tasks    2 of 2 complete (1 in this run, 1 before)")
        .expect_stdout_line(&counted(sink_run, 0..sink_run.records.len()).summary_line());
    let expected = sink_run.expected_documents(|_| false);
    let rest = (expected.len() - covered.len()) as u64;
    assert_eq!(summary_writes(&run.stdout, "documents"), rest, "{}", run.stdout);

    let tasks = sink_run.workspace.tasks(DATASET);
    for (id, numbers) in task_records(sink_run) {
        let task = task(&tasks, &id);
        assert_eq!(task.state, "COMPLETED", "{task:?}");
        assert_checkpoint(task, counted(sink_run, numbers));
    }
    sink_run.assert_errors(|_| false, "");
    let raised = sink_run.records.iter().filter(|kind| **kind == RecordKind::Raise).count();
    assert_eq!(sink_run.workspace.file_names("errors").len(), raised, "one error document per record that raised");
}

#[test]
fn dynamodb_puts_throttled_past_every_retry_stop_the_task_and_the_next_run_puts_the_rest() {
    let moto = Moto::start();
    let table = Table::create(&moto, TABLE, "documentId");
    let sink_run = SinkRun::new(dynamodb_connector(), documents_and_raises(), FILES, BATCH_SIZE);
    // Of the 108 puts, the 51st fails at every attempt: partway through
    // one of the tasks, once the first batches are in.
    let fault = Fault::FailEveryAttempt { operation: PUT_ITEM, after: 50, calls: 1, reply: dynamodb_throttled() };
    let failure =
        "PutItem on table documents failed: ThrottlingException: Rate of requests exceeds the allowed throughput.";
    let covered = run_until_a_call_fails_for_good(&moto, &sink_run, fault, failure);

    // What the checkpoints cover is in the table. It may hold more: the
    // failed batch's other puts go on while the SDK retries the failing
    // one, and the next run puts them again, over themselves.
    let stored: BTreeSet<String> =
        table.scan().iter().filter_map(|item| item["documentId"].as_str().map(str::to_owned)).collect();
    let missing: Vec<&String> = covered.keys().filter(|id| !stored.contains(*id)).collect();
    assert!(missing.is_empty(), "documents the checkpoints cover are missing: {missing:?}");

    rerun_delivers_the_rest(&moto, &sink_run, &covered);
    assert_exactly_once(&table.scan(), &sink_run.expected_documents(|_| false));
}

#[test]
fn kinesis_puts_throttled_past_every_retry_stop_the_task_and_the_next_run_puts_the_rest() {
    let moto = Moto::start();
    let stream = DocumentStream::create(&moto);
    let sink_run = SinkRun::new(DocumentStream::connector(), documents_and_raises(), FILES, BATCH_SIZE);
    // Each batch is one PutRecords call, three per task: the fourth call
    // fails at every attempt.
    let reply = ErrorReply::json(
        400,
        "ProvisionedThroughputExceededException",
        "Rate exceeded for shard shardId-000000000000 in stream documents under account 123456789012.",
    );
    let fault = Fault::FailEveryAttempt {
        operation: Operation::Target("Kinesis_20131202.PutRecords"),
        after: 3,
        calls: 1,
        reply,
    };
    let failure = "PutRecords on Kinesis stream documents in us-east-1 failed: ProvisionedThroughputExceededException: \
                   Rate exceeded for shard shardId-000000000000 in stream documents under account 123456789012.";
    let covered = run_until_a_call_fails_for_good(&moto, &sink_run, fault, failure);

    // The failed call stored nothing. The stream holds what the
    // checkpoints cover, each once, and may hold more: the batches the
    // failed task wrote after its last checkpoint, which the next run
    // writes again (Kinesis delivers at least once across a failure).
    let first = copies_by_id(&stream.documents());
    for id in covered.keys() {
        assert_eq!(first.get(id), Some(&1), "document {id}, covered by a checkpoint, is in the stream once");
    }

    rerun_delivers_the_rest(&moto, &sink_run, &covered);
    let all = copies_by_id(&stream.documents());
    for id in sink_run.expected_documents(|_| false).keys() {
        let copies = all.get(id).copied().unwrap_or(0);
        assert!(copies >= 1, "document {id} is missing");
        assert!(copies == 1 || !covered.contains_key(id), "document {id}, covered by a checkpoint, was put again");
        assert!(copies <= 2, "document {id} was put {copies} times");
    }
}

/// How many copies of each document id `documents` hold.
fn copies_by_id(documents: &[Value]) -> BTreeMap<String, usize> {
    let mut copies = BTreeMap::new();
    for document in documents {
        let id = document["documentId"].as_str().unwrap_or_else(|| panic!("a document without an id: {document}"));
        *copies.entry(id.to_owned()).or_insert(0) += 1;
    }
    copies
}
