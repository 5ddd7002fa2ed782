//! ferry's file reader for state-machine parsers: the platform side of
//! LetsData's `SystemFileReader`.
//!
//! A [`FileReader`] reads one file record by record with
//! [`sources::file`](crate::sources::file)'s record cutter, giving the cutter
//! the hints the parser chooses for each record's expected type and the
//! last document, then has the parser turn the record into a document.
//! Reading and parsing block: readers run on the blocking pool.
//!
//! Its [`FilePosition`] (offset after the last consumed record, last
//! record type, the type expected next when one was set, last document)
//! is all that decides what comes next, so a reader opened at a stored
//! position reads on exactly as the one that stored it would have. A
//! record read ahead (a peek) is not part of the position: it is read
//! again after a resume.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use ferry_bridge::host::rust::{
    Document, HandlerFailure, ParseDocumentResult, RecordParseHint, SingleFileReaderState,
    SingleFileStateMachineParser, SystemFileReader, guarded, reader_document,
};

use crate::pipeline::{RETRY_PAUSE, RETRYABLE_ATTEMPTS};
use crate::sources::SourceError;
use crate::sources::file::{FileRecords, open_records};
use crate::sources::record_cutter::{Cut, CutterLimits, RecordHint};

/// Where a file stands after its last consumed record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilePosition {
    /// Position in the (decompressed) file just after the record.
    pub offset: u64,
    /// The type the record was read as; `None` before the first record.
    pub last_record_type: Option<String>,
    /// The type of the next record when it is already decided (the last
    /// result's `next_record_type`, or the reader's choice); otherwise the
    /// parser's `get_next_expected_record_type` decides.
    pub next_record_type: Option<String>,
    /// The document the record became (any kind); `None` when it failed or
    /// returned none.
    pub last_document: Option<Document>,
}

/// One record read from the file and parsed.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    /// Position of the record's first byte.
    pub offset: u64,
    /// Position just after it.
    pub end: u64,
    /// The record type it was read as.
    pub record_type: String,
    /// Its bytes; empty for a record over the size limit, which is never
    /// kept.
    pub payload: Bytes,
    /// What the parser made of it.
    pub result: Result<ParseDocumentResult, HandlerFailure>,
}

/// Where a file is to be read from, and as what.
#[derive(Clone)]
pub struct FileSpec {
    pub parser: Arc<dyn SingleFileStateMachineParser>,
    pub file_type: String,
    /// The name the parser resolved the manifest name to.
    pub resolved_name: String,
    pub path: PathBuf,
}

impl std::fmt::Debug for FileSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSpec")
            .field("file_type", &self.file_type)
            .field("resolved_name", &self.resolved_name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Reads one file for a state-machine parser; see the module docs.
pub struct FileReader {
    spec: FileSpec,
    records: FileRecords,
    /// The hints the cutter holds, so unchanged hints are not rebuilt.
    hints: (RecordHint, RecordHint),
    state: SingleFileReaderState,
    position: FilePosition,
    /// The next record, when it was cut while looking for the end of the
    /// file, with the type it was cut as.
    cut_ahead: Option<(String, Cut)>,
    /// The next record, when it was peeked at. At most one of the two is
    /// set.
    parsed_ahead: Option<ReadRecord>,
    /// Records `next_record` consumed since the last
    /// [`FileReader::take_consumed`].
    consumed: Vec<Bytes>,
    /// A failure of the file or of a hint call met by `next_record`: the
    /// task cannot go on, whatever the caller made of the `Err` it got.
    failure: Option<SourceError>,
}

impl std::fmt::Debug for FileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("spec", &self.spec)
            .field("state", &self.state)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl FileReader {
    /// Opens the file at `position`, ready to read the record after it.
    /// `read_bytes` counts bytes read from disk.
    pub fn open(spec: FileSpec, position: FilePosition, read_bytes: Arc<AtomicU64>) -> Result<Self, SourceError> {
        let record_type = expected_type(&spec, &position)?;
        let hints = hints(&spec, &record_type, position.last_document.as_ref())?;
        let records = open_records(
            &spec.path,
            position.offset,
            hints.0.clone(),
            hints.1.clone(),
            CutterLimits::default(),
            read_bytes,
        )?;
        Ok(Self {
            spec,
            records,
            hints,
            // Past CREATED already: a local file needs no download.
            state: SingleFileReaderState::FileDownloaded,
            position,
            cut_ahead: None,
            parsed_ahead: None,
            consumed: Vec::new(),
            failure: None,
        })
    }

    pub fn spec(&self) -> &FileSpec {
        &self.spec
    }

    pub fn position(&self) -> &FilePosition {
        &self.position
    }

    /// Decides the type of the next record, unless a record is already
    /// read ahead: that one stays next, as it was read.
    pub fn set_next_record_type(&mut self, record_type: String) {
        if self.cut_ahead.is_none() && self.parsed_ahead.is_none() {
            self.position.next_record_type = Some(record_type);
        }
    }

    /// Reads and parses the next record and consumes it; `None` at the end
    /// of the file.
    pub fn read(&mut self) -> Result<Option<ReadRecord>, SourceError> {
        let record = self.parse_next()?;
        if let Some(record) = &record {
            self.consume(record);
        }
        Ok(record)
    }

    /// Whether the file has a record left; finding out may cut it (not
    /// parse it) ahead.
    pub fn has_record(&mut self) -> Result<bool, SourceError> {
        if self.parsed_ahead.is_some() {
            return Ok(true);
        }
        self.cut_ahead = self.cut_next()?;
        Ok(self.cut_ahead.is_some())
    }

    /// The records `next_record` consumed since the last call, in order.
    pub fn take_consumed(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.consumed)
    }

    /// The failure `next_record` met, if any.
    pub fn take_failure(&mut self) -> Option<SourceError> {
        self.failure.take()
    }

    /// The task is done with the file, which it read to its end.
    pub fn close(&mut self) {
        self.enter(SingleFileReaderState::Closed);
    }

    fn enter(&mut self, next: SingleFileReaderState) {
        debug_assert!(self.state.can_move_to(next), "a file reader cannot go from {} to {next}", self.state);
        self.state = next;
    }

    /// The next record cut with the hints of the current position, unless
    /// one is already cut ahead.
    fn cut_next(&mut self) -> Result<Option<(String, Cut)>, SourceError> {
        if let Some(ahead) = self.cut_ahead.take() {
            return Ok(Some(ahead));
        }
        if matches!(self.state, SingleFileReaderState::Completed | SingleFileReaderState::Closed) {
            return Ok(None);
        }
        self.enter(SingleFileReaderState::Processing);
        let record_type = expected_type(&self.spec, &self.position)?;
        let hints = hints(&self.spec, &record_type, self.position.last_document.as_ref())?;
        if hints != self.hints {
            self.records
                .set_hints(hints.0.clone(), hints.1.clone())
                .map_err(|source| SourceError::Hints { unit: self.unit(), source })?;
            self.hints = hints;
        }
        let cut = self.records.next_cut().map_err(|source| SourceError::Io { path: self.spec.path.clone(), source })?;
        if cut.is_none() {
            self.enter(SingleFileReaderState::Completed);
        }
        Ok(cut.map(|cut| (record_type, cut)))
    }

    /// The next record, parsed; read ahead ones first.
    fn parse_next(&mut self) -> Result<Option<ReadRecord>, SourceError> {
        if let Some(record) = self.parsed_ahead.take() {
            return Ok(Some(record));
        }
        let Some((record_type, cut)) = self.cut_next()? else { return Ok(None) };
        let spec = &self.spec;
        let position = &self.position;
        Ok(Some(match cut {
            Cut::Oversized { offset, length } => ReadRecord {
                offset,
                end: offset + length,
                record_type,
                payload: Bytes::new(),
                result: Err(HandlerFailure::new(
                    "RecordTooLarge",
                    format!(
                        "the record is {length} bytes, over the limit of {} bytes; it was not sent to the parser",
                        CutterLimits::default().max_record_bytes
                    ),
                )),
            },
            Cut::Record { offset, bytes } => {
                let parse = || {
                    guarded(|| {
                        spec.parser.parse_document(
                            &spec.file_type,
                            &spec.resolved_name,
                            offset,
                            position.last_record_type.as_deref(),
                            position.last_document.as_ref(),
                            &bytes,
                        )
                    })
                };
                let result = with_retries(parse);
                ReadRecord { offset, end: offset + bytes.len() as u64, record_type, payload: bytes, result }
            }
        }))
    }

    fn consume(&mut self, record: &ReadRecord) {
        let (next_record_type, last_document) = match &record.result {
            Ok(result) => (result.next_record_type.clone(), result.document.clone()),
            Err(_) => (None, None),
        };
        self.position = FilePosition {
            offset: record.end,
            last_record_type: Some(record.record_type.clone()),
            next_record_type,
            last_document,
        };
    }

    fn unit(&self) -> String {
        self.spec.path.display().to_string()
    }
}

impl SystemFileReader for FileReader {
    fn next_record(&mut self, peek: bool) -> Result<Option<Document>, HandlerFailure> {
        let record = match self.parse_next() {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(None),
            Err(err) => {
                let failure = HandlerFailure::new("ReaderFailure", err.to_string());
                self.failure = Some(err);
                return Err(failure);
            }
        };
        let document = match &record.result {
            Ok(result) => reader_document(result.clone()),
            Err(failure) => Err(failure.clone()),
        };
        if peek {
            self.parsed_ahead = Some(record);
        } else {
            self.consume(&record);
            self.consumed.push(record.payload);
        }
        document.map(Some)
    }

    fn get_state(&self) -> SingleFileReaderState {
        self.state
    }

    fn get_offset_bytes(&self) -> u64 {
        self.position.offset
    }

    fn get_file_type(&self) -> &str {
        &self.spec.file_type
    }

    fn get_file_name(&self) -> &str {
        &self.spec.resolved_name
    }

    fn get_last_record_type(&self) -> Option<&str> {
        self.position.last_record_type.as_deref()
    }
}

/// Calls `parse` until it succeeds, fails for good, or has been tried
/// `RETRYABLE_ATTEMPTS` times, pausing between tries as the pipeline does.
fn with_retries(
    parse: impl Fn() -> Result<ParseDocumentResult, HandlerFailure>,
) -> Result<ParseDocumentResult, HandlerFailure> {
    let mut attempt = 1;
    loop {
        match parse() {
            Err(failure) if failure.retryable && attempt < RETRYABLE_ATTEMPTS => {
                std::thread::sleep(RETRY_PAUSE * 2_u32.pow(attempt - 1));
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// The type of the record after `position`.
fn expected_type(spec: &FileSpec, position: &FilePosition) -> Result<String, SourceError> {
    if let Some(record_type) = &position.next_record_type {
        return Ok(record_type.clone());
    }
    let parser = &spec.parser;
    let last = position.last_record_type.as_deref();
    user_call("getNextExpectedRecordType", || Ok(parser.get_next_expected_record_type(&spec.file_type, last)))
}

/// The start and end hints for a record of `record_type` after
/// `last_document`.
fn hints(
    spec: &FileSpec,
    record_type: &str,
    last_document: Option<&Document>,
) -> Result<(RecordHint, RecordHint), SourceError> {
    let (parser, file_type) = (&spec.parser, spec.file_type.as_str());
    let start = user_call("getNextRecordStartPattern", || {
        Ok(parser.get_next_record_start_pattern(file_type, record_type, last_document))
    })?;
    let end = user_call("getNextRecordEndPattern", || {
        Ok(parser.get_next_record_end_pattern(file_type, record_type, last_document))
    })?;
    Ok((record_hint("getNextRecordStartPattern", &start)?, record_hint("getNextRecordEndPattern", &end)?))
}

fn record_hint(function: &'static str, hint: &RecordParseHint) -> Result<RecordHint, SourceError> {
    match (hint.pattern(), hint.offset()) {
        (Some(pattern), _) => Ok(RecordHint::Pattern(pattern.to_vec())),
        (None, offset) => {
            let offset = offset.unwrap_or_default();
            u64::try_from(offset)
                .map(RecordHint::Offset)
                .map_err(|_| SourceError::Handler { function, message: format!("offset {offset} is negative") })
        }
    }
}

/// Runs a call of user code whose failure ends the task: without its
/// answer the file cannot be read on.
pub fn user_call<T>(
    function: &'static str,
    call: impl FnOnce() -> Result<T, HandlerFailure>,
) -> Result<T, SourceError> {
    guarded(call).map_err(|failure| {
        let mut message = format!("{}: {}", failure.error_type, failure.message);
        if !failure.traceback.is_empty() {
            message.push('\n');
            message.push_str(&failure.traceback);
        }
        SourceError::Handler { function, message }
    })
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ferry_bridge::host::rust::ParseDocumentResultStatus;

    use super::*;

    /// A length-prefixed file: a `LEN` record (two digits and a newline)
    /// says how long the `BODY` after it is; `00` goes straight on to the
    /// next length. A body `!` fails retryably while `failures` lasts; `?`
    /// panics. A length `-1` asks for an impossible record.
    #[derive(Default)]
    pub struct Lengths {
        pub parses: AtomicUsize,
        pub failures: AtomicUsize,
    }

    impl SingleFileStateMachineParser for Lengths {
        fn get_s3_file_type(&self) -> String {
            "LENGTHS".to_owned()
        }

        fn get_next_expected_record_type(&self, _: &str, last: Option<&str>) -> String {
            if last == Some("LEN") { "BODY" } else { "LEN" }.to_owned()
        }

        fn get_next_record_start_pattern(&self, _: &str, _: &str, _: Option<&Document>) -> RecordParseHint {
            RecordParseHint::from_offset(0)
        }

        fn get_next_record_end_pattern(&self, _: &str, expected: &str, last: Option<&Document>) -> RecordParseHint {
            match (expected, last.and_then(|doc| doc.document_key_values.get("length")?.as_i64())) {
                ("BODY", Some(length)) => RecordParseHint::from_offset(length),
                _ => RecordParseHint::from_pattern("\n"),
            }
        }

        fn parse_document(
            &self,
            file_type: &str,
            file_name: &str,
            offset: u64,
            last_type: Option<&str>,
            last_doc: Option<&Document>,
            record: &[u8],
        ) -> Result<ParseDocumentResult, HandlerFailure> {
            self.parses.fetch_add(1, Ordering::SeqCst);
            let text = std::str::from_utf8(record)?;
            let body_length = last_doc.and_then(|doc| doc.document_key_values.get("length")?.as_i64());
            if last_type != Some("LEN") || body_length.unwrap_or_default() == 0 {
                let length: i64 = text.trim_end().parse()?;
                let mut result = ParseDocumentResult::skip(Document::skip_doc("length").with_value("length", length));
                if length == 0 {
                    result.next_record_type = Some("LEN".to_owned());
                }
                return Ok(result);
            }
            if text == "!" && self.failures.load(Ordering::SeqCst) > 0 {
                self.failures.fetch_sub(1, Ordering::SeqCst);
                return Err(HandlerFailure::new("Busy", "try again").retryable());
            }
            if text == "?" {
                panic!("cannot parse {text}");
            }
            let document = Document::new(format!("{file_type}@{offset}"), "BODY").with_partition_key(file_name);
            Ok(ParseDocumentResult::success(document.with_value("text", text)))
        }
    }

    /// Records: 0 LEN, 3 BODY "abc", 6 LEN 00, 9 LEN, 12 BODY "!", 13 LEN,
    /// 16 BODY "?", 17 LEN, 20 BODY "z"; 21 bytes.
    pub const DATA: &str = "03\nabc00\n01\n!01\n?01\nz";

    pub fn data_file(data: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.len");
        std::fs::write(&path, data).expect("write");
        (dir, path)
    }

    fn open(parser: &Arc<Lengths>, path: &std::path::Path, position: FilePosition) -> FileReader {
        let parser: Arc<dyn SingleFileStateMachineParser> = parser.clone();
        let spec =
            FileSpec { parser, file_type: "LENGTHS".to_owned(), resolved_name: "f".to_owned(), path: path.into() };
        FileReader::open(spec, position, Arc::default()).expect("open")
    }

    fn describe(record: &ReadRecord) -> String {
        let outcome = match &record.result {
            Ok(result) => match (&result.status, &result.document) {
                (ParseDocumentResultStatus::Success, Some(doc)) => doc.document_key_values["text"].to_string(),
                (status, _) => format!("{status:?}"),
            },
            Err(failure) => format!("{} {}", failure.error_type, failure.message),
        };
        format!("{} {} {outcome}", record.offset, record.record_type)
    }

    fn read_all(reader: &mut FileReader) -> Vec<String> {
        std::iter::from_fn(|| reader.read().expect("read")).map(|record| describe(&record)).collect()
    }

    #[test]
    fn records_are_cut_with_the_hints_of_their_state() {
        let (_dir, path) = data_file(DATA);
        let parser = Arc::new(Lengths::default());
        let mut reader = open(&parser, &path, FilePosition::default());
        assert_eq!(reader.get_state(), SingleFileReaderState::FileDownloaded);
        assert_eq!(
            read_all(&mut reader),
            [
                "0 LEN Skip",
                "3 BODY \"abc\"",
                "6 LEN Skip",
                "9 LEN Skip",
                "12 BODY \"!\"",
                "13 LEN Skip",
                "16 BODY Panic cannot parse ?",
                "17 LEN Skip",
                "20 BODY \"z\"",
            ]
        );
        assert_eq!(reader.get_state(), SingleFileReaderState::Completed);
        assert_eq!(
            (reader.get_offset_bytes(), reader.get_last_record_type(), reader.get_file_name()),
            (DATA.len() as u64, Some("BODY"), "f")
        );
        reader.close();
        assert_eq!(reader.get_state(), SingleFileReaderState::Closed);
        assert!(reader.read().expect("read").is_none());
    }

    #[test]
    fn a_reader_opened_at_a_stored_position_reads_on_as_the_first_would() {
        let (_dir, path) = data_file(DATA);
        let parser = Arc::new(Lengths::default());
        let mut reader = open(&parser, &path, FilePosition::default());
        let (mut positions, mut lines) = (vec![FilePosition::default()], Vec::new());
        while let Some(record) = reader.read().expect("read") {
            lines.push(describe(&record));
            positions.push(reader.position().clone());
        }
        assert_eq!(lines.len(), 9);
        for (done, position) in positions.into_iter().enumerate() {
            let mut resumed = open(&parser, &path, position.clone());
            assert_eq!(read_all(&mut resumed), lines[done..], "resumed at {position:?}");
        }
    }

    #[test]
    fn retryable_failures_are_tried_again_up_to_the_pipelines_limit() {
        let (_dir, path) = data_file("01\n!");
        let parser = Arc::new(Lengths::default());
        parser.failures.store(2, Ordering::SeqCst);
        assert_eq!(read_all(&mut open(&parser, &path, FilePosition::default())), ["0 LEN Skip", "3 BODY \"!\""]);
        assert_eq!(parser.parses.load(Ordering::SeqCst), 4);
        parser.failures.store(RETRYABLE_ATTEMPTS as usize, Ordering::SeqCst);
        assert_eq!(
            read_all(&mut open(&parser, &path, FilePosition::default())),
            ["0 LEN Skip", "3 BODY Busy try again"]
        );
    }

    #[test]
    fn a_peeked_record_is_parsed_once_and_stays_next() {
        let (_dir, path) = data_file(DATA);
        let parser = Arc::new(Lengths::default());
        let mut reader = open(&parser, &path, FilePosition::default());
        let first = reader.next_record(true).expect("peek");
        assert_eq!(reader.next_record(true).expect("peek again"), first);
        assert_eq!((parser.parses.load(Ordering::SeqCst), reader.get_offset_bytes()), (1, 0));
        assert_eq!(reader.get_state(), SingleFileReaderState::Processing);
        // A record read ahead keeps the type it was read as.
        reader.set_next_record_type("BODY".to_owned());
        let consumed = reader.next_record(false).expect("consume");
        assert_eq!(consumed, first);
        assert_eq!((parser.parses.load(Ordering::SeqCst), reader.get_offset_bytes()), (1, 3));
        assert_eq!(
            consumed.map(|doc| (doc.document_type, doc.message)),
            Some((ferry_bridge::host::rust::DocumentType::SkipDoc, "length".to_owned()))
        );
        assert_eq!(reader.take_consumed(), [Bytes::from_static(b"03\n")]);
        // With nothing ahead, the choice holds: a line is cut, not a body.
        reader.set_next_record_type("LEN".to_owned());
        let line = reader.next_record(false).expect("a record").map(|doc| doc.document_key_values["text"].clone());
        assert_eq!(line, Some("abc00\n".into()));
        assert_eq!((reader.get_last_record_type(), reader.get_offset_bytes()), (Some("LEN"), 9));
    }

    /// Asks for a body of length -1 after `01`.
    struct Negative;

    impl SingleFileStateMachineParser for Negative {
        fn get_s3_file_type(&self) -> String {
            "NEGATIVE".to_owned()
        }

        fn get_next_expected_record_type(&self, _: &str, last: Option<&str>) -> String {
            Lengths::default().get_next_expected_record_type("", last)
        }

        fn get_next_record_start_pattern(&self, _: &str, _: &str, _: Option<&Document>) -> RecordParseHint {
            RecordParseHint::from_offset(0)
        }

        fn get_next_record_end_pattern(&self, _: &str, expected: &str, _: Option<&Document>) -> RecordParseHint {
            if expected == "BODY" { RecordParseHint::from_offset(-1) } else { RecordParseHint::from_pattern("\n") }
        }

        fn parse_document(
            &self,
            _: &str,
            _: &str,
            _: u64,
            _: Option<&str>,
            _: Option<&Document>,
            _: &[u8],
        ) -> Result<ParseDocumentResult, HandlerFailure> {
            Ok(ParseDocumentResult::skip(Document::skip_doc("length")))
        }
    }

    #[test]
    fn an_unusable_hint_fails_the_reader_whatever_its_caller_does() {
        let (_dir, path) = data_file(DATA);
        let spec = FileSpec {
            parser: Arc::new(Negative),
            file_type: "NEGATIVE".to_owned(),
            resolved_name: "f".to_owned(),
            path,
        };
        let mut reader = FileReader::open(spec, FilePosition::default(), Arc::default()).expect("open");
        assert!(reader.next_record(false).is_ok());
        let failure = reader.next_record(false).expect_err("no hint");
        assert_eq!(failure.error_type, "ReaderFailure");
        assert_eq!(
            reader.take_failure().map(|err| err.to_string()).as_deref(),
            Some("getNextRecordEndPattern failed: offset -1 is negative")
        );
    }
}
