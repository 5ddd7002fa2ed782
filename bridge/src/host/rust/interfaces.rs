//! The LetsData handler interfaces, for Rust: the same methods as the
//! Java, Python and JS ones, in snake_case and with typed arguments.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::document::{Document, ParseDocumentResult, RecordParseHint};
use super::failure::HandlerFailure;
use super::records::{DynamoDbStreamsRecord, DynamoDbTableItem, KinesisRecord, QueueMessage};

/// Turns the records of a file into documents (LetsData
/// `SingleFileParser`).
///
/// ferry asks once per file for the file type, the resolved name and the
/// record hints, cuts the file into records with those hints, then calls
/// [`parse_document`](Self::parse_document) for each record, in file
/// order within a batch. Calls for different files (and batches of one
/// file) may run at the same time on different threads, hence `Sync`.
/// A panic in any method is caught and reported as a `Panic` failure of
/// that call.
pub trait SingleFileParser: Send + Sync + 'static {
    /// The file type this parser reads, e.g. `"WET"`; the key of the
    /// offset maps of error and skip documents.
    fn get_s3_file_type(&self) -> String;

    /// The name of the file to read for a manifest entry; by default the
    /// entry's own name.
    fn get_resolved_s3_file_name(&self, s3_file_type: &str, file_name: &str) -> String {
        let _ = s3_file_type;
        file_name.to_owned()
    }

    /// Where a record starts: at a pattern, or at an offset from where
    /// the previous record ended (0: right there).
    fn get_record_start_pattern(&self, s3_file_type: &str) -> RecordParseHint;

    /// Where a record ends: just after a pattern (which is part of the
    /// record), or after a length given as an offset.
    fn get_record_end_pattern(&self, s3_file_type: &str) -> RecordParseHint;

    /// Turns one record into a document. `offset_bytes` is the position of
    /// the record's first byte in the (decompressed) file; `record` holds
    /// the whole record, its end pattern included (LetsData's `byteArr`
    /// from `startIndex` 0 to `endIndex` = `record.len()`).
    ///
    /// An `Err` sends the record to the error folder with the failure's
    /// type and message; a retryable one is tried again first.
    fn parse_document(
        &self,
        s3_file_type: &str,
        s3_filename: &str,
        offset_bytes: u64,
        record: &[u8],
    ) -> Result<ParseDocumentResult, HandlerFailure>;
}

/// Turns one SQS message into a document (LetsData
/// `QueueMessageReader`).
///
/// The messages of a batch are called one after the other, in the order
/// they were received; batches may run at the same time on different
/// threads. A panic is caught and reported as a `Panic` failure of that
/// message. An `Err` sends the message to the error folder with the
/// failure's type and message; a retryable one is tried again first.
pub trait QueueMessageReader: Send + Sync + 'static {
    fn parse_message(&self, message: QueueMessage<'_>) -> Result<ParseDocumentResult, HandlerFailure>;
}

/// Turns one Kinesis record into a document (LetsData
/// `KinesisRecordReader`). Calls, panics and failures as for
/// [`QueueMessageReader`]; the records of a batch come in shard order.
pub trait KinesisRecordReader: Send + Sync + 'static {
    fn parse_message(&self, record: KinesisRecord<'_>) -> Result<ParseDocumentResult, HandlerFailure>;
}

/// Turns one DynamoDB Streams record into a document (LetsData
/// `DynamoDBStreamsRecordReader`). Calls, panics and failures as for
/// [`QueueMessageReader`]; the records of a batch come in shard order.
pub trait DynamoDbStreamsRecordReader: Send + Sync + 'static {
    fn parse_record(&self, record: DynamoDbStreamsRecord<'_>) -> Result<ParseDocumentResult, HandlerFailure>;
}

/// Turns one item of a DynamoDB table scan into a document (LetsData
/// `DynamoDBTableItemReader`). Calls, panics and failures as for
/// [`QueueMessageReader`].
pub trait DynamoDbTableItemReader: Send + Sync + 'static {
    fn parse_dynamodb_item(&self, item: DynamoDbTableItem<'_>) -> Result<ParseDocumentResult, HandlerFailure>;
}

/// Chooses what of a document to embed, and builds the document to write
/// from the embeddings (LetsData `SagemakerVectorsInterface`).
///
/// ferry calls [`extract_document_elements_for_vectorization`] on each
/// document, embeds every text it returns, then calls
/// [`construct_vector_doc`] with one vector per element name. Documents
/// arrive in their flat form (see [`crate::flat_json`]). Panics and
/// failures as for [`QueueMessageReader`].
///
/// [`extract_document_elements_for_vectorization`]: Self::extract_document_elements_for_vectorization
/// [`construct_vector_doc`]: Self::construct_vector_doc
pub trait SagemakerVectors: Send + Sync + 'static {
    /// The texts to embed, by a name of the handler's choosing (the
    /// LetsData examples use the key they came from, e.g. `docText`).
    fn extract_document_elements_for_vectorization(
        &self,
        document: Map<String, Value>,
    ) -> Result<BTreeMap<String, String>, HandlerFailure>;

    /// The document to write: usually the input with the vectors added
    /// (a feature document) or a new document of the vectors alone. An
    /// ErrorDoc goes to the error folder.
    fn construct_vector_doc(
        &self,
        document: Map<String, Value>,
        vectors: BTreeMap<String, Vec<f64>>,
    ) -> Result<Document, HandlerFailure>;
}
