//! Orders joined with their items from a second file: a
//! `MultipleFileStateMachineReader`.
//!
//! Each manifest line names an orders file and an items file,
//! `ORDERS:orders.csv|ITEMS:items.csv`. Orders are `order_id,customer,placed_at`
//! lines, items `order_id,sku,quantity` lines; both are sorted by order id,
//! so one pass over the two files joins them. Each call of
//! `parse_document` makes one document:
//!
//! - an Order with its items (`items`, `itemCount`, `totalQuantity`): the
//!   next order and every item after it that belongs to it, found by
//!   peeking at the next item;
//! - an ErrorDoc for an item that comes before the next order in id order
//!   (its order is missing), or for a line of either file the parsers
//!   could not read (wrong number of fields);
//! - the failure of an item whose quantity is not a number
//!   (`ParseIntError`), handed on with `?`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ferry_bridge::host::rust::{
    Document, DocumentType, HandlerFailure, MultipleFileStateMachineReader, ParseCompositeDocumentResult,
    ParseDocumentResult, ParseDocumentResultStatus, RecordParseHint, SingleFileStateMachineParser, SystemFileReader,
    SystemFileReaders,
};
use serde_json::{Value, json};

pub const ORDERS: &str = "ORDERS";
pub const ITEMS: &str = "ITEMS";

/// Lines of comma-separated fields, all of one record type: a state
/// machine with a single state.
#[derive(Debug, Clone, Copy)]
pub struct CsvParser {
    file_type: &'static str,
    record_type: &'static str,
    columns: &'static [&'static str],
}

/// Reads `order_id,customer,placed_at` lines.
pub const ORDER_LINES: CsvParser =
    CsvParser { file_type: ORDERS, record_type: "Order", columns: &["order_id", "customer", "placed_at"] };

/// Reads `order_id,sku,quantity` lines.
pub const ITEM_LINES: CsvParser =
    CsvParser { file_type: ITEMS, record_type: "Item", columns: &["order_id", "sku", "quantity"] };

impl SingleFileStateMachineParser for CsvParser {
    fn get_s3_file_type(&self) -> String {
        self.file_type.to_owned()
    }

    fn get_next_expected_record_type(&self, _: &str, _: Option<&str>) -> String {
        self.record_type.to_owned()
    }

    fn get_next_record_start_pattern(&self, _: &str, _: &str, _: Option<&Document>) -> RecordParseHint {
        RecordParseHint::from_offset(0)
    }

    fn get_next_record_end_pattern(&self, _: &str, _: &str, _: Option<&Document>) -> RecordParseHint {
        RecordParseHint::from_pattern("\n")
    }

    fn parse_document(
        &self,
        s3_file_type: &str,
        _s3_filename: &str,
        offset_bytes: u64,
        _last_processed_record_type: Option<&str>,
        _last_processed_doc: Option<&Document>,
        record: &[u8],
    ) -> Result<ParseDocumentResult, HandlerFailure> {
        let line = std::str::from_utf8(record)?.trim_end_matches(['\n', '\r']);
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != self.columns.len() {
            let message = format!("expected {} fields, got {}: {line:?}", self.columns.len(), fields.len());
            let error = Document::error_doc(message)
                .with_record_type(self.record_type)
                .with_start_offset(s3_file_type, offset_bytes)
                .with_end_offset(s3_file_type, offset_bytes + record.len() as u64);
            return Ok(ParseDocumentResult::error(error));
        }
        let document = match self.file_type {
            ORDERS => Document::new(fields[0], self.record_type)
                .with_partition_key(fields[1])
                .with_value("customer", fields[1])
                .with_value("placedAt", fields[2]),
            _ => {
                let quantity: u64 = fields[2].parse()?;
                Document::new(format!("{}/{}", fields[0], fields[1]), self.record_type)
                    .with_value("orderId", fields[0])
                    .with_value("sku", fields[1])
                    .with_value("quantity", quantity)
            }
        };
        Ok(ParseDocumentResult::success(document))
    }
}

/// Joins orders with their items; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrdersWithItems;

impl MultipleFileStateMachineReader for OrdersWithItems {
    fn get_s3_file_types(&self) -> BTreeSet<String> {
        BTreeSet::from([ORDERS.to_owned(), ITEMS.to_owned()])
    }

    fn get_parser_interfaces_for_s3_file_types(
        &self,
        s3_file_types: &BTreeSet<String>,
    ) -> BTreeMap<String, Arc<dyn SingleFileStateMachineParser>> {
        s3_file_types
            .iter()
            .filter_map(|file_type| {
                let parser = match file_type.as_str() {
                    ORDERS => ORDER_LINES,
                    ITEMS => ITEM_LINES,
                    _ => return None,
                };
                Some((file_type.clone(), Arc::new(parser) as Arc<dyn SingleFileStateMachineParser>))
            })
            .collect()
    }

    fn parse_document(
        &self,
        _last_processed_record_types: &BTreeMap<String, String>,
        _last_processed_doc: Option<&Document>,
        readers: &mut SystemFileReaders<'_>,
    ) -> Result<ParseCompositeDocumentResult, HandlerFailure> {
        let (mut orders, mut items) = (None, None);
        for (file_type, reader) in readers.iter_mut() {
            match file_type.as_str() {
                ORDERS => orders = Some(reader),
                ITEMS => items = Some(reader),
                _ => {}
            }
        }
        let (Some(orders), Some(items)) = (orders, items) else {
            return Err(HandlerFailure::new("MissingFile", "the task has no ORDERS or no ITEMS file"));
        };
        // A line either parser could not read is reported on its own.
        let next_item = match items.next_record(true) {
            Ok(item) => item,
            Err(failure) => return consume_failed(&mut **items, failure),
        };
        if let Some(item) = next_item.as_ref().filter(|item| item.document_type == DocumentType::ErrorDoc) {
            items.next_record(false)?;
            return Ok(ParseCompositeDocumentResult::error(item.clone()));
        }
        let next_order = match orders.next_record(true) {
            Ok(order) => order,
            Err(failure) => return consume_failed(&mut **orders, failure),
        };
        if let Some(order) = next_order.as_ref().filter(|order| order.document_type == DocumentType::ErrorDoc) {
            orders.next_record(false)?;
            return Ok(ParseCompositeDocumentResult::error(order.clone()));
        }
        // An item before the next order (or after the last) has no order.
        if let Some(item) = &next_item {
            let item_order = text(item, "orderId");
            if next_order.as_ref().is_none_or(|order| item_order < order.document_id.as_deref().unwrap_or_default()) {
                let start = items.get_offset_bytes();
                items.next_record(false)?;
                let error = Document::error_doc(format!("item {} has no order {item_order}", text(item, "sku")))
                    .with_document_id(item.document_id.clone().unwrap_or_default())
                    .with_record_type("Item")
                    .with_start_offset(ITEMS, start)
                    .with_end_offset(ITEMS, items.get_offset_bytes());
                return Ok(ParseCompositeDocumentResult::error(error));
            }
        }
        let Some(order) = next_order else {
            // Both files are read: nothing more to make.
            return Ok(ParseCompositeDocumentResult::new(None, ParseDocumentResultStatus::Skip));
        };
        orders.next_record(false)?;
        let order_id = order.document_id.clone().unwrap_or_default();
        let mut lines = Vec::new();
        let mut total_quantity = 0;
        // Items of this order follow each other; a line that is not one
        // of them ends the order, and is dealt with by a later call.
        while let Ok(Some(item)) = items.next_record(true) {
            if item.document_type != DocumentType::Document || text(&item, "orderId") != order_id {
                break;
            }
            items.next_record(false)?;
            let quantity = item.document_key_values.get("quantity").and_then(Value::as_u64).unwrap_or_default();
            total_quantity += quantity;
            lines.push(json!({"sku": text(&item, "sku"), "quantity": quantity}));
        }
        let mut document = Document::new(order_id, "Order");
        document.partition_key = order.partition_key.clone();
        let document = document
            .with_value("customer", order.document_key_values.get("customer").cloned().unwrap_or_default())
            .with_value("placedAt", order.document_key_values.get("placedAt").cloned().unwrap_or_default())
            .with_value("itemCount", lines.len())
            .with_value("totalQuantity", total_quantity)
            .with_value("items", lines);
        Ok(ParseCompositeDocumentResult::success(document))
    }
}

/// Consumes a record whose parse failed and hands the failure on: the
/// record is this call's result.
fn consume_failed(
    reader: &mut dyn SystemFileReader,
    failure: HandlerFailure,
) -> Result<ParseCompositeDocumentResult, HandlerFailure> {
    let _ = reader.next_record(false);
    Err(failure)
}

fn text<'a>(document: &'a Document, key: &str) -> &'a str {
    document.document_key_values.get(key).and_then(Value::as_str).unwrap_or_default()
}
