//! Tasks of the Single File State Machine Reader: one file each, read
//! record by record by a [`SingleFileStateMachineParser`].

use std::sync::Arc;

use async_trait::async_trait;
use ferry_bridge::host::rust::{SingleFileStateMachineParser, parse_outcome};
use serde_json::{Map, Value};

use super::checkpoint;
use super::file_reader::{FilePosition, FileReader, FileSpec, ReadRecord, user_call};
use super::{PARSE_DOCUMENT, blocking, function};
use crate::config::ManifestEntry;
use crate::sources::file::disk_size;
use crate::sources::single_file::offset_key;
use crate::sources::{
    OpenContext, OpenedSource, RecordOrigin, RecordSource, SourceBatch, SourceError, SourceItem, TaskUnit,
};

/// One file of the manifest, read by the registered parser.
pub struct SingleFileStateMachineUnit {
    pub entry: ManifestEntry,
    pub parser: Arc<dyn SingleFileStateMachineParser>,
}

impl std::fmt::Debug for SingleFileStateMachineUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleFileStateMachineUnit").field("entry", &self.entry).finish_non_exhaustive()
    }
}

#[async_trait]
impl TaskUnit for SingleFileStateMachineUnit {
    /// Asks the parser for the file type and name, then opens the file at
    /// the checkpoint's position, in the checkpoint's state.
    async fn open(&self, checkpoint: Option<&str>, context: &OpenContext) -> Result<OpenedSource, SourceError> {
        let unit = self.entry.path.display().to_string();
        let position = match checkpoint {
            None => FilePosition::default(),
            Some(text) => checkpoint::decode_file(text).map_err(|reason| SourceError::BadCheckpoint {
                unit: unit.clone(),
                checkpoint: text.to_owned(),
                reason,
            })?,
        };
        let (parser, entry, read_bytes) =
            (Arc::clone(&self.parser), self.entry.clone(), Arc::clone(&context.read_bytes));
        let reader = blocking(&unit, move || {
            let file_type = user_call("getS3FileType", || Ok(parser.get_s3_file_type()))?;
            let resolved_name =
                user_call("getResolvedS3FileName", || Ok(parser.get_resolved_s3_file_name(&file_type, &entry.name)))?;
            FileReader::open(FileSpec { parser, file_type, resolved_name, path: entry.path }, position, read_bytes)
        })
        .await??;
        Ok(OpenedSource {
            function: function(),
            clear_errors_from: Some(offset_key(reader.position().offset)),
            records: Box::new(FileRecords { reader: Some(reader), file: self.entry.name.clone(), unit }),
            acknowledger: None,
        })
    }

    fn stored_bytes(&self) -> u64 {
        disk_size(&self.entry.path)
    }
}

/// The records of one file, parsed one after the other.
struct FileRecords {
    /// `None` once the file is read to its end, and while a batch is read
    /// on the blocking pool.
    reader: Option<FileReader>,
    /// The file as the manifest names it.
    file: String,
    unit: String,
}

#[async_trait]
impl RecordSource for FileRecords {
    async fn next_batch(&mut self, max_records: usize, max_bytes: usize) -> Result<Option<SourceBatch>, SourceError> {
        let Some(mut reader) = self.reader.take() else { return Ok(None) };
        let file = self.file.clone();
        let (reader, batch) = blocking(&self.unit, move || {
            let batch = read_batch(&mut reader, &file, max_records, max_bytes);
            (reader, batch)
        })
        .await?;
        let batch = batch?;
        if batch.is_some() {
            self.reader = Some(reader);
        }
        Ok(batch)
    }
}

/// Reads and parses up to `max_records` records or about `max_bytes`
/// bytes; `None` at the end of the file.
fn read_batch(
    reader: &mut FileReader,
    file: &str,
    max_records: usize,
    max_bytes: usize,
) -> Result<Option<SourceBatch>, SourceError> {
    let mut items = Vec::with_capacity(max_records);
    let mut bytes = 0;
    while items.len() < max_records && bytes < max_bytes {
        let Some(record) = reader.read()? else {
            reader.close();
            break;
        };
        bytes += record.payload.len();
        items.push(handled(reader.spec(), file, record));
    }
    if items.is_empty() {
        return Ok(None);
    }
    Ok(Some(SourceBatch { items, checkpoint: checkpoint::encode_file(reader.position()), acks: Vec::new() }))
}

fn handled(spec: &FileSpec, file: &str, record: ReadRecord) -> SourceItem {
    let mut fields = Map::new();
    fields.insert("file".to_owned(), Value::from(file));
    fields.insert("resolvedFileName".to_owned(), Value::from(spec.resolved_name.as_str()));
    fields.insert("recordType".to_owned(), Value::from(record.record_type));
    fields.insert("offsetBytes".to_owned(), Value::from(record.offset));
    fields.insert("endOffsetBytes".to_owned(), Value::from(record.end));
    SourceItem::Handled {
        origin: RecordOrigin { key: offset_key(record.offset), fields },
        payload: record.payload,
        outcome: parse_outcome(record.result, PARSE_DOCUMENT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_machine::file_reader::tests::{DATA, Lengths, data_file};
    use crate::state_machine::test_support::{context, drain, summaries};

    fn unit(path: std::path::PathBuf) -> SingleFileStateMachineUnit {
        let entry = ManifestEntry { name: "f.len".to_owned(), path, files_by_type: Vec::new() };
        SingleFileStateMachineUnit { entry, parser: Arc::new(Lengths::default()) }
    }

    #[tokio::test]
    async fn records_come_parsed_in_batches_that_resume_from_their_checkpoints() {
        let (_dir, path) = data_file(DATA);
        let unit = unit(path);
        let opened = unit.open(None, &context()).await.expect("open");
        assert_eq!(opened.clear_errors_from, Some(offset_key(0)));
        let mut records = opened.records;
        let batches = drain(&mut records, 4).await;
        assert_eq!(batches.iter().map(|batch| batch.items.len()).collect::<Vec<_>>(), [4, 4, 1]);
        let all = summaries(&batches);
        let key = offset_key;
        assert_eq!(
            all[0],
            format!(
                "{} Skip {}",
                key(0),
                r#"{"documentId":null,"recordType":null,"partitionKey":null,"documentMetadata":{},"length":3}"#
            )
        );
        assert_eq!(
            all[1],
            format!(
                "{} Success {}",
                key(3),
                r#"{"documentId":"LENGTHS@3","recordType":"BODY","partitionKey":"f.len","documentMetadata":{},"text":"abc"}"#
            )
        );
        assert_eq!(all[6], format!("{} Panic cannot parse ?", key(16)));
        let SourceItem::Handled { origin, payload, .. } = &batches[1].items[2] else { panic!("handled") };
        assert_eq!(
            Value::Object(origin.fields.clone()),
            serde_json::json!({"file": "f.len", "resolvedFileName": "f.len", "recordType": "BODY", "offsetBytes": 16, "endOffsetBytes": 17})
        );
        assert_eq!(&payload[..], b"?");

        let mut position = 0;
        for batch in &batches {
            position += batch.items.len();
            let opened = unit.open(Some(&batch.checkpoint), &context()).await.expect("resume");
            let mut rest = opened.records;
            assert_eq!(summaries(&drain(&mut rest, 3).await), all[position..], "resumed at {}", batch.checkpoint);
        }
    }

    #[tokio::test]
    async fn a_checkpoint_of_another_source_is_refused() {
        let (_dir, path) = data_file(DATA);
        let err = unit(path).open(Some("12"), &context()).await.err().map(|err| err.to_string()).unwrap_or_default();
        assert!(err.contains("offset is not a byte offset; run the dataset with --restart"), "{err}");
    }
}
