//! A fault-injecting HTTP proxy in front of moto, for the sinks' retry
//! tests. Moto never throttles nor fails, so without it the sinks' retry
//! paths would go untested: the proxy forwards every request to moto and
//! hands back moto's answer, except where a [`Fault`] applies, and then it
//! answers the way AWS does when it throttles or fails:
//!
//! - a batch call (Kinesis PutRecords, SQS SendMessageBatch) partly fails:
//!   some entries are taken out of the request before it is forwarded, so
//!   moto never stores them, and are put back into the answer as failed
//!   entries;
//! - a whole call fails: the proxy answers with the service's error
//!   without forwarding, so nothing is stored and the SDK retries.
//!
//! Every fault is bounded so a sink always makes progress: a partial
//! failure keeps the first entry of every batch, and a whole call is failed
//! only at its first attempt (the SDK numbers attempts in the
//! `amz-sdk-request` header), so its retry passes. The one exception is
//! [`Fault::FailEveryAttempt`], for what happens when the retries run out:
//! it fails a bounded number of calls at every attempt, so the SDK gives
//! up on them and the task writing stops.
//!
//! The proxy serves HTTP/1.1 on 127.0.0.1 from a thread with its own tokio
//! runtime, since the end-to-end tests are synchronous and run `ferry` as a
//! child process; dropping the [`FaultProxy`] stops the server and joins
//! the thread.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use aws_config::SdkConfig;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::moto::Moto;
use crate::process::{Finished, Running};
use crate::workspace::Workspace;

/// A batch call whose answer reports each entry's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchApi {
    /// Kinesis PutRecords: entries under `Records`; the answer's `Records`
    /// holds one result per entry, in order, and `FailedRecordCount`.
    KinesisPutRecords,
    /// SQS SendMessageBatch: entries under `Entries`, each with an `Id`;
    /// the answer lists them under `Successful` or `Failed`.
    SqsSendMessageBatch,
}

impl BatchApi {
    /// The `X-Amz-Target` of the call (both services speak the AWS JSON
    /// protocol to the Rust SDK).
    fn target(self) -> &'static str {
        match self {
            BatchApi::KinesisPutRecords => "Kinesis_20131202.PutRecords",
            BatchApi::SqsSendMessageBatch => "AmazonSQS.SendMessageBatch",
        }
    }

    fn entries_field(self) -> &'static str {
        match self {
            BatchApi::KinesisPutRecords => "Records",
            BatchApi::SqsSendMessageBatch => "Entries",
        }
    }

    /// Moto's `answer` to the `split` batch's kept entries, turned into
    /// the answer to the whole batch in which the dropped entries failed.
    /// `None` when the answer is not the expected JSON.
    fn splice(self, answer: &[u8], split: &SplitBatch) -> Option<Bytes> {
        let (total, dropped) = (split.total, &split.dropped);
        let mut answer: Value = serde_json::from_slice(answer).ok()?;
        match self {
            BatchApi::KinesisPutRecords => {
                let stored = answer.get_mut("Records")?.as_array_mut().map(std::mem::take)?;
                if stored.len() + dropped.len() != total {
                    return None;
                }
                let mut stored = stored.into_iter();
                let mut dropped_positions = dropped.iter().map(|(position, _)| *position).peekable();
                let mut records = Vec::with_capacity(total);
                for position in 0..total {
                    if dropped_positions.next_if_eq(&position).is_some() {
                        records.push(json!({
                            "ErrorCode": "ProvisionedThroughputExceededException",
                            "ErrorMessage": "Rate exceeded for shard",
                        }));
                    } else {
                        records.push(stored.next()?);
                    }
                }
                let failed = answer.get("FailedRecordCount").and_then(Value::as_u64).unwrap_or(0);
                answer["Records"] = Value::Array(records);
                answer["FailedRecordCount"] = json!(failed + dropped.len() as u64);
            }
            BatchApi::SqsSendMessageBatch => {
                let object = answer.as_object_mut()?;
                let failed = object.entry("Failed").or_insert_with(|| json!([])).as_array_mut()?;
                for (_, entry) in dropped {
                    failed.push(json!({
                        "Id": entry.get("Id")?,
                        "SenderFault": false,
                        "Code": "InternalError",
                        "Message": "The request processing has failed because of an unknown error.",
                    }));
                }
            }
        }
        Some(Bytes::from(answer.to_string()))
    }
}

/// Which calls a whole-call failure applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// An AWS JSON protocol call (DynamoDB, Kinesis, SQS) by its
    /// `X-Amz-Target`, e.g. `DynamoDB_20120810.PutItem`.
    Target(&'static str),
    /// S3 PutObject: a path-style PUT of a key, not a part nor a copy.
    S3PutObject,
    /// S3 UploadPart: a PUT with `partNumber` and `uploadId`.
    S3UploadPart,
}

impl Operation {
    fn matches(self, parts: &Parts) -> bool {
        match self {
            Operation::Target(target) => amz_target(&parts.headers) == Some(target),
            Operation::S3PutObject => {
                let names_a_key =
                    parts.uri.path().trim_start_matches('/').split_once('/').is_some_and(|(_, key)| !key.is_empty());
                parts.method == Method::PUT
                    && names_a_key
                    && !has_query_param(parts, "partNumber")
                    && !has_query_param(parts, "uploadId")
                    && !parts.headers.contains_key("x-amz-copy-source")
            }
            Operation::S3UploadPart => {
                parts.method == Method::PUT
                    && has_query_param(parts, "partNumber")
                    && has_query_param(parts, "uploadId")
            }
        }
    }
}

/// The answer a failed call gets.
#[derive(Debug, Clone)]
pub struct ErrorReply {
    status: StatusCode,
    content_type: &'static str,
    body: String,
}

impl ErrorReply {
    /// An AWS JSON protocol error, e.g. DynamoDB's `400
    /// ThrottlingException` or a `500 InternalServerError`.
    pub fn json(status: u16, code: &str, message: &str) -> Self {
        Self {
            status: StatusCode::from_u16(status).expect("an HTTP status"),
            content_type: "application/x-amz-json-1.0",
            body: json!({ "__type": code, "message": message }).to_string(),
        }
    }

    /// An S3 error, e.g. `500 InternalError` or `503 SlowDown`.
    pub fn s3(status: u16, code: &str, message: &str) -> Self {
        Self {
            status: StatusCode::from_u16(status).expect("an HTTP status"),
            content_type: "application/xml",
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
                 <RequestId>fault-proxy</RequestId></Error>"
            ),
        }
    }
}

/// A fault the proxy injects.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Of the first `batches` calls of `api` with at least `every`
    /// entries, every `every`-th entry (`every` >= 2) fails as throttled:
    /// it is not forwarded, and the answer reports it failed. The first
    /// entry always passes, so resending the failed ones makes progress.
    PartialBatch { api: BatchApi, batches: u64, every: usize },
    /// The first attempt of each of the first `calls` calls of
    /// `operation` gets `reply` without being forwarded; later attempts
    /// pass, so the SDK's retry succeeds.
    FailCall { operation: Operation, calls: u64, reply: ErrorReply },
    /// Of the calls of `operation`, the first `after` pass; then every
    /// attempt of each of the next `calls` calls gets `reply` without being
    /// forwarded, so the SDK's retries run out and the call fails, as it
    /// does when a destination stays throttled. Later calls pass. The
    /// attempts of one call are told from other calls by the SDK's
    /// `amz-sdk-invocation-id` header, the same on each of them.
    FailEveryAttempt { operation: Operation, after: u64, calls: u64, reply: ErrorReply },
}

/// The faults a proxy injects; the first that applies to a request wins.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    faults: Vec<Fault>,
}

impl Faults {
    /// A proxy that only forwards.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn with(mut self, fault: Fault) -> Self {
        if let Fault::PartialBatch { every, .. } = fault {
            assert!(every >= 2, "a partial failure of every entry would make no progress");
        }
        self.faults.push(fault);
        self
    }
}

/// A fault and how many more times it may apply.
#[derive(Debug)]
struct Rule {
    fault: Fault,
    remaining: AtomicU64,
    /// Calls still to let through before the fault applies.
    passing: AtomicU64,
    /// The invocation ids of the calls failed at every attempt.
    failing: Mutex<HashSet<String>>,
}

impl Rule {
    /// Takes one use of the rule; false when it is used up.
    fn take(&self) -> bool {
        take_one(&self.remaining)
    }

    /// Whether a [`Fault::FailEveryAttempt`] fails this attempt: a later
    /// attempt of a call it failed, or the first attempt of a call once
    /// the calls to let through have passed, while uses remain.
    fn fails_attempt(&self, headers: &HeaderMap) -> bool {
        let call = headers.get("amz-sdk-invocation-id").and_then(|value| value.to_str().ok());
        let mut failing = self.failing.lock().expect("the failing calls' lock");
        if call.is_some_and(|call| failing.contains(call)) {
            return true;
        }
        if !is_first_attempt(headers) || take_one(&self.passing) || !self.take() {
            return false;
        }
        // A client that sends no invocation id retries nothing the proxy
        // could recognise: only this attempt fails.
        if let Some(call) = call {
            failing.insert(call.to_owned());
        }
        true
    }
}

/// Takes one from `counter`; false when it is at zero.
fn take_one(counter: &AtomicU64) -> bool {
    counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1)).is_ok()
}

/// What the proxy did, for tests to assert that faults fired.
#[derive(Debug, Default)]
struct Counters {
    forwarded: AtomicU64,
    injected: AtomicU64,
    dropped_entries: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    rules: Vec<Rule>,
    counters: Counters,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A running proxy.
#[derive(Debug)]
pub struct FaultProxy {
    endpoint: String,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://HOST:PORT`, moto's endpoint)
    /// injecting `faults`, listening once this returns.
    pub fn start(upstream: &str, faults: Faults) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let port = listener.local_addr().expect("the listener's address").port();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            rules: faults
                .faults
                .into_iter()
                .map(|fault| {
                    let (passing, uses) = match &fault {
                        Fault::PartialBatch { batches, .. } => (0, *batches),
                        Fault::FailCall { calls, .. } => (0, *calls),
                        Fault::FailEveryAttempt { after, calls, .. } => (*after, *calls),
                    };
                    Rule {
                        fault,
                        remaining: AtomicU64::new(uses),
                        passing: AtomicU64::new(passing),
                        failing: Mutex::default(),
                    }
                })
                .collect(),
            counters: Counters::default(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        let (shutdown, stopped) = oneshot::channel();
        let server = std::thread::Builder::new()
            .name(format!("fault-proxy-{port}"))
            .spawn({
                let shared = Arc::clone(&shared);
                move || runtime.block_on(serve(listener, shared, stopped))
            })
            .expect("a proxy thread");
        Self { endpoint: format!("http://127.0.0.1:{port}"), shared, shutdown: Some(shutdown), server: Some(server) }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Requests forwarded to moto, changed or not.
    pub fn forwarded(&self) -> u64 {
        self.shared.counters.forwarded.load(Ordering::Relaxed)
    }

    /// Requests a fault applied to: batches that partly failed and
    /// attempts of calls that failed whole.
    pub fn injected(&self) -> u64 {
        self.shared.counters.injected.load(Ordering::Relaxed)
    }

    /// Batch entries that failed (and were not stored).
    pub fn dropped_entries(&self) -> u64 {
        self.shared.counters.dropped_entries.load(Ordering::Relaxed)
    }

    /// [`Moto::env`] with the endpoint moved to this proxy.
    pub fn env(&self, moto: &Moto) -> Vec<(&'static str, String)> {
        let mut env = moto.env();
        for (key, value) in &mut env {
            if *key == "AWS_ENDPOINT_URL" {
                value.clone_from(&self.endpoint);
            }
        }
        env
    }

    /// `ferry ARGS...` in `workspace`, pointed at moto through this proxy.
    pub fn command(&self, moto: &Moto, workspace: &Workspace, args: &[&str]) -> Command {
        let mut command = moto.command(workspace, args);
        command.envs(self.env(moto));
        command
    }

    /// `ferry run DATASET` in `workspace` to its end, through this proxy.
    pub fn run(&self, moto: &Moto, workspace: &Workspace) -> Finished {
        let dataset = workspace.dataset_file();
        Running::start(self.command(moto, workspace, &["run", &dataset])).wait()
    }

    /// An SDK configuration for a test's own calls through this proxy.
    pub async fn sdk_config(&self, moto: &Moto) -> SdkConfig {
        moto.sdk_config().await.into_builder().endpoint_url(&self.endpoint).build()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The server may be gone already, having panicked.
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// Accepts connections until `stopped`; each connection's task ends with
/// the runtime, when the server thread returns.
async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A connection reset before it was accepted: the client's
                // problem, and it sees it.
                Err(_) => continue,
            },
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(handle(&shared, request).await) }
            });
            // A client that hangs up mid-request ends only its connection.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Answers one request: by a fault that applies, or by moto.
async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => return text_reply(StatusCode::BAD_REQUEST, format!("cannot read the request body: {err}")),
    };
    for rule in &shared.rules {
        match &rule.fault {
            Fault::FailCall { operation, reply, .. } => {
                if operation.matches(&parts) && is_first_attempt(&parts.headers) && rule.take() {
                    shared.counters.injected.fetch_add(1, Ordering::Relaxed);
                    return error_reply(reply);
                }
            }
            Fault::FailEveryAttempt { operation, reply, .. } => {
                if operation.matches(&parts) && rule.fails_attempt(&parts.headers) {
                    shared.counters.injected.fetch_add(1, Ordering::Relaxed);
                    return error_reply(reply);
                }
            }
            Fault::PartialBatch { api, every, .. } => {
                if amz_target(&parts.headers) != Some(api.target()) {
                    continue;
                }
                let Some(split) = SplitBatch::of(&body, api.entries_field(), *every) else { continue };
                if rule.take() {
                    return partial_failure(shared, *api, parts, split).await;
                }
            }
        }
    }
    match forward(shared, parts, body).await {
        Ok(answer) => answer.map(Full::new),
        Err(reply) => reply,
    }
}

/// Forwards the kept entries of `split` and answers as if the dropped
/// ones failed.
async fn partial_failure(shared: &Shared, api: BatchApi, parts: Parts, split: SplitBatch) -> Response<Full<Bytes>> {
    let answer = match forward(shared, parts, split.kept.clone()).await {
        Ok(answer) => answer,
        Err(reply) => return reply,
    };
    // Moto refused the smaller batch: its answer stands for the whole.
    if answer.status() != StatusCode::OK {
        return answer.map(Full::new);
    }
    let (mut head, body) = answer.into_parts();
    let Some(spliced) = api.splice(&body, &split) else {
        // Moto stored the kept entries, so the batch cannot be failed
        // whole without duplicating them: say loudly what went wrong.
        let shown = String::from_utf8_lossy(&body);
        return text_reply(
            StatusCode::BAD_GATEWAY,
            format!("the proxy cannot splice failures into moto's answer {shown}"),
        );
    };
    shared.counters.injected.fetch_add(1, Ordering::Relaxed);
    shared.counters.dropped_entries.fetch_add(split.dropped.len() as u64, Ordering::Relaxed);
    // The checksum, where moto sends one, was of the answer before.
    head.headers.remove("x-amz-crc32");
    head.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(spliced.len()));
    Response::from_parts(head, Full::new(spliced))
}

/// A batch request with every `every`-th entry taken out.
#[derive(Debug)]
struct SplitBatch {
    /// The request body without those entries.
    kept: Bytes,
    /// The entries taken out, with their positions in the batch.
    dropped: Vec<(usize, Value)>,
    /// Entries in the whole batch.
    total: usize,
}

impl SplitBatch {
    /// Splits the batch `body` holding its entries under `field`. `None`
    /// when the batch is too small to lose an entry or is not a JSON
    /// batch.
    fn of(body: &[u8], field: &str, every: usize) -> Option<Self> {
        let mut batch: Value = serde_json::from_slice(body).ok()?;
        let entries = batch.get_mut(field)?.as_array_mut()?;
        let total = entries.len();
        if total < every {
            return None;
        }
        let mut kept = Vec::with_capacity(total);
        let mut dropped = Vec::new();
        for (position, entry) in std::mem::take(entries).into_iter().enumerate() {
            if (position + 1) % every == 0 {
                dropped.push((position, entry));
            } else {
                kept.push(entry);
            }
        }
        *entries = kept;
        Some(Self { kept: Bytes::from(batch.to_string()), dropped, total })
    }
}

/// Sends the request on to moto and reads its whole answer; a failure to
/// reach moto becomes a 502, which the SDK retries.
async fn forward(shared: &Shared, parts: Parts, body: Bytes) -> Result<Response<Bytes>, Response<Full<Bytes>>> {
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let uri = format!("{}{path}", shared.upstream);
    let mut headers = parts.headers;
    // The body is forwarded whole (HTTP chunking undone; an `aws-chunked`
    // content encoding stays in the bytes), with its own length. The Host
    // header stays: the signature covers it, and moto builds queue URLs
    // from it.
    for hop in [header::CONNECTION, header::TRANSFER_ENCODING, header::EXPECT, header::CONTENT_LENGTH] {
        headers.remove(hop);
    }
    if !body.is_empty() || parts.method == Method::PUT || parts.method == Method::POST {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = parts.method;
    *request.headers_mut() = headers;
    *request.uri_mut() = uri.parse().map_err(|err| text_reply(StatusCode::BAD_GATEWAY, format!("{uri}: {err}")))?;
    let answer = shared
        .client
        .request(request)
        .await
        .map_err(|err| text_reply(StatusCode::BAD_GATEWAY, format!("cannot reach {}: {err}", shared.upstream)))?;
    let (mut head, body) = answer.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|err| text_reply(StatusCode::BAD_GATEWAY, format!("cannot read moto's answer: {err}")))?
        .to_bytes();
    shared.counters.forwarded.fetch_add(1, Ordering::Relaxed);
    head.headers.remove(header::CONNECTION);
    head.headers.remove(header::TRANSFER_ENCODING);
    head.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    Ok(Response::from_parts(head, body))
}

fn error_reply(reply: &ErrorReply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(reply.body.clone())));
    *response.status_mut() = reply.status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    response
}

fn text_reply(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn amz_target(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-amz-target").and_then(|value| value.to_str().ok())
}

fn has_query_param(parts: &Parts, name: &str) -> bool {
    parts
        .uri
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair.split_once('=').map_or(pair, |(key, _)| key) == name))
}

/// Whether the SDK sends this call for the first time: its
/// `amz-sdk-request: attempt=N; max=M` header says attempt 1 (a client
/// without the header counts as always on its first attempt).
fn is_first_attempt(headers: &HeaderMap) -> bool {
    let Some(info) = headers.get("amz-sdk-request").and_then(|value| value.to_str().ok()) else { return true };
    info.split(';').map(str::trim).find_map(|pair| pair.strip_prefix("attempt=")).is_none_or(|attempt| attempt == "1")
}

#[cfg(test)]
mod tests {
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

    use super::*;
    use crate::bucket::s3_client;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Runtime::new().expect("a tokio runtime")
    }

    #[test]
    fn forwards_s3_calls_unchanged() {
        let moto = Moto::start();
        let proxy = FaultProxy::start(moto.endpoint(), Faults::none());
        runtime().block_on(async {
            let config = proxy.sdk_config(&moto).await;
            let s3 = s3_client(&config);
            s3.create_bucket().bucket("through").send().await.expect("create a bucket");
            s3.put_object()
                .bucket("through")
                .key("a/b.txt")
                .body(ByteStream::from_static(b"hello"))
                .send()
                .await
                .expect("put");
            let got = s3.get_object().bucket("through").key("a/b.txt").send().await.expect("get");
            let body = got.body.collect().await.expect("the body").into_bytes();
            assert_eq!(&body[..], b"hello");
        });
        assert_eq!(proxy.forwarded(), 3);
        assert_eq!(proxy.injected(), 0);
    }

    #[test]
    fn a_partial_put_records_failure_stores_only_the_surviving_records() {
        let moto = Moto::start();
        let faults =
            Faults::none().with(Fault::PartialBatch { api: BatchApi::KinesisPutRecords, batches: 1, every: 3 });
        let proxy = FaultProxy::start(moto.endpoint(), faults);
        let stored = runtime().block_on(async {
            let direct = aws_sdk_kinesis::Client::new(&moto.sdk_config().await);
            direct.create_stream().stream_name("faults").shard_count(1).send().await.expect("create a stream");
            let proxied = aws_sdk_kinesis::Client::new(&proxy.sdk_config(&moto).await);
            let put = |numbers: std::ops::Range<usize>| {
                let entries = numbers
                    .map(|n| {
                        PutRecordsRequestEntry::builder()
                            .data(Blob::new(format!("record {n}")))
                            .partition_key(format!("key-{n}"))
                            .build()
                            .expect("a record")
                    })
                    .collect();
                proxied.put_records().stream_name("faults").set_records(Some(entries)).send()
            };
            let first = put(0..10).await.expect("put records");
            assert_eq!(first.failed_record_count(), Some(3));
            let failed: Vec<usize> = first
                .records()
                .iter()
                .enumerate()
                .filter(|(_, record)| record.error_code().is_some())
                .map(|(position, _)| position)
                .collect();
            assert_eq!(failed, [2, 5, 8]);
            for record in first.records() {
                match record.error_code() {
                    Some(code) => assert_eq!(code, "ProvisionedThroughputExceededException"),
                    None => assert!(record.sequence_number().is_some(), "{record:?}"),
                }
            }
            // The fault is used up: the next batch passes whole.
            let second = put(10..13).await.expect("put records");
            assert_eq!(second.failed_record_count(), Some(0));

            let shard = direct.list_shards().stream_name("faults").send().await.expect("list shards").shards()[0]
                .shard_id()
                .to_owned();
            let iterator = direct
                .get_shard_iterator()
                .stream_name("faults")
                .shard_id(shard)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("an iterator")
                .shard_iterator
                .expect("an iterator");
            let got = direct.get_records().shard_iterator(iterator).send().await.expect("get records");
            got.records()
                .iter()
                .map(|record| String::from_utf8_lossy(record.data().as_ref()).into_owned())
                .collect::<Vec<_>>()
        });
        let expected: Vec<String> = [0, 1, 3, 4, 6, 7, 9, 10, 11, 12].iter().map(|n| format!("record {n}")).collect();
        assert_eq!(stored, expected);
        assert_eq!((proxy.injected(), proxy.dropped_entries()), (1, 3));
    }

    #[test]
    fn a_partial_send_message_batch_failure_sends_only_the_surviving_messages() {
        let moto = Moto::start();
        let faults =
            Faults::none().with(Fault::PartialBatch { api: BatchApi::SqsSendMessageBatch, batches: 1, every: 4 });
        let proxy = FaultProxy::start(moto.endpoint(), faults);
        let (failed, received) = runtime().block_on(async {
            let direct = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
            let queue_url = direct
                .create_queue()
                .queue_name("faults")
                .send()
                .await
                .expect("create a queue")
                .queue_url
                .expect("a URL");
            let proxied = aws_sdk_sqs::Client::new(&proxy.sdk_config(&moto).await);
            let entries = (0..9)
                .map(|n| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{n}"))
                        .message_body(format!("message {n}"))
                        .build()
                        .expect("an entry")
                })
                .collect();
            let sent = proxied
                .send_message_batch()
                .queue_url(&queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("send");
            let mut successful: Vec<&str> = sent.successful().iter().map(|entry| entry.id()).collect();
            successful.sort_unstable();
            assert_eq!(successful, ["m0", "m1", "m2", "m4", "m5", "m6", "m8"]);
            let failed: Vec<(String, bool, String)> = sent
                .failed()
                .iter()
                .map(|entry| (entry.id().to_owned(), entry.sender_fault(), entry.code().to_owned()))
                .collect();
            let mut received = Vec::new();
            loop {
                let got = direct
                    .receive_message()
                    .queue_url(&queue_url)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .expect("receive");
                if got.messages().is_empty() {
                    break;
                }
                for message in got.messages() {
                    received.push(message.body().expect("a body").to_owned());
                    direct
                        .delete_message()
                        .queue_url(&queue_url)
                        .receipt_handle(message.receipt_handle().expect("a handle"))
                        .send()
                        .await
                        .expect("delete");
                }
            }
            received.sort_unstable();
            (failed, received)
        });
        let internal = |id: &str| (id.to_owned(), false, "InternalError".to_owned());
        assert_eq!(failed, [internal("m3"), internal("m7")]);
        let expected: Vec<String> = [0, 1, 2, 4, 5, 6, 8].iter().map(|n| format!("message {n}")).collect();
        assert_eq!(received, expected);
        assert_eq!((proxy.injected(), proxy.dropped_entries()), (1, 2));
    }

    #[test]
    fn failed_calls_are_retried_by_the_sdk() {
        let moto = Moto::start();
        let internal_error =
            ErrorReply::s3(500, "InternalError", "We encountered an internal error. Please try again.");
        let faults = Faults::none()
            .with(Fault::FailCall { operation: Operation::S3PutObject, calls: 2, reply: internal_error.clone() })
            .with(Fault::FailCall { operation: Operation::S3UploadPart, calls: 1, reply: internal_error })
            .with(Fault::FailCall {
                operation: Operation::Target("DynamoDB_20120810.PutItem"),
                calls: 1,
                reply: ErrorReply::json(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
            });
        let proxy = FaultProxy::start(moto.endpoint(), faults);
        runtime().block_on(async {
            let config = proxy.sdk_config(&moto).await;
            let s3 = s3_client(&config);
            s3.create_bucket().bucket("faults").send().await.expect("create a bucket");
            for key in ["one", "two", "three"] {
                s3.put_object()
                    .bucket("faults")
                    .key(key)
                    .body(ByteStream::from_static(b"x"))
                    .send()
                    .await
                    .expect("put");
            }
            let upload = s3.create_multipart_upload().bucket("faults").key("parts").send().await.expect("create");
            let upload_id = upload.upload_id().expect("an upload id");
            let part = s3
                .upload_part()
                .bucket("faults")
                .key("parts")
                .upload_id(upload_id)
                .part_number(1)
                .body(ByteStream::from_static(b"part one"))
                .send()
                .await
                .expect("upload a part");
            let completed = aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).set_e_tag(part.e_tag).build())
                .build();
            s3.complete_multipart_upload()
                .bucket("faults")
                .key("parts")
                .upload_id(upload_id)
                .multipart_upload(completed)
                .send()
                .await
                .expect("complete");
            let listed = s3.list_objects_v2().bucket("faults").send().await.expect("list");
            let mut keys: Vec<&str> = listed.contents().iter().filter_map(|object| object.key()).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["one", "parts", "three", "two"]);

            // Without retries the SDK shows the error as the service's.
            let dynamodb = aws_sdk_dynamodb::Client::new(&config);
            dynamodb
                .create_table()
                .table_name("faults")
                .key_schema(
                    aws_sdk_dynamodb::types::KeySchemaElement::builder()
                        .attribute_name("id")
                        .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                        .build()
                        .expect("a key"),
                )
                .attribute_definitions(
                    aws_sdk_dynamodb::types::AttributeDefinition::builder()
                        .attribute_name("id")
                        .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                        .build()
                        .expect("an attribute"),
                )
                .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
                .send()
                .await
                .expect("create a table");
            let once = aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&config)
                    .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
                    .build(),
            );
            let put = |client: &aws_sdk_dynamodb::Client| {
                client
                    .put_item()
                    .table_name("faults")
                    .item("id", aws_sdk_dynamodb::types::AttributeValue::S("a".to_owned()))
                    .send()
            };
            let refused = put(&once).await.expect_err("a throttled put");
            assert_eq!(aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&refused), Some("ThrottlingException"));
            put(&dynamodb).await.expect("a put after the fault is used up");
        });
        assert_eq!(proxy.injected(), 4);
    }

    #[test]
    fn calls_failed_at_every_attempt_exhaust_the_sdk_retries() {
        let moto = Moto::start();
        let faults = Faults::none().with(Fault::FailEveryAttempt {
            operation: Operation::Target("DynamoDB_20120810.ListTables"),
            after: 1,
            calls: 1,
            reply: ErrorReply::json(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
        });
        let proxy = FaultProxy::start(moto.endpoint(), faults);
        runtime().block_on(async {
            let config = proxy.sdk_config(&moto).await;
            // The SDK's three attempts, with pauses short enough for a test.
            let retry = aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(1));
            let client = aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&config).retry_config(retry).build(),
            );
            client.list_tables().send().await.expect("the first call passes");
            let refused = client.list_tables().send().await.expect_err("the second call fails at every attempt");
            assert_eq!(aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&refused), Some("ThrottlingException"));
            client.list_tables().send().await.expect("the third call passes");
        });
        assert_eq!(proxy.injected(), 3, "each of the second call's attempts failed");
    }
}
