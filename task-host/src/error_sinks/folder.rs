//! Error folder: one JSON file per failed record.
//!
//! A file is named after its task and the record's offset
//! (`TASK@OFFSET.json`), so redoing work after a crash rewrites the same
//! files instead of adding copies. Each file is written to a temporary
//! name and renamed, so a reader never sees half a document. Files are not
//! synced one by one (that costs about a millisecond each): `sync` makes
//! everything written so far durable at once, and the pipeline calls it
//! before every checkpoint.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::ErrorRecord;
use crate::sinks::task_file_stem;

/// Width of the zero-padded offset in file names, so names sort by offset.
const OFFSET_DIGITS: usize = 20;

#[derive(Debug, Clone)]
pub struct ErrorFolder {
    directory: PathBuf,
    /// Whether files were written since the last `sync`; shared by clones.
    unsynced: Arc<AtomicBool>,
}

/// The error folder could not be written: the environment's fault (disk
/// full, permissions); the task resumes from its last checkpoint.
#[derive(Debug, thiserror::Error)]
#[error("cannot write error document {path}: {source}")]
pub struct ErrorFolderError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl ErrorFolder {
    pub fn new(directory: &Path) -> Self {
        Self { directory: directory.to_path_buf(), unsynced: Arc::new(AtomicBool::new(false)) }
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    fn file_name(task: &str, offset: u64) -> String {
        format!("{}@{offset:0width$}.json", task_file_stem(task), width = OFFSET_DIGITS)
    }

    /// Writes the error document of one record.
    pub fn write(&self, record: &ErrorRecord<'_>) -> Result<(), ErrorFolderError> {
        let name = Self::file_name(record.task, record.offset_bytes);
        let path = self.directory.join(&name);
        let temporary = self.directory.join(format!(".{name}.tmp"));
        let error = |source| ErrorFolderError { path: path.clone(), source };
        std::fs::create_dir_all(&self.directory).map_err(error)?;
        let mut body = serde_json::to_vec_pretty(record).map_err(|err| error(err.into()))?;
        body.push(b'\n');
        let mut file = File::create(&temporary).map_err(error)?;
        file.write_all(&body).map_err(error)?;
        std::fs::rename(&temporary, &path).map_err(error)?;
        self.unsynced.store(true, Ordering::Release);
        Ok(())
    }

    /// Makes every error document written so far durable, with one
    /// `syncfs` of the folder's file system rather than an fsync per file.
    pub fn sync(&self) -> Result<(), ErrorFolderError> {
        if !self.unsynced.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let error = |source| ErrorFolderError { path: self.directory.clone(), source };
        let directory = File::open(&self.directory).map_err(error)?;
        rustix::fs::syncfs(&directory).map_err(|errno| error(errno.into())).inspect_err(|_| {
            self.unsynced.store(true, Ordering::Release);
        })
    }

    /// Removes the task's error documents at or after `offset`: work from
    /// there on is about to be redone, and may now succeed.
    pub fn clear_from(&self, task: &str, offset: u64) -> Result<usize, ErrorFolderError> {
        let prefix = format!("{}@", task_file_stem(task));
        // A crash mid-write leaves `.NAME.tmp`; it is cleared like NAME.
        let temporary_prefix = format!(".{prefix}");
        let entries = match std::fs::read_dir(&self.directory) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(source) => return Err(ErrorFolderError { path: self.directory.clone(), source }),
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let rest = match name.strip_prefix(&temporary_prefix) {
                Some(rest) => rest.strip_suffix(".tmp"),
                None => name.strip_prefix(&prefix),
            };
            let Some(found) = rest
                .and_then(|rest| rest.strip_suffix(".json"))
                .and_then(|digits| digits.parse::<u64>().ok())
            else {
                continue;
            };
            if found >= offset {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|source| ErrorFolderError { path, source })?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn record(task: &str, offset: u64) -> ErrorRecord<'_> {
        ErrorRecord {
            dataset: "d",
            task,
            file: task,
            resolved_file_name: task,
            offset_bytes: offset,
            end_offset_bytes: offset + 3,
            error_type: "KeyError".to_owned(),
            message: "'id'".to_owned(),
            traceback: Some("Traceback...".to_owned()),
            retryable: false,
            error_start_offset_map: BTreeMap::new(),
            error_end_offset_map: BTreeMap::new(),
            document: None,
            record: "{}\n".to_owned(),
            record_truncated: false,
        }
    }

    #[test]
    fn writes_one_named_file_per_error_and_clears_from_an_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = ErrorFolder::new(&dir.path().join("errors"));
        for offset in [5, 50, 500] {
            folder.write(&record("a/b.jsonl", offset)).expect("write");
        }
        folder.write(&record("other", 50)).expect("write other");
        // What a crash between writing and renaming leaves behind.
        std::fs::write(dir.path().join("errors/.a%2Fb.jsonl@00000000000000000600.json.tmp"), "{")
            .expect("plant a temporary file");
        let written = dir.path().join("errors/a%2Fb.jsonl@00000000000000000050.json");
        let body: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&written).expect("read")).expect("json");
        assert_eq!(body["errorType"], "KeyError");
        assert_eq!(body["offsetBytes"], 50);
        assert_eq!(body["task"], "a/b.jsonl");

        assert_eq!(folder.clear_from("a/b.jsonl", 50).expect("clear"), 3);
        let mut left: Vec<String> = std::fs::read_dir(folder.directory())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a%2Fb.jsonl@00000000000000000005.json", "other@00000000000000000050.json"]);
    }
}
