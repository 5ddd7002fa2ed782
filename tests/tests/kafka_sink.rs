//! The Kafka sink end to end: the sink dataset (see
//! [`ferry_e2e_tests::sink_runs`]) run by the real ferry binary against a
//! `MockCluster` of three brokers living in the test process
//! (librdkafka's own brokers, listening on 127.0.0.1), then the topic read
//! back from the beginning by a consumer.
//!
//! The mock brokers do not implement CreateTopics (a creation request
//! times out on them), so the tests create the topic through the mock's
//! own API, and ferry creating a missing topic is not tested here.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use ferry_e2e_tests::TIMEOUT;
use ferry_e2e_tests::sink_runs::{RecordKind, SinkRun, assert_exactly_once};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use serde_json::{Value, json};

const TOPIC: &str = "documents";

/// Brokers of the mock cluster: enough for partition leaders to differ.
const BROKERS: i32 = 3;

/// A message read back from the topic.
#[derive(Debug)]
struct Read {
    partition: i32,
    key: Option<String>,
    document: Value,
}

/// A mock cluster of [`BROKERS`] brokers, with the topic when
/// `partitions` is given.
fn cluster(partitions: Option<i32>) -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(BROKERS).expect("a mock Kafka cluster");
    if let Some(partitions) = partitions {
        cluster.create_topic(TOPIC, partitions, 1).expect("create the topic");
    }
    cluster
}

/// The write connector to the cluster's topic.
fn connector(servers: &str, partitions: Option<u32>) -> Value {
    let mut connector = json!({ "connectorDestination": "Kafka", "bootstrapServers": servers, "topic": TOPIC });
    if let Some(partitions) = partitions {
        connector["partitions"] = json!(partitions);
    }
    connector
}

fn consumer(servers: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "ferry-e2e-check")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer")
}

/// The number of partitions of the topic; `None` when it does not exist.
fn topic_partitions(servers: &str) -> Option<usize> {
    let metadata = consumer(servers).fetch_metadata(Some(TOPIC), TIMEOUT).expect("the cluster's metadata");
    let topic = metadata.topics().iter().find(|topic| topic.name() == TOPIC)?;
    match topic.error() {
        None => Some(topic.partitions().len()),
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => None,
        Some(err) => panic!("the topic's metadata holds {err:?}"),
    }
}

/// Every message of the topic, partition by partition in offset order:
/// each partition is read from its start up to the end it had when
/// the reading began.
fn read_topic(servers: &str) -> Vec<Read> {
    let partitions = topic_partitions(servers).expect("the topic exists");
    let consumer = consumer(servers);
    let mut assignment = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for partition in 0..i32::try_from(partitions).expect("partitions fit i32") {
        let (start, end) = consumer.fetch_watermarks(TOPIC, partition, TIMEOUT).expect("the partition's watermarks");
        if end > start {
            assignment.add_partition_offset(TOPIC, partition, Offset::Beginning).expect("assign the partition");
            ends.insert(partition, end);
        }
    }
    consumer.assign(&assignment).expect("assign the partitions");
    let deadline = Instant::now() + TIMEOUT;
    let mut read = Vec::new();
    while !ends.is_empty() {
        let message = match consumer.poll(deadline.saturating_duration_since(Instant::now())) {
            Some(Ok(message)) => message,
            Some(Err(err)) => panic!("cannot read the topic: {err}"),
            None => {
                panic!("timed out after {TIMEOUT:?} reading the topic; partitions left unread to their end: {ends:?}")
            }
        };
        let partition = message.partition();
        let key = message.key().map(|key| String::from_utf8(key.to_vec()).expect("a UTF-8 key"));
        let document = serde_json::from_slice(message.payload().expect("a payload")).expect("a JSON document");
        read.push(Read { partition, key, document });
        if ends.get(&partition).is_some_and(|end| message.offset() + 1 >= *end) {
            ends.remove(&partition);
        }
    }
    read
}

fn documents(read: &[Read]) -> Vec<Value> {
    read.iter().map(|message| message.document.clone()).collect()
}

fn record_number(document: &Value) -> usize {
    document["n"].as_u64().unwrap_or_else(|| panic!("no n in {document}")) as usize
}

#[test]
fn documents_arrive_once_each_keyed_by_their_partition_key() {
    let cluster = cluster(Some(3));
    let servers = cluster.bootstrap_servers();
    let raises = |n: usize| n % 41 == 7;
    let records: Vec<RecordKind> =
        (0..300).map(|n| if raises(n) { RecordKind::Raise } else { RecordKind::Document }).collect();
    let files = 3;
    let per_file = records.len().div_ceil(files);
    let run = SinkRun::new(connector(&servers, Some(3)), records, files, 25);

    let finished = run.run(None);
    finished.expect_code(0).expect_stdout_line(&format!("  output   kafka topic {TOPIC} at {servers}"));

    let read = read_topic(&servers);
    assert_exactly_once(&documents(&read), &run.expected_documents(|_| false));
    run.assert_errors(|_| false, "");
    for message in &read {
        assert_eq!(message.key.as_deref(), message.document["partitionKey"].as_str(), "{message:?}");
    }
    let used: BTreeSet<i32> = read.iter().map(|message| message.partition).collect();
    assert_eq!(used, BTreeSet::from([0, 1, 2]), "partitions holding documents");
    // One key goes to one partition, and each task's documents of a key
    // stay in the order the task wrote them.
    let mut last_written: BTreeMap<(String, usize), usize> = BTreeMap::new();
    let mut partition_of_key: BTreeMap<String, i32> = BTreeMap::new();
    for message in &read {
        let key = message.key.clone().expect("a key");
        let n = record_number(&message.document);
        let partition = *partition_of_key.entry(key.clone()).or_insert(message.partition);
        assert_eq!(partition, message.partition, "key {key} is on two partitions");
        if let Some(before) = last_written.insert((key.clone(), n / per_file), n) {
            assert!(before < n, "record {n} came after record {before} of the same task and key {key}");
        }
    }
}

#[test]
fn oversized_documents_become_error_documents() {
    let cluster = cluster(Some(3));
    let servers = cluster.bootstrap_servers();
    let too_large = |n: usize| n == 5 || n == 33;
    let records: Vec<RecordKind> = (0..60)
        .map(|n| match n {
            _ if too_large(n) => RecordKind::Large(1_100_000),
            // Under the limit: large documents still go through.
            20 => RecordKind::Large(900_000),
            47 => RecordKind::Raise,
            _ => RecordKind::Document,
        })
        .collect();
    let run = SinkRun::new(connector(&servers, Some(3)), records, 2, 10);

    run.run(None).expect_code(0);

    assert_exactly_once(&documents(&read_topic(&servers)), &run.expected_documents(too_large));
    run.assert_errors(too_large, "DocumentTooLarge");
}

#[test]
fn failed_produce_requests_are_retried_without_duplicates() {
    let cluster = cluster(Some(3));
    let servers = cluster.bootstrap_servers();
    // The cluster fails its next produce requests, whichever broker they
    // reach, with these errors in turn; a request after the last one
    // succeeds. Every document arriving thus means ferry's producer met
    // them all, retried, and wrote nothing twice.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            // The broker drops the connection.
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );
    let records = vec![RecordKind::Document; 200];
    let run = SinkRun::new(connector(&servers, Some(3)), records, 2, 20);

    run.run(None).expect_code(0);

    assert_exactly_once(&documents(&read_topic(&servers)), &run.expected_documents(|_| false));
    run.assert_errors(|_| false, "");
}

#[test]
fn an_existing_topic_keeps_its_partitions() {
    let cluster = cluster(Some(2));
    let servers = cluster.bootstrap_servers();
    let run = SinkRun::new(connector(&servers, Some(3)), vec![RecordKind::Document; 40], 1, 10);

    let finished = run.run(None);
    finished.expect_code(0);
    assert!(finished.stderr.contains("another number of partitions"), "no warning:\n{}", finished.stderr);

    assert_eq!(topic_partitions(&servers), Some(2));
    let read = read_topic(&servers);
    assert_exactly_once(&documents(&read), &run.expected_documents(|_| false));
    assert_eq!(read.iter().map(|message| message.partition).collect::<BTreeSet<_>>(), BTreeSet::from([0, 1]));
}

#[test]
fn a_missing_topic_is_an_error_naming_it() {
    let cluster = cluster(None);
    let servers = cluster.bootstrap_servers();

    let run = SinkRun::new(connector(&servers, None), vec![RecordKind::Document; 5], 1, 5);
    let finished = run.run(None);
    finished.expect_code(1);
    let expected =
        format!("the topic \"{TOPIC}\" does not exist: create it, or give the write connector \"partitions\"");
    assert!(finished.stderr.contains(&expected), "{}", finished.stderr);

    // The check did not let a broker create the topic with its defaults.
    assert_eq!(topic_partitions(&servers), None);
}
