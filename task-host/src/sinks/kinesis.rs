//! Kinesis data stream sink: each document is one record, put with
//! PutRecords.
//!
//! Requests stay within Kinesis's limits: at most 500 records and 5 MiB
//! per call, and at most 1 MiB per record, counting its data (the
//! document) and its partition key. A larger document is refused
//! (`DocumentTooLarge`) and becomes an error document; it is never sent.
//!
//! Partition key: the document's `partitionKey`, else its `documentId`,
//! else the task id, so that a task's keyless documents stay together on
//! one shard, in order. Kinesis takes keys of at most 256 characters: a
//! longer key is cut to its first 256, and documents whose keys share
//! those go to the same shard.
//!
//! Records a PutRecords answer fails (throttling, an internal failure)
//! are put again, only those and in their order, after growing jittered
//! pauses, up to 10 attempts ([`super::retry`]); if some still fail, the
//! write fails as retryable and the task stops before its checkpoint. A
//! resent record lands after the records its request put, so order within
//! a shard holds except around a resend.
//!
//! Delivery: `write` returns once every record it did not refuse is in
//! the stream. Kinesis cannot take records back, so the records a task put
//! after its last checkpoint are put again when it resumes after a crash,
//! as are those of a call the SDK retried after its answer was lost:
//! delivery is at least once. The sink checkpoint is the count of records
//! the task put ([`Delivered`]).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, PutRecordsResultEntry, StreamStatus};
use bytes::Bytes;

use super::delivered::Delivered;
use super::retry::{Backoff, Failed, Resends, into_requests};
use super::{DocumentSink, Durable, Rejection, SinkError, SinkFactory, SinkMetrics, document_string_field};
use crate::aws::{kinesis_sink_client, sink_error};

/// Records per PutRecords call: Kinesis's limit.
const MAX_REQUEST_RECORDS: usize = 500;

/// Bytes of data and partition keys per PutRecords call: Kinesis's limit.
const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;

/// Bytes of one record's data and partition key: Kinesis's limit.
const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Characters of a partition key: Kinesis's limit.
const MAX_PARTITION_KEY_CHARS: usize = 256;

/// The stream every task of a run puts to.
#[derive(Debug)]
struct Stream {
    client: aws_sdk_kinesis::Client,
    /// One of the two is set: requests name the stream by either.
    name: Option<String>,
    arn: Option<String>,
    /// As configured: a name or an ARN.
    configured: String,
    /// How errors name the stream: `Kinesis stream NAME in REGION`, since
    /// a stream looked for in the wrong region is a common mistake.
    resource: String,
}

/// Opens each task's sink on one stream.
#[derive(Debug)]
pub struct KinesisSinks {
    stream: Arc<Stream>,
    metrics: Arc<SinkMetrics>,
}

impl KinesisSinks {
    /// Connects to `stream` (a name, or an ARN when it starts with
    /// `arn:`) and checks that it exists and takes records.
    pub async fn connect(aws: &SdkConfig, stream: &str, metrics: Arc<SinkMetrics>) -> Result<Self, SinkError> {
        let region = aws.region().map_or_else(|| "the default region".to_owned(), ToString::to_string);
        let by_arn = stream.starts_with("arn:");
        let stream = Stream {
            client: kinesis_sink_client(aws, &metrics),
            name: (!by_arn).then(|| stream.to_owned()),
            arn: by_arn.then(|| stream.to_owned()),
            configured: stream.to_owned(),
            resource: format!("Kinesis stream {stream} in {region}"),
        };
        let described = stream
            .client
            .describe_stream_summary()
            .set_stream_name(stream.name.clone())
            .set_stream_arn(stream.arn.clone())
            .send()
            .await
            .map_err(|err| sink_error("DescribeStreamSummary", &stream.resource, err))?;
        let status = described.stream_description_summary.map(|summary| summary.stream_status);
        let unusable = |message: &str, retryable| SinkError::Service {
            operation: "DescribeStreamSummary",
            resource: stream.resource.clone(),
            message: message.to_owned(),
            retryable,
        };
        match status {
            Some(StreamStatus::Creating) => {
                return Err(unusable("the stream is being created; run again once it is ACTIVE", true));
            }
            Some(StreamStatus::Deleting) => return Err(unusable("the stream is being deleted", false)),
            _ => {}
        }
        Ok(Self { stream: Arc::new(stream), metrics })
    }
}

#[async_trait]
impl SinkFactory for KinesisSinks {
    async fn open(&self, task_id: &str, checkpoint: Option<&str>) -> Result<Box<dyn DocumentSink>, SinkError> {
        let resource = format!("{} (task {task_id})", self.stream.resource);
        Ok(Box::new(KinesisSink {
            stream: Arc::clone(&self.stream),
            metrics: Arc::clone(&self.metrics),
            fallback_key: cut_partition_key(task_id),
            delivered: Delivered::resume(&resource, checkpoint)?,
        }))
    }

    fn describe(&self) -> String {
        format!("kinesis stream {}", self.stream.configured)
    }
}

/// One task's writer to the stream.
#[derive(Debug)]
struct KinesisSink {
    stream: Arc<Stream>,
    metrics: Arc<SinkMetrics>,
    /// The partition key of documents without `partitionKey` or
    /// `documentId`.
    fallback_key: String,
    delivered: Delivered,
}

/// A document on its way to the stream.
#[derive(Debug)]
struct StreamRecord {
    data: Bytes,
    partition_key: String,
}

impl StreamRecord {
    fn new(data: Bytes, fallback_key: &str) -> Self {
        let field = |name| document_string_field(&data, name).filter(|key| !key.is_empty());
        let partition_key = field("partitionKey")
            .or_else(|| field("documentId"))
            .map_or_else(|| fallback_key.to_owned(), |key| cut_partition_key(&key));
        Self { data, partition_key }
    }

    /// What the record counts toward Kinesis's size limits.
    fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// `key` cut to the partition key length Kinesis takes.
fn cut_partition_key(key: &str) -> String {
    key.chars().take(MAX_PARTITION_KEY_CHARS).collect()
}

/// The refusal of document `index`, a record of `size` bytes.
fn too_large(index: usize, size: usize) -> Rejection {
    Rejection {
        index,
        error_type: "DocumentTooLarge".to_owned(),
        message: format!(
            "the document and its partition key are {size} bytes; a Kinesis record holds at most {MAX_RECORD_BYTES} bytes (1 MiB)"
        ),
    }
}

/// The records to put, in order, and the refusals of those too large.
fn plan(documents: Vec<Bytes>, fallback_key: &str) -> (Vec<StreamRecord>, Vec<Rejection>) {
    let mut records = Vec::with_capacity(documents.len());
    let mut rejections = Vec::new();
    for (index, data) in documents.into_iter().enumerate() {
        let record = StreamRecord::new(data, fallback_key);
        if record.size() > MAX_RECORD_BYTES {
            rejections.push(too_large(index, record.size()));
        } else {
            records.push(record);
        }
    }
    (records, rejections)
}

#[async_trait]
impl DocumentSink for KinesisSink {
    async fn write(&mut self, documents: Vec<Bytes>) -> Result<Vec<Rejection>, SinkError> {
        let (records, rejections) = plan(documents, &self.fallback_key);
        let accepted = records.len();
        for request in into_requests(records, StreamRecord::size, MAX_REQUEST_RECORDS, MAX_REQUEST_BYTES) {
            let mut resends = Resends::new("PutRecords", &self.stream.resource, &self.metrics, Backoff::new());
            let mut pending = request;
            while !pending.is_empty() {
                pending = resends.after(self.stream.put(pending, &self.metrics).await?).await?;
            }
        }
        self.delivered.write(accepted);
        Ok(rejections)
    }

    async fn flush(&mut self, _last: bool) -> Result<Durable, SinkError> {
        Ok(self.delivered.durable())
    }
}

impl Stream {
    /// One PutRecords call; returns the records it failed, in order.
    async fn put(
        &self,
        records: Vec<StreamRecord>,
        metrics: &SinkMetrics,
    ) -> Result<Vec<Failed<StreamRecord>>, SinkError> {
        let entries = records
            .iter()
            .map(|record| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(record.data.to_vec()))
                    .partition_key(&record.partition_key)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| self.call_error(format!("a record could not be built: {err}"), false))?;
        let started = Instant::now();
        let answer = self
            .client
            .put_records()
            .set_stream_name(self.name.clone())
            .set_stream_arn(self.arn.clone())
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|err| sink_error("PutRecords", &self.resource, err))?;
        let latency = started.elapsed();
        if answer.records.len() != records.len() {
            let message = format!("the answer has {} results for {} records", answer.records.len(), records.len());
            return Err(self.call_error(message, true));
        }
        let sorted = sort_results(records, answer.records);
        metrics.put(latency, sorted.accepted, sorted.bytes);
        Ok(sorted.failed)
    }

    fn call_error(&self, message: String, retryable: bool) -> SinkError {
        SinkError::Service { operation: "PutRecords", resource: self.resource.clone(), message, retryable }
    }
}

/// What a PutRecords answer made of its records.
#[derive(Debug)]
struct PutAnswer {
    /// The records it failed, in order.
    failed: Vec<Failed<StreamRecord>>,
    /// The records it put, and their data's bytes.
    accepted: u64,
    bytes: u64,
}

/// Pairs `records` with their `results`, in the order sent.
fn sort_results(records: Vec<StreamRecord>, results: Vec<PutRecordsResultEntry>) -> PutAnswer {
    let mut answer = PutAnswer { failed: Vec::new(), accepted: 0, bytes: 0 };
    for (record, result) in records.into_iter().zip(results) {
        match result.error_code {
            Some(code) => {
                answer.failed.push(Failed { entry: record, code, message: result.error_message.unwrap_or_default() });
            }
            None => {
                answer.accepted += 1;
                answer.bytes += record.data.len() as u64;
            }
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(fields: &str, text_bytes: usize) -> Bytes {
        Bytes::from(format!(r#"{{{fields}"text":"{}"}}"#, "x".repeat(text_bytes)))
    }

    #[test]
    fn the_partition_key_is_the_document_key_then_its_id_then_the_task() {
        let key = |fields: &str| StreamRecord::new(document(fields, 1), "task-a").partition_key;
        assert_eq!(key(r#""partitionKey":"p","documentId":"d","#), "p");
        assert_eq!(key(r#""partitionKey":"","documentId":"d","#), "d");
        assert_eq!(key(r#""partitionKey":7,"documentId":"d","#), "d");
        assert_eq!(key(r#""n":1,"#), "task-a");
    }

    #[test]
    fn long_partition_keys_are_cut_to_256_characters() {
        let long = "é".repeat(300);
        let record = StreamRecord::new(document(&format!(r#""partitionKey":"{long}","#), 1), "t");
        assert_eq!(record.partition_key.chars().count(), 256);
        assert!(long.starts_with(&record.partition_key));
        assert_eq!(cut_partition_key("short"), "short");
    }

    #[test]
    fn records_over_1_mib_with_their_key_are_refused_and_the_rest_kept_in_order() {
        let fields = r#""partitionKey":"k","#;
        // `{` + fields + `"text":"` + text + `"}` plus the 1-byte key.
        let overhead = 1 + fields.len() + 8 + 2 + 1;
        let largest = MAX_RECORD_BYTES - overhead;
        let documents =
            vec![document(fields, 10), document(fields, largest), document(fields, largest + 1), document(fields, 20)];
        let (records, rejections) = plan(documents, "t");
        let sizes: Vec<usize> = records.iter().map(StreamRecord::size).collect();
        assert_eq!(sizes, vec![overhead + 10, MAX_RECORD_BYTES, overhead + 20]);
        assert_eq!(rejections.len(), 1);
        assert_eq!(rejections[0].index, 2);
        assert_eq!(rejections[0].error_type, "DocumentTooLarge");
        assert!(rejections[0].message.contains(&format!("{} bytes", MAX_RECORD_BYTES + 1)), "{:?}", rejections[0]);
        assert!(rejections[0].message.contains("1048576"), "{:?}", rejections[0]);
    }

    #[test]
    fn requests_hold_at_most_500_records_and_5_mib() {
        let small: Vec<usize> = vec![100; 1200];
        let counts: Vec<usize> =
            into_requests(small, |size| *size, MAX_REQUEST_RECORDS, MAX_REQUEST_BYTES).iter().map(Vec::len).collect();
        assert_eq!(counts, vec![500, 500, 200]);
        // 14 records of 400 KiB: 12 fit under 5 MiB (4.8 MiB), 13 do not.
        let large: Vec<usize> = vec![400 * 1024; 14];
        let counts: Vec<usize> =
            into_requests(large, |size| *size, MAX_REQUEST_RECORDS, MAX_REQUEST_BYTES).iter().map(Vec::len).collect();
        assert_eq!(counts, vec![12, 2]);
    }

    #[test]
    fn only_the_records_an_answer_failed_are_kept_for_a_resend_in_order() {
        let records: Vec<StreamRecord> =
            (0..5).map(|n| StreamRecord::new(document(&format!(r#""documentId":"d{n}","#), n), "t")).collect();
        let put = |shard: &str| PutRecordsResultEntry::builder().shard_id(shard).sequence_number("1").build();
        let failed = |code: &str| PutRecordsResultEntry::builder().error_code(code).error_message("busy").build();
        let results = vec![
            put("shardId-0"),
            failed("ProvisionedThroughputExceededException"),
            put("shardId-1"),
            failed("InternalFailure"),
            put("shardId-0"),
        ];
        let sizes: Vec<u64> = records.iter().map(|record| record.data.len() as u64).collect();
        let answer = sort_results(records, results);
        assert_eq!(answer.accepted, 3);
        assert_eq!(answer.bytes, sizes[0] + sizes[2] + sizes[4]);
        let resent: Vec<(&str, &str)> =
            answer.failed.iter().map(|failed| (failed.entry.partition_key.as_str(), failed.code.as_str())).collect();
        assert_eq!(resent, vec![("d1", "ProvisionedThroughputExceededException"), ("d3", "InternalFailure")]);
    }
}
