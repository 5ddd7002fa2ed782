//! The cross-language conformance suite's shared parts: the Rust twin of
//! `tests/conformance/handler.py` and `handler.mjs`, the cases of
//! `tests/conformance/cases.json`, and a language-neutral rendering of an
//! outcome that the cases' expectations are written in.
//!
//! See `tests/conformance/README.md`.

use std::path::PathBuf;

use ferry_bridge::host::rust::{
    Document, HandlerFailure, ParseDocumentResult, ParseDocumentResultStatus, RecordParseHint, RustHandlers,
    SingleFileParser,
};
use ferry_proto::pb;
use serde_json::{Map, Value, json};

/// `tests/conformance`, where the cases and the Python and JS handlers are.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance").canonicalize().expect("tests/conformance exists")
}

/// The Rust conformance handler, registered as a `SingleFileParser`.
pub fn rust_handlers() -> RustHandlers {
    RustHandlers::new("ferry-conformance", "0.1.0").single_file_parser(ConformanceParser)
}

/// The Rust twin of the Python and JS conformance handlers. A failure
/// carries no traceback: Rust has none to give (see the README).
#[derive(Debug)]
pub struct ConformanceParser;

fn conformance_error(message: &str) -> HandlerFailure {
    HandlerFailure::new("ConformanceError", message)
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
            let hex: String = rest.iter().map(|byte| format!("{byte:02x}")).collect();
            return Ok(ParseDocumentResult::success(
                Document::new(format!("bin@{offset_bytes}"), "Binary")
                    .with_partition_key(s3_filename)
                    .with_value("hex", hex)
                    .with_value("length", length),
            ));
        }
        let text = std::str::from_utf8(record)?;
        let (command, argument) = text.split_once(':').unwrap_or((text, ""));
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
            "retry" => return Err(HandlerFailure::new("RetryableError", argument).retryable()),
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
            other => return Err(conformance_error(&format!("unknown command {other}"))),
        })
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

/// The protocol function of a method name.
pub fn function_of(name: &str) -> pb::Function {
    match name {
        "getS3FileType" => pb::Function::SingleFileParserGetS3FileType,
        "getResolvedS3FileName" => pb::Function::SingleFileParserGetResolvedS3FileName,
        "getRecordStartPattern" => pb::Function::SingleFileParserGetRecordStartPattern,
        "getRecordEndPattern" => pb::Function::SingleFileParserGetRecordEndPattern,
        "parseDocument" => pb::Function::SingleFileParserParseDocument,
        other => panic!("unknown function {other:?} in cases.json"),
    }
}

fn arg(case: &Case, key: &str) -> String {
    case.args[key].as_str().unwrap_or_else(|| panic!("case {}: args.{key} is not a string", case.name)).to_owned()
}

/// The record of a parseDocument case: `args.record` (UTF-8 text) or
/// `args.recordBase64` (any bytes).
fn record(case: &Case) -> Vec<u8> {
    if let Some(text) = case.args["record"].as_str() {
        return text.as_bytes().to_vec();
    }
    let encoded = case.args["recordBase64"]
        .as_str()
        .unwrap_or_else(|| panic!("case {}: parseDocument needs args.record or args.recordBase64", case.name));
    base64_decode(encoded).unwrap_or_else(|| panic!("case {}: args.recordBase64 is not base64", case.name))
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
            content: record(case).into(),
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
            let document = parsed.document.as_ref().map_or(Value::Null, |document| {
                let kind = match document.document_type() {
                    pb::DocumentType::Document => "Document",
                    pb::DocumentType::ErrorDoc => "ErrorDoc",
                    pb::DocumentType::SkipDoc => "SkipDoc",
                    pb::DocumentType::Unspecified => "Unspecified",
                };
                let offsets = |map: &std::collections::BTreeMap<String, String>| {
                    Value::Object(map.iter().map(|(key, value)| (key.clone(), json!(value))).collect())
                };
                json!({
                    "documentType": kind,
                    "documentId": document.document_id,
                    "recordType": document.record_type,
                    "partitionKey": document.partition_key,
                    "flatJson": utf8(&document.flat_json, "flat_json"),
                    "message": document.message,
                    "startOffsets": offsets(&document.start_offsets),
                    "endOffsets": offsets(&document.end_offsets),
                })
            });
            (
                json!({ "parsed": { "status": status, "nextRecordType": parsed.next_record_type, "document": document } }),
                None,
            )
        }
        Some(R::Error(error)) => (
            json!({ "error": { "type": error.error_type, "message": error.message, "retryable": error.retryable } }),
            Some(error.traceback.clone()),
        ),
        None => (json!({ "none": true }), None),
    }
}
