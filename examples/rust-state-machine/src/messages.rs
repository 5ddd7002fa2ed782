//! A file of messages, each a header line followed by a body whose length
//! the header gives:
//!
//! ```text
//! MESSAGE m-0001 from=alice to=bob bytes=24
//! Hello Bob,
//! lunch at 12?
//! MESSAGE m-0002 from=bob to=alice bytes=0
//! ```
//!
//! A body can hold anything, newlines and `MESSAGE` lines included, so
//! records cannot be cut with fixed hints: after a header the next record
//! is exactly `bytes` long, after a body it is a line. The parser is a
//! two-state machine, HEADER then BODY, and the header's document carries
//! what the body needs.
//!
//! - A header becomes a SkipDoc holding its fields (counted as skipped);
//!   its body becomes the Message document. A header with `bytes=0` is the
//!   whole message: it becomes the Message, and a header comes next.
//! - A line that is not a header becomes an ErrorDoc, and the next line is
//!   read as a header again, so a damaged stretch costs one error per line.
//! - A header whose `bytes` is not a number fails (`ParseIntError`): the
//!   length of its body is unknown, so the next line is read as a body,
//!   which then has no header and becomes an ErrorDoc.
//! - A body that is not UTF-8 fails (`Utf8Error`); a body cut short by the
//!   end of the file becomes an ErrorDoc.

use ferry_bridge::host::rust::{
    Document, DocumentType, HandlerFailure, ParseDocumentResult, RecordParseHint, SingleFileStateMachineParser,
};
use serde_json::Value;

pub const FILE_TYPE: &str = "MESSAGES";
pub const HEADER: &str = "HEADER";
pub const BODY: &str = "BODY";
pub const MESSAGE: &str = "Message";

/// Reads message files; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageParser;

/// What a header says, as its SkipDoc keeps it.
struct Header<'a> {
    id: &'a str,
    from: &'a str,
    to: &'a str,
    bytes: u64,
    /// Where the header starts in the file.
    offset: u64,
}

impl<'a> Header<'a> {
    /// The header `document` holds, when it is one.
    fn of(document: Option<&'a Document>) -> Option<Self> {
        let document = document.filter(|document| {
            document.document_type == DocumentType::SkipDoc && document.record_type.as_deref() == Some(HEADER)
        })?;
        let text = |key: &str| document.document_key_values.get(key).and_then(Value::as_str);
        Some(Self {
            id: document.document_id.as_deref()?,
            from: text("from")?,
            to: text("to")?,
            bytes: document.document_key_values.get("bytes").and_then(Value::as_u64)?,
            offset: document.error_start_offsets.get(FILE_TYPE)?.parse().ok()?,
        })
    }

    fn message(&self, body: &str) -> Document {
        Document::new(self.id, MESSAGE)
            .with_partition_key(self.from)
            .with_metadata("offset", self.offset)
            .with_value("from", self.from)
            .with_value("to", self.to)
            .with_value("bytes", self.bytes)
            .with_value("body", body)
    }
}

impl SingleFileStateMachineParser for MessageParser {
    fn get_s3_file_type(&self) -> String {
        FILE_TYPE.to_owned()
    }

    fn get_next_expected_record_type(&self, _s3_file_type: &str, last_processed_record_type: Option<&str>) -> String {
        match last_processed_record_type {
            Some(HEADER) => BODY,
            _ => HEADER,
        }
        .to_owned()
    }

    fn get_next_record_start_pattern(&self, _: &str, _: &str, _: Option<&Document>) -> RecordParseHint {
        // Records follow each other with nothing in between.
        RecordParseHint::from_offset(0)
    }

    fn get_next_record_end_pattern(
        &self,
        _s3_file_type: &str,
        next_expected_record_type: &str,
        last_processed_doc: Option<&Document>,
    ) -> RecordParseHint {
        match Header::of(last_processed_doc) {
            Some(header) if next_expected_record_type == BODY => {
                // A header with a body has bytes >= 1, and a record of that
                // many bytes is cut.
                RecordParseHint::from_offset(i64::try_from(header.bytes).unwrap_or(i64::MAX))
            }
            // A header, or a body whose header could not be read: a line.
            _ => RecordParseHint::from_pattern("\n"),
        }
    }

    fn parse_document(
        &self,
        s3_file_type: &str,
        _s3_filename: &str,
        offset_bytes: u64,
        last_processed_record_type: Option<&str>,
        last_processed_doc: Option<&Document>,
        record: &[u8],
    ) -> Result<ParseDocumentResult, HandlerFailure> {
        let end = offset_bytes + record.len() as u64;
        let error = |message: String, record_type: &str| {
            Document::error_doc(message)
                .with_record_type(record_type)
                .with_start_offset(s3_file_type, offset_bytes)
                .with_end_offset(s3_file_type, end)
        };
        // parseDocument is not told the type its record was cut as: it
        // follows from the record before. After a header comes its body,
        // unless the header said otherwise with the next record type (an
        // ErrorDoc, or a message without a body).
        let is_body = last_processed_record_type == Some(HEADER)
            && last_processed_doc.is_none_or(|document| Header::of(Some(document)).is_some());
        if !is_body {
            return parse_header(record, offset_bytes, end, &error);
        }
        let Some(header) = Header::of(last_processed_doc) else {
            let mut result = ParseDocumentResult::error(error("a body needs its header before it".to_owned(), BODY));
            result.next_record_type = Some(HEADER.to_owned());
            return Ok(result);
        };
        if (record.len() as u64) < header.bytes {
            let message = format!("the body of {} is cut short: {} of {} bytes", header.id, record.len(), header.bytes);
            return Ok(ParseDocumentResult::error(error(message, BODY).with_document_id(header.id)));
        }
        let body = std::str::from_utf8(record)?;
        Ok(ParseDocumentResult::success(header.message(body)))
    }
}

fn parse_header(
    record: &[u8],
    offset: u64,
    end: u64,
    error: &dyn Fn(String, &str) -> Document,
) -> Result<ParseDocumentResult, HandlerFailure> {
    let line = String::from_utf8_lossy(record);
    let line = line.trim_end_matches(['\n', '\r']);
    let mut words = line.split(' ');
    let fields = match (words.next(), words.next()) {
        (Some("MESSAGE"), Some(id)) if !id.is_empty() => {
            let pairs: Vec<(&str, &str)> = words.filter_map(|word| word.split_once('=')).collect();
            let field = |key: &str| pairs.iter().find(|(name, _)| *name == key).map(|(_, value)| *value);
            match (field("from"), field("to"), field("bytes")) {
                (Some(from), Some(to), Some(bytes)) => Some((id, from, to, bytes)),
                _ => None,
            }
        }
        _ => None,
    };
    let Some((id, from, to, bytes)) = fields else {
        // Read the next line as a header again.
        let mut result = ParseDocumentResult::error(error(format!("not a message header: {line:?}"), HEADER));
        result.next_record_type = Some(HEADER.to_owned());
        return Ok(result);
    };
    let bytes: u64 = bytes.parse()?;
    let header = Document::skip_doc(format!("the header of {id}; its body makes the message"))
        .with_document_id(id)
        .with_record_type(HEADER)
        .with_value("from", from)
        .with_value("to", to)
        .with_value("bytes", bytes)
        .with_start_offset(FILE_TYPE, offset)
        .with_end_offset(FILE_TYPE, end);
    if bytes > 0 {
        return Ok(ParseDocumentResult::skip(header));
    }
    // No body: the header is the whole message.
    let message = Header::of(Some(&header)).map(|header| header.message(""));
    let mut result = ParseDocumentResult::success(message.unwrap_or(header));
    result.next_record_type = Some(HEADER.to_owned());
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(expected: &str, last: Option<&Document>, record: &str) -> Result<ParseDocumentResult, HandlerFailure> {
        let last_type = (expected == BODY).then_some(HEADER);
        MessageParser.parse_document(FILE_TYPE, "m.txt", 10, last_type, last, record.as_bytes())
    }

    #[test]
    fn a_header_then_its_body_make_a_message() {
        let header = parse(HEADER, None, "MESSAGE m-1 from=al to=bo bytes=3\n").expect("a header");
        let header_doc = header.document.clone().expect("a document");
        assert_eq!((header_doc.document_type, header.next_record_type.as_deref()), (DocumentType::SkipDoc, None));
        assert_eq!(
            MessageParser.get_next_record_end_pattern(FILE_TYPE, BODY, Some(&header_doc)),
            RecordParseHint::from_offset(3)
        );
        let body = parse(BODY, Some(&header_doc), "hi\n").expect("a body");
        assert_eq!(
            body.document.map(|document| String::from_utf8_lossy(&document.to_flat_json()).into_owned()).as_deref(),
            Some(
                r#"{"documentId":"m-1","recordType":"Message","partitionKey":"al","documentMetadata":{"offset":10},"from":"al","to":"bo","bytes":3,"body":"hi\n"}"#
            )
        );
    }

    #[test]
    fn broken_headers_and_bodies() {
        let not_header = parse(HEADER, None, "hello\n").expect("an ErrorDoc");
        assert_eq!(not_header.next_record_type.as_deref(), Some(HEADER));
        // ... so the line after it is read as a header, though the last
        // record was of type HEADER.
        let not_header_doc = not_header.document.clone();
        let again = MessageParser.parse_document(
            FILE_TYPE,
            "m",
            0,
            Some(HEADER),
            not_header_doc.as_ref(),
            b"MESSAGE m-9 from=a to=b bytes=1\n",
        );
        assert_eq!(
            again.ok().and_then(|result| result.document).and_then(|doc| doc.document_id).as_deref(),
            Some("m-9")
        );
        assert_eq!(not_header.document.map(|doc| doc.message).as_deref(), Some(r#"not a message header: "hello""#));
        let bad_length = parse(HEADER, None, "MESSAGE m-2 from=a to=b bytes=ten\n").err();
        assert_eq!(bad_length.map(|failure| failure.error_type).as_deref(), Some("ParseIntError"));
        // The line after a header that failed is its body, of unknown length.
        assert_eq!(
            MessageParser.get_next_record_end_pattern(FILE_TYPE, BODY, None),
            RecordParseHint::from_pattern("\n")
        );
        let orphan = parse(BODY, None, "text\n").expect("an ErrorDoc");
        assert_eq!(orphan.document.map(|doc| doc.message).as_deref(), Some("a body needs its header before it"));
        let header = parse(HEADER, None, "MESSAGE m-3 from=a to=b bytes=9\n").ok().and_then(|result| result.document);
        let short = parse(BODY, header.as_ref(), "abc").expect("an ErrorDoc");
        assert_eq!(
            short.document.map(|doc| doc.message).as_deref(),
            Some("the body of m-3 is cut short: 3 of 9 bytes")
        );
        let binary = MessageParser.parse_document(
            FILE_TYPE,
            "m",
            0,
            Some(HEADER),
            header.as_ref(),
            b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7",
        );
        assert_eq!(binary.err().map(|failure| failure.error_type).as_deref(), Some("Utf8Error"));
    }

    #[test]
    fn an_empty_message_is_its_header() {
        let result = parse(HEADER, None, "MESSAGE m-4 from=a to=b bytes=0\n").expect("a message");
        assert_eq!(result.next_record_type.as_deref(), Some(HEADER));
        let document = result.document.expect("a document");
        assert_eq!((document.document_type, document.record_type.as_deref()), (DocumentType::Document, Some(MESSAGE)));
        assert_eq!(document.document_key_values.get("body"), Some(&Value::from("")));
    }
}
