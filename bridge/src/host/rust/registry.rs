//! The handlers registered in a [`RustHandlers`](super::RustHandlers), one
//! per interface, and how one call reaches its method.
//!
//! Every call runs under [`panic::guard`]: a panic is a `Panic` user
//! error of that call. Arguments are handed over as the typed inputs of
//! [`super::records`]; JSON-valued arguments that are not JSON objects are
//! the caller's fault and fail the batch.

use std::sync::Arc;

use ferry_proto::pb;

use super::interfaces::{
    DynamoDbStreamsRecordReader, DynamoDbTableItemReader, KinesisRecordReader, QueueMessageReader, SagemakerVectors,
    SingleFileParser,
};
use super::outcome::{self, BatchOutcomes};
use super::panic;
use super::records::{DynamoDbStreamsRecord, DynamoDbTableItem, KinesisRecord, QueueMessage, json_object};
use crate::handler::{HandlerError, interface_name};

/// At most one handler per interface.
#[derive(Clone, Default)]
pub(super) struct Registry {
    pub single_file_parser: Option<Arc<dyn SingleFileParser>>,
    pub queue_message_reader: Option<Arc<dyn QueueMessageReader>>,
    pub kinesis_record_reader: Option<Arc<dyn KinesisRecordReader>>,
    pub dynamodb_streams_record_reader: Option<Arc<dyn DynamoDbStreamsRecordReader>>,
    pub dynamodb_table_item_reader: Option<Arc<dyn DynamoDbTableItemReader>>,
    pub sagemaker_vectors: Option<Arc<dyn SagemakerVectors>>,
}

impl Registry {
    /// Runs `call`, a call of the method `name`, and adds its outcome to
    /// `batch`. Fails when the call's interface has no handler or its JSON
    /// arguments cannot be read.
    pub fn run_call(&self, call: &pb::Call, name: &str, batch: &mut BatchOutcomes) -> Result<(), HandlerError> {
        use pb::Interface as I;
        use pb::call::Args;
        let args = call.args.as_ref().ok_or_else(|| invalid("the call carries no arguments".to_owned()))?;
        match args {
            Args::GetS3FileType(_) => {
                let parser = registered(&self.single_file_parser, I::SingleFileParser)?;
                batch.push(panic::guard(|| parser.get_s3_file_type()).map_or_else(outcome::panicked, outcome::text));
            }
            Args::GetResolvedS3FileName(args) => {
                let parser = registered(&self.single_file_parser, I::SingleFileParser)?;
                let resolved = panic::guard(|| parser.get_resolved_s3_file_name(&args.s3_file_type, &args.file_name));
                batch.push(resolved.map_or_else(outcome::panicked, outcome::text));
            }
            Args::GetRecordStartPattern(args) => {
                let parser = registered(&self.single_file_parser, I::SingleFileParser)?;
                let hint = panic::guard(|| parser.get_record_start_pattern(&args.s3_file_type));
                batch.push(hint.map_or_else(outcome::panicked, |hint| outcome::hint(&hint, name)));
            }
            Args::GetRecordEndPattern(args) => {
                let parser = registered(&self.single_file_parser, I::SingleFileParser)?;
                let hint = panic::guard(|| parser.get_record_end_pattern(&args.s3_file_type));
                batch.push(hint.map_or_else(outcome::panicked, |hint| outcome::hint(&hint, name)));
            }
            Args::ParseDocument(args) => {
                let parser = registered(&self.single_file_parser, I::SingleFileParser)?;
                let result = panic::guard(|| {
                    parser.parse_document(&args.s3_file_type, &args.file_name, args.offset_bytes, &args.content)
                });
                batch.push_guarded(result, |batch, result| batch.push_parsed(result, name));
            }
            Args::QueueMessage(args) => {
                let reader = registered(&self.queue_message_reader, I::QueueMessageReader)?;
                let result = panic::guard(|| reader.parse_message(QueueMessage::from_args(args)));
                batch.push_guarded(result, |batch, result| batch.push_parsed(result, name));
            }
            Args::KinesisRecord(args) => {
                let reader = registered(&self.kinesis_record_reader, I::KinesisRecordReader)?;
                let result = panic::guard(|| reader.parse_message(KinesisRecord::from_args(args)));
                batch.push_guarded(result, |batch, result| batch.push_parsed(result, name));
            }
            Args::DynamodbStreamsRecord(args) => {
                let reader = registered(&self.dynamodb_streams_record_reader, I::DynamodbStreamsRecordReader)?;
                let record = DynamoDbStreamsRecord::from_args(args).map_err(invalid)?;
                let result = panic::guard(|| reader.parse_record(record));
                batch.push_guarded(result, |batch, result| batch.push_parsed(result, name));
            }
            Args::DynamodbTableItem(args) => {
                let reader = registered(&self.dynamodb_table_item_reader, I::DynamodbTableItemReader)?;
                let item = DynamoDbTableItem::from_args(args).map_err(invalid)?;
                let result = panic::guard(|| reader.parse_dynamodb_item(item));
                batch.push_guarded(result, |batch, result| batch.push_parsed(result, name));
            }
            Args::ExtractDocumentElements(args) => {
                let vectors = registered(&self.sagemaker_vectors, I::SagemakerVectors)?;
                let document = json_object(&args.document_json, "document_json").map_err(invalid)?;
                let result = panic::guard(|| vectors.extract_document_elements_for_vectorization(document));
                batch.push_guarded(result, |batch, entries| batch.push(outcome::elements(entries)));
            }
            Args::ConstructVectorDoc(args) => {
                let vectors = registered(&self.sagemaker_vectors, I::SagemakerVectors)?;
                let document = json_object(&args.document_json, "document_json").map_err(invalid)?;
                let embeddings = args.vectors.iter().map(|(name, vector)| (name.clone(), vector.values.clone()));
                let embeddings = embeddings.collect();
                let result = panic::guard(|| vectors.construct_vector_doc(document, embeddings));
                batch.push_guarded(result, BatchOutcomes::push_document);
            }
        }
        Ok(())
    }
}

fn registered<T: ?Sized>(handler: &Option<Arc<T>>, interface: pb::Interface) -> Result<&T, HandlerError> {
    handler.as_deref().ok_or(HandlerError::NotImplemented(interface_name(interface)))
}

fn invalid(reason: String) -> HandlerError {
    HandlerError::InvalidRequest(reason)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use futures::executor::block_on;
    use serde_json::{Map, Value, json};

    use super::super::document::{Document, ParseDocumentResult};
    use super::super::failure::HandlerFailure;
    use super::super::{DynamoDbStreamsRecord, DynamoDbTableItem, KinesisRecord, QueueMessage, RustHandlers};
    use super::*;
    use crate::Handler;

    /// Every reader echoes what it was given; a body, data, event id or
    /// table name of "panic" panics and "fail" fails.
    struct Echo;

    fn check(command: &str) -> Result<(), HandlerFailure> {
        match command {
            "panic" => panic!("asked to panic"),
            "fail" => Err(HandlerFailure::new("Throttled", "later").retryable()),
            _ => Ok(()),
        }
    }

    impl QueueMessageReader for Echo {
        fn parse_message(&self, message: QueueMessage<'_>) -> Result<ParseDocumentResult, HandlerFailure> {
            check(message.message_body)?;
            Ok(ParseDocumentResult::success(
                Document::new(message.message_id, "Message")
                    .with_value("group", message.message_group_id)
                    .with_value("dedup", message.message_deduplication_id)
                    .with_value("attributes", json!(message.message_attributes))
                    .with_value("body", message.message_body),
            ))
        }
    }

    impl KinesisRecordReader for Echo {
        fn parse_message(&self, record: KinesisRecord<'_>) -> Result<ParseDocumentResult, HandlerFailure> {
            check(std::str::from_utf8(record.data)?)?;
            Ok(ParseDocumentResult::success(
                Document::new(record.sequence_number, "Record")
                    .with_partition_key(record.partition_key)
                    .with_value("shard", record.shard_id)
                    .with_value("at", record.approximate_arrival_timestamp_ms)
                    .with_value("bytes", record.data.len()),
            ))
        }
    }

    impl DynamoDbStreamsRecordReader for Echo {
        fn parse_record(&self, record: DynamoDbStreamsRecord<'_>) -> Result<ParseDocumentResult, HandlerFailure> {
            check(record.event_id)?;
            if record.new_image.is_empty() {
                return Ok(ParseDocumentResult::skip(
                    Document::skip_doc("no new image").with_start_offset("seq", record.sequence_number),
                ));
            }
            Ok(ParseDocumentResult::success(
                Document::new(record.event_id, record.event_name)
                    .with_key_values(record.new_image)
                    .with_value("principal", record.identity_principal_id),
            ))
        }
    }

    impl DynamoDbTableItemReader for Echo {
        fn parse_dynamodb_item(&self, item: DynamoDbTableItem<'_>) -> Result<ParseDocumentResult, HandlerFailure> {
            check(item.table_name)?;
            Ok(ParseDocumentResult::success(
                Document::new(item.table_name, "Item")
                    .with_metadata("segment", item.segment_number)
                    .with_key_values(item.item),
            ))
        }
    }

    impl SagemakerVectors for Echo {
        fn extract_document_elements_for_vectorization(
            &self,
            document: Map<String, Value>,
        ) -> Result<BTreeMap<String, String>, HandlerFailure> {
            let text = document
                .get("docText")
                .and_then(Value::as_str)
                .ok_or_else(|| HandlerFailure::missing_key("docText"))?;
            check(text)?;
            Ok(BTreeMap::from([("docText".to_owned(), text.to_owned())]))
        }

        fn construct_vector_doc(
            &self,
            document: Map<String, Value>,
            vectors: BTreeMap<String, Vec<f64>>,
        ) -> Result<Document, HandlerFailure> {
            let id = document.get("documentId").and_then(Value::as_str).unwrap_or_default();
            check(id)?;
            Ok(Document::new(id, "Vectors").with_value("vectors", json!(vectors)))
        }
    }

    fn request(function: pb::Function, args: Vec<pb::call::Args>) -> pb::InvokeRequest {
        pb::InvokeRequest {
            function: function.into(),
            calls: args.into_iter().map(|args| pb::Call { args: Some(args) }).collect(),
            call_timeout_ms: 0,
            traceparent: String::new(),
        }
    }

    /// Each outcome as one line: the flat JSON of a document, the entries
    /// of an element map, or the type and message of an error.
    fn lines(handlers: &RustHandlers, request: pb::InvokeRequest) -> Vec<String> {
        let outcomes = block_on(handlers.invoke(request)).unwrap_or_else(|err| panic!("the batch failed: {err}"));
        outcomes
            .iter()
            .map(|outcome| match &outcome.result {
                Some(pb::outcome::Result::Parsed(parsed)) => {
                    let flat = parsed.document.as_ref().map(|document| document.flat_json.clone()).unwrap_or_default();
                    format!("{:?} {}", parsed.status(), String::from_utf8_lossy(&flat))
                }
                Some(pb::outcome::Result::Document(document)) => String::from_utf8_lossy(&document.flat_json).into(),
                Some(pb::outcome::Result::Elements(elements)) => format!("{:?}", elements.entries),
                Some(pb::outcome::Result::Error(error)) => {
                    format!("{} {} retryable={}", error.error_type, error.message, error.retryable)
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn all() -> RustHandlers {
        // Registered out of protocol order: the handshake sorts them.
        RustHandlers::new("echo", "1")
            .sagemaker_vectors(Echo)
            .dynamodb_table_item_reader(Echo)
            .dynamodb_streams_record_reader(Echo)
            .kinesis_record_reader(Echo)
            .queue_message_reader(Echo)
    }

    fn queue_message(id: &str, group: Option<&str>, body: &str) -> pb::call::Args {
        pb::call::Args::QueueMessage(pb::QueueMessageArgs {
            message_id: id.to_owned(),
            message_group_id: group.map(str::to_owned),
            message_deduplication_id: group.map(|group| format!("{group}-dedup")),
            message_attributes: BTreeMap::from([("b".to_owned(), "2".to_owned()), ("a".to_owned(), "1".to_owned())]),
            message_body: body.to_owned(),
        })
    }

    #[test]
    fn the_handshake_names_every_registered_interface_in_protocol_order() {
        let interfaces = all().description().map(|description| description.interfaces.clone()).unwrap_or_default();
        assert_eq!(
            interfaces,
            [
                pb::Interface::QueueMessageReader,
                pb::Interface::KinesisRecordReader,
                pb::Interface::DynamodbStreamsRecordReader,
                pb::Interface::DynamodbTableItemReader,
                pb::Interface::SagemakerVectors,
            ]
        );
    }

    #[test]
    fn queue_messages_get_their_fifo_ids_when_set_and_failures_stay_per_message() {
        let request = request(
            pb::Function::QueueMessageReaderParseMessage,
            vec![
                queue_message("m1", None, "standard"),
                queue_message("m2", Some("g"), "fifo"),
                queue_message("m3", None, "panic"),
                queue_message("m4", None, "fail"),
            ],
        );
        assert_eq!(
            lines(&all(), request),
            [
                r#"Success {"documentId":"m1","recordType":"Message","partitionKey":null,"documentMetadata":{},"group":null,"dedup":null,"attributes":{"a":"1","b":"2"},"body":"standard"}"#,
                r#"Success {"documentId":"m2","recordType":"Message","partitionKey":null,"documentMetadata":{},"group":"g","dedup":"g-dedup","attributes":{"a":"1","b":"2"},"body":"fifo"}"#,
                "Panic asked to panic retryable=false",
                "Throttled later retryable=true",
            ]
        );
    }

    #[test]
    fn kinesis_records_arrive_as_bytes() {
        let record = |data: &[u8]| {
            pb::call::Args::KinesisRecord(pb::KinesisRecordArgs {
                stream_arn: "arn".to_owned(),
                shard_id: "shard-1".to_owned(),
                partition_key: "pk".to_owned(),
                sequence_number: "0001".to_owned(),
                approximate_arrival_timestamp_ms: 1_701_785_944_187,
                data: Bytes::copy_from_slice(data),
            })
        };
        let request =
            request(pb::Function::KinesisRecordReaderParseMessage, vec![record("東京".as_bytes()), record(&[0xff])]);
        assert_eq!(
            lines(&all(), request),
            [
                r#"Success {"documentId":"0001","recordType":"Record","partitionKey":"pk","documentMetadata":{},"shard":"shard-1","at":1701785944187,"bytes":6}"#,
                "Utf8Error invalid utf-8 sequence of 1 bytes from index 0 retryable=false",
            ]
        );
    }

    fn stream_record(event_id: &str, new_image: &str) -> pb::call::Args {
        pb::call::Args::DynamodbStreamsRecord(pb::DynamoDbStreamsRecordArgs {
            event_id: event_id.to_owned(),
            event_name: "MODIFY".to_owned(),
            identity_principal_id: None,
            sequence_number: "77".to_owned(),
            keys_json: Bytes::from_static(br#"{"id":"a"}"#),
            new_image_json: Bytes::copy_from_slice(new_image.as_bytes()),
            ..Default::default()
        })
    }

    #[test]
    fn stream_images_are_json_maps_and_unset_ones_are_empty() {
        let request = request(
            pb::Function::DynamodbStreamsRecordReaderParseRecord,
            vec![stream_record("e1", r#"{"z":1,"a":{"n":[1.5,null]}}"#), stream_record("e2", "")],
        );
        let outcomes = block_on(all().invoke(request)).unwrap_or_default();
        let flat: Vec<String> = outcomes
            .iter()
            .map(|outcome| match &outcome.result {
                Some(pb::outcome::Result::Parsed(parsed)) => format!(
                    "{:?} {} {:?}",
                    parsed.status(),
                    parsed
                        .document
                        .as_ref()
                        .map(|document| String::from_utf8_lossy(&document.flat_json))
                        .unwrap_or_default(),
                    parsed.document.as_ref().map(|document| document.start_offsets.clone()).unwrap_or_default(),
                ),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            flat,
            [
                r#"Success {"documentId":"e1","recordType":"MODIFY","partitionKey":null,"documentMetadata":{},"z":1,"a":{"n":[1.5,null]},"principal":null} {}"#,
                r#"Skip {"documentId":null,"recordType":null,"partitionKey":null,"documentMetadata":{}} {"seq": "77"}"#,
            ]
        );
    }

    #[test]
    fn a_json_field_that_is_not_an_object_fails_the_batch_naming_the_call() {
        let request = request(
            pb::Function::DynamodbStreamsRecordReaderParseRecord,
            vec![stream_record("e1", "{}"), stream_record("e2", "[1,2]")],
        );
        let err = block_on(all().invoke(request)).err();
        assert!(
            matches!(&err, Some(HandlerError::InvalidRequest(reason))
                if reason.starts_with("call 1: new_image_json is not a JSON object: invalid type: sequence")),
            "{err:?}"
        );
    }

    #[test]
    fn table_items_carry_their_segment() {
        let item = pb::call::Args::DynamodbTableItem(pb::DynamoDbTableItemArgs {
            table_name: "Orders".to_owned(),
            segment_number: 3,
            keys_json: Bytes::from_static(br#"{"id":"o1"}"#),
            item_json: Bytes::from_static(br#"{"id":"o1","total":12.5}"#),
        });
        assert_eq!(
            lines(&all(), request(pb::Function::DynamodbTableItemReaderParseDynamodbItem, vec![item])),
            [
                r#"Success {"documentId":"Orders","recordType":"Item","partitionKey":null,"documentMetadata":{"segment":3},"id":"o1","total":12.5}"#
            ]
        );
    }

    #[test]
    fn vectors_extract_elements_and_construct_documents() {
        let extract = |json: &'static [u8]| {
            pb::call::Args::ExtractDocumentElements(pb::ExtractDocumentElementsArgs {
                document_json: Bytes::from_static(json),
            })
        };
        assert_eq!(
            lines(
                &all(),
                request(
                    pb::Function::SagemakerVectorsExtractDocumentElements,
                    vec![extract(br#"{"documentId":"d1","docText":"hello"}"#), extract(br#"{"documentId":"d2"}"#)],
                )
            ),
            [r#"{"docText": "hello"}"#, "KeyError 'docText' retryable=false"]
        );
        let construct = |id: &str| {
            pb::call::Args::ConstructVectorDoc(pb::ConstructVectorDocArgs {
                document_json: format!(r#"{{"documentId":"{id}"}}"#).into_bytes().into(),
                vectors: BTreeMap::from([
                    ("t".to_owned(), pb::Vector { values: vec![0.25, -1.5] }),
                    ("a".to_owned(), pb::Vector { values: vec![] }),
                ]),
            })
        };
        assert_eq!(
            lines(
                &all(),
                request(pb::Function::SagemakerVectorsConstructVectorDoc, vec![construct("d1"), construct("panic")])
            ),
            [
                r#"{"documentId":"d1","recordType":"Vectors","partitionKey":null,"documentMetadata":{},"vectors":{"a":[],"t":[0.25,-1.5]}}"#,
                "Panic asked to panic retryable=false",
            ]
        );
    }

    #[test]
    fn an_interface_without_a_handler_fails_the_batch() {
        let only_queue = RustHandlers::new("q", "1").queue_message_reader(Echo);
        let request = request(
            pb::Function::SagemakerVectorsExtractDocumentElements,
            vec![pb::call::Args::ExtractDocumentElements(pb::ExtractDocumentElementsArgs::default())],
        );
        assert_eq!(
            block_on(only_queue.invoke(request)),
            Err(HandlerError::NotImplemented("SagemakerVectorsInterface"))
        );
    }
}
