//! Kafka topic sink: each document becomes one message of one topic,
//! produced by one idempotent producer that all the run's tasks share.
//!
//! A message's value is the document's flat JSON and its key the
//! document's `partitionKey` (else its `documentId`, else no key), so the
//! documents of one key go to one partition in the order they were
//! written. Keys are spread over partitions with murmur2, as the Java
//! client does, so ferry and Java producers put a key on the same
//! partition.
//!
//! `write` returns only once the brokers acknowledged every document
//! (`acks=all`), so nothing is left in the producer when the pipeline
//! takes a checkpoint. librdkafka retries failed produce requests itself
//! until `message.timeout.ms`; the producer is idempotent, so those
//! retries neither duplicate nor reorder messages. Kafka cannot take
//! messages back, though: documents written after a task's last
//! checkpoint are produced again when the task resumes after a crash or a
//! failure. The sink delivers at least once.
//!
//! The sink checkpoint is the number of documents the task has delivered
//! up to that checkpoint (copies produced again after a crash are not
//! counted twice, since a resumed task counts on from its checkpoint).
//! Kafka needs no position to resume: it is there for people reading the
//! task's state.
//!
//! The topic is checked when the run connects: it must exist, or be
//! created with the `partitions` the write connector gives. Neither the
//! check nor a produce lets a broker create the topic with its own
//! defaults (`allow.auto.create.topics=false`).
//!
//! Metrics: a Kafka put is the batch of produces of one `write` call,
//! timed from its first produce to its last acknowledgement. The retries
//! librdkafka makes inside the producer are not counted.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaRespErr;

use super::delivered::Delivered;
use super::{DocumentSink, Durable, Rejection, SinkError, SinkFactory, SinkMetrics, document_string_field};

/// How long connecting waits for a broker to answer a metadata or a
/// topic creation request: long enough for a cluster that is electing
/// leaders, short enough that an unreachable one fails the run soon.
const BROKER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the producer keeps retrying a message before it gives up on
/// it (`message.timeout.ms`): a write fails after at most this long when
/// the brokers stay unreachable.
const MESSAGE_TIMEOUT_MS: &str = "60000";

/// How long the producer waits to fill a batch (`linger.ms`): a write
/// hands over a whole batch of documents at once, so a short wait is
/// enough to send them in few requests.
const LINGER_MS: &str = "5";

/// The largest message the producer takes, key and framing included
/// (`message.max.bytes`). It is librdkafka's default, set explicitly
/// because it must stay below the brokers' limit (Kafka's default is
/// 1048588 bytes): a batch of messages the producer builds is then never
/// refused as a whole for its size.
const MESSAGE_MAX_BYTES: usize = 1_000_000;

/// How long a write waits before handing a document over again when the
/// producer's queue is full (other tasks' messages await acknowledgement).
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(10);

/// What a refused document's error document is called.
const TOO_LARGE: &str = "DocumentTooLarge";

/// Opens each task's writer to one topic; they share the run's producer.
pub struct KafkaSinks {
    producer: FutureProducer,
    topic: Arc<str>,
    /// The topic and servers, as errors and the run summary name them.
    resource: Arc<str>,
    metrics: Arc<SinkMetrics>,
}

impl fmt::Debug for KafkaSinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSinks").field("resource", &self.resource).finish_non_exhaustive()
    }
}

impl KafkaSinks {
    /// Creates the run's producer and checks the topic: a missing topic is
    /// created with `partitions` partitions, or is an error without them;
    /// an existing one is used with the partitions it has.
    pub async fn connect(
        bootstrap_servers: &str,
        topic: &str,
        partitions: Option<u32>,
        metrics: Arc<SinkMetrics>,
    ) -> Result<Self, SinkError> {
        let resource = format!("kafka topic {topic} at {bootstrap_servers}");
        let producer: FutureProducer = producer_config(bootstrap_servers)
            .create()
            .map_err(|err| service_error("creating the Kafka producer", &resource, &err))?;
        match (topic_partitions(&producer, topic, BROKER_TIMEOUT, &resource).await?, partitions) {
            (Some(existing), Some(configured)) if existing != configured as usize => tracing::warn!(
                topic,
                existing,
                configured,
                "the topic exists with another number of partitions than the write connector gives; it is used as it is"
            ),
            (Some(_), _) => {}
            (None, Some(configured)) => create_topic(bootstrap_servers, topic, configured, &resource).await?,
            (None, None) => {
                return Err(SinkError::Service {
                    operation: "checking the topic",
                    resource,
                    message: format!(
                        "the topic {topic:?} does not exist: create it, or give the write connector \"partitions\" for ferry to create it"
                    ),
                    retryable: false,
                });
            }
        }
        Ok(Self { producer, topic: topic.into(), resource: resource.into(), metrics })
    }
}

#[async_trait]
impl SinkFactory for KafkaSinks {
    async fn open(&self, task_id: &str, checkpoint: Option<&str>) -> Result<Box<dyn DocumentSink>, SinkError> {
        let delivered = Delivered::resume(&format!("task {task_id} on {}", self.resource), checkpoint)?;
        Ok(Box::new(KafkaSink {
            producer: self.producer.clone(),
            topic: Arc::clone(&self.topic),
            resource: Arc::clone(&self.resource),
            metrics: Arc::clone(&self.metrics),
            delivered,
        }))
    }

    fn describe(&self) -> String {
        self.resource.to_string()
    }
}

/// One task's writer.
struct KafkaSink {
    producer: FutureProducer,
    topic: Arc<str>,
    resource: Arc<str>,
    metrics: Arc<SinkMetrics>,
    delivered: Delivered,
}

#[async_trait]
impl DocumentSink for KafkaSink {
    async fn write(&mut self, documents: Vec<Bytes>) -> Result<Vec<Rejection>, SinkError> {
        let started = Instant::now();
        let mut rejections = Vec::new();
        let mut deliveries = Vec::with_capacity(documents.len());
        for (index, document) in documents.iter().enumerate() {
            match self.enqueue(document).await? {
                Some(delivery) => deliveries.push((index, delivery)),
                None => rejections.push(Rejection {
                    index,
                    error_type: TOO_LARGE.to_owned(),
                    message: format!(
                        "the document is {} bytes; a Kafka message from ferry is at most {MESSAGE_MAX_BYTES} bytes, its key and framing included (the producer's message.max.bytes)",
                        document.len()
                    ),
                }),
            }
        }
        let produced = !deliveries.is_empty();
        let (mut records, mut bytes) = (0, 0);
        for (index, delivery) in deliveries {
            let length = documents[index].len();
            match delivery.await {
                Ok(Ok(_)) => {
                    records += 1;
                    bytes += length as u64;
                }
                Ok(Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _))) => {
                    rejections.push(Rejection {
                        index,
                        error_type: TOO_LARGE.to_owned(),
                        message: format!(
                            "the broker refused the document ({length} bytes) as too large: the topic's max.message.bytes is below the producer's {MESSAGE_MAX_BYTES}"
                        ),
                    });
                }
                Ok(Err((err, _))) => return Err(self.delivery_error(&err)),
                Err(_canceled) => {
                    return Err(SinkError::Service {
                        operation: "producing",
                        resource: self.resource.to_string(),
                        message: "the producer stopped before reporting the delivery".to_owned(),
                        retryable: true,
                    });
                }
            }
        }
        if produced {
            self.metrics.put(started.elapsed(), records, bytes);
        }
        rejections.sort_by_key(|rejection| rejection.index);
        self.delivered.write(records as usize);
        Ok(rejections)
    }

    async fn flush(&mut self, _last: bool) -> Result<Durable, SinkError> {
        // Every write waited for its acknowledgements: all is durable.
        Ok(self.delivered.durable())
    }
}

impl KafkaSink {
    /// Hands `document` to the producer, waiting while its queue is full.
    /// `None` when it is too large to be sent at all.
    async fn enqueue(&self, document: &Bytes) -> Result<Option<DeliveryFuture>, SinkError> {
        let key = message_key(document);
        let mut record = FutureRecord::<str, [u8]>::to(&self.topic).payload(document.as_ref());
        if let Some(key) = &key {
            record = record.key(key.as_str());
        }
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(Some(delivery)),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => return Ok(None),
                Err((err, _)) => return Err(self.delivery_error(&err)),
            }
        }
    }

    /// A failed produce as a [`SinkError`]. A fatal error of the
    /// idempotent producer is reported with its cause, which librdkafka
    /// keeps apart from the messages it fails.
    fn delivery_error(&self, err: &KafkaError) -> SinkError {
        let mut error = service_error("producing", &self.resource, err);
        if let (Some(RDKafkaErrorCode::Fatal), SinkError::Service { message, .. }) =
            (err.rdkafka_error_code(), &mut error)
            && let Some((code, reason)) = self.producer.client().fatal_error()
        {
            message.push_str(&format!(": {code}: {reason}"));
        }
        error
    }
}

/// The producer's settings; see the constants for why each value.
fn producer_config(bootstrap_servers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap_servers)
        .set("client.id", "ferry")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", LINGER_MS)
        .set("message.timeout.ms", MESSAGE_TIMEOUT_MS)
        .set("message.max.bytes", MESSAGE_MAX_BYTES.to_string())
        .set("partitioner", "murmur2_random")
        .set("allow.auto.create.topics", "false");
    config
}

/// The key of a document's message: its `partitionKey`, else its
/// `documentId`; none when it has neither (or they are empty), and the
/// producer then spreads such documents over the partitions.
fn message_key(document: &[u8]) -> Option<String> {
    ["partitionKey", "documentId"]
        .into_iter()
        .find_map(|field| document_string_field(document, field).filter(|key| !key.is_empty()))
}

/// The number of partitions of `topic`, `None` when it does not exist.
async fn topic_partitions(
    producer: &FutureProducer,
    topic: &str,
    timeout: Duration,
    resource: &str,
) -> Result<Option<usize>, SinkError> {
    const OPERATION: &str = "reading the topic's metadata";
    let producer = producer.clone();
    let name = topic.to_owned();
    // librdkafka's metadata call blocks until the answer or the timeout.
    let lookup = tokio::task::spawn_blocking(move || {
        let metadata = producer.client().fetch_metadata(Some(&name), timeout)?;
        Ok::<_, KafkaError>(
            metadata
                .topics()
                .iter()
                .find(|found| found.name() == name)
                .map(|found| (found.error(), found.partitions().len())),
        )
    })
    .await
    .map_err(|err| SinkError::Service {
        operation: OPERATION,
        resource: resource.to_owned(),
        message: format!("the metadata request ended abnormally: {err}"),
        retryable: false,
    })?;
    match lookup {
        Ok(None | Some((Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART), _))) => Ok(None),
        Ok(Some((None, partitions))) => Ok(Some(partitions)),
        Ok(Some((Some(code), _))) => Err(service_error(OPERATION, resource, &KafkaError::MetadataFetch(code.into()))),
        Err(err) if error_code(&err).is_some_and(is_transient) => Err(SinkError::Service {
            operation: OPERATION,
            resource: resource.to_owned(),
            message: format!("no broker answered within {timeout:?}: {err}"),
            retryable: true,
        }),
        Err(err) => Err(service_error(OPERATION, resource, &err)),
    }
}

/// Creates `topic` with `partitions` partitions and the cluster's default
/// replication factor.
async fn create_topic(bootstrap_servers: &str, topic: &str, partitions: u32, resource: &str) -> Result<(), SinkError> {
    const OPERATION: &str = "creating the topic";
    let partition_count = i32::try_from(partitions).map_err(|_| SinkError::Service {
        operation: OPERATION,
        resource: resource.to_owned(),
        message: format!("{partitions} partitions are more than Kafka allows"),
        retryable: false,
    })?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap_servers)
        .set("client.id", "ferry")
        .create()
        .map_err(|err| service_error(OPERATION, resource, &err))?;
    // -1: the cluster's `default.replication.factor` (brokers 2.4 and
    // later), what its operators chose for topics nobody configured
    // further; a fixed factor would be too high for a one-broker cluster
    // or too low for a production one.
    let new_topic = NewTopic::new(topic, partition_count, TopicReplication::Fixed(-1));
    let options = AdminOptions::new().request_timeout(Some(BROKER_TIMEOUT)).operation_timeout(Some(BROKER_TIMEOUT));
    let results =
        admin.create_topics([&new_topic], &options).await.map_err(|err| service_error(OPERATION, resource, &err))?;
    for result in results {
        match result {
            // Created by someone else since the check: use it.
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(service_error(OPERATION, resource, &KafkaError::AdminOp(code))),
        }
    }
    tracing::info!(topic, partitions, "created the topic");
    Ok(())
}

/// `err`, from `operation` on `resource`, as a [`SinkError::Service`],
/// retryable when its code names a transient condition.
fn service_error(operation: &'static str, resource: &str, err: &KafkaError) -> SinkError {
    SinkError::Service {
        operation,
        resource: resource.to_owned(),
        message: err.to_string(),
        retryable: error_code(err).is_some_and(is_transient),
    }
}

/// The error code `err` carries, admin operation errors included.
fn error_code(err: &KafkaError) -> Option<RDKafkaErrorCode> {
    match err {
        KafkaError::AdminOp(code) => Some(*code),
        other => other.rdkafka_error_code(),
    }
}

/// Whether a Kafka error code names a condition that passes by itself: a
/// broker unreachable, overloaded or moving partition leaders, or a
/// message that timed out waiting for them (librdkafka has retried it
/// already). Anything else (a missing topic, denied access, a fatal error
/// of the idempotent producer, a refused configuration) needs someone to
/// act before a retry can succeed.
fn is_transient(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as Code;
    matches!(
        code,
        Code::MessageTimedOut
            | Code::OperationTimedOut
            | Code::TimedOutQueue
            | Code::BrokerTransportFailure
            | Code::AllBrokersDown
            | Code::Resolve
            | Code::QueueFull
            | Code::PurgeQueue
            | Code::PurgeInflight
            | Code::LeaderNotAvailable
            | Code::NotLeaderForPartition
            | Code::RequestTimedOut
            | Code::BrokerNotAvailable
            | Code::ReplicaNotAvailable
            | Code::NetworkException
            | Code::NotEnoughReplicas
            | Code::NotEnoughReplicasAfterAppend
            | Code::KafkaStorageError
            | Code::NotController
            | Code::ThrottlingQuotaExceeded
            | Code::FencedLeaderEpoch
            | Code::UnknownLeaderEpoch
            | Code::PreferredLeaderNotAvailable
            | Code::EligibleLeadersNotAvailable
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_partition_key_then_the_document_id() {
        assert_eq!(message_key(br#"{"documentId":"d","partitionKey":"p"}"#).as_deref(), Some("p"));
        assert_eq!(message_key(br#"{"documentId":"d","partitionKey":""}"#).as_deref(), Some("d"));
        assert_eq!(message_key(br#"{"documentId":"d"}"#).as_deref(), Some("d"));
        assert_eq!(message_key(br#"{"n":1}"#), None);
    }

    #[test]
    fn transient_codes_are_retryable_and_the_rest_not() {
        let produce = |code| service_error("producing", "t", &KafkaError::MessageProduction(code));
        assert!(produce(RDKafkaErrorCode::MessageTimedOut).is_retryable());
        assert!(produce(RDKafkaErrorCode::NotEnoughReplicas).is_retryable());
        assert!(!produce(RDKafkaErrorCode::TopicAuthorizationFailed).is_retryable());
        assert!(!produce(RDKafkaErrorCode::Fatal).is_retryable());
        assert!(!produce(RDKafkaErrorCode::UnknownTopicOrPartition).is_retryable());
        let admin = service_error("creating the topic", "t", &KafkaError::AdminOp(RDKafkaErrorCode::RequestTimedOut));
        assert!(admin.is_retryable(), "{admin}");
    }

    #[tokio::test]
    async fn an_unreachable_cluster_is_a_retryable_error() {
        // A port nobody listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
        let servers = format!("127.0.0.1:{port}");
        let producer: FutureProducer = producer_config(&servers).create().expect("producer");
        let err = topic_partitions(&producer, "documents", Duration::from_secs(1), "kafka topic documents")
            .await
            .expect_err("nobody answers");
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains("no broker answered"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_topic_without_partitions_needs_someone_to_act() {
        let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
        let metrics = Arc::new(SinkMetrics::default());
        let err =
            KafkaSinks::connect(&cluster.bootstrap_servers(), "absent", None, metrics).await.expect_err("missing");
        assert!(!err.is_retryable(), "{err}");
        assert!(err.to_string().contains(r#"the topic "absent" does not exist"#), "{err}");
    }

    #[tokio::test]
    async fn a_resumed_task_counts_on_from_its_checkpoint() {
        let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("documents", 1, 1).expect("topic");
        let metrics = Arc::new(SinkMetrics::default());
        let sinks = KafkaSinks::connect(&cluster.bootstrap_servers(), "documents", None, Arc::clone(&metrics))
            .await
            .expect("connect");
        let mut sink = sinks.open("task", Some("5")).await.expect("open");
        let documents =
            vec![Bytes::from_static(br#"{"documentId":"a"}"#), Bytes::from_static(br#"{"documentId":"b"}"#)];
        assert_eq!(sink.write(documents).await.expect("write"), Vec::new());
        assert_eq!(sink.flush(true).await.expect("flush"), Durable { writes: 1, checkpoint: "7".to_owned() });
        assert_eq!(metrics.snapshot().records, 2);
        let err = sinks.open("task", Some("a file length?")).await.err().expect("not a count");
        assert!(matches!(err, SinkError::BadCheckpoint { .. }), "{err}");
    }
}
