//! SQS source: LetsData's `QueueMessageReader`. A queue is read by
//! `computeEngine.concurrency` tasks at once (`reader-0`, `reader-1`, ...),
//! each receiving its own messages; every message becomes one
//! `parseMessage` call.
//!
//! Delivery: a message is deleted only once its outcome is durably written
//! and the checkpoint covering it is committed. Until then it stays in
//! flight, hidden from every reader: it is received with a visibility
//! timeout that a background keeper extends while the task holds it. So
//! the queue delivers at least once: a message comes back, and is
//! processed again, when ferry stops between the commit and the delete,
//! when a delete fails, or when a run is stopped while a receive is under
//! way (its messages reappear once the visibility timeout passes).
//! Messages the task received but never routed (a run stopped part way)
//! are made visible again as the task ends, so the next run sees them at
//! once; should the process exit before that is through, they reappear
//! once their visibility timeout passes.
//!
//! Checkpoints: a queue has no position to resume from, so a task's
//! checkpoint is the count of messages it routed, over all its runs, for
//! `tasks list` to show progress.
//!
//! Ends: draining (`DrainQueues`), a task ends caught up after
//! `sqsReaderTaskStopAfterConsecutiveEmptyReceives` receives in a row found
//! nothing, each waiting up to [`DRAIN_WAIT_SECONDS`]; it is never finished
//! for good, since a queue grows, and the next run reads on. `Continuous`
//! tasks read until the run stops. A FIFO queue hands out no more of a
//! message group while earlier messages of the group are in flight, that
//! is until the checkpoint covering them is committed: a draining task
//! may end with the rest of a group still queued, for the next run.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName,
};
use bytes::Bytes;
use ferry_proto::pb;
use serde_json::{Map, Value};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    Acknowledge, OpenContext, OpenedSource, RecordOrigin, RecordSource, SourceBatch, SourceError, SourceItem,
    SourceRecord, TaskUnit,
};
use crate::aws::{queue_url, service_error};
use crate::config::QueueStop;

/// The most messages one ReceiveMessage, DeleteMessageBatch or
/// ChangeMessageVisibilityBatch call handles: SQS's limit.
const SQS_BATCH_LIMIT: usize = 10;

/// How long a draining task's receive waits for a message (long polling).
/// Short, so that the consecutive empty receives ending a task take about
/// a second each.
const DRAIN_WAIT_SECONDS: i32 = 1;

/// How long a continuous task's receive waits for a message: SQS's
/// longest wait, for the fewest calls on an idle queue.
const CONTINUOUS_WAIT_SECONDS: i32 = 20;

/// How long a received message stays hidden from other readers. The
/// keeper renews it well before it runs out; a message of a task that
/// stopped without releasing it reappears after this.
const VISIBILITY_TIMEOUT_SECONDS: i32 = 30;

/// How often the keeper renews the visibility timeout of the messages in
/// flight: a third of the timeout, so one failed renewal is not enough
/// for a message to reappear.
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// The queue every reader of a dataset shares.
#[derive(Debug)]
struct Queue {
    client: aws_sdk_sqs::Client,
    name: String,
    url: String,
    /// How errors name the queue: `SQS queue NAME in REGION`, since a
    /// queue looked for in the wrong region is a common mistake.
    resource: String,
}

/// The tasks of an SQS read connector: `readers` tasks, `reader-0` to
/// `reader-{readers - 1}`, reading `queue_name` together. Fails when the
/// queue cannot be found.
pub async fn queue_units(
    config: &SdkConfig,
    queue_name: &str,
    stop: QueueStop,
    readers: usize,
) -> Result<Vec<(String, Arc<dyn TaskUnit>)>, SourceError> {
    let client = aws_sdk_sqs::Client::new(config);
    let (url, resource) = queue_url(&client, config, queue_name).await?;
    let queue = Arc::new(Queue { client, name: queue_name.to_owned(), url, resource });
    Ok((0..readers)
        .map(|index| {
            let id = format!("reader-{index}");
            let reader = QueueReader { id: id.clone(), queue: Arc::clone(&queue), stop };
            (id, Arc::new(reader) as Arc<dyn TaskUnit>)
        })
        .collect())
}

/// One of the tasks reading a queue.
#[derive(Debug)]
pub struct QueueReader {
    id: String,
    queue: Arc<Queue>,
    stop: QueueStop,
}

#[async_trait]
impl TaskUnit for QueueReader {
    async fn open(&self, checkpoint: Option<&str>, _context: &OpenContext) -> Result<OpenedSource, SourceError> {
        let unit = format!("{} ({})", self.queue.resource, self.id);
        let routed = parse_checkpoint(&unit, checkpoint)?;
        let lease = InFlight::start(Arc::clone(&self.queue));
        let messages = QueueMessages { lease: Arc::clone(&lease), stop: self.stop, routed, empty_receives: 0 };
        Ok(OpenedSource {
            function: pb::Function::QueueMessageReaderParseMessage,
            records: Box::new(messages),
            acknowledger: Some(Arc::new(DeleteWhenDurable { lease })),
            clear_errors_from: None,
        })
    }
}

/// The count of messages a checkpoint says were routed; 0 without one.
fn parse_checkpoint(unit: &str, checkpoint: Option<&str>) -> Result<u64, SourceError> {
    let Some(text) = checkpoint else { return Ok(0) };
    text.trim().parse().map_err(|err| SourceError::BadCheckpoint {
        unit: unit.to_owned(),
        checkpoint: text.to_owned(),
        reason: format!("it is not a count of messages ({err})"),
    })
}

/// The messages a task received and has not deleted, by receipt handle
/// (with their message ids, for log lines): kept hidden from other
/// readers while the task holds them.
#[derive(Debug)]
struct InFlight {
    queue: Arc<Queue>,
    messages: Mutex<HashMap<String, String>>,
}

/// A task's hold on its messages in flight, shared by its source and its
/// acknowledger. When both are gone the task has ended and the keeper
/// stops.
#[derive(Debug)]
struct Lease {
    in_flight: Arc<InFlight>,
    _stop_keeper: DropGuard,
}

impl InFlight {
    /// Starts tracking a task's messages, with a keeper renewing their
    /// visibility until the returned lease is dropped.
    fn start(queue: Arc<Queue>) -> Arc<Lease> {
        let in_flight = Arc::new(InFlight { queue, messages: Mutex::default() });
        let stop = CancellationToken::new();
        tokio::spawn(keep_hidden(Arc::clone(&in_flight), stop.clone()));
        Arc::new(Lease { in_flight, _stop_keeper: stop.drop_guard() })
    }

    fn messages(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // The map stays consistent whatever panicked while holding it.
        self.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Receives up to `max` messages (SQS gives at most ten), waiting up to
    /// `wait_seconds` for the first, and tracks them.
    async fn receive(&self, max: usize, wait_seconds: i32) -> Result<Vec<Message>, SourceError> {
        let queue = &self.queue;
        let max = max.min(SQS_BATCH_LIMIT) as i32;
        let received = queue
            .client
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_seconds)
            .visibility_timeout(VISIBILITY_TIMEOUT_SECONDS)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::MessageDeduplicationId)
            .send()
            .await
            .map_err(|err| service_error("ReceiveMessage", &queue.resource, err))?;
        let messages = received.messages.unwrap_or_default();
        let mut tracked = self.messages();
        for message in &messages {
            if let Some(receipt) = &message.receipt_handle {
                tracked.insert(receipt.clone(), message.message_id.clone().unwrap_or_default());
            }
        }
        Ok(messages)
    }

    /// Stops tracking `receipts`; returns the message ids of those it
    /// tracked, by receipt handle.
    fn forget(&self, receipts: &[String]) -> HashMap<String, String> {
        let mut tracked = self.messages();
        receipts.iter().filter_map(|receipt| tracked.remove_entry(receipt)).collect()
    }

    /// Sets the visibility timeout of `receipts` to `seconds` from now.
    /// Failures are logged, not returned: a message whose timeout was not
    /// changed is delivered again once it runs out.
    async fn change_visibility(&self, receipts: &[String], seconds: i32) {
        let queue = &self.queue;
        for chunk in receipts.chunks(SQS_BATCH_LIMIT) {
            match queue.change_visibility(chunk, seconds).await {
                Ok(failed) => {
                    // A message deleted in the meantime cannot change;
                    // only those still held matter.
                    let tracked = self.messages();
                    for (receipt, reason) in failed {
                        if let Some(message_id) = tracked.get(&receipt) {
                            tracing::warn!(
                                queue = %queue.name, message_id = %message_id, seconds, reason = %reason,
                                "cannot change a message's visibility timeout; it may be delivered again"
                            );
                        }
                    }
                }
                Err(err) => tracing::warn!(
                    queue = %queue.name, messages = chunk.len(), seconds, error = %err,
                    "cannot change the visibility timeout of messages; they may be delivered again"
                ),
            }
        }
    }
}

/// Renews the visibility timeout of a task's messages in flight every
/// [`RENEW_EVERY`] until `stop`.
async fn keep_hidden(in_flight: Arc<InFlight>, stop: CancellationToken) {
    let mut renewals = tokio::time::interval_at(tokio::time::Instant::now() + RENEW_EVERY, RENEW_EVERY);
    renewals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = renewals.tick() => {
                let held: Vec<String> = in_flight.messages().keys().cloned().collect();
                in_flight.change_visibility(&held, VISIBILITY_TIMEOUT_SECONDS).await;
            }
        }
    }
}

impl Queue {
    /// Deletes the messages of `chunk` (at most ten receipt handles);
    /// returns those SQS did not delete, with why.
    async fn delete(&self, chunk: &[String]) -> Result<Vec<(String, String)>, SourceError> {
        const OPERATION: &str = "DeleteMessageBatch";
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(index, receipt)| {
                DeleteMessageBatchRequestEntry::builder().id(index.to_string()).receipt_handle(receipt).build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| self.unbuildable(OPERATION, &err))?;
        let request = self.client.delete_message_batch().queue_url(&self.url).set_entries(Some(entries));
        let answer = request.send().await.map_err(|err| service_error(OPERATION, &self.resource, err))?;
        Ok(failed_receipts(chunk, answer.failed()))
    }

    /// Sets the visibility timeout of the messages of `chunk` (at most ten
    /// receipt handles) to `seconds` from now; returns those SQS did not
    /// change, with why.
    async fn change_visibility(&self, chunk: &[String], seconds: i32) -> Result<Vec<(String, String)>, SourceError> {
        const OPERATION: &str = "ChangeMessageVisibilityBatch";
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(index, receipt)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(receipt)
                    .visibility_timeout(seconds)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| self.unbuildable(OPERATION, &err))?;
        let request = self.client.change_message_visibility_batch().queue_url(&self.url).set_entries(Some(entries));
        let answer = request.send().await.map_err(|err| service_error(OPERATION, &self.resource, err))?;
        Ok(failed_receipts(chunk, answer.failed()))
    }

    /// A batch entry the SDK would not build: every required field is
    /// set, so this is a ferry bug.
    fn unbuildable(&self, operation: &'static str, err: &impl std::fmt::Display) -> SourceError {
        SourceError::Service {
            operation,
            resource: self.resource.clone(),
            message: format!("cannot build the request: {err}"),
            retryable: false,
        }
    }
}

/// The receipt handles of the failed entries of a batch call whose entry
/// ids are their positions in `chunk`, with why each failed.
fn failed_receipts(chunk: &[String], failed: &[BatchResultErrorEntry]) -> Vec<(String, String)> {
    failed
        .iter()
        .filter_map(|entry| {
            let receipt = chunk.get(entry.id().parse::<usize>().ok()?)?;
            let reason = match entry.message() {
                Some(message) => format!("{}: {message}", entry.code()),
                None => entry.code().to_owned(),
            };
            Some((receipt.clone(), reason))
        })
        .collect()
}

/// A task's messages, as batches of `parseMessage` calls.
#[derive(Debug)]
struct QueueMessages {
    lease: Arc<Lease>,
    stop: QueueStop,
    /// Messages routed over every run: the checkpoint.
    routed: u64,
    /// Receives in a row that found nothing.
    empty_receives: u32,
}

impl QueueMessages {
    fn wait_seconds(&self) -> i32 {
        match self.stop {
            QueueStop::Drain { .. } => DRAIN_WAIT_SECONDS,
            QueueStop::Continuous => CONTINUOUS_WAIT_SECONDS,
        }
    }

    fn drained(&self) -> bool {
        match self.stop {
            QueueStop::Drain { consecutive_empty_receives } => self.empty_receives >= consecutive_empty_receives,
            QueueStop::Continuous => false,
        }
    }
}

#[async_trait]
impl RecordSource for QueueMessages {
    /// Waits for messages, then takes what the queue has at once, receive
    /// after receive, until the batch is full or a receive comes back
    /// short: a batch never waits to fill up.
    async fn next_batch(&mut self, max_records: usize, max_bytes: usize) -> Result<Option<SourceBatch>, SourceError> {
        let in_flight = &self.lease.in_flight;
        let mut items = Vec::new();
        let mut acks = Vec::new();
        let mut bytes = 0;
        loop {
            let asked = (max_records - items.len()).min(SQS_BATCH_LIMIT);
            let wait_seconds = if items.is_empty() { self.wait_seconds() } else { 0 };
            let messages = in_flight.receive(asked, wait_seconds).await?;
            let received = messages.len();
            if received == 0 && items.is_empty() {
                self.empty_receives = self.empty_receives.saturating_add(1);
                if self.drained() {
                    return Ok(None);
                }
                continue;
            }
            self.empty_receives = 0;
            for mut message in messages {
                acks.extend(message.receipt_handle.take());
                let record = message_record(&in_flight.queue.name, message);
                bytes += record.payload.len();
                items.push(SourceItem::Record(record));
            }
            if received < asked || items.len() >= max_records || bytes >= max_bytes {
                break;
            }
        }
        self.routed += items.len() as u64;
        Ok(Some(SourceBatch { items, checkpoint: self.routed.to_string(), acks }))
    }

    /// A queue grows: a drained task is caught up, not finished.
    fn finished(&self) -> bool {
        false
    }
}

/// The `parseMessage` call for `message` of `queue`. Only string values
/// (String and Number attributes) reach the handler: the interface takes
/// a map of strings, and a binary attribute has no string form a handler
/// could tell from text, so binary attributes are left out.
fn message_record(queue: &str, message: Message) -> SourceRecord {
    let message_id = message.message_id.unwrap_or_default();
    let body = message.body.unwrap_or_default();
    let mut system = message.attributes.unwrap_or_default();
    let message_attributes: BTreeMap<String, String> = message
        .message_attributes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.string_value?)))
        .collect();
    let mut fields = Map::new();
    fields.insert("queue".to_owned(), Value::from(queue));
    fields.insert("messageId".to_owned(), Value::from(message_id.as_str()));
    SourceRecord {
        origin: RecordOrigin { key: message_id.clone(), fields },
        payload: Bytes::from(body.clone().into_bytes()),
        args: pb::call::Args::QueueMessage(pb::QueueMessageArgs {
            message_id,
            message_group_id: system.remove(&MessageSystemAttributeName::MessageGroupId),
            message_deduplication_id: system.remove(&MessageSystemAttributeName::MessageDeduplicationId),
            message_attributes,
            message_body: body,
        }),
    }
}

/// Deletes a task's messages once the checkpoint covering them is
/// committed.
#[derive(Debug)]
struct DeleteWhenDurable {
    lease: Arc<Lease>,
}

#[async_trait]
impl Acknowledge for DeleteWhenDurable {
    /// Deletes the messages of `acks` (receipt handles), ten at a time. A
    /// message SQS does not delete is delivered again and processed twice;
    /// that is logged, not failed, unless a whole call is refused for a
    /// reason a retry cannot fix (access denied, the queue deleted).
    async fn acknowledge(&self, acks: Vec<String>) -> Result<(), SourceError> {
        let in_flight = &self.lease.in_flight;
        let queue = &in_flight.queue;
        let message_ids = in_flight.forget(&acks);
        for chunk in acks.chunks(SQS_BATCH_LIMIT) {
            match queue.delete(chunk).await {
                Ok(failed) => {
                    for (receipt, reason) in failed {
                        let message_id = message_ids.get(&receipt).map_or("", String::as_str);
                        tracing::warn!(
                            queue = %queue.name, message_id = %message_id, reason = %reason,
                            "cannot delete a processed message; it will be delivered and processed again"
                        );
                    }
                }
                Err(err) if err.is_retryable() => tracing::warn!(
                    queue = %queue.name, messages = chunk.len(), error = %err,
                    "cannot delete processed messages; they will be delivered and processed again"
                ),
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Makes the messages still held (received, never routed) visible
    /// again, so that the next run or another reader takes them at once
    /// rather than when their timeout runs out. A message whose release
    /// fails reappears then.
    async fn close(&self) {
        let in_flight = &self.lease.in_flight;
        let unrouted: Vec<String> = in_flight.messages().drain().map(|(receipt, _)| receipt).collect();
        in_flight.change_visibility(&unrouted, 0).await;
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sqs::types::MessageAttributeValue;
    use aws_smithy_types::Blob;

    use super::*;

    fn attribute(data_type: &str) -> aws_sdk_sqs::types::builders::MessageAttributeValueBuilder {
        MessageAttributeValue::builder().data_type(data_type)
    }

    #[test]
    fn a_fifo_message_becomes_a_parse_message_call_with_its_string_attributes() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body("{\"n\": 1}")
            .attributes(MessageSystemAttributeName::MessageGroupId, "group-a")
            .attributes(MessageSystemAttributeName::MessageDeduplicationId, "dedup-1")
            .message_attributes("origin", attribute("String").string_value("test").build().expect("an attribute"))
            .message_attributes("count", attribute("Number").string_value("42").build().expect("an attribute"))
            .message_attributes(
                "blob",
                attribute("Binary").binary_value(Blob::new(vec![0, 1, 2])).build().expect("an attribute"),
            )
            .build();
        let record = message_record("orders.fifo", message);
        let pb::call::Args::QueueMessage(args) = record.args else { panic!("not a queue message: {:?}", record.args) };
        assert_eq!(
            args,
            pb::QueueMessageArgs {
                message_id: "m-1".to_owned(),
                message_group_id: Some("group-a".to_owned()),
                message_deduplication_id: Some("dedup-1".to_owned()),
                message_attributes: BTreeMap::from([
                    ("count".to_owned(), "42".to_owned()),
                    ("origin".to_owned(), "test".to_owned()),
                ]),
                message_body: "{\"n\": 1}".to_owned(),
            }
        );
        assert_eq!(record.payload, Bytes::from_static(b"{\"n\": 1}"));
        assert_eq!(record.origin.key, "m-1");
        assert_eq!(
            Value::Object(record.origin.fields),
            serde_json::json!({"queue": "orders.fifo", "messageId": "m-1"})
        );
    }

    #[test]
    fn a_standard_message_has_no_group_or_deduplication_id() {
        let message = Message::builder().message_id("m-2").receipt_handle("r-2").body("text").build();
        let pb::call::Args::QueueMessage(args) = message_record("orders", message).args else {
            panic!("not a queue message")
        };
        assert_eq!((args.message_group_id, args.message_deduplication_id), (None, None));
        assert!(args.message_attributes.is_empty());
    }

    #[test]
    fn checkpoints_are_counts_of_routed_messages() {
        assert_eq!(parse_checkpoint("q", None).expect("no checkpoint"), 0);
        assert_eq!(parse_checkpoint("q", Some("120")).expect("a count"), 120);
        assert_eq!(parse_checkpoint("q", Some(" 7\n")).expect("a count with spaces"), 7);
        let err = parse_checkpoint("q", Some("shardId-1:42")).expect_err("not a count");
        assert!(matches!(err, SourceError::BadCheckpoint { .. }), "{err:?}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn failed_entries_name_their_receipt_handles_by_position() {
        let chunk = ["r-0".to_owned(), "r-1".to_owned(), "r-2".to_owned()];
        let failed = [
            BatchResultErrorEntry::builder()
                .id("2")
                .code("ReceiptHandleIsInvalid")
                .message("gone")
                .sender_fault(true)
                .build()
                .expect("an entry"),
            BatchResultErrorEntry::builder().id("9").code("Unknown").sender_fault(false).build().expect("an entry"),
        ];
        assert_eq!(
            failed_receipts(&chunk, &failed),
            vec![("r-2".to_owned(), "ReceiptHandleIsInvalid: gone".to_owned())]
        );
    }
}
