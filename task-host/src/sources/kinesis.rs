//! Kinesis source: one task per shard of a data stream, each record sent
//! to a `KinesisRecordReader` with its data as bytes. Tasks, positions,
//! checkpoints (the last durable record's sequence number) and when a task
//! ends are the shard model's (see `shards`); this module lists the shards
//! (`ListShards`) and reads them (`GetShardIterator`, `GetRecords`).
//!
//! A page counts as caught up only when it is empty and
//! `MillisBehindLatest` is 0: Kinesis may answer an empty page while a
//! shard still holds records further on.

use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use bytes::Bytes;
use ferry_proto::pb;

use super::shards::{
    ListedShard, PageRead, ShardApi, ShardPage, ShardPosition, ShardRecord, record_origin, shard_units,
};
use super::{SourceError, SourceRecord, TaskUnit};
use crate::aws::service_error;
use crate::config::StreamRead;

/// The tasks of a Kinesis read connector: one per shard the stream lists,
/// by shard id, parents first. Fails when the stream cannot be listed.
pub async fn kinesis_units(
    config: &SdkConfig,
    read: &StreamRead,
) -> Result<Vec<(String, Arc<dyn TaskUnit>)>, SourceError> {
    let client = aws_sdk_kinesis::Client::new(config);
    let mut shards = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        // A page token names the stream by itself: ListShards takes one or
        // the other.
        let request = match next_token.take() {
            Some(token) => client.list_shards().next_token(token),
            None => client.list_shards().stream_arn(&read.stream_arn),
        };
        let page = request.send().await.map_err(|err| service_error("ListShards", &read.stream_arn, err))?;
        shards.extend(page.shards.unwrap_or_default().into_iter().map(|shard| ListedShard {
            parents: shard.parent_shard_id.into_iter().chain(shard.adjacent_parent_shard_id).collect(),
            id: shard.shard_id,
        }));
        next_token = page.next_token;
        if next_token.is_none() {
            break;
        }
    }
    Ok(shard_units(shards, read, |shard_id| KinesisShard {
        client: client.clone(),
        stream_arn: read.stream_arn.clone(),
        shard_id: shard_id.to_owned(),
    }))
}

/// One shard of a Kinesis data stream.
#[derive(Debug, Clone)]
pub struct KinesisShard {
    client: aws_sdk_kinesis::Client,
    stream_arn: String,
    shard_id: String,
}

#[async_trait]
impl ShardApi for KinesisShard {
    const FUNCTION: pb::Function = pb::Function::KinesisRecordReaderParseMessage;
    /// GetRecords' own limit; a page also holds at most 10 MiB of data,
    /// which bounds what a shard's reader keeps.
    const MAX_PAGE_RECORDS: usize = 10_000;

    fn resource(&self) -> String {
        format!("{} shard {}", self.stream_arn, self.shard_id)
    }

    async fn iterator(&self, position: &ShardPosition) -> Result<String, SourceError> {
        let request = self.client.get_shard_iterator().stream_arn(&self.stream_arn).shard_id(&self.shard_id);
        let request = match position {
            ShardPosition::Oldest => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            ShardPosition::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
            ShardPosition::After(sequence_number) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(sequence_number),
        };
        let answer = request.send().await.map_err(|err| service_error("GetShardIterator", &self.resource(), err))?;
        answer.shard_iterator.ok_or_else(|| SourceError::Service {
            operation: "GetShardIterator",
            resource: self.resource(),
            message: "the answer holds no shard iterator".to_owned(),
            retryable: true,
        })
    }

    async fn page(&self, iterator: &str, limit: usize) -> Result<PageRead, SourceError> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let sent = self.client.get_records().stream_arn(&self.stream_arn).shard_iterator(iterator).limit(limit).send();
        let answer = match sent.await {
            Ok(answer) => answer,
            Err(err) if err.as_service_error().is_some_and(|err| err.is_expired_iterator_exception()) => {
                return Ok(PageRead::IteratorExpired);
            }
            Err(err) => return Err(service_error("GetRecords", &self.resource(), err)),
        };
        Ok(PageRead::Page(ShardPage {
            behind_latest: answer.millis_behind_latest.is_some_and(|millis| millis > 0),
            next_iterator: answer.next_shard_iterator,
            records: answer.records.into_iter().map(|record| self.shard_record(record)).collect(),
        }))
    }
}

impl KinesisShard {
    fn shard_record(&self, record: Record) -> ShardRecord {
        let data = Bytes::from(record.data.into_inner());
        let origin = record_origin(&self.stream_arn, &self.shard_id, &record.sequence_number);
        let args = pb::KinesisRecordArgs {
            stream_arn: self.stream_arn.clone(),
            shard_id: self.shard_id.clone(),
            partition_key: record.partition_key.unwrap_or_default(),
            sequence_number: record.sequence_number.clone(),
            approximate_arrival_timestamp_ms: record
                .approximate_arrival_timestamp
                .and_then(|arrived| arrived.to_millis().ok())
                .unwrap_or_default(),
            data: data.clone(),
        };
        ShardRecord {
            sequence_number: record.sequence_number,
            bytes: data.len(),
            record: SourceRecord { args: pb::call::Args::KinesisRecord(args), origin, payload: data },
        }
    }
}
