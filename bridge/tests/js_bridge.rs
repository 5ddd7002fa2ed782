//! The `ferry-bridge` binary with a JavaScript handler, seen from a gRPC
//! client: handshake, handlers that fail to load, documents and their flat
//! JSON, user errors, async handlers, the handler layouts, call timeouts
//! and batches running on several workers at once.
//!
//! Most tests use `fixtures/js/parser.mjs`, whose records are commands: the
//! record "echo:x" runs the fixture's `echo` with the argument "x".

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    Client, RunningBridge, expect_document, expect_flat_json, expect_parsed, expect_user_error, expected_digest,
    fixture, handshake_request, invoke, line_of, parse_call, parse_one, parse_request, request,
};
use ferry_proto::pb;
use tonic::Code;

/// Upper bound for a gate to open; only a guard against a hung test.
const GATE_DEADLINE: Duration = Duration::from_secs(60);

fn start_js(handler: &Path) -> RunningBridge {
    RunningBridge::start_with("js", handler, &[])
}

fn parser() -> PathBuf {
    fixture("js/parser.mjs")
}

/// Writes `source` as `name` in a fresh tempdir and returns the dir (keep
/// it alive) and the file's resolved path, as load errors name it.
fn handler_file(name: &str, source: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("create a tempdir for the handler");
    let path = dir.path().join(name);
    std::fs::write(&path, source).expect("write the handler");
    let path = path.canonicalize().expect("resolve the handler path");
    (dir, path)
}

fn offsets(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|&(key, value)| (key.to_owned(), value.to_owned())).collect()
}

/// A field of a document's flat JSON.
fn flat_field(outcome: &pb::Outcome, key: &str) -> serde_json::Value {
    let flat: serde_json::Value = serde_json::from_str(expect_flat_json(outcome)).expect("flat_json is JSON");
    flat[key].clone()
}

/// Runs one call of a function that takes a file type (or nothing).
async fn call_one(client: &mut Client, function: pb::Function, args: pb::call::Args) -> pb::Outcome {
    let outcomes = invoke(client, request(function, vec![pb::Call { args: Some(args) }])).await;
    outcomes.into_iter().next().expect("one outcome")
}

#[tokio::test]
async fn handshake_describes_the_js_handler() {
    let handler = parser();
    let bridge = start_js(&handler);
    let mut client = bridge.client().await;

    let response = client.handshake(handshake_request()).await.expect("handshake").into_inner();

    assert_eq!(response.language(), pb::Language::Javascript);
    assert!(
        response.runtime_version.starts_with("QuickJS (deno_core 0.413."),
        "runtime_version is {:?}",
        response.runtime_version
    );
    assert_eq!(response.interfaces, vec![i32::from(pb::Interface::SingleFileParser)]);
    let root = handler.parent().expect("the fixture has a directory");
    assert_eq!(response.handler_digest, expected_digest(root, &[&handler]));
    assert_eq!(response.bridge_version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn a_directory_with_handler_mjs_is_that_handler_with_the_same_digest() {
    let source = "export class SingleFileParser {\n  getS3FileType() {\n    return \"V1\";\n  }\n}\n";
    let (dir, handler) = handler_file("handler.mjs", source);
    // "javascript" is accepted for "js".
    let bridge = RunningBridge::start_with("javascript", dir.path(), &[]);
    let mut client = bridge.client().await;

    let digest = client.handshake(handshake_request()).await.expect("handshake").into_inner().handler_digest;

    assert_eq!(digest, expected_digest(dir.path(), &[&handler]));
    let file_type = call_one(
        &mut client,
        pb::Function::SingleFileParserGetS3FileType,
        pb::call::Args::GetS3FileType(pb::GetS3FileTypeArgs {}),
    )
    .await;
    assert_eq!(file_type.result, Some(pb::outcome::Result::Text("V1".to_owned())));
}

/// Starts a bridge on a handler that cannot load, and checks that both the
/// handshake and an invoke report `message` as FAILED_PRECONDITION.
async fn assert_load_failure(handler: &Path, extra_args: &[&str], message: &str) {
    let bridge = RunningBridge::start_with("js", handler, extra_args);
    let mut client = bridge.client().await;

    let status = client.handshake(handshake_request()).await.expect_err("the handshake fails");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), message);

    let status = client.invoke(parse_request(&["echo"])).await.expect_err("invoke fails");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), format!("handler not loaded: {message}"));
}

#[tokio::test]
async fn handler_with_a_syntax_error_fails_naming_file_line_and_column() {
    let source = "import { SingleFileParser } from \"ferry\";\n\n\
                  export class Broken extends SingleFileParser {\n  parseDocument( {\n  }\n}\n";
    let (_dir, handler) = handler_file("broken.mjs", source);
    let file = handler.display();
    let message = format!("cannot import handler {file}: SyntaxError: Unexpected token '}}' (at {file}:6:1)");
    assert_load_failure(&handler, &[], &message).await;
}

#[tokio::test]
async fn handler_without_a_handler_class_fails_naming_the_file() {
    let (_dir, handler) = handler_file("functions_only.mjs", "export function parseDocument() {}\n");
    let message = format!(
        "{} defines no handler class: export a class that extends one of ferry.SingleFileParser, \
         ferry.QueueMessageReader, ferry.KinesisRecordReader, ferry.DynamoDBStreamsRecordReader, \
         ferry.DynamoDBTableItemReader, ferry.SagemakerVectorsInterface, or a class named like one of them",
        handler.display()
    );
    assert_load_failure(&handler, &[], &message).await;
}

#[tokio::test]
async fn handler_throwing_at_module_level_fails_naming_file_and_error() {
    let source = "import \"ferry\";\n\nfunction configure() {\n  \
                  throw new RangeError(\"no config for this environment\");\n}\nconfigure();\n";
    let (_dir, handler) = handler_file("throws.mjs", source);
    let file = handler.display();
    let message = format!("cannot import handler {file}: RangeError: no config for this environment (at {file}:4:9)");
    assert_load_failure(&handler, &[], &message).await;
}

#[tokio::test]
async fn handler_importing_what_the_bridge_cannot_load_fails_saying_so() {
    let dir = tempfile::tempdir().expect("create a tempdir");
    let root = dir.path().canonicalize().expect("resolve the tempdir");
    let cases = [
        (
            "missing.mjs",
            "import { helper } from \"./nowhere.mjs\";\nexport class SingleFileParser {}\n",
            format!(
                "cannot read {} (imported from {}:1:24): No such file or directory (os error 2)",
                root.join("nowhere.mjs").display(),
                root.join("missing.mjs").display()
            ),
        ),
        (
            "package.mjs",
            "import _ from \"lodash\";\nexport class SingleFileParser {}\n",
            format!(
                "cannot resolve \"lodash\" imported from file://{}: the ferry bridge imports \"ferry\" \
                 and relative or absolute paths, not packages from node_modules",
                root.join("package.mjs").display()
            ),
        ),
        (
            "node.mjs",
            "import fs from \"node:fs\";\nexport class SingleFileParser {}\n",
            format!(
                "cannot import node:fs (imported from {}:1:16): Node built-in modules are not \
                 available in the ferry bridge",
                root.join("node.mjs").display()
            ),
        ),
    ];
    for (name, source, cause) in cases {
        let handler = root.join(name);
        std::fs::write(&handler, source).expect("write the handler");
        let message = format!("cannot import handler {}: {cause}", handler.display());
        assert_load_failure(&handler, &[], &message).await;
    }
}

#[tokio::test]
async fn handler_looping_while_loading_is_interrupted_and_fails() {
    let (_first, at_top_level) = handler_file("loops.mjs", "export class SingleFileParser {}\nfor (;;) {}\n");
    let (_second, in_constructor) =
        handler_file("constructs.mjs", "export class SingleFileParser {\n  constructor() {\n    for (;;) {}\n  }\n}\n");
    let cases = [
        (&at_top_level, "cannot import handler", "its top-level code ran"),
        (&in_constructor, "cannot instantiate the handler classes of", "it ran"),
    ];
    for (handler, context, what) in cases {
        let message = format!("{context} {}: {what} longer than 200 ms and was interrupted", handler.display());
        assert_load_failure(handler, &["--call-timeout-ms", "200"], &message).await;
    }
}

#[tokio::test]
async fn missing_handler_path_fails_naming_it() {
    let dir = tempfile::tempdir().expect("create a tempdir");
    let handler = dir.path().canonicalize().expect("resolve the tempdir").join("nowhere.mjs");
    let message = format!("handler path {} does not exist", handler.display());
    assert_load_failure(&handler, &[], &message).await;
}

#[tokio::test]
async fn a_batch_has_one_outcome_per_record_in_call_order() {
    let bridge = start_js(&parser());
    let mut client = bridge.client().await;
    let records = ["echo:first", "skip:second", "echo:third", "type-error", "error:fifth", "async-echo:sixth"];

    let outcomes = invoke(&mut client, parse_request(&records)).await;

    let summary: Vec<String> = outcomes
        .iter()
        .map(|outcome| match &outcome.result {
            Some(pb::outcome::Result::Parsed(parsed)) => {
                let document = parsed.document.as_ref().expect("a document");
                format!("{:?} {} {}", parsed.status(), document.document_id, document.partition_key)
            }
            Some(pb::outcome::Result::Error(error)) => format!("error {}", error.error_type),
            other => format!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "Success data.jsonl@0 first",
            "Skip skipped-1 pk-skip",
            "Success data.jsonl@200 third",
            "error TypeError",
            "Error error-1 pk-error",
            "Success data.jsonl@500 sixth",
        ]
    );
}

#[tokio::test]
async fn success_document_is_flat_json_in_document_order() {
    let bridge = start_js(&parser());
    let mut client = bridge.client().await;

    let outcome = parse_one(&mut client, "rich").await;

    let parsed = expect_parsed(&outcome);
    assert_eq!(parsed.status(), pb::ParseStatus::Success);
    assert_eq!(parsed.next_record_type, None);
    let document = expect_document(&outcome);
    assert_eq!(document.document_type(), pb::DocumentType::Document);
    assert_eq!(
        (document.document_id.as_str(), document.record_type.as_str(), document.partition_key.as_str()),
        ("doc-1", "Rich", "pk-1")
    );
    assert_eq!(document.message, "");
    assert!(document.start_offsets.is_empty() && document.end_offsets.is_empty());
    // The reserved names inside the body are left out, and so is the
    // undefined value, as JSON.stringify leaves it out.
    assert_eq!(
        expect_flat_json(&outcome),
        r#"{"documentId":"doc-1","recordType":"Rich","partitionKey":"pk-1","documentMetadata":{"source":"fixture","version":2},"title":"Zürich → 東京","price":12.5,"ratio":0.1,"negative":-7,"missing":null,"tags":["a",1,null,true,[2.25,{"k":"v"}]],"nested":{"inner":{"flag":false}},"quote":"say \"hi\"\n\t\\"}"#
    );
}

#[tokio::test]
async fn a_map_body_keeps_its_insertion_order_and_a_bare_document_has_empty_metadata() {
    let bridge = start_js(&parser());
    let mut client = bridge.client().await;

    let outcomes = invoke(&mut client, parse_request(&["ordered", "bare"])).await;

    assert_eq!(
        expect_flat_json(&outcomes[0]),
        r#"{"documentId":"doc","recordType":"Test","partitionKey":"pk","documentMetadata":{},"zeta":1,"10":"ten","alpha":2,"2":"two"}"#
    );
    assert_eq!(
        expect_flat_json(&outcomes[1]),
        r#"{"documentId":"bare","recordType":null,"partitionKey":null,"documentMetadata":{}}"#
    );
    let bare = expect_document(&outcomes[1]);
    assert_eq!((bare.record_type.as_str(), bare.partition_key.as_str()), ("", ""));
}

#[tokio::test]
async fn documents_of_every_shape_are_written_as_the_sdks_flat_json_writes_them() {
    let bridge = start_js(&parser());
    let mut client = bridge.client().await;
    // The bridge writes most of these itself and leaves the rest (toJSON,
    // boxed values, lone surrogates, deep nesting, Maps and Sets) to the
    // SDK: either way the bytes must be the SDK's.
    let cases = [
        "plain",
        "json",
        "null-prototype",
        "instance",
        "empty",
        "metadata-only",
        "map",
        "reserved",
        "numbers",
        "random-numbers",
        "strings",
        "lone-surrogates",
        "replacement-character",
        "engine-rules",
        "to-json",
        "deep",
        "odd-bodies",
        "set-body",
    ];
    let records: Vec<String> = cases.iter().map(|case| format!("flat-check:{case}")).collect();

    let outcomes = invoke(&mut client, parse_request(&records)).await;

    // The fixture puts the SDK's flatJson of each document in its message.
    for (case, outcome) in cases.iter().zip(&outcomes) {
        let document = expect_document(outcome);
        assert_eq!(std::str::from_utf8(&document.flat_json).expect("UTF-8"), document.message, "{case}");
    }
    let document =
        |case: &str| expect_document(&outcomes[cases.iter().position(|name| *name == case).expect("a case")]);
    assert_eq!(
        document("plain").message,
        r#"{"documentId":"p","recordType":"Plain","partitionKey":"k","documentMetadata":{},"2":"two","10":"ten","a":1,"b":[true,null,{"c":"d"}],"f":"Zürich → 東京"}"#
    );
    assert!(
        document("numbers").message.contains(
            r#""negativeZero":0,"maxSafe":9007199254740991,"twoTo53":9007199254740992,"negativeLarge":-4611686018427388000,"huge":1e+21,"#
        ),
        "{}",
        document("numbers").message
    );
    // Ids that are not strings travel as their JSON text.
    let numbers = document("numbers");
    let texts = (numbers.document_id.as_str(), numbers.record_type.as_str(), numbers.partition_key.as_str());
    assert_eq!(texts, ("1.5", "0", "1152921504606847000"));
    let to_json = document("to-json");
    assert_eq!(to_json.document_id, r#""key:""#);
    assert_eq!(document("set-body").partition_key, "false");
}

#[tokio::test]
async fn handlers_have_text_codecs_and_a_console() {
    let bridge = start_js(&parser());
    let mut client = bridge.client().await;

    let outcome = parse_one(&mut client, "globals").await;

    // A BOM is dropped unless asked to keep it; an invalid byte becomes
    // U+FFFD unless the decoder is fatal.
    let expected = format!(
        r#"{{"documentId":"doc","recordType":"Test","partitionKey":"pk","documentMetadata":{{}},"decoded":"a","keptBom":2,"replaced":"a{}b","fatal":"TypeError","encoded":[195,159,226,130,172]}}"#,
        char::REPLACEMENT_CHARACTER
    );
    assert_eq!(expect_flat_json(&outcome), expected);
    bridge.wait_for_log("the handler writes to stderr").await;
}

#[tokio::test]
async fn record_reaches_javascript_as_a_whole_uint8array_with_its_offset() {
    let bridge = start_js(&parser());
    let mut client = bridge.client().await;
    let mut call = parse_call(123_456_789_012, "echo:größe".as_bytes());
    if let Some(pb::call::Args::ParseDocument(args)) = &mut call.args {
        args.s3_file_type = "WET".to_owned();
        args.file_name = "crawl/part-7.warc.wet".to_owned();
    }

    let outcomes = invoke(&mut client, request(pb::Function::SingleFileParserParseDocument, vec![call])).await;

    // endIndex and length count bytes: "ö" and "ß" take two each.
    assert_eq!(
        expect_flat_json(&outcomes[0]),
        r#"{"documentId":"crawl/part-7.warc.wet@123456789012","recordType":"Echo","partitionKey":"größe","documentMetadata":{},"s3FileType":"WET","s3Filename":"crawl/part-7.warc.wet","offsetBytes":123456789012,"byteArrType":"Uint8Array","startIndex":0,"endIndex":12,"length":12,"argument":"größe","calls":1}"#
    );
}

#[tokio::test]
async fn same_handler_logic_in_python_and_javascript_writes_byte_identical_documents() {
    // One directory holds handler.py and handler.mjs with the same logic.
    let handler = fixture("js/parity");
    let records = [
        r#"{"id":"a-1","group":"g","meta":{"v":1},"title":"Zürich → 東京","price":12.5,"ratio":0.1,"n":-7,"ok":true,"none":null,"tags":["x",1,[2.25,{"k":"v"}]],"quote":"say \"hi\"\n\t\\ \u0001"}"#,
        r#"{"documentId":"shadowed","nested":{"deep":{"deeper":[{"a":[]},{}]}},"emoji":"🙂"}"#,
        "not json",
    ];
    let python = RunningBridge::start(&handler);
    let javascript = start_js(&handler);

    let from_python = invoke(&mut python.client().await, parse_request(&records)).await;
    let from_javascript = invoke(&mut javascript.client().await, parse_request(&records)).await;

    for (index, (py, js)) in from_python.iter().zip(&from_javascript).enumerate() {
        let (py, js) = (expect_parsed(py), expect_parsed(js));
        assert_eq!(js.status(), py.status(), "record {index}");
        let (py, js) = (py.document.as_ref().expect("a document"), js.document.as_ref().expect("a document"));
        assert_eq!(
            std::str::from_utf8(&js.flat_json).expect("UTF-8"),
            std::str::from_utf8(&py.flat_json).expect("UTF-8"),
            "record {index}"
        );
        assert_eq!(js, py, "record {index}");
    }
    assert_eq!(
        std::str::from_utf8(&expect_document(&from_javascript[0]).flat_json).expect("UTF-8"),
        r#"{"documentId":"a-1","recordType":"Record","partitionKey":"g","documentMetadata":{"v":1},"id":"a-1","group":"g","meta":{"v":1},"title":"Zürich → 東京","price":12.5,"ratio":0.1,"n":-7,"ok":true,"none":null,"tags":["x",1,[2.25,{"k":"v"}]],"quote":"say \"hi\"\n\t\\ \u0001","bytes":188,"source":{"file":"data.jsonl","offset":0}}"#
    );
}

#[tokio::test]
async fn throwing_record_is_a_user_error_with_its_stack_and_the_batch_goes_on() {
    let handler = parser();
    let bridge = start_js(&handler);
    let mut client = bridge.client().await;

    let outcomes = invoke(&mut client, parse_request(&["echo:before", "type-error", "echo:after"])).await;

    assert_eq!(expect_document(&outcomes[0]).partition_key, "before");
    assert_eq!(expect_document(&outcomes[2]).partition_key, "after");
    let error = expect_user_error(&outcomes[1]);
    assert_eq!(error.error_type, "TypeError");
    assert_eq!(error.message, "Cannot read properties of null (reading 'missing')");
    assert!(!error.retryable);
    let url = format!("file://{}", handler.display());
    let raise = line_of(&handler, "// throws TypeError");
    let dispatch = line_of(&handler, "// dispatch");
    let stack = &error.traceback;
    assert!(stack.starts_with("TypeError: Cannot read properties of null (reading 'missing')\n"), "{stack}");
    assert!(stack.contains(&format!("typeError [as type-error] ({url}:{raise}:")), "{stack}");
    assert!(stack.contains(&format!("at TestParser.parseDocument ({url}:{dispatch}:")), "{stack}");
    // The bridge's own frames are left out.
    assert!(!stack.contains("ferry-bridge:///glue.js"), "{stack}");
}

#[tokio::test]
async fn only_errors_marked_retryable_are_retryable() {
    let bridge = start_js(&parser());
    let mut client = bridge.client().await;

    let outcomes =
        invoke(&mut client, parse_request(&["retryable", "transient", "range-error:42", "throw-string"])).await;

    let errors: Vec<(&str, &str, bool)> = outcomes
        .iter()
        .map(expect_user_error)
        .map(|error| (error.error_type.as_str(), error.message.as_str(), error.retryable))
        .collect();
    assert_eq!(
        errors,
        [
            ("RetryableError", "throttled, try again", true),
            ("TransientError", "upstream busy", true),
            ("RangeError", "bad value 42", false),
            ("string", "just a string", false),
        ]
    );
    assert_eq!(expect_user_error(&outcomes[3]).traceback, "");
}

#[tokio::test]
async fn skip_result_carries_the_skip_doc() {
    let bridge = start_js(&parser());
    let mut client = bridge.client().await;

    let outcomes = invoke(&mut client, parse_request(&["skip:a comment line", "skip-without-document"])).await;

    let parsed = expect_parsed(&outcomes[0]);
    assert_eq!(parsed.status(), pb::ParseStatus::Skip);
    let document = parsed.document.as_ref().expect("a skip doc");
    assert_eq!(document.document_type(), pb::DocumentType::SkipDoc);
    assert_eq!(document.message, "skipped a comment line");
    assert_eq!(
        (document.document_id.as_str(), document.record_type.as_str(), document.partition_key.as_str()),
        ("skipped-1", "Skip", "pk-skip")
    );
    // "skip:a comment line" is 19 bytes long, read at offset 0.
    assert_eq!(document.start_offsets, offsets(&[("JSONL", "0")]));
    assert_eq!(document.end_offsets, offsets(&[("JSONL", "19")]));
    let no_document =
        pb::ParseDocumentResult { status: pb::ParseStatus::Skip.into(), next_record_type: None, document: None };
    assert_eq!(expect_parsed(&outcomes[1]), &no_document);
}

#[tokio::test]
async fn error_result_carries_the_error_doc_with_offsets_as_strings() {
    let bridge = start_js(&parser());
    let mut client = bridge.client().await;

    // The second record of the batch, so it is read at offset 100.
    let outcomes = invoke(&mut client, parse_request(&["echo", "error:line 3"])).await;

    let parsed = expect_parsed(&outcomes[1]);
    assert_eq!(parsed.status(), pb::ParseStatus::Error);
    let document = parsed.document.as_ref().expect("an error doc");
    assert_eq!(document.document_type(), pb::DocumentType::ErrorDoc);
    assert_eq!(document.message, "cannot parse line 3");
    assert_eq!(document.document_id, "error-1");
    assert_eq!(document.start_offsets, offsets(&[("JSONL", "100"), ("line", "3")]));
    assert_eq!(document.end_offsets, offsets(&[("JSONL", "112"), ("line", "4")]));
    assert_eq!(
        std::str::from_utf8(&document.flat_json).expect("UTF-8"),
        r#"{"documentId":"error-1","recordType":"Error","partitionKey":"pk-error","documentMetadata":{}}"#
    );
}

#[tokio::test]
async fn malformed_and_unserializable_results_fail_only_their_record() {
    let bridge = start_js(&parser());
    let mut client = bridge.client().await;
    let records = [
        "null",
        "echo:fine",
        "unknown-status",
        "success-without-document",
        "not-a-result",
        "bigint",
        "nan",
        "infinity",
        "nested-map",
        "nested-nan",
        "function-value",
        "cycle",
        "throwing-getter",
        "unserializable-with-bad-offsets",
    ];

    let outcomes = invoke(&mut client, parse_request(&records)).await;

    assert_eq!(expect_document(&outcomes[1]).partition_key, "fine");
    let invalid = "parseDocument returned an invalid ParseDocumentResult: ";
    let unserializable = "parseDocument returned a document that cannot be serialized: ";
    for (index, error_type, message) in [
        (0, "InvalidHandlerResult", format!("{invalid}got null")),
        (2, "InvalidHandlerResult", format!(r#"{invalid}status is "MAYBE"; expected SUCCESS, ERROR or SKIP"#)),
        (3, "InvalidHandlerResult", format!("{invalid}status is SUCCESS but there is no document")),
        (4, "InvalidHandlerResult", format!("{invalid}string has no property status")),
        (5, "TypeError", format!("{unserializable}Object of type bigint is not JSON serializable")),
        (6, "TypeError", format!("{unserializable}Out of range float values are not JSON compliant: NaN")),
        (7, "TypeError", format!("{unserializable}Out of range float values are not JSON compliant: -Infinity")),
        (8, "TypeError", format!("{unserializable}Object of type Map is not JSON serializable")),
        (9, "TypeError", format!("{unserializable}Out of range float values are not JSON compliant: NaN")),
        (10, "TypeError", format!("{unserializable}Object of type function is not JSON serializable")),
        (11, "TypeError", format!("{unserializable}circular reference")),
        (12, "RangeError", format!("{unserializable}the getter failed")),
        // The document is serialized before its offsets are checked.
        (13, "TypeError", format!("{unserializable}Out of range float values are not JSON compliant: NaN")),
    ] {
        let error = expect_user_error(&outcomes[index]);
        assert_eq!(
            (error.error_type.as_str(), error.message.as_str(), error.traceback.as_str(), error.retryable),
            (error_type, message.as_str(), "", false),
            "record {index}"
        );
    }
}

#[tokio::test]
async fn promises_are_awaited_and_their_rejections_are_user_errors() {
    let bridge = start_js(&parser());
    let mut client = bridge.client().await;

    let records = [
        "async-echo:later",
        "async-error:7",
        "never-settles",
        "echo:still-here",
        "floating-rejection:unhandled",
        "async-echo:after-it",
    ];
    let outcomes = invoke(&mut client, parse_request(&records)).await;

    assert_eq!(expect_document(&outcomes[0]).partition_key, "later");
    let rejected = expect_user_error(&outcomes[1]);
    assert_eq!((rejected.error_type.as_str(), rejected.message.as_str()), ("RangeError", "rejected 7"));
    assert!(rejected.traceback.starts_with("RangeError: rejected 7\n"), "{}", rejected.traceback);
    let unsettled = expect_user_error(&outcomes[2]);
    assert_eq!(
        (unsettled.error_type.as_str(), unsettled.message.as_str()),
        ("UnsettledPromise", "the Promise parseDocument returned never settled: nothing was left for it to wait for")
    );
    assert_eq!(expect_document(&outcomes[3]).partition_key, "still-here");
    // A promise the handler rejects and leaves alone fails no record: it is
    // reported on stderr.
    assert_eq!(expect_document(&outcomes[4]).partition_key, "unhandled");
    assert_eq!(expect_document(&outcomes[5]).partition_key, "after-it");
    bridge
        .wait_for_log("a promise of the handler was rejected and never handled: RangeError: nobody waits for this")
        .await;
}

#[tokio::test]
async fn file_type_and_resolved_name_come_back_as_text_and_patterns_as_hints() {
    let bridge = start_js(&parser());
    let mut client = bridge.client().await;
    let file_type = |name: &str| pb::FileTypeArgs { s3_file_type: name.to_owned() };

    let text = call_one(
        &mut client,
        pb::Function::SingleFileParserGetS3FileType,
        pb::call::Args::GetS3FileType(pb::GetS3FileTypeArgs {}),
    )
    .await;
    let resolved = call_one(
        &mut client,
        pb::Function::SingleFileParserGetResolvedS3FileName,
        pb::call::Args::GetResolvedS3FileName(pb::GetResolvedS3FileNameArgs {
            s3_file_type: "WET".to_owned(),
            file_name: "part-1.wet.gz".to_owned(),
        }),
    )
    .await;
    let start = call_one(
        &mut client,
        pb::Function::SingleFileParserGetRecordStartPattern,
        pb::call::Args::GetRecordStartPattern(file_type("WARC")),
    )
    .await;
    let end = call_one(
        &mut client,
        pb::Function::SingleFileParserGetRecordEndPattern,
        pb::call::Args::GetRecordEndPattern(file_type("WARC")),
    )
    .await;

    assert_eq!(text.result, Some(pb::outcome::Result::Text("JSONL".to_owned())));
    assert_eq!(resolved.result, Some(pb::outcome::Result::Text("resolved/WET/part-1.wet.gz".to_owned())));
    let pattern_hint = pb::RecordParseHint {
        hint_type: pb::RecordHintType::Pattern.into(),
        pattern: "<WARC§".as_bytes().to_vec().into(),
        offset: 0,
    };
    assert_eq!(start.result, Some(pb::outcome::Result::Hint(pattern_hint)));
    let offset_hint =
        pb::RecordParseHint { hint_type: pb::RecordHintType::Offset.into(), pattern: Default::default(), offset: 40 };
    assert_eq!(end.result, Some(pb::outcome::Result::Hint(offset_hint)));
}

#[tokio::test]
async fn default_export_object_with_a_plain_class_and_plain_results_works() {
    let bridge = start_js(&fixture("js/default_export.mjs"));
    let mut client = bridge.client().await;

    let handshake = client.handshake(handshake_request()).await.expect("handshake").into_inner();
    assert_eq!(handshake.interfaces, vec![i32::from(pb::Interface::SingleFileParser)]);

    let outcomes = invoke(&mut client, parse_request(&["first line", ""])).await;
    let document = expect_document(&outcomes[0]);
    assert_eq!(expect_parsed(&outcomes[0]).status(), pb::ParseStatus::Success);
    assert_eq!(document.document_type(), pb::DocumentType::Document);
    // A numeric id reaches the sinks as its JSON text.
    assert_eq!(document.document_id, "0");
    assert_eq!(
        expect_flat_json(&outcomes[0]),
        r#"{"documentId":0,"recordType":"Line","partitionKey":"data.jsonl","documentMetadata":{},"line":"first line","bytes":10}"#
    );
    assert_eq!(expect_parsed(&outcomes[1]).status(), pb::ParseStatus::Skip);

    let start = call_one(
        &mut client,
        pb::Function::SingleFileParserGetRecordStartPattern,
        pb::call::Args::GetRecordStartPattern(pb::FileTypeArgs { s3_file_type: "LINES".to_owned() }),
    )
    .await;
    let newline = pb::RecordParseHint {
        hint_type: pb::RecordHintType::Pattern.into(),
        pattern: b"\n".to_vec().into(),
        offset: 0,
    };
    assert_eq!(start.result, Some(pb::outcome::Result::Hint(newline)));

    // A method the class does not have: the handler does not implement it.
    let end = request(
        pb::Function::SingleFileParserGetRecordEndPattern,
        vec![pb::Call {
            args: Some(pb::call::Args::GetRecordEndPattern(pb::FileTypeArgs { s3_file_type: "LINES".to_owned() })),
        }],
    );
    let status = client.invoke(end).await.expect_err("no such method");
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(status.message(), "the handler does not implement SingleFileParser");
}

#[tokio::test]
async fn methods_a_class_extending_the_sdk_does_not_override_fail_each_call_with_not_yet_implemented() {
    let source = "import { SingleFileParser } from \"ferry\";\n\n\
                  export class Partial extends SingleFileParser {\n  getS3FileType() {\n    \
                  return \"PARTIAL\";\n  }\n}\n";
    let (_dir, handler) = handler_file("partial.mjs", source);
    let bridge = start_js(&handler);
    let mut client = bridge.client().await;

    let outcomes = invoke(&mut client, parse_request(&["first", "second"])).await;

    for outcome in &outcomes {
        let error = expect_user_error(outcome);
        assert_eq!(
            (error.error_type.as_str(), error.message.as_str(), error.retryable),
            ("Error", "Not Yet Implemented", false)
        );
    }
}

#[tokio::test]
async fn letsdata_project_with_its_own_classes_runs_through_the_bridge() {
    let project = fixture("js/letsdata_project");
    let bridge = start_js(&project);
    let mut client = bridge.client().await;

    // The project's other interfaces, its handshake and digest: js_readers.rs.
    let records = ["{\"id\": \"o-1\", \"customer\": \"c-9\", \"total\": 12.5}\n", "{not json}\n"];
    let outcomes = invoke(&mut client, parse_request(&records)).await;

    let document = expect_document(&outcomes[0]);
    assert_eq!(
        (document.document_id.as_str(), document.record_type.as_str(), document.partition_key.as_str()),
        ("o-1", "Order", "c-9")
    );
    assert_eq!(
        expect_flat_json(&outcomes[0]),
        r#"{"documentId":"o-1","recordType":"Order","partitionKey":"c-9","documentMetadata":{"file":"data.jsonl"},"id":"o-1","customer":"c-9","total":12.5}"#
    );
    let failed = expect_parsed(&outcomes[1]);
    assert_eq!(failed.status(), pb::ParseStatus::Error);
    let error_doc = failed.document.as_ref().expect("an error doc");
    assert_eq!(error_doc.document_type(), pb::DocumentType::ErrorDoc);
    assert_eq!(error_doc.document_id, "data.jsonl:100");
    assert!(error_doc.message.starts_with("not JSON: "), "{}", error_doc.message);
    assert_eq!(error_doc.start_offsets, offsets(&[("JSONL", "100")]));
    assert_eq!(error_doc.end_offsets, offsets(&[("JSONL", "111")]));
}

#[tokio::test]
async fn a_call_over_its_timeout_is_interrupted_and_the_worker_serves_the_next_calls() {
    // One worker, so every batch runs on the engine that was interrupted.
    let bridge = RunningBridge::start_with("js", &parser(), &["--workers", "1", "--call-timeout-ms", "300"]);
    let mut client = bridge.client().await;
    let records = ["echo:first", "spin", "echo:next", "async-spin", "echo:after", "spinning-getter", "echo:last"];
    let mut batch = parse_request(&records);
    batch.call_timeout_ms = 200;

    let outcomes = invoke(&mut client, batch).await;

    // A getter of the returned document runs under the same limit.
    for index in [1, 3, 5] {
        let timeout = expect_user_error(&outcomes[index]);
        assert_eq!(
            (timeout.error_type.as_str(), timeout.message.as_str(), timeout.retryable),
            ("CallTimeout", "the call ran longer than 200 ms and was interrupted", false),
            "record {index}"
        );
    }
    // The fixture counts its calls in module state: one engine ran them all.
    let counts: Vec<serde_json::Value> =
        [0, 2, 4, 6].iter().map(|&index| flat_field(&outcomes[index], "calls")).collect();
    assert_eq!(counts, [1, 3, 5, 7]);

    // A later batch runs on the same engine, under the bridge's default limit.
    let later = invoke(&mut client, parse_request(&["echo:later", "spin"])).await;
    assert_eq!(flat_field(&later[0], "calls"), 8);
    assert_eq!(expect_user_error(&later[1]).message, "the call ran longer than 300 ms and was interrupted");
}

/// Makes a named pipe at `path`. A record "gate:PATH" imports it as a
/// module, which blocks its worker until the test writes the gate.
fn make_gate(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Opens `gate` for writing, which returns once a record has opened it for
/// reading (so that record is running), and returns the writing end.
async fn open_gate(gate: &Path) -> std::fs::File {
    let (opened, open) = tokio::sync::oneshot::channel();
    let path = gate.to_path_buf();
    // A plain thread: if no record ever opens the gate, it must not keep the
    // test's runtime from shutting down.
    std::thread::spawn(move || {
        let _ = opened.send(std::fs::OpenOptions::new().write(true).open(path));
    });
    tokio::time::timeout(GATE_DEADLINE, open)
        .await
        .unwrap_or_else(|_| panic!("no record opened {}", gate.display()))
        .expect("the opening thread ran")
        .expect("open the gate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_batches_run_at_the_same_time_on_two_workers() {
    let bridge = RunningBridge::start_with("js", &parser(), &["--workers", "2"]);
    let client = bridge.client().await;
    let dir = tempfile::tempdir().expect("create a tempdir for the gates");
    let gates: Vec<PathBuf> = (0..2).map(|index| dir.path().join(format!("gate-{index}.mjs"))).collect();
    for gate in &gates {
        make_gate(gate);
    }

    let batches: Vec<_> = gates
        .iter()
        .map(|gate| {
            let mut client = client.clone();
            let records = [format!("gate:{}", gate.display())];
            tokio::spawn(async move { invoke(&mut client, parse_request(&records)).await })
        })
        .collect();
    // Each gate opens only while its record runs, and neither record can
    // finish before both gates are open: both batches are running at once.
    let mut writers = Vec::new();
    for gate in &gates {
        writers.push(open_gate(gate).await);
    }
    for mut writer in writers {
        writer.write_all(b"export default 1;\n").expect("release a record");
    }

    for (gate, batch) in gates.iter().zip(batches) {
        let outcomes = batch.await.expect("the batch task ran");
        assert_eq!(expect_document(&outcomes[0]).partition_key, gate.display().to_string());
    }
}

#[tokio::test]
async fn a_batch_in_flight_when_stdin_closes_finishes_before_the_bridge_exits() {
    let mut bridge = start_js(&parser());
    let mut client = bridge.client().await;
    let dir = tempfile::tempdir().expect("create a tempdir for the gate");
    let gate = dir.path().join("gate.mjs");
    make_gate(&gate);
    let record = format!("gate:{}", gate.display());
    let batch = tokio::spawn(async move { invoke(&mut client, parse_request(&[record])).await });
    let mut writer = open_gate(&gate).await;

    bridge.close_stdin();
    bridge.wait_for_log("shutting down").await;
    writer.write_all(b"export default 1;\n").expect("release the record");
    drop(writer);

    let outcomes = batch.await.expect("the batch task ran");
    assert_eq!(expect_document(&outcomes[0]).partition_key, gate.display().to_string());
    assert_eq!(bridge.wait().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_each_keep_their_order() {
    const BATCHES: usize = 8;
    const RECORDS: usize = 100;
    let bridge = RunningBridge::start_with("js", &parser(), &["--workers", "2"]);
    let client = bridge.client().await;

    let tasks: Vec<_> = (0..BATCHES)
        .map(|batch| {
            let mut client = client.clone();
            let records: Vec<String> = (0..RECORDS)
                .map(|record| format!("{}:b{batch}-r{record}", if record % 2 == 0 { "echo" } else { "async-echo" }))
                .collect();
            tokio::spawn(async move { invoke(&mut client, parse_request(&records)).await })
        })
        .collect();

    for (batch, task) in tasks.into_iter().enumerate() {
        let outcomes = task.await.expect("the batch task ran");
        for (record, outcome) in outcomes.iter().enumerate() {
            let document = expect_document(outcome);
            assert_eq!(document.partition_key, format!("b{batch}-r{record}"));
            assert_eq!(document.document_id, format!("data.jsonl@{}", record * 100));
        }
    }
}
