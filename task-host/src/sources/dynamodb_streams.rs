//! DynamoDB Streams source: one task per shard of a table's stream, each
//! change record sent to a `DynamoDBStreamsRecordReader` with its keys and
//! images as plain JSON (see `attribute_values`; `{}` for an image the
//! stream view type leaves out). Tasks, positions, checkpoints (the last
//! durable record's sequence number) and when a task ends are the shard
//! model's (see `shards`); this module lists the shards (`DescribeStream`,
//! paged by `ExclusiveStartShardId`) and reads them (`GetShardIterator`,
//! `GetRecords`).
//!
//! DynamoDB Streams does not say how far a page is behind the shard's tip,
//! so an empty page of an open shard counts as caught up.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use bytes::Bytes;
use ferry_proto::pb;

use super::attribute_values::stream_image_to_json;
use super::shards::{
    ListedShard, PageRead, ShardApi, ShardPage, ShardPosition, ShardRecord, record_origin, shard_units,
};
use super::{SourceError, SourceRecord, TaskUnit};
use crate::aws::service_error;
use crate::config::StreamRead;

/// The tasks of a DynamoDB Streams read connector: one per shard the
/// stream lists, by shard id, parents first. Fails when the stream cannot
/// be described.
pub async fn stream_units(
    config: &SdkConfig,
    read: &StreamRead,
) -> Result<Vec<(String, Arc<dyn TaskUnit>)>, SourceError> {
    let client = aws_sdk_dynamodbstreams::Client::new(config);
    let mut shards = Vec::new();
    let mut last_listed: Option<String> = None;
    loop {
        let answer = client
            .describe_stream()
            .stream_arn(&read.stream_arn)
            .set_exclusive_start_shard_id(last_listed.take())
            .send()
            .await
            .map_err(|err| service_error("DescribeStream", &read.stream_arn, err))?;
        let Some(description) = answer.stream_description else { break };
        shards.extend(description.shards.unwrap_or_default().into_iter().filter_map(|shard| {
            Some(ListedShard { id: shard.shard_id?, parents: shard.parent_shard_id.into_iter().collect() })
        }));
        last_listed = description.last_evaluated_shard_id;
        if last_listed.is_none() {
            break;
        }
    }
    Ok(shard_units(shards, read, |shard_id| StreamShard {
        client: client.clone(),
        stream_arn: read.stream_arn.clone(),
        shard_id: shard_id.to_owned(),
    }))
}

/// One shard of a DynamoDB stream.
#[derive(Debug, Clone)]
pub struct StreamShard {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    shard_id: String,
}

#[async_trait]
impl ShardApi for StreamShard {
    const FUNCTION: pb::Function = pb::Function::DynamodbStreamsRecordReaderParseRecord;
    /// GetRecords' own limit; a page also holds at most 1 MB of data,
    /// which bounds what a shard's reader keeps.
    const MAX_PAGE_RECORDS: usize = 1_000;

    fn resource(&self) -> String {
        format!("{} shard {}", self.stream_arn, self.shard_id)
    }

    async fn iterator(&self, position: &ShardPosition) -> Result<String, SourceError> {
        let request = self.client.get_shard_iterator().stream_arn(&self.stream_arn).shard_id(&self.shard_id);
        let request = match position {
            ShardPosition::Oldest => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            ShardPosition::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
            ShardPosition::After(sequence_number) => {
                request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(sequence_number)
            }
        };
        let answer = request.send().await.map_err(|err| service_error("GetShardIterator", &self.resource(), err))?;
        answer.shard_iterator.ok_or_else(|| self.bad_answer("GetShardIterator", "the answer holds no shard iterator"))
    }

    async fn page(&self, iterator: &str, limit: usize) -> Result<PageRead, SourceError> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let answer = match self.client.get_records().shard_iterator(iterator).limit(limit).send().await {
            Ok(answer) => answer,
            Err(err) if err.as_service_error().is_some_and(|err| err.is_expired_iterator_exception()) => {
                return Ok(PageRead::IteratorExpired);
            }
            Err(err) => return Err(service_error("GetRecords", &self.resource(), err)),
        };
        let records = answer.records.unwrap_or_default().into_iter().map(|record| self.shard_record(record));
        Ok(PageRead::Page(ShardPage {
            records: records.collect::<Result<_, _>>()?,
            next_iterator: answer.next_shard_iterator,
            behind_latest: false,
        }))
    }
}

impl StreamShard {
    fn shard_record(&self, record: Record) -> Result<ShardRecord, SourceError> {
        let Some(change) = record.dynamodb else {
            return Err(self.bad_answer("GetRecords", "a record has no change (its \"dynamodb\" part)"));
        };
        let Some(sequence_number) = change.sequence_number else {
            return Err(self.bad_answer("GetRecords", "a record has no sequence number"));
        };
        let keys = image_json(change.keys.as_ref());
        let old_image = image_json(change.old_image.as_ref());
        let new_image = image_json(change.new_image.as_ref());
        // What an error document quotes: the item as written, or for a
        // removal the key of the item removed.
        let payload = if change.new_image.is_some() { new_image.clone() } else { keys.clone() };
        let bytes = keys.len() + old_image.len() + new_image.len();
        let (identity_principal_id, identity_type) =
            record.user_identity.map_or((None, None), |identity| (identity.principal_id, identity.r#type));
        let args = pb::DynamoDbStreamsRecordArgs {
            stream_arn: self.stream_arn.clone(),
            shard_id: self.shard_id.clone(),
            event_id: record.event_id.unwrap_or_default(),
            event_name: record.event_name.map(|name| name.as_str().to_owned()).unwrap_or_default(),
            identity_principal_id,
            identity_type,
            sequence_number: sequence_number.clone(),
            size_bytes: change.size_bytes.unwrap_or_default(),
            stream_view_type: change.stream_view_type.map(|view| view.as_str().to_owned()).unwrap_or_default(),
            approximate_creation_date_time_s: change
                .approximate_creation_date_time
                .map(|created| created.secs())
                .unwrap_or_default(),
            keys_json: keys,
            old_image_json: old_image,
            new_image_json: new_image,
        };
        Ok(ShardRecord {
            record: SourceRecord {
                args: pb::call::Args::DynamodbStreamsRecord(args),
                origin: record_origin(&self.stream_arn, &self.shard_id, &sequence_number),
                payload,
            },
            sequence_number,
            bytes,
        })
    }

    /// An answer the service should not have given: retried, since the
    /// next one may be whole.
    fn bad_answer(&self, operation: &'static str, message: &str) -> SourceError {
        SourceError::Service { operation, resource: self.resource(), message: message.to_owned(), retryable: true }
    }
}

/// An image (or the keys) as plain JSON text; `{}` when the record has
/// none.
fn image_json(image: Option<&HashMap<String, AttributeValue>>) -> Bytes {
    image.map_or_else(|| Bytes::from_static(b"{}"), |image| Bytes::from(stream_image_to_json(image).to_string()))
}
