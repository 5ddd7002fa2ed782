//! The positional arguments of each handler method, built from a call's
//! protocol arguments in the order and with the Python types of the
//! LetsData interfaces:
//!
//! - `parseDocument` gets the record as a `bytearray`, `startIndex` 0 and
//!   `endIndex` its length (LetsData hands Python the whole record).
//! - Kinesis `data` is `bytes`, `approximateArrivalTimestamp` an int of
//!   epoch milliseconds; DynamoDB Streams `approximateCreationDateTime` an
//!   int of epoch seconds and `sizeBytes` an int.
//! - Optional strings the record does not carry (the FIFO ids of a
//!   standard queue, the identity of a stream record) are `None`.
//! - JSON-valued arguments (DynamoDB keys, images and items, the Sagemaker
//!   documents) are plain dicts as Python's `json` module builds them; an
//!   unset (empty) field is `{}`.
//! - Protocol maps (message attributes, vectors) are dicts ordered by key.
//!
//! A call whose JSON arguments are not JSON objects is the caller's fault:
//! it fails the batch with the reason, before the user's code sees it.

use std::convert::Infallible;

use ferry_proto::pb;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};

/// Builds the arguments of the calls of one batch.
pub struct ArgBuilder<'py> {
    py: Python<'py>,
    /// `decode` of a `json.JSONDecoder`.
    decode: Bound<'py, PyAny>,
    strings: StringCache<'py>,
}

impl<'py> ArgBuilder<'py> {
    /// `decode` is the `decode` method of a `json.JSONDecoder()`.
    pub fn new(py: Python<'py>, decode: &Py<PyAny>) -> Self {
        Self { py, decode: decode.bind(py).clone(), strings: StringCache::default() }
    }

    /// The positional arguments of `call`, or why they cannot be built.
    pub fn build(&mut self, function: pb::Function, call: &pb::Call) -> Result<Bound<'py, PyTuple>, String> {
        use pb::Function as F;
        use pb::call::Args;
        let py = self.py;
        let args = call.args.as_ref().ok_or("the call carries no arguments")?;
        let items: Vec<Bound<'py, PyAny>> = match (function, args) {
            (F::SingleFileParserGetS3FileType, Args::GetS3FileType(_)) => Vec::new(),
            (F::SingleFileParserGetResolvedS3FileName, Args::GetResolvedS3FileName(args)) => {
                vec![self.strings.get(py, 0, &args.s3_file_type), self.strings.get(py, 1, &args.file_name)]
            }
            (F::SingleFileParserGetRecordStartPattern, Args::GetRecordStartPattern(args))
            | (F::SingleFileParserGetRecordEndPattern, Args::GetRecordEndPattern(args)) => {
                vec![self.strings.get(py, 0, &args.s3_file_type)]
            }
            (F::SingleFileParserParseDocument, Args::ParseDocument(args)) => vec![
                self.strings.get(py, 0, &args.s3_file_type),
                self.strings.get(py, 1, &args.file_name),
                int(py, args.offset_bytes),
                PyByteArray::new(py, &args.content).into_any(),
                int(py, 0_u64),
                int(py, args.content.len()),
            ],
            (F::QueueMessageReaderParseMessage, Args::QueueMessage(args)) => {
                let attributes = PyDict::new(py);
                for (name, value) in &args.message_attributes {
                    attributes.set_item(name, value).map_err(|err| err.to_string())?;
                }
                vec![
                    text(py, &args.message_id),
                    optional_text(py, args.message_group_id.as_deref()),
                    optional_text(py, args.message_deduplication_id.as_deref()),
                    attributes.into_any(),
                    text(py, &args.message_body),
                ]
            }
            (F::KinesisRecordReaderParseMessage, Args::KinesisRecord(args)) => vec![
                self.strings.get(py, 0, &args.stream_arn),
                self.strings.get(py, 1, &args.shard_id),
                text(py, &args.partition_key),
                text(py, &args.sequence_number),
                int(py, args.approximate_arrival_timestamp_ms),
                PyBytes::new(py, &args.data).into_any(),
            ],
            (F::DynamodbStreamsRecordReaderParseRecord, Args::DynamodbStreamsRecord(args)) => vec![
                self.strings.get(py, 0, &args.stream_arn),
                self.strings.get(py, 1, &args.shard_id),
                text(py, &args.event_id),
                text(py, &args.event_name),
                optional_text(py, args.identity_principal_id.as_deref()),
                optional_text(py, args.identity_type.as_deref()),
                text(py, &args.sequence_number),
                int(py, args.size_bytes),
                text(py, &args.stream_view_type),
                int(py, args.approximate_creation_date_time_s),
                self.json_object(&args.keys_json, "keys_json")?,
                self.json_object(&args.old_image_json, "old_image_json")?,
                self.json_object(&args.new_image_json, "new_image_json")?,
            ],
            (F::DynamodbTableItemReaderParseDynamodbItem, Args::DynamodbTableItem(args)) => vec![
                self.strings.get(py, 0, &args.table_name),
                int(py, args.segment_number),
                self.json_object(&args.keys_json, "keys_json")?,
                self.json_object(&args.item_json, "item_json")?,
            ],
            (F::SagemakerVectorsExtractDocumentElements, Args::ExtractDocumentElements(args)) => {
                vec![self.json_object(&args.document_json, "document_json")?]
            }
            (F::SagemakerVectorsConstructVectorDoc, Args::ConstructVectorDoc(args)) => {
                let vectors = PyDict::new(py);
                for (name, vector) in &args.vectors {
                    let values = PyList::new(py, &vector.values).map_err(|err| err.to_string())?;
                    vectors.set_item(name, values).map_err(|err| err.to_string())?;
                }
                vec![self.json_object(&args.document_json, "document_json")?, vectors.into_any()]
            }
            _ => return Err(format!("its arguments do not belong to {}", function.as_str_name())),
        };
        PyTuple::new(py, items).map_err(|err| err.to_string())
    }

    /// A dict parsed from JSON object bytes; `{}` for an unset field.
    fn json_object(&self, json: &[u8], field: &str) -> Result<Bound<'py, PyAny>, String> {
        if json.is_empty() {
            return Ok(PyDict::new(self.py).into_any());
        }
        // Decoding the UTF-8 here spares `json.loads` its encoding
        // detection, which costs more than parsing a small image.
        let text = std::str::from_utf8(json).map_err(|err| format!("{field} is not UTF-8 text: {err}"))?;
        let value = self
            .decode
            .call1((PyString::new(self.py, text),))
            .map_err(|err| format!("{field} is not valid JSON: {err}"))?;
        if !value.is_instance_of::<PyDict>() {
            return Err(format!("{field} is not a JSON object"));
        }
        Ok(value)
    }
}

fn text<'py>(py: Python<'py>, value: &str) -> Bound<'py, PyAny> {
    PyString::new(py, value).into_any()
}

fn optional_text<'py>(py: Python<'py>, value: Option<&str>) -> Bound<'py, PyAny> {
    match value {
        Some(value) => text(py, value),
        None => py.None().into_bound(py),
    }
}

fn int<'py, V>(py: Python<'py>, value: V) -> Bound<'py, PyAny>
where
    V: IntoPyObject<'py, Target = PyInt, Output = Bound<'py, PyInt>, Error = Infallible>,
{
    let Ok(int) = value.into_pyobject(py);
    int.into_any()
}

/// Reuses the Python string of a repeated argument: every record of a
/// batch names the same file type and file, or stream and shard.
#[derive(Default)]
struct StringCache<'py> {
    slots: [Option<(String, Bound<'py, PyString>)>; 2],
}

impl<'py> StringCache<'py> {
    fn get(&mut self, py: Python<'py>, slot: usize, text: &str) -> Bound<'py, PyAny> {
        match &self.slots[slot] {
            Some((cached, object)) if cached == text => object.clone().into_any(),
            _ => {
                let object = PyString::new(py, text);
                self.slots[slot] = Some((text.to_owned(), object.clone()));
                object.into_any()
            }
        }
    }
}
