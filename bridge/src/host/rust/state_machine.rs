//! Stateful Rust parsers: the LetsData state-machine interfaces, which
//! LetsData offers in Java only.
//!
//! A file whose records are of several types, each found and read in its
//! own way depending on what came before (a header that says how long its
//! body is, an order followed by its items), is read by a
//! [`SingleFileStateMachineParser`]. Several files read together, each
//! record of the output made from records of some or all of them (orders
//! in one file joined with their items in another), are read by a
//! [`MultipleFileStateMachineReader`] pulling records from ferry's
//! [`SystemFileReader`]s.
//!
//! Unlike a `SingleFileParser`, whose records are cut ahead and parsed in
//! batches, a state machine's next record cannot be cut before the last
//! one is parsed: ferry runs each file task sequentially, in process. The
//! state it keeps for each file (position, last record type, the record
//! type expected next, last document) is part of the task's checkpoint, so
//! an interrupted task resumes exactly where it stopped.
//!
//! # How a file is read
//!
//! For each record, ferry asks the parser (all calls guarded: a panic
//! becomes a failure, as everywhere in the Rust host):
//!
//! 1. The record type expected next: the `next_record_type` of the last
//!    record's [`ParseDocumentResult`] when it set one, otherwise
//!    [`get_next_expected_record_type`](SingleFileStateMachineParser::get_next_expected_record_type)
//!    with the last record's type (`None` at the start of the file).
//! 2. The hints for a record of that type, given the last document:
//!    [`get_next_record_start_pattern`](SingleFileStateMachineParser::get_next_record_start_pattern)
//!    and [`get_next_record_end_pattern`](SingleFileStateMachineParser::get_next_record_end_pattern),
//!    with the same meaning as a `SingleFileParser`'s hints.
//! 3. [`parse_document`](SingleFileStateMachineParser::parse_document) on the
//!    record cut with them. The record was read as the expected type: that
//!    becomes the last record type; the document returned (of any kind)
//!    becomes the last document, or none when the call failed or returned
//!    none.
//!
//! The file ends when no record can be cut. A hint call that fails or
//! returns an unusable hint ends the task with an error: without hints the
//! next record cannot be found.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use ferry_proto::pb;

use super::RustHandlers;
use super::document::{Document, ParseDocumentResult, ParseDocumentResultStatus, RecordParseHint};
use super::failure::HandlerFailure;
use super::outcome::{self, BatchOutcomes, PANIC};
use super::panic;
use super::system_file_reader::SystemFileReader;

/// Reads a file whose records form a state machine (LetsData
/// `SingleFileStateMachineParser`). See the [module docs](self) for the
/// order of the calls.
///
/// The methods take `&self`: a parser may be used by several tasks at
/// once, and what a task needs to remember between records belongs in the
/// documents it returns (the next call sees the last one), where ferry
/// checkpoints it.
pub trait SingleFileStateMachineParser: Send + Sync + 'static {
    /// The file type this parser reads, e.g. `"MESSAGES"`; the key of the
    /// offset maps of error and skip documents.
    fn get_s3_file_type(&self) -> String;

    /// The name of the file to read for a manifest entry; by default the
    /// entry's own name.
    fn get_resolved_s3_file_name(&self, s3_file_type: &str, file_name: &str) -> String {
        let _ = s3_file_type;
        file_name.to_owned()
    }

    /// The record type expected after one of type
    /// `last_processed_record_type`; `None` asks for the first record of
    /// the file. Used when the last result set no `next_record_type`.
    fn get_next_expected_record_type(&self, s3_file_type: &str, last_processed_record_type: Option<&str>) -> String;

    /// Where the next record, of type `next_expected_record_type`, starts.
    /// `last_processed_doc` is the document the last record became, if
    /// any.
    fn get_next_record_start_pattern(
        &self,
        s3_file_type: &str,
        next_expected_record_type: &str,
        last_processed_doc: Option<&Document>,
    ) -> RecordParseHint;

    /// Where the next record, of type `next_expected_record_type`, ends.
    fn get_next_record_end_pattern(
        &self,
        s3_file_type: &str,
        next_expected_record_type: &str,
        last_processed_doc: Option<&Document>,
    ) -> RecordParseHint;

    /// Turns one record into a document. `offset_bytes` is the position of
    /// the record's first byte in the (decompressed) file, and `record`
    /// holds the whole record, its end pattern included.
    /// `last_processed_record_type` and `last_processed_doc` describe the
    /// record before (both `None` for the first). Setting the result's
    /// `next_record_type` chooses the type of the next record.
    ///
    /// An `Err` sends the record to the error folder with the failure's
    /// type and message; a retryable one is tried again first.
    fn parse_document(
        &self,
        s3_file_type: &str,
        s3_filename: &str,
        offset_bytes: u64,
        last_processed_record_type: Option<&str>,
        last_processed_doc: Option<&Document>,
        record: &[u8],
    ) -> Result<ParseDocumentResult, HandlerFailure>;
}

/// ferry's reader of each file of a multiple-file task, by file type, for
/// one [`MultipleFileStateMachineReader::parse_document`] call.
pub type SystemFileReaders<'a> = BTreeMap<String, &'a mut dyn SystemFileReader>;

/// Reads several files together (LetsData
/// `MultipleFileStateMachineReader`): each manifest line names one file per
/// file type (`ORDERS:orders-1.csv|ITEMS:items-1.csv`), and each line is a
/// task.
///
/// For each file ferry keeps a [`SystemFileReader`] that reads it with the
/// [`SingleFileStateMachineParser`] of its type. ferry then calls
/// [`parse_document`](Self::parse_document) while any file has a record
/// left; each call pulls records from the readers (peeking to decide, for
/// a join) and returns one result, routed like a `SingleFileParser`'s.
/// A call must consume at least one record: one that consumes none would
/// be called again in the same state forever, so ferry ends the task with
/// an error instead.
pub trait MultipleFileStateMachineReader: Send + Sync + 'static {
    /// The file types of every task's files.
    fn get_s3_file_types(&self) -> BTreeSet<String>;

    /// The names of the files to read for one manifest line, by file type;
    /// by default the line's own names.
    fn get_resolved_s3_file_names(
        &self,
        s3_file_type_file_name_map: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        s3_file_type_file_name_map.clone()
    }

    /// The parser of each file type; asked once per task.
    fn get_parser_interfaces_for_s3_file_types(
        &self,
        s3_file_types: &BTreeSet<String>,
    ) -> BTreeMap<String, Arc<dyn SingleFileStateMachineParser>>;

    /// The record type each file should read next, given each file's last
    /// record type (files without a record yet are absent). Asked before
    /// each [`parse_document`](Self::parse_document) call; a file left out
    /// of the answer reads on as its parser says. By default every file
    /// does.
    fn get_next_expected_record_type(
        &self,
        s3_file_type_to_last_processed_record_type: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let _ = s3_file_type_to_last_processed_record_type;
        BTreeMap::new()
    }

    /// Makes the next document from records pulled from `readers`.
    /// `last_processed_record_types` holds each file's last record type
    /// (files without a record yet are absent); `last_processed_doc` is
    /// the document the last call returned, if any.
    ///
    /// An `Err` sends the call's records to the error folder as one error
    /// record naming each file's offsets; a retryable one is not retried,
    /// since the records it consumed are gone.
    fn parse_document(
        &self,
        last_processed_record_types: &BTreeMap<String, String>,
        last_processed_doc: Option<&Document>,
        readers: &mut SystemFileReaders<'_>,
    ) -> Result<ParseCompositeDocumentResult, HandlerFailure>;
}

/// What [`MultipleFileStateMachineReader::parse_document`] returns
/// (LetsData `ParseCompositeDocumentResult`).
///
/// LetsData's result also carries each file's last record type and offset
/// and the readers' state; ferry reads those from its readers, which it
/// owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseCompositeDocumentResult {
    /// The record type each file should read next (LetsData
    /// `s3FileTypeNextRecordTypeMap`); files left out read on as
    /// [`MultipleFileStateMachineReader::get_next_expected_record_type`]
    /// and then their parser say.
    pub next_record_types: BTreeMap<String, String>,
    /// Required when the status is SUCCESS.
    pub document: Option<Document>,
    pub status: ParseDocumentResultStatus,
}

impl ParseCompositeDocumentResult {
    pub fn new(document: Option<Document>, status: ParseDocumentResultStatus) -> Self {
        Self { next_record_types: BTreeMap::new(), document, status }
    }

    /// SUCCESS with `document`, which goes to the sink.
    pub fn success(document: Document) -> Self {
        Self::new(Some(document), ParseDocumentResultStatus::Success)
    }

    /// ERROR with `document` (an ErrorDoc), which goes to the error folder.
    pub fn error(document: Document) -> Self {
        Self::new(Some(document), ParseDocumentResultStatus::Error)
    }

    /// SKIP with `document` (a SkipDoc), which is only counted.
    pub fn skip(document: Document) -> Self {
        Self::new(Some(document), ParseDocumentResultStatus::Skip)
    }

    /// Sets the record type `file_type` reads next.
    pub fn with_next_record_type(mut self, file_type: impl Into<String>, record_type: impl Into<String>) -> Self {
        self.next_record_types.insert(file_type.into(), record_type.into());
        self
    }
}

/// The state-machine readers registered in a [`RustHandlers`]. A dataset's
/// `readerType` picks which one its tasks use.
#[derive(Clone, Default)]
pub struct StateMachines {
    pub single_file: Option<Arc<dyn SingleFileStateMachineParser>>,
    pub multiple_file: Option<Arc<dyn MultipleFileStateMachineReader>>,
}

impl fmt::Debug for StateMachines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMachines")
            .field("single_file", &self.single_file.is_some())
            .field("multiple_file", &self.multiple_file.is_some())
            .finish()
    }
}

impl RustHandlers {
    /// Registers the `SingleFileStateMachineParser`, replacing any
    /// registered before; datasets whose `readerType` is "Single File
    /// State Machine Reader" use it.
    pub fn single_file_state_machine_parser(mut self, parser: impl SingleFileStateMachineParser) -> Self {
        self.state_machines.single_file = Some(Arc::new(parser));
        self
    }

    /// Registers the `MultipleFileStateMachineReader`, replacing any
    /// registered before; datasets whose `readerType` is "Multiple File
    /// State Machine Reader" use it.
    pub fn multiple_file_state_machine_reader(mut self, reader: impl MultipleFileStateMachineReader) -> Self {
        self.state_machines.multiple_file = Some(Arc::new(reader));
        self
    }

    /// The registered state-machine readers, for the task host.
    pub fn state_machines(&self) -> StateMachines {
        self.state_machines.clone()
    }
}

/// Runs one call of user code for the task host, so that a panic becomes a
/// [`HandlerFailure`] of type `Panic` (with its location as traceback),
/// never a crash.
pub fn guarded<T>(call: impl FnOnce() -> Result<T, HandlerFailure>) -> Result<T, HandlerFailure> {
    panic::guard(call)
        .unwrap_or_else(|caught| Err(HandlerFailure::new(PANIC, caught.message).with_traceback(caught.traceback)))
}

/// The protocol outcome of one parse call, worded exactly as the Rust
/// host words a `SingleFileParser`'s (an invalid result included), so the
/// task host routes both the same way.
pub fn parse_outcome(result: Result<ParseDocumentResult, HandlerFailure>, function: &str) -> pb::Outcome {
    match result {
        Err(failure) => outcome::failure(failure),
        Ok(result) => {
            let mut batch = BatchOutcomes::with_capacity(1, 0);
            batch.push_parsed(result, function);
            batch.finish().pop().unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Lines;

    impl SingleFileStateMachineParser for Lines {
        fn get_s3_file_type(&self) -> String {
            "LINES".to_owned()
        }

        fn get_next_expected_record_type(&self, _: &str, _: Option<&str>) -> String {
            "LINE".to_owned()
        }

        fn get_next_record_start_pattern(&self, _: &str, _: &str, _: Option<&Document>) -> RecordParseHint {
            RecordParseHint::from_offset(0)
        }

        fn get_next_record_end_pattern(&self, _: &str, _: &str, _: Option<&Document>) -> RecordParseHint {
            RecordParseHint::from_pattern("\n")
        }

        fn parse_document(
            &self,
            _: &str,
            _: &str,
            _: u64,
            _: Option<&str>,
            _: Option<&Document>,
            record: &[u8],
        ) -> Result<ParseDocumentResult, HandlerFailure> {
            let text = std::str::from_utf8(record)?;
            Ok(ParseDocumentResult::success(Document::new(text.trim_end(), "LINE")))
        }
    }

    struct Joined;

    impl MultipleFileStateMachineReader for Joined {
        fn get_s3_file_types(&self) -> BTreeSet<String> {
            BTreeSet::from(["A".to_owned(), "B".to_owned()])
        }

        fn get_parser_interfaces_for_s3_file_types(
            &self,
            s3_file_types: &BTreeSet<String>,
        ) -> BTreeMap<String, Arc<dyn SingleFileStateMachineParser>> {
            s3_file_types.iter().map(|file_type| (file_type.clone(), Arc::new(Lines) as Arc<_>)).collect()
        }

        fn parse_document(
            &self,
            _: &BTreeMap<String, String>,
            _: Option<&Document>,
            _: &mut SystemFileReaders<'_>,
        ) -> Result<ParseCompositeDocumentResult, HandlerFailure> {
            Ok(ParseCompositeDocumentResult::skip(Document::skip_doc("nothing")).with_next_record_type("A", "LINE"))
        }
    }

    #[test]
    fn state_machines_are_registered_beside_the_other_handlers() {
        let handlers = RustHandlers::new("sm", "1");
        let none = handlers.state_machines();
        assert!(none.single_file.is_none() && none.multiple_file.is_none());
        let handlers = handlers.single_file_state_machine_parser(Lines).multiple_file_state_machine_reader(Joined);
        let registered = handlers.state_machines();
        assert_eq!(registered.single_file.map(|parser| parser.get_s3_file_type()).as_deref(), Some("LINES"));
        let reader = registered.multiple_file.expect("registered");
        assert_eq!(reader.get_s3_file_types().len(), 2);
        // The defaults pass names through and leave the next types to the
        // parsers.
        let names = BTreeMap::from([("A".to_owned(), "a.txt".to_owned())]);
        assert_eq!(reader.get_resolved_s3_file_names(&names), names);
        assert!(reader.get_next_expected_record_type(&names).is_empty());
        let result = reader.parse_document(&BTreeMap::new(), None, &mut SystemFileReaders::new());
        assert_eq!(
            result.map(|result| result.next_record_types),
            Ok(BTreeMap::from([("A".to_owned(), "LINE".to_owned())]))
        );
        assert_eq!(
            format!("{:?}", handlers.state_machines()),
            "StateMachines { single_file: true, multiple_file: true }"
        );
    }

    #[test]
    fn a_panic_in_user_code_is_a_panic_failure() {
        let failure = guarded(|| -> Result<(), HandlerFailure> { panic!("state {} is unknown", "X") }).err();
        let failure = failure.expect("a failure");
        assert_eq!((failure.error_type.as_str(), failure.message.as_str()), ("Panic", "state X is unknown"));
        assert!(
            failure.traceback.starts_with("panicked at bridge/src/host/rust/state_machine.rs:"),
            "{}",
            failure.traceback
        );
        assert_eq!(guarded(|| Ok(7)), Ok(7));
    }

    #[test]
    fn parse_outcomes_are_worded_as_the_host_words_them() {
        let parsed = Lines.parse_document("LINES", "f", 0, None, None, b"hello\n");
        match parse_outcome(parsed, "parseDocument").result {
            Some(pb::outcome::Result::Parsed(parsed)) => {
                let document = parsed.document.unwrap_or_default();
                assert_eq!(
                    &document.flat_json[..],
                    br#"{"documentId":"hello","recordType":"LINE","partitionKey":null,"documentMetadata":{}}"#
                );
            }
            other => panic!("expected a parsed outcome, got {other:?}"),
        }
        let invalid = parse_outcome(
            Ok(ParseDocumentResult::new(None, None, ParseDocumentResultStatus::Success)),
            "parseDocument",
        );
        assert!(
            matches!(&invalid.result, Some(pb::outcome::Result::Error(error)) if error.error_type == outcome::INVALID_RESULT),
            "{invalid:?}"
        );
        let failed = parse_outcome(Lines.parse_document("LINES", "f", 0, None, None, b"\xff"), "parseDocument");
        assert!(matches!(&failed.result, Some(pb::outcome::Result::Error(error)) if error.error_type == "Utf8Error"));
    }
}
