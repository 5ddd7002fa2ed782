//! Turns what a Rust handler returned (or how it failed) into protocol
//! outcomes, exactly as the Python host words them.
//!
//! The flat JSON of every document of a batch is written into one buffer
//! and handed out as slices of it, so a batch costs one allocation for
//! its documents rather than one per record.

use std::collections::BTreeMap;

use bytes::Bytes;
use ferry_proto::pb;

use super::document::{Document, DocumentType, ParseDocumentResult, ParseDocumentResultStatus, RecordParseHint};
use super::failure::HandlerFailure;
use super::panic::Caught;
use crate::handler::user_error_outcome;

/// Error type reported when user code returns something ferry cannot use
/// (the same as the Python and JS hosts).
pub const INVALID_RESULT: &str = "InvalidHandlerResult";

/// Error type of a call that panicked.
pub const PANIC: &str = "Panic";

/// The outcome of a function that returns a string.
pub fn text(text: String) -> pb::Outcome {
    outcome(pb::outcome::Result::Text(text))
}

/// The outcome of getRecordStartPattern / getRecordEndPattern.
pub fn hint(hint: &RecordParseHint, function: &str) -> pb::Outcome {
    match (hint.pattern(), hint.offset()) {
        (Some([]), _) => invalid(format!("{function} returned an invalid RecordParseHint: pattern is empty")),
        (Some(pattern), _) => outcome(pb::outcome::Result::Hint(pb::RecordParseHint {
            hint_type: pb::RecordHintType::Pattern.into(),
            pattern: Bytes::copy_from_slice(pattern),
            offset: 0,
        })),
        (None, offset) => outcome(pb::outcome::Result::Hint(pb::RecordParseHint {
            hint_type: pb::RecordHintType::Offset.into(),
            pattern: Bytes::new(),
            offset: offset.unwrap_or_default(),
        })),
    }
}

/// The outcome of extractDocumentElementsForVectorization.
pub fn elements(entries: BTreeMap<String, String>) -> pb::Outcome {
    outcome(pb::outcome::Result::Elements(pb::TextMap { entries }))
}

/// The outcome of a call that returned an `Err`.
pub fn failure(failure: HandlerFailure) -> pb::Outcome {
    user_error_outcome(failure.error_type, failure.message, failure.traceback, failure.retryable)
}

/// The outcome of a call that panicked. Not retryable: a panic is a bug,
/// and calling again with the same record panics again.
pub fn panicked(caught: Caught) -> pb::Outcome {
    user_error_outcome(PANIC, caught.message, caught.traceback, false)
}

fn outcome(result: pb::outcome::Result) -> pb::Outcome {
    pb::Outcome { result: Some(result) }
}

fn invalid(message: String) -> pb::Outcome {
    user_error_outcome(INVALID_RESULT, message, String::new(), false)
}

/// The outcomes of one batch, in call order, with every document's flat
/// JSON in one shared buffer.
#[derive(Debug)]
pub struct BatchOutcomes {
    outcomes: Vec<pb::Outcome>,
    flat: Vec<u8>,
    /// (outcome index, start, end) of each document's flat JSON in `flat`.
    spans: Vec<(usize, usize, usize)>,
}

impl BatchOutcomes {
    /// Room for `calls` outcomes and `flat_bytes` bytes of documents.
    pub fn with_capacity(calls: usize, flat_bytes: usize) -> Self {
        Self { outcomes: Vec::with_capacity(calls), flat: Vec::with_capacity(flat_bytes), spans: Vec::new() }
    }

    pub fn push(&mut self, outcome: pb::Outcome) {
        self.outcomes.push(outcome);
    }

    /// Adds the outcome of a guarded call: `push_value` adds what it
    /// returned; its failure or panic is a user error.
    pub fn push_guarded<T>(
        &mut self,
        result: Result<Result<T, HandlerFailure>, Caught>,
        push_value: impl FnOnce(&mut Self, T),
    ) {
        match result {
            Ok(Ok(value)) => push_value(self, value),
            Ok(Err(handler_failure)) => self.push(failure(handler_failure)),
            Err(caught) => self.push(panicked(caught)),
        }
    }

    /// Adds the outcome of parseDocument (or another reader) that returned
    /// `result`.
    pub fn push_parsed(&mut self, result: ParseDocumentResult, function: &str) {
        let ParseDocumentResult { next_record_type, document, status } = result;
        if status == ParseDocumentResultStatus::Success && document.is_none() {
            self.push(invalid(format!(
                "{function} returned an invalid ParseDocumentResult: status is SUCCESS but there is no document"
            )));
            return;
        }
        let document = document.map(|document| self.next_document(document));
        let status = match status {
            ParseDocumentResultStatus::Success => pb::ParseStatus::Success,
            ParseDocumentResultStatus::Error => pb::ParseStatus::Error,
            ParseDocumentResultStatus::Skip => pb::ParseStatus::Skip,
        };
        self.push(outcome(pb::outcome::Result::Parsed(pb::ParseDocumentResult {
            status: status.into(),
            next_record_type,
            document,
        })));
    }

    /// Adds the outcome of constructVectorDoc that returned `document`.
    pub fn push_document(&mut self, document: Document) {
        let document = self.next_document(document);
        self.push(outcome(pb::outcome::Result::Document(document)));
    }

    /// The protocol form of the document of the next outcome, its flat
    /// JSON written to the shared buffer.
    fn next_document(&mut self, document: Document) -> pb::Document {
        let start = self.flat.len();
        document.write_flat_json(&mut self.flat);
        self.spans.push((self.outcomes.len(), start, self.flat.len()));
        to_pb(document)
    }

    /// Bytes of flat JSON written so far.
    pub fn flat_bytes(&self) -> usize {
        self.flat.len()
    }

    /// The outcomes, each document holding its slice of the buffer.
    pub fn finish(self) -> Vec<pb::Outcome> {
        let Self { mut outcomes, flat, spans } = self;
        let flat = Bytes::from(flat);
        for (index, start, end) in spans {
            if let Some(
                pb::outcome::Result::Parsed(pb::ParseDocumentResult { document: Some(document), .. })
                | pb::outcome::Result::Document(document),
            ) = &mut outcomes[index].result
            {
                document.flat_json = flat.slice(start..end);
            }
        }
        outcomes
    }
}

/// The protocol form of a document, its flat JSON left to the caller.
fn to_pb(document: Document) -> pb::Document {
    let document_type = match document.document_type {
        DocumentType::Document => pb::DocumentType::Document,
        DocumentType::ErrorDoc => pb::DocumentType::ErrorDoc,
        DocumentType::SkipDoc => pb::DocumentType::SkipDoc,
    };
    pb::Document {
        document_type: document_type.into(),
        document_id: document.document_id.unwrap_or_default(),
        record_type: document.record_type.unwrap_or_default(),
        partition_key: document.partition_key.unwrap_or_default(),
        flat_json: Bytes::new(),
        message: document.message,
        start_offsets: document.error_start_offsets,
        end_offsets: document.error_end_offsets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(outcome: &pb::Outcome) -> Option<&pb::ParseDocumentResult> {
        match &outcome.result {
            Some(pb::outcome::Result::Parsed(parsed)) => Some(parsed),
            _ => None,
        }
    }

    fn error(outcome: &pb::Outcome) -> Option<(&str, &str)> {
        match &outcome.result {
            Some(pb::outcome::Result::Error(error)) => Some((&error.error_type, &error.message)),
            _ => None,
        }
    }

    #[test]
    fn every_document_gets_its_own_slice_of_the_batch_buffer() {
        let mut batch = BatchOutcomes::with_capacity(4, 0);
        batch.push_parsed(
            ParseDocumentResult::success(Document::new("a", "T").with_partition_key("p")),
            "parseDocument",
        );
        batch.push(failure(HandlerFailure::missing_key("id")));
        batch.push_parsed(
            ParseDocumentResult::error(
                Document::error_doc("bad")
                    .with_record_type("T")
                    .with_start_offset("LOGS", 3)
                    .with_end_offset("LOGS", 9),
            ),
            "parseDocument",
        );
        batch.push_parsed(ParseDocumentResult::skip(Document::skip_doc("debug")), "parseDocument");
        let outcomes = batch.finish();
        assert_eq!(outcomes.len(), 4);

        let first = parsed(&outcomes[0]).and_then(|parsed| parsed.document.clone()).unwrap_or_default();
        assert_eq!(
            (
                first.document_type(),
                first.document_id.as_str(),
                first.record_type.as_str(),
                first.partition_key.as_str()
            ),
            (pb::DocumentType::Document, "a", "T", "p")
        );
        assert_eq!(
            &first.flat_json[..],
            br#"{"documentId":"a","recordType":"T","partitionKey":"p","documentMetadata":{}}"#
        );
        assert_eq!(parsed(&outcomes[0]).map(|parsed| parsed.status()), Some(pb::ParseStatus::Success));

        assert_eq!(error(&outcomes[1]), Some(("KeyError", "'id'")));

        let third = parsed(&outcomes[2]).and_then(|parsed| parsed.document.clone()).unwrap_or_default();
        assert_eq!(parsed(&outcomes[2]).map(|parsed| parsed.status()), Some(pb::ParseStatus::Error));
        assert_eq!(
            (third.document_type(), third.document_id.as_str(), third.message.as_str()),
            (pb::DocumentType::ErrorDoc, "", "bad")
        );
        assert_eq!(third.start_offsets, BTreeMap::from([("LOGS".to_owned(), "3".to_owned())]));
        assert_eq!(third.end_offsets, BTreeMap::from([("LOGS".to_owned(), "9".to_owned())]));
        assert_eq!(
            &third.flat_json[..],
            br#"{"documentId":null,"recordType":"T","partitionKey":null,"documentMetadata":{}}"#
        );

        let fourth = parsed(&outcomes[3]).and_then(|parsed| parsed.document.clone()).unwrap_or_default();
        assert_eq!((fourth.document_type(), fourth.message.as_str()), (pb::DocumentType::SkipDoc, "debug"));
    }

    #[test]
    fn vector_documents_and_element_maps_become_their_outcomes() {
        let mut batch = BatchOutcomes::with_capacity(4, 0);
        batch.push_guarded(Ok(Ok(Document::new("v1", "Vectors").with_value("vectors", vec![0.5]))), |batch, doc| {
            batch.push_document(doc);
        });
        batch.push_guarded(Ok(Ok(BTreeMap::from([("docText".to_owned(), "hi".to_owned())]))), |batch, entries| {
            batch.push(elements(entries));
        });
        batch.push_guarded::<Document>(Ok(Err(HandlerFailure::new("Boom", "no"))), BatchOutcomes::push_document);
        batch.push_guarded::<Document>(
            Err(Caught { message: "bad".to_owned(), traceback: String::new() }),
            BatchOutcomes::push_document,
        );
        let outcomes = batch.finish();
        match &outcomes[0].result {
            Some(pb::outcome::Result::Document(document)) => assert_eq!(
                (document.document_type(), &document.flat_json[..]),
                (
                    pb::DocumentType::Document,
                    &br#"{"documentId":"v1","recordType":"Vectors","partitionKey":null,"documentMetadata":{},"vectors":[0.5]}"#[..]
                )
            ),
            other => panic!("expected a document outcome, got {other:?}"),
        }
        assert_eq!(
            outcomes[1].result,
            Some(pb::outcome::Result::Elements(pb::TextMap {
                entries: BTreeMap::from([("docText".to_owned(), "hi".to_owned())])
            }))
        );
        assert_eq!(error(&outcomes[2]), Some(("Boom", "no")));
        assert_eq!(error(&outcomes[3]), Some((PANIC, "bad")));
    }

    #[test]
    fn success_without_a_document_is_an_invalid_result() {
        let mut batch = BatchOutcomes::with_capacity(1, 0);
        batch.push_parsed(ParseDocumentResult::new(None, None, ParseDocumentResultStatus::Success), "parseDocument");
        let outcomes = batch.finish();
        assert_eq!(
            error(&outcomes[0]),
            Some((
                INVALID_RESULT,
                "parseDocument returned an invalid ParseDocumentResult: status is SUCCESS but there is no document"
            ))
        );
    }

    #[test]
    fn skip_without_a_document_is_fine() {
        let mut batch = BatchOutcomes::with_capacity(1, 0);
        batch.push_parsed(ParseDocumentResult::new(None, None, ParseDocumentResultStatus::Skip), "parseDocument");
        let outcomes = batch.finish();
        let skipped = parsed(&outcomes[0]);
        assert_eq!(
            skipped.map(|parsed| (parsed.status(), parsed.document.is_none())),
            Some((pb::ParseStatus::Skip, true))
        );
    }

    #[test]
    fn hints_become_protocol_hints_and_empty_patterns_are_refused() {
        let pattern = hint(&RecordParseHint::from_pattern("\r\n"), "getRecordEndPattern");
        assert_eq!(
            pattern.result,
            Some(pb::outcome::Result::Hint(pb::RecordParseHint {
                hint_type: pb::RecordHintType::Pattern.into(),
                pattern: Bytes::from_static(b"\r\n"),
                offset: 0,
            }))
        );
        let offset = hint(&RecordParseHint::from_offset(0), "getRecordStartPattern");
        assert_eq!(
            offset.result,
            Some(pb::outcome::Result::Hint(pb::RecordParseHint {
                hint_type: pb::RecordHintType::Offset.into(),
                pattern: Bytes::new(),
                offset: 0,
            }))
        );
        let empty = hint(&RecordParseHint::from_pattern(""), "getRecordEndPattern");
        assert_eq!(
            error(&empty),
            Some((INVALID_RESULT, "getRecordEndPattern returned an invalid RecordParseHint: pattern is empty"))
        );
    }

    #[test]
    fn panics_and_failures_keep_their_fields() {
        let panic = panicked(Caught { message: "boom".to_owned(), traceback: "panicked at x.rs:1:1".to_owned() });
        assert_eq!(
            panic.result,
            Some(pb::outcome::Result::Error(pb::UserError {
                error_type: "Panic".to_owned(),
                message: "boom".to_owned(),
                traceback: "panicked at x.rs:1:1".to_owned(),
                retryable: false,
            }))
        );
        let transient = failure(HandlerFailure::new("Throttled", "later").retryable());
        assert!(matches!(transient.result, Some(pb::outcome::Result::Error(pb::UserError { retryable: true, .. }))));
    }
}
