//! The non-file readers and the Sagemaker functions of a JavaScript
//! handler, through the real `ferry-bridge` binary: what JavaScript values
//! the handler's arguments are, how its results come back, how malformed
//! results and malformed requests are reported, and a LetsData project
//! implementing all six interfaces in its own layout.
//!
//! The fixture `fixtures/js/readers.mjs` echoes its arguments with their
//! types; the cross-language behaviour of these functions is covered by the
//! conformance suite (tests/conformance).

mod common;

use std::collections::BTreeMap;

use common::{
    Client, RunningBridge, expect_document, expect_flat_json, expect_parsed, expect_user_error, expected_digest,
    fixture, handshake_request, invoke, js_files_under, request,
};
use ferry_proto::pb;

fn start_readers() -> RunningBridge {
    RunningBridge::start_with("js", &fixture("js/readers.mjs"), &[])
}

fn call(args: pb::call::Args) -> pb::Call {
    pb::Call { args: Some(args) }
}

fn text_map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|&(key, value)| (key.to_owned(), value.to_owned())).collect()
}

fn queue_message(id: &str, body: &str, fifo: bool) -> pb::Call {
    call(pb::call::Args::QueueMessage(pb::QueueMessageArgs {
        message_id: id.to_owned(),
        message_group_id: fifo.then(|| "g-1".to_owned()),
        message_deduplication_id: fifo.then(|| "d-1".to_owned()),
        message_attributes: text_map(&[("zeta", "z"), ("alpha", "ü")]),
        message_body: body.to_owned(),
    }))
}

fn kinesis_record(data: &[u8]) -> pb::Call {
    call(pb::call::Args::KinesisRecord(pb::KinesisRecordArgs {
        stream_arn: "arn:aws:kinesis:us-east-1:1:stream/s".to_owned(),
        shard_id: "shardId-000000000001".to_owned(),
        partition_key: "pk-7".to_owned(),
        sequence_number: "49646300000000000000000000000000000000000000000000000001".to_owned(),
        approximate_arrival_timestamp_ms: 1_701_785_944_187,
        data: data.to_vec().into(),
    }))
}

fn stream_record(keys: &[u8], old_image: &[u8], new_image: &[u8]) -> pb::Call {
    call(pb::call::Args::DynamodbStreamsRecord(pb::DynamoDbStreamsRecordArgs {
        stream_arn: "arn:aws:dynamodb:us-east-1:1:table/T/stream/x".to_owned(),
        shard_id: "shard-1".to_owned(),
        event_id: "e-1".to_owned(),
        event_name: "MODIFY".to_owned(),
        identity_principal_id: None,
        identity_type: Some("Service".to_owned()),
        sequence_number: "0042".to_owned(),
        size_bytes: 321,
        stream_view_type: "NEW_AND_OLD_IMAGES".to_owned(),
        approximate_creation_date_time_s: 1_702_839_323,
        keys_json: keys.to_vec().into(),
        old_image_json: old_image.to_vec().into(),
        new_image_json: new_image.to_vec().into(),
    }))
}

fn table_item(item: &[u8]) -> pb::Call {
    call(pb::call::Args::DynamodbTableItem(pb::DynamoDbTableItemArgs {
        table_name: "Orders".to_owned(),
        segment_number: 3,
        keys_json: br#"{"pk":"o-1","sk":7}"#.to_vec().into(),
        item_json: item.to_vec().into(),
    }))
}

fn extract(document: &str) -> pb::Call {
    call(pb::call::Args::ExtractDocumentElements(pb::ExtractDocumentElementsArgs {
        document_json: document.as_bytes().to_vec().into(),
    }))
}

fn construct(document: &str) -> pb::Call {
    call(pb::call::Args::ConstructVectorDoc(pb::ConstructVectorDocArgs {
        document_json: document.as_bytes().to_vec().into(),
        vectors: BTreeMap::from([
            ("title".to_owned(), pb::Vector { values: vec![0.25, -1.0] }),
            ("docText".to_owned(), pb::Vector { values: vec![0.5, -1.5, 1e-7] }),
        ]),
    }))
}

async fn run(client: &mut Client, function: pb::Function, calls: Vec<pb::Call>) -> Vec<pb::Outcome> {
    invoke(client, request(function, calls)).await
}

fn flat(outcome: &pb::Outcome) -> serde_json::Value {
    serde_json::from_str(expect_flat_json(outcome)).expect("flat_json is JSON")
}

/// The error type and message of a user error outcome.
fn error_of(outcome: &pb::Outcome) -> (&str, &str) {
    let error = expect_user_error(outcome);
    (error.error_type.as_str(), error.message.as_str())
}

#[tokio::test]
async fn the_handshake_names_the_interfaces_the_module_implements_and_no_other() {
    let bridge = start_readers();
    let mut client = bridge.client().await;

    let handshake = client.handshake(handshake_request()).await.expect("handshake").into_inner();

    let expected: Vec<i32> = [
        pb::Interface::QueueMessageReader,
        pb::Interface::KinesisRecordReader,
        pb::Interface::DynamodbStreamsRecordReader,
        pb::Interface::DynamodbTableItemReader,
        pb::Interface::SagemakerVectors,
    ]
    .into_iter()
    .map(i32::from)
    .collect();
    assert_eq!(handshake.interfaces, expected);
    let status = client
        .invoke(request(
            pb::Function::SingleFileParserGetS3FileType,
            vec![call(pb::call::Args::GetS3FileType(pb::GetS3FileTypeArgs {}))],
        ))
        .await
        .expect_err("no SingleFileParser");
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{}", status.message());
}

#[tokio::test]
async fn queue_messages_get_null_fifo_ids_on_a_standard_queue_and_attributes_in_name_order() {
    let bridge = start_readers();
    let mut client = bridge.client().await;
    let calls = vec![
        queue_message("m-1", "hello", false),
        queue_message("m-2", "hello", true),
        queue_message("m-3", "skip", false),
        queue_message("m-4", "throw", false),
    ];

    let outcomes = run(&mut client, pb::Function::QueueMessageReaderParseMessage, calls).await;

    assert_eq!(
        expect_flat_json(&outcomes[0]),
        r#"{"documentId":"m-1","recordType":"Message","partitionKey":null,"documentMetadata":{},"arguments":5,"messageGroupId":"null","messageDeduplicationId":null,"messageAttributes":{"alpha":"ü","zeta":"z"},"attributeOrder":["alpha","zeta"],"messageBody":"hello"}"#
    );
    let fifo = flat(&outcomes[1]);
    assert_eq!((&fifo["partitionKey"], &fifo["messageGroupId"]), (&"g-1".into(), &"string".into()));
    assert_eq!(fifo["messageDeduplicationId"], "d-1");
    let skipped = expect_parsed(&outcomes[2]);
    assert_eq!(skipped.status(), pb::ParseStatus::Skip);
    let skip = skipped.document.as_ref().expect("a skip doc");
    assert_eq!((skip.document_type(), skip.message.as_str()), (pb::DocumentType::SkipDoc, "duplicate"));
    assert_eq!(skip.start_offsets, text_map(&[("messageId", "m-3")]));
    assert_eq!(error_of(&outcomes[3]), ("RangeError", "cannot read m-4"));
    assert!(expect_user_error(&outcomes[3]).traceback.contains("readers.mjs"));
}

#[tokio::test]
async fn kinesis_data_is_a_uint8array_and_its_timestamp_epoch_milliseconds() {
    let bridge = start_readers();
    let mut client = bridge.client().await;

    let outcomes =
        run(&mut client, pb::Function::KinesisRecordReaderParseMessage, vec![kinesis_record("{\"ü\":1}".as_bytes())])
            .await;

    assert_eq!(
        expect_flat_json(&outcomes[0]),
        r#"{"documentId":"49646300000000000000000000000000000000000000000000000001","recordType":"Kinesis","partitionKey":"pk-7","documentMetadata":{},"arguments":6,"streamArn":"arn:aws:kinesis:us-east-1:1:stream/s","shardId":"shardId-000000000001","sequenceNumber":"string","approximateArrivalTimestamp":1701785944187,"arrivedAt":"2023-12-05T14:19:04.187Z","data":"Uint8Array","text":"{\"ü\":1}","bytes":[123,34,195,188]}"#
    );
}

#[tokio::test]
async fn stream_images_are_plain_objects_an_unset_one_empty_and_a_missing_identity_null() {
    let bridge = start_readers();
    let mut client = bridge.client().await;
    let calls = vec![
        stream_record(br#"{"id":"a","n":2}"#, b"", br#"{"id":"a","price":12.5,"tags":["x"],"nested":{"k":null}}"#),
        stream_record(br#"{"id":"b"}"#, br#"{"id":"b"}"#, b""),
    ];

    let outcomes = run(&mut client, pb::Function::DynamodbStreamsRecordReaderParseRecord, calls).await;

    assert_eq!(
        expect_flat_json(&outcomes[0]),
        r#"{"documentId":"a|2","recordType":"MODIFY","partitionKey":"shard-1","documentMetadata":{"streamArn":"arn:aws:dynamodb:us-east-1:1:table/T/stream/x","eventId":"e-1"},"arguments":13,"identityPrincipalId":null,"identityType":"string","sequenceNumber":"0042","sizeBytes":321,"streamViewType":"NEW_AND_OLD_IMAGES","approximateCreationDateTime":1702839323,"createdAt":"2023-12-17T18:55:23.000Z","keys":{"id":"a","n":2},"oldImage":{},"newImage":{"id":"a","price":12.5,"tags":["x"],"nested":{"k":null}},"images":["Object","Object"]}"#
    );
    let skipped = expect_parsed(&outcomes[1]);
    assert_eq!(skipped.status(), pb::ParseStatus::Skip);
    assert_eq!(skipped.document.as_ref().expect("a skip doc").message, "MODIFY has no new image");
}

#[tokio::test]
async fn table_items_get_their_segment_as_a_number() {
    let bridge = start_readers();
    let mut client = bridge.client().await;
    let calls = vec![table_item(br#"{"pk":"o-1","total":3}"#), table_item(b"{}")];

    let outcomes = run(&mut client, pb::Function::DynamodbTableItemReaderParseDynamodbItem, calls).await;

    assert_eq!(
        expect_flat_json(&outcomes[0]),
        r#"{"documentId":"o-1|7","recordType":"Orders","partitionKey":null,"documentMetadata":{},"arguments":4,"segmentNumber":3,"segment":"number","item":{"pk":"o-1","total":3}}"#
    );
    let failed = expect_parsed(&outcomes[1]);
    assert_eq!(failed.status(), pb::ParseStatus::Error);
    let error_doc = failed.document.as_ref().expect("an error doc");
    assert_eq!((error_doc.document_id.as_str(), error_doc.message.as_str()), ("o-1|7", "DDB_ERROR: empty item"));
    assert_eq!(error_doc.start_offsets, text_map(&[("segmentNumber", "3")]));
}

#[tokio::test]
async fn a_json_argument_that_is_not_an_object_fails_the_batch_and_the_bridge_goes_on() {
    let bridge = start_readers();
    let mut client = bridge.client().await;
    let malformed: [(&[u8], &str); 4] = [
        (b"[1,2]", "new_image_json is not a JSON object"),
        (b"null", "new_image_json is not a JSON object"),
        (b"{", "new_image_json is not valid JSON"),
        (b"{\"a\":\"\xff\"}", "new_image_json is not UTF-8 text"),
    ];

    for (image, reason) in malformed {
        let batch = vec![stream_record(b"{}", b"", b"{\"a\":1}"), stream_record(b"{}", b"", image)];
        let status = client
            .invoke(request(pb::Function::DynamodbStreamsRecordReaderParseRecord, batch))
            .await
            .expect_err("the request is malformed");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let expected = format!("call 1: cannot build its arguments: {reason}");
        assert!(status.message().contains(&expected), "{}", status.message());
    }

    let outcomes = run(
        &mut client,
        pb::Function::DynamodbStreamsRecordReaderParseRecord,
        vec![stream_record(br#"{"id":"c"}"#, b"", b"{\"a\":1}")],
    )
    .await;
    assert_eq!(expect_document(&outcomes[0]).document_id, "c");
}

#[tokio::test]
async fn extract_returns_an_element_map_and_anything_else_is_an_invalid_result() {
    let bridge = start_readers();
    let mut client = bridge.client().await;
    let calls = vec![
        extract(r#"{"documentId":"d-1","title":"Zürich","docText":"hello"}"#),
        extract(r#"{"documentId":"d-2","broken":"not-text"}"#),
        extract(r#"{"documentId":"d-3","broken":"not-an-object"}"#),
    ];

    let outcomes = run(&mut client, pb::Function::SagemakerVectorsExtractDocumentElements, calls).await;

    let elements = match &outcomes[0].result {
        Some(pb::outcome::Result::Elements(elements)) => &elements.entries,
        other => panic!("expected elements, got {other:?}"),
    };
    assert_eq!(elements, &text_map(&[("docText", "hello"), ("title", "d-1: Zürich")]));
    let method = "extractDocumentElementsForVectorization";
    assert_eq!(
        error_of(&outcomes[1]),
        (
            "InvalidHandlerResult",
            &*format!(r#"{method} returned an invalid element map: the value of "docText" is not a string"#)
        )
    );
    assert_eq!(
        error_of(&outcomes[2]),
        (
            "InvalidHandlerResult",
            &*format!(
                "{method} returned an invalid element map: got string; expected an object of element names to texts"
            )
        )
    );
}

#[tokio::test]
async fn construct_is_awaited_and_returns_a_document_and_anything_else_is_an_invalid_result() {
    let bridge = start_readers();
    let mut client = bridge.client().await;
    let calls = vec![
        construct(
            r#"{"documentId":"d-1","recordType":"Content","partitionKey":"p","documentMetadata":{"lang":"en"},"docText":"hello","url":"u"}"#,
        ),
        construct(r#"{"documentId":"d-2","broken":"no-document"}"#),
    ];

    let outcomes = run(&mut client, pb::Function::SagemakerVectorsConstructVectorDoc, calls).await;

    let document = match &outcomes[0].result {
        Some(pb::outcome::Result::Document(document)) => document,
        other => panic!("expected a document, got {other:?}"),
    };
    assert_eq!(document.document_type(), pb::DocumentType::Document);
    assert_eq!((document.document_id.as_str(), document.record_type.as_str()), ("d-1", "Vectors"));
    // The protocol's vectors reach JavaScript ordered by name.
    assert_eq!(
        std::str::from_utf8(&document.flat_json).expect("UTF-8"),
        r#"{"documentId":"d-1","recordType":"Vectors","partitionKey":"p","documentMetadata":{"lang":"en"},"url":"u","vectorNames":["docText","title"],"vectors":{"docText":[0.5,-1.5,1e-7],"title":[0.25,-1]}}"#
    );
    assert_eq!(
        error_of(&outcomes[1]),
        ("InvalidHandlerResult", "constructVectorDoc returned an invalid Document: got null")
    );
}

#[tokio::test]
async fn letsdata_project_with_all_six_interfaces_in_its_own_layout_runs_through_the_bridge() {
    let project = fixture("js/letsdata_project");
    let bridge = RunningBridge::start_with("js", &project, &[]);
    let mut client = bridge.client().await;

    let handshake = client.handshake(handshake_request()).await.expect("handshake").into_inner();
    let all: Vec<i32> = [
        pb::Interface::SingleFileParser,
        pb::Interface::QueueMessageReader,
        pb::Interface::KinesisRecordReader,
        pb::Interface::DynamodbStreamsRecordReader,
        pb::Interface::DynamodbTableItemReader,
        pb::Interface::SagemakerVectors,
    ]
    .into_iter()
    .map(i32::from)
    .collect();
    assert_eq!(handshake.interfaces, all);
    assert_eq!(handshake.handler_digest, expected_digest(&project, &js_files_under(&project)));

    let queue = run(
        &mut client,
        pb::Function::QueueMessageReaderParseMessage,
        vec![
            queue_message("m-1", r#"{"documentId":"o-1","partitionKey":"c-1","total":2}"#, true),
            queue_message("m-2", "", false),
        ],
    )
    .await;
    assert_eq!(
        expect_flat_json(&queue[0]),
        r#"{"documentId":"o-1","recordType":"Message","partitionKey":"c-1","documentMetadata":{"messageId":"m-1","messageGroupId":"g-1"},"total":2}"#
    );
    assert_eq!(expect_document(&queue[1]).message, "SQS_ERROR: empty message");

    let kinesis = run(
        &mut client,
        pb::Function::KinesisRecordReaderParseMessage,
        vec![kinesis_record(br#"{"documentId":"k-1"}"#)],
    )
    .await;
    assert_eq!(
        expect_flat_json(&kinesis[0]),
        r#"{"documentId":"k-1","recordType":"Record","partitionKey":"pk-7","documentMetadata":{"shardId":"shardId-000000000001","arrived":"2023-12-05T14:19:04.187Z"}}"#
    );

    let streams = run(
        &mut client,
        pb::Function::DynamodbStreamsRecordReaderParseRecord,
        vec![
            stream_record(br#"{"id":"a"}"#, b"", br#"{"id":"a","v":1}"#),
            stream_record(br#"{"id":"b"}"#, br#"{"id":"b"}"#, b""),
        ],
    )
    .await;
    assert_eq!(flat(&streams[0])["v"], 1);
    assert_eq!(expect_parsed(&streams[1]).status(), pb::ParseStatus::Skip);

    let table = run(&mut client, pb::Function::DynamodbTableItemReaderParseDynamodbItem, vec![table_item(b"{}")]).await;
    assert_eq!(expect_parsed(&table[0]).status(), pb::ParseStatus::Error);

    let elements = run(
        &mut client,
        pb::Function::SagemakerVectorsExtractDocumentElements,
        vec![extract(r#"{"documentId":"d","docText":"t"}"#)],
    )
    .await;
    assert!(
        matches!(&elements[0].result, Some(pb::outcome::Result::Elements(map)) if map.entries == text_map(&[("docText", "t")]))
    );
    let vectors = run(
        &mut client,
        pb::Function::SagemakerVectorsConstructVectorDoc,
        vec![construct(r#"{"documentId":"d","partitionKey":"p","documentMetadata":{},"docText":"t"}"#)],
    )
    .await;
    match &vectors[0].result {
        Some(pb::outcome::Result::Document(document)) => assert_eq!(
            std::str::from_utf8(&document.flat_json).expect("UTF-8"),
            r#"{"documentId":"d","recordType":"Vectors","partitionKey":"p","documentMetadata":{},"vectors":{"docText":[0.5,-1.5,1e-7],"title":[0.25,-1]}}"#
        ),
        other => panic!("expected a document, got {other:?}"),
    }
}
