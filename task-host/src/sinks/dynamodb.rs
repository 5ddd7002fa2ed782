//! DynamoDB table sink: one item per document, written with PutItem.
//!
//! A document's flat JSON object becomes an item, each field an attribute
//! as [`json_to_attribute_value`] converts it: a string is `S`, a number
//! `N`, `true`/`false` `BOOL`, `null` `NULL`, an array `L`, an object `M`.
//! The table's key attributes must be fields of the document of the key's
//! type: a non-empty string for an `S` key, a number for `N`, and for `B`
//! a non-empty standard base64 string, written as the bytes it encodes
//! (the form ferry's DynamoDB sources hand binary values over in).
//!
//! A document that cannot be an item of the table is a [`Rejection`],
//! found before sending where ferry can tell: `MissingKeyAttribute`,
//! `InvalidKeyAttribute`, `ItemTooLarge` (see [`ITEM_SIZE_LIMIT`]) and
//! `InvalidDocument` (not a JSON object). DynamoDB's own refusals of an
//! item, a failed condition or a ValidationException (a number outside
//! its range, nesting too deep), are rejections too, under DynamoDB's
//! error code (`ItemTooLarge` for its size refusal). Throttling and 5xx
//! answers are retried by the SDK; one that still fails ends the write
//! call with a retryable [`SinkError`].
//!
//! Exactly once in effect, per key: PutItem replaces the item of the same
//! key, so work redone after a crash rewrites the same items instead of
//! adding copies. Of documents with the same key in one batch only the
//! last is put (see [`last_per_key`]); batches are written one after
//! another, so the table keeps the last document of each key in record
//! order.
//!
//! An answered PutItem is durable, and there is nothing to take back on
//! resume: the sink checkpoint is the count of items the task put
//! ([`Delivered`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, KeyType, ScalarAttributeType, TableDescription};
use aws_smithy_types::Blob;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Map, Value};

use super::delivered::Delivered;
use super::s3_objects::last_per_key;
use super::{DocumentSink, Durable, Rejection, SinkError, SinkFactory, SinkMetrics};
use crate::aws::{dynamodb_sink_client, sink_error};
use crate::sources::attribute_values::{TypedKey, json_to_attribute_value};

/// The largest item ferry sends, by [`estimated_item_size`]. DynamoDB's
/// limit is 400 KB, which AWS applies as 409,600 bytes; moto refuses items
/// over 405,000. 400,000 stays under both, so an item the estimate lets
/// through is not refused for its size (and if it were, the refusal is
/// still an `ItemTooLarge` rejection).
pub const ITEM_SIZE_LIMIT: usize = 400_000;

/// An item as PutItem takes it.
type Item = HashMap<String, AttributeValue>;

/// Opens each task's sink; every task writes to the same table.
#[derive(Debug)]
pub struct DynamoDbSinks {
    table: Arc<Table>,
    writers: usize,
}

/// The table, shared by every task's sink.
#[derive(Debug)]
struct Table {
    client: aws_sdk_dynamodb::Client,
    name: String,
    keys: KeySchema,
    metrics: Arc<SinkMetrics>,
}

/// The table's key attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeySchema {
    hash: KeyAttribute,
    range: Option<KeyAttribute>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyAttribute {
    name: String,
    kind: KeyKind,
}

/// The types DynamoDB allows a key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    String,
    Number,
    Binary,
}

impl KeyKind {
    /// What a document's field must be for a key of this type.
    fn wanted(self) -> &'static str {
        match self {
            KeyKind::String => "a non-empty string (the key is of type S)",
            KeyKind::Number => "a number (the key is of type N)",
            KeyKind::Binary => "a non-empty base64 string (the key is of type B)",
        }
    }
}

impl DynamoDbSinks {
    /// Describes the table (it must exist) and keeps its key schema.
    /// `writers` is the number of PutItem calls in flight per task.
    pub async fn connect(
        aws: &SdkConfig,
        table_name: &str,
        writers: usize,
        metrics: Arc<SinkMetrics>,
    ) -> Result<Self, SinkError> {
        let client = dynamodb_sink_client(aws, &metrics);
        let resource = format!("table {table_name}");
        let described = client
            .describe_table()
            .table_name(table_name)
            .send()
            .await
            .map_err(|err| sink_error("DescribeTable", &resource, err))?;
        let keys =
            described.table().ok_or_else(|| "the answer holds no table".to_owned()).and_then(KeySchema::of).map_err(
                |message| SinkError::Service { operation: "DescribeTable", resource, message, retryable: false },
            )?;
        let table = Table { client, name: table_name.to_owned(), keys, metrics };
        // With no writers, `buffer_unordered` would never start a put; the
        // config allows 1 to 64, and this holds whoever calls.
        Ok(Self { table: Arc::new(table), writers: writers.max(1) })
    }
}

#[async_trait]
impl SinkFactory for DynamoDbSinks {
    async fn open(&self, task_id: &str, checkpoint: Option<&str>) -> Result<Box<dyn DocumentSink>, SinkError> {
        let delivered = Delivered::resume(&format!("task {task_id} on table {}", self.table.name), checkpoint)?;
        Ok(Box::new(DynamoDbSink { table: Arc::clone(&self.table), writers: self.writers, delivered }))
    }

    fn describe(&self) -> String {
        format!("dynamodb table {}", self.table.name)
    }
}

impl KeySchema {
    /// The key schema of a described table; why not, when the description
    /// does not hold a usable one.
    fn of(table: &TableDescription) -> Result<Self, String> {
        let attribute = |wanted: KeyType| -> Result<Option<KeyAttribute>, String> {
            let Some(element) = table.key_schema().iter().find(|element| *element.key_type() == wanted) else {
                return Ok(None);
            };
            let name = element.attribute_name();
            let defined = table
                .attribute_definitions()
                .iter()
                .find(|definition| definition.attribute_name() == name)
                .ok_or_else(|| format!("the key attribute {name:?} has no attribute definition"))?;
            let kind = match defined.attribute_type() {
                ScalarAttributeType::S => KeyKind::String,
                ScalarAttributeType::N => KeyKind::Number,
                ScalarAttributeType::B => KeyKind::Binary,
                other => {
                    return Err(format!("the key attribute {name:?} is of type {other}, which ferry cannot write"));
                }
            };
            Ok(Some(KeyAttribute { name: name.to_owned(), kind }))
        };
        let hash = attribute(KeyType::Hash)?.ok_or_else(|| "the table has no hash key".to_owned())?;
        Ok(Self { hash, range: attribute(KeyType::Range)? })
    }

    fn attributes(&self) -> impl Iterator<Item = &KeyAttribute> {
        std::iter::once(&self.hash).chain(&self.range)
    }

    /// `document` as an item of the table, with its key; or why it cannot
    /// be one, as a rejection of the document at `index`.
    fn item(&self, index: usize, document: &[u8]) -> Result<(TypedKey, Item), Rejection> {
        let refuse =
            |error_type: &str, message: String| Rejection { index, error_type: error_type.to_owned(), message };
        let fields: Map<String, Value> = serde_json::from_slice(document)
            .map_err(|err| refuse("InvalidDocument", format!("the document is not a JSON object: {err}")))?;
        let mut item: Item =
            fields.iter().map(|(name, value)| (name.clone(), json_to_attribute_value(value))).collect();
        let mut key = Item::new();
        for attribute in self.attributes() {
            let name = &attribute.name;
            let Some(value) = fields.get(name) else {
                return Err(refuse(
                    "MissingKeyAttribute",
                    format!("the document has no {name:?}, a key attribute of the table"),
                ));
            };
            let typed = match (attribute.kind, value) {
                (KeyKind::String, Value::String(text)) if !text.is_empty() => Some(AttributeValue::S(text.clone())),
                (KeyKind::Number, Value::Number(number)) => Some(AttributeValue::N(number.to_string())),
                (KeyKind::Binary, Value::String(text)) => aws_smithy_types::base64::decode(text)
                    .ok()
                    .filter(|bytes| !bytes.is_empty())
                    .map(|bytes| AttributeValue::B(Blob::new(bytes))),
                _ => None,
            };
            let Some(typed) = typed else {
                return Err(refuse(
                    "InvalidKeyAttribute",
                    format!(
                        "the key attribute {name:?} must be {}; the document's is {}",
                        attribute.kind.wanted(),
                        describe(value)
                    ),
                ));
            };
            item.insert(name.clone(), typed.clone());
            key.insert(name.clone(), typed);
        }
        let size = estimated_item_size(&item);
        if size > ITEM_SIZE_LIMIT {
            return Err(refuse(
                "ItemTooLarge",
                format!(
                    "the item would be about {size} bytes; ferry writes items of at most {ITEM_SIZE_LIMIT} bytes, under DynamoDB's 400 KB limit"
                ),
            ));
        }
        let key =
            TypedKey::from_attribute_values(&key).map_err(|err| refuse("InvalidKeyAttribute", err.to_string()))?;
        Ok((key, item))
    }
}

/// A JSON value's kind and, when short, the value, for messages.
fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Null => return "null".to_owned(),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(text) if text.is_empty() => return "an empty string".to_owned(),
        Value::String(_) => "a string",
        Value::Array(_) => return "an array".to_owned(),
        Value::Object(_) => return "an object".to_owned(),
    };
    let text = value.to_string();
    if text.len() <= 40 { format!("{kind}, {text}") } else { kind.to_owned() }
}

/// An estimate of an item's size as DynamoDB counts it against its
/// limit: each attribute's name in UTF-8 bytes plus its value's size.
/// It errs high, never low: a number counts its text plus one byte
/// (DynamoDB stores about one byte per two digits, plus one), and each
/// list or map element one byte besides the 3 bytes DynamoDB counts per
/// list or map.
fn estimated_item_size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + estimated_value_size(value)).sum()
}

fn estimated_value_size(value: &AttributeValue) -> usize {
    /// DynamoDB's overhead of a list or a map.
    const CONTAINER: usize = 3;
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(text) => text.len() + 1,
        AttributeValue::B(blob) => blob.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(values) => {
            CONTAINER + values.iter().map(|value| 1 + estimated_value_size(value)).sum::<usize>()
        }
        AttributeValue::M(entries) => {
            CONTAINER + entries.iter().map(|(name, value)| 1 + name.len() + estimated_value_size(value)).sum::<usize>()
        }
        AttributeValue::Ss(texts) | AttributeValue::Ns(texts) => texts.iter().map(|text| text.len() + 1).sum(),
        AttributeValue::Bs(blobs) => blobs.iter().map(|blob| blob.as_ref().len()).sum(),
        // A type newer than the SDK: never built from a document.
        _ => 0,
    }
}

/// One task's writer.
#[derive(Debug)]
struct DynamoDbSink {
    table: Arc<Table>,
    writers: usize,
    delivered: Delivered,
}

/// One document to put.
#[derive(Debug)]
struct Put {
    index: usize,
    item: Item,
    /// The document's size, for the metrics.
    bytes: u64,
}

impl Table {
    /// Puts one item; a rejection when DynamoDB refuses the item itself.
    async fn put(&self, put: Put) -> Result<Option<Rejection>, SinkError> {
        let sent = Instant::now();
        let answer = self.client.put_item().table_name(&self.name).set_item(Some(put.item)).send().await;
        match answer {
            Ok(_) => {
                self.metrics.put(sent.elapsed(), 1, put.bytes);
                Ok(None)
            }
            Err(err) => match err.as_service_error() {
                Some(refusal)
                    if refusal.is_conditional_check_failed_exception()
                        || refusal.code() == Some("ValidationException") =>
                {
                    let message = refusal.message().unwrap_or("DynamoDB refused the item").to_owned();
                    // AWS and moto both say "Item size has exceeded the
                    // maximum allowed size".
                    let error_type = if message.contains("Item size") {
                        "ItemTooLarge"
                    } else {
                        refusal.code().unwrap_or("ValidationException")
                    };
                    Ok(Some(Rejection { index: put.index, error_type: error_type.to_owned(), message }))
                }
                _ => Err(sink_error("PutItem", &format!("table {}", self.name), err)),
            },
        }
    }
}

#[async_trait]
impl DocumentSink for DynamoDbSink {
    async fn write(&mut self, documents: Vec<Bytes>) -> Result<Vec<Rejection>, SinkError> {
        let mut rejections = Vec::new();
        let mut keyed = Vec::with_capacity(documents.len());
        for (index, document) in documents.iter().enumerate() {
            match self.table.keys.item(index, document) {
                Ok((key, item)) => keyed.push((key, Put { index, item, bytes: document.len() as u64 })),
                Err(rejection) => rejections.push(rejection),
            }
        }
        let table = &self.table;
        let mut answered =
            futures::stream::iter(last_per_key(keyed)).map(|put| table.put(put)).buffer_unordered(self.writers);
        while let Some(answer) = answered.next().await {
            rejections.extend(answer?);
        }
        rejections.sort_by_key(|rejection| rejection.index);
        self.delivered.write(documents.len() - rejections.len());
        Ok(rejections)
    }

    async fn flush(&mut self, _last: bool) -> Result<Durable, SinkError> {
        Ok(self.delivered.durable())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::{AttributeDefinition, KeySchemaElement};
    use serde_json::json;

    use super::*;

    fn schema(hash: (&str, KeyKind), range: Option<(&str, KeyKind)>) -> KeySchema {
        let attribute = |(name, kind): (&str, KeyKind)| KeyAttribute { name: name.to_owned(), kind };
        KeySchema { hash: attribute(hash), range: range.map(attribute) }
    }

    fn refusal(schema: &KeySchema, document: &Value) -> (String, String) {
        let refused = schema.item(4, document.to_string().as_bytes()).expect_err("refused");
        assert_eq!(refused.index, 4);
        (refused.error_type, refused.message)
    }

    #[test]
    fn documents_become_items_with_typed_keys() {
        let keys = schema(("id", KeyKind::String), Some(("seq", KeyKind::Number)));
        let document = json!({"id": "a", "seq": 7, "tags": ["x", 1], "meta": {}, "none": null, "ok": true});
        let (key, item) = keys.item(0, document.to_string().as_bytes()).expect("an item");
        let expected_key = HashMap::from([
            ("id".to_owned(), AttributeValue::S("a".to_owned())),
            ("seq".to_owned(), AttributeValue::N("7".to_owned())),
        ]);
        assert_eq!(key, TypedKey::from_attribute_values(&expected_key).expect("a key"));
        assert_eq!(
            item["tags"],
            AttributeValue::L(vec![AttributeValue::S("x".to_owned()), AttributeValue::N("1".to_owned())])
        );
        assert_eq!(item["meta"], AttributeValue::M(HashMap::new()));
        assert_eq!(item["none"], AttributeValue::Null(true));
        assert_eq!(item["ok"], AttributeValue::Bool(true));
        assert_eq!(crate::sources::attribute_values::item_to_json(&item), document);
    }

    #[test]
    fn binary_keys_are_written_as_the_bytes_their_base64_encodes() {
        let keys = schema(("raw", KeyKind::Binary), None);
        let (_, item) = keys.item(0, br#"{"raw":"AAH+/w=="}"#).expect("an item");
        assert_eq!(item["raw"], AttributeValue::B(Blob::new(vec![0, 1, 254, 255])));
        let (error_type, _) = refusal(&keys, &json!({"raw": "not base64!"}));
        assert_eq!(error_type, "InvalidKeyAttribute");
    }

    #[test]
    fn key_attributes_must_be_present_typed_and_not_empty() {
        let keys = schema(("id", KeyKind::String), Some(("n", KeyKind::Number)));
        let (error_type, message) = refusal(&keys, &json!({"n": 1}));
        assert_eq!(error_type, "MissingKeyAttribute");
        assert!(message.contains("\"id\""), "{message}");
        let (error_type, message) = refusal(&keys, &json!({"id": "a"}));
        assert_eq!(error_type, "MissingKeyAttribute");
        assert!(message.contains("\"n\""), "{message}");
        let (error_type, message) = refusal(&keys, &json!({"id": "a", "n": "1"}));
        assert_eq!(error_type, "InvalidKeyAttribute");
        assert!(message.contains("\"n\" must be a number") && message.contains("a string, \"1\""), "{message}");
        let (error_type, message) = refusal(&keys, &json!({"id": "", "n": 1}));
        assert_eq!(error_type, "InvalidKeyAttribute");
        assert!(message.contains("an empty string"), "{message}");
        let (error_type, _) = refusal(&keys, &json!({"id": 5, "n": 1}));
        assert_eq!(error_type, "InvalidKeyAttribute");
        let refused = keys.item(0, b"[1]").expect_err("not an object");
        assert_eq!(refused.error_type, "InvalidDocument");
    }

    #[test]
    fn items_over_the_limit_are_refused_before_sending() {
        let keys = schema(("id", KeyKind::String), None);
        // "id" + "a" + "text" + the text: exactly the limit.
        let fits = json!({"id": "a", "text": "x".repeat(ITEM_SIZE_LIMIT - 7)});
        keys.item(0, fits.to_string().as_bytes()).expect("at the limit");
        let over = json!({"id": "a", "text": "x".repeat(ITEM_SIZE_LIMIT - 6)});
        let (error_type, message) = refusal(&keys, &over);
        assert_eq!(error_type, "ItemTooLarge");
        assert!(message.contains("400001 bytes"), "{message}");
    }

    #[test]
    fn the_size_estimate_counts_names_values_and_container_overheads() {
        let item: Item = HashMap::from([
            ("s".to_owned(), AttributeValue::S("abc".to_owned())),
            ("n".to_owned(), AttributeValue::N("12.5".to_owned())),
            ("t".to_owned(), AttributeValue::Bool(true)),
            ("l".to_owned(), AttributeValue::L(vec![AttributeValue::Null(true), AttributeValue::S("é".to_owned())])),
            ("m".to_owned(), AttributeValue::M(HashMap::from([("k".to_owned(), AttributeValue::N("1".to_owned()))]))),
        ]);
        // s: 1 + 3; n: 1 + 5; t: 1 + 1; l: 1 + 3 + (1 + 1) + (1 + 2);
        // m: 1 + 3 + (1 + 1 + 2).
        assert_eq!(estimated_item_size(&item), 4 + 6 + 2 + 9 + 8);
    }

    #[test]
    fn key_schemas_are_read_from_table_descriptions() {
        let element = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().expect("an element")
        };
        let definition = |name: &str, kind: ScalarAttributeType| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().expect("a definition")
        };
        let table = TableDescription::builder()
            .key_schema(element("sk", KeyType::Range))
            .key_schema(element("pk", KeyType::Hash))
            .attribute_definitions(definition("pk", ScalarAttributeType::B))
            .attribute_definitions(definition("sk", ScalarAttributeType::N))
            .build();
        assert_eq!(KeySchema::of(&table), Ok(schema(("pk", KeyKind::Binary), Some(("sk", KeyKind::Number)))));
        let undefined = TableDescription::builder().key_schema(element("pk", KeyType::Hash)).build();
        assert!(KeySchema::of(&undefined).expect_err("no definition").contains("\"pk\""));
        assert_eq!(KeySchema::of(&TableDescription::builder().build()), Err("the table has no hash key".to_owned()));
    }
}
