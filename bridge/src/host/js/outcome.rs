//! Reads the outcome rows the glue module builds from what a handler
//! returned or threw, into protocol outcomes.
//!
//! The glue has already checked the shape of the user's result (see
//! glue.js, which also lays out the rows); this side reads the row's fields
//! in order and writes documents' flat JSON from their field values
//! (json.rs), asking the glue's `serializeDocument` for the documents it
//! leaves to the SDK's flatJson. Enum fields carry the protocol's numbers.

use std::collections::BTreeMap;

use deno_core::{serde_v8, v8};
use ferry_proto::pb;

use super::json::{self, DocumentValues, Written};
use crate::handler::user_error_outcome;

/// Row kinds (glue.js `Kind`).
const TEXT: i64 = 1;
const HINT: i64 = 2;
const PARSED: i64 = 3;
const ERROR: i64 = 4;
const ELEMENTS: i64 = 5;
const DOCUMENT: i64 = 6;

/// Why a row gave no outcome.
#[derive(Debug)]
pub enum ReadFailure {
    /// The row is not as the glue lays rows out: a fault of the bridge.
    Unreadable(String),
    /// The call watchdog stopped the engine while the row was read (a
    /// document's getter ran too long).
    Terminated,
}

impl From<String> for ReadFailure {
    fn from(reason: String) -> Self {
        ReadFailure::Unreadable(reason)
    }
}

impl From<&str> for ReadFailure {
    fn from(reason: &str) -> Self {
        ReadFailure::Unreadable(reason.to_owned())
    }
}

/// What reading a document row needs besides the row.
pub struct Fallback<'a> {
    /// The glue's serializer of the documents json.rs leaves to the SDK.
    pub serialize_document: &'a v8::Global<v8::Function>,
    /// `Object.prototype` and `Array.prototype`, for json.rs.
    pub prototypes: &'a [v8::Global<v8::Object>; 2],
    /// The method whose result is read, for error messages.
    pub method: &'a str,
}

/// The outcome in `row`.
pub fn read<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    row: v8::Local<'s, v8::Value>,
    fallback: &Fallback<'_>,
) -> Result<pb::Outcome, ReadFailure> {
    let row = v8::Local::<v8::Array>::try_from(row).map_err(|_| "the outcome is not an array")?;
    let mut fields = Fields { scope, row, next: 0 };
    let kind = fields.int()?;
    let result = match kind {
        TEXT => pb::outcome::Result::Text(fields.string()?),
        HINT => pb::outcome::Result::Hint(pb::RecordParseHint {
            hint_type: fields.enum_value()?,
            pattern: fields.optional_string()?.map(String::into_bytes).unwrap_or_default().into(),
            offset: fields.int()?,
        }),
        PARSED | DOCUMENT => {
            let status = fields.enum_value()?;
            let next_record_type = fields.optional_string()?;
            let document = match fields.enum_value()? {
                0 => None,
                document_type => match fields.document(document_type, fallback)? {
                    Ok(document) => Some(document),
                    Err(unserializable) => return Ok(unserializable),
                },
            };
            if kind == PARSED {
                pb::outcome::Result::Parsed(pb::ParseDocumentResult { status, next_record_type, document })
            } else {
                pb::outcome::Result::Document(document.ok_or("a document outcome without a document")?)
            }
        }
        ELEMENTS => pb::outcome::Result::Elements(pb::TextMap { entries: fields.string_pairs()? }),
        ERROR => {
            let (error_type, message, traceback) = (fields.string()?, fields.string()?, fields.string()?);
            return Ok(user_error_outcome(error_type, message, traceback, fields.bool()?));
        }
        other => return Err(format!("unknown outcome kind {other}").into()),
    };
    Ok(pb::Outcome { result: Some(result) })
}

/// The fields of a row, read in order.
struct Fields<'a, 's, 'i> {
    scope: &'a mut v8::PinScope<'s, 'i>,
    row: v8::Local<'s, v8::Array>,
    next: u32,
}

impl<'s> Fields<'_, 's, '_> {
    /// The rest of a document row: its document, or the outcome of a
    /// document that cannot be serialized.
    fn document(
        &mut self,
        document_type: i32,
        fallback: &Fallback<'_>,
    ) -> Result<Result<pb::Document, pb::Outcome>, ReadFailure> {
        let message = self.string()?;
        let start_offsets = self.string_pairs()?;
        let end_offsets = self.string_pairs()?;
        let values = DocumentValues {
            document_id: self.value()?,
            record_type: self.value()?,
            partition_key: self.value()?,
            document_metadata: self.value()?,
            document_key_values_map: self.value()?,
        };
        let document = self.value()?;
        let written = match json::write(self.scope, &values, fallback.prototypes) {
            Ok(written) => written,
            Err(json::Unsupported) => match self.serialized_by_the_sdk(document, fallback)? {
                Ok(written) => written,
                Err(unserializable) => return Ok(Err(unserializable)),
            },
        };
        let Written { flat_json, texts: [document_id, record_type, partition_key] } = written;
        Ok(Ok(pb::Document {
            document_type,
            document_id,
            record_type,
            partition_key,
            flat_json: flat_json.into(),
            message,
            start_offsets,
            end_offsets,
        }))
    }

    /// The document as the glue's `serializeDocument` writes it, or the
    /// outcome of a document that cannot be serialized.
    fn serialized_by_the_sdk(
        &mut self,
        document: v8::Local<'s, v8::Value>,
        fallback: &Fallback<'_>,
    ) -> Result<Result<Written, pb::Outcome>, ReadFailure> {
        let serialize = v8::Local::new(self.scope, fallback.serialize_document);
        let method = v8::String::new(self.scope, fallback.method).ok_or("the method name is too long")?;
        let receiver = v8::undefined(self.scope).into();
        let Some(result) = serialize.call(self.scope, receiver, &[document, method.into()]) else {
            if self.scope.is_execution_terminating() {
                return Err(ReadFailure::Terminated);
            }
            return Err("the glue's serializeDocument threw".into());
        };
        let row = v8::Local::<v8::Array>::try_from(result).map_err(|_| "serializeDocument returned no array")?;
        let mut fields = Fields { scope: &mut *self.scope, row, next: 0 };
        if fields.value()?.is_number() {
            return Ok(Err(read(self.scope, result, fallback)?));
        }
        fields.next = 0;
        let flat_json = fields.string()?.into_bytes();
        let texts = [fields.string()?, fields.string()?, fields.string()?];
        Ok(Ok(Written { flat_json, texts }))
    }

    fn value(&mut self) -> Result<v8::Local<'s, v8::Value>, String> {
        let index = self.next;
        self.next += 1;
        self.row.get_index(self.scope, index).ok_or_else(|| format!("the outcome has no field {index}"))
    }

    fn int(&mut self) -> Result<i64, String> {
        let value = self.value()?;
        if !value.is_number() {
            return Err(format!("field {} of the outcome is not a number", self.next - 1));
        }
        value.integer_value(self.scope).ok_or_else(|| "a number field cannot be read".to_owned())
    }

    fn enum_value(&mut self) -> Result<i32, String> {
        let value = self.int()?;
        i32::try_from(value).map_err(|_| format!("{value} is not an enum value"))
    }

    fn bool(&mut self) -> Result<bool, String> {
        Ok(self.value()?.is_true())
    }

    fn string(&mut self) -> Result<String, String> {
        let value = self.value()?;
        self.text(value)
    }

    fn optional_string(&mut self) -> Result<Option<String>, String> {
        let value = self.value()?;
        if value.is_null_or_undefined() { Ok(None) } else { self.text(value).map(Some) }
    }

    /// A `[key, value, key, value, ...]` array of strings, as a map.
    fn string_pairs(&mut self) -> Result<BTreeMap<String, String>, String> {
        let value = self.value()?;
        let pairs = v8::Local::<v8::Array>::try_from(value).map_err(|_| "an offset map is not an array".to_owned())?;
        let mut map = BTreeMap::new();
        for index in (0..pairs.length()).step_by(2) {
            let key = pairs.get_index(self.scope, index).ok_or("an offset key is missing")?;
            let value = pairs.get_index(self.scope, index + 1).ok_or("an offset value is missing")?;
            map.insert(self.text(key)?, self.text(value)?);
        }
        Ok(map)
    }

    fn text(&mut self, value: v8::Local<'s, v8::Value>) -> Result<String, String> {
        let text = v8::Local::<v8::String>::try_from(value)
            .map_err(|_| format!("field {} of the outcome is not a string", self.next - 1))?;
        Ok(serde_v8::to_utf8(text, self.scope))
    }
}
