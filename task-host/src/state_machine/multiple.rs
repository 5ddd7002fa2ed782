//! Tasks of the Multiple File State Machine Reader: one manifest line
//! (`ORDERS:orders.csv|ITEMS:items.csv`) each, its files read together by
//! a [`MultipleFileStateMachineReader`] through ferry's file readers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use ferry_bridge::host::rust::{
    Document, HandlerFailure, MultipleFileStateMachineReader, ParseCompositeDocumentResult, ParseDocumentResult,
    SystemFileReader, SystemFileReaders, guarded, parse_outcome,
};
use serde_json::{Map, Value};

use super::checkpoint::{self, ReaderCheckpoint};
use super::file_reader::{FileReader, FileSpec, user_call};
use super::{PARSE_DOCUMENT, blocking, function};
use crate::config::ManifestEntry;
use crate::error_sinks::RECORD_EXCERPT_BYTES;
use crate::sources::file::disk_size;
use crate::sources::{
    OpenContext, OpenedSource, RecordOrigin, RecordSource, SourceBatch, SourceError, SourceItem, TaskUnit,
};

/// One manifest line, read by the registered reader.
pub struct MultipleFileStateMachineUnit {
    /// The line; `files_by_type` holds its files.
    pub entry: ManifestEntry,
    pub reader: Arc<dyn MultipleFileStateMachineReader>,
}

impl std::fmt::Debug for MultipleFileStateMachineUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultipleFileStateMachineUnit").field("entry", &self.entry).finish_non_exhaustive()
    }
}

#[async_trait]
impl TaskUnit for MultipleFileStateMachineUnit {
    /// Checks the line's file types against the reader's, asks for the
    /// resolved names and the parsers, and opens every file at the
    /// checkpoint's position, in the checkpoint's state.
    async fn open(&self, checkpoint: Option<&str>, context: &OpenContext) -> Result<OpenedSource, SourceError> {
        let unit = self.entry.name.clone();
        let stored = match checkpoint {
            None => None,
            Some(text) => Some(checkpoint::decode_reader(text).map_err(|reason| SourceError::BadCheckpoint {
                unit: unit.clone(),
                checkpoint: text.to_owned(),
                reason,
            })?),
        };
        let (reader, entry, read_bytes) =
            (Arc::clone(&self.reader), self.entry.clone(), Arc::clone(&context.read_bytes));
        let machine = blocking(&unit, move || Machine::open(reader, &entry, stored, &read_bytes)).await??;
        Ok(OpenedSource {
            function: function(),
            clear_errors_from: Some(result_key(machine.results)),
            records: Box::new(LineRecords { machine: Some(machine), unit }),
            acknowledger: None,
        })
    }

    fn stored_bytes(&self) -> u64 {
        self.entry.files_by_type.iter().map(|(_, file)| disk_size(&file.path)).sum()
    }
}

/// The key of the `results`-th result of a task (from 0), which names its
/// error document: zero-padded, so keys sort in the order of the results.
fn result_key(results: u64) -> String {
    format!("{results:020}")
}

/// The reader and its files, between two `parseDocument` calls.
struct Machine {
    reader: Arc<dyn MultipleFileStateMachineReader>,
    files: BTreeMap<String, FileReader>,
    /// The files as the manifest line names them, by file type.
    names: BTreeMap<String, String>,
    last_document: Option<Document>,
    /// Results routed before the next call.
    results: u64,
    /// Every file is read to its end.
    done: bool,
}

impl Machine {
    fn open(
        reader: Arc<dyn MultipleFileStateMachineReader>,
        entry: &ManifestEntry,
        stored: Option<ReaderCheckpoint>,
        read_bytes: &Arc<AtomicU64>,
    ) -> Result<Self, SourceError> {
        let names: BTreeMap<String, String> =
            entry.files_by_type.iter().map(|(file_type, file)| (file_type.clone(), file.name.clone())).collect();
        let line_types: BTreeSet<String> = names.keys().cloned().collect();
        let types = user_call("getS3FileTypes", || Ok(reader.get_s3_file_types()))?;
        if types != line_types {
            return Err(SourceError::Handler {
                function: "getS3FileTypes",
                message: format!(
                    "the reader reads the file types {types:?}, but the manifest line {:?} names {line_types:?}",
                    entry.name
                ),
            });
        }
        let resolved = user_call("getResolvedS3FileNames", || Ok(reader.get_resolved_s3_file_names(&names)))?;
        let mut parsers = user_call("getParserInterfacesForS3FileTypes", || {
            Ok(reader.get_parser_interfaces_for_s3_file_types(&types))
        })?;
        let (fresh, mut stored) = match stored {
            Some(stored) => (false, stored),
            None => (true, ReaderCheckpoint::default()),
        };
        let mut files = BTreeMap::new();
        for (file_type, file) in &entry.files_by_type {
            let missing = |function, what: &str| SourceError::Handler {
                function,
                message: format!("the answer has no {what} for the file type {file_type:?}"),
            };
            let spec = FileSpec {
                parser: parsers
                    .remove(file_type)
                    .ok_or_else(|| missing("getParserInterfacesForS3FileTypes", "parser"))?,
                file_type: file_type.clone(),
                resolved_name: resolved
                    .get(file_type)
                    .cloned()
                    .ok_or_else(|| missing("getResolvedS3FileNames", "name"))?,
                path: file.path.clone(),
            };
            let position = stored.files.remove(file_type).unwrap_or_default();
            files.insert(file_type.clone(), FileReader::open(spec, position, Arc::clone(read_bytes))?);
        }
        let mut machine =
            Self { reader, files, names, last_document: stored.last_document, results: stored.results, done: false };
        // A stored state has had the reader's choices applied already.
        if fresh {
            machine.choose_next_record_types(&BTreeMap::new())?;
        }
        Ok(machine)
    }

    fn last_record_types(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .filter_map(|(file_type, file)| Some((file_type.clone(), file.position().last_record_type.clone()?)))
            .collect()
    }

    /// Sets what each file reads next, as the reader chooses: the last
    /// result's `next_record_types` first, then its
    /// `get_next_expected_record_type`.
    fn choose_next_record_types(&mut self, from_result: &BTreeMap<String, String>) -> Result<(), SourceError> {
        let last_record_types = self.last_record_types();
        let reader = &self.reader;
        let mut chosen =
            user_call("getNextExpectedRecordType", || Ok(reader.get_next_expected_record_type(&last_record_types)))?;
        chosen.extend(from_result.iter().map(|(file_type, record_type)| (file_type.clone(), record_type.clone())));
        for (file_type, record_type) in chosen {
            let file = self.files.get_mut(&file_type).ok_or_else(|| SourceError::Handler {
                function: "getNextExpectedRecordType",
                message: format!("it names the file type {file_type:?}, which this task does not read"),
            })?;
            file.set_next_record_type(record_type);
        }
        Ok(())
    }

    /// One `parseDocument` call and its result; `None` once every file is
    /// read to its end.
    fn call(&mut self) -> Result<Option<SourceItem>, SourceError> {
        if self.done {
            return Ok(None);
        }
        let before: BTreeMap<String, u64> =
            self.files.iter().map(|(file_type, file)| (file_type.clone(), file.position().offset)).collect();
        let last_record_types = self.last_record_types();
        let result = {
            let mut readers: SystemFileReaders<'_> = self
                .files
                .iter_mut()
                .map(|(file_type, file)| (file_type.clone(), file as &mut dyn SystemFileReader))
                .collect();
            let (reader, last_document) = (&self.reader, self.last_document.as_ref());
            guarded(|| reader.parse_document(&last_record_types, last_document, &mut readers))
        };
        let mut consumed = Vec::new();
        for file in self.files.values_mut() {
            if let Some(failure) = file.take_failure() {
                return Err(failure);
            }
            consumed.extend(file.take_consumed());
        }
        if consumed.is_empty() {
            self.finish(result.as_ref().err())?;
            // The call that finds every file read may still make a
            // document (a summary); one without stands for no record.
            if matches!(&result, Ok(result) if result.document.is_none()) {
                return Ok(None);
            }
        }
        let (result, next_record_types, last_document) = match result {
            Ok(ParseCompositeDocumentResult { next_record_types, document, status }) => {
                let last_document = document.clone();
                (Ok(ParseDocumentResult::new(None, document, status)), next_record_types, last_document)
            }
            Err(failure) => (Err(failure), BTreeMap::new(), None),
        };
        let item = SourceItem::Handled {
            origin: self.origin(&before),
            payload: excerpt(consumed),
            outcome: parse_outcome(result, PARSE_DOCUMENT),
        };
        self.last_document = last_document;
        self.results += 1;
        if !self.done {
            self.choose_next_record_types(&next_record_types)?;
        }
        Ok(Some(item))
    }

    /// Where the next result comes from: each file's offsets before and
    /// after the call.
    fn origin(&self, before: &BTreeMap<String, u64>) -> RecordOrigin {
        let files: Map<String, Value> = self
            .files
            .iter()
            .map(|(file_type, file)| {
                let mut fields = Map::new();
                fields.insert("file".to_owned(), Value::from(self.names[file_type].as_str()));
                fields.insert("resolvedFileName".to_owned(), Value::from(file.spec().resolved_name.as_str()));
                fields.insert("offsetBytes".to_owned(), Value::from(before[file_type]));
                fields.insert("endOffsetBytes".to_owned(), Value::from(file.position().offset));
                (file_type.clone(), Value::Object(fields))
            })
            .collect();
        let mut fields = Map::new();
        fields.insert("files".to_owned(), Value::Object(files));
        RecordOrigin { key: result_key(self.results), fields }
    }

    /// Ends the task after a call that consumed no record: fine when every
    /// file is read to its end, an error otherwise, since the next call
    /// would be made in the same state and do the same.
    fn finish(&mut self, failure: Option<&HandlerFailure>) -> Result<(), SourceError> {
        for (file_type, file) in &mut self.files {
            if file.has_record()? {
                let mut message = format!(
                    "a call consumed no record while {file_type} has records left (after byte {}); called again \
                     in the same state, it would do the same forever",
                    file.position().offset
                );
                if let Some(failure) = failure {
                    message.push_str(&format!("; the call failed with {failure}"));
                }
                return Err(SourceError::Handler { function: PARSE_DOCUMENT, message });
            }
        }
        for file in self.files.values_mut() {
            file.close();
        }
        self.done = true;
        Ok(())
    }
}

/// The records consumed by one call, file by file, as much as an error
/// document quotes (and a byte more, so it knows to say it cut them).
fn excerpt(consumed: Vec<Bytes>) -> Bytes {
    if let [only] = &consumed[..] {
        return only.clone();
    }
    let mut joined = BytesMut::new();
    for record in consumed {
        let room = (RECORD_EXCERPT_BYTES + 1).saturating_sub(joined.len());
        joined.extend_from_slice(&record[..record.len().min(room)]);
    }
    joined.freeze()
}

struct LineRecords {
    /// `None` while a batch is read on the blocking pool.
    machine: Option<Machine>,
    unit: String,
}

#[async_trait]
impl RecordSource for LineRecords {
    async fn next_batch(&mut self, max_records: usize, max_bytes: usize) -> Result<Option<SourceBatch>, SourceError> {
        let Some(mut machine) = self.machine.take() else { return Ok(None) };
        let (machine, batch) = blocking(&self.unit, move || {
            let batch = read_batch(&mut machine, max_records, max_bytes);
            (machine, batch)
        })
        .await?;
        let batch = batch?;
        if batch.is_some() {
            self.machine = Some(machine);
        }
        Ok(batch)
    }
}

fn read_batch(machine: &mut Machine, max_records: usize, max_bytes: usize) -> Result<Option<SourceBatch>, SourceError> {
    let mut items = Vec::with_capacity(max_records);
    let mut bytes = 0;
    while items.len() < max_records && bytes < max_bytes {
        let Some(item) = machine.call()? else { break };
        if let SourceItem::Handled { payload, .. } = &item {
            bytes += payload.len();
        }
        items.push(item);
    }
    if items.is_empty() {
        return Ok(None);
    }
    let checkpoint = ReaderCheckpoint {
        files: machine.files.iter().map(|(file_type, file)| (file_type.clone(), file.position().clone())).collect(),
        last_document: machine.last_document.clone(),
        results: machine.results,
    };
    Ok(Some(SourceBatch { items, checkpoint: checkpoint::encode_reader(&checkpoint), acks: Vec::new() }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ferry_bridge::host::rust::{ParseDocumentResultStatus, RecordParseHint, SingleFileStateMachineParser};

    use super::*;
    use crate::state_machine::test_support::{context, drain, summaries};

    /// Lines, or words when a word is expected; each becomes a document
    /// whose id is its text.
    struct Words;

    impl SingleFileStateMachineParser for Words {
        fn get_s3_file_type(&self) -> String {
            "WORDS".to_owned()
        }

        fn get_next_expected_record_type(&self, _: &str, _: Option<&str>) -> String {
            "LINE".to_owned()
        }

        fn get_next_record_start_pattern(&self, _: &str, _: &str, _: Option<&Document>) -> RecordParseHint {
            RecordParseHint::from_offset(0)
        }

        fn get_next_record_end_pattern(&self, _: &str, expected: &str, _: Option<&Document>) -> RecordParseHint {
            RecordParseHint::from_pattern(if expected == "WORD" { " " } else { "\n" })
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
            let text = std::str::from_utf8(record)?.trim_end();
            Ok(ParseDocumentResult::success(Document::new(text, "Word")))
        }
    }

    /// Each call takes one record of A and one of B and pairs them; the
    /// first call has A read a word next. `stuck` reads nothing; `summary`
    /// makes a last document once both files are read.
    #[derive(Default)]
    struct Pairs {
        stuck: bool,
        summary: bool,
    }

    impl MultipleFileStateMachineReader for Pairs {
        fn get_s3_file_types(&self) -> BTreeSet<String> {
            BTreeSet::from(["A".to_owned(), "B".to_owned()])
        }

        fn get_parser_interfaces_for_s3_file_types(
            &self,
            types: &BTreeSet<String>,
        ) -> BTreeMap<String, Arc<dyn SingleFileStateMachineParser>> {
            types.iter().map(|file_type| (file_type.clone(), Arc::new(Words) as Arc<_>)).collect()
        }

        fn parse_document(
            &self,
            _: &BTreeMap<String, String>,
            last: Option<&Document>,
            readers: &mut SystemFileReaders<'_>,
        ) -> Result<ParseCompositeDocumentResult, HandlerFailure> {
            if self.stuck {
                panic!("stuck");
            }
            let mut id = |file_type: &str| -> Result<String, HandlerFailure> {
                let reader = readers.get_mut(file_type).ok_or("no reader")?;
                Ok(reader.next_record(false)?.and_then(|doc| doc.document_id).unwrap_or_default())
            };
            let (a, b) = (id("A")?, id("B")?);
            if a.is_empty() && b.is_empty() {
                if !self.summary {
                    return Ok(ParseCompositeDocumentResult::new(None, ParseDocumentResultStatus::Skip));
                }
                let last = last.and_then(|doc| doc.document_id.clone());
                let summary = Document::new("summary", "Summary").with_value("last", last);
                // A choice for a file read to its end changes nothing.
                return Ok(ParseCompositeDocumentResult::success(summary).with_next_record_type("A", "WORD"));
            }
            let result = ParseCompositeDocumentResult::success(Document::new(format!("{a}+{b}"), "Pair"));
            Ok(if last.is_none() { result.with_next_record_type("A", "WORD") } else { result })
        }
    }

    fn unit(dir: &Path, reader: Pairs) -> MultipleFileStateMachineUnit {
        let file = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write");
            ManifestEntry { name: name.to_owned(), path, files_by_type: Vec::new() }
        };
        let (a, b) = (file("a.txt", "one\ntwo three\n"), file("b.txt", "1\n2\n3\n"));
        let entry = ManifestEntry {
            name: "A:a.txt|B:b.txt".to_owned(),
            path: a.path.clone(),
            files_by_type: vec![("A".to_owned(), a), ("B".to_owned(), b)],
        };
        MultipleFileStateMachineUnit { entry, reader: Arc::new(reader) }
    }

    fn pair(key: u64, id: &str) -> String {
        format!(
            "{} Success {{\"documentId\":\"{id}\",\"recordType\":\"Pair\",\"partitionKey\":null,\"documentMetadata\":{{}}}}",
            result_key(key)
        )
    }

    #[tokio::test]
    async fn calls_pull_records_from_every_file_until_all_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let unit = unit(dir.path(), Pairs::default());
        let opened = unit.open(None, &context()).await.expect("open");
        assert_eq!(opened.clear_errors_from, Some(result_key(0)));
        let mut records = opened.records;
        let batches = drain(&mut records, 1).await;
        // The first call chose a word for A: "two " is its second record.
        assert_eq!(summaries(&batches), [pair(0, "one+1"), pair(1, "two+2"), pair(2, "three+3")]);
        let checkpoint = checkpoint::decode_reader(&batches[0].checkpoint).expect("a reader checkpoint");
        assert_eq!(
            (checkpoint.files["A"].offset, checkpoint.files["A"].next_record_type.as_deref(), checkpoint.results),
            (4, Some("WORD"), 1)
        );
        let SourceItem::Handled { origin, payload, .. } = &batches[1].items[0] else { panic!("handled") };
        assert_eq!(
            Value::Object(origin.fields.clone()),
            serde_json::json!({"files": {
                "A": {"file": "a.txt", "resolvedFileName": "a.txt", "offsetBytes": 4, "endOffsetBytes": 8},
                "B": {"file": "b.txt", "resolvedFileName": "b.txt", "offsetBytes": 2, "endOffsetBytes": 4},
            }})
        );
        assert_eq!(&payload[..], b"two 2\n");
        for (done, batch) in batches.iter().enumerate() {
            let mut rest = unit.open(Some(&batch.checkpoint), &context()).await.expect("resume").records;
            assert_eq!(summaries(&drain(&mut rest, 2).await), summaries(&batches)[done + 1..]);
        }
    }

    #[tokio::test]
    async fn the_call_that_finds_every_file_read_may_make_a_last_document() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut records = unit(dir.path(), Pairs { summary: true, ..Pairs::default() })
            .open(None, &context())
            .await
            .expect("open")
            .records;
        let all = summaries(&drain(&mut records, 10).await);
        assert_eq!(all.len(), 4);
        assert_eq!(
            all[3],
            format!(
                "{} Success {}",
                result_key(3),
                r#"{"documentId":"summary","recordType":"Summary","partitionKey":null,"documentMetadata":{},"last":"three+3"}"#
            )
        );
    }

    #[tokio::test]
    async fn a_call_that_reads_nothing_while_records_are_left_ends_the_task() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut records = unit(dir.path(), Pairs { stuck: true, ..Pairs::default() })
            .open(None, &context())
            .await
            .expect("open")
            .records;
        let err = records.next_batch(10, 1 << 20).await.err().map(|err| err.to_string()).unwrap_or_default();
        assert_eq!(
            err,
            "parseDocument failed: a call consumed no record while A has records left (after byte 0); called again in \
             the same state, it would do the same forever; the call failed with Panic: stuck"
        );
    }

    #[tokio::test]
    async fn a_line_whose_file_types_are_not_the_readers_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut unit = unit(dir.path(), Pairs::default());
        unit.entry.files_by_type[1].0 = "C".to_owned();
        let err = unit.open(None, &context()).await.err().map(|err| err.to_string()).unwrap_or_default();
        assert_eq!(
            err,
            r#"getS3FileTypes failed: the reader reads the file types {"A", "B"}, but the manifest line "A:a.txt|B:b.txt" names {"A", "C"}"#
        );
    }
}
