//! Writes a JavaScript document's flat JSON in Rust, straight from the
//! engine's values, through the writer every host shares
//! ([`crate::flat_json`]), instead of running the SDK's `flatJson` (a
//! strict `JSON.stringify` calling a JavaScript replacer for every value)
//! in the engine on every record.
//!
//! The output is byte for byte what `flatJson` writes for the values
//! handled here: `null`, `undefined`, booleans, strings, finite numbers,
//! arrays and plain objects (of `Object.prototype` or none) that have no
//! `toJSON`. Anything else is [`Unsupported`]: a class instance (a Map, a
//! Date, a boxed primitive), any object with `toJSON`, a typed array, a
//! proxy, a bigint, a function or symbol, NaN or an infinity, a string
//! holding U+FFFD (which is how the engine hands over a lone surrogate), a
//! cycle, nesting deeper than [`MAX_DEPTH`], a getter that throws. The
//! caller then lets the glue serialize the whole document with `flatJson`,
//! which writes it or throws the error the handler's author sees; only time
//! is lost on such rare documents (and a getter with side effects runs
//! twice). Objects are told apart by prototype, so a Map or boxed number
//! whose prototype was swapped for `Object.prototype` would be written as a
//! plain object.

use std::cell::RefCell;

use deno_core::{serde_v8, v8};

use crate::flat_json::{self, FlatDocument, HeadField};

/// Nesting deeper than this is left to the engine's own serializer.
const MAX_DEPTH: usize = 64;

/// Integers below this magnitude print as their digits in JavaScript; above
/// it, or with a fraction, the engine's own number formatting decides.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// The document holds a value this writer leaves to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

/// The fields of a document that its flat JSON is made of, as the handler
/// returned them.
pub struct DocumentValues<'s> {
    pub document_id: v8::Local<'s, v8::Value>,
    pub record_type: v8::Local<'s, v8::Value>,
    pub partition_key: v8::Local<'s, v8::Value>,
    pub document_metadata: v8::Local<'s, v8::Value>,
    pub document_key_values_map: v8::Local<'s, v8::Value>,
}

/// A document in its flat form.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub flat_json: Vec<u8>,
    /// documentId, recordType and partitionKey as the protocol carries
    /// them: a string as it is, null or undefined as "", any other value as
    /// its JSON text.
    pub texts: [String; 3],
}

/// The flat JSON of the document made of `values`. `prototypes` are the
/// realm's `Object.prototype` and `Array.prototype`.
pub fn write<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    values: &DocumentValues<'s>,
    prototypes: &[v8::Global<v8::Object>; 2],
) -> Result<Written, Unsupported> {
    // A getter that throws leaves its exception here, not pending for the
    // engine's next call.
    v8::tc_scope!(let scope, scope);
    let prototypes = [v8::Local::new(scope, &prototypes[0]), v8::Local::new(scope, &prototypes[1])];
    let document =
        JsDocument { values, writer: RefCell::new(Writer::new(scope, prototypes)), texts: RefCell::default() };
    let mut flat_json = Vec::with_capacity(128);
    flat_json::write_document(&document, &mut flat_json)?;
    Ok(Written { flat_json, texts: document.texts.into_inner() })
}

struct JsDocument<'a, 'b, 's, 'i> {
    values: &'a DocumentValues<'s>,
    writer: RefCell<Writer<'b, 's, 'i>>,
    texts: RefCell<[String; 3]>,
}

impl FlatDocument for JsDocument<'_, '_, '_, '_> {
    type Error = Unsupported;

    fn write_head(&self, field: HeadField, out: &mut Vec<u8>) -> Result<(), Unsupported> {
        let mut writer = self.writer.borrow_mut();
        let (value, slot) = match field {
            HeadField::DocumentId => (self.values.document_id, 0),
            HeadField::RecordType => (self.values.record_type, 1),
            HeadField::PartitionKey => (self.values.partition_key, 2),
            HeadField::DocumentMetadata => {
                let metadata = self.values.document_metadata;
                if metadata.is_null_or_undefined() {
                    out.extend_from_slice(b"{}");
                    return Ok(());
                }
                return writer.value(metadata, out);
            }
        };
        let text = if value.is_null_or_undefined() {
            out.extend_from_slice(b"null");
            String::new()
        } else if let Ok(string) = v8::Local::<v8::String>::try_from(value) {
            let text = writer.text(string)?;
            flat_json::write_str(&text, out);
            text
        } else {
            let start = out.len();
            writer.value(value, out)?;
            String::from_utf8(out[start..].to_vec()).map_err(|_| Unsupported)?
        };
        self.texts.borrow_mut()[slot] = text;
        Ok(())
    }

    fn write_entries(&self, out: &mut Vec<u8>) -> Result<(), Unsupported> {
        let map = self.values.document_key_values_map;
        if map.is_null_or_undefined() {
            return Ok(());
        }
        let mut writer = self.writer.borrow_mut();
        // The SDK takes the entries of an object (not of a Map, an array or
        // binary data, which it refuses or reads otherwise) with
        // Object.entries: every value is read before any is serialized.
        let object = writer.ordinary_object(map).ok_or(Unsupported)?;
        if object.is_array() {
            return Err(Unsupported);
        }
        let entries = writer.entries(object)?;
        for (key, value) in entries {
            if value.is_undefined() || flat_json::is_reserved(&key) {
                continue;
            }
            flat_json::write_entry_key(&key, out);
            writer.value(value, out)?;
        }
        Ok(())
    }
}

/// Serializes engine values as `JSON.stringify` does, for the values it
/// supports.
struct Writer<'a, 's, 'i> {
    scope: &'a mut v8::PinScope<'s, 'i>,
    /// `Object.prototype` and `Array.prototype`.
    prototypes: [v8::Local<'s, v8::Object>; 2],
    /// "toJSON", made on first use.
    to_json: Option<v8::Local<'s, v8::String>>,
    /// The objects being written, outermost first: a cycle and the depth
    /// show here.
    open: Vec<v8::Local<'s, v8::Object>>,
}

impl<'a, 's, 'i> Writer<'a, 's, 'i> {
    fn new(scope: &'a mut v8::PinScope<'s, 'i>, prototypes: [v8::Local<'s, v8::Object>; 2]) -> Self {
        Self { scope, prototypes, to_json: None, open: Vec::new() }
    }

    /// Appends the JSON of `value`; undefined is written as null (as in an
    /// array).
    fn value(&mut self, value: v8::Local<'s, v8::Value>, out: &mut Vec<u8>) -> Result<(), Unsupported> {
        if value.is_null_or_undefined() {
            out.extend_from_slice(b"null");
        } else if value.is_true() {
            out.extend_from_slice(b"true");
        } else if value.is_false() {
            out.extend_from_slice(b"false");
        } else if let Ok(string) = v8::Local::<v8::String>::try_from(value) {
            let text = self.text(string)?;
            flat_json::write_str(&text, out);
        } else if let Ok(number) = v8::Local::<v8::Number>::try_from(value) {
            self.number(number, out)?;
        } else {
            self.object(value, out)?;
        }
        Ok(())
    }

    /// The text of a string; Unsupported when it may hold a lone surrogate,
    /// which JSON.stringify escapes but the engine hands over as U+FFFD.
    fn text(&mut self, string: v8::Local<'s, v8::String>) -> Result<String, Unsupported> {
        let text = serde_v8::to_utf8(string, self.scope);
        if text.contains(char::REPLACEMENT_CHARACTER) { Err(Unsupported) } else { Ok(text) }
    }

    fn number(&mut self, number: v8::Local<'s, v8::Number>, out: &mut Vec<u8>) -> Result<(), Unsupported> {
        let value = number.value();
        if !value.is_finite() {
            // JSON.stringify writes null; the SDK refuses, with its message.
            return Err(Unsupported);
        }
        if value.fract() == 0.0 && value.abs() < EXACT_INTEGERS {
            // Exact, and -0 prints as 0, as JavaScript prints it.
            #[allow(clippy::cast_possible_truncation)]
            let integer = value as i64;
            out.extend_from_slice(integer.to_string().as_bytes());
            return Ok(());
        }
        // Fractions and large values: JavaScript's shortest form, with its
        // own switch to exponents (1e+21, 1e-7), from the engine itself.
        let text = number.to_string(self.scope).ok_or(Unsupported)?;
        out.extend_from_slice(serde_v8::to_utf8(text, self.scope).as_bytes());
        Ok(())
    }

    fn object(&mut self, value: v8::Local<'s, v8::Value>, out: &mut Vec<u8>) -> Result<(), Unsupported> {
        let object = self.ordinary_object(value).ok_or(Unsupported)?;
        if self.open.len() >= MAX_DEPTH || self.open.iter().any(|open| open.strict_equals(value)) {
            return Err(Unsupported);
        }
        let to_json = match self.to_json {
            Some(key) => key,
            None => {
                let key = v8::String::new(self.scope, "toJSON").ok_or(Unsupported)?;
                *self.to_json.get_or_insert(key)
            }
        };
        if object.get(self.scope, to_json.into()).ok_or(Unsupported)?.is_function() {
            return Err(Unsupported);
        }
        self.open.push(object);
        let written = match v8::Local::<v8::Array>::try_from(value) {
            Ok(array) => self.array(array, out),
            Err(_) => self.properties(object, out),
        };
        self.open.pop();
        written
    }

    fn array(&mut self, array: v8::Local<'s, v8::Array>, out: &mut Vec<u8>) -> Result<(), Unsupported> {
        out.push(b'[');
        for index in 0..array.length() {
            if index > 0 {
                out.push(b',');
            }
            let item = array.get_index(self.scope, index).ok_or(Unsupported)?;
            self.value(item, out)?;
        }
        out.push(b']');
        Ok(())
    }

    /// An object's own enumerable string-keyed properties, read and written
    /// one after the other as JSON.stringify does; undefined ones are left
    /// out.
    fn properties(&mut self, object: v8::Local<'s, v8::Object>, out: &mut Vec<u8>) -> Result<(), Unsupported> {
        let names = self.own_keys(object)?;
        out.push(b'{');
        let mut first = true;
        for index in 0..names.length() {
            let name = names.get_index(self.scope, index).ok_or(Unsupported)?;
            let item = object.get(self.scope, name).ok_or(Unsupported)?;
            if item.is_undefined() {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            let key = self.key(name)?;
            flat_json::write_str(&key, out);
            out.push(b':');
            self.value(item, out)?;
        }
        out.push(b'}');
        Ok(())
    }

    /// An object's own enumerable string-keyed entries, every value read
    /// first, as Object.entries reads them.
    fn entries(
        &mut self,
        object: v8::Local<'s, v8::Object>,
    ) -> Result<Vec<(String, v8::Local<'s, v8::Value>)>, Unsupported> {
        let names = self.own_keys(object)?;
        let mut entries = Vec::with_capacity(names.length() as usize);
        for index in 0..names.length() {
            let name = names.get_index(self.scope, index).ok_or(Unsupported)?;
            let value = object.get(self.scope, name).ok_or(Unsupported)?;
            entries.push((self.key(name)?, value));
        }
        Ok(entries)
    }

    /// The names Object.keys gives, in its order (integer keys first).
    fn own_keys(&mut self, object: v8::Local<'s, v8::Object>) -> Result<v8::Local<'s, v8::Array>, Unsupported> {
        let args = v8::GetPropertyNamesArgs {
            mode: v8::KeyCollectionMode::OwnOnly,
            property_filter: v8::PropertyFilter::ONLY_ENUMERABLE | v8::PropertyFilter::SKIP_SYMBOLS,
            index_filter: v8::IndexFilter::IncludeIndices,
            key_conversion: v8::KeyConversionMode::ConvertToString,
        };
        object.get_own_property_names(self.scope, args).ok_or(Unsupported)
    }

    fn key(&mut self, name: v8::Local<'s, v8::Value>) -> Result<String, Unsupported> {
        let name = v8::Local::<v8::String>::try_from(name).map_err(|_| Unsupported)?;
        self.text(name)
    }

    /// `value` as an object whose own properties JSON.stringify reads as
    /// they are: a plain object (of `Object.prototype` or of no prototype)
    /// or an array (of `Array.prototype`). None for primitives, functions,
    /// proxies, typed arrays and objects of any other prototype (class
    /// instances, Maps, Dates, boxed primitives), which the SDK serializes
    /// or refuses by rules of its own.
    ///
    /// The prototype decides, not the engine's class checks, which call
    /// `Object.prototype.toString` and cost more than the whole document.
    fn ordinary_object(&mut self, value: v8::Local<'s, v8::Value>) -> Option<v8::Local<'s, v8::Object>> {
        if value.is_function() || value.is_proxy() || value.is_typed_array() {
            return None;
        }
        let object = v8::Local::<v8::Object>::try_from(value).ok()?;
        let prototype = object.get_prototype(self.scope)?;
        let [plain, array] = self.prototypes;
        let ordinary = if value.is_array() {
            prototype.strict_equals(array.into())
        } else {
            prototype.is_null() || prototype.strict_equals(plain.into())
        };
        ordinary.then_some(object)
    }
}
