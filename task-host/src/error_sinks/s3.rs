//! S3 error sink: one JSON object per failed record.
//!
//! An error document is the body the error folder writes (the pretty JSON
//! of its [`ErrorRecord`] and a newline), at `PREFIX + TASK@KEY.json`
//! (see [`document_name`]). Redone work rewrites the same objects, and a
//! task resumed at a key removes the objects of the work it redoes
//! ([`S3ErrorSink::clear_from`]), so the bucket holds one document per
//! failed record. A completed PutObject is durable, so `sync` has nothing
//! to do.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;

use super::{ErrorRecord, ErrorSink, ErrorSinkError, document_body, document_name, named_from};
use crate::aws::{check_bucket, delete_objects, error_sink_error, s3_client};
use crate::sinks::s3_objects::PUTS_IN_FLIGHT;
use crate::sinks::task_file_stem;

#[derive(Debug)]
pub struct S3ErrorSink {
    client: aws_sdk_s3::Client,
    bucket: String,
    key_prefix: String,
}

impl S3ErrorSink {
    /// Checks that the bucket exists and can be reached (HeadBucket).
    pub async fn connect(aws: &SdkConfig, bucket: &str, key_prefix: &str) -> Result<Self, ErrorSinkError> {
        let client = s3_client(aws);
        check_bucket(&client, bucket).await?;
        Ok(Self { client, bucket: bucket.to_owned(), key_prefix: key_prefix.to_owned() })
    }

    /// `s3://BUCKET/KEY`, for messages.
    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    async fn put(&self, key: String, body: Vec<u8>) -> Result<(), ErrorSinkError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|err| error_sink_error("PutObject", &self.url(&key), err))?;
        Ok(())
    }

    /// The keys of `task`'s error documents for keys at or after `key`.
    async fn keys_from(&self, task: &str, key: &str) -> Result<Vec<String>, ErrorSinkError> {
        let task_prefix = format!("{}{}@", self.key_prefix, task_file_stem(task));
        // Every document to remove sorts after this: its record key part
        // is at or after `key`'s, and ".json" follows it.
        let start_after = format!("{task_prefix}{}", task_file_stem(key));
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&task_prefix)
            .start_after(start_after)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| error_sink_error("ListObjectsV2", &self.url(&task_prefix), err))?;
            for object in page.contents() {
                let Some(object_key) = object.key() else { continue };
                if object_key.strip_prefix(&self.key_prefix).is_some_and(|name| named_from(name, task, key)) {
                    keys.push(object_key.to_owned());
                }
            }
        }
        Ok(keys)
    }
}

#[async_trait]
impl ErrorSink for S3ErrorSink {
    /// Puts the batch's error documents, [`PUTS_IN_FLIGHT`] at a time.
    async fn write(&self, records: &[ErrorRecord<'_>]) -> Result<(), ErrorSinkError> {
        let mut puts = Vec::with_capacity(records.len());
        for record in records {
            let key = format!("{}{}", self.key_prefix, document_name(record.task, record.key));
            let body = document_body(record).map_err(|err| ErrorSinkError::Service {
                operation: "PutObject",
                resource: self.url(&key),
                message: format!("the error document cannot be written as JSON: {err}"),
                retryable: false,
            })?;
            puts.push((key, body));
        }
        let mut answered =
            futures::stream::iter(puts).map(|(key, body)| self.put(key, body)).buffer_unordered(PUTS_IN_FLIGHT);
        while let Some(put) = answered.next().await {
            put?;
        }
        Ok(())
    }

    /// Nothing to do: every answered PutObject is durable.
    async fn sync(&self) -> Result<(), ErrorSinkError> {
        Ok(())
    }

    async fn clear_from(&self, task: &str, key: &str) -> Result<usize, ErrorSinkError> {
        let keys = self.keys_from(task, key).await?;
        delete_objects(&self.client, &self.bucket, &keys).await?;
        Ok(keys.len())
    }

    fn describe(&self) -> String {
        self.url(&self.key_prefix)
    }
}
