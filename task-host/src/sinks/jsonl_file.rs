//! JSON-lines file sink: one file per task, one document per line.
//!
//! Exactly once across crashes: the sink's checkpoint is the file length
//! after a flush and fsync. A task resumed from a checkpoint truncates its
//! file back to that length before writing, dropping any lines written
//! after the checkpoint, which the source then reads and sends again.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;

use super::{DocumentSink, Durable, Rejection, SinkError, SinkFactory, SinkMetrics, task_file_stem};

/// Buffer between documents and the file, in bytes.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Opens each task's file, `TASK.jsonl` in one directory.
#[derive(Debug)]
pub struct JsonLinesFiles {
    pub directory: PathBuf,
    pub metrics: Arc<SinkMetrics>,
}

#[async_trait]
impl SinkFactory for JsonLinesFiles {
    async fn open(&self, task_id: &str, checkpoint: Option<&str>) -> Result<Box<dyn DocumentSink>, SinkError> {
        let path = self.directory.join(format!("{}.jsonl", task_file_stem(task_id)));
        let mut sink = JsonLinesFileSink::open(&path, checkpoint)?;
        sink.metrics = Some(Arc::clone(&self.metrics));
        Ok(Box::new(sink))
    }

    fn describe(&self) -> String {
        self.directory.display().to_string()
    }
}

#[derive(Debug)]
pub struct JsonLinesFileSink {
    path: PathBuf,
    writer: BufWriter<File>,
    /// Bytes written so far, buffered ones included.
    position: u64,
    /// `write` calls so far.
    writes: u64,
    metrics: Option<Arc<SinkMetrics>>,
}

impl JsonLinesFileSink {
    /// Opens `path` for a task. With a checkpoint, the file is cut back to
    /// it; without one, the file starts empty.
    pub fn open(path: &Path, checkpoint: Option<&str>) -> Result<Self, SinkError> {
        let io_error = |source| SinkError::Io { path: path.to_path_buf(), source };
        let keep = match checkpoint {
            None => 0,
            Some(text) => text.parse::<u64>().map_err(|_| SinkError::BadCheckpoint {
                resource: path.display().to_string(),
                checkpoint: text.to_owned(),
                reason: "it is not a file length".to_owned(),
            })?,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_error)?;
        }
        let mut file = OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(io_error)?;
        let length = file.metadata().map_err(io_error)?.len();
        if length < keep {
            return Err(SinkError::Truncated { resource: path.display().to_string(), length, checkpoint: keep });
        }
        file.set_len(keep).map_err(io_error)?;
        file.seek(SeekFrom::Start(keep)).map_err(io_error)?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: BufWriter::with_capacity(WRITE_BUFFER_BYTES, file),
            position: keep,
            writes: 0,
            metrics: None,
        })
    }

    /// Appends one document and a newline.
    pub fn write(&mut self, document: &[u8]) -> Result<(), SinkError> {
        self.writer
            .write_all(document)
            .and_then(|()| self.writer.write_all(b"\n"))
            .map_err(|source| SinkError::Io { path: self.path.clone(), source })?;
        self.position += document.len() as u64 + 1;
        Ok(())
    }

    /// Makes everything written so far durable and returns the checkpoint
    /// that stands for it.
    pub fn checkpoint(&mut self) -> Result<String, SinkError> {
        self.writer
            .flush()
            .and_then(|()| self.writer.get_ref().sync_data())
            .map_err(|source| SinkError::Io { path: self.path.clone(), source })?;
        Ok(self.position.to_string())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl DocumentSink for JsonLinesFileSink {
    async fn write(&mut self, documents: Vec<Bytes>) -> Result<Vec<Rejection>, SinkError> {
        let started = Instant::now();
        let before = self.position;
        for document in &documents {
            JsonLinesFileSink::write(self, document)?;
        }
        self.writes += 1;
        if let Some(metrics) = &self.metrics {
            metrics.put(started.elapsed(), documents.len() as u64, self.position - before);
        }
        Ok(Vec::new())
    }

    async fn flush(&mut self, _last: bool) -> Result<Durable, SinkError> {
        Ok(Durable { writes: self.writes, checkpoint: self.checkpoint()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resuming_drops_lines_written_after_the_checkpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out/task.jsonl");
        let mut sink = JsonLinesFileSink::open(&path, None).expect("open");
        sink.write(br#"{"a":1}"#).expect("write");
        let checkpoint = sink.checkpoint().expect("checkpoint");
        sink.write(br#"{"a":2}"#).expect("write after checkpoint");
        sink.checkpoint().expect("flush");
        drop(sink);

        let mut resumed = JsonLinesFileSink::open(&path, Some(&checkpoint)).expect("resume");
        resumed.write(br#"{"a":3}"#).expect("write");
        resumed.checkpoint().expect("flush");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{\"a\":1}\n{\"a\":3}\n");
    }

    #[test]
    fn starting_without_a_checkpoint_empties_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("task.jsonl");
        std::fs::write(&path, "stale\n").expect("seed");
        let mut sink = JsonLinesFileSink::open(&path, None).expect("open");
        sink.checkpoint().expect("flush");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "");
    }

    #[test]
    fn a_file_shorter_than_its_checkpoint_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("task.jsonl");
        std::fs::write(&path, "x\n").expect("seed");
        let err = JsonLinesFileSink::open(&path, Some("100")).expect_err("shorter");
        assert!(err.to_string().contains("--restart"), "{err}");
        let err = JsonLinesFileSink::open(&path, Some("ten")).expect_err("not a number");
        assert!(matches!(err, SinkError::BadCheckpoint { .. }));
    }
}
