//! Local file source: one task per manifest file, records cut from its
//! byte stream by the handler's start and end hints.
//!
//! Files whose name ends in `.gz` are decompressed as they are read
//! (concatenated gzip members included). Positions, and so record offsets
//! and checkpoints, count bytes of the decompressed stream. The checkpoint
//! is the decimal position just after the last record whose outcome is
//! durably written; resuming seeks there (or, for gzip, decompresses and
//! discards up to it) and cuts on from that record boundary.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::record_cutter::{CutterLimits, RecordCutter, RecordHint};
use super::single_file::{CutRecords, FileLayout, cut_stream, offset_key, parse_offset_checkpoint};
use super::{OpenContext, OpenedSource, SourceError, TaskUnit};
use crate::config::ManifestEntry;
use async_trait::async_trait;

/// The records of one file.
pub type FileRecords = RecordCutter<Box<dyn Read + Send>>;

/// One manifest file: the unit of a file task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUnit(pub ManifestEntry);

#[async_trait]
impl TaskUnit for FileUnit {
    /// Asks the handler for the file's layout, then cuts records from the
    /// checkpoint on.
    async fn open(&self, checkpoint: Option<&str>, context: &OpenContext) -> Result<OpenedSource, SourceError> {
        let entry = &self.0;
        let unit = entry.path.display().to_string();
        let position = parse_offset_checkpoint(&unit, checkpoint)?;
        let layout = FileLayout::ask(&context.bridge, &entry.name).await?;
        let cutter = open_records(
            &entry.path,
            position,
            layout.start.clone(),
            layout.end.clone(),
            CutterLimits::default(),
            Arc::clone(&context.read_bytes),
        )?;
        let mut origin = serde_json::Map::new();
        origin.insert("file".to_owned(), entry.name.clone().into());
        Ok(OpenedSource {
            function: ferry_proto::pb::Function::SingleFileParserParseDocument,
            records: Box::new(CutRecords::new(cutter, layout, origin, unit)),
            acknowledger: None,
            clear_errors_from: Some(offset_key(position)),
        })
    }

    fn stored_bytes(&self) -> u64 {
        disk_size(&self.0.path)
    }
}

/// Opens `path` at decompressed `position` and cuts records from there.
/// `raw_bytes` counts bytes read from disk, for progress display.
pub fn open_records(
    path: &Path,
    position: u64,
    start: RecordHint,
    end: RecordHint,
    limits: CutterLimits,
    raw_bytes: Arc<AtomicU64>,
) -> Result<FileRecords, SourceError> {
    let io_error = |source| SourceError::Io { path: path.to_path_buf(), source };
    let unit = path.display().to_string();
    let mut file = File::open(path).map_err(io_error)?;
    let is_gzip = path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("gz"));
    if !is_gzip {
        let length = file.metadata().map_err(io_error)?.len();
        if length < position {
            return Err(SourceError::Shrunk { unit, length, checkpoint: position });
        }
        file.seek(SeekFrom::Start(position)).map_err(io_error)?;
    }
    cut_stream(Box::new(file), is_gzip, position, [start, end], limits, raw_bytes, &unit)
}

/// The size of a file on disk, for progress totals.
pub fn disk_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;
    use crate::sources::record_cutter::Cut;

    fn lines(path: &Path, position: u64) -> Vec<(u64, String)> {
        let records = open_records(
            path,
            position,
            RecordHint::Offset(0),
            RecordHint::Pattern(b"\n".to_vec()),
            CutterLimits::default(),
            Arc::new(AtomicU64::new(0)),
        )
        .expect("open");
        records
            .map(|cut| match cut.expect("read") {
                Cut::Record { offset, bytes } => (offset, String::from_utf8_lossy(&bytes).into_owned()),
                Cut::Oversized { .. } => panic!("no record is oversized here"),
            })
            .collect()
    }

    #[test]
    fn plain_and_gzip_files_resume_at_the_same_decompressed_offsets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "one\ntwo\nthree\n";
        let plain = dir.path().join("a.jsonl");
        std::fs::write(&plain, text).expect("write plain");
        let gzip = dir.path().join("a.jsonl.gz");
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(text.as_bytes()).expect("compress");
        std::fs::write(&gzip, encoder.finish().expect("finish")).expect("write gzip");

        let expected = vec![(0, "one\n".to_owned()), (4, "two\n".to_owned()), (8, "three\n".to_owned())];
        assert_eq!(lines(&plain, 0), expected);
        assert_eq!(lines(&gzip, 0), expected);
        assert_eq!(lines(&plain, 4), expected[1..]);
        assert_eq!(lines(&gzip, 4), expected[1..]);
    }

    #[test]
    fn a_checkpoint_beyond_the_end_means_the_file_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, "x\n").expect("write");
        let err = open_records(
            &path,
            10,
            RecordHint::Offset(0),
            RecordHint::Pattern(b"\n".to_vec()),
            CutterLimits::default(),
            Arc::new(AtomicU64::new(0)),
        )
        .expect_err("shrunk");
        assert!(err.to_string().contains("--restart"), "{err}");
    }
}
