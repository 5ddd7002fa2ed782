//! What a Python handler returns or raises, as the client receives it from
//! the `ferry-bridge` binary: documents and their flat JSON, user errors,
//! malformed results, hints, and a LetsData project layout.
//!
//! Most tests use `fixtures/parser.py`, whose records are commands: the
//! record "echo:x" runs the fixture's `echo` with the argument "x".

mod common;

use std::collections::BTreeMap;

use common::{
    RunningBridge, expect_document, expect_flat_json, expect_parsed, expect_user_error,
    expected_digest, fixture, handshake_request, invoke, line_of, parse_one, parse_request,
    python_files_under, request,
};
use ferry_proto::pb;

fn offsets(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|&(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

#[tokio::test]
async fn a_batch_has_one_outcome_per_record_in_call_order() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;
    let records = [
        "echo:first",
        "skip:second",
        "echo:third",
        "key-error",
        "error:fifth",
        "echo:sixth",
    ];

    let outcomes = invoke(&mut client, parse_request(&records)).await;

    let summary: Vec<String> = outcomes
        .iter()
        .map(|outcome| match &outcome.result {
            Some(pb::outcome::Result::Parsed(parsed)) => {
                let document = parsed.document.as_ref().expect("a document");
                format!(
                    "{:?} {} {}",
                    parsed.status(),
                    document.document_id,
                    document.partition_key
                )
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
            "error KeyError",
            "Error error-1 pk-error",
            "Success data.jsonl@500 sixth",
        ]
    );
}

#[tokio::test]
async fn success_document_is_flat_json_in_document_order() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;

    let outcome = parse_one(&mut client, "rich").await;

    let parsed = expect_parsed(&outcome);
    assert_eq!(parsed.status(), pb::ParseStatus::Success);
    assert_eq!(parsed.next_record_type, None);
    let document = expect_document(&outcome);
    assert_eq!(document.document_type(), pb::DocumentType::Document);
    assert_eq!(document.document_id, "doc-1");
    assert_eq!(document.record_type, "Rich");
    assert_eq!(document.partition_key, "pk-1");
    assert_eq!(document.message, "");
    assert!(document.start_offsets.is_empty() && document.end_offsets.is_empty());
    // The reserved names inside the body ("documentId", "partitionKey") are
    // left out: the document's own fields come first and only once.
    assert_eq!(
        expect_flat_json(&outcome),
        r#"{"documentId":"doc-1","recordType":"Rich","partitionKey":"pk-1","documentMetadata":{"source":"fixture","version":2},"title":"Zürich → 東京","price":12.5,"ratio":0.1,"whole":3.0,"negative":-7,"big":1180591620717411303424,"missing":null,"tags":["a",1,null,true,[2.25,{"k":"v"}]],"nested":{"inner":{"flag":false}},"pair":[1,"two"],"quote":"say \"hi\"\n\t\\"}"#
    );
}

#[tokio::test]
async fn document_without_metadata_or_body_has_null_fields_and_empty_metadata() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;

    let outcome = parse_one(&mut client, "bare").await;

    assert_eq!(
        expect_flat_json(&outcome),
        r#"{"documentId":"bare","recordType":null,"partitionKey":null,"documentMetadata":{}}"#
    );
    let document = expect_document(&outcome);
    assert_eq!(
        (
            document.record_type.as_str(),
            document.partition_key.as_str()
        ),
        ("", "")
    );
}

#[tokio::test]
async fn record_reaches_python_as_a_whole_bytearray_with_its_offset() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;
    let record = "echo:größe";
    let mut call = common::parse_call(123_456_789_012, record.as_bytes());
    if let Some(pb::call::Args::ParseDocument(args)) = &mut call.args {
        args.s3_file_type = "WET".to_owned();
        args.file_name = "crawl/part-7.warc.wet".to_owned();
    }

    let outcomes = invoke(
        &mut client,
        request(pb::Function::SingleFileParserParseDocument, vec![call]),
    )
    .await;

    // endIndex and length count bytes: "ö" and "ß" take two each.
    assert_eq!(
        expect_flat_json(&outcomes[0]),
        r#"{"documentId":"crawl/part-7.warc.wet@123456789012","recordType":"Echo","partitionKey":"größe","documentMetadata":{},"s3FileType":"WET","s3Filename":"crawl/part-7.warc.wet","offsetBytes":123456789012,"byteArrType":"bytearray","startIndex":0,"endIndex":12,"length":12,"argument":"größe"}"#
    );
}

#[tokio::test]
async fn raising_record_is_a_user_error_with_traceback_and_the_batch_goes_on() {
    let handler = fixture("parser.py");
    let bridge = RunningBridge::start(&handler);
    let mut client = bridge.client().await;

    let outcomes = invoke(
        &mut client,
        parse_request(&["echo:before", "key-error", "echo:after"]),
    )
    .await;

    assert_eq!(expect_document(&outcomes[0]).partition_key, "before");
    assert_eq!(expect_document(&outcomes[2]).partition_key, "after");
    let error = expect_user_error(&outcomes[1]);
    assert_eq!(error.error_type, "KeyError");
    assert_eq!(error.message, "'missing'");
    assert!(!error.retryable);
    let file = handler.display();
    let dispatch = line_of(&handler, "return COMMANDS[command](call)");
    let raise = line_of(&handler, "# raises KeyError");
    let traceback = &error.traceback;
    assert!(
        traceback.starts_with("Traceback (most recent call last):\n"),
        "{traceback}"
    );
    assert!(
        traceback.contains(&format!(
            "File \"{file}\", line {dispatch}, in parseDocument\n"
        )),
        "{traceback}"
    );
    assert!(
        traceback.contains(&format!("File \"{file}\", line {raise}, in key_error\n")),
        "{traceback}"
    );
    assert!(traceback.ends_with("KeyError: 'missing'\n"), "{traceback}");
}

#[tokio::test]
async fn only_exceptions_marked_retryable_are_retryable() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;

    let outcomes = invoke(
        &mut client,
        parse_request(&["retryable", "transient", "value-error:42"]),
    )
    .await;

    let errors: Vec<(&str, &str, bool)> = outcomes
        .iter()
        .map(expect_user_error)
        .map(|error| {
            (
                error.error_type.as_str(),
                error.message.as_str(),
                error.retryable,
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            ("RetryableError", "throttled, try again", true),
            ("TransientError", "upstream busy", true),
            ("ValueError", "bad value 42", false),
        ]
    );
}

#[tokio::test]
async fn skip_result_carries_the_skip_doc() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;

    let outcome = parse_one(&mut client, "skip:a comment line").await;

    let parsed = expect_parsed(&outcome);
    assert_eq!(parsed.status(), pb::ParseStatus::Skip);
    let document = parsed.document.as_ref().expect("a skip doc");
    assert_eq!(document.document_type(), pb::DocumentType::SkipDoc);
    assert_eq!(document.message, "skipped a comment line");
    assert_eq!(
        (document.document_id.as_str(), document.record_type.as_str()),
        ("skipped-1", "Skip")
    );
    assert_eq!(document.partition_key, "pk-skip");
    // "skip:a comment line" is 19 bytes long, read at offset 0.
    assert_eq!(document.start_offsets, offsets(&[("JSONL", "0")]));
    assert_eq!(document.end_offsets, offsets(&[("JSONL", "19")]));
}

#[tokio::test]
async fn error_result_carries_the_error_doc_with_offsets_as_strings() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;

    // The second record of the batch, so it is read at offset 100.
    let outcomes = invoke(&mut client, parse_request(&["echo", "error:line 3"])).await;

    let parsed = expect_parsed(&outcomes[1]);
    assert_eq!(parsed.status(), pb::ParseStatus::Error);
    let document = parsed.document.as_ref().expect("an error doc");
    assert_eq!(document.document_type(), pb::DocumentType::ErrorDoc);
    assert_eq!(document.message, "cannot parse line 3");
    assert_eq!(document.document_id, "error-1");
    assert_eq!(
        document.start_offsets,
        offsets(&[("JSONL", "100"), ("line", "3")])
    );
    assert_eq!(
        document.end_offsets,
        offsets(&[("JSONL", "112"), ("line", "4")])
    );
    assert_eq!(
        std::str::from_utf8(&document.flat_json).expect("UTF-8"),
        r#"{"documentId":"error-1","recordType":"Error","partitionKey":"pk-error","documentMetadata":{}}"#
    );
}

#[tokio::test]
async fn malformed_results_are_invalid_handler_result_errors_of_their_record() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;
    let records = [
        "none",
        "echo:fine",
        "unknown-status",
        "success-without-document",
    ];

    let outcomes = invoke(&mut client, parse_request(&records)).await;

    assert_eq!(expect_document(&outcomes[1]).partition_key, "fine");
    let prefix = "parseDocument returned an invalid ParseDocumentResult: ";
    for (index, reason) in [
        (0, "got None"),
        (2, r#"status is "MAYBE"; expected SUCCESS, ERROR or SKIP"#),
        (3, "status is SUCCESS but there is no document"),
    ] {
        let error = expect_user_error(&outcomes[index]);
        assert_eq!(error.error_type, "InvalidHandlerResult");
        assert_eq!(error.message, format!("{prefix}{reason}"));
        assert_eq!((error.traceback.as_str(), error.retryable), ("", false));
    }
}

#[tokio::test]
async fn unserializable_values_fail_only_their_record() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;
    let records = ["set", "bytes", "echo:fine", "nan", "infinity", "too-deep"];

    let outcomes = invoke(&mut client, parse_request(&records)).await;

    assert_eq!(expect_document(&outcomes[2]).partition_key, "fine");
    let prefix = "parseDocument returned a document that cannot be serialized: ";
    for (index, error_type, reason) in [
        (
            0,
            "TypeError",
            "Object of type set is not JSON serializable",
        ),
        (
            1,
            "TypeError",
            "Object of type bytes is not JSON serializable",
        ),
        (
            3,
            "ValueError",
            "Out of range float values are not JSON compliant: NaN",
        ),
        (
            4,
            "ValueError",
            "Out of range float values are not JSON compliant: -inf",
        ),
        (5, "ValueError", "document nests deeper than 128 levels"),
    ] {
        let error = expect_user_error(&outcomes[index]);
        assert_eq!(
            (error.error_type.as_str(), error.retryable),
            (error_type, false),
            "record {index}"
        );
        assert_eq!(error.message, format!("{prefix}{reason}"), "record {index}");
    }
}

#[tokio::test]
async fn non_string_keys_are_written_as_json_dumps_writes_them() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;

    let outcome = parse_one(&mut client, "non-string-keys").await;

    // The same bytes as ferry.flat_json (json.dumps) gives for this document.
    assert_eq!(
        expect_flat_json(&outcome),
        r#"{"documentId":"keys","recordType":null,"partitionKey":null,"documentMetadata":{},"counts":{"1":"one","2":"two"},"others":{"2.5":"float","true":"bool","null":"none"},"7":"seven"}"#
    );
}

#[tokio::test]
async fn objects_with_attributes_are_written_as_their_attributes() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;

    let outcome = parse_one(&mut client, "object").await;

    assert_eq!(
        expect_flat_json(&outcome),
        r#"{"documentId":"doc","recordType":"Test","partitionKey":"pk","documentMetadata":{},"point":{"x":1,"y":2.5}}"#
    );
}

#[tokio::test]
async fn a_nested_ferry_document_is_written_as_its_attributes() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;

    let outcome = parse_one(&mut client, "nested-document").await;

    assert_eq!(
        expect_flat_json(&outcome),
        r#"{"documentId":"doc","recordType":"Test","partitionKey":"pk","documentMetadata":{},"inner":{"documentType":"Document","documentId":"inner","recordType":null,"partitionKey":null,"documentMetadata":null,"documentKeyValuesMap":{"x":1}}}"#
    );
}

/// Runs one call of a function that takes a file type (or nothing).
async fn call_one(
    client: &mut common::Client,
    function: pb::Function,
    args: pb::call::Args,
) -> pb::Outcome {
    let outcomes = invoke(
        client,
        request(function, vec![pb::Call { args: Some(args) }]),
    )
    .await;
    outcomes.into_iter().next().expect("one outcome")
}

#[tokio::test]
async fn file_type_and_resolved_name_come_back_as_text() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;

    let file_type = call_one(
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

    assert_eq!(
        file_type.result,
        Some(pb::outcome::Result::Text("JSONL".to_owned()))
    );
    assert_eq!(
        resolved.result,
        Some(pb::outcome::Result::Text(
            "resolved/WET/part-1.wet.gz".to_owned()
        ))
    );
}

#[tokio::test]
async fn record_patterns_come_back_as_hints() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;
    let file_type = |name: &str| pb::FileTypeArgs {
        s3_file_type: name.to_owned(),
    };

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

    let pattern_hint = pb::RecordParseHint {
        hint_type: pb::RecordHintType::Pattern.into(),
        pattern: "<WARC§".as_bytes().to_vec().into(),
        offset: 0,
    };
    assert_eq!(start.result, Some(pb::outcome::Result::Hint(pattern_hint)));
    let offset_hint = pb::RecordParseHint {
        hint_type: pb::RecordHintType::Offset.into(),
        pattern: Default::default(),
        offset: 40,
    };
    assert_eq!(end.result, Some(pb::outcome::Result::Hint(offset_hint)));
}

#[tokio::test]
async fn letsdata_project_with_its_own_classes_runs_through_the_bridge() {
    let project = fixture("letsdata_project");
    let bridge = RunningBridge::start(&project);
    let mut client = bridge.client().await;

    let handshake = client
        .handshake(handshake_request())
        .await
        .expect("handshake")
        .into_inner();
    assert_eq!(
        handshake.interfaces,
        vec![i32::from(pb::Interface::SingleFileParser)]
    );
    // The digest covers every Python file of the project.
    assert_eq!(
        handshake.handler_digest,
        expected_digest(&project, &python_files_under(&project))
    );

    let start = call_one(
        &mut client,
        pb::Function::SingleFileParserGetRecordStartPattern,
        pb::call::Args::GetRecordStartPattern(pb::FileTypeArgs {
            s3_file_type: "ORDERS".to_owned(),
        }),
    )
    .await;
    let pattern_hint = pb::RecordParseHint {
        hint_type: pb::RecordHintType::Pattern.into(),
        pattern: b"{".to_vec().into(),
        offset: 0,
    };
    assert_eq!(start.result, Some(pb::outcome::Result::Hint(pattern_hint)));

    let records = [
        "{\"id\": \"o-1\", \"customer\": \"c-9\", \"total\": 12.5}\n",
        "{not json}\n",
    ];
    let outcomes = invoke(&mut client, parse_request(&records)).await;

    let order = expect_parsed(&outcomes[0]);
    assert_eq!(order.status(), pb::ParseStatus::Success);
    let document = expect_document(&outcomes[0]);
    assert_eq!(document.document_type(), pb::DocumentType::Document);
    assert_eq!(
        (
            document.document_id.as_str(),
            document.record_type.as_str(),
            document.partition_key.as_str()
        ),
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
    assert_eq!(
        error_doc.message,
        "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    );
    assert_eq!(error_doc.start_offsets, offsets(&[("JSONL", "100")]));
    assert_eq!(error_doc.end_offsets, offsets(&[("JSONL", "111")]));
}

#[tokio::test]
async fn skip_without_a_document_is_a_skip_with_no_document() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;

    let outcome = parse_one(&mut client, "skip-without-document").await;

    let expected = pb::ParseDocumentResult {
        status: pb::ParseStatus::Skip.into(),
        next_record_type: None,
        document: None,
    };
    assert_eq!(expect_parsed(&outcome), &expected);
}

#[tokio::test]
async fn methods_the_handler_does_not_override_fail_each_call_with_not_implemented() {
    let bridge = RunningBridge::start(&fixture("partial_parser.py"));
    let mut client = bridge.client().await;

    let outcomes = invoke(&mut client, parse_request(&["first", "second"])).await;

    for outcome in &outcomes {
        let error = expect_user_error(outcome);
        assert_eq!(
            (error.error_type.as_str(), error.message.as_str()),
            ("NotImplementedError", "Not Yet Implemented")
        );
        assert!(!error.retryable);
    }
    let file_type = call_one(
        &mut client,
        pb::Function::SingleFileParserGetS3FileType,
        pb::call::Args::GetS3FileType(pb::GetS3FileTypeArgs {}),
    )
    .await;
    assert_eq!(
        file_type.result,
        Some(pb::outcome::Result::Text("PARTIAL".to_owned()))
    );
}
