//! Error folder: one JSON file per failed record.
//!
//! A file is named after its task and the record's key (see
//! [`super::document_name`]; for a file source the key is the record's
//! zero-padded offset). Each file is written to a temporary
//! name and renamed, so a reader never sees half a document. Files are not
//! synced one by one (that costs about a millisecond each): `sync` makes
//! everything written so far durable at once, and the pipeline calls it
//! before every checkpoint.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use super::{ErrorRecord, ErrorSink, ErrorSinkError, document_body, document_name, named_from};

#[derive(Debug, Clone)]
pub struct ErrorFolder {
    directory: PathBuf,
    /// Whether files were written since the last `sync`; shared by clones.
    unsynced: Arc<AtomicBool>,
}

impl ErrorFolder {
    pub fn new(directory: &Path) -> Self {
        Self { directory: directory.to_path_buf(), unsynced: Arc::new(AtomicBool::new(false)) }
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Writes the error document of one record.
    pub fn write_one(&self, record: &ErrorRecord<'_>) -> Result<(), ErrorSinkError> {
        let name = document_name(record.task, record.key);
        let path = self.directory.join(&name);
        let temporary = self.directory.join(format!(".{name}.tmp"));
        let error = |source| ErrorSinkError::Io { path: path.clone(), source };
        std::fs::create_dir_all(&self.directory).map_err(error)?;
        let body = document_body(record).map_err(|err| error(err.into()))?;
        let mut file = File::create(&temporary).map_err(error)?;
        file.write_all(&body).map_err(error)?;
        std::fs::rename(&temporary, &path).map_err(error)?;
        self.unsynced.store(true, Ordering::Release);
        Ok(())
    }

    /// Makes every error document written so far durable, with one
    /// `syncfs` of the folder's file system rather than an fsync per file.
    pub fn sync_now(&self) -> Result<(), ErrorSinkError> {
        if !self.unsynced.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let error = |source| ErrorSinkError::Io { path: self.directory.clone(), source };
        let directory = File::open(&self.directory).map_err(error)?;
        rustix::fs::syncfs(&directory).map_err(|errno| error(errno.into())).inspect_err(|_| {
            self.unsynced.store(true, Ordering::Release);
        })
    }

    /// Removes the task's error files whose key sorts at or after `key`.
    pub fn clear_files_from(&self, task: &str, key: &str) -> Result<usize, ErrorSinkError> {
        let entries = match std::fs::read_dir(&self.directory) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(source) => return Err(ErrorSinkError::Io { path: self.directory.clone(), source }),
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // A crash mid-write leaves `.NAME.tmp`; it is cleared like NAME.
            let document = name.strip_prefix('.').and_then(|rest| rest.strip_suffix(".tmp")).unwrap_or(name);
            if named_from(document, task, key) {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|source| ErrorSinkError::Io { path, source })?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[async_trait]
impl ErrorSink for ErrorFolder {
    async fn write(&self, records: &[ErrorRecord<'_>]) -> Result<(), ErrorSinkError> {
        records.iter().try_for_each(|record| self.write_one(record))
    }

    async fn sync(&self) -> Result<(), ErrorSinkError> {
        self.sync_now()
    }

    async fn clear_from(&self, task: &str, key: &str) -> Result<usize, ErrorSinkError> {
        self.clear_files_from(task, key)
    }

    fn describe(&self) -> String {
        self.directory.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn write(folder: &ErrorFolder, task: &str, offset: u64) {
        let mut origin = serde_json::Map::new();
        origin.insert("file".to_owned(), task.into());
        origin.insert("offsetBytes".to_owned(), offset.into());
        let key = crate::sources::single_file::offset_key(offset);
        folder
            .write_one(&ErrorRecord {
                dataset: "d",
                task,
                key: &key,
                origin: &origin,
                error_type: "KeyError".to_owned(),
                message: "'id'".to_owned(),
                traceback: Some("Traceback...".to_owned()),
                retryable: false,
                error_start_offset_map: BTreeMap::new(),
                error_end_offset_map: BTreeMap::new(),
                document: None,
                record: "{}\n".to_owned(),
                record_truncated: false,
            })
            .expect("write");
    }

    #[test]
    fn writes_one_named_file_per_error_and_clears_from_an_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = ErrorFolder::new(&dir.path().join("errors"));
        for offset in [5, 50, 500] {
            write(&folder, "a/b.jsonl", offset);
        }
        write(&folder, "other", 50);
        // What a crash between writing and renaming leaves behind.
        std::fs::write(dir.path().join("errors/.a%2Fb.jsonl@00000000000000000600.json.tmp"), "{")
            .expect("plant a temporary file");
        let written = dir.path().join("errors/a%2Fb.jsonl@00000000000000000050.json");
        let body: serde_json::Value = serde_json::from_slice(&std::fs::read(&written).expect("read")).expect("json");
        assert_eq!(body["errorType"], "KeyError");
        assert_eq!(body["offsetBytes"], 50);
        assert_eq!(body["task"], "a/b.jsonl");

        assert_eq!(
            folder.clear_files_from("a/b.jsonl", &crate::sources::single_file::offset_key(50)).expect("clear"),
            3
        );
        let mut left: Vec<String> = std::fs::read_dir(folder.directory())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a%2Fb.jsonl@00000000000000000005.json", "other@00000000000000000050.json"]);
    }
}
