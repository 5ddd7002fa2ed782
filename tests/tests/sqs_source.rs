//! The SQS source end to end: queues on a moto server of the test's own,
//! messages read by a Python `QueueMessageReader` through the real bridge.
//!
//! Message `seq` has a JSON body naming what the handler makes of it (see
//! [`Kind`]) and three attributes: a String, a Number and a Binary one
//! (which ferry leaves out). The handler writes into each document what it
//! was given (message id, group and deduplication ids, attributes), so the
//! checks see every argument arrive.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::{Duration, Instant};

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use ferry_e2e_tests::TIMEOUT;
use ferry_e2e_tests::expect::Progress;
use ferry_e2e_tests::gate::Gate;
use ferry_e2e_tests::moto::{Moto, RunResults};
use ferry_e2e_tests::process::Finished;
use ferry_e2e_tests::runs::interrupt_at_gate;
use ferry_e2e_tests::workspace::Workspace;
use serde_json::{Value, json};

const DATASET: &str = "sqs-orders";

/// The String attribute every message carries.
const ORIGIN: &str = "ferry-e2e";

/// Messages of one FIFO group: at most one receive's worth, so a
/// receive never takes part of a group and leaves the rest blocked behind
/// it until the next commit.
const GROUP_SIZE: usize = 5;

/// What the handler makes of message `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Document,
    /// An `ErrorDoc`.
    Refused,
    Skip,
    /// The handler raises `ValueError`.
    Raise,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Document, Kind::Refused, Kind::Skip, Kind::Raise];

    fn of(seq: usize) -> Self {
        if seq % 10 == 3 {
            Kind::Skip
        } else if seq % 17 == 5 {
            Kind::Refused
        } else if seq % 23 == 11 {
            Kind::Raise
        } else {
            Kind::Document
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Document => "doc",
            Kind::Refused => "refuse",
            Kind::Skip => "skip",
            Kind::Raise => "raise",
        }
    }
}

/// A message the test sent.
#[derive(Debug, Clone)]
struct Sent {
    seq: usize,
    kind: Kind,
    message_id: String,
    body: String,
    group: Option<String>,
    deduplication: Option<String>,
}

impl Sent {
    fn document_id(&self) -> String {
        format!("m-{:04}", self.seq)
    }

    /// The output line the handler makes of it, parsed.
    fn document(&self) -> Value {
        json!({
            "documentId": self.document_id(),
            "recordType": "Message",
            "partitionKey": self.group.as_deref().unwrap_or("standard"),
            "documentMetadata": { "messageId": self.message_id },
            "seq": self.seq,
            "groupId": self.group,
            "deduplicationId": self.deduplication,
            "attributes": { "origin": ORIGIN, "seq": self.seq.to_string() },
        })
    }

    /// The error type and message of its error file, when it fails.
    fn error(&self) -> Option<(&'static str, String)> {
        match self.kind {
            Kind::Refused => Some(("ErrorDoc", format!("message {} is refused", self.seq))),
            Kind::Raise => Some(("ValueError", format!("message {} asks to fail", self.seq))),
            Kind::Document | Kind::Skip => None,
        }
    }
}

/// The test's own SQS calls, made blocking on a runtime of their own.
#[derive(Debug)]
struct Sqs {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_sqs::Client,
}

impl Sqs {
    fn new(moto: &Moto) -> Self {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime for SDK calls");
        let config = runtime.block_on(moto.sdk_config());
        Self { client: aws_sdk_sqs::Client::new(&config), runtime }
    }

    /// Creates queue `name` (FIFO when it ends in `.fifo`); returns its URL.
    fn create_queue(&self, name: &str) -> String {
        let mut request = self.client.create_queue().queue_name(name);
        if name.ends_with(".fifo") {
            request = request.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let created = self.runtime.block_on(request.send()).expect("create the queue");
        created.queue_url.expect("a queue URL")
    }

    /// Sends messages `seqs` in order; on a FIFO queue, in groups of
    /// [`GROUP_SIZE`] with explicit deduplication ids.
    fn send(&self, url: &str, seqs: Range<usize>) -> Vec<Sent> {
        let fifo = url.ends_with(".fifo");
        let planned: Vec<Sent> = seqs
            .map(|seq| {
                let kind = Kind::of(seq);
                Sent {
                    seq,
                    kind,
                    message_id: String::new(),
                    body: json!({ "seq": seq, "id": format!("m-{seq:04}"), "kind": kind.name() }).to_string(),
                    group: fifo.then(|| format!("group-{}", seq / GROUP_SIZE)),
                    deduplication: fifo.then(|| format!("dedup-{seq}")),
                }
            })
            .collect();
        let mut sent = Vec::new();
        for chunk in planned.chunks(10) {
            let entries = chunk.iter().enumerate().map(|(index, message)| {
                let attribute = |data_type: &str| MessageAttributeValue::builder().data_type(data_type);
                let seq_byte = u8::try_from(message.seq % 256).expect("below 256");
                SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_body(&message.body)
                    .message_attributes("origin", attribute("String").string_value(ORIGIN).build().expect("String"))
                    .message_attributes(
                        "seq",
                        attribute("Number").string_value(message.seq.to_string()).build().expect("Number"),
                    )
                    .message_attributes(
                        "blob",
                        attribute("Binary").binary_value(Blob::new(vec![seq_byte, 0xff])).build().expect("Binary"),
                    )
                    .set_message_group_id(message.group.clone())
                    .set_message_deduplication_id(message.deduplication.clone())
                    .build()
                    .expect("a batch entry")
            });
            let request = self.client.send_message_batch().queue_url(url).set_entries(Some(entries.collect()));
            let answer = self.runtime.block_on(request.send()).expect("send messages");
            assert!(answer.failed().is_empty(), "messages not sent: {:?}", answer.failed());
            for done in answer.successful() {
                let mut message = chunk[done.id().parse::<usize>().expect("an index")].clone();
                message.message_id = done.message_id().to_owned();
                sent.push(message);
            }
        }
        sent.sort_by_key(|message| message.seq);
        sent
    }

    /// (visible, in flight) messages of the queue.
    fn counts(&self, url: &str) -> (u64, u64) {
        let request = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        let answer = self.runtime.block_on(request.send()).expect("get the queue's attributes");
        let attributes = answer.attributes.unwrap_or_default();
        let count = |name: QueueAttributeName| -> u64 {
            attributes.get(&name).and_then(|text| text.parse().ok()).expect("a message count")
        };
        (
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// Waits until the queue holds `wanted` (visible, in flight) messages;
    /// returns how long that took. moto tells no one when a count changes,
    /// so this asks every few milliseconds.
    fn wait_for_counts(&self, url: &str, wanted: (u64, u64)) -> Duration {
        let started = Instant::now();
        loop {
            let counts = self.counts(url);
            if counts == wanted {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < TIMEOUT,
                "the queue holds {counts:?} (visible, in flight) messages, not {wanted:?}, after {TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Writes the dataset file (reading `queue`, draining it with two empty
/// receives in a row, with `compute` as computeEngine) and the handler,
/// which stops at `gates` (message seq, gate name) the first time.
fn set_up(workspace: &Workspace, queue: &str, compute: &Value, gates: &[(usize, &str)]) {
    let dataset = json!({
        "datasetName": DATASET,
        "readConnector": {
            "connectorDestination": "SQS",
            "queueName": queue,
            "artifactImplementationLanguage": "Python",
            "handlerPath": "handler.py",
        },
        "manifestFile": {
            "sqsReaderTaskStopCondition": "DrainQueues",
            "sqsReaderTaskStopAfterConsecutiveEmptyReceives": 2,
        },
        "writeConnector": { "connectorDestination": "File", "directory": "output" },
        "errorConnector": { "connectorDestination": "Folder", "directory": "errors" },
        "computeEngine": compute,
    });
    workspace.write("dataset.json", format!("{dataset:#}\n"));
    let gate_dir = workspace.path("gates");
    let table: String = gates.iter().map(|(seq, name)| format!("    {seq}: {name:?},\n")).collect();
    let handler = format!(
        r#""""The queue handler of ferry's SQS end-to-end tests (written by the test)."""

import json
import os

from ferry import (
    Document,
    DocumentType,
    ErrorDoc,
    ParseDocumentResult,
    ParseDocumentResultStatus,
    QueueMessageReader,
    SkipDoc,
)

GATE_DIR = {gate_dir:?}
GATES = {{
{table}}}
{gate_code}

class Messages(QueueMessageReader):
    def parseMessage(self, messageId, messageGroupId, messageDeduplicationId, messageAttributes, messageBody):
        entry = json.loads(messageBody)
        seq = entry["seq"]
        gate = GATES.get(seq)
        if gate is not None:
            wait_at_gate(GATE_DIR, gate)
        partition = messageGroupId or "standard"
        if entry["kind"] == "refuse":
            error = ErrorDoc(
                documentId=entry["id"],
                recordType="Message",
                partitionKey=partition,
                documentMetadata={{}},
                documentKeyValuesMap=None,
                errorStartoffsetMap={{"messageId": messageId}},
                errorEndoffsetMap={{"messageId": messageId}},
                errorMessage=f"message {{seq}} is refused",
            )
            return ParseDocumentResult(None, error, ParseDocumentResultStatus.ERROR)
        if entry["kind"] == "skip":
            skip = SkipDoc(
                documentId=entry["id"],
                recordType="Message",
                partitionKey=partition,
                documentMetadata={{}},
                documentKeyValuesMap=None,
                errorStartoffsetMap={{}},
                errorEndoffsetMap={{}},
                skipMessage="asked to skip",
            )
            return ParseDocumentResult(None, skip, ParseDocumentResultStatus.SKIP)
        if entry["kind"] == "raise":
            raise ValueError(f"message {{seq}} asks to fail")
        document = Document(
            DocumentType.Document,
            entry["id"],
            "Message",
            partition,
            {{"messageId": messageId}},
            {{
                "seq": seq,
                "groupId": messageGroupId,
                "deduplicationId": messageDeduplicationId,
                "attributes": messageAttributes,
            }},
        )
        return ParseDocumentResult(None, document, ParseDocumentResultStatus.SUCCESS)
"#,
        gate_dir = gate_dir.to_str().expect("a UTF-8 path"),
        gate_code = Gate::PYTHON,
    );
    workspace.write("handler.py", handler);
}

/// A run that read everything the queue had: it ends without failures,
/// every reader caught up (its task stays resumable for what arrives
/// next).
#[track_caller]
fn expect_caught_up(run: &Finished, readers: usize) {
    run.expect_code(0).expect_stdout_line(&format!(
        "  {readers} tasks read all their source had for now: run again to read what arrives next"
    ));
    assert!(run.stdout.starts_with(&format!("dataset {DATASET}: PROCESSING in ")), "{}", run.stdout);
}

/// The tasks that wrote an outcome (a document or an error file) for
/// each message, by seq, once every outcome left in `workspace` is
/// checked against what the handler makes of the messages in `sent`,
/// read from `queue`. No task has two outcomes for one message.
#[track_caller]
fn outcomes(workspace: &Workspace, results: &RunResults, queue: &str, sent: &[Sent]) -> BTreeMap<usize, Vec<String>> {
    let by_document_id: BTreeMap<String, &Sent> = sent.iter().map(|message| (message.document_id(), message)).collect();
    let by_message_id: BTreeMap<&str, &Sent> =
        sent.iter().map(|message| (message.message_id.as_str(), message)).collect();
    let tasks: Vec<&str> = results.tasks.iter().map(|task| task["task"].as_str().unwrap_or_default()).collect();
    let output_files: Vec<String> = tasks.iter().map(|task| format!("{task}.jsonl")).collect();
    for name in workspace.file_names("output") {
        assert!(output_files.contains(&name), "output/{name} is no task's output file");
    }
    let mut outcomes: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for task in &tasks {
        let path = workspace.path(&format!("output/{task}.jsonl"));
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        for line in text.lines() {
            let document: Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("{task}: {err}: {line}"));
            let id = document["documentId"].as_str().unwrap_or_else(|| panic!("{task}: no documentId: {line}"));
            let message = by_document_id.get(id).unwrap_or_else(|| panic!("{task}: a document of no message: {line}"));
            assert_eq!(message.kind, Kind::Document, "{task}: message {} gave a document", message.seq);
            assert_eq!(document, message.document(), "{task}: the document of message {}", message.seq);
            outcomes.entry(message.seq).or_default().push((*task).to_owned());
        }
    }
    for (name, error) in &results.errors {
        let message_id = error["messageId"].as_str().unwrap_or_else(|| panic!("{name} names no messageId: {error:#}"));
        let message = by_message_id.get(message_id).unwrap_or_else(|| panic!("{name} is of no message sent"));
        let (error_type, text) = message.error().unwrap_or_else(|| panic!("message {} failed: {error:#}", message.seq));
        let task = error["task"].as_str().unwrap_or_default();
        assert!(tasks.contains(&task), "{name}: task {task:?}");
        assert_eq!(name, &format!("{task}@{message_id}.json"), "the error file's name");
        assert_eq!(error["queue"], json!(queue), "{name}: queue");
        assert_eq!(error["errorType"], json!(error_type), "{name}: errorType; the file holds {error:#}");
        assert_eq!(error["message"], json!(text), "{name}: message");
        assert_eq!(error["record"], json!(message.body), "{name}: record");
        if message.kind == Kind::Raise {
            let traceback = error["traceback"].as_str().unwrap_or_default();
            assert!(traceback.contains(&format!("ValueError: {text}")), "{name}: traceback {traceback:?}");
        }
        outcomes.entry(message.seq).or_default().push(task.to_owned());
    }
    for (seq, tasks) in &outcomes {
        let distinct: BTreeSet<&String> = tasks.iter().collect();
        assert_eq!(distinct.len(), tasks.len(), "message {seq} has more than one outcome in a task: {tasks:?}");
    }
    outcomes
}

/// How often the queue hands out a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Once,
    /// Now and then to two readers at once: moto's ReceiveMessage does
    /// not lock its queue, so two receives at the same moment can both
    /// take a message (two threads receiving from one moto queue do, in
    /// about one run of five), as an SQS standard queue may, rarely, too.
    /// Such a message has one outcome in each task that received it.
    ToConcurrentReaders,
}

/// The counters of `sent`, as ferry counts them.
fn progress_of(sent: &[Sent]) -> Progress {
    let mut progress = Progress::default();
    for message in sent {
        match message.kind {
            Kind::Document => progress.processed += 1,
            Kind::Refused | Kind::Raise => progress.errored += 1,
            Kind::Skip => progress.skipped += 1,
        }
    }
    progress
}

/// The tasks' counters, added up, once each task is checked: it is
/// resumable (PROCESSING), its checkpoint counts the messages it routed
/// and its sink checkpoint is its output file's length.
#[track_caller]
fn assert_tasks(workspace: &Workspace, results: &RunResults, readers: usize) -> Progress {
    let names: Vec<&str> = results.tasks.iter().map(|task| task["task"].as_str().unwrap_or_default()).collect();
    let wanted: Vec<String> = (0..readers).map(|index| format!("reader-{index}")).collect();
    assert_eq!(names, wanted, "the tasks");
    let mut total = Progress::default();
    for task in &results.tasks {
        let name = task["task"].as_str().unwrap_or_default();
        assert_eq!(task["state"], "PROCESSING", "{name} is caught up, not complete: {task:#}");
        let progress = Progress::from_json(&task["progress"]);
        let checkpoint = &task["checkpoint"];
        let count = |key: &str| -> u64 {
            checkpoint[key].as_str().and_then(|text| text.parse().ok()).unwrap_or_else(|| panic!("{name}: {task:#}"))
        };
        assert_eq!(count("source"), progress.records(), "{name}: the checkpoint counts the messages routed");
        let output = std::fs::metadata(workspace.path(&format!("output/{name}.jsonl"))).map_or(0, |meta| meta.len());
        assert_eq!(count("sink"), output, "{name}: the sink checkpoint is the output file's length");
        total.add(progress);
    }
    total
}

/// Checks that every message of `sent` has its outcome as `delivery`
/// allows, and that the tasks account for exactly these outcomes; returns
/// the outcomes (see [`outcomes`]) and the tasks' counters.
#[track_caller]
fn assert_all_done(
    workspace: &Workspace,
    results: &RunResults,
    queue: &str,
    sent: &[Sent],
    readers: usize,
    delivery: Delivery,
) -> (BTreeMap<usize, Vec<String>>, Progress) {
    let outcomes = outcomes(workspace, results, queue, sent);
    let with_outcome: Vec<usize> = outcomes.keys().copied().collect();
    let wanted: Vec<usize> =
        sent.iter().filter(|message| message.kind != Kind::Skip).map(|message| message.seq).collect();
    assert_eq!(with_outcome, wanted, "the messages with a document or an error file");
    let repeated: Vec<(&usize, &Vec<String>)> = outcomes.iter().filter(|(_, tasks)| tasks.len() > 1).collect();
    if delivery == Delivery::Once {
        assert!(repeated.is_empty(), "messages with more than one outcome: {repeated:?}");
    }
    let mut expected = progress_of(sent);
    for (seq, tasks) in repeated {
        let again = tasks.len() as u64 - 1;
        match sent.iter().find(|message| message.seq == *seq).map(|message| message.kind) {
            Some(Kind::Document) => expected.processed += again,
            _ => expected.errored += again,
        }
    }
    let progress = assert_tasks(workspace, results, readers);
    assert_eq!((progress.processed, progress.errored), (expected.processed, expected.errored), "documents, errors");
    match delivery {
        Delivery::Once => assert_eq!(progress.skipped, expected.skipped, "skipped"),
        Delivery::ToConcurrentReaders => assert!(progress.skipped >= expected.skipped, "skipped: {progress:?}"),
    }
    (outcomes, progress)
}

#[test]
fn queue_is_drained_and_read_again_as_it_grows() {
    let moto = Moto::start();
    let sqs = Sqs::new(&moto);
    let url = sqs.create_queue("orders");
    let mut sent = sqs.send(&url, 0..120);
    assert!(Kind::ALL.iter().all(|kind| sent.iter().any(|message| message.kind == *kind)), "every kind of message");

    let workspace = Workspace::new();
    set_up(&workspace, "orders", &json!({ "concurrency": 2 }), &[]);
    let first = moto.run(&workspace);
    expect_caught_up(&first, 2);
    let results = moto.results(&workspace, DATASET);
    let (read_first, progress) =
        assert_all_done(&workspace, &results, "orders", &sent, 2, Delivery::ToConcurrentReaders);
    first.expect_stdout_line(&progress.summary_line());
    assert_eq!(sqs.counts(&url), (0, 0), "every message is deleted once written");

    // The queue grows: the next run reads only what is new.
    sent.extend(sqs.send(&url, 120..150));
    let second = moto.run(&workspace);
    expect_caught_up(&second, 2);
    let results = moto.results(&workspace, DATASET);
    let (read_second, total) = assert_all_done(&workspace, &results, "orders", &sent, 2, Delivery::ToConcurrentReaders);
    let this_run = total.records() - progress.records();
    assert!(this_run >= 30, "{this_run} records in the second run");
    assert!(second.stdout.contains(&format!("({this_run} records in this run)")), "{}", second.stdout);
    let again: Vec<&usize> = read_first.keys().filter(|seq| read_second.get(seq) != read_first.get(seq)).collect();
    assert!(again.is_empty(), "messages of the first run with outcomes from the second: {again:?}");
    assert_eq!(sqs.counts(&url), (0, 0), "every message is deleted once written");
}

#[test]
fn interrupted_run_resumes_exactly_once() {
    let moto = Moto::start();
    let sqs = Sqs::new(&moto);
    let url = sqs.create_queue("orders");
    let sent = sqs.send(&url, 0..60);
    let workspace = Workspace::new();
    // One reader, batches of ten, one batch at the bridge at a time and
    // checkpoints only at the end. The handler stops in the first batch
    // (messages 0 to 9: moto hands out a standard queue's messages in the
    // order they were sent); the reader then fills the channel with the
    // second batch and waits to hand over the third.
    let compute = json!({
        "concurrency": 1,
        "batchSize": 10,
        "maxInFlightBatches": 1,
        "checkpointIntervalMs": 600_000,
    });
    set_up(&workspace, "orders", &compute, &[(5, "stop")]);
    let gate = Gate::create(&workspace.path("gates"), "stop");

    let mut run = moto.spawn_run(&workspace);
    run.wait_at(&gate);
    // Thirty messages received, none deleted: nothing is committed yet.
    sqs.wait_for_counts(&url, (30, 30));
    let first = interrupt_at_gate(run, &gate);
    first.expect_code(130).expect_stdout_line("  stopped early: run the same command again to resume");

    // The batch at the bridge was written, committed and deleted; the two
    // batches behind it were never routed, and their messages are made
    // visible again as the task ends. That release is best effort (the
    // process may exit before it is through); at the latest they come
    // back when their visibility timeout runs out.
    sqs.wait_for_counts(&url, (50, 0));
    let results = moto.results(&workspace, DATASET);
    let first_batch = &sent[..10];
    assert_all_done(&workspace, &results, "orders", first_batch, 1, Delivery::Once);

    let second = moto.run(&workspace);
    expect_caught_up(&second, 1);
    assert!(second.stdout.contains("(50 records in this run)"), "{}", second.stdout);
    let results = moto.results(&workspace, DATASET);
    assert_all_done(&workspace, &results, "orders", &sent, 1, Delivery::Once);
    assert_eq!(sqs.counts(&url), (0, 0), "every message is deleted once written");
}

#[test]
fn fifo_group_and_deduplication_ids_reach_the_handler() {
    let moto = Moto::start();
    let sqs = Sqs::new(&moto);
    let url = sqs.create_queue("orders.fifo");
    let sent = sqs.send(&url, 0..4 * GROUP_SIZE);
    let workspace = Workspace::new();
    // One reader: moto's FIFO queues race like its standard ones (see
    // `Delivery`).
    set_up(&workspace, "orders.fifo", &json!({ "concurrency": 1 }), &[]);
    let run = moto.run(&workspace);
    expect_caught_up(&run, 1);
    let results = moto.results(&workspace, DATASET);
    assert_all_done(&workspace, &results, "orders.fifo", &sent, 1, Delivery::Once);
    assert_eq!(sqs.counts(&url), (0, 0), "every message is deleted once written");
}

#[test]
fn missing_queue_fails_before_any_work() {
    let moto = Moto::start();
    let workspace = Workspace::new();
    set_up(&workspace, "absent", &json!({ "concurrency": 2 }), &[]);
    let run = moto.run(&workspace);
    run.expect_code(1);
    assert!(
        run.stderr.contains("GetQueueUrl on SQS queue absent in us-east-1 failed")
            && run.stderr.contains("NonExistentQueue: The specified queue does not exist"),
        "{}",
        run.stderr
    );
    assert!(workspace.file_names("output").is_empty(), "no output");
}
