//! S3 sink, one object per document (`Single Record Writer`).
//!
//! Each document is put as its own object, its flat JSON as the body
//! (`application/json`), at `PREFIX + ID + ".json"`: ID is the document's
//! `documentId` with every byte outside `[A-Za-z0-9._-]` percent-encoded,
//! as [`task_file_stem`] names files (so `a/b` is `a%2Fb`). Distinct ids
//! give distinct keys, and a key never depends on anything but the id.
//!
//! A document without a `documentId` (absent, not a string, or empty), or
//! whose key would exceed S3's 1,024 bytes, is a [`Rejection`]
//! (`MissingDocumentId`, `KeyTooLong`). A document cannot exceed S3's
//! 5 GB object limit here: documents are far smaller.
//!
//! Exactly once in effect, per id: a put replaces the object of the same
//! key, so work redone after a crash rewrites the same objects instead of
//! adding copies. Of documents with the same id in one batch, only the
//! last is put (see [`last_per_key`]); batches are written one after
//! another, so the bucket keeps the last document of each id in record
//! order.
//!
//! An answered put is durable, and there is nothing to take back on
//! resume: the sink checkpoint is the count of objects the task put
//! ([`Delivered`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures::StreamExt;

use super::delivered::Delivered;
use super::{
    DocumentSink, Durable, Rejection, SinkError, SinkFactory, SinkMetrics, document_string_field, task_file_stem,
};
use crate::aws::{check_bucket, s3_sink_client, sink_error};

/// PutObject calls in flight per task (or per error batch): enough to hide
/// a round trip of tens of milliseconds behind the others.
pub const PUTS_IN_FLIGHT: usize = 16;

/// S3's longest object key, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// The content type of every object: a document's flat JSON.
const CONTENT_TYPE: &str = "application/json";

/// Opens each task's sink; every task writes to the same bucket and
/// prefix.
#[derive(Debug)]
pub struct S3ObjectSinks {
    target: Arc<Target>,
}

/// Where documents go, shared by every task's sink.
#[derive(Debug)]
struct Target {
    client: aws_sdk_s3::Client,
    bucket: String,
    key_prefix: String,
    metrics: Arc<SinkMetrics>,
}

impl S3ObjectSinks {
    /// Checks that the bucket exists and can be reached (HeadBucket).
    pub async fn connect(
        aws: &SdkConfig,
        bucket: &str,
        key_prefix: &str,
        metrics: Arc<SinkMetrics>,
    ) -> Result<Self, SinkError> {
        let client = s3_sink_client(aws, &metrics);
        check_bucket(&client, bucket).await?;
        let target = Target { client, bucket: bucket.to_owned(), key_prefix: key_prefix.to_owned(), metrics };
        Ok(Self { target: Arc::new(target) })
    }
}

#[async_trait]
impl SinkFactory for S3ObjectSinks {
    async fn open(&self, task_id: &str, checkpoint: Option<&str>) -> Result<Box<dyn DocumentSink>, SinkError> {
        let resource = format!("task {task_id} on s3://{}/{}", self.target.bucket, self.target.key_prefix);
        let delivered = Delivered::resume(&resource, checkpoint)?;
        Ok(Box::new(S3ObjectSink { target: Arc::clone(&self.target), delivered }))
    }

    fn describe(&self) -> String {
        format!("s3://{}/{} (one object per document)", self.target.bucket, self.target.key_prefix)
    }
}

/// One task's writer.
#[derive(Debug)]
struct S3ObjectSink {
    target: Arc<Target>,
    delivered: Delivered,
}

impl Target {
    async fn put(&self, key: String, document: Bytes) -> Result<(), SinkError> {
        let bytes = document.len() as u64;
        let sent = Instant::now();
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(CONTENT_TYPE)
            .body(ByteStream::from(document))
            .send()
            .await
            .map_err(|err| sink_error("PutObject", &format!("s3://{}/{key}", self.bucket), err))?;
        self.metrics.put(sent.elapsed(), 1, bytes);
        Ok(())
    }
}

#[async_trait]
impl DocumentSink for S3ObjectSink {
    async fn write(&mut self, documents: Vec<Bytes>) -> Result<Vec<Rejection>, SinkError> {
        let mut rejections = Vec::new();
        let count = documents.len();
        let mut keyed = Vec::with_capacity(count);
        for (index, document) in documents.into_iter().enumerate() {
            match object_key(&self.target.key_prefix, index, &document) {
                Ok(key) => keyed.push((key.clone(), (key, document))),
                Err(rejection) => rejections.push(rejection),
            }
        }
        let target = &self.target;
        let mut answered = futures::stream::iter(last_per_key(keyed))
            .map(|(key, document)| target.put(key, document))
            .buffer_unordered(PUTS_IN_FLIGHT);
        while let Some(put) = answered.next().await {
            put?;
        }
        self.delivered.write(count - rejections.len());
        Ok(rejections)
    }

    async fn flush(&mut self, _last: bool) -> Result<Durable, SinkError> {
        Ok(self.delivered.durable())
    }
}

/// The key of `document`'s object under `key_prefix`, or why it has none.
fn object_key(key_prefix: &str, index: usize, document: &[u8]) -> Result<String, Rejection> {
    let refuse = |error_type: &str, message: String| Rejection { index, error_type: error_type.to_owned(), message };
    let id = document_string_field(document, "documentId").filter(|id| !id.is_empty()).ok_or_else(|| {
        refuse("MissingDocumentId", "the document has no documentId to name its object after".to_owned())
    })?;
    let key = format!("{key_prefix}{}.json", task_file_stem(&id));
    if key.len() > MAX_KEY_BYTES {
        return Err(refuse(
            "KeyTooLong",
            format!(
                "the object key for this documentId ({} bytes) would be {} bytes; S3 takes at most {MAX_KEY_BYTES}",
                id.len(),
                key.len()
            ),
        ));
    }
    Ok(key)
}

/// Of the items that share a key, the last only, in the place of the
/// first: a later document with the same key replaces the earlier one at
/// the destination, and puts in flight together land in any order, so
/// sending both could leave the earlier one.
pub fn last_per_key<K: Hash + Eq, T>(keyed: impl IntoIterator<Item = (K, T)>) -> Vec<T> {
    let mut slots = HashMap::new();
    let mut kept = Vec::new();
    for (key, item) in keyed {
        match slots.entry(key) {
            Entry::Occupied(slot) => kept[*slot.get()] = item,
            Entry::Vacant(slot) => {
                slot.insert(kept.len());
                kept.push(item);
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_prefix_and_the_encoded_id() {
        assert_eq!(object_key("out/", 0, br#"{"documentId":"doc-1"}"#), Ok("out/doc-1.json".to_owned()));
        assert_eq!(object_key("out/", 0, br#"{"documentId":"a/b c"}"#), Ok("out/a%2Fb%20c.json".to_owned()));
    }

    #[test]
    fn documents_without_a_usable_id_are_refused() {
        for document in [&br#"{"n":1}"#[..], br#"{"documentId":""}"#, br#"{"documentId":7}"#] {
            let refused = object_key("", 3, document).expect_err("no id");
            assert_eq!((refused.index, refused.error_type.as_str()), (3, "MissingDocumentId"));
        }
        let long = format!(r#"{{"documentId":"{}"}}"#, "x".repeat(MAX_KEY_BYTES));
        let refused = object_key("", 0, long.as_bytes()).expect_err("too long");
        assert_eq!(refused.error_type, "KeyTooLong");
        // The longest id that fits: the key is exactly 1,024 bytes.
        let fits = format!(r#"{{"documentId":"{}"}}"#, "x".repeat(MAX_KEY_BYTES - ".json".len()));
        assert_eq!(object_key("", 0, fits.as_bytes()).map(|key| key.len()), Ok(MAX_KEY_BYTES));
    }

    #[test]
    fn the_last_item_of_a_key_takes_the_first_ones_place() {
        let kept = last_per_key([("a", 1), ("b", 2), ("a", 3), ("c", 4), ("a", 5)]);
        assert_eq!(kept, [5, 2, 4]);
    }
}
