//! What every source read by a `SingleFileParser` shares (local files, S3
//! objects): the file layout asked of the handler once per task, and the
//! records cut from a byte stream by its hints, as batches of
//! `parseDocument` calls.
//!
//! Reading and cutting block, so each batch is cut on the blocking pool;
//! the cutter moves there and back with it.

use std::io::{self, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use ferry_proto::pb;
use flate2::read::MultiGzDecoder;
use serde_json::{Map, Value};

use super::record_cutter::{Cut, CutterLimits, RecordCutter, RecordHint};
use super::{RecordOrigin, RecordSource, SourceBatch, SourceError, SourceItem, SourceRecord};
use crate::bridge_client::BridgeClient;

/// Width of the zero-padded offset in record keys, so keys sort by offset.
const OFFSET_DIGITS: usize = 20;

/// Buffer of the compressed reader under the gzip decoder, in bytes.
const GZIP_INPUT_BUFFER_BYTES: usize = 256 * 1024;

/// Records cut from `raw`, a file's or an object's bytes, from decompressed
/// `position` on. A plain stream must already be at `position`; a gzip
/// stream starts at its beginning and is decompressed and discarded up to
/// it (gzip cannot seek). `raw_bytes` counts the bytes read, for progress
/// display. Blocks: call it where blocking is allowed.
pub fn cut_stream(
    raw: Box<dyn Read + Send>,
    gzip: bool,
    position: u64,
    [start, end]: [RecordHint; 2],
    limits: CutterLimits,
    raw_bytes: Arc<AtomicU64>,
    unit: &str,
) -> Result<RecordCutter<Box<dyn Read + Send>>, SourceError> {
    let io_error = |source| SourceError::Io { path: unit.into(), source };
    if !gzip {
        // The bytes before the position count as read: progress is shown
        // against the whole stream.
        raw_bytes.fetch_add(position, Ordering::Relaxed);
    }
    let counted = CountingReader { inner: raw, count: raw_bytes };
    let reader: Box<dyn Read + Send> = if gzip {
        let mut decoder = MultiGzDecoder::new(BufReader::with_capacity(GZIP_INPUT_BUFFER_BYTES, counted));
        let skipped = io::copy(&mut (&mut decoder).take(position), &mut io::sink()).map_err(io_error)?;
        if skipped < position {
            return Err(SourceError::Shrunk { unit: unit.to_owned(), length: skipped, checkpoint: position });
        }
        Box::new(decoder)
    } else {
        Box::new(counted)
    };
    RecordCutter::new(reader, position, start, end, limits)
        .map_err(|source| SourceError::Hints { unit: unit.to_owned(), source })
}

/// Counts the bytes that pass through a reader.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

/// How a file is to be cut and named, asked of the handler once per task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLayout {
    pub file_type: String,
    /// The manifest's name for the file, as the handler resolved it.
    pub resolved_name: String,
    pub start: RecordHint,
    pub end: RecordHint,
}

impl FileLayout {
    /// Asks the handler for the layout of the manifest entry `name`.
    pub async fn ask(bridge: &BridgeClient, name: &str) -> Result<Self, SourceError> {
        use pb::Function as F;
        use pb::call::Args;
        let file_type = text_of(
            "getS3FileType",
            bridge.call(F::SingleFileParserGetS3FileType, Args::GetS3FileType(pb::GetS3FileTypeArgs {})).await?,
        )?;
        let resolved_name = text_of(
            "getResolvedS3FileName",
            bridge
                .call(
                    F::SingleFileParserGetResolvedS3FileName,
                    Args::GetResolvedS3FileName(pb::GetResolvedS3FileNameArgs {
                        s3_file_type: file_type.clone(),
                        file_name: name.to_owned(),
                    }),
                )
                .await?,
        )?;
        let type_args = || pb::FileTypeArgs { s3_file_type: file_type.clone() };
        let start = hint_of(
            "getRecordStartPattern",
            bridge.call(F::SingleFileParserGetRecordStartPattern, Args::GetRecordStartPattern(type_args())).await?,
        )?;
        let end = hint_of(
            "getRecordEndPattern",
            bridge.call(F::SingleFileParserGetRecordEndPattern, Args::GetRecordEndPattern(type_args())).await?,
        )?;
        Ok(Self { file_type, resolved_name, start, end })
    }
}

/// The record key of the record at `offset`, which also names its error
/// document.
pub fn offset_key(offset: u64) -> String {
    format!("{offset:0width$}", width = OFFSET_DIGITS)
}

/// Parses a checkpoint of a file source: the decimal position after the
/// last durable record; no checkpoint is position 0.
pub fn parse_offset_checkpoint(unit: &str, checkpoint: Option<&str>) -> Result<u64, SourceError> {
    match checkpoint {
        None => Ok(0),
        Some(text) => text.parse().map_err(|_| SourceError::BadCheckpoint {
            unit: unit.to_owned(),
            checkpoint: text.to_owned(),
            reason: "it is not a byte offset".to_owned(),
        }),
    }
}

/// Records cut from one byte stream, as batches of `parseDocument` calls.
#[derive(Debug)]
pub struct CutRecords<R> {
    /// `None` only while a batch is being cut on the blocking pool.
    cutter: Option<RecordCutter<R>>,
    layout: Arc<FileLayout>,
    /// Fields every record's origin starts with (the file, the bucket).
    origin_fields: Arc<Map<String, Value>>,
    unit: String,
}

impl<R: Read + Send + 'static> CutRecords<R> {
    /// `unit` names the stream in errors; `origin_fields` go first in every
    /// record's origin, before `offsetBytes` and `endOffsetBytes`.
    pub fn new(cutter: RecordCutter<R>, layout: FileLayout, origin_fields: Map<String, Value>, unit: String) -> Self {
        Self { cutter: Some(cutter), layout: Arc::new(layout), origin_fields: Arc::new(origin_fields), unit }
    }
}

#[async_trait]
impl<R: Read + Send + 'static> RecordSource for CutRecords<R> {
    async fn next_batch(&mut self, max_records: usize, max_bytes: usize) -> Result<Option<SourceBatch>, SourceError> {
        let Some(mut cutter) = self.cutter.take() else {
            return Ok(None);
        };
        let layout = Arc::clone(&self.layout);
        let fields = Arc::clone(&self.origin_fields);
        let unit = self.unit.clone();
        let (cutter, batch) = tokio::task::spawn_blocking(move || {
            let batch = cut_batch(&mut cutter, &layout, &fields, &unit, max_records, max_bytes);
            (cutter, batch)
        })
        .await
        .map_err(|err| SourceError::Io { path: self.unit.clone().into(), source: io::Error::other(err) })?;
        let batch = batch?;
        if batch.is_some() {
            self.cutter = Some(cutter);
        }
        Ok(batch)
    }
}

fn cut_batch<R: Read>(
    cutter: &mut RecordCutter<R>,
    layout: &FileLayout,
    fields: &Map<String, Value>,
    unit: &str,
    max_records: usize,
    max_bytes: usize,
) -> Result<Option<SourceBatch>, SourceError> {
    let mut items = Vec::with_capacity(max_records);
    let mut bytes = 0;
    while items.len() < max_records && bytes < max_bytes {
        let cut = cutter.next_cut().map_err(|source| SourceError::Io { path: unit.into(), source })?;
        let Some(cut) = cut else { break };
        items.push(match cut {
            Cut::Record { offset, bytes: record } => {
                bytes += record.len();
                let end = offset + record.len() as u64;
                SourceItem::Record(SourceRecord {
                    args: pb::call::Args::ParseDocument(pb::ParseDocumentArgs {
                        s3_file_type: layout.file_type.clone(),
                        file_name: layout.resolved_name.clone(),
                        offset_bytes: offset,
                        content: record.clone(),
                    }),
                    origin: origin(fields, layout, offset, end),
                    payload: record,
                })
            }
            Cut::Oversized { offset, length } => SourceItem::Refused {
                origin: origin(fields, layout, offset, offset + length),
                error_type: "RecordTooLarge".to_owned(),
                message: format!(
                    "the record is {length} bytes, over the limit of {} bytes; it was not sent to the handler",
                    CutterLimits::default().max_record_bytes
                ),
                payload: bytes::Bytes::new(),
            },
        });
    }
    if items.is_empty() {
        return Ok(None);
    }
    Ok(Some(SourceBatch { items, checkpoint: RecordCutter::position(cutter).to_string(), acks: Vec::new() }))
}

fn origin(fields: &Map<String, Value>, layout: &FileLayout, offset: u64, end: u64) -> RecordOrigin {
    let mut fields = fields.clone();
    fields.insert("resolvedFileName".to_owned(), Value::from(layout.resolved_name.as_str()));
    fields.insert("offsetBytes".to_owned(), Value::from(offset));
    fields.insert("endOffsetBytes".to_owned(), Value::from(end));
    RecordOrigin { key: offset_key(offset), fields }
}

fn text_of(function: &'static str, outcome: pb::Outcome) -> Result<String, SourceError> {
    match outcome.result {
        Some(pb::outcome::Result::Text(text)) => Ok(text),
        other => Err(setup_failure(function, other)),
    }
}

fn hint_of(function: &'static str, outcome: pb::Outcome) -> Result<RecordHint, SourceError> {
    match outcome.result {
        Some(pb::outcome::Result::Hint(hint)) => match hint.hint_type() {
            pb::RecordHintType::Pattern => Ok(RecordHint::Pattern(hint.pattern.to_vec())),
            pb::RecordHintType::Offset => u64::try_from(hint.offset)
                .map(RecordHint::Offset)
                .map_err(|_| SourceError::Handler { function, message: format!("offset {} is negative", hint.offset) }),
            pb::RecordHintType::Unspecified => {
                Err(SourceError::Handler { function, message: "the hint has no type".to_owned() })
            }
        },
        other => Err(setup_failure(function, other)),
    }
}

/// The error for a setup call whose answer is not what the function
/// returns: the handler raised, or answered with the wrong kind of value.
pub fn setup_failure(function: &'static str, result: Option<pb::outcome::Result>) -> SourceError {
    let message = match result {
        Some(pb::outcome::Result::Error(error)) => {
            format!("{}: {}\n{}", error.error_type, error.message, error.traceback)
        }
        other => format!("unexpected answer {other:?}"),
    };
    SourceError::Handler { function, message }
}
