//! The non-file readers and the Sagemaker functions of a Python handler,
//! through the real `ferry-bridge` binary: what Python types the handler's
//! arguments have, how its results come back, and how malformed results
//! and malformed requests are reported.
//!
//! The fixture `fixtures/readers.py` echoes every argument with its Python
//! type name; the cross-language behaviour of these functions is covered
//! by the conformance suite (tests/conformance).

mod common;

use std::collections::BTreeMap;

use common::{
    RunningBridge, expect_flat_json, expect_user_error, fixture, handshake_request, invoke, line_of, request,
};
use ferry_proto::pb;

fn call(args: pb::call::Args) -> pb::Call {
    pb::Call { args: Some(args) }
}

fn queue_message(body: &str, fifo: bool) -> pb::Call {
    call(pb::call::Args::QueueMessage(pb::QueueMessageArgs {
        message_id: "m1".to_owned(),
        message_group_id: fifo.then(|| "g1".to_owned()),
        message_deduplication_id: fifo.then(|| "d1".to_owned()),
        message_attributes: BTreeMap::from([("b".to_owned(), "2".to_owned()), ("a".to_owned(), "1".to_owned())]),
        message_body: body.to_owned(),
    }))
}

fn stream_record(event_id: &str, new_image: &[u8]) -> pb::Call {
    call(pb::call::Args::DynamodbStreamsRecord(pb::DynamoDbStreamsRecordArgs {
        stream_arn: "arn:s".to_owned(),
        shard_id: "shard-1".to_owned(),
        event_id: event_id.to_owned(),
        event_name: "MODIFY".to_owned(),
        identity_principal_id: None,
        identity_type: Some("Service".to_owned()),
        sequence_number: "0042".to_owned(),
        size_bytes: 321,
        stream_view_type: "NEW_IMAGE".to_owned(),
        approximate_creation_date_time_s: 1_702_839_323,
        keys_json: br#"{"id":"a"}"#.to_vec().into(),
        old_image_json: Default::default(),
        new_image_json: new_image.to_vec().into(),
    }))
}

fn extract(command: &str) -> pb::Call {
    let document = format!(r#"{{"documentId":"d1","documentMetadata":{{}},"command":"{command}","docText":"hello"}}"#);
    call(pb::call::Args::ExtractDocumentElements(pb::ExtractDocumentElementsArgs {
        document_json: document.into_bytes().into(),
    }))
}

fn construct(command: &str) -> pb::Call {
    let document = format!(
        r#"{{"documentId":"d1","documentMetadata":{{"lang":"en"}},"command":"{command}","big":123456789012345678901234567890}}"#
    );
    call(pb::call::Args::ConstructVectorDoc(pb::ConstructVectorDocArgs {
        document_json: document.into_bytes().into(),
        vectors: BTreeMap::from([("docText".to_owned(), pb::Vector { values: vec![0.5, -1.0, 1e-7] })]),
    }))
}

/// The error type and message of a user error outcome.
fn error_of(outcome: &pb::Outcome) -> (String, String) {
    let error = expect_user_error(outcome);
    (error.error_type.clone(), error.message.clone())
}

fn invalid(message: &str) -> (String, String) {
    ("InvalidHandlerResult".to_owned(), message.to_owned())
}

#[tokio::test]
async fn the_handshake_names_every_interface_the_module_implements_and_no_other() {
    let bridge = RunningBridge::start(&fixture("readers.py"));
    let mut client = bridge.client().await;

    let shake = client.handshake(handshake_request()).await.expect("the handshake succeeds").into_inner();
    assert_eq!(
        shake.interfaces().collect::<Vec<_>>(),
        [
            pb::Interface::QueueMessageReader,
            pb::Interface::KinesisRecordReader,
            pb::Interface::DynamodbStreamsRecordReader,
            pb::Interface::DynamodbTableItemReader,
            pb::Interface::SagemakerVectors,
        ]
    );

    let status = client.invoke(common::parse_request(&["x"])).await.expect_err("the module has no SingleFileParser");
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert!(status.message().contains("SingleFileParser"), "{}", status.message());
}

#[tokio::test]
async fn queue_messages_get_none_for_the_fifo_ids_of_a_standard_queue() {
    let bridge = RunningBridge::start(&fixture("readers.py"));
    let mut client = bridge.client().await;

    let outcomes = invoke(
        &mut client,
        request(
            pb::Function::QueueMessageReaderParseMessage,
            vec![queue_message("standard", false), queue_message("fifo", true)],
        ),
    )
    .await;

    assert_eq!(
        expect_flat_json(&outcomes[0]),
        r#"{"documentId":"standard","recordType":"Message","partitionKey":null,"documentMetadata":{},"args":{"messageId":{"type":"str","value":"m1"},"messageGroupId":{"type":"NoneType","value":null},"messageDeduplicationId":{"type":"NoneType","value":null},"messageAttributes":{"type":"dict","value":{"a":"1","b":"2"}},"messageBody":{"type":"str","value":"standard"}}}"#
    );
    assert_eq!(
        expect_flat_json(&outcomes[1]),
        r#"{"documentId":"fifo","recordType":"Message","partitionKey":null,"documentMetadata":{},"args":{"messageId":{"type":"str","value":"m1"},"messageGroupId":{"type":"str","value":"g1"},"messageDeduplicationId":{"type":"str","value":"d1"},"messageAttributes":{"type":"dict","value":{"a":"1","b":"2"}},"messageBody":{"type":"str","value":"fifo"}}}"#
    );
}

#[tokio::test]
async fn kinesis_data_is_bytes_and_its_timestamp_an_int() {
    let bridge = RunningBridge::start(&fixture("readers.py"));
    let mut client = bridge.client().await;
    let record = call(pb::call::Args::KinesisRecord(pb::KinesisRecordArgs {
        stream_arn: "arn:k".to_owned(),
        shard_id: "shardId-000000000001".to_owned(),
        partition_key: "pk".to_owned(),
        sequence_number: "49647175823361738489364658946397447362217133010400755714".to_owned(),
        approximate_arrival_timestamp_ms: 1_701_785_944_187,
        data: b"doc".to_vec().into(),
    }));

    let outcome =
        invoke(&mut client, request(pb::Function::KinesisRecordReaderParseMessage, vec![record])).await.remove(0);

    assert_eq!(
        expect_flat_json(&outcome),
        r#"{"documentId":"doc","recordType":"Record","partitionKey":null,"documentMetadata":{},"args":{"streamArn":{"type":"str","value":"arn:k"},"shardId":{"type":"str","value":"shardId-000000000001"},"partitionKey":{"type":"str","value":"pk"},"sequenceNumber":{"type":"str","value":"49647175823361738489364658946397447362217133010400755714"},"approximateArrivalTimestamp":{"type":"int","value":1701785944187},"data":{"type":"bytes","value":"646f63"}}}"#
    );
}

#[tokio::test]
async fn stream_images_are_dicts_as_json_loads_builds_them_and_an_unset_one_is_empty() {
    let bridge = RunningBridge::start(&fixture("readers.py"));
    let mut client = bridge.client().await;
    // Python keeps what JSON says exactly: ints beyond 64 bits, 1.0 a float.
    let image = r#"{"big":123456789012345678901234567890,"one":1.0,"list":[1,2.5,null],"text":"Zürich"}"#;

    let outcome = invoke(
        &mut client,
        request(pb::Function::DynamodbStreamsRecordReaderParseRecord, vec![stream_record("doc", image.as_bytes())]),
    )
    .await
    .remove(0);

    assert_eq!(
        expect_flat_json(&outcome),
        concat!(
            r#"{"documentId":"doc","recordType":"StreamRecord","partitionKey":null,"documentMetadata":{},"args":{"#,
            r#""streamArn":{"type":"str","value":"arn:s"},"shardId":{"type":"str","value":"shard-1"},"#,
            r#""eventId":{"type":"str","value":"doc"},"eventName":{"type":"str","value":"MODIFY"},"#,
            r#""identityPrincipalId":{"type":"NoneType","value":null},"identityType":{"type":"str","value":"Service"},"#,
            r#""sequenceNumber":{"type":"str","value":"0042"},"sizeBytes":{"type":"int","value":321},"#,
            r#""streamViewType":{"type":"str","value":"NEW_IMAGE"},"#,
            r#""approximateCreationDateTime":{"type":"int","value":1702839323},"#,
            r#""keys":{"type":"dict","value":{"id":"a"}},"oldImage":{"type":"dict","value":{}},"#,
            r#""newImage":{"type":"dict","value":{"big":123456789012345678901234567890,"one":1.0,"list":[1,2.5,null],"text":"Zürich"}}}}"#,
        )
    );
}

#[tokio::test]
async fn table_items_get_their_segment_as_an_int() {
    let bridge = RunningBridge::start(&fixture("readers.py"));
    let mut client = bridge.client().await;
    let item = call(pb::call::Args::DynamodbTableItem(pb::DynamoDbTableItemArgs {
        table_name: "Orders".to_owned(),
        segment_number: 7,
        keys_json: br#"{"id":"o1"}"#.to_vec().into(),
        item_json: Default::default(),
    }));

    let outcome = invoke(&mut client, request(pb::Function::DynamodbTableItemReaderParseDynamodbItem, vec![item]))
        .await
        .remove(0);

    assert_eq!(
        expect_flat_json(&outcome),
        r#"{"documentId":"Orders","recordType":"Item","partitionKey":null,"documentMetadata":{},"args":{"tableName":{"type":"str","value":"Orders"},"segmentNumber":{"type":"int","value":7},"keys":{"type":"dict","value":{"id":"o1"}},"item":{"type":"dict","value":{}}}}"#
    );
}

#[tokio::test]
async fn a_json_argument_that_is_not_an_object_fails_the_batch_and_the_bridge_goes_on() {
    let bridge = RunningBridge::start(&fixture("readers.py"));
    let mut client = bridge.client().await;

    let malformed: [(&[u8], &str); 3] = [
        (b"[1,2]", "new_image_json is not a JSON object"),
        (b"{", "new_image_json is not valid JSON"),
        (b"{\"a\":\"\xff\"}", "new_image_json is not UTF-8 text"),
    ];
    for (image, reason) in malformed {
        let batch = vec![stream_record("doc", b"{}"), stream_record("doc", image)];
        let status = client
            .invoke(request(pb::Function::DynamodbStreamsRecordReaderParseRecord, batch))
            .await
            .expect_err("the request is malformed");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let expected = format!("call 1: cannot build its arguments: {reason}");
        assert!(status.message().contains(&expected), "{}", status.message());
    }

    let outcomes = invoke(
        &mut client,
        request(pb::Function::DynamodbStreamsRecordReaderParseRecord, vec![stream_record("doc", b"{}")]),
    )
    .await;
    assert!(expect_flat_json(&outcomes[0]).contains(r#""newImage":{"type":"dict","value":{}}"#));
}

#[tokio::test]
async fn extract_returns_an_element_map_and_anything_else_is_an_invalid_result() {
    let bridge = RunningBridge::start(&fixture("readers.py"));
    let mut client = bridge.client().await;
    let commands = ["elements", "list", "none", "int-name", "bytes-text", "raise"];

    let outcomes = invoke(
        &mut client,
        request(
            pb::Function::SagemakerVectorsExtractDocumentElements,
            commands.iter().map(|command| extract(command)).collect(),
        ),
    )
    .await;

    assert_eq!(
        outcomes[0].result,
        Some(pb::outcome::Result::Elements(pb::TextMap {
            entries: BTreeMap::from([
                ("docText".to_owned(), "hello".to_owned()),
                ("types".to_owned(), "str,dict,str,str".to_owned()),
            ])
        }))
    );
    let prefix = "extractDocumentElementsForVectorization returned an invalid element map: ";
    assert_eq!(
        outcomes[1..5].iter().map(error_of).collect::<Vec<_>>(),
        [
            invalid(&format!("{prefix}got list; expected a dict of element names to texts")),
            invalid(&format!("{prefix}got None; expected a dict of element names to texts")),
            invalid(&format!("{prefix}an element name is int, not a str")),
            invalid(&format!(r#"{prefix}the value of "docText" is not a string"#)),
        ]
    );
    let raised = expect_user_error(&outcomes[5]);
    assert_eq!((raised.error_type.as_str(), raised.message.as_str()), ("ReaderFailure", "no text"));
    let fixture_path = fixture("readers.py");
    let line = line_of(&fixture_path, "extract-raise");
    assert!(raised.traceback.contains(&format!("readers.py\", line {line}")), "{}", raised.traceback);
}

#[tokio::test]
async fn construct_returns_a_document_as_flat_json_and_anything_else_is_an_invalid_result() {
    let bridge = RunningBridge::start(&fixture("readers.py"));
    let mut client = bridge.client().await;
    let commands = ["vectors", "none", "dict", "object", "unserializable"];

    let outcomes = invoke(
        &mut client,
        request(
            pb::Function::SagemakerVectorsConstructVectorDoc,
            commands.iter().map(|command| construct(command)).collect(),
        ),
    )
    .await;

    match &outcomes[0].result {
        Some(pb::outcome::Result::Document(document)) => {
            assert_eq!(
                (document.document_type(), document.document_id.as_str(), document.record_type.as_str()),
                (pb::DocumentType::Document, "d1", "Vectors")
            );
            // Vectors are lists of Python floats, written in the shortest
            // form that reads back the same.
            assert_eq!(
                std::str::from_utf8(&document.flat_json).expect("flat JSON is UTF-8"),
                r#"{"documentId":"d1","recordType":"Vectors","partitionKey":null,"documentMetadata":{"lang":"en"},"vectors":{"docText":[0.5,-1.0,1e-7]},"types":{"docText":["float","float","float"]},"big":123456789012345678901234567890}"#
            );
        }
        other => panic!("expected a document, got {other:?}"),
    }
    let prefix = "constructVectorDoc returned an invalid Document: ";
    assert_eq!(
        outcomes[1..4].iter().map(error_of).collect::<Vec<_>>(),
        [
            invalid(&format!("{prefix}got None")),
            invalid(&format!("{prefix}got dict, which has no documentId")),
            invalid(&format!("{prefix}got NotADocument, which has no documentId")),
        ]
    );
    assert_eq!(
        error_of(&outcomes[4]),
        (
            "TypeError".to_owned(),
            "constructVectorDoc returned a document that cannot be serialized: Object of type object is not JSON serializable".to_owned()
        )
    );
}

#[tokio::test]
async fn a_reader_call_that_runs_too_long_is_interrupted_and_the_next_one_runs() {
    let bridge = RunningBridge::start(&fixture("readers.py"));
    let mut client = bridge.client().await;
    let mut batch = request(
        pb::Function::QueueMessageReaderParseMessage,
        vec![queue_message("sleep", false), queue_message("after", false)],
    );
    batch.call_timeout_ms = 300;

    let outcomes = invoke(&mut client, batch).await;

    assert_eq!(
        error_of(&outcomes[0]),
        ("CallTimeout".to_owned(), "the call ran longer than 300 ms and was interrupted".to_owned())
    );
    assert!(expect_flat_json(&outcomes[1]).starts_with(r#"{"documentId":"after","#));
}
