//! S3 aggregate-file sink: each task's documents gathered into objects of
//! about `file_size_bytes`, every document followed by the separator.
//!
//! Object keys are `KEY_PREFIX + task_file_stem(TASK) + "-" + NUMBER +
//! ".jsonl"`, NUMBER counting the task's objects from 0, zero-padded to
//! five digits (wider past 99999), e.g. `out/items-000.jsonl-00000.jsonl`.
//! The separator is any string, empty included: documents are JSON
//! objects, which delimit themselves.
//!
//! Documents are appended to a local spill file (an unnamed temporary file
//! in `TMPDIR`, gone with the process) and `write` returns once its batch
//! is spilled. A spill becomes the task's next object once it reaches the
//! size (checked after each batch) or once its first document is older
//! than [`MAX_SPILL_AGE`] (checked after each batch and at each checkpoint
//! interval's `flush`), so that a slow queue or stream source still sees
//! its checkpoint, and its deletes, within about half a minute. The object is
//! uploaded in the background while the next batches spill into a new
//! file; an object thus holds whole batches and may pass the size by up to
//! one batch. Objects of a part or more go up as multipart uploads of
//! [`PART_BYTES`] parts, [`PARTS_IN_FLIGHT`] at a time, read back from the
//! spill; smaller ones in one PutObject. A task uploads one object at a
//! time: a spill that is due while the previous one is still uploading
//! waits for it, which bounds a task's disk use to about two objects.
//!
//! Exactly once across crashes: the sink's checkpoint is the number of the
//! task's next object, and `flush` reports as durable only the `write`
//! calls that completed uploads cover, so the pipeline commits the source
//! position of the last batch of the last uploaded object and redoes the
//! work after it on resume. A task opened at checkpoint N first deletes
//! its objects numbered N or more (uploaded by a run that stopped before
//! committing them) and aborts its unfinished multipart uploads, then
//! writes from object N on. The redone work lands in the same keys, and no
//! object of the stopped run survives even when the new run cuts its
//! batches, and so its objects, differently.
//!
//! Failures stick: once a call fails (an upload, or a spill file), every
//! later `write` and `flush` fails the same way. The failed object's
//! writes are never reported durable, and nothing after them is either;
//! the task stops and the next run redoes them from the checkpoint.
//!
//! Metrics: one put per object, counted when its upload completes, with
//! the time from its first request to its last, its documents and its
//! bytes (separators included).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::task::JoinHandle;

use super::{DocumentSink, Durable, Rejection, SinkError, SinkFactory, SinkMetrics, task_file_stem};
use crate::aws::{check_bucket, delete_objects, s3_sink_client, sink_error};

/// Bytes of every multipart part but the last: above S3's 5 MiB minimum,
/// and small enough that the parts in flight stay a few tens of MiB.
const PART_BYTES: u64 = 8 * MIB;

/// How long a spill's first document may wait before the spill becomes an
/// object, whatever its size. Like a delivery stream's buffer interval, it
/// bounds how long a document waits for its checkpoint, and a queue
/// message for its delete: without it a slow source's spill could wait for
/// the size without end, and a FIFO queue, which holds back a message
/// group while its messages are in flight, would stop feeding the task.
/// Half the task store's lease: checkpoints, which renew the lease, then
/// come well within it even while objects fill slowly.
const MAX_SPILL_AGE: Duration = Duration::from_secs(30);

/// Parts of one object uploaded at once.
const PARTS_IN_FLIGHT: usize = 3;

const MIB: u64 = 1024 * 1024;

/// Digits an object number is zero-padded to in its key.
const NUMBER_DIGITS: usize = 5;

/// What every object key ends with.
const OBJECT_SUFFIX: &str = ".jsonl";

/// Opens each task's sink, writing to one bucket under one key prefix.
#[derive(Debug)]
pub struct S3AggregateSinks {
    client: aws_sdk_s3::Client,
    bucket: String,
    key_prefix: String,
    separator: Bytes,
    file_size_bytes: u64,
    metrics: Arc<SinkMetrics>,
}

impl S3AggregateSinks {
    /// Checks that `bucket` exists and can be reached.
    pub async fn connect(
        aws: &SdkConfig,
        bucket: &str,
        key_prefix: &str,
        separator: &str,
        file_size_bytes: u64,
        metrics: Arc<SinkMetrics>,
    ) -> Result<Self, SinkError> {
        let client = s3_sink_client(aws, &metrics);
        check_bucket(&client, bucket).await?;
        Ok(Self {
            client,
            bucket: bucket.to_owned(),
            key_prefix: key_prefix.to_owned(),
            separator: Bytes::copy_from_slice(separator.as_bytes()),
            file_size_bytes,
            metrics,
        })
    }
}

#[async_trait]
impl SinkFactory for S3AggregateSinks {
    async fn open(&self, task_id: &str, checkpoint: Option<&str>) -> Result<Box<dyn DocumentSink>, SinkError> {
        let objects = TaskObjects {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            prefix: format!("{}{}-", self.key_prefix, task_file_stem(task_id)),
            metrics: Arc::clone(&self.metrics),
        };
        let first_number = match checkpoint {
            None => 0,
            Some(text) => text.parse::<u64>().map_err(|_| SinkError::BadCheckpoint {
                resource: objects.resource(&objects.prefix),
                checkpoint: text.to_owned(),
                reason: "it is not an object number".to_owned(),
            })?,
        };
        objects.clear_from(first_number).await?;
        Ok(Box::new(S3AggregateSink::new(
            Arc::new(objects),
            self.separator.clone(),
            self.file_size_bytes,
            first_number,
            MAX_SPILL_AGE,
        )))
    }

    fn describe(&self) -> String {
        format!("s3://{}/{} (aggregate files of {} MiB)", self.bucket, self.key_prefix, self.file_size_bytes / MIB)
    }
}

/// The key of object `number` of the task whose keys start with `prefix`.
fn object_key(prefix: &str, number: u64) -> String {
    format!("{prefix}{number:0NUMBER_DIGITS$}{OBJECT_SUFFIX}")
}

/// The object number `key` stands for, when it is exactly a key
/// [`object_key`] makes for `prefix`. Other tasks' keys may share the
/// prefix (a task whose stem extends this one's past a `-`) but never
/// parse: what follows the prefix holds a `-` then.
fn object_number(prefix: &str, key: &str) -> Option<u64> {
    let digits = key.strip_prefix(prefix)?.strip_suffix(OBJECT_SUFFIX)?;
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let number = digits.parse().ok()?;
    (object_key(prefix, number) == key).then_some(number)
}

/// The multipart parts of an object of `bytes` bytes: part number (from
/// 1), offset and length.
fn parts(bytes: u64) -> impl Iterator<Item = (i32, u64, u64)> {
    (0..bytes.div_ceil(PART_BYTES)).zip(1..).map(move |(index, number)| {
        let offset = index * PART_BYTES;
        (number, offset, PART_BYTES.min(bytes - offset))
    })
}

/// A point in a task's output: every `write` call up to `writes` (counted
/// from the sink's opening) is in the objects numbered below `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    writes: u64,
    next: u64,
}

/// Which `write` calls are spilled, uploading and durable.
#[derive(Debug)]
struct Ledger {
    /// Every call taken; `next` is the number the spill will upload as.
    taken: Mark,
    /// Whether the spill holds documents.
    spilled: bool,
    /// Where the object being uploaded reaches. It stays when the upload
    /// fails, so that nothing past the lost object becomes durable.
    uploading: Option<Mark>,
    /// How far the task's output is durable: where the last completed
    /// upload reaches, and `taken` whenever nothing waits to be uploaded
    /// (calls without documents need no upload).
    durable: Mark,
}

impl Ledger {
    fn new(first_number: u64) -> Self {
        let start = Mark { writes: 0, next: first_number };
        Self { taken: start, spilled: false, uploading: None, durable: start }
    }

    /// A `write` call of `documents` documents.
    fn took(&mut self, documents: usize) {
        self.taken.writes += 1;
        self.spilled |= documents > 0;
        self.catch_up();
    }

    /// The spill starts uploading; returns its object number. Refused
    /// while the object before it is not uploaded (its upload is running
    /// or failed): marking the spill as uploading would then report the
    /// writes of that object durable once the spill's upload completes.
    fn cut(&mut self) -> Result<u64, NotUploaded> {
        if let Some(pending) = self.uploading {
            return Err(NotUploaded { number: pending.next - 1 });
        }
        let number = self.taken.next;
        self.taken.next += 1;
        self.spilled = false;
        self.uploading = Some(self.taken);
        Ok(number)
    }

    /// The object being uploaded is complete.
    fn uploaded(&mut self) {
        if let Some(mark) = self.uploading.take() {
            self.durable = mark;
        }
        self.catch_up();
    }

    /// Once nothing waits to be uploaded, every call taken is durable.
    fn catch_up(&mut self) {
        if !self.spilled && self.uploading.is_none() {
            self.durable = self.taken;
        }
    }
}

/// A spill cannot start uploading: object `number` is not uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NotUploaded {
    number: u64,
}

/// The documents spilled since the last upload started.
#[derive(Debug)]
struct Spill {
    writer: BufWriter<File>,
    bytes: u64,
    documents: u64,
    /// When the first document was spilled: the spill is created for it.
    first_document: Instant,
}

/// A finished spill, ready to upload.
#[derive(Debug)]
struct Spilled {
    file: File,
    bytes: u64,
    documents: u64,
}

impl Spill {
    fn create() -> Result<Self, SinkError> {
        let file = tempfile::tempfile().map_err(spill_error)?;
        Ok(Self {
            writer: BufWriter::with_capacity(MIB as usize, file),
            bytes: 0,
            documents: 0,
            first_document: Instant::now(),
        })
    }

    fn append(&mut self, document: &[u8], separator: &[u8]) -> Result<(), SinkError> {
        self.writer.write_all(document).and_then(|()| self.writer.write_all(separator)).map_err(spill_error)?;
        self.bytes += (document.len() + separator.len()) as u64;
        self.documents += 1;
        Ok(())
    }

    fn finish(self) -> Result<Spilled, SinkError> {
        let file = self.writer.into_inner().map_err(|err| spill_error(err.into_error()))?;
        Ok(Spilled { file, bytes: self.bytes, documents: self.documents })
    }
}

/// A spill file failed: it has no name, so the error names its directory.
fn spill_error(source: std::io::Error) -> SinkError {
    SinkError::Io { path: spill_directory(), source }
}

fn spill_directory() -> PathBuf {
    std::env::temp_dir()
}

/// One task's objects: the calls that write and clear them.
#[derive(Debug)]
struct TaskObjects {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// `KEY_PREFIX + task_file_stem(TASK) + "-"`.
    prefix: String,
    metrics: Arc<SinkMetrics>,
}

impl TaskObjects {
    fn resource(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Deletes the task's objects numbered `first` or more and aborts its
    /// unfinished multipart uploads: what a stopped run left past its
    /// checkpoint.
    async fn clear_from(&self, first: u64) -> Result<(), SinkError> {
        let listing = self.resource(&self.prefix);
        let mut stale = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&self.prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| sink_error("ListObjectsV2", &listing, err))?;
            for key in page.contents().iter().filter_map(|object| object.key()) {
                if object_number(&self.prefix, key).is_some_and(|number| number >= first) {
                    stale.push(key.to_owned());
                }
            }
        }
        delete_objects(&self.client, &self.bucket, &stale).await?;

        // ListMultipartUploads has no paginator: pages follow the markers.
        let mut markers = (None, None);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_key_marker(markers.0)
                .set_upload_id_marker(markers.1)
                .send()
                .await
                .map_err(|err| sink_error("ListMultipartUploads", &listing, err))?;
            for upload in page.uploads() {
                let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) else { continue };
                if object_number(&self.prefix, key).is_some() {
                    self.client
                        .abort_multipart_upload()
                        .bucket(&self.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .send()
                        .await
                        .map_err(|err| sink_error("AbortMultipartUpload", &self.resource(key), err))?;
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(());
            }
            markers = (page.next_key_marker().map(str::to_owned), page.next_upload_id_marker().map(str::to_owned));
        }
    }

    /// Uploads `spilled` as object `number`.
    async fn upload(self: Arc<Self>, number: u64, spilled: Spilled) -> Result<(), SinkError> {
        let key = object_key(&self.prefix, number);
        let started = Instant::now();
        let file = Arc::new(spilled.file);
        if spilled.bytes < PART_BYTES {
            let body = read_chunk(&file, 0, spilled.bytes).await?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|err| sink_error("PutObject", &self.resource(&key), err))?;
        } else {
            self.upload_multipart(&key, &file, spilled.bytes).await?;
        }
        self.metrics.put(started.elapsed(), spilled.documents, spilled.bytes);
        Ok(())
    }

    /// Uploads the `bytes` bytes of `file` to `key` in parts; aborts the
    /// upload when a part or the completion fails, so that S3 keeps no
    /// orphaned parts.
    async fn upload_multipart(&self, key: &str, file: &Arc<File>, bytes: u64) -> Result<(), SinkError> {
        let resource = self.resource(key);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|err| sink_error("CreateMultipartUpload", &resource, err))?;
        let Some(upload_id) = created.upload_id() else {
            return Err(SinkError::Service {
                operation: "CreateMultipartUpload",
                resource,
                message: "the answer holds no upload id".to_owned(),
                retryable: true,
            });
        };
        let completed = match self.upload_parts(key, upload_id, file, bytes).await {
            Ok(parts) => self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map(drop)
                .map_err(|err| sink_error("CompleteMultipartUpload", &resource, err)),
            Err(err) => Err(err),
        };
        if completed.is_err() {
            let aborted =
                self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(upload_id).send().await;
            if let Err(err) = aborted {
                // The next opening of the task aborts it again.
                tracing::warn!(
                    "cannot abort the multipart upload of {resource}: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(err)
                );
            }
        }
        completed
    }

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        file: &Arc<File>,
        bytes: u64,
    ) -> Result<Vec<CompletedPart>, SinkError> {
        futures::stream::iter(parts(bytes))
            .map(|(number, offset, length)| async move {
                let body = read_chunk(file, offset, length).await?;
                let answer = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .map_err(|err| sink_error("UploadPart", &self.resource(key), err))?;
                Ok(CompletedPart::builder().part_number(number).set_e_tag(answer.e_tag().map(str::to_owned)).build())
            })
            .buffered(PARTS_IN_FLIGHT)
            .try_collect()
            .await
    }
}

/// `length` bytes of `file` from `offset`, read on the blocking pool.
async fn read_chunk(file: &Arc<File>, offset: u64, length: u64) -> Result<Bytes, SinkError> {
    let file = Arc::clone(file);
    let length = usize::try_from(length).map_err(|err| spill_error(std::io::Error::other(err)))?;
    tokio::task::spawn_blocking(move || {
        let mut buffer = vec![0; length];
        file.read_exact_at(&mut buffer, offset).map(|()| Bytes::from(buffer))
    })
    .await
    .map_err(|err| spill_error(std::io::Error::other(err)))?
    .map_err(spill_error)
}

/// One task's writer: see the module documentation.
#[derive(Debug)]
struct S3AggregateSink {
    objects: Arc<TaskObjects>,
    separator: Bytes,
    file_size_bytes: u64,
    /// [`MAX_SPILL_AGE`] but in tests.
    max_spill_age: Duration,
    /// Created at the first document after an upload starts.
    spill: Option<Spill>,
    ledger: Ledger,
    upload: Option<JoinHandle<Result<(), SinkError>>>,
    /// The first failure, which every later call repeats.
    failure: Option<SinkError>,
}

impl S3AggregateSink {
    /// A sink writing from object `first_number` on; `clear_from` has
    /// already removed what a stopped run left there.
    fn new(
        objects: Arc<TaskObjects>,
        separator: Bytes,
        file_size_bytes: u64,
        first_number: u64,
        max_spill_age: Duration,
    ) -> Self {
        Self {
            objects,
            separator,
            file_size_bytes,
            max_spill_age,
            spill: None,
            ledger: Ledger::new(first_number),
            upload: None,
            failure: None,
        }
    }

    /// Whether the spill is to become an object now: it reached the size,
    /// or its first document has waited long enough.
    fn spill_due(&self) -> bool {
        self.spill.as_ref().is_some_and(|spill| {
            spill.bytes >= self.file_size_bytes || spill.first_document.elapsed() >= self.max_spill_age
        })
    }

    /// Starts uploading the spill as the task's next object, once the
    /// upload before it has completed.
    async fn start_upload(&mut self) -> Result<(), SinkError> {
        self.finish_upload().await?;
        let Some(spill) = self.spill.take() else { return Ok(()) };
        let spilled = spill.finish()?;
        let number = self.ledger.cut().map_err(|NotUploaded { number }| SinkError::Service {
            operation: "uploading an object",
            resource: self.objects.resource(&object_key(&self.objects.prefix, number)),
            message: "the object was not uploaded".to_owned(),
            retryable: true,
        })?;
        self.upload = Some(tokio::spawn(Arc::clone(&self.objects).upload(number, spilled)));
        Ok(())
    }

    /// Waits for the upload in flight, if any, to complete.
    async fn finish_upload(&mut self) -> Result<(), SinkError> {
        let Some(upload) = self.upload.take() else { return Ok(()) };
        upload.await.map_err(|err| SinkError::Service {
            operation: "uploading an object",
            resource: self.objects.resource(&self.objects.prefix),
            message: err.to_string(),
            retryable: false,
        })??;
        self.ledger.uploaded();
        Ok(())
    }

    /// What `write` does, short of remembering its failure.
    async fn take(&mut self, documents: Vec<Bytes>) -> Result<(), SinkError> {
        if !documents.is_empty() {
            let spill = match &mut self.spill {
                Some(spill) => spill,
                None => self.spill.insert(Spill::create()?),
            };
            for document in &documents {
                spill.append(document, &self.separator)?;
            }
        }
        self.ledger.took(documents.len());
        if self.spill_due() {
            self.start_upload().await?;
        }
        Ok(())
    }

    /// What `flush` does, short of remembering its failure.
    async fn make_durable(&mut self, last: bool) -> Result<Durable, SinkError> {
        if last {
            self.start_upload().await?;
            self.finish_upload().await?;
        } else {
            if self.upload.as_ref().is_some_and(JoinHandle::is_finished) {
                self.finish_upload().await?;
            }
            if self.spill_due() {
                self.start_upload().await?;
            }
        }
        let durable = self.ledger.durable;
        Ok(Durable { writes: durable.writes, checkpoint: durable.next.to_string() })
    }

    /// Fails with the first failure once there was one: after it, the
    /// spill and the ledger may not match the calls taken (a batch half
    /// spilled, an object lost).
    fn check_not_failed(&self) -> Result<(), SinkError> {
        self.failure.as_ref().map_or(Ok(()), |failure| Err(repeat_failure(failure)))
    }

    /// `result`, remembering its failure for every later call.
    fn remember_failure<T>(&mut self, result: Result<T, SinkError>) -> Result<T, SinkError> {
        if let Err(err) = &result {
            self.failure = Some(repeat_failure(err));
        }
        result
    }
}

/// A copy of `failure`, to fail a later call the same way (an I/O error
/// keeps its kind and message).
fn repeat_failure(failure: &SinkError) -> SinkError {
    match failure {
        SinkError::Io { path, source } => {
            SinkError::Io { path: path.clone(), source: std::io::Error::new(source.kind(), source.to_string()) }
        }
        SinkError::BadCheckpoint { resource, checkpoint, reason } => SinkError::BadCheckpoint {
            resource: resource.clone(),
            checkpoint: checkpoint.clone(),
            reason: reason.clone(),
        },
        SinkError::Truncated { resource, length, checkpoint } => {
            SinkError::Truncated { resource: resource.clone(), length: *length, checkpoint: *checkpoint }
        }
        SinkError::Service { operation, resource, message, retryable } => SinkError::Service {
            operation,
            resource: resource.clone(),
            message: message.clone(),
            retryable: *retryable,
        },
    }
}

#[async_trait]
impl DocumentSink for S3AggregateSink {
    async fn write(&mut self, documents: Vec<Bytes>) -> Result<Vec<Rejection>, SinkError> {
        self.check_not_failed()?;
        let taken = self.take(documents).await;
        self.remember_failure(taken).map(|()| Vec::new())
    }

    async fn flush(&mut self, last: bool) -> Result<Durable, SinkError> {
        self.check_not_failed()?;
        let durable = self.make_durable(last).await;
        self.remember_failure(durable)
    }
}

impl Drop for S3AggregateSink {
    /// A task that stops without its last flush (it failed) stops its
    /// upload too: the next opening of the task clears what is left.
    fn drop(&mut self) {
        if let Some(upload) = &self.upload {
            upload.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_number_a_tasks_objects_and_parse_back() {
        let prefix = "out/items-000.jsonl-";
        assert_eq!(object_key(prefix, 0), "out/items-000.jsonl-00000.jsonl");
        assert_eq!(object_key(prefix, 123_456), "out/items-000.jsonl-123456.jsonl");
        for number in [0, 7, 99_999, 100_000, 123_456] {
            assert_eq!(object_number(prefix, &object_key(prefix, number)), Some(number));
        }
    }

    #[test]
    fn keys_of_other_tasks_and_strangers_do_not_parse() {
        let prefix = "out/items-000.jsonl-";
        // A task whose stem is this one's followed by `-x`.
        assert_eq!(object_number(prefix, &object_key("out/items-000.jsonl-x-", 1)), None);
        // A task whose stem is this one's followed by a key of it.
        assert_eq!(object_number(prefix, &object_key("out/items-000.jsonl-00001.jsonl-", 2)), None);
        for stranger in [
            "out/items-000.jsonl-1.jsonl",
            "out/items-000.jsonl-000001.jsonl",
            "out/items-000.jsonl-.jsonl",
            "out/items-000.jsonl-00001.json",
            "out/items-000.jsonl-0000a.jsonl",
            "other/items-000.jsonl-00001.jsonl",
        ] {
            assert_eq!(object_number(prefix, stranger), None, "{stranger}");
        }
    }

    #[test]
    fn objects_are_cut_into_full_parts_and_a_last_one() {
        assert_eq!(parts(10 * MIB).collect::<Vec<_>>(), [(1, 0, 8 * MIB), (2, 8 * MIB, 2 * MIB)]);
        assert_eq!(parts(16 * MIB).collect::<Vec<_>>(), [(1, 0, 8 * MIB), (2, 8 * MIB, 8 * MIB)]);
        assert_eq!(parts(8 * MIB + 1).map(|(_, _, length)| length).collect::<Vec<_>>(), [8 * MIB, 1]);
        assert_eq!(parts(128 * MIB).count(), 16);
    }

    #[test]
    fn nothing_spilled_is_durable_before_its_upload_completes() {
        let mut ledger = Ledger::new(0);
        assert_eq!(ledger.durable, Mark { writes: 0, next: 0 });
        ledger.took(5);
        ledger.took(5);
        assert_eq!(ledger.durable, Mark { writes: 0, next: 0 }, "spilled only");
        assert_eq!(ledger.cut(), Ok(0));
        ledger.took(5);
        assert_eq!(ledger.durable, Mark { writes: 0, next: 0 }, "uploading");
        ledger.uploaded();
        assert_eq!(ledger.durable, Mark { writes: 2, next: 1 }, "the object covers the first two calls");
        assert_eq!(ledger.cut(), Ok(1));
        ledger.uploaded();
        assert_eq!(ledger.durable, Mark { writes: 3, next: 2 });
    }

    #[test]
    fn calls_without_documents_are_durable_once_nothing_waits_for_an_upload() {
        let mut ledger = Ledger::new(4);
        ledger.took(0);
        assert_eq!(ledger.durable, Mark { writes: 1, next: 4 }, "a resumed task's empty first batch");
        ledger.took(3);
        ledger.took(0);
        assert_eq!(ledger.durable, Mark { writes: 1, next: 4 }, "behind spilled documents");
        assert_eq!(ledger.cut(), Ok(4));
        ledger.took(0);
        assert_eq!(ledger.durable, Mark { writes: 1, next: 4 }, "behind an upload");
        ledger.uploaded();
        assert_eq!(ledger.durable, Mark { writes: 4, next: 5 }, "past the upload, with the empty call after it");
    }

    #[test]
    fn nothing_past_a_failed_upload_becomes_durable() {
        let mut ledger = Ledger::new(0);
        ledger.took(5);
        assert_eq!(ledger.cut(), Ok(0));
        // Object 0's upload fails: it is never marked uploaded.
        ledger.took(5);
        ledger.took(0);
        assert_eq!(ledger.cut(), Err(NotUploaded { number: 0 }), "the next spill cannot pass object 0");
        assert_eq!(ledger.durable, Mark { writes: 0, next: 0 });
    }

    /// A task's objects behind an endpoint nobody listens on: every upload
    /// fails at once (connection refused, retryable, not retried).
    fn unreachable_objects() -> Arc<TaskObjects> {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let endpoint = format!("http://{}", closed.local_addr().expect("a bound address"));
        drop(closed);
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .endpoint_url(endpoint)
            .force_path_style(true)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "tests"))
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build();
        Arc::new(TaskObjects {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: "unreachable".to_owned(),
            prefix: "task-".to_owned(),
            metrics: Arc::default(),
        })
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn documents(count: usize) -> Vec<Bytes> {
        (0..count).map(|n| Bytes::from(format!(r#"{{"n":{n}}}"#))).collect()
    }

    #[tokio::test]
    async fn an_old_spill_becomes_an_object_at_the_next_flush_and_a_young_one_does_not() {
        let mut sink = S3AggregateSink::new(unreachable_objects(), Bytes::from_static(b"\n"), MIB, 0, HOUR);
        sink.write(documents(3)).await.expect("spilled");
        sink.write(documents(2)).await.expect("spilled");
        let durable = sink.flush(false).await.expect("nothing uploads yet");
        assert_eq!(durable, Durable { writes: 0, checkpoint: "0".to_owned() });
        assert!(sink.upload.is_none(), "a young spill small for its size waits");
        assert_eq!(sink.spill.as_ref().map(|spill| spill.documents), Some(5));

        // The spill's first document is now older than the bound.
        sink.max_spill_age = Duration::ZERO;
        let durable = sink.flush(false).await.expect("the upload runs in the background");
        assert_eq!(durable, Durable { writes: 0, checkpoint: "0".to_owned() }, "not durable before its upload");
        assert!(sink.spill.is_none(), "the spill became object 0");
        assert!(sink.upload.is_some());
        assert_eq!(sink.ledger.uploading, Some(Mark { writes: 2, next: 1 }));
    }

    #[tokio::test]
    async fn an_old_spill_becomes_an_object_after_a_batch() {
        let mut sink = S3AggregateSink::new(unreachable_objects(), Bytes::new(), MIB, 7, Duration::ZERO);
        sink.write(documents(1)).await.expect("spilled");
        assert!(sink.spill.is_none(), "the spill became object 7");
        assert_eq!(sink.ledger.uploading, Some(Mark { writes: 1, next: 8 }));
    }

    #[tokio::test]
    async fn after_a_failed_upload_every_call_fails_the_same_way() {
        // Every batch fills an object.
        let mut sink = S3AggregateSink::new(unreachable_objects(), Bytes::new(), 1, 0, HOUR);
        sink.write(documents(2)).await.expect("object 0 uploads in the background");
        let failure = sink.write(documents(2)).await.expect_err("object 0's upload fails");
        assert!(failure.to_string().contains("task-00000.jsonl"), "{failure}");
        let check = |err: SinkError| {
            assert_eq!(err.to_string(), failure.to_string());
            assert_eq!(err.is_retryable(), failure.is_retryable());
        };
        check(sink.flush(true).await.expect_err("the last flush covers no lost object"));
        check(sink.flush(false).await.expect_err("a flush"));
        check(sink.write(documents(1)).await.expect_err("a write"));
        check(sink.write(Vec::new()).await.expect_err("an empty write"));
        assert!(sink.upload.is_none(), "no object after the lost one is uploaded");
        assert_eq!(sink.ledger.durable, Mark { writes: 0, next: 0 });
    }
}
