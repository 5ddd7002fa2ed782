//! The Kinesis write connector against moto: the documents of a few input
//! files put to a two-shard stream, read back from the start of every
//! shard, each exactly once with its `partitionKey` as the record's
//! partition key; documents over Kinesis's 1 MiB record limit become error
//! documents, and a batch over the 5 MiB request limit is put in more than
//! one call.

use aws_sdk_kinesis::types::ShardIteratorType;
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::sink_runs::{DATASET, RecordKind, SinkRun, assert_exactly_once, summary_writes};
use serde_json::{Value, json};

const STREAM: &str = "ferry-documents";

/// Kinesis's limit on a record's data and partition key.
const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// A stream in moto, and a runtime for the test's own calls to it.
struct Stream {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_kinesis::Client,
    arn: String,
}

/// A record read back: its partition key and its data, parsed.
struct ReadRecord {
    partition_key: String,
    document: Value,
}

impl Stream {
    fn create(moto: &Moto, shards: i32) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let (client, arn) = runtime.block_on(async {
            let client = aws_sdk_kinesis::Client::new(&moto.sdk_config().await);
            client.create_stream().stream_name(STREAM).shard_count(shards).send().await.expect("create a stream");
            let described = client.describe_stream_summary().stream_name(STREAM).send().await.expect("describe it");
            (client, described.stream_description_summary.expect("a summary").stream_arn)
        });
        Self { runtime, client, arn }
    }

    /// Every record of every shard, from the oldest, by shard id.
    fn read_all(&self) -> Vec<(String, Vec<ReadRecord>)> {
        self.runtime.block_on(async {
            let listed = self.client.list_shards().stream_arn(&self.arn).send().await.expect("list shards");
            let mut shards = Vec::new();
            for shard in listed.shards.unwrap_or_default() {
                let mut iterator = self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.arn)
                    .shard_id(&shard.shard_id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .expect("a shard iterator")
                    .shard_iterator;
                let mut records = Vec::new();
                // Nothing is put while the test reads: the first empty page
                // is the end of the shard.
                while let Some(current) = iterator {
                    let page = self
                        .client
                        .get_records()
                        .stream_arn(&self.arn)
                        .shard_iterator(current)
                        .send()
                        .await
                        .expect("get records");
                    if page.records.is_empty() {
                        break;
                    }
                    records.extend(page.records.into_iter().map(|record| ReadRecord {
                        partition_key: record.partition_key.expect("a partition key"),
                        document: serde_json::from_slice(&record.data.into_inner()).expect("a JSON document"),
                    }));
                    iterator = page.next_shard_iterator;
                }
                shards.push((shard.shard_id, records));
            }
            shards
        })
    }
}

/// Checks that every record's partition key is its document's, and
/// returns the documents.
#[track_caller]
fn documents_keyed_by_partition_key(shards: Vec<(String, Vec<ReadRecord>)>) -> Vec<Value> {
    let mut documents = Vec::new();
    for (_, records) in shards {
        for record in records {
            assert_eq!(Some(record.partition_key.as_str()), record.document["partitionKey"].as_str());
            documents.push(record.document);
        }
    }
    documents
}

#[test]
fn documents_reach_every_shard_exactly_once() {
    let moto = Moto::start();
    let stream = Stream::create(&moto, 2);
    let records: Vec<RecordKind> =
        (0..300).map(|n| if n % 11 == 4 { RecordKind::Raise } else { RecordKind::Document }).collect();
    let run = SinkRun::new(json!({ "connectorDestination": "Kinesis", "streamArn": stream.arn }), records, 3, 20);
    let finished = run.run(Some(&moto));
    finished.expect_code(0);

    let shards = stream.read_all();
    assert_eq!(shards.len(), 2);
    for (shard, records) in &shards {
        assert!(!records.is_empty(), "shard {shard} got no records: the partition keys should spread");
    }
    let expected = run.expected_documents(|_| false);
    assert_exactly_once(&documents_keyed_by_partition_key(shards), &expected);
    run.assert_errors(|_| false, "none");
    // Each task's sink checkpoint counts the records it put.
    let tasks = run.workspace.tasks(DATASET);
    let put: u64 = tasks.iter().map(|task| task.checkpoint.expect("a checkpoint").sink).sum();
    assert_eq!(put, expected.len() as u64);
}

#[test]
fn oversize_documents_are_refused_and_large_batches_split() {
    let moto = Moto::start();
    let stream = Stream::create(&moto, 2);
    // Two files of 30 records, one batch each. The first holds 14 records
    // of 400 KiB (5.6 MiB: two PutRecords calls); the second three just
    // over 1 MiB, and one that raises.
    let over_limit = [33, 41, 52];
    let records: Vec<RecordKind> = (0..60)
        .map(|n| match n {
            5..19 => RecordKind::Large(400 * 1024),
            _ if over_limit.contains(&n) => RecordKind::Large(MAX_RECORD_BYTES),
            45 => RecordKind::Raise,
            _ => RecordKind::Document,
        })
        .collect();
    let run = SinkRun::new(json!({ "connectorDestination": "Kinesis", "streamName": STREAM }), records, 2, 30);
    let finished = run.run(Some(&moto));
    finished.expect_code(0);
    assert_eq!(
        summary_writes(&finished.stdout, "puts"),
        3,
        "two calls for the first file's batch, one for the second's"
    );

    let refused = |n: usize| over_limit.contains(&n);
    let documents = documents_keyed_by_partition_key(stream.read_all());
    assert_exactly_once(&documents, &run.expected_documents(refused));
    run.assert_errors(refused, "DocumentTooLarge");
}

#[test]
fn a_missing_stream_stops_the_run_before_any_task() {
    let moto = Moto::start();
    let run = SinkRun::new(
        json!({ "connectorDestination": "Kinesis", "streamName": "no-such-stream" }),
        vec![RecordKind::Document; 5],
        1,
        10,
    );
    let finished = run.run(Some(&moto));
    assert_ne!(finished.code(), Some(0), "{}\n{}", finished.stdout, finished.stderr);
    let said = format!("{}{}", finished.stdout, finished.stderr);
    assert!(said.contains("Kinesis stream no-such-stream"), "{said}");
    assert!(said.contains("ResourceNotFound"), "{said}");
    assert!(run.workspace.file_names("errors").is_empty(), "no task ran");
}
