//! Reads the outcome rows the glue module builds from what a handler
//! returned or threw, into protocol outcomes.
//!
//! The glue has already checked the shape of the user's result and
//! serialized its document (see glue.js, which also lays out the rows); this
//! side reads the row's fields in order. Enum fields carry the protocol's
//! numbers.

use std::collections::BTreeMap;

use deno_core::{serde_v8, v8};
use ferry_proto::pb;

use crate::handler::user_error_outcome;

/// Row kinds (glue.js `Kind`).
const TEXT: i64 = 1;
const HINT: i64 = 2;
const PARSED: i64 = 3;
const ERROR: i64 = 4;

/// The outcome in `row`, or why it cannot be read (a fault of the glue).
pub fn read<'s>(scope: &mut v8::PinScope<'s, '_>, row: v8::Local<'s, v8::Value>) -> Result<pb::Outcome, String> {
    let row = v8::Local::<v8::Array>::try_from(row).map_err(|_| "the outcome is not an array".to_owned())?;
    let mut fields = Fields { scope, row, next: 0 };
    let result = match fields.int()? {
        TEXT => pb::outcome::Result::Text(fields.string()?),
        HINT => pb::outcome::Result::Hint(pb::RecordParseHint {
            hint_type: fields.enum_value()?,
            pattern: fields.optional_string()?.map(String::into_bytes).unwrap_or_default().into(),
            offset: fields.int()?,
        }),
        PARSED => {
            let status = fields.enum_value()?;
            let next_record_type = fields.optional_string()?;
            let document = match fields.enum_value()? {
                0 => None,
                document_type => Some(pb::Document {
                    document_type,
                    document_id: fields.string()?,
                    record_type: fields.string()?,
                    partition_key: fields.string()?,
                    flat_json: fields.string()?.into_bytes().into(),
                    message: fields.string()?,
                    start_offsets: fields.string_pairs()?,
                    end_offsets: fields.string_pairs()?,
                }),
            };
            pb::outcome::Result::Parsed(pb::ParseDocumentResult { status, next_record_type, document })
        }
        ERROR => {
            let (error_type, message, traceback) = (fields.string()?, fields.string()?, fields.string()?);
            return Ok(user_error_outcome(error_type, message, traceback, fields.bool()?));
        }
        other => return Err(format!("unknown outcome kind {other}")),
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
