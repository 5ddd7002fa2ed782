//! What the reader interfaces receive: one SQS message, Kinesis record,
//! DynamoDB Streams record or DynamoDB table item.
//!
//! Text and bytes are borrowed from the request; the JSON-valued fields
//! (keys, images, items) are parsed into `serde_json` maps the handler
//! owns, in the order the JSON gives its keys. An unset JSON field is an
//! empty map, as LetsData passes `{}` for a missing image.

use std::collections::BTreeMap;

use ferry_proto::pb;
use serde_json::{Map, Value};

/// One SQS message (LetsData `QueueMessageReader.parseMessage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueMessage<'a> {
    pub message_id: &'a str,
    /// Set for FIFO queues only.
    pub message_group_id: Option<&'a str>,
    /// Set for FIFO queues only.
    pub message_deduplication_id: Option<&'a str>,
    /// The string values of the message attributes, by name.
    pub message_attributes: &'a BTreeMap<String, String>,
    pub message_body: &'a str,
}

impl<'a> QueueMessage<'a> {
    pub(super) fn from_args(args: &'a pb::QueueMessageArgs) -> Self {
        Self {
            message_id: &args.message_id,
            message_group_id: args.message_group_id.as_deref(),
            message_deduplication_id: args.message_deduplication_id.as_deref(),
            message_attributes: &args.message_attributes,
            message_body: &args.message_body,
        }
    }
}

/// One record of a Kinesis shard (LetsData
/// `KinesisRecordReader.parseMessage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KinesisRecord<'a> {
    pub stream_arn: &'a str,
    pub shard_id: &'a str,
    pub partition_key: &'a str,
    /// Opaque: compare it as text, never parse it as a number.
    pub sequence_number: &'a str,
    /// Milliseconds since the Unix epoch.
    pub approximate_arrival_timestamp_ms: i64,
    pub data: &'a [u8],
}

impl<'a> KinesisRecord<'a> {
    pub(super) fn from_args(args: &'a pb::KinesisRecordArgs) -> Self {
        Self {
            stream_arn: &args.stream_arn,
            shard_id: &args.shard_id,
            partition_key: &args.partition_key,
            sequence_number: &args.sequence_number,
            approximate_arrival_timestamp_ms: args.approximate_arrival_timestamp_ms,
            data: &args.data,
        }
    }
}

/// One DynamoDB Streams record (LetsData
/// `DynamoDBStreamsRecordReader.parseRecord`). Keys and images hold plain
/// JSON: numbers as numbers, sets and lists as arrays, binary as base64.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamoDbStreamsRecord<'a> {
    pub stream_arn: &'a str,
    pub shard_id: &'a str,
    pub event_id: &'a str,
    /// INSERT, MODIFY or REMOVE.
    pub event_name: &'a str,
    /// Set when a service rather than a user made the change (TTL).
    pub identity_principal_id: Option<&'a str>,
    pub identity_type: Option<&'a str>,
    pub sequence_number: &'a str,
    pub size_bytes: i64,
    /// NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES or KEYS_ONLY.
    pub stream_view_type: &'a str,
    /// Seconds since the Unix epoch.
    pub approximate_creation_date_time_s: i64,
    pub keys: Map<String, Value>,
    /// Empty when the stream view or the event carries none.
    pub old_image: Map<String, Value>,
    /// Empty when the stream view or the event carries none.
    pub new_image: Map<String, Value>,
}

impl<'a> DynamoDbStreamsRecord<'a> {
    /// Fails, naming the field, when a JSON field is not a JSON object.
    pub(super) fn from_args(args: &'a pb::DynamoDbStreamsRecordArgs) -> Result<Self, String> {
        Ok(Self {
            stream_arn: &args.stream_arn,
            shard_id: &args.shard_id,
            event_id: &args.event_id,
            event_name: &args.event_name,
            identity_principal_id: args.identity_principal_id.as_deref(),
            identity_type: args.identity_type.as_deref(),
            sequence_number: &args.sequence_number,
            size_bytes: args.size_bytes,
            stream_view_type: &args.stream_view_type,
            approximate_creation_date_time_s: args.approximate_creation_date_time_s,
            keys: json_object(&args.keys_json, "keys_json")?,
            old_image: json_object(&args.old_image_json, "old_image_json")?,
            new_image: json_object(&args.new_image_json, "new_image_json")?,
        })
    }
}

/// One item of a DynamoDB table scan segment (LetsData
/// `DynamoDBTableItemReader.parseDynamoDBItem`), as plain JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamoDbTableItem<'a> {
    pub table_name: &'a str,
    pub segment_number: u32,
    pub keys: Map<String, Value>,
    pub item: Map<String, Value>,
}

impl<'a> DynamoDbTableItem<'a> {
    /// Fails, naming the field, when a JSON field is not a JSON object.
    pub(super) fn from_args(args: &'a pb::DynamoDbTableItemArgs) -> Result<Self, String> {
        Ok(Self {
            table_name: &args.table_name,
            segment_number: args.segment_number,
            keys: json_object(&args.keys_json, "keys_json")?,
            item: json_object(&args.item_json, "item_json")?,
        })
    }
}

/// A JSON object of the request; an unset (empty) field is an empty map.
pub(super) fn json_object(json: &[u8], field: &str) -> Result<Map<String, Value>, String> {
    if json.is_empty() {
        return Ok(Map::new());
    }
    serde_json::from_slice(json).map_err(|err| format!("{field} is not a JSON object: {err}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_fields_keep_their_key_order_and_unset_ones_are_empty() {
        let object = json_object(br#"{"z":1,"a":[true,null],"m":{"k":"v"}}"#, "keys_json");
        let keys: Vec<String> = object.clone().unwrap_or_default().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
        assert_eq!(object.map(Value::Object), Ok(json!({"z": 1, "a": [true, null], "m": {"k": "v"}})));
        assert_eq!(json_object(b"", "item_json"), Ok(Map::new()));
    }

    #[test]
    fn json_fields_that_are_not_objects_name_the_field() {
        let array = json_object(b"[1]", "new_image_json").err().unwrap_or_default();
        assert!(array.starts_with("new_image_json is not a JSON object: invalid type: sequence"), "{array}");
        let broken = json_object(b"{", "keys_json").err().unwrap_or_default();
        assert!(broken.starts_with("keys_json is not a JSON object: EOF"), "{broken}");
    }

    #[test]
    fn a_stream_record_borrows_its_text_and_parses_its_images() {
        let args = pb::DynamoDbStreamsRecordArgs {
            stream_arn: "arn".to_owned(),
            shard_id: "shard".to_owned(),
            event_id: "e1".to_owned(),
            event_name: "REMOVE".to_owned(),
            identity_principal_id: Some("dynamodb.amazonaws.com".to_owned()),
            identity_type: None,
            sequence_number: "0042".to_owned(),
            size_bytes: 77,
            stream_view_type: "OLD_IMAGE".to_owned(),
            approximate_creation_date_time_s: 1_700_000_000,
            keys_json: br#"{"id":"a"}"#.as_slice().into(),
            old_image_json: br#"{"id":"a","n":5}"#.as_slice().into(),
            new_image_json: Default::default(),
        };
        let record = DynamoDbStreamsRecord::from_args(&args);
        let record = record.as_ref().map(|record| {
            (
                record.identity_principal_id,
                record.identity_type,
                record.sequence_number,
                Value::Object(record.old_image.clone()),
                record.new_image.is_empty(),
            )
        });
        assert_eq!(record, Ok((Some("dynamodb.amazonaws.com"), None, "0042", json!({"id": "a", "n": 5}), true)));
    }
}
