//! Expected outcomes, worked out from the input files without ferry, and
//! the checks of ferry's outputs against them.
//!
//! A task's expectation lists every record of its file with its position
//! and outcome. Where a run stopped part way, the checks take the position
//! the task reached (its checkpoint) and expect exactly the outcomes of the
//! records before it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::workspace::file_names;

/// Records by outcome, as ferry counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub processed: u64,
    pub errored: u64,
    pub skipped: u64,
}

impl Progress {
    pub fn records(&self) -> u64 {
        self.processed + self.errored + self.skipped
    }

    pub fn add(&mut self, other: Progress) {
        self.processed += other.processed;
        self.errored += other.errored;
        self.skipped += other.skipped;
    }

    /// `{"processed": N, "errored": N, "skipped": N}` as ferry prints it.
    pub fn from_json(value: &Value) -> Self {
        let count =
            |key: &str| value[key].as_u64().unwrap_or_else(|| panic!("progress.{key} is not a count in {value:#}"));
        Self { processed: count("processed"), errored: count("errored"), skipped: count("skipped") }
    }

    /// The summary's `  records  N: N documents, N errors, N skipped` line.
    pub fn summary_line(&self) -> String {
        format!(
            "  records  {}: {} documents, {} errors, {} skipped",
            self.records(),
            self.processed,
            self.errored,
            self.skipped
        )
    }
}

/// What should become of one record.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A document, as its output line (compact JSON).
    Document(String),
    Error(ExpectedError),
    Skipped,
}

/// A record's error file.
#[derive(Debug, Clone)]
pub struct ExpectedError {
    /// Fields the file must hold with exactly these values (it may hold
    /// more).
    pub fields: serde_json::Map<String, Value>,
    /// `None`: the file has no traceback. `Some(parts)`: it has one that
    /// contains every part.
    pub traceback: Option<Vec<String>>,
}

/// One record of a file.
#[derive(Debug, Clone)]
pub struct ExpectedRecord {
    /// Position of its first byte in the (decompressed) file.
    pub offset: u64,
    /// Position just after it.
    pub end: u64,
    pub outcome: Outcome,
}

/// Every record of one task's file, in order.
#[derive(Debug, Clone)]
pub struct ExpectedTask {
    pub task: String,
    pub records: Vec<ExpectedRecord>,
}

impl ExpectedTask {
    /// The (decompressed) length of the file.
    pub fn len(&self) -> u64 {
        self.records.last().map_or(0, |record| record.end)
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The task's file in the write directory.
    pub fn output_file(&self) -> String {
        format!("{}.jsonl", self.task)
    }

    /// The error file of the record at `offset`.
    pub fn error_file(&self, offset: u64) -> String {
        format!("{}@{offset:020}.json", self.task)
    }

    fn before(&self, position: u64) -> impl Iterator<Item = &ExpectedRecord> {
        self.records.iter().take_while(move |record| record.end <= position)
    }

    /// Whether a record starts (or the file ends) at `position`.
    pub fn is_boundary(&self, position: u64) -> bool {
        position == 0 || self.records.iter().any(|record| record.end == position)
    }

    /// The output file's contents once the records before `position` are
    /// done.
    pub fn output_before(&self, position: u64) -> String {
        let mut text = String::new();
        for record in self.before(position) {
            if let Outcome::Document(line) = &record.outcome {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    pub fn output(&self) -> String {
        self.output_before(u64::MAX)
    }

    pub fn progress_before(&self, position: u64) -> Progress {
        let mut progress = Progress::default();
        for record in self.before(position) {
            match record.outcome {
                Outcome::Document(_) => progress.processed += 1,
                Outcome::Error(_) => progress.errored += 1,
                Outcome::Skipped => progress.skipped += 1,
            }
        }
        progress
    }

    pub fn progress(&self) -> Progress {
        self.progress_before(u64::MAX)
    }

    /// Error files by name for the records before `position`.
    pub fn errors_before(&self, position: u64) -> BTreeMap<String, &ExpectedError> {
        self.before(position)
            .filter_map(|record| match &record.outcome {
                Outcome::Error(error) => Some((self.error_file(record.offset), error)),
                _ => None,
            })
            .collect()
    }
}

/// Totals over tasks.
pub fn total_progress(tasks: &[ExpectedTask]) -> Progress {
    let mut total = Progress::default();
    for task in tasks {
        total.add(task.progress());
    }
    total
}

/// How far each task got: the tasks' positions, or `None` for a task that
/// must have written nothing (no output file at all).
pub type Reached<'a> = Vec<(&'a ExpectedTask, Option<u64>)>;

/// Every task done to its end.
pub fn all_done(tasks: &[ExpectedTask]) -> Reached<'_> {
    tasks.iter().map(|task| (task, Some(task.len()))).collect()
}

/// Checks that `dir` holds exactly one output file per task that started,
/// each with exactly the documents of the records before the task's
/// position, in order, once each.
#[track_caller]
pub fn assert_outputs(dir: &Path, reached: &Reached<'_>) {
    let expected_names: Vec<String> = reached
        .iter()
        .filter(|(_, position)| position.is_some())
        .map(|(task, _)| task.output_file())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(file_names(dir), expected_names, "the files in {}", dir.display());
    for (task, position) in reached {
        let Some(position) = position else { continue };
        let path = dir.join(task.output_file());
        let actual = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let expected = task.output_before(*position);
        assert_same_documents(&path, &actual, &expected);
    }
}

/// Compares two JSON-lines texts: first by document id (to name missing
/// and duplicated documents), then line by line, byte for byte.
#[track_caller]
fn assert_same_documents(path: &Path, actual: &str, expected: &str) {
    if actual == expected {
        return;
    }
    let ids = |text: &str| -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            *counts.entry(document_id(line)).or_insert(0) += 1;
        }
        counts
    };
    let (actual_ids, expected_ids) = (ids(actual), ids(expected));
    let duplicated: Vec<_> = actual_ids.iter().filter(|(_, count)| **count > 1).take(5).collect();
    let missing: Vec<_> = expected_ids.keys().filter(|id| !actual_ids.contains_key(*id)).take(5).collect();
    let unexpected: Vec<_> = actual_ids.keys().filter(|id| !expected_ids.contains_key(*id)).take(5).collect();
    assert!(
        duplicated.is_empty() && missing.is_empty() && unexpected.is_empty(),
        "{}: {} documents where {} were expected; duplicated (first 5, with counts): {duplicated:?}; \
         missing: {missing:?}; unexpected: {unexpected:?}",
        path.display(),
        actual.lines().count(),
        expected.lines().count()
    );
    let (line, (got, wanted)) = actual
        .split_inclusive('\n')
        .zip(expected.split_inclusive('\n'))
        .enumerate()
        .find(|(_, (got, wanted))| got != wanted)
        .unwrap_or_else(|| panic!("{}: the same documents, but the file ends differently", path.display()));
    panic!("{}: line {} differs:\n got: {got:?}\nwant: {wanted:?}", path.display(), line + 1);
}

/// The `documentId` of an output line, or the line itself (shortened)
/// when it is not a JSON document.
fn document_id(line: &str) -> String {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(document)) => match document.get("documentId") {
            Some(Value::String(id)) => id.clone(),
            Some(other) => other.to_string(),
            None => format!("(no documentId) {line:.60}"),
        },
        _ => format!("(not a JSON document) {line:.60}"),
    }
}

/// Checks that `dir` holds exactly the error files of the records before
/// each task's position, each with the expected fields.
#[track_caller]
pub fn assert_errors(dir: &Path, reached: &Reached<'_>) {
    let mut expected = BTreeMap::new();
    for (task, position) in reached {
        expected.extend(task.errors_before(position.unwrap_or(0)));
    }
    let names = file_names(dir);
    let expected_names: Vec<&String> = expected.keys().collect();
    if names.iter().ne(expected_names.iter().copied()) {
        let extra: Vec<_> = names.iter().filter(|name| !expected.contains_key(*name)).take(5).collect();
        let missing: Vec<_> = expected_names.iter().filter(|name| !names.contains(name)).take(5).collect();
        panic!(
            "{}: {} error files where {} were expected; unexpected (first 5): {extra:?}; missing: {missing:?}",
            dir.display(),
            names.len(),
            expected.len()
        );
    }
    for (name, error) in expected {
        let path = dir.join(&name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let actual: Value =
            serde_json::from_str(&text).unwrap_or_else(|err| panic!("{} is not JSON ({err}):\n{text}", path.display()));
        assert_error_file(&path, &actual, error);
    }
}

#[track_caller]
fn assert_error_file(path: &Path, actual: &Value, expected: &ExpectedError) {
    for (key, value) in &expected.fields {
        assert_eq!(&actual[key], value, "{}: field {key}; the file holds:\n{actual:#}", path.display());
    }
    match (&expected.traceback, &actual["traceback"]) {
        (None, Value::Null) => {}
        (None, traceback) => panic!("{}: a traceback where none was expected: {traceback}", path.display()),
        (Some(parts), Value::String(traceback)) => {
            for part in parts {
                assert!(
                    traceback.contains(part.as_str()),
                    "{}: the traceback lacks {part:?}:\n{traceback}",
                    path.display()
                );
            }
        }
        (Some(_), other) => panic!("{}: no traceback string, but {other}", path.display()),
    }
}

/// Splits `bytes` into newline-ended records with their offsets (the last
/// record may lack its newline), as the handlers here cut them.
pub fn lines_with_offsets(bytes: &[u8]) -> Vec<(u64, &[u8])> {
    let mut offset = 0_u64;
    bytes
        .split_inclusive(|byte| *byte == b'\n')
        .map(|line| {
            let start = offset;
            offset += line.len() as u64;
            (start, line)
        })
        .collect()
}
