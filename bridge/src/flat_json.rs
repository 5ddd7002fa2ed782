//! The flat JSON form of a document, the form sinks write
//! (`pb::Document.flat_json`). Every host serializes documents through
//! [`write_document`], so a document reads the same whichever language made it.
//!
//! The form is one compact JSON object (no spaces) holding, in this order:
//! `documentId`, `recordType`, `partitionKey`, `documentMetadata` (`{}`
//! when the handler gave none), then the entries of the document's
//! key-values map in the map's order, leaving out the four keys above
//! (the head wins). Strings are escaped as serde_json escapes them (only
//! `"`, `\` and control characters; no `\u` for non-ASCII text).

/// Keys the flat form writes itself, ahead of the key-values entries.
pub const RESERVED_KEYS: [&str; 4] = ["documentId", "recordType", "partitionKey", "documentMetadata"];

/// One of the four fields every flat document starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadField {
    DocumentId,
    RecordType,
    PartitionKey,
    /// Written as `{}` when the document has no metadata.
    DocumentMetadata,
}

impl HeadField {
    /// The head fields in the order they are written.
    pub const ALL: [HeadField; 4] =
        [HeadField::DocumentId, HeadField::RecordType, HeadField::PartitionKey, HeadField::DocumentMetadata];

    /// The field's key, as written.
    pub fn key(self) -> &'static str {
        match self {
            HeadField::DocumentId => RESERVED_KEYS[0],
            HeadField::RecordType => RESERVED_KEYS[1],
            HeadField::PartitionKey => RESERVED_KEYS[2],
            HeadField::DocumentMetadata => RESERVED_KEYS[3],
        }
    }
}

/// A document a host can write in the flat form. The host writes the
/// values; [`write_document`] owns the layout.
pub trait FlatDocument {
    type Error;

    /// Appends the JSON value of `field` (for `DocumentMetadata`, `{}`
    /// when there is none).
    fn write_head(&self, field: HeadField, out: &mut Vec<u8>) -> Result<(), Self::Error>;

    /// Appends each key-values entry whose key is not in
    /// [`RESERVED_KEYS`], in the map's order, through [`write_entry_key`]
    /// and the value.
    fn write_entries(&self, out: &mut Vec<u8>) -> Result<(), Self::Error>;
}

/// Appends the flat form of `document` to `out`. On error `out` may hold
/// part of the document.
pub fn write_document<D: FlatDocument + ?Sized>(document: &D, out: &mut Vec<u8>) -> Result<(), D::Error> {
    out.push(b'{');
    for (index, field) in HeadField::ALL.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_str(field.key(), out);
        out.push(b':');
        document.write_head(field, out)?;
    }
    document.write_entries(out)?;
    out.push(b'}');
    Ok(())
}

/// Appends `,"key":`, ready for the entry's value.
pub fn write_entry_key(key: &str, out: &mut Vec<u8>) {
    out.push(b',');
    write_str(key, out);
    out.push(b':');
}

/// Whether a key-values entry is left out of the flat form.
pub fn is_reserved(key: &str) -> bool {
    RESERVED_KEYS.contains(&key)
}

/// Appends `text` as a JSON string literal.
pub fn write_str(text: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and a &str is always valid JSON text.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl FlatDocument for Fixed {
        type Error = std::convert::Infallible;

        fn write_head(&self, field: HeadField, out: &mut Vec<u8>) -> Result<(), Self::Error> {
            match field {
                HeadField::DocumentMetadata => out.extend_from_slice(b"{}"),
                other => write_str(&format!("{other:?}"), out),
            }
            Ok(())
        }

        fn write_entries(&self, out: &mut Vec<u8>) -> Result<(), Self::Error> {
            for key in ["b", "documentId", "a"] {
                if !is_reserved(key) {
                    write_entry_key(key, out);
                    out.extend_from_slice(b"1");
                }
            }
            Ok(())
        }
    }

    #[test]
    fn the_head_comes_first_then_the_entries_in_order() {
        let mut out = Vec::new();
        let Ok(()) = write_document(&Fixed, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            r#"{"documentId":"DocumentId","recordType":"RecordType","partitionKey":"PartitionKey","documentMetadata":{},"b":1,"a":1}"#
        );
    }

    #[test]
    fn strings_escape_only_what_json_requires() {
        let mut out = Vec::new();
        write_str("é \"q\" \\ \n \u{1}", &mut out);
        assert_eq!(String::from_utf8(out).unwrap_or_default(), r#""é \"q\" \\ \n \u0001""#);
    }
}
