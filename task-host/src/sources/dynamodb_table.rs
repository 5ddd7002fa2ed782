//! DynamoDB table source: a parallel scan, one task per segment, each item
//! sent to `DynamoDBTableItemReader.parseDynamoDBItem(tableName,
//! segmentNumber, keys, item)` with the key attributes and the item as
//! plain JSON (see `attribute_values`).
//!
//! A task scans its segment page by page, and each page is one batch: at
//! most the batch size of items (a page's `Limit`), fewer when items are
//! large, since the limit shrinks to keep a page near the batch's byte
//! cap (DynamoDB also ends a page at 1 MB).
//!
//! - **Order and keys.** Items come in the order the scan returns them.
//!   Record keys are `PASS-INDEX` (`000000-000000000042`: the 43rd item of
//!   the first pass), so error documents sort in scan order.
//! - **Checkpoint.** After each page: the pass, the items read in it and
//!   the page's `LastEvaluatedKey` (typed JSON), after which the next page
//!   starts. Resuming scans again from the last committed page; the
//!   pipeline redoes the pages after it, so every item lands once in the
//!   sink as long as the table is unchanged. A scan is no snapshot: items
//!   written or removed while it runs may or may not be read.
//! - **Filters** are applied by DynamoDB after it reads a page, so a page
//!   can hold no item and still go on; it is an empty batch that only
//!   moves the checkpoint on.
//! - **End.** `SingleScan`: the task completes after the page without a
//!   `LastEvaluatedKey`. `Continuous`: [`PASS_INTERVAL`] after each pass,
//!   the segment is scanned again as the next pass, every item read once
//!   more; the task never ends by itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{AttributeValue, KeyType};
use bytes::Bytes;
use ferry_proto::pb;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::attribute_values::{TypedKey, item_to_json, json_to_attribute_value};
use super::{
    OpenContext, OpenedSource, RecordOrigin, RecordSource, SourceBatch, SourceError, SourceItem, SourceRecord, TaskUnit,
};
use crate::aws::service_error;
use crate::config::{ScanFilter, ScanStop, TableScan};

/// The pause between two passes of a continuous scan.
pub const PASS_INTERVAL: Duration = Duration::from_secs(60);

// Task ids carry the segment number in four digits, so that they sort in
// segment order; a larger segment count would break that.
const _: () = assert!(*TableScan::SEGMENTS_RANGE.end() <= 10_000);

/// The id of the task that scans `segment`: `segment-0000`, ... Stable
/// across runs, as checkpoints are kept by task id.
pub fn segment_task_id(segment: u32) -> String {
    format!("segment-{segment:04}")
}

/// The tasks of a table scan, one per segment in segment order. Fails when
/// the table cannot be described (it does not exist, access is denied).
pub async fn scan_units(config: &SdkConfig, scan: &TableScan) -> Result<Vec<(String, Arc<dyn TaskUnit>)>, SourceError> {
    let client = aws_sdk_dynamodb::Client::new(config);
    let described = client
        .describe_table()
        .table_name(&scan.table_name)
        .send()
        .await
        .map_err(|err| service_error("DescribeTable", &format!("table {}", scan.table_name), err))?;
    let mut key_schema: Vec<_> = described.table().map(|table| table.key_schema().to_vec()).unwrap_or_default();
    // The hash key first, then the range key.
    key_schema.sort_by_key(|element| *element.key_type() != KeyType::Hash);
    let key_names: Vec<String> = key_schema.iter().map(|element| element.attribute_name().to_owned()).collect();
    if key_names.is_empty() {
        return Err(SourceError::Service {
            operation: "DescribeTable",
            resource: format!("table {}", scan.table_name),
            message: "the description holds no key schema".to_owned(),
            retryable: false,
        });
    }
    let table = Arc::new(Table {
        client,
        name: scan.table_name.clone(),
        key_names,
        filter: scan.filter.as_ref().map(PreparedFilter::new),
        total_segments: scan.segments,
        stop: scan.stop,
    });
    Ok((0..scan.segments)
        .map(|segment| {
            let unit: Arc<dyn TaskUnit> = Arc::new(ScanSegment { table: Arc::clone(&table), segment });
            (segment_task_id(segment), unit)
        })
        .collect())
}

/// What every segment of a scan shares.
#[derive(Debug)]
struct Table {
    client: aws_sdk_dynamodb::Client,
    name: String,
    /// The key attributes: the hash key, then the range key if any.
    key_names: Vec<String>,
    filter: Option<PreparedFilter>,
    total_segments: u32,
    stop: ScanStop,
}

/// A scan filter with its values as DynamoDB takes them.
#[derive(Debug)]
struct PreparedFilter {
    expression: String,
    /// `None` when empty: DynamoDB refuses an empty map.
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

impl PreparedFilter {
    fn new(filter: &ScanFilter) -> Self {
        let names: HashMap<String, String> =
            filter.names.iter().map(|(placeholder, name)| (placeholder.clone(), name.clone())).collect();
        let values: HashMap<String, AttributeValue> = filter
            .values
            .iter()
            .map(|(placeholder, value)| (placeholder.clone(), json_to_attribute_value(value)))
            .collect();
        Self {
            expression: filter.expression.clone(),
            names: Some(names).filter(|names| !names.is_empty()),
            values: Some(values).filter(|values| !values.is_empty()),
        }
    }
}

/// One segment of a scan: the unit of a DynamoDB table task.
#[derive(Debug)]
pub struct ScanSegment {
    table: Arc<Table>,
    segment: u32,
}

impl Table {
    /// How messages name `segment`.
    fn segment_name(&self, segment: u32) -> String {
        format!("segment {segment} of {} of table {}", self.total_segments, self.name)
    }
}

impl ScanSegment {
    /// The position `checkpoint` holds, or why it cannot be this
    /// segment's.
    fn position(&self, checkpoint: &str) -> Result<Position, SourceError> {
        let bad = |reason: String| SourceError::BadCheckpoint {
            unit: self.table.segment_name(self.segment),
            checkpoint: checkpoint.to_owned(),
            reason,
        };
        let parsed: SegmentCheckpoint = serde_json::from_str(checkpoint).map_err(|err| bad(err.to_string()))?;
        if parsed.total_segments != self.table.total_segments {
            // A segment of another split covers other items.
            return Err(bad(format!(
                "it was taken in a scan of {} segments, and this scan has {}",
                parsed.total_segments, self.table.total_segments
            )));
        }
        Ok(parsed.position)
    }
}

#[async_trait]
impl TaskUnit for ScanSegment {
    async fn open(&self, checkpoint: Option<&str>, _context: &OpenContext) -> Result<OpenedSource, SourceError> {
        let position = match checkpoint {
            Some(checkpoint) => self.position(checkpoint)?,
            None => Position::Scanning { pass: 0, read: 0, last_evaluated_key: None },
        };
        let clear_errors_from = Some(position.next_record_key(self.table.stop));
        let scan =
            SegmentScan { table: Arc::clone(&self.table), segment: self.segment, position, bytes_per_item: None };
        Ok(OpenedSource {
            function: pb::Function::DynamodbTableItemReaderParseDynamodbItem,
            records: Box::new(scan),
            acknowledger: None,
            clear_errors_from,
        })
    }
}

/// Where a segment's scan stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "camelCase", rename_all_fields = "camelCase")]
enum Position {
    /// In pass `pass` (from 0), `read` items in; the next page starts
    /// after `last_evaluated_key`, or at the segment's start without one.
    Scanning {
        pass: u64,
        read: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_evaluated_key: Option<TypedKey>,
    },
    /// Pass `pass` has read its last page, `read` items in all.
    PassEnded { pass: u64, read: u64 },
}

impl Position {
    /// The key of the next record this position reads.
    fn next_record_key(&self, stop: ScanStop) -> String {
        match (self, stop) {
            (Position::Scanning { pass, read, .. }, _) | (Position::PassEnded { pass, read }, ScanStop::SingleScan) => {
                record_key(*pass, *read)
            }
            (Position::PassEnded { pass, .. }, ScanStop::Continuous) => record_key(pass + 1, 0),
        }
    }

    /// The position after a page of pass `pass` that started `read` items
    /// in and held `items` items, given the page's `LastEvaluatedKey`.
    fn after_page(pass: u64, read: u64, items: u64, last_evaluated_key: Option<TypedKey>) -> Self {
        let read = read + items;
        match last_evaluated_key {
            Some(key) => Position::Scanning { pass, read, last_evaluated_key: Some(key) },
            None => Position::PassEnded { pass, read },
        }
    }
}

/// A task's checkpoint: its position, and the segment count of the scan
/// it belongs to.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SegmentCheckpoint {
    total_segments: u32,
    #[serde(flatten)]
    position: Position,
}

/// `value` as the SDK's `i32`. Segments are at most the end of
/// `TableScan::SEGMENTS_RANGE` and limits the batch size, both far below
/// `i32::MAX`.
fn saturating_i32(value: impl TryInto<i32>) -> i32 {
    value.try_into().unwrap_or(i32::MAX)
}

/// The key of item `index` (from 0) of pass `pass`; keys sort in scan
/// order.
fn record_key(pass: u64, index: u64) -> String {
    format!("{pass:06}-{index:012}")
}

/// A segment being scanned.
struct SegmentScan {
    table: Arc<Table>,
    segment: u32,
    position: Position,
    /// Mean bytes of plain JSON per item in the last page that held any.
    bytes_per_item: Option<usize>,
}

#[async_trait]
impl RecordSource for SegmentScan {
    async fn next_batch(&mut self, max_records: usize, max_bytes: usize) -> Result<Option<SourceBatch>, SourceError> {
        let (pass, read, start_key) = match &self.position {
            Position::Scanning { pass, read, last_evaluated_key } => (*pass, *read, last_evaluated_key.clone()),
            Position::PassEnded { pass, .. } => match self.table.stop {
                ScanStop::SingleScan => return Ok(None),
                ScanStop::Continuous => {
                    tokio::time::sleep(PASS_INTERVAL).await;
                    (pass + 1, 0, None)
                }
            },
        };
        let page = self.scan_page(start_key, self.page_limit(max_records, max_bytes)).await?;
        let items = page.items.unwrap_or_default();
        let records: Vec<SourceRecord> =
            items.iter().zip(read..).map(|(item, index)| self.record(item, pass, index)).collect();
        let payload_bytes: usize = records.iter().map(|record| record.payload.len()).sum();
        if let Some(mean) = payload_bytes.checked_div(records.len()) {
            self.bytes_per_item = Some(mean);
        }
        let last_evaluated_key =
            page.last_evaluated_key.map(|key| TypedKey::from_attribute_values(&key)).transpose().map_err(|err| {
                SourceError::Service {
                    operation: "Scan",
                    resource: self.table.segment_name(self.segment),
                    message: format!("the page's LastEvaluatedKey is no table key: {err}"),
                    retryable: false,
                }
            })?;
        self.position = Position::after_page(pass, read, records.len() as u64, last_evaluated_key);
        let checkpoint =
            SegmentCheckpoint { total_segments: self.table.total_segments, position: self.position.clone() };
        let checkpoint =
            serde_json::to_string(&checkpoint).expect("a checkpoint of strings and numbers always serializes");
        let items = records.into_iter().map(SourceItem::Record).collect();
        Ok(Some(SourceBatch { items, checkpoint, acks: Vec::new() }))
    }
}

impl SegmentScan {
    /// Items to ask for: `max_records`, fewer when the items seen so far
    /// are so large that as many would pass `max_bytes`.
    fn page_limit(&self, max_records: usize, max_bytes: usize) -> usize {
        match self.bytes_per_item {
            Some(bytes) if bytes > 0 => (max_bytes / bytes).clamp(1, max_records.max(1)),
            _ => max_records.max(1),
        }
    }

    async fn scan_page(
        &self,
        start_key: Option<TypedKey>,
        limit: usize,
    ) -> Result<aws_sdk_dynamodb::operation::scan::ScanOutput, SourceError> {
        let table = &self.table;
        let filter = table.filter.as_ref();
        table
            .client
            .scan()
            .table_name(&table.name)
            .segment(saturating_i32(self.segment))
            .total_segments(saturating_i32(table.total_segments))
            .limit(saturating_i32(limit))
            .set_exclusive_start_key(start_key.map(|key| key.to_attribute_values()))
            .set_filter_expression(filter.map(|filter| filter.expression.clone()))
            .set_expression_attribute_names(filter.and_then(|filter| filter.names.clone()))
            .set_expression_attribute_values(filter.and_then(|filter| filter.values.clone()))
            .send()
            .await
            .map_err(|err| service_error("Scan", &self.table.segment_name(self.segment), err))
    }

    /// The handler call for item `index` of pass `pass`.
    fn record(&self, item: &HashMap<String, AttributeValue>, pass: u64, index: u64) -> SourceRecord {
        let table = &self.table;
        let item = item_to_json(item);
        let keys: Map<String, Value> = table
            .key_names
            .iter()
            .filter_map(|name| item.get(name).map(|value| (name.clone(), value.clone())))
            .collect();
        let keys = Value::Object(keys);
        let item_json = Bytes::from(item.to_string());
        let args = pb::call::Args::DynamodbTableItem(pb::DynamoDbTableItemArgs {
            table_name: table.name.clone(),
            segment_number: self.segment,
            keys_json: Bytes::from(keys.to_string()),
            item_json: item_json.clone(),
        });
        let mut fields = Map::new();
        fields.insert("tableName".to_owned(), Value::String(table.name.clone()));
        fields.insert("segment".to_owned(), Value::from(self.segment));
        fields.insert("keys".to_owned(), keys);
        SourceRecord { args, origin: RecordOrigin { key: record_key(pass, index), fields }, payload: item_json }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;

    fn key(id: &str) -> TypedKey {
        let attributes = HashMap::from([("id".to_owned(), AttributeValue::S(id.to_owned()))]);
        TypedKey::from_attribute_values(&attributes).expect("a key")
    }

    #[test]
    fn record_keys_sort_in_scan_order() {
        let keys =
            [record_key(0, 9), record_key(0, 10), record_key(0, 999_999_999), record_key(1, 0), record_key(10, 0)];
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "{keys:?}");
        assert_eq!(record_key(2, 42), "000002-000000000042");
    }

    #[test]
    fn task_ids_sort_in_segment_order() {
        let ids: Vec<String> = [0, 9, 10, 4095].into_iter().map(segment_task_id).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
        assert_eq!(ids[0], "segment-0000");
    }

    #[test]
    fn a_page_with_a_last_evaluated_key_goes_on_even_when_empty() {
        assert_eq!(
            Position::after_page(0, 25, 0, Some(key("a"))),
            Position::Scanning { pass: 0, read: 25, last_evaluated_key: Some(key("a")) }
        );
        assert_eq!(Position::after_page(3, 25, 7, None), Position::PassEnded { pass: 3, read: 32 });
    }

    #[test]
    fn the_next_record_key_follows_the_position() {
        let scanning = Position::Scanning { pass: 1, read: 50, last_evaluated_key: Some(key("a")) };
        assert_eq!(scanning.next_record_key(ScanStop::SingleScan), record_key(1, 50));
        let ended = Position::PassEnded { pass: 1, read: 80 };
        assert_eq!(ended.next_record_key(ScanStop::SingleScan), record_key(1, 80));
        assert_eq!(ended.next_record_key(ScanStop::Continuous), record_key(2, 0));
    }

    fn segment_of(total_segments: u32, segment: u32) -> ScanSegment {
        let config = aws_sdk_dynamodb::Config::builder().behavior_version_latest().build();
        let table = Table {
            client: aws_sdk_dynamodb::Client::from_conf(config),
            name: "orders".to_owned(),
            key_names: vec!["id".to_owned()],
            filter: None,
            total_segments,
            stop: ScanStop::SingleScan,
        };
        ScanSegment { table: Arc::new(table), segment }
    }

    #[test]
    fn a_checkpoint_of_another_split_or_source_is_refused() {
        let segment = segment_of(4, 1);
        let taken = r#"{"totalSegments":3,"at":"passEnded","pass":0,"read":9}"#;
        let refused = segment.position(taken).expect_err("another split").to_string();
        assert!(refused.contains("segment 1 of 4 of table orders"), "{refused}");
        assert!(refused.contains("a scan of 3 segments, and this scan has 4"), "{refused}");
        assert!(refused.ends_with("run the dataset with --restart"), "{refused}");
        for bad in ["1024", r#"{"totalSegments":4,"at":"elsewhere"}"#, r#"{"totalSegments":4,"at":"scanning"}"#] {
            assert!(matches!(segment.position(bad), Err(SourceError::BadCheckpoint { .. })), "{bad} is no checkpoint");
        }
        assert_eq!(
            segment.position(r#"{"totalSegments":4,"at":"passEnded","pass":0,"read":9}"#).expect("this split's"),
            Position::PassEnded { pass: 0, read: 9 }
        );
    }

    #[test]
    fn large_items_make_pages_shorter() {
        let mut scan = SegmentScan {
            table: segment_of(1, 0).table,
            segment: 0,
            position: Position::Scanning { pass: 0, read: 0, last_evaluated_key: None },
            bytes_per_item: None,
        };
        assert_eq!(scan.page_limit(100, 4096), 100, "no item seen yet");
        scan.bytes_per_item = Some(10);
        assert_eq!(scan.page_limit(100, 4096), 100);
        scan.bytes_per_item = Some(1000);
        assert_eq!(scan.page_limit(100, 4096), 4);
        scan.bytes_per_item = Some(10_000);
        assert_eq!(scan.page_limit(100, 4096), 1, "always at least one item");
    }

    #[test]
    fn checkpoints_read_back() {
        for position in [
            Position::Scanning { pass: 0, read: 0, last_evaluated_key: None },
            Position::Scanning { pass: 2, read: 125, last_evaluated_key: Some(key("item-7")) },
            Position::PassEnded { pass: 0, read: 300 },
        ] {
            let checkpoint = SegmentCheckpoint { total_segments: 3, position: position.clone() };
            let text = serde_json::to_string(&checkpoint).expect("serializes");
            let read: SegmentCheckpoint = serde_json::from_str(&text).expect("reads back");
            assert_eq!((read.total_segments, read.position), (3, position), "{text}");
        }
        let text = serde_json::to_string(&SegmentCheckpoint {
            total_segments: 3,
            position: Position::Scanning { pass: 0, read: 25, last_evaluated_key: Some(key("x")) },
        })
        .expect("serializes");
        assert_eq!(
            text,
            r#"{"totalSegments":3,"at":"scanning","pass":0,"read":25,"lastEvaluatedKey":{"id":{"S":"x"}}}"#
        );
    }
}
