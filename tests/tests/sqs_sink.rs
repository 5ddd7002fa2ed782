//! The SQS write connector against moto: the documents of a few input
//! files sent to a standard and to a FIFO queue, received back until the
//! queue is empty, each exactly once with its message id attribute (and,
//! on the FIFO queue, its partition key as the group id and its id as the
//! deduplication id); documents over SQS's 256 KiB message limit become
//! error documents, and large messages that cannot share a call are sent
//! in separate ones.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::process::Finished;
use ferry_e2e_tests::sink_runs::{DATASET, RecordKind, SinkRun, assert_exactly_once, document_id};
use serde_json::{Value, json};

/// SQS's limit on a message, its attributes included.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;

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
    /// Creates `name`, a FIFO queue when it ends with `.fifo`.
    fn create(moto: &Moto, name: &str) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let (client, url) = runtime.block_on(async {
            let client = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
            let mut request = client.create_queue().queue_name(name);
            if name.ends_with(".fifo") {
                request = request.attributes(QueueAttributeName::FifoQueue, "true");
            }
            let created = request.send().await.expect("create a queue");
            (client, created.queue_url.expect("a queue URL"))
        });
        Self { runtime, client, url }
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

/// The SendMessageBatch calls a run made, from its summary's `writes`
/// line.
fn send_calls(run: &Finished) -> u64 {
    let line = run.stdout.lines().find(|line| line.trim_start().starts_with("writes ")).unwrap_or_else(|| {
        panic!("the summary has no writes line:\n{}", run.stdout);
    });
    line.split_whitespace().nth(1).and_then(|count| count.parse().ok()).unwrap_or_else(|| panic!("{line}"))
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
    let queue = Queue::create(&moto, "ferry-documents");
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
    let queue = Queue::create(&moto, "ferry-documents.fifo");
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
fn oversize_documents_are_refused_and_large_messages_sent_apart() {
    let moto = Moto::start();
    let queue = Queue::create(&moto, "ferry-documents");
    // Two files of 20 records, in batches of 10. Records 1 and 2 are
    // 200 KiB, too large to share a call; 3 and 27 just over 256 KiB.
    let over_limit = [3, 27];
    let records: Vec<RecordKind> = (0..40)
        .map(|n| match n {
            1 | 2 => RecordKind::Large(200 * 1024),
            _ if over_limit.contains(&n) => RecordKind::Large(MAX_MESSAGE_BYTES),
            15 => RecordKind::Raise,
            _ => RecordKind::Document,
        })
        .collect();
    let connector = json!({ "connectorDestination": "SQS", "queueName": "ferry-documents" });
    let run = SinkRun::new(connector, records, 2, 10);
    let finished = run.run(Some(&moto));
    finished.expect_code(0);
    assert_eq!(send_calls(&finished), 5, "one call per batch, and one more for the batch of 1 and 2");

    let refused = |n: usize| over_limit.contains(&n);
    let documents: Vec<Value> = queue.receive_all().into_iter().map(|message| message.document).collect();
    assert_exactly_once(&documents, &run.expected_documents(refused));
    run.assert_errors(refused, "DocumentTooLarge");
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
