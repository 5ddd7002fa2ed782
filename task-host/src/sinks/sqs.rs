//! SQS queue sink: each document is the body of one message, sent with
//! SendMessageBatch.
//!
//! Size: a message counts its body and its message attributes (name, type
//! and value), as SQS counts it. The largest message a queue takes is its
//! `MaximumMessageSize`, 1,024 bytes to 1 MiB (1 MiB by default on
//! queues created since 2025; older ones may hold 256 KiB), which the sink
//! reads with GetQueueAttributes when it connects. Where that call is
//! denied, the sink assumes 256 KiB (262,144 bytes), what queues took by
//! default before 2025, and warns that allowing `sqs:GetQueueAttributes`
//! lets it send up to the queue's own limit. A larger document is refused
//! (`DocumentTooLarge`, naming the limit) and becomes an error document;
//! it is never sent. A request holds at most 10 messages and 1 MiB
//! (1,048,576 bytes) in all, SQS's limits on a SendMessageBatch call.
//!
//! Should SQS still find a call too long (`BatchRequestTooLong`, were its
//! count to differ from the sink's), the call's messages are sent again
//! one per call, in order, and counted as retries; a message SQS finds too
//! long on its own, or that an answer fails as `MessageTooLong`, is
//! refused (`DocumentTooLarge`).
//!
//! Message id: the value of the document field the connector names
//! (`messageIdAttributeName`, `documentId` by default), a string or a
//! number as text, is sent as a String message attribute of that name.
//! On a FIFO queue (its name ends with `.fifo`) it is also the
//! deduplication id, and the message group id is the document's
//! `partitionKey` (else its `documentId`), so a group's documents arrive
//! in order. SQS takes ids of 1 to 128 printable ASCII characters: a
//! value that is not one is sent as its SHA-256 in hex, which keeps
//! distinct values distinct. A FIFO queue needs the id: a document
//! without it is refused (`MissingMessageId`).
//!
//! Messages a SendMessageBatch answer fails as the sender's fault (e.g.
//! `InvalidMessageContents`) are refused, under SQS's error code; those it
//! fails for its own reasons are sent again, only those and in their
//! order, after growing jittered pauses, up to 10 attempts
//! ([`super::retry`]); if some still fail, the write fails as retryable and
//! the task stops before its checkpoint. A resent message lands after the
//! messages its request sent, so on a FIFO queue a group's order holds
//! except around a resend.
//!
//! Delivery: `write` returns once every message it did not refuse is in
//! the queue. A queue cannot take messages back, so the messages a task
//! sent after its last checkpoint are sent again when it resumes after a
//! crash or a failure: delivery is at least once; a FIFO queue drops the
//! copies sent within its 5-minute deduplication interval (and, as its
//! deduplication id is the message id, distinct documents sharing an id
//! within that interval). The sink checkpoint is the count of messages
//! the task sent ([`Delivered`]).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use bytes::Bytes;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::delivered::Delivered;
use super::retry::{Backoff, Failed, Resends, into_requests};
use super::{DocumentSink, Durable, Rejection, SinkError, SinkFactory, SinkMetrics};
use crate::aws::{classify, queue_url, sink_error, sqs_sink_client};

/// Messages per SendMessageBatch call: SQS's limit.
const MAX_REQUEST_MESSAGES: usize = 10;

/// Bytes of all the messages of a SendMessageBatch call: SQS's limit.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// Bytes of a message when the queue's `MaximumMessageSize` cannot be
/// read: what queues took by default before 2025 (see the module doc).
const FALLBACK_MESSAGE_BYTES: usize = 256 * 1024;

/// Error codes of a call the caller's policies do not allow: SQS's query
/// code and its JSON protocol's.
const ACCESS_DENIED_CODES: &[&str] = &["AccessDenied", "AccessDeniedException"];

/// What SQS's query codes start with (`AWS.SimpleQueueService.BatchRequestTooLong`).
const SQS_CODE_PREFIX: &str = "AWS.SimpleQueueService.";

/// Characters of a FIFO deduplication or group id: SQS's limit.
const MAX_FIFO_ID_CHARS: usize = 128;

/// The data type of the message id attribute.
const STRING_TYPE: &str = "String";

/// The queue every task of a run sends to.
#[derive(Debug)]
struct Queue {
    client: aws_sdk_sqs::Client,
    name: String,
    url: String,
    fifo: bool,
    /// The document field, and message attribute, holding the message id.
    id_attribute: String,
    limit: MessageLimit,
    /// How errors name the queue: `SQS queue NAME in REGION`.
    resource: String,
}

/// The largest message the queue takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MessageLimit {
    bytes: usize,
    /// Whether `bytes` is the queue's `MaximumMessageSize`, rather than
    /// [`FALLBACK_MESSAGE_BYTES`].
    read_from_queue: bool,
}

impl MessageLimit {
    /// Refuses message `index` as too large, `reason` saying how large.
    fn refuse(self, index: usize, reason: &str) -> Rejection {
        let source = if self.read_from_queue {
            "its MaximumMessageSize"
        } else {
            "assumed, since its MaximumMessageSize could not be read"
        };
        Rejection {
            index,
            error_type: "DocumentTooLarge".to_owned(),
            message: format!("{reason}; the queue takes messages of at most {} bytes ({source})", self.bytes),
        }
    }
}

/// Whether `code` is SQS's error `name`, with or without its query prefix.
fn is_sqs_code(code: &str, name: &str) -> bool {
    code.strip_prefix(SQS_CODE_PREFIX).unwrap_or(code) == name
}

/// Opens each task's sink on one queue.
#[derive(Debug)]
pub struct SqsSinks {
    queue: Arc<Queue>,
    metrics: Arc<SinkMetrics>,
}

impl SqsSinks {
    /// Finds `queue_name`'s URL, and the largest message it takes; fails
    /// when there is no such queue. `message_id_attribute` names the
    /// document field holding each message's id.
    pub async fn connect(
        aws: &SdkConfig,
        queue_name: &str,
        message_id_attribute: &str,
        metrics: Arc<SinkMetrics>,
    ) -> Result<Self, SinkError> {
        let client = sqs_sink_client(aws, &metrics);
        let (url, resource) = queue_url(&client, aws, queue_name).await?;
        let limit = message_limit(&client, &url, &resource).await?;
        let queue = Queue {
            client,
            name: queue_name.to_owned(),
            url,
            fifo: queue_name.ends_with(".fifo"),
            id_attribute: message_id_attribute.to_owned(),
            limit,
            resource,
        };
        Ok(Self { queue: Arc::new(queue), metrics })
    }
}

/// The queue's `MaximumMessageSize`; [`FALLBACK_MESSAGE_BYTES`], with a
/// warning, when the sink may not read it.
async fn message_limit(client: &aws_sdk_sqs::Client, url: &str, resource: &str) -> Result<MessageLimit, SinkError> {
    let read = client.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::MaximumMessageSize);
    let answer = match read.send().await {
        Ok(answer) => answer,
        Err(err) if err.code().is_some_and(|code| ACCESS_DENIED_CODES.contains(&code)) => {
            let (denial, _) = classify(err);
            tracing::warn!(
                "cannot read the MaximumMessageSize of {resource} ({denial}): messages over {FALLBACK_MESSAGE_BYTES} bytes (256 KiB) are refused; allow sqs:GetQueueAttributes on the queue to send messages up to its own limit"
            );
            return Ok(MessageLimit { bytes: FALLBACK_MESSAGE_BYTES, read_from_queue: false });
        }
        Err(err) => return Err(sink_error("GetQueueAttributes", resource, err)),
    };
    let value =
        answer.attributes.as_ref().and_then(|attributes| attributes.get(&QueueAttributeName::MaximumMessageSize));
    let bytes = value.and_then(|value| value.parse().ok()).ok_or_else(|| SinkError::Service {
        operation: "GetQueueAttributes",
        resource: resource.to_owned(),
        message: format!("the answer holds no MaximumMessageSize in bytes (it holds {value:?})"),
        retryable: true,
    })?;
    Ok(MessageLimit { bytes, read_from_queue: true })
}

#[async_trait]
impl SinkFactory for SqsSinks {
    async fn open(&self, task_id: &str, checkpoint: Option<&str>) -> Result<Box<dyn DocumentSink>, SinkError> {
        let resource = format!("{} (task {task_id})", self.queue.resource);
        Ok(Box::new(SqsSink {
            queue: Arc::clone(&self.queue),
            metrics: Arc::clone(&self.metrics),
            delivered: Delivered::resume(&resource, checkpoint)?,
        }))
    }

    fn describe(&self) -> String {
        format!("sqs queue {}", self.queue.name)
    }
}

/// One task's writer to the queue.
#[derive(Debug)]
struct SqsSink {
    queue: Arc<Queue>,
    metrics: Arc<SinkMetrics>,
    delivered: Delivered,
}

/// A document on its way to the queue.
#[derive(Debug)]
struct OutgoingMessage {
    /// The document's index in its `write` call.
    index: usize,
    body: String,
    /// The message id attribute's value.
    id: Option<String>,
    /// FIFO queues only.
    deduplication_id: Option<String>,
    group_id: Option<String>,
}

impl OutgoingMessage {
    /// Document `index` as a message to a queue whose message id is in
    /// field `id_attribute`; a refusal when the queue cannot take it.
    fn new(
        index: usize,
        document: Bytes,
        id_attribute: &str,
        fifo: bool,
        limit: MessageLimit,
    ) -> Result<Self, Rejection> {
        let refuse =
            |error_type: &str, message: String| Rejection { index, error_type: error_type.to_owned(), message };
        let body = String::from_utf8(Vec::from(document)).map_err(|err| {
            refuse(
                "InvalidMessageContents",
                format!("the document is not UTF-8 text, which a message body must be: {err}"),
            )
        })?;
        let (id, group) = {
            let fields = top_level_fields(&body);
            let text = |name: &str| fields.get(name).and_then(|raw| value_text(raw));
            (text(id_attribute), text("partitionKey").or_else(|| text("documentId")))
        };
        let mut message = Self { index, body, id, deduplication_id: None, group_id: None };
        let size = message.size(id_attribute);
        if size > limit.bytes {
            return Err(
                limit.refuse(index, &format!("the message is {size} bytes with its {id_attribute:?} attribute"))
            );
        }
        if fifo {
            let Some(id) = &message.id else {
                return Err(refuse(
                    "MissingMessageId",
                    format!(
                        "the document has no {id_attribute:?} field (a string or a number), which a FIFO queue needs as the message's deduplication id"
                    ),
                ));
            };
            message.deduplication_id = Some(fifo_id(id));
            message.group_id = Some(fifo_id(group.as_deref().unwrap_or(id)));
        }
        Ok(message)
    }

    /// What the message counts toward SQS's size limits: its body and its
    /// attribute's name, type and value.
    fn size(&self, id_attribute: &str) -> usize {
        self.body.len() + self.id.as_ref().map_or(0, |id| id_attribute.len() + STRING_TYPE.len() + id.len())
    }

    /// The request entry of the message, `position` in its request.
    fn entry(&self, position: usize, id_attribute: &str) -> Result<SendMessageBatchRequestEntry, String> {
        let attribute = match &self.id {
            Some(id) => Some(
                MessageAttributeValue::builder()
                    .data_type(STRING_TYPE)
                    .string_value(id)
                    .build()
                    .map_err(|err| err.to_string())?,
            ),
            None => None,
        };
        SendMessageBatchRequestEntry::builder()
            .id(position.to_string())
            .message_body(&self.body)
            .set_message_attributes(attribute.map(|value| HashMap::from([(id_attribute.to_owned(), value)])))
            .set_message_deduplication_id(self.deduplication_id.clone())
            .set_message_group_id(self.group_id.clone())
            .build()
            .map_err(|err| err.to_string())
    }
}

/// The top-level fields of a flat JSON document, their values unparsed;
/// none when it is not a JSON object.
fn top_level_fields(document: &str) -> HashMap<Cow<'_, str>, &RawValue> {
    serde_json::from_str(document).unwrap_or_default()
}

/// A field's value as text: a non-empty string as it is, a number as
/// written; `None` for other values.
fn value_text(raw: &RawValue) -> Option<String> {
    let raw = raw.get();
    if raw.starts_with('"') {
        serde_json::from_str::<String>(raw).ok().filter(|text| !text.is_empty())
    } else {
        serde_json::from_str::<serde_json::Number>(raw).ok().map(|number| number.to_string())
    }
}

/// `value` as a FIFO deduplication or group id: itself when SQS takes it
/// (1 to 128 printable ASCII characters), else its SHA-256 in hex.
fn fifo_id(value: &str) -> String {
    let taken = (1..=MAX_FIFO_ID_CHARS).contains(&value.len()) && value.bytes().all(|byte| byte.is_ascii_graphic());
    if taken { value.to_owned() } else { hex::encode(Sha256::digest(value.as_bytes())) }
}

#[async_trait]
impl DocumentSink for SqsSink {
    async fn write(&mut self, documents: Vec<Bytes>) -> Result<Vec<Rejection>, SinkError> {
        let queue = &self.queue;
        let metrics = &self.metrics;
        let mut rejections = Vec::new();
        let mut messages = Vec::with_capacity(documents.len());
        for (index, document) in documents.into_iter().enumerate() {
            match OutgoingMessage::new(index, document, &queue.id_attribute, queue.fifo, queue.limit) {
                Ok(message) => messages.push(message),
                Err(rejection) => rejections.push(rejection),
            }
        }
        let to_send = messages.len();
        let size = |message: &OutgoingMessage| message.size(&queue.id_attribute);
        let mut refused_by_queue = Vec::new();
        let mut requests = VecDeque::from(into_requests(messages, size, MAX_REQUEST_MESSAGES, MAX_REQUEST_BYTES));
        while let Some(request) = requests.pop_front() {
            let too_long = queue.send_request(request, metrics, &mut refused_by_queue).await?;
            // Sent again one per call, in order, before the later requests.
            for message in too_long.into_iter().rev() {
                requests.push_front(vec![message]);
            }
        }
        self.delivered.write(to_send - refused_by_queue.len());
        rejections.extend(refused_by_queue);
        rejections.sort_by_key(|rejection| rejection.index);
        Ok(rejections)
    }

    async fn flush(&mut self, _last: bool) -> Result<Durable, SinkError> {
        Ok(self.delivered.durable())
    }
}

/// What became of a SendMessageBatch call.
#[derive(Debug)]
enum Sent {
    /// SQS answered for each message: these it failed for its own
    /// reasons, in order.
    Answered(Vec<Failed<OutgoingMessage>>),
    /// SQS refused the whole call as too long, and sent none of them.
    TooLong { messages: Vec<OutgoingMessage>, reason: String },
}

/// What a SendMessageBatch answer says of one message.
#[derive(Debug)]
enum Answered {
    Sent,
    Failed { sender_fault: bool, code: String, message: String },
}

impl Queue {
    /// Sends `request`, and again the messages SQS fails for its own
    /// reasons ([`Resends`]), adding those it refuses to `refused`. A
    /// lone message SQS finds too long is refused; the messages of a
    /// longer call it finds too long are returned, unsent, to be sent one
    /// per call, and counted as retries.
    async fn send_request(
        &self,
        request: Vec<OutgoingMessage>,
        metrics: &SinkMetrics,
        refused: &mut Vec<Rejection>,
    ) -> Result<Vec<OutgoingMessage>, SinkError> {
        let mut resends = Resends::new("SendMessageBatch", &self.resource, metrics, Backoff::new());
        let mut pending = request;
        while !pending.is_empty() {
            pending = match self.send(pending, metrics, refused).await? {
                Sent::Answered(failed) => resends.after(failed).await?,
                Sent::TooLong { messages, .. } if messages.len() > 1 => {
                    metrics.retried(messages.len() as u64);
                    return Ok(messages);
                }
                Sent::TooLong { messages, reason } => {
                    let reason = format!("SQS refused the message as too long ({reason})");
                    refused.extend(messages.iter().map(|message| self.limit.refuse(message.index, &reason)));
                    Vec::new()
                }
            };
        }
        Ok(Vec::new())
    }

    /// One SendMessageBatch call. Adds the messages it refused as the
    /// sender's fault to `refused`.
    async fn send(
        &self,
        messages: Vec<OutgoingMessage>,
        metrics: &SinkMetrics,
        refused: &mut Vec<Rejection>,
    ) -> Result<Sent, SinkError> {
        let entries = messages
            .iter()
            .enumerate()
            .map(|(position, message)| message.entry(position, &self.id_attribute))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| self.call_error(format!("a message could not be built: {err}"), false))?;
        let started = Instant::now();
        let call = self.client.send_message_batch().queue_url(&self.url).set_entries(Some(entries));
        let answer = match call.send().await {
            Ok(answer) => answer,
            Err(err) if err.code().is_some_and(|code| is_sqs_code(code, "BatchRequestTooLong")) => {
                let (reason, _) = classify(err);
                return Ok(Sent::TooLong { messages, reason });
            }
            Err(err) => return Err(sink_error("SendMessageBatch", &self.resource, err)),
        };
        let latency = started.elapsed();
        let mut sorted = sort_answer(messages, answer, self.limit);
        metrics.put(latency, sorted.accepted, sorted.bytes);
        refused.append(&mut sorted.refused);
        Ok(Sent::Answered(sorted.failed))
    }

    fn call_error(&self, message: String, retryable: bool) -> SinkError {
        SinkError::Service { operation: "SendMessageBatch", resource: self.resource.clone(), message, retryable }
    }
}

/// What a SendMessageBatch answer made of its messages.
#[derive(Debug)]
struct SendAnswer {
    /// The messages it failed for its own reasons, in order.
    failed: Vec<Failed<OutgoingMessage>>,
    /// The messages it refused as the sender's fault.
    refused: Vec<Rejection>,
    /// The messages it sent, and their bodies' bytes.
    accepted: u64,
    bytes: u64,
}

/// Pairs `messages` with what `answer` says of each (entry ids are
/// positions in the request); a message failed as too long is refused
/// against the queue's `limit`.
fn sort_answer(messages: Vec<OutgoingMessage>, answer: SendMessageBatchOutput, limit: MessageLimit) -> SendAnswer {
    let mut answered: Vec<Option<Answered>> = messages.iter().map(|_| None).collect();
    let results = answer.successful.into_iter().map(|sent| (sent.id, Answered::Sent)).chain(
        answer.failed.into_iter().map(|failure| {
            let message = failure.message.unwrap_or_default();
            (failure.id, Answered::Failed { sender_fault: failure.sender_fault, code: failure.code, message })
        }),
    );
    for (id, result) in results {
        if let Some(slot) = id.parse::<usize>().ok().and_then(|position| answered.get_mut(position)) {
            *slot = Some(result);
        }
    }
    let mut sorted = SendAnswer { failed: Vec::new(), refused: Vec::new(), accepted: 0, bytes: 0 };
    for (message, answer) in messages.into_iter().zip(answered) {
        match answer {
            Some(Answered::Sent) => {
                sorted.accepted += 1;
                sorted.bytes += message.body.len() as u64;
            }
            Some(Answered::Failed { code, message: text, .. }) if is_sqs_code(&code, "MessageTooLong") => {
                let reason = format!("SQS refused the message as too long ({code}: {text})");
                sorted.refused.push(limit.refuse(message.index, &reason));
            }
            Some(Answered::Failed { sender_fault: true, code, message: text }) => {
                sorted.refused.push(Rejection { index: message.index, error_type: code, message: text });
            }
            Some(Answered::Failed { sender_fault: false, code, message: text }) => {
                sorted.failed.push(Failed { entry: message, code, message: text });
            }
            // Sending it again risks a copy, but skipping it risks a loss;
            // SQS answers for every entry, so this is not expected.
            None => sorted.failed.push(Failed {
                entry: message,
                code: "Unanswered".to_owned(),
                message: "the answer names the message neither sent nor failed".to_owned(),
            }),
        }
    }
    sorted
}

#[cfg(test)]
mod tests {
    use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};

    use super::*;

    /// A queue created since 2025, or set to 1 MiB.
    const MIB_QUEUE: MessageLimit = MessageLimit { bytes: 1024 * 1024, read_from_queue: true };

    fn message(document: &str, fifo: bool) -> Result<OutgoingMessage, Rejection> {
        message_within(document, fifo, MIB_QUEUE)
    }

    fn message_within(document: &str, fifo: bool, limit: MessageLimit) -> Result<OutgoingMessage, Rejection> {
        OutgoingMessage::new(3, Bytes::from(document.to_owned()), "documentId", fifo, limit)
    }

    #[test]
    fn the_message_id_is_a_string_or_a_number_as_text() {
        let document = r#"{"documentId":"d-1","n":42,"x":1.5,"empty":"","list":[1],"esc\"aped":"e"}"#;
        let fields = top_level_fields(document);
        let text = |name: &str| fields.get(name).and_then(|raw| value_text(raw));
        assert_eq!(text("documentId").as_deref(), Some("d-1"));
        assert_eq!(text("n").as_deref(), Some("42"));
        assert_eq!(text("x").as_deref(), Some("1.5"));
        assert_eq!(text("esc\"aped").as_deref(), Some("e"));
        assert_eq!(text("empty"), None);
        assert_eq!(text("list"), None);
        assert_eq!(text("missing"), None);
        assert!(top_level_fields("[1, 2]").is_empty());
    }

    #[test]
    fn fifo_messages_carry_their_id_and_group() {
        let sent = message(r#"{"documentId":"d-1","partitionKey":"p"}"#, true).expect("a message");
        assert_eq!(sent.id.as_deref(), Some("d-1"));
        assert_eq!(sent.deduplication_id.as_deref(), Some("d-1"));
        assert_eq!(sent.group_id.as_deref(), Some("p"));
        let entry = sent.entry(7, "documentId").expect("an entry");
        assert_eq!(entry.id(), "7");
        let attribute = &entry.message_attributes().expect("attributes")["documentId"];
        assert_eq!((attribute.data_type(), attribute.string_value()), ("String", Some("d-1")));

        let keyless = message(r#"{"documentId":"d-2"}"#, true).expect("a message");
        assert_eq!(keyless.group_id.as_deref(), Some("d-2"));
        let standard = message(r#"{"documentId":"d-3","partitionKey":"p"}"#, false).expect("a message");
        assert_eq!((standard.deduplication_id, standard.group_id), (None, None));
    }

    #[test]
    fn a_fifo_queue_refuses_documents_without_an_id() {
        let refused = message(r#"{"partitionKey":"p"}"#, true).expect_err("no id");
        assert_eq!((refused.index, refused.error_type.as_str()), (3, "MissingMessageId"));
        assert!(refused.message.contains("\"documentId\""), "{}", refused.message);
        let standard = message(r#"{"partitionKey":"p"}"#, false).expect("a standard queue needs no id");
        assert_eq!(standard.id, None);
        assert!(standard.entry(0, "documentId").expect("an entry").message_attributes().is_none());
    }

    #[test]
    fn fifo_ids_sqs_cannot_take_are_hashed() {
        assert_eq!(fifo_id("doc-000001"), "doc-000001");
        let longest = "a".repeat(MAX_FIFO_ID_CHARS);
        assert_eq!(fifo_id(&longest), longest);
        let too_long = "a".repeat(MAX_FIFO_ID_CHARS + 1);
        let hashed = fifo_id(&too_long);
        assert_eq!(hashed.len(), 64);
        assert_ne!(hashed, fifo_id(&format!("{too_long}b")));
        assert_eq!(fifo_id("with space").len(), 64);
        assert_eq!(fifo_id("é").len(), 64);
    }

    /// `{"documentId":"d","text":"` + `text` bytes + `"}`, whose message
    /// is `bytes` long with its attribute ("documentId" + "String" + "d").
    fn document_of_message_bytes(bytes: usize) -> String {
        let overhead = r#"{"documentId":"d","text":""}"#.len() + "documentId".len() + STRING_TYPE.len() + 1;
        format!(r#"{{"documentId":"d","text":"{}"}}"#, "x".repeat(bytes - overhead))
    }

    #[test]
    fn messages_over_the_queue_limit_with_their_attribute_are_refused() {
        let older_queue = MessageLimit { bytes: 256 * 1024, read_from_queue: true };
        let largest = message_within(&document_of_message_bytes(262_144), false, older_queue).expect("at the limit");
        assert_eq!(largest.size("documentId"), 262_144);
        let refused =
            message_within(&document_of_message_bytes(262_145), false, older_queue).expect_err("over the limit");
        assert_eq!((refused.index, refused.error_type.as_str()), (3, "DocumentTooLarge"));
        assert_eq!(
            refused.message,
            "the message is 262145 bytes with its \"documentId\" attribute; \
             the queue takes messages of at most 262144 bytes (its MaximumMessageSize)"
        );

        let largest = message(&document_of_message_bytes(1_048_576), false).expect("at the limit");
        assert_eq!(largest.size("documentId"), 1_048_576);
        let refused = message(&document_of_message_bytes(1_048_577), false).expect_err("over the limit");
        assert!(refused.message.contains("at most 1048576 bytes (its MaximumMessageSize)"), "{}", refused.message);
    }

    #[test]
    fn refusals_say_when_the_limit_is_assumed() {
        let assumed = MessageLimit { bytes: FALLBACK_MESSAGE_BYTES, read_from_queue: false };
        let refused =
            message_within(&document_of_message_bytes(600 * 1024), false, assumed).expect_err("over the limit");
        assert_eq!(refused.error_type, "DocumentTooLarge");
        assert!(
            refused.message.ends_with("at most 262144 bytes (assumed, since its MaximumMessageSize could not be read)"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn documents_that_are_not_text_are_refused() {
        let refused = OutgoingMessage::new(0, Bytes::from_static(b"{\"a\":\"\xff\"}"), "documentId", false, MIB_QUEUE)
            .expect_err("not UTF-8");
        assert_eq!(refused.error_type, "InvalidMessageContents");
    }

    #[test]
    fn requests_hold_at_most_10_messages_and_1_mib() {
        let counts = |sizes: Vec<usize>| -> Vec<usize> {
            into_requests(sizes, |size| *size, MAX_REQUEST_MESSAGES, MAX_REQUEST_BYTES).iter().map(Vec::len).collect()
        };
        assert_eq!(counts(vec![100; 25]), vec![10, 10, 5]);
        // Two 600 KiB messages never share a request; five of 200 KiB do.
        assert_eq!(counts(vec![100, 600 * 1024, 100, 600 * 1024, 100]), vec![3, 2]);
        assert_eq!(counts(vec![200 * 1024; 6]), vec![5, 1]);
    }

    #[test]
    fn sqs_codes_match_with_or_without_their_prefix() {
        assert!(is_sqs_code("AWS.SimpleQueueService.BatchRequestTooLong", "BatchRequestTooLong"));
        assert!(is_sqs_code("BatchRequestTooLong", "BatchRequestTooLong"));
        assert!(!is_sqs_code("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "BatchRequestTooLong"));
        assert!(!is_sqs_code("NotBatchRequestTooLong", "BatchRequestTooLong"));
    }

    #[test]
    fn sender_faults_and_too_long_messages_are_refused_and_other_failures_sent_again() {
        let messages: Vec<OutgoingMessage> = (0..6)
            .map(|n| {
                message(&format!(r#"{{"documentId":"d{n}"}}"#), false)
                    .map(|sent| OutgoingMessage { index: n * 2, ..sent })
            })
            .collect::<Result<_, _>>()
            .expect("messages");
        let sent = |id: &str| {
            SendMessageBatchResultEntry::builder()
                .id(id)
                .message_id("m")
                .md5_of_message_body("x")
                .build()
                .expect("an entry")
        };
        let failed = |id: &str, sender_fault: bool, code: &str| {
            BatchResultErrorEntry::builder()
                .id(id)
                .sender_fault(sender_fault)
                .code(code)
                .message("no")
                .build()
                .expect("an entry")
        };
        // Entry 5 is in neither list.
        let answer = SendMessageBatchOutput::builder()
            .successful(sent("0"))
            .successful(sent("2"))
            .failed(failed("3", false, "InternalError"))
            .failed(failed("1", true, "InvalidMessageContents"))
            .failed(failed("4", true, "AWS.SimpleQueueService.MessageTooLong"))
            .build()
            .expect("an answer");
        let body_bytes = messages[0].body.len() + messages[2].body.len();
        let sorted = sort_answer(messages, answer, MIB_QUEUE);
        assert_eq!((sorted.accepted, sorted.bytes), (2, body_bytes as u64));
        let too_long =
            MIB_QUEUE.refuse(8, "SQS refused the message as too long (AWS.SimpleQueueService.MessageTooLong: no)");
        assert_eq!(
            sorted.refused,
            vec![
                Rejection { index: 2, error_type: "InvalidMessageContents".to_owned(), message: "no".to_owned() },
                too_long,
            ]
        );
        assert!(sorted.refused[1].message.contains("at most 1048576 bytes"), "{}", sorted.refused[1].message);
        let resent: Vec<(usize, &str)> =
            sorted.failed.iter().map(|failed| (failed.entry.index, failed.code.as_str())).collect();
        assert_eq!(resent, vec![(6, "InternalError"), (10, "Unanswered")]);
    }
}
