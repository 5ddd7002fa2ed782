//! Turns what the user's Python code returned (or raised) into protocol
//! outcomes.
//!
//! Results are read by duck typing, through the attribute names of the
//! LetsData document model, so classes from the ferry SDK, from a LetsData
//! project's own `letsdata_interfaces` copy, or any look-alike all work.
//! A result of the wrong shape is the user's error for that record, never a
//! failure of the batch.

use std::collections::BTreeMap;

use ferry_proto::pb;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pyo3::{PyErr, intern};

use super::json;
use crate::flat_json::{self, FlatDocument, HeadField, RESERVED_KEYS};
use crate::handler::user_error_outcome;

/// Error type reported when user code returns something ferry cannot read.
pub const INVALID_RESULT: &str = "InvalidHandlerResult";

/// Formats Python exceptions as user errors. Holds `traceback.format_exception`.
#[derive(Debug)]
pub struct ErrorFormatter {
    format_exception: Py<PyAny>,
}

impl ErrorFormatter {
    pub fn new(py: Python<'_>) -> PyResult<Self> {
        let format_exception = py.import("traceback")?.getattr("format_exception")?.unbind();
        Ok(Self { format_exception })
    }

    /// The outcome for an exception raised by user code.
    pub fn outcome(&self, py: Python<'_>, err: &PyErr) -> pb::Outcome {
        let value = err.value(py);
        let error_type = err
            .get_type(py)
            .qualname()
            .map(|name| name.to_string())
            .unwrap_or_else(|_| "Exception".to_owned());
        let message = value.str().map(|text| text.to_string()).unwrap_or_default();
        // The traceback is held by the PyErr, not necessarily attached to
        // the exception value, so it is passed explicitly.
        let traceback = self
            .format_exception
            .call1(py, (err.get_type(py), value, err.traceback(py)))
            .and_then(|lines| {
                let lines = lines.bind(py).cast::<PyList>()?.iter();
                Ok(lines.map(|line| line.to_string()).collect::<String>())
            })
            .unwrap_or_default();
        let retryable = value
            .getattr_opt(intern!(py, "retryable"))
            .ok()
            .flatten()
            .is_some_and(|flag| flag.is_truthy().unwrap_or(false));
        user_error_outcome(error_type, message, traceback, retryable)
    }
}

/// The outcome of a function that returns a string.
pub fn text(result: &Bound<'_, PyAny>, function: &str) -> pb::Outcome {
    match result.cast::<PyString>().map(|text| text.to_str()) {
        Ok(Ok(text)) => outcome(pb::outcome::Result::Text(text.to_owned())),
        _ => invalid(format!("{function} returned {}; expected a str", type_name(result))),
    }
}

/// The outcome of getRecordStartPattern / getRecordEndPattern.
pub fn hint(result: &Bound<'_, PyAny>, function: &str) -> pb::Outcome {
    match read_hint(result) {
        Ok(hint) => outcome(pb::outcome::Result::Hint(hint)),
        Err(reason) => invalid(format!("{function} returned an invalid RecordParseHint: {reason}")),
    }
}

fn read_hint(result: &Bound<'_, PyAny>) -> Result<pb::RecordParseHint, String> {
    let py = result.py();
    let kind = enum_text(&required_attr(result, intern!(py, "recordHintType"))?)?;
    match kind.to_ascii_uppercase().as_str() {
        "PATTERN" => {
            let pattern = required_attr(result, intern!(py, "pattern"))?;
            let pattern = pattern
                .cast::<PyString>()
                .map_err(|_| "pattern must be a str".to_owned())?
                .to_str()
                .map_err(|err| err.to_string())?;
            if pattern.is_empty() {
                return Err("pattern is empty".to_owned());
            }
            Ok(pb::RecordParseHint {
                hint_type: pb::RecordHintType::Pattern.into(),
                pattern: pattern.as_bytes().to_vec().into(),
                offset: 0,
            })
        }
        "OFFSET" => {
            let offset = required_attr(result, intern!(py, "offset"))?
                .extract::<i64>()
                .map_err(|_| "offset must be an int".to_owned())?;
            Ok(pb::RecordParseHint {
                hint_type: pb::RecordHintType::Offset.into(),
                pattern: Default::default(),
                offset,
            })
        }
        other => Err(format!("recordHintType is {other:?}; expected PATTERN or OFFSET")),
    }
}

/// The outcome of parseDocument and the other readers.
pub fn parse_result(result: &Bound<'_, PyAny>, function: &str) -> pb::Outcome {
    match read_parse_result(result) {
        Ok(parsed) => outcome(pb::outcome::Result::Parsed(parsed)),
        Err(err) => read_failure(result.py(), err, function, "ParseDocumentResult"),
    }
}

/// The outcome of constructVectorDoc, which returns a document (usually a
/// Document; an ErrorDoc or SkipDoc keeps its type, message and offsets).
pub fn document(result: &Bound<'_, PyAny>, function: &str) -> pb::Outcome {
    let py = result.py();
    let read = if result.is_none() {
        Err("got None".to_owned().into())
    } else if result.getattr_opt(intern!(py, "documentId")).ok().flatten().is_none() {
        Err(format!("got {}, which has no documentId", type_name(result)).into())
    } else {
        read_document(result)
    };
    match read {
        Ok(document) => outcome(pb::outcome::Result::Document(document)),
        Err(err) => read_failure(py, err, function, "Document"),
    }
}

/// The outcome of extractDocumentElementsForVectorization: a dict of
/// element names to the texts to embed, both str.
pub fn elements(result: &Bound<'_, PyAny>, function: &str) -> pb::Outcome {
    match read_elements(result) {
        Ok(entries) => outcome(pb::outcome::Result::Elements(pb::TextMap { entries })),
        Err(reason) => invalid(format!("{function} returned an invalid element map: {reason}")),
    }
}

fn read_elements(result: &Bound<'_, PyAny>) -> Result<BTreeMap<String, String>, String> {
    let dict = result.cast::<PyDict>().map_err(|_| {
        let got = if result.is_none() { "None".to_owned() } else { type_name(result) };
        format!("got {got}; expected a dict of element names to texts")
    })?;
    let mut entries = BTreeMap::new();
    for (name, text) in dict.iter() {
        let name = name
            .cast::<PyString>()
            .map_err(|_| format!("an element name is {}, not a str", type_name(&name)))?
            .to_str()
            .map_err(|err| format!("an element name is not valid text: {err}"))?;
        let mut quoted = Vec::new();
        json::write_str(name, &mut quoted);
        let quoted = String::from_utf8_lossy(&quoted);
        let text = text
            .cast::<PyString>()
            .map_err(|_| format!("the value of {quoted} is not a string"))?
            .to_str()
            .map_err(|err| format!("the value of {quoted} is not valid text: {err}"))?;
        entries.insert(name.to_owned(), text.to_owned());
    }
    Ok(entries)
}

/// The outcome of a result that could not be read as a `what`: the
/// user's error either way, named after the reason.
fn read_failure(py: Python<'_>, err: ReadError, function: &str, what: &str) -> pb::Outcome {
    match err {
        ReadError::Invalid(reason) => invalid(format!("{function} returned an invalid {what}: {reason}")),
        ReadError::Python(err) => {
            let error_type = err
                .get_type(py)
                .qualname()
                .map(|name| name.to_string())
                .unwrap_or_else(|_| INVALID_RESULT.to_owned());
            user_error_outcome(
                error_type,
                format!("{function} returned a document that cannot be serialized: {}", err.value(py)),
                String::new(),
                false,
            )
        }
    }
}

enum ReadError {
    Invalid(String),
    Python(PyErr),
}

impl From<String> for ReadError {
    fn from(reason: String) -> Self {
        ReadError::Invalid(reason)
    }
}

impl From<PyErr> for ReadError {
    fn from(err: PyErr) -> Self {
        ReadError::Python(err)
    }
}

fn read_parse_result(result: &Bound<'_, PyAny>) -> Result<pb::ParseDocumentResult, ReadError> {
    let py = result.py();
    if result.is_none() {
        return Err("got None".to_owned().into());
    }
    let status = match enum_text(&required_attr(result, intern!(py, "status"))?)?
        .to_ascii_uppercase()
        .as_str()
    {
        "SUCCESS" => pb::ParseStatus::Success,
        "ERROR" => pb::ParseStatus::Error,
        "SKIP" => pb::ParseStatus::Skip,
        other => return Err(format!("status is {other:?}; expected SUCCESS, ERROR or SKIP").into()),
    };
    let next_record_type = optional_text(result, intern!(py, "nextRecordType"))?;
    let document = match result.getattr_opt(intern!(py, "document"))? {
        Some(document) if !document.is_none() => Some(read_document(&document)?),
        _ => None,
    };
    if status == pb::ParseStatus::Success && document.is_none() {
        return Err("status is SUCCESS but there is no document".to_owned().into());
    }
    Ok(pb::ParseDocumentResult { status: status.into(), next_record_type, document })
}

fn read_document(document: &Bound<'_, PyAny>) -> Result<pb::Document, ReadError> {
    let py = document.py();
    let document_type = match document.getattr_opt(intern!(py, "documentType"))? {
        Some(kind) if !kind.is_none() => match enum_text(&kind)?.to_ascii_lowercase().as_str() {
            "document" => pb::DocumentType::Document,
            "errordoc" => pb::DocumentType::ErrorDoc,
            "skipdoc" => pb::DocumentType::SkipDoc,
            other => {
                return Err(format!(
                    "documentType is {other:?}; expected Document, ErrorDoc or SkipDoc"
                )
                .into());
            }
        },
        _ => pb::DocumentType::Document,
    };
    let id = attr_or_none(document, intern!(py, "documentId"))?;
    let record_type = attr_or_none(document, intern!(py, "recordType"))?;
    let partition_key = attr_or_none(document, intern!(py, "partitionKey"))?;
    let metadata = attr_or_none(document, intern!(py, "documentMetadata"))?;
    let key_values = attr_or_none(document, intern!(py, "documentKeyValuesMap"))?;

    let mut flat = Vec::with_capacity(256);
    let fields = PyFlatDocument {
        id: &id,
        record_type: &record_type,
        partition_key: &partition_key,
        metadata: &metadata,
        key_values: &key_values,
    };
    flat_json::write_document(&fields, &mut flat)?;

    let message_attr = match document_type {
        pb::DocumentType::SkipDoc => Some(intern!(py, "skipMessage")),
        pb::DocumentType::ErrorDoc => Some(intern!(py, "errorMessage")),
        _ => None,
    };
    let message = match message_attr {
        Some(name) => optional_text(document, name)?.unwrap_or_default(),
        None => String::new(),
    };
    // Only error and skip documents carry offsets; asking a plain Document
    // for them would raise and clear an AttributeError twice per record.
    let (start_offsets, end_offsets) = if message_attr.is_some() {
        (
            offsets(document, intern!(py, "errorStartoffsetMap"))?,
            offsets(document, intern!(py, "errorEndoffsetMap"))?,
        )
    } else {
        Default::default()
    };
    Ok(pb::Document {
        document_type: document_type.into(),
        document_id: text_or_empty(&id)?,
        record_type: text_or_empty(&record_type)?,
        partition_key: text_or_empty(&partition_key)?,
        flat_json: flat.into(),
        message,
        start_offsets,
        end_offsets,
    })
}

/// The attributes of a Python document, written in the flat form.
struct PyFlatDocument<'a, 'py> {
    id: &'a Bound<'py, PyAny>,
    record_type: &'a Bound<'py, PyAny>,
    partition_key: &'a Bound<'py, PyAny>,
    metadata: &'a Bound<'py, PyAny>,
    key_values: &'a Bound<'py, PyAny>,
}

impl FlatDocument for PyFlatDocument<'_, '_> {
    type Error = PyErr;

    fn write_head(&self, field: HeadField, out: &mut Vec<u8>) -> PyResult<()> {
        let value = match field {
            HeadField::DocumentId => self.id,
            HeadField::RecordType => self.record_type,
            HeadField::PartitionKey => self.partition_key,
            HeadField::DocumentMetadata if self.metadata.is_none() => {
                out.extend_from_slice(b"{}");
                return Ok(());
            }
            HeadField::DocumentMetadata => self.metadata,
        };
        json::write_value(value, out)
    }

    fn write_entries(&self, out: &mut Vec<u8>) -> PyResult<()> {
        if self.key_values.is_none() {
            return Ok(());
        }
        let map = self
            .key_values
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("documentKeyValuesMap must be a dict"))?;
        json::write_dict_entries(map, &RESERVED_KEYS, out)
    }
}

/// An offset map of an ErrorDoc or SkipDoc; values become strings, as the
/// Java contract types them.
fn offsets(
    document: &Bound<'_, PyAny>,
    name: &Bound<'_, PyString>,
) -> Result<BTreeMap<String, String>, ReadError> {
    let value = attr_or_none(document, name)?;
    if value.is_none() {
        return Ok(BTreeMap::new());
    }
    let map = value
        .cast::<PyDict>()
        .map_err(|_| format!("{name} must be a dict"))?;
    let mut offsets = BTreeMap::new();
    for (key, value) in map.iter() {
        offsets.insert(key.str()?.to_string(), value.str()?.to_string());
    }
    Ok(offsets)
}

/// The text of a str-valued field; other scalars are rendered as JSON so
/// an int document id still reaches the sinks.
fn text_or_empty(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if value.is_none() {
        return Ok(String::new());
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(text.to_str()?.to_owned());
    }
    let mut rendered = Vec::new();
    json::write_value(value, &mut rendered)?;
    Ok(String::from_utf8_lossy(&rendered).into_owned())
}

fn optional_text(
    object: &Bound<'_, PyAny>,
    name: &Bound<'_, PyString>,
) -> Result<Option<String>, ReadError> {
    let value = attr_or_none(object, name)?;
    if value.is_none() {
        return Ok(None);
    }
    Ok(Some(enum_text(&value)?))
}

/// The text of an enum member or string: a str (or str-valued enum) as is,
/// otherwise the member's `value`, otherwise its `name`.
fn enum_text(value: &Bound<'_, PyAny>) -> Result<String, String> {
    if let Ok(text) = value.cast::<PyString>() {
        return text.to_str().map(str::to_owned).map_err(|err| err.to_string());
    }
    let py = value.py();
    for field in [intern!(py, "value"), intern!(py, "name")] {
        if let Ok(Some(inner)) = value.getattr_opt(field)
            && let Ok(text) = inner.cast::<PyString>()
        {
            return text.to_str().map(str::to_owned).map_err(|err| err.to_string());
        }
    }
    Err(format!("{} is not a str or enum member", type_name(value)))
}

fn required_attr<'py>(
    object: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
) -> Result<Bound<'py, PyAny>, String> {
    match object.getattr_opt(name) {
        Ok(Some(value)) => Ok(value),
        _ => Err(format!("{} has no attribute {name}", type_name(object))),
    }
}

fn attr_or_none<'py>(
    object: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(object.getattr_opt(name)?.unwrap_or_else(|| object.py().None().into_bound(object.py())))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

fn outcome(result: pb::outcome::Result) -> pb::Outcome {
    pb::Outcome { result: Some(result) }
}

fn invalid(message: String) -> pb::Outcome {
    user_error_outcome(INVALID_RESULT, message, String::new(), false)
}
