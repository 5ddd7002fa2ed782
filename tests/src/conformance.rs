//! The cross-language conformance suite's shared parts: the Rust twin of
//! `tests/conformance/handler.py` and `handler.mjs`, the cases of
//! `tests/conformance/cases.json`, and a language-neutral rendering of an
//! outcome that the cases' expectations are written in.
//!
//! See `tests/conformance/README.md`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferry_bridge::host::rust::{
    Document, DocumentType, DynamoDbStreamsRecord, DynamoDbStreamsRecordReader, DynamoDbTableItem,
    DynamoDbTableItemReader, HandlerFailure, KinesisRecord, KinesisRecordReader, ParseDocumentResult,
    ParseDocumentResultStatus, QueueMessage, QueueMessageReader, RecordParseHint, RustHandlers, SagemakerVectors,
    SingleFileParser,
};
use ferry_proto::pb;
use serde_json::{Map, Value, json};

/// `tests/conformance`, where the cases and the Python and JS handlers are.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance").canonicalize().expect("tests/conformance exists")
}

/// The Rust conformance handlers, one per interface.
pub fn rust_handlers() -> RustHandlers {
    RustHandlers::new("ferry-conformance", "0.1.0")
        .single_file_parser(ConformanceParser)
        .queue_message_reader(ConformanceReaders)
        .kinesis_record_reader(ConformanceReaders)
        .dynamodb_streams_record_reader(ConformanceReaders)
        .dynamodb_table_item_reader(ConformanceReaders)
        .sagemaker_vectors(ConformanceVectors)
}

/// The Rust twin of the Python and JS conformance handlers. A failure
/// carries no traceback: Rust has none to give (see the README).
#[derive(Debug)]
pub struct ConformanceParser;

fn conformance_error(message: &str) -> HandlerFailure {
    HandlerFailure::new("ConformanceError", message)
}

fn retryable_error(message: &str) -> HandlerFailure {
    HandlerFailure::new("RetryableError", message).retryable()
}

fn unknown_command(command: &str) -> HandlerFailure {
    conformance_error(&format!("unknown command {command}"))
}

/// `"<command>:<argument>"` split at the first colon; the argument is
/// empty when there is none.
fn command(text: &str) -> (&str, &str) {
    text.split_once(':').unwrap_or((text, ""))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
fn hint(s3_file_type: &str, fallback: &str) -> Result<RecordParseHint, HandlerFailure> {
    let (command, argument) = s3_file_type.split_once(':').unwrap_or((s3_file_type, ""));
    Ok(match command {
        "PATTERN" => RecordParseHint::from_pattern(argument),
        "OFFSET" => RecordParseHint::from_offset(argument.parse()?),
        "EMPTY" => RecordParseHint::from_pattern(""),
        "raise" => return Err(conformance_error(argument)),
        _ => RecordParseHint::from_pattern(fallback),
    })
}

/// `SingleFileParser`'s hint methods and `get_resolved_s3_file_name`
/// cannot return an `Err` in Rust, so the twin panics where the Python and
/// JS handlers raise: a `Panic` user error with the same message (the
/// cases say so with `expectByLanguage.rust`).
fn hint_or_panic(s3_file_type: &str, fallback: &str) -> RecordParseHint {
    match hint(s3_file_type, fallback) {
        Ok(hint) => hint,
        Err(failure) => panic!("{}", failure.message),
    }
}

fn to_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl SingleFileParser for ConformanceParser {
    fn get_s3_file_type(&self) -> String {
        "CONFORMANCE".to_owned()
    }

    fn get_resolved_s3_file_name(&self, s3_file_type: &str, file_name: &str) -> String {
        if let Some(message) = file_name.strip_prefix("raise:") {
            panic!("{message}");
        }
        format!("{s3_file_type}/{file_name}")
    }

    fn get_record_start_pattern(&self, s3_file_type: &str) -> RecordParseHint {
        hint_or_panic(s3_file_type, &format!("<{s3_file_type}>"))
    }

    fn get_record_end_pattern(&self, s3_file_type: &str) -> RecordParseHint {
        hint_or_panic(s3_file_type, "\n")
    }

    fn parse_document(
        &self,
        s3_file_type: &str,
        s3_filename: &str,
        offset_bytes: u64,
        record: &[u8],
    ) -> Result<ParseDocumentResult, HandlerFailure> {
        let length = record.len() as u64;
        let end = offset_bytes + length;
        if let Some(rest) = record.strip_prefix(b"bin:") {
            return Ok(ParseDocumentResult::success(
                Document::new(format!("bin@{offset_bytes}"), "Binary")
                    .with_partition_key(s3_filename)
                    .with_value("hex", hex(rest))
                    .with_value("length", length),
            ));
        }
        let text = std::str::from_utf8(record)?;
        let (command, argument) = command(text);
        Ok(match command {
            "doc" => ParseDocumentResult::success(
                Document::new(argument, "Conformance")
                    .with_partition_key(s3_filename)
                    .with_metadata("fileType", s3_file_type)
                    .with_metadata("offset", offset_bytes)
                    .with_value("text", argument)
                    .with_value("length", length),
            ),
            "echo" => ParseDocumentResult::success(
                Document::new(format!("{s3_filename}@{offset_bytes}"), "Echo")
                    .with_partition_key(argument)
                    .with_value("s3FileType", s3_file_type)
                    .with_value("s3Filename", s3_filename)
                    .with_value("offsetBytes", offset_bytes)
                    .with_value("startIndex", 0)
                    .with_value("endIndex", length)
                    .with_value("byteArrLength", length),
            ),
            "skip" => ParseDocumentResult::skip(
                Document::skip_doc(argument)
                    .with_document_id(format!("skip@{offset_bytes}"))
                    .with_record_type("Skip")
                    .with_partition_key(s3_filename)
                    .with_start_offset(s3_file_type, offset_bytes)
                    .with_end_offset(s3_file_type, end),
            ),
            "error" => ParseDocumentResult::error(
                Document::error_doc(argument)
                    .with_document_id(format!("error@{offset_bytes}"))
                    .with_record_type("Error")
                    .with_partition_key(s3_filename)
                    .with_metadata("reason", "conformance")
                    .with_start_offset(s3_file_type, offset_bytes)
                    .with_start_offset("line", 1)
                    .with_end_offset(s3_file_type, end)
                    .with_end_offset("line", 2),
            ),
            "skipnone" => ParseDocumentResult::new(None, None, ParseDocumentResultStatus::Skip),
            "bare" => {
                ParseDocumentResult::success(Document { document_id: Some("bare".to_owned()), ..Document::default() })
            }
            "raise" => return Err(conformance_error(argument)),
            "retry" => return Err(retryable_error(argument)),
            "unicode" => ParseDocumentResult::success(
                Document::new("unicode-ü", "Unicode").with_partition_key("東京").with_key_values(to_map(json!({
                    "latin": "Zürich",
                    "arrow": "a → b",
                    "cjk": "東京",
                    "emoji": "😀",
                    "quote": "say \"hi\"",
                    "escapes": "line\nnext\ttab\\slash",
                    "argument": argument,
                }))),
            ),
            "nested" => ParseDocumentResult::success(
                Document::new("nested", "Nested")
                    .with_partition_key("p")
                    .with_metadata("depth", 3)
                    .with_metadata("tags", json!(["a", "b"]))
                    .with_key_values(to_map(json!({
                        "object": {"inner": {"flag": false, "none": null}},
                        "list": [1, "two", null, true, [3, {"k": "v"}]],
                        "emptyObject": {},
                        "emptyList": [],
                        "documentId": "shadowed",
                        "partitionKey": "shadowed",
                    }))),
            ),
            "numbers" => ParseDocumentResult::success(
                Document::new("numbers", "Numbers").with_partition_key("n").with_key_values(to_map(json!({
                    "zero": 0,
                    "negative": -7,
                    "large": 9_007_199_254_740_991_u64,
                    "half": 0.5,
                    "quarter": -2.25,
                    "price": 12.5,
                    "decimal": 1234.5678,
                    "tenth": 0.1,
                }))),
            ),
            "invalid" => ParseDocumentResult::new(None, None, ParseDocumentResultStatus::Success),
            other => return Err(unknown_command(other)),
        })
    }
}

/// The Rust twin of the Python and JS reader handlers (see the README).
#[derive(Debug)]
pub struct ConformanceReaders;

/// The commands every reader shares; `position` names the record in the
/// offsets of a SkipDoc or ErrorDoc, and is their id.
fn reader_result(
    (command, argument): (&str, &str),
    position_key: &str,
    position: &str,
    record_type: &str,
    document: impl FnOnce(&str) -> Document,
) -> Result<ParseDocumentResult, HandlerFailure> {
    Ok(match command {
        "doc" => ParseDocumentResult::success(document(argument)),
        "skip" => ParseDocumentResult::skip(
            Document::skip_doc(argument)
                .with_document_id(position)
                .with_record_type(record_type)
                .with_start_offset(position_key, position)
                .with_end_offset(position_key, position),
        ),
        "error" => ParseDocumentResult::error(
            Document::error_doc(argument)
                .with_document_id(position)
                .with_record_type(record_type)
                .with_metadata("reason", "conformance")
                .with_start_offset(position_key, position)
                .with_end_offset(position_key, position),
        ),
        "skipnone" => ParseDocumentResult::new(None, None, ParseDocumentResultStatus::Skip),
        "raise" => return Err(conformance_error(argument)),
        "retry" => return Err(retryable_error(argument)),
        "invalid" => ParseDocumentResult::new(None, None, ParseDocumentResultStatus::Success),
        other => return Err(unknown_command(other)),
    })
}

/// The key values (strings or integers) joined with "|".
fn key_id(keys: &Map<String, Value>) -> String {
    let values: Vec<String> = keys
        .values()
        .map(|value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect();
    values.join("|")
}

impl QueueMessageReader for ConformanceReaders {
    fn parse_message(&self, message: QueueMessage<'_>) -> Result<ParseDocumentResult, HandlerFailure> {
        reader_result(command(message.message_body), "messageId", message.message_id, "Message", |argument| {
            Document::new(argument, "Message")
                .with_partition_key(message.message_group_id.unwrap_or(message.message_id))
                .with_metadata("messageId", message.message_id)
                .with_value("messageGroupId", message.message_group_id)
                .with_value("messageDeduplicationId", message.message_deduplication_id)
                .with_value("messageAttributes", json!(message.message_attributes))
                .with_value("messageBody", message.message_body)
        })
    }
}

impl KinesisRecordReader for ConformanceReaders {
    fn parse_message(&self, record: KinesisRecord<'_>) -> Result<ParseDocumentResult, HandlerFailure> {
        if let Some(rest) = record.data.strip_prefix(b"bin:") {
            return Ok(ParseDocumentResult::success(
                Document::new(format!("bin@{}", record.sequence_number), "Binary")
                    .with_partition_key(record.partition_key)
                    .with_value("hex", hex(rest))
                    .with_value("length", record.data.len()),
            ));
        }
        let text = std::str::from_utf8(record.data)?;
        reader_result(command(text), "sequenceNumber", record.sequence_number, "Record", |argument| {
            Document::new(argument, "Record")
                .with_partition_key(record.partition_key)
                .with_metadata("shardId", record.shard_id)
                .with_metadata("sequenceNumber", record.sequence_number)
                .with_value("streamArn", record.stream_arn)
                .with_value("approximateArrivalTimestamp", record.approximate_arrival_timestamp_ms)
                .with_value("data", text)
                .with_value("length", record.data.len())
        })
    }
}

impl DynamoDbStreamsRecordReader for ConformanceReaders {
    fn parse_record(&self, record: DynamoDbStreamsRecord<'_>) -> Result<ParseDocumentResult, HandlerFailure> {
        let sequence_number = record.sequence_number;
        reader_result(command(record.event_id), "sequenceNumber", sequence_number, "StreamRecord", |_| {
            Document::new(key_id(&record.keys), record.event_name)
                .with_partition_key(record.shard_id)
                .with_metadata("sequenceNumber", record.sequence_number)
                .with_metadata("sizeBytes", record.size_bytes)
                .with_metadata("streamViewType", record.stream_view_type)
                .with_metadata("approximateCreationDateTime", record.approximate_creation_date_time_s)
                .with_value("streamArn", record.stream_arn)
                .with_value("eventId", record.event_id)
                .with_value("identityPrincipalId", record.identity_principal_id)
                .with_value("identityType", record.identity_type)
                .with_value("keys", record.keys)
                .with_value("oldImage", record.old_image)
                .with_value("newImage", record.new_image)
        })
    }
}

impl DynamoDbTableItemReader for ConformanceReaders {
    fn parse_dynamodb_item(&self, item: DynamoDbTableItem<'_>) -> Result<ParseDocumentResult, HandlerFailure> {
        let segment = item.segment_number.to_string();
        reader_result(command(item.table_name), "segmentNumber", &segment, "Item", |argument| {
            Document::new(key_id(&item.keys), "Item")
                .with_partition_key(argument)
                .with_metadata("segmentNumber", item.segment_number)
                .with_value("tableName", item.table_name)
                .with_value("keys", item.keys)
                .with_value("item", item.item)
        })
    }
}

/// The Rust twin of the Python and JS Sagemaker handlers (see the README).
#[derive(Debug)]
pub struct ConformanceVectors;

/// The document's `command` entry, split as [`command`] splits.
fn document_command(document: &Map<String, Value>) -> Result<(String, String), HandlerFailure> {
    let text = document.get("command").and_then(Value::as_str).ok_or_else(|| HandlerFailure::missing_key("command"))?;
    let (command, argument) = command(text);
    Ok((command.to_owned(), argument.to_owned()))
}

impl SagemakerVectors for ConformanceVectors {
    fn extract_document_elements_for_vectorization(
        &self,
        document: Map<String, Value>,
    ) -> Result<BTreeMap<String, String>, HandlerFailure> {
        let (command, argument) = document_command(&document)?;
        match command.as_str() {
            // A typed map cannot hold a value that is not text: where
            // Python and JS return one, the twin fails (see the README).
            "elements" => document
                .into_iter()
                .filter(|(name, _)| name.starts_with("text"))
                .map(|(name, value)| match value {
                    Value::String(text) => Ok((name, text)),
                    _ => Err(conformance_error(&format!("the value of {} is not a string", Value::String(name)))),
                })
                .collect(),
            "raise" => Err(conformance_error(&argument)),
            "retry" => Err(retryable_error(&argument)),
            other => Err(unknown_command(other)),
        }
    }

    fn construct_vector_doc(
        &self,
        document: Map<String, Value>,
        vectors: BTreeMap<String, Vec<f64>>,
    ) -> Result<Document, HandlerFailure> {
        let (command, argument) = document_command(&document)?;
        let text = |key: &str| document.get(key).and_then(Value::as_str).map(str::to_owned);
        let document_id = text("documentId");
        match command.as_str() {
            "vectors" => {
                let partition_key = text("partitionKey");
                let metadata = match document.get("documentMetadata") {
                    Some(Value::Object(metadata)) => metadata.clone(),
                    _ => Map::new(),
                };
                // Head entries are left out by the flat form itself.
                let values = document.into_iter().filter(|(name, _)| name != "command" && !name.starts_with("text"));
                Ok(Document {
                    document_id,
                    record_type: Some("Vectors".to_owned()),
                    partition_key,
                    document_metadata: metadata,
                    document_key_values: values.collect(),
                    ..Document::default()
                }
                .with_value("vectors", json!(vectors)))
            }
            "error" => {
                let position = document_id.clone().unwrap_or_default();
                Ok(Document { document_type: DocumentType::ErrorDoc, document_id, ..Document::error_doc(argument) }
                    .with_record_type("Vectors")
                    .with_start_offset("documentId", &position)
                    .with_end_offset("documentId", &position))
            }
            "raise" => Err(conformance_error(&argument)),
            "retry" => Err(retryable_error(&argument)),
            other => Err(unknown_command(other)),
        }
    }
}

/// One case of `cases.json`.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// The method, as user code spells it: "parseDocument", ...
    pub function: String,
    pub args: Value,
    /// The outcome in the form [`render`] gives.
    pub expect: Value,
    /// Per-language overrides of `expect` (keys "python", "js", "rust"),
    /// for a difference of API shape rather than of behaviour: Rust's
    /// infallible methods panic where Python and JS raise.
    pub expect_by_language: Map<String, Value>,
}

impl Case {
    /// The outcome expected from `language`.
    pub fn expected(&self, language: &str) -> &Value {
        self.expect_by_language.get(language).unwrap_or(&self.expect)
    }
}

/// Every case of `cases.json`, in file order.
pub fn load_cases() -> Vec<Case> {
    let path = dir().join("cases.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
    let root: Value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("parse {}: {err}", path.display()));
    let cases = root["cases"].as_array().expect("cases.json holds {\"cases\": [...]}");
    let cases: Vec<Case> = cases
        .iter()
        .map(|case| {
            let text = |key: &str| {
                case[key].as_str().unwrap_or_else(|| panic!("a case's {key:?} is not a string: {case}")).to_owned()
            };
            Case {
                name: text("name"),
                function: text("function"),
                args: case.get("args").cloned().unwrap_or_else(|| json!({})),
                expect: case.get("expect").cloned().unwrap_or_else(|| panic!("case without expect: {case}")),
                expect_by_language: case
                    .get("expectByLanguage")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            }
        })
        .collect();
    let mut names: Vec<&str> = cases.iter().map(|case| case.name.as_str()).collect();
    names.sort_unstable();
    names.windows(2).for_each(|pair| assert_ne!(pair[0], pair[1], "two cases are named {}", pair[0]));
    cases
}

/// Every function a case may name, as `cases.json` spells it: the bare
/// method for SingleFileParser, `<Interface>.<method>` for the others
/// (two readers share the name `parseMessage`).
pub const FUNCTIONS: [(&str, pb::Function); 11] = [
    ("getS3FileType", pb::Function::SingleFileParserGetS3FileType),
    ("getResolvedS3FileName", pb::Function::SingleFileParserGetResolvedS3FileName),
    ("getRecordStartPattern", pb::Function::SingleFileParserGetRecordStartPattern),
    ("getRecordEndPattern", pb::Function::SingleFileParserGetRecordEndPattern),
    ("parseDocument", pb::Function::SingleFileParserParseDocument),
    ("QueueMessageReader.parseMessage", pb::Function::QueueMessageReaderParseMessage),
    ("KinesisRecordReader.parseMessage", pb::Function::KinesisRecordReaderParseMessage),
    ("DynamoDBStreamsRecordReader.parseRecord", pb::Function::DynamodbStreamsRecordReaderParseRecord),
    ("DynamoDBTableItemReader.parseDynamoDBItem", pb::Function::DynamodbTableItemReaderParseDynamodbItem),
    (
        "SagemakerVectorsInterface.extractDocumentElementsForVectorization",
        pb::Function::SagemakerVectorsExtractDocumentElements,
    ),
    ("SagemakerVectorsInterface.constructVectorDoc", pb::Function::SagemakerVectorsConstructVectorDoc),
];

/// The protocol function of a case's `function`.
pub fn function_of(name: &str) -> pb::Function {
    match FUNCTIONS.iter().find(|(known, _)| *known == name) {
        Some((_, function)) => *function,
        None => panic!("unknown function {name:?} in cases.json"),
    }
}

fn arg(case: &Case, key: &str) -> String {
    case.args[key].as_str().unwrap_or_else(|| panic!("case {}: args.{key} is not a string", case.name)).to_owned()
}

/// An optional string argument: a missing key is an unset field.
fn optional_arg(case: &Case, key: &str) -> Option<String> {
    case.args.get(key).map(|_| arg(case, key))
}

fn int_arg(case: &Case, key: &str) -> i64 {
    case.args[key].as_i64().unwrap_or_else(|| panic!("case {}: args.{key} is not an integer", case.name))
}

/// A JSON-valued argument as the compact UTF-8 JSON the protocol carries;
/// `null` (or a missing key) sends the field unset.
fn json_arg(case: &Case, key: &str) -> bytes::Bytes {
    match case.args.get(key) {
        None | Some(Value::Null) => bytes::Bytes::new(),
        Some(value) => serde_json::to_vec(value).expect("a JSON value serializes").into(),
    }
}

/// Bytes given as `<key>` (UTF-8 text) or `<key>Base64` (any bytes).
fn bytes_arg(case: &Case, key: &str) -> Vec<u8> {
    if let Some(text) = case.args[key].as_str() {
        return text.as_bytes().to_vec();
    }
    let encoded = case.args[format!("{key}Base64")]
        .as_str()
        .unwrap_or_else(|| panic!("case {}: needs args.{key} or args.{key}Base64", case.name));
    base64_decode(encoded).unwrap_or_else(|| panic!("case {}: args.{key}Base64 is not base64", case.name))
}

fn string_map(case: &Case, key: &str) -> BTreeMap<String, String> {
    let map = case.args[key].as_object().unwrap_or_else(|| panic!("case {}: args.{key} is not an object", case.name));
    map.iter()
        .map(|(name, value)| {
            let value =
                value.as_str().unwrap_or_else(|| panic!("case {}: args.{key}.{name} is not a string", case.name));
            (name.clone(), value.to_owned())
        })
        .collect()
}

fn vectors_arg(case: &Case, key: &str) -> BTreeMap<String, pb::Vector> {
    let map = case.args[key].as_object().unwrap_or_else(|| panic!("case {}: args.{key} is not an object", case.name));
    map.iter()
        .map(|(name, values)| {
            let values = values
                .as_array()
                .and_then(|values| values.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                .unwrap_or_else(|| panic!("case {}: args.{key}.{name} is not a list of numbers", case.name));
            (name.clone(), pb::Vector { values })
        })
        .collect()
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|byte| *byte != b'=') {
        let value = ALPHABET.iter().position(|candidate| *candidate == byte)?;
        bits = (bits << 6) | value as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// The protocol call of a case.
pub fn call(case: &Case) -> pb::Call {
    use pb::call::Args;
    let args = match function_of(&case.function) {
        pb::Function::SingleFileParserGetS3FileType => Args::GetS3FileType(pb::GetS3FileTypeArgs {}),
        pb::Function::SingleFileParserGetResolvedS3FileName => {
            Args::GetResolvedS3FileName(pb::GetResolvedS3FileNameArgs {
                s3_file_type: arg(case, "s3FileType"),
                file_name: arg(case, "fileName"),
            })
        }
        pb::Function::SingleFileParserGetRecordStartPattern => {
            Args::GetRecordStartPattern(pb::FileTypeArgs { s3_file_type: arg(case, "s3FileType") })
        }
        pb::Function::SingleFileParserGetRecordEndPattern => {
            Args::GetRecordEndPattern(pb::FileTypeArgs { s3_file_type: arg(case, "s3FileType") })
        }
        pb::Function::SingleFileParserParseDocument => Args::ParseDocument(pb::ParseDocumentArgs {
            s3_file_type: arg(case, "s3FileType"),
            file_name: arg(case, "fileName"),
            offset_bytes: case.args["offsetBytes"]
                .as_u64()
                .unwrap_or_else(|| panic!("case {}: args.offsetBytes is not an unsigned integer", case.name)),
            content: bytes_arg(case, "record").into(),
        }),
        pb::Function::QueueMessageReaderParseMessage => Args::QueueMessage(pb::QueueMessageArgs {
            message_id: arg(case, "messageId"),
            message_group_id: optional_arg(case, "messageGroupId"),
            message_deduplication_id: optional_arg(case, "messageDeduplicationId"),
            message_attributes: string_map(case, "messageAttributes"),
            message_body: arg(case, "messageBody"),
        }),
        pb::Function::KinesisRecordReaderParseMessage => Args::KinesisRecord(pb::KinesisRecordArgs {
            stream_arn: arg(case, "streamArn"),
            shard_id: arg(case, "shardId"),
            partition_key: arg(case, "partitionKey"),
            sequence_number: arg(case, "sequenceNumber"),
            approximate_arrival_timestamp_ms: int_arg(case, "approximateArrivalTimestamp"),
            data: bytes_arg(case, "data").into(),
        }),
        pb::Function::DynamodbStreamsRecordReaderParseRecord => {
            Args::DynamodbStreamsRecord(pb::DynamoDbStreamsRecordArgs {
                stream_arn: arg(case, "streamArn"),
                shard_id: arg(case, "shardId"),
                event_id: arg(case, "eventId"),
                event_name: arg(case, "eventName"),
                identity_principal_id: optional_arg(case, "identityPrincipalId"),
                identity_type: optional_arg(case, "identityType"),
                sequence_number: arg(case, "sequenceNumber"),
                size_bytes: int_arg(case, "sizeBytes"),
                stream_view_type: arg(case, "streamViewType"),
                approximate_creation_date_time_s: int_arg(case, "approximateCreationDateTime"),
                keys_json: json_arg(case, "keys"),
                old_image_json: json_arg(case, "oldImage"),
                new_image_json: json_arg(case, "newImage"),
            })
        }
        pb::Function::DynamodbTableItemReaderParseDynamodbItem => Args::DynamodbTableItem(pb::DynamoDbTableItemArgs {
            table_name: arg(case, "tableName"),
            segment_number: u32::try_from(int_arg(case, "segmentNumber"))
                .unwrap_or_else(|_| panic!("case {}: args.segmentNumber does not fit a u32", case.name)),
            keys_json: json_arg(case, "keys"),
            item_json: json_arg(case, "item"),
        }),
        pb::Function::SagemakerVectorsExtractDocumentElements => {
            Args::ExtractDocumentElements(pb::ExtractDocumentElementsArgs { document_json: json_arg(case, "document") })
        }
        pb::Function::SagemakerVectorsConstructVectorDoc => Args::ConstructVectorDoc(pb::ConstructVectorDocArgs {
            document_json: json_arg(case, "documentInterface"),
            vectors: vectors_arg(case, "vectorsMap"),
        }),
        pb::Function::Unspecified => unreachable!("function_of never returns Unspecified"),
    };
    pb::Call { args: Some(args) }
}

/// One request holding the calls of `cases`, which share a function.
pub fn request(cases: &[&Case]) -> pb::InvokeRequest {
    let function = function_of(&cases.first().expect("at least one case").function);
    pb::InvokeRequest {
        function: function.into(),
        calls: cases.iter().map(|case| call(case)).collect(),
        call_timeout_ms: 0,
        traceparent: String::new(),
    }
}

fn utf8(bytes: &[u8], what: &str) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => json!({ "nonUtf8": format!("{bytes:?}"), "field": what }),
    }
}

/// An outcome in the language-neutral form `cases.json` expects, and the
/// traceback of a user error (kept apart: it differs between languages).
pub fn render(outcome: &pb::Outcome) -> (Value, Option<String>) {
    use pb::outcome::Result as R;
    match &outcome.result {
        Some(R::Text(text)) => (json!({ "text": text }), None),
        Some(R::Hint(hint)) => {
            let kind = match hint.hint_type() {
                pb::RecordHintType::Pattern => "PATTERN",
                pb::RecordHintType::Offset => "OFFSET",
                pb::RecordHintType::Unspecified => "UNSPECIFIED",
            };
            (
                json!({ "hint": { "type": kind, "pattern": utf8(&hint.pattern, "pattern"), "offset": hint.offset } }),
                None,
            )
        }
        Some(R::Parsed(parsed)) => {
            let status = match parsed.status() {
                pb::ParseStatus::Success => "SUCCESS",
                pb::ParseStatus::Error => "ERROR",
                pb::ParseStatus::Skip => "SKIP",
                pb::ParseStatus::Unspecified => "UNSPECIFIED",
            };
            let document = parsed.document.as_ref().map_or(Value::Null, render_document);
            (
                json!({ "parsed": { "status": status, "nextRecordType": parsed.next_record_type, "document": document } }),
                None,
            )
        }
        Some(R::Error(error)) => (
            json!({ "error": { "type": error.error_type, "message": error.message, "retryable": error.retryable } }),
            Some(error.traceback.clone()),
        ),
        Some(R::Elements(elements)) => (json!({ "elements": elements.entries }), None),
        Some(R::Document(document)) => (json!({ "document": render_document(document) }), None),
        None => (json!({ "none": true }), None),
    }
}

fn render_document(document: &pb::Document) -> Value {
    let kind = match document.document_type() {
        pb::DocumentType::Document => "Document",
        pb::DocumentType::ErrorDoc => "ErrorDoc",
        pb::DocumentType::SkipDoc => "SkipDoc",
        pb::DocumentType::Unspecified => "Unspecified",
    };
    json!({
        "documentType": kind,
        "documentId": document.document_id,
        "recordType": document.record_type,
        "partitionKey": document.partition_key,
        "flatJson": utf8(&document.flat_json, "flat_json"),
        "message": document.message,
        "startOffsets": document.start_offsets,
        "endOffsets": document.end_offsets,
    })
}
