//! The SQS write connector against moto: the documents of a few input
//! files sent to a standard and to a FIFO queue, received back until the
//! queue is empty, each exactly once with its message id attribute (and,
//! on the FIFO queue, its partition key as the group id and its id as the
//! deduplication id); documents over the queue's `MaximumMessageSize`
//! (256 KiB as set, 1 MiB by default, 256 KiB assumed when the sink may
//! not read it) become error documents naming the limit, and messages
//! over SQS's 1 MiB per call are sent in separate calls, one per message
//! when SQS finds a call too long.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};
use ferry_e2e_tests::fault_proxy::{ErrorReply, Fault, FaultProxy, Faults, Operation};
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::sink_runs::{DATASET, RecordKind, SinkRun, assert_exactly_once, document_id, summary_writes};
use serde_json::{Value, json};

/// A message limit queues are often set to (the default before 2025),
/// and the one the sink assumes when it may not read the queue's.
const KIB_256: usize = 256 * 1024;

/// SQS's largest message limit, the default of new queues (and moto's),
/// and its limit on a SendMessageBatch call.
const MIB: usize = 1024 * 1024;

/// A queue in moto, and a runtime for the test's own calls to it.
struct Queue {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_sqs::Client,
    url: String,
}

/// A message received back.
struct Received {
    document: Value,
    /// String message attributes, by name.
    attributes: HashMap<String, String>,
    group_id: Option<String>,
    deduplication_id: Option<String>,
}

impl Queue {
    /// Creates `name`, a FIFO queue when it ends with `.fifo`, with
    /// `attributes`.
    fn create(moto: &Moto, name: &str, attributes: &[(QueueAttributeName, &str)]) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let (client, url) = runtime.block_on(async {
            let client = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
            let mut request = client.create_queue().queue_name(name);
            if name.ends_with(".fifo") {
                request = request.attributes(QueueAttributeName::FifoQueue, "true");
            }
            for (attribute, value) in attributes {
                request = request.attributes(attribute.clone(), *value);
            }
            let created = request.send().await.expect("create a queue");
            (client, created.queue_url.expect("a queue URL"))
        });
        Self { runtime, client, url }
    }

    /// The queue's `MaximumMessageSize`, in bytes.
    fn maximum_message_size(&self) -> usize {
        let read = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::MaximumMessageSize);
        let answer = self.runtime.block_on(read.send()).expect("get the queue's attributes");
        let value = &answer.attributes.unwrap_or_default()[&QueueAttributeName::MaximumMessageSize];
        value.parse().unwrap_or_else(|err| panic!("MaximumMessageSize {value:?}: {err}"))
    }

    /// Receives, and deletes, every message until two receives in a row
    /// find none. Deleting frees a FIFO group for its next messages.
    fn receive_all(&self) -> Vec<Received> {
        self.runtime.block_on(async {
            let mut received = Vec::new();
            let mut empty_receives = 0;
            while empty_receives < 2 {
                let page = self
                    .client
                    .receive_message()
                    .queue_url(&self.url)
                    .max_number_of_messages(10)
                    .message_attribute_names("All")
                    .message_system_attribute_names(MessageSystemAttributeName::All)
                    .send()
                    .await
                    .expect("receive messages");
                let messages = page.messages.unwrap_or_default();
                if messages.is_empty() {
                    empty_receives += 1;
                    continue;
                }
                empty_receives = 0;
                let deletes = messages
                    .iter()
                    .enumerate()
                    .map(|(index, message)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(index.to_string())
                            .receipt_handle(message.receipt_handle.clone().expect("a receipt handle"))
                            .build()
                            .expect("a delete entry")
                    })
                    .collect();
                self.client
                    .delete_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(deletes))
                    .send()
                    .await
                    .expect("delete messages");
                received.extend(messages.into_iter().map(|message| {
                    let system = message.attributes.unwrap_or_default();
                    Received {
                        document: serde_json::from_str(message.body.as_deref().expect("a body")).expect("JSON"),
                        attributes: message
                            .message_attributes
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(name, value)| {
                                assert_eq!(value.data_type, "String", "attribute {name}");
                                (name, value.string_value.expect("a string value"))
                            })
                            .collect(),
                        group_id: system.get(&MessageSystemAttributeName::MessageGroupId).cloned(),
                        deduplication_id: system.get(&MessageSystemAttributeName::MessageDeduplicationId).cloned(),
                    }
                }));
            }
            received
        })
    }
}

/// Checks that every `DocumentTooLarge` error document's message ends
/// with `limit` (the figure and where it comes from).
#[track_caller]
fn assert_refusals_name(run: &SinkRun, limit: &str) {
    for name in run.workspace.file_names("errors") {
        let text = std::fs::read_to_string(run.workspace.path(&format!("errors/{name}"))).expect("read an error");
        let error: Value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("errors/{name}: {err}"));
        if error["errorType"] == "DocumentTooLarge" {
            let message = error["message"].as_str().unwrap_or_default();
            assert!(message.ends_with(limit), "errors/{name} does not end with {limit:?}: {message}");
        }
    }
}

/// Checks that each task's sink checkpoint counts the messages it sent.
#[track_caller]
fn assert_checkpoints_count(run: &SinkRun, sent: usize) {
    let tasks = run.workspace.tasks(DATASET);
    let counted: u64 = tasks.iter().map(|task| task.checkpoint.expect("a checkpoint").sink).sum();
    assert_eq!(counted, sent as u64);
}

#[test]
fn documents_reach_a_standard_queue_exactly_once_with_their_id() {
    let moto = Moto::start();
    let queue = Queue::create(&moto, "ferry-documents", &[]);
    let records: Vec<RecordKind> =
        (0..240).map(|n| if n % 13 == 6 { RecordKind::Raise } else { RecordKind::Document }).collect();
    // The id is the number `n`, sent as text.
    let connector =
        json!({ "connectorDestination": "SQS", "queueName": "ferry-documents", "messageIdAttributeName": "n" });
    let run = SinkRun::new(connector, records, 3, 25);
    run.run(Some(&moto)).expect_code(0);

    let received = queue.receive_all();
    for message in &received {
        let id = message.attributes.get("n").unwrap_or_else(|| panic!("no id attribute: {}", message.document));
        assert_eq!(*id, message.document["n"].to_string());
        assert_eq!((&message.group_id, &message.deduplication_id), (&None, &None));
    }
    let expected = run.expected_documents(|_| false);
    let documents: Vec<Value> = received.into_iter().map(|message| message.document).collect();
    assert_exactly_once(&documents, &expected);
    run.assert_errors(|_| false, "none");
    assert_checkpoints_count(&run, expected.len());
}

#[test]
fn documents_reach_a_fifo_queue_in_their_groups() {
    let moto = Moto::start();
    let queue = Queue::create(&moto, "ferry-documents.fifo", &[]);
    let records: Vec<RecordKind> =
        (0..200).map(|n| if n % 17 == 9 { RecordKind::Raise } else { RecordKind::Document }).collect();
    let connector = json!({ "connectorDestination": "SQS", "queueName": "ferry-documents.fifo" });
    let run = SinkRun::new(connector, records, 2, 30);
    run.run(Some(&moto)).expect_code(0);

    let received = queue.receive_all();
    // The last `n` seen of each group from each input file (of 100
    // records): a file's documents of a group arrive in record order.
    let mut last_of_group: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for message in &received {
        let document = &message.document;
        let id = document["documentId"].as_str().expect("a document id");
        assert_eq!(message.attributes.get("documentId").map(String::as_str), Some(id));
        assert_eq!(message.deduplication_id.as_deref(), Some(id));
        let group = message.group_id.clone().expect("a group id");
        assert_eq!(Some(group.as_str()), document["partitionKey"].as_str());
        let n = document["n"].as_u64().expect("n");
        if let Some(previous) = last_of_group.insert((group, n / 100), n) {
            assert!(previous < n, "{} arrived after {} of its group", document_id(n as usize), previous);
        }
    }
    let expected = run.expected_documents(|_| false);
    let documents: Vec<Value> = received.into_iter().map(|message| message.document).collect();
    assert_exactly_once(&documents, &expected);
    run.assert_errors(|_| false, "none");
    assert_checkpoints_count(&run, expected.len());
}

#[test]
fn documents_over_a_256_kib_queue_limit_are_refused() {
    let moto = Moto::start();
    let limit = KIB_256.to_string();
    let queue = Queue::create(&moto, "ferry-documents", &[(QueueAttributeName::MaximumMessageSize, &limit)]);
    // Two files of 20 records, in batches of 10. Records 1 and 2 are
    // 200 KiB, and share a call: a call's limit is 1 MiB whatever the
    // queue's message limit. Records 3 and 27 are just over 256 KiB.
    let over_limit = [3, 27];
    let records: Vec<RecordKind> = (0..40)
        .map(|n| match n {
            1 | 2 => RecordKind::Large(200 * 1024),
            _ if over_limit.contains(&n) => RecordKind::Large(KIB_256),
            15 => RecordKind::Raise,
            _ => RecordKind::Document,
        })
        .collect();
    let limit = "at most 262144 bytes (its MaximumMessageSize)";
    assert_refused_over_the_limit(&moto, &queue, records, &over_limit, (4, "one call per batch"), limit);
}

/// Runs `records` (two files, batches of 10) to `queue` and checks that
/// the records `over_limit` are refused as DocumentTooLarge with `limit`
/// in their message, every other document arrives once, and the run made
/// `puts.0` calls (`puts.1` says why).
#[track_caller]
fn assert_refused_over_the_limit(
    moto: &Moto,
    queue: &Queue,
    records: Vec<RecordKind>,
    over_limit: &[usize],
    puts: (u64, &str),
    limit: &str,
) {
    let connector = json!({ "connectorDestination": "SQS", "queueName": "ferry-documents" });
    let run = SinkRun::new(connector, records, 2, 10);
    let finished = run.run(Some(moto));
    finished.expect_code(0);
    assert_eq!(summary_writes(&finished.stdout, "puts"), puts.0, "{}", puts.1);

    let refused = |n: usize| over_limit.contains(&n);
    let documents: Vec<Value> = queue.receive_all().into_iter().map(|message| message.document).collect();
    assert_exactly_once(&documents, &run.expected_documents(refused));
    run.assert_errors(refused, "DocumentTooLarge");
    assert_refusals_name(&run, limit);
}

#[test]
fn a_default_queue_takes_messages_up_to_1_mib_and_calls_of_at_most_1_mib() {
    let moto = Moto::start();
    let queue = Queue::create(&moto, "ferry-documents", &[]);
    assert_eq!(queue.maximum_message_size(), MIB, "moto's default, as a new queue's in SQS");
    // Two files of 10 records, one batch each. Records 1 and 2 are
    // 600 KiB, too large to share a call; 13 is just over 1 MiB.
    let over_limit = [13];
    let records: Vec<RecordKind> = (0..20)
        .map(|n| match n {
            1 | 2 => RecordKind::Large(600 * 1024),
            _ if over_limit.contains(&n) => RecordKind::Large(MIB),
            7 => RecordKind::Raise,
            _ => RecordKind::Document,
        })
        .collect();
    let puts = (3, "two calls for the first batch, one for the second");
    let limit = "at most 1048576 bytes (its MaximumMessageSize)";
    assert_refused_over_the_limit(&moto, &queue, records, &over_limit, puts, limit);
}

#[test]
fn a_sink_that_may_not_read_the_queue_limit_assumes_256_kib() {
    let moto = Moto::start();
    let queue = Queue::create(&moto, "ferry-documents", &[]);
    let denied = ErrorReply::json(
        403,
        "com.amazon.coral.service#AccessDeniedException",
        "Access to the resource https://sqs.us-east-1.amazonaws.com/123456789012/ferry-documents is denied.",
    );
    let proxy = FaultProxy::start(
        moto.endpoint(),
        Faults::none().with(Fault::FailCall {
            operation: Operation::Target("AmazonSQS.GetQueueAttributes"),
            calls: 1,
            reply: denied,
        }),
    );
    // One file of 10 records: 4 is 600 KiB, which the queue would take
    // but the sink does not send; 6 is 200 KiB.
    let over_limit = [4];
    let records: Vec<RecordKind> = (0..10)
        .map(|n| match n {
            4 => RecordKind::Large(600 * 1024),
            6 => RecordKind::Large(200 * 1024),
            _ => RecordKind::Document,
        })
        .collect();
    let connector = json!({ "connectorDestination": "SQS", "queueName": "ferry-documents" });
    let run = SinkRun::new(connector, records, 1, 10);
    let finished = proxy.run(&moto, &run.workspace);
    finished.expect_code(0);
    assert_eq!(proxy.injected(), 1);
    let warned = finished.stderr.lines().find(|line| line.contains("WARN") && line.contains("MaximumMessageSize"));
    let warning = warned.unwrap_or_else(|| panic!("no warning:\n{}", finished.stderr));
    assert!(warning.contains("sqs:GetQueueAttributes") && warning.contains("262144 bytes"), "{warning}");

    let refused = |n: usize| over_limit.contains(&n);
    let documents: Vec<Value> = queue.receive_all().into_iter().map(|message| message.document).collect();
    assert_exactly_once(&documents, &run.expected_documents(refused));
    run.assert_errors(refused, "DocumentTooLarge");
    assert_refusals_name(&run, "at most 262144 bytes (assumed, since its MaximumMessageSize could not be read)");
}

#[test]
fn a_call_sqs_finds_too_long_is_sent_again_one_message_per_call() {
    let moto = Moto::start();
    let queue = Queue::create(&moto, "ferry-documents", &[]);
    // The first call (records 0 to 3) is refused as too long, and so is
    // the next, record 0 alone: record 0 is refused, 1 to 3 are sent one
    // per call, and the other batches as they are.
    let too_long = ErrorReply::json(
        400,
        "AWS.SimpleQueueService.BatchRequestTooLong",
        "Batch requests cannot be longer than 1048576 bytes.",
    );
    let proxy = FaultProxy::start(
        moto.endpoint(),
        Faults::none().with(Fault::FailCall {
            operation: Operation::Target("AmazonSQS.SendMessageBatch"),
            calls: 2,
            reply: too_long,
        }),
    );
    let connector = json!({ "connectorDestination": "SQS", "queueName": "ferry-documents" });
    let run = SinkRun::new(connector, vec![RecordKind::Document; 12], 1, 4);
    let finished = proxy.run(&moto, &run.workspace);
    finished.expect_code(0);
    assert_eq!(proxy.injected(), 2);
    let writes = |field: &str| summary_writes(&finished.stdout, field);
    assert_eq!(writes("puts"), 5, "three calls of one message, two of a batch");
    assert_eq!(writes("retries"), 4, "the four messages of the first call, sent again");
    assert_eq!(writes("refused"), 1);

    let refused = |n: usize| n == 0;
    let documents: Vec<Value> = queue.receive_all().into_iter().map(|message| message.document).collect();
    assert_exactly_once(&documents, &run.expected_documents(refused));
    run.assert_errors(refused, "DocumentTooLarge");
    assert_refusals_name(&run, "at most 1048576 bytes (its MaximumMessageSize)");
}

#[test]
fn a_missing_queue_stops_the_run_before_any_task() {
    let moto = Moto::start();
    let connector = json!({ "connectorDestination": "SQS", "queueName": "no-such-queue" });
    let run = SinkRun::new(connector, vec![RecordKind::Document; 5], 1, 10);
    let finished = run.run(Some(&moto));
    assert_ne!(finished.code(), Some(0), "{}\n{}", finished.stdout, finished.stderr);
    let said = format!("{}{}", finished.stdout, finished.stderr);
    assert!(said.contains("SQS queue no-such-queue"), "{said}");
    assert!(said.contains("NonExistentQueue"), "{said}");
    assert!(run.workspace.file_names("errors").is_empty(), "no task ran");
}
