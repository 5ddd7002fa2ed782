//! A test's own view of an S3 bucket in moto: creating it, putting objects
//! a run should find, and reading back what a run wrote.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::Object;

use crate::moto::Moto;

/// An S3 client for `config` that names the bucket in the path: moto
/// serves every bucket at `http://127.0.0.1:PORT/BUCKET`, and
/// `BUCKET.127.0.0.1` resolves nowhere.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build())
}

/// A bucket the test created, with a runtime for the test's own calls.
#[derive(Debug)]
pub struct Bucket {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    name: String,
}

impl Bucket {
    /// Creates the bucket `name` in `moto`.
    pub fn create(moto: &Moto, name: &str) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let client = runtime.block_on(async { s3_client(&moto.sdk_config().await) });
        runtime.block_on(client.create_bucket().bucket(name).send()).expect("create the bucket");
        Self { runtime, client, name: name.to_owned() }
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client the bucket was created with.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// Runs `future` (calls of the test's own) to its end.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Every object under `prefix` as listed (key, size, ETag), by key.
    pub fn list(&self, prefix: &str) -> Vec<Object> {
        self.block_on(async {
            let mut pages = self.client.list_objects_v2().bucket(&self.name).prefix(prefix).into_paginator().send();
            let mut listed = Vec::new();
            while let Some(page) = pages.next().await {
                listed.extend(page.expect("list the bucket").contents().iter().cloned());
            }
            listed
        })
    }

    /// The keys of the objects under `prefix`, in order.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.list(prefix).into_iter().map(|object| object.key.expect("a key")).collect()
    }

    /// Every object under `prefix`: its key and its body.
    pub fn objects(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        self.keys(prefix)
            .into_iter()
            .map(|key| {
                let body = self.read(&key);
                (key, body)
            })
            .collect()
    }

    /// The body of the object `key`.
    pub fn read(&self, key: &str) -> Vec<u8> {
        self.block_on(async {
            let object = self.client.get_object().bucket(&self.name).key(key).send().await.expect("get an object");
            object.body.collect().await.expect("read an object").to_vec()
        })
    }

    /// The `Content-Type` the object `key` was stored with.
    pub fn content_type(&self, key: &str) -> Option<String> {
        let head = self.block_on(self.client.head_object().bucket(&self.name).key(key).send());
        head.expect("head an object").content_type
    }

    /// Puts `body` as the object `key`.
    pub fn put(&self, key: &str, body: impl Into<Vec<u8>>) {
        let request = self.client.put_object().bucket(&self.name).key(key).body(ByteStream::from(body.into()));
        self.block_on(request.send()).expect("put an object");
    }
}
