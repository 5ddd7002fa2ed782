//! S3 source: one task per object, read by a `SingleFileParser` exactly as
//! a local file is (see `file`): the handler's `getResolvedS3FileName`
//! turns the manifest name into the key, its hints cut the records, keys
//! ending in `.gz` are decompressed, and checkpoints are decompressed byte
//! offsets.
//!
//! Objects are streamed, never held whole. Resuming a plain object asks S3
//! for the bytes from the checkpoint on (a ranged GET); a gzip object is
//! read from its start and decompressed up to the checkpoint.

use std::io::Read;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use ferry_proto::pb;
use tokio_util::io::SyncIoBridge;

use super::record_cutter::CutterLimits;
use super::single_file::{CutRecords, FileLayout, cut_stream, offset_key, parse_offset_checkpoint};
use super::{OpenContext, OpenedSource, SourceError, TaskUnit};
use crate::aws::{s3_client, service_error};
use crate::config::S3Objects;

/// One object of a bucket: the unit of an S3 task.
#[derive(Debug, Clone)]
pub struct S3Object {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// The manifest's name for the object (for a prefix, its key).
    name: String,
    /// From the listing; 0 when the manifest named the object.
    size: u64,
}

/// The tasks of an S3 read connector, by manifest name, in manifest order
/// (for a prefix, by key). Fails when the bucket cannot be reached or the
/// prefix holds no objects.
pub async fn s3_units(
    config: &SdkConfig,
    bucket: &str,
    objects: &S3Objects,
) -> Result<Vec<(String, Arc<dyn TaskUnit>)>, SourceError> {
    let client = s3_client(config);
    let unit = |name: String, size: u64| -> (String, Arc<dyn TaskUnit>) {
        let object = S3Object { client: client.clone(), bucket: bucket.to_owned(), name: name.clone(), size };
        (name, Arc::new(object))
    };
    match objects {
        S3Objects::Names(names) => {
            // Named objects are checked when their task opens them (the
            // handler resolves the key); the bucket is checked now.
            client
                .head_bucket()
                .bucket(bucket)
                .send()
                .await
                .map_err(|err| service_error("HeadBucket", &format!("s3://{bucket}"), err))?;
            Ok(names.iter().map(|name| unit(name.clone(), 0)).collect())
        }
        S3Objects::Prefix(prefix) => {
            let resource = format!("s3://{bucket}/{prefix}");
            let mut pages = client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
            let mut units = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|err| service_error("ListObjectsV2", &resource, err))?;
                for object in page.contents() {
                    let Some(key) = object.key().filter(|key| !key.ends_with('/')) else { continue };
                    let size = object.size().and_then(|size| u64::try_from(size).ok()).unwrap_or(0);
                    units.push(unit(key.to_owned(), size));
                }
            }
            if units.is_empty() {
                return Err(SourceError::Service {
                    operation: "ListObjectsV2",
                    resource,
                    message: "no objects under this prefix".to_owned(),
                    retryable: false,
                });
            }
            units.sort_by(|(a, _), (b, _)| a.cmp(b));
            Ok(units)
        }
    }
}

#[async_trait]
impl TaskUnit for S3Object {
    /// Asks the handler for the object's layout and key, then streams it
    /// from the checkpoint on.
    async fn open(&self, checkpoint: Option<&str>, context: &OpenContext) -> Result<OpenedSource, SourceError> {
        let named = format!("s3://{}/{}", self.bucket, self.name);
        let position = parse_offset_checkpoint(&named, checkpoint)?;
        let layout = FileLayout::ask(&context.bridge, &self.name).await?;
        let key = layout.resolved_name.clone();
        let unit = format!("s3://{}/{key}", self.bucket);
        let gzip = key.to_ascii_lowercase().ends_with(".gz");
        let raw: Box<dyn Read + Send> = if !gzip && position > 0 {
            let length = self.length(&key, &unit).await?;
            if length < position {
                return Err(SourceError::Shrunk { unit, length, checkpoint: position });
            }
            if length == position {
                // Read to its end already; a range starting there is
                // unsatisfiable.
                Box::new(std::io::empty())
            } else {
                self.body(&key, &unit, Some(position)).await?
            }
        } else {
            self.body(&key, &unit, None).await?
        };
        let hints = [layout.start.clone(), layout.end.clone()];
        let read_bytes = Arc::clone(&context.read_bytes);
        let cut_unit = unit.clone();
        // Skipping to a gzip checkpoint reads, so it runs where blocking
        // is allowed.
        let cutter = tokio::task::spawn_blocking(move || {
            cut_stream(raw, gzip, position, hints, CutterLimits::default(), read_bytes, &cut_unit)
        })
        .await
        .map_err(|err| SourceError::Io { path: unit.clone().into(), source: std::io::Error::other(err) })??;
        let mut origin = serde_json::Map::new();
        origin.insert("bucket".to_owned(), self.bucket.clone().into());
        origin.insert("file".to_owned(), self.name.clone().into());
        Ok(OpenedSource {
            function: pb::Function::SingleFileParserParseDocument,
            records: Box::new(CutRecords::new(cutter, layout, origin, unit)),
            acknowledger: None,
            clear_errors_from: Some(offset_key(position)),
        })
    }

    fn stored_bytes(&self) -> u64 {
        self.size
    }
}

impl S3Object {
    /// The object's length in bytes.
    async fn length(&self, key: &str, unit: &str) -> Result<u64, SourceError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|err| service_error("HeadObject", unit, err))?;
        Ok(head.content_length().and_then(|length| u64::try_from(length).ok()).unwrap_or(0))
    }

    /// The object's bytes from `from` (the start when `None`), as a
    /// blocking reader over the streamed body.
    async fn body(&self, key: &str, unit: &str, from: Option<u64>) -> Result<Box<dyn Read + Send>, SourceError> {
        let mut request = self.client.get_object().bucket(&self.bucket).key(key);
        if let Some(from) = from {
            request = request.range(format!("bytes={from}-"));
        }
        let object = request.send().await.map_err(|err| service_error("GetObject", unit, err))?;
        Ok(Box::new(SyncIoBridge::new(object.body.into_async_read())))
    }
}
