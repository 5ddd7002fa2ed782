//! One JavaScript worker: a thread with its own current-thread tokio
//! runtime and its own `JsRuntime` (which is not `Send`), holding one
//! instance of each of the user's handler classes.
//!
//! A worker imports the handler's modules once, then takes batches from the
//! host's shared queue, one at a time. The calls of a batch run one after
//! the other, in call order, each under the call watchdog: a call that
//! returns a Promise is awaited (driving the runtime's event loop) before
//! the next one starts. A call interrupted for running too long becomes a
//! `CallTimeout` outcome and the worker goes on with the next call.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use deno_core::error::{CoreError, CoreErrorKind, JsError};
use deno_core::{JsRuntime, ModuleId, ModuleSpecifier, PollEventLoopOptions, RuntimeOptions, serde_v8, v8};
use ferry_proto::pb;
use futures::FutureExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, oneshot};

use super::loader::{self, HandlerModuleLoader};
use super::outcome::{self, Fallback, ReadFailure};
use super::source::HandlerSource;
use super::timeout::{CallWatch, Watchdog};
use crate::handler::{
    HandlerError, LoadFailure, check_request, interface_name, method_name, timeout_outcome, user_error_outcome,
};

/// A batch for the workers, with where to send its outcomes.
#[derive(Debug)]
pub struct Job {
    pub request: pb::InvokeRequest,
    pub reply: oneshot::Sender<Result<Vec<pb::Outcome>, HandlerError>>,
}

/// The queue every worker of a host takes batches from.
pub type Queue = Arc<Mutex<tokio::sync::mpsc::Receiver<Job>>>;

/// What a worker reports once it has (or has not) loaded the handler: the
/// names of the interfaces it serves.
pub type Loaded = Result<Vec<String>, LoadFailure>;

/// Runs a worker on the current thread until the queue closes. `loaded`
/// receives the outcome of loading the handler first.
pub fn run(
    source: &HandlerSource,
    call_timeout: Duration,
    watchdog: Arc<Watchdog>,
    loaded: &mpsc::Sender<Loaded>,
    queue: &Queue,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = loaded.send(Err(failure(format!("cannot start a JavaScript worker: {err}"), String::new())));
            return;
        }
    };
    runtime.block_on(async {
        let worker = Worker::load(source, &watchdog, call_timeout).await;
        drop(watchdog);
        let mut worker = match worker {
            Ok(worker) => worker,
            Err(failure) => {
                let _ = loaded.send(Err(failure));
                return;
            }
        };
        if loaded.send(Ok(worker.interfaces.clone())).is_err() {
            return;
        }
        loop {
            // Idle workers queue on the lock; the one holding it waits for
            // the next batch and lets go as soon as it has one.
            let job = queue.lock().await.recv().await;
            let Some(Job { request, reply }) = job else { break };
            let outcomes = worker.run_batch(&request).await;
            // The caller may have gone away (its connection closed).
            let _ = reply.send(outcomes);
        }
    });
}

/// A loaded handler in one runtime.
struct Worker {
    runtime: JsRuntime,
    glue: Glue,
    watch: CallWatch,
    call_timeout: Duration,
    interfaces: Vec<String>,
    /// The glue's callers of each function used so far; None when the
    /// handler lacks the method.
    prepared: HashMap<pb::Function, Option<v8::Global<v8::Function>>>,
}

/// The functions glue.js exports.
struct Glue {
    add_module: v8::Global<v8::Function>,
    instantiate: v8::Global<v8::Function>,
    prepare: v8::Global<v8::Function>,
    serialize_document: v8::Global<v8::Function>,
    /// The realm's `Object.prototype` and `Array.prototype`.
    prototypes: [v8::Global<v8::Object>; 2],
}

/// What `addModule` and `instantiate` return.
#[derive(Debug, Deserialize)]
struct LoadStep {
    ok: bool,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    interfaces: Vec<String>,
}

/// How the glue reads a function's result (glue.js `Kind`), and how many
/// arguments the function takes.
fn signature(function: pb::Function) -> (i32, i32) {
    use pb::Function as F;
    const TEXT: i32 = 1;
    const HINT: i32 = 2;
    const PARSED: i32 = 3;
    const ELEMENTS: i32 = 5;
    const DOCUMENT: i32 = 6;
    match function {
        F::SingleFileParserGetS3FileType => (TEXT, 0),
        F::SingleFileParserGetResolvedS3FileName => (TEXT, 2),
        F::SingleFileParserGetRecordStartPattern | F::SingleFileParserGetRecordEndPattern => (HINT, 1),
        F::SingleFileParserParseDocument | F::Unspecified => (PARSED, 6),
        F::QueueMessageReaderParseMessage => (PARSED, 5),
        F::KinesisRecordReaderParseMessage => (PARSED, 6),
        F::DynamodbStreamsRecordReaderParseRecord => (PARSED, 13),
        F::DynamodbTableItemReaderParseDynamodbItem => (PARSED, 4),
        F::SagemakerVectorsExtractDocumentElements => (ELEMENTS, 1),
        F::SagemakerVectorsConstructVectorDoc => (DOCUMENT, 2),
    }
}

impl Worker {
    async fn load(source: &HandlerSource, watchdog: &Watchdog, call_timeout: Duration) -> Result<Self, LoadFailure> {
        let mut runtime = JsRuntime::try_new(RuntimeOptions {
            module_loader: Some(Rc::new(HandlerModuleLoader)),
            extensions: vec![super::ops::ferry_bridge_ops::init()],
            ..Default::default()
        })
        .map_err(|err| failure(format!("cannot start the JavaScript engine: {err}"), String::new()))?;
        let watch = watchdog.register(runtime.v8_isolate().thread_safe_handle());
        let glue = Glue::load(&mut runtime).await?;
        let mut worker = Self { runtime, glue, watch, call_timeout, interfaces: Vec::new(), prepared: HashMap::new() };
        for module in &source.modules {
            worker.import(module).await?;
        }
        let label = source.label.display().to_string();
        let context = format!("cannot instantiate the handler classes of {label}");
        let step: LoadStep = worker.call_glue(|glue| &glue.instantiate, &[Arg::Text(&label)], &context)?;
        if !step.ok {
            return Err(failure(step.message, step.details));
        }
        worker.interfaces = step.interfaces;
        Ok(worker)
    }

    /// Imports and evaluates one module of the handler, under the call time
    /// limit, and hands its namespace to the glue.
    async fn import(&mut self, file: &Path) -> Result<(), LoadFailure> {
        let cannot_import = |cause: String, details: String| {
            failure(format!("cannot import handler {}: {cause}", file.display()), details)
        };
        let url = ModuleSpecifier::from_file_path(file)
            .map_err(|()| cannot_import("not an absolute path".to_owned(), String::new()))?;
        let id = self.runtime.load_side_es_module(&url).await.map_err(|err| import_failure(&err, cannot_import))?;
        self.watch.begin(self.call_timeout);
        let evaluated = evaluate(&mut self.runtime, id).await;
        if self.watch.end() {
            let limit = self.call_timeout.as_millis();
            return Err(cannot_import(
                format!("its top-level code ran longer than {limit} ms and was interrupted"),
                String::new(),
            ));
        }
        evaluated.map_err(|err| import_failure(&err, cannot_import))?;
        let namespace =
            self.runtime.get_module_namespace(id).map_err(|err| cannot_import(err.to_string(), String::new()))?;
        let file = file.display().to_string();
        let context = format!("cannot find the handler classes of {file}");
        let step: LoadStep =
            self.call_glue(|glue| &glue.add_module, &[Arg::Object(&namespace), Arg::Text(&file)], &context)?;
        if step.ok { Ok(()) } else { Err(failure(step.message, step.details)) }
    }

    /// Calls a glue function that returns a plain object, during loading,
    /// under the call time limit (it runs user code: getters, constructors).
    /// `context` starts the message of a failure.
    fn call_glue<T: DeserializeOwned>(
        &mut self,
        function: impl Fn(&Glue) -> &v8::Global<v8::Function>,
        args: &[Arg<'_>],
        context: &str,
    ) -> Result<T, LoadFailure> {
        let function = function(&self.glue);
        let called = {
            deno_core::scope!(scope, &mut self.runtime);
            v8::tc_scope!(let scope, scope);
            let args = args.iter().map(|arg| arg.to_v8(scope)).collect::<Option<Vec<_>>>();
            let receiver = v8::undefined(scope).into();
            self.watch.begin(self.call_timeout);
            let value = args.and_then(|args| v8::Local::new(scope, function).call(scope, receiver, &args));
            match value {
                Some(value) => serde_v8::from_v8(scope, value).map_err(|err| err.to_string()),
                None => Err(match scope.exception() {
                    Some(exception) => JsError::from_v8_exception(scope, exception).to_string(),
                    None => "the glue call failed".to_owned(),
                }),
            }
        };
        if self.watch.end() {
            let limit = self.call_timeout.as_millis();
            return Err(failure(
                format!("{context}: it ran longer than {limit} ms and was interrupted"),
                String::new(),
            ));
        }
        called.map_err(|reason| failure(format!("{context}: {reason}"), String::new()))
    }

    async fn run_batch(&mut self, request: &pb::InvokeRequest) -> Result<Vec<pb::Outcome>, HandlerError> {
        let interface = check_request(request)?;
        let function = request.function();
        let caller = self.prepared(interface, function)?;
        let limit = match request.call_timeout_ms {
            0 => self.call_timeout,
            ms => Duration::from_millis(u64::from(ms)),
        };
        let mut outcomes = Vec::with_capacity(request.calls.len());
        for (index, call) in request.calls.iter().enumerate() {
            outcomes.push(self.run_call(&caller, function, call, limit).await.map_err(|reason| {
                HandlerError::InvalidRequest(format!("call {index}: cannot build its arguments: {reason}"))
            })?);
        }
        Ok(outcomes)
    }

    /// The glue's caller of `function` on the instance serving `interface`.
    fn prepared(
        &mut self,
        interface: pb::Interface,
        function: pb::Function,
    ) -> Result<v8::Global<v8::Function>, HandlerError> {
        let not_implemented = HandlerError::NotImplemented(interface_name(interface));
        if let Some(prepared) = self.prepared.get(&function) {
            return prepared.clone().ok_or(not_implemented);
        }
        let prepare = self.glue.prepare.clone();
        let (kind, arity) = signature(function);
        let prepared = {
            deno_core::scope!(scope, &mut self.runtime);
            let args = [
                Arg::Text(interface_name(interface)).to_v8(scope),
                Arg::Text(method_name(function)).to_v8(scope),
                Some(v8::Integer::new(scope, kind).into()),
                Some(v8::Integer::new(scope, arity).into()),
            ];
            let args: Option<Vec<_>> = args.into_iter().collect();
            let receiver = v8::undefined(scope).into();
            let value = args.and_then(|args| v8::Local::new(scope, &prepare).call(scope, receiver, &args));
            value
                .and_then(|value| v8::Local::<v8::Function>::try_from(value).ok())
                .map(|caller| v8::Global::new(scope, caller))
        };
        self.prepared.insert(function, prepared.clone());
        prepared.ok_or(not_implemented)
    }

    /// Runs one call to completion under the watchdog; Err, saying why,
    /// when its arguments cannot be built.
    async fn run_call(
        &mut self,
        caller: &v8::Global<v8::Function>,
        function: pb::Function,
        call: &pb::Call,
        limit: Duration,
    ) -> Result<pb::Outcome, String> {
        let started = Instant::now();
        let finished = match self.start_call(caller, function, call, limit)? {
            Started::Finished(finished) => finished,
            Started::Promise(promise) => self.settle(promise, function, limit.saturating_sub(started.elapsed())).await,
        };
        let interrupted = self.watch.end();
        Ok(match finished {
            Ok(outcome) => outcome,
            Err(_) if interrupted => timeout_outcome(limit),
            Err(failure) => failure.into_outcome(method_name(function), limit),
        })
    }

    /// Builds the arguments, starts the watch and calls; Err (and no
    /// watch) when an argument cannot be built.
    fn start_call(
        &mut self,
        caller: &v8::Global<v8::Function>,
        function: pb::Function,
        call: &pb::Call,
        limit: Duration,
    ) -> Result<Started, String> {
        deno_core::scope!(scope, &mut self.runtime);
        v8::tc_scope!(let scope, scope);
        let args = call_args(scope, call)?;
        let receiver = v8::undefined(scope).into();
        let caller = v8::Local::new(scope, caller);
        self.watch.begin(limit);
        let fallback = self.glue.fallback(function);
        Ok(match caller.call(scope, receiver, &args) {
            Some(value) if value.is_promise() => Started::Promise(v8::Global::new(scope, value)),
            Some(value) => Started::Finished(read_outcome(scope, value, &fallback)),
            None if scope.has_terminated() || scope.is_execution_terminating() => {
                Started::Finished(Err(CallFailure::Terminated))
            }
            None => Started::Finished(Err(match scope.exception() {
                Some(exception) => CallFailure::Threw(JsError::from_v8_exception(scope, exception)),
                None => CallFailure::Terminated,
            })),
        })
    }

    /// Drives the event loop until `promise` settles, for at most `limit`
    /// of waiting (running script is bounded by the watchdog instead).
    async fn settle(
        &mut self,
        promise: v8::Global<v8::Value>,
        function: pb::Function,
        limit: Duration,
    ) -> Result<pb::Outcome, CallFailure> {
        let settled = self.runtime.resolve(promise);
        let waited =
            tokio::time::timeout(limit, self.runtime.with_event_loop_promise(settled, PollEventLoopOptions::default()))
                .await;
        match waited {
            Err(_elapsed) => Err(CallFailure::Terminated),
            Ok(Err(err)) => Err(CallFailure::EventLoop(err)),
            Ok(Ok(value)) => {
                deno_core::scope!(scope, &mut self.runtime);
                v8::tc_scope!(let scope, scope);
                let value = v8::Local::new(scope, value);
                let fallback = self.glue.fallback(function);
                read_outcome(scope, value, &fallback)
            }
        }
    }
}

/// A call that has started: finished already, or pending on a Promise.
enum Started {
    Finished(Result<pb::Outcome, CallFailure>),
    Promise(v8::Global<v8::Value>),
}

/// Why a call produced no outcome row. The glue turns every failure of
/// user code into an outcome, so these are interruptions and faults of the
/// runtime itself.
#[derive(Debug)]
enum CallFailure {
    /// The watchdog (or the wait limit) stopped the call.
    Terminated,
    /// An exception escaped the glue.
    Threw(Box<JsError>),
    /// The event loop failed while the call's Promise was pending.
    EventLoop(CoreError),
    /// The glue's outcome row could not be read.
    Unreadable(String),
}

impl CallFailure {
    fn into_outcome(self, method: &str, limit: Duration) -> pb::Outcome {
        match self {
            CallFailure::Terminated => timeout_outcome(limit),
            CallFailure::Threw(error) => js_error_outcome(&error),
            CallFailure::EventLoop(err) => match *err.0 {
                CoreErrorKind::Js(error) => js_error_outcome(&error),
                CoreErrorKind::PendingPromiseResolution => user_error_outcome(
                    "UnsettledPromise",
                    format!("the Promise {method} returned never settled: nothing was left for it to wait for"),
                    String::new(),
                    false,
                ),
                other => user_error_outcome("Error", other.to_string(), String::new(), false),
            },
            CallFailure::Unreadable(reason) => user_error_outcome(
                "InternalError",
                format!("the bridge cannot read the outcome of {method}: {reason}"),
                String::new(),
                false,
            ),
        }
    }
}

fn js_error_outcome(error: &JsError) -> pb::Outcome {
    user_error_outcome(
        error.name.clone().unwrap_or_else(|| "Error".to_owned()),
        error.message.clone().unwrap_or_else(|| error.exception_message.clone()),
        error.stack.clone().unwrap_or_default(),
        false,
    )
}

fn read_outcome<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    value: v8::Local<'s, v8::Value>,
    fallback: &Fallback<'_>,
) -> Result<pb::Outcome, CallFailure> {
    outcome::read(scope, value, fallback).map_err(|failure| match failure {
        ReadFailure::Unreadable(reason) => CallFailure::Unreadable(reason),
        ReadFailure::Terminated => CallFailure::Terminated,
    })
}

/// The positional arguments of one call, as LetsData passes them to
/// JavaScript (and as the CPython host passes them to Python):
///
/// - parseDocument gets the whole record as a Uint8Array, startIndex 0 and
///   endIndex its length; Kinesis data is a Uint8Array too.
/// - Integers (offsets, timestamps in epoch milliseconds or seconds, sizes)
///   are numbers, exact up to 2^53.
/// - Optional strings a record does not carry (the FIFO ids of a standard
///   queue, the identity of a stream record) are null.
/// - JSON-valued arguments (DynamoDB keys, images and items, Sagemaker
///   documents) are parsed with JSON.parse; an unset (empty) one is `{}`.
/// - Protocol maps (message attributes, vectors) are objects filled in key
///   order (JavaScript still lists integer-like keys first).
///
/// Err, saying why, when an argument cannot be built: JSON that is not an
/// object, or a string too long for the engine. That is the caller's fault
/// and fails the batch.
fn call_args<'s>(scope: &mut v8::PinScope<'s, '_>, call: &pb::Call) -> Result<Vec<v8::Local<'s, v8::Value>>, String> {
    use pb::call::Args;
    let args = call.args.as_ref().ok_or("the call carries no arguments")?;
    Ok(match args {
        Args::GetS3FileType(_) => Vec::new(),
        Args::GetResolvedS3FileName(args) => vec![text(scope, &args.s3_file_type)?, text(scope, &args.file_name)?],
        Args::GetRecordStartPattern(args) | Args::GetRecordEndPattern(args) => vec![text(scope, &args.s3_file_type)?],
        Args::ParseDocument(args) => vec![
            text(scope, &args.s3_file_type)?,
            text(scope, &args.file_name)?,
            number(scope, args.offset_bytes as f64),
            bytes(scope, &args.content)?.into(),
            v8::Integer::new(scope, 0).into(),
            number(scope, args.content.len() as f64),
        ],
        Args::QueueMessage(args) => {
            let attributes = v8::Object::new(scope);
            for (name, value) in &args.message_attributes {
                let (name, value) = (text(scope, name)?, text(scope, value)?);
                attributes.set(scope, name, value).ok_or("cannot set a message attribute")?;
            }
            vec![
                text(scope, &args.message_id)?,
                optional_text(scope, args.message_group_id.as_deref())?,
                optional_text(scope, args.message_deduplication_id.as_deref())?,
                attributes.into(),
                text(scope, &args.message_body)?,
            ]
        }
        Args::KinesisRecord(args) => vec![
            text(scope, &args.stream_arn)?,
            text(scope, &args.shard_id)?,
            text(scope, &args.partition_key)?,
            text(scope, &args.sequence_number)?,
            number(scope, args.approximate_arrival_timestamp_ms as f64),
            bytes(scope, &args.data)?.into(),
        ],
        Args::DynamodbStreamsRecord(args) => vec![
            text(scope, &args.stream_arn)?,
            text(scope, &args.shard_id)?,
            text(scope, &args.event_id)?,
            text(scope, &args.event_name)?,
            optional_text(scope, args.identity_principal_id.as_deref())?,
            optional_text(scope, args.identity_type.as_deref())?,
            text(scope, &args.sequence_number)?,
            number(scope, args.size_bytes as f64),
            text(scope, &args.stream_view_type)?,
            number(scope, args.approximate_creation_date_time_s as f64),
            json_object(scope, &args.keys_json, "keys_json")?,
            json_object(scope, &args.old_image_json, "old_image_json")?,
            json_object(scope, &args.new_image_json, "new_image_json")?,
        ],
        Args::DynamodbTableItem(args) => vec![
            text(scope, &args.table_name)?,
            number(scope, f64::from(args.segment_number)),
            json_object(scope, &args.keys_json, "keys_json")?,
            json_object(scope, &args.item_json, "item_json")?,
        ],
        Args::ExtractDocumentElements(args) => vec![json_object(scope, &args.document_json, "document_json")?],
        Args::ConstructVectorDoc(args) => {
            let vectors = v8::Object::new(scope);
            for (name, vector) in &args.vectors {
                let values: Vec<_> = vector.values.iter().map(|&value| number(scope, value)).collect();
                let name = text(scope, name)?;
                let values = v8::Array::new_with_elements(scope, &values);
                vectors.set(scope, name, values.into()).ok_or("cannot set a vector")?;
            }
            vec![json_object(scope, &args.document_json, "document_json")?, vectors.into()]
        }
    })
}

fn text<'s>(scope: &mut v8::PinScope<'s, '_>, text: &str) -> Result<v8::Local<'s, v8::Value>, String> {
    v8::String::new(scope, text)
        .map(Into::into)
        .ok_or_else(|| format!("a string of {} bytes is too long for the JavaScript engine", text.len()))
}

fn optional_text<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    value: Option<&str>,
) -> Result<v8::Local<'s, v8::Value>, String> {
    match value {
        Some(value) => text(scope, value),
        None => Ok(v8::null(scope).into()),
    }
}

fn number<'s>(scope: &mut v8::PinScope<'s, '_>, value: f64) -> v8::Local<'s, v8::Value> {
    v8::Number::new(scope, value).into()
}

/// An object parsed from JSON bytes with JSON.parse; `{}` for an unset field.
fn json_object<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    json: &[u8],
    field: &str,
) -> Result<v8::Local<'s, v8::Value>, String> {
    if json.is_empty() {
        return Ok(v8::Object::new(scope).into());
    }
    let json = std::str::from_utf8(json).map_err(|err| format!("{field} is not UTF-8 text: {err}"))?;
    let json = v8::String::new(scope, json).ok_or_else(|| format!("{field} is too long for the JavaScript engine"))?;
    v8::tc_scope!(let scope, scope);
    let Some(value) = v8::json::parse(scope, json) else {
        let reason = match scope.exception() {
            Some(exception) => exception.to_rust_string_lossy(scope),
            None => "JSON.parse failed".to_owned(),
        };
        return Err(format!("{field} is not valid JSON: {reason}"));
    };
    if !value.is_object() || value.is_array() {
        return Err(format!("{field} is not a JSON object"));
    }
    Ok(value)
}

/// A fresh Uint8Array holding a copy of `content`, over its own buffer.
fn bytes<'s>(scope: &mut v8::PinScope<'s, '_>, content: &[u8]) -> Result<v8::Local<'s, v8::Uint8Array>, String> {
    let too_large = || format!("{} bytes do not fit in a JavaScript Uint8Array", content.len());
    let buffer = v8::ArrayBuffer::new(scope, content.len());
    let store = buffer.get_backing_store();
    if store.len() != content.len() {
        return Err(too_large());
    }
    for (cell, byte) in store.iter().zip(content) {
        cell.set(*byte);
    }
    v8::Uint8Array::new(scope, buffer, 0, content.len()).ok_or_else(too_large)
}

/// An argument of a glue call during loading.
enum Arg<'a> {
    Text(&'a str),
    Object(&'a v8::Global<v8::Object>),
}

impl Arg<'_> {
    fn to_v8<'s>(&self, scope: &mut v8::PinScope<'s, '_>) -> Option<v8::Local<'s, v8::Value>> {
        match self {
            Arg::Text(text) => v8::String::new(scope, text).map(Into::into),
            Arg::Object(object) => Some(v8::Local::new(scope, *object).into()),
        }
    }
}

impl Glue {
    /// What reading the outcomes of `function` needs.
    fn fallback(&self, function: pb::Function) -> Fallback<'_> {
        Fallback {
            serialize_document: &self.serialize_document,
            prototypes: &self.prototypes,
            method: method_name(function),
        }
    }

    async fn load(runtime: &mut JsRuntime) -> Result<Self, LoadFailure> {
        let broken =
            |what: String| failure(format!("the bridge's JavaScript glue failed to load: {what}"), String::new());
        let id = runtime.load_main_es_module(&loader::glue_url()).await.map_err(|err| broken(err.to_string()))?;
        evaluate(runtime, id).await.map_err(|err| broken(err.to_string()))?;
        let namespace = runtime.get_module_namespace(id).map_err(|err| broken(err.to_string()))?;
        deno_core::scope!(scope, runtime);
        let namespace = v8::Local::new(scope, namespace);
        let export = |name: &str| {
            let key = v8::String::new(scope, name)?;
            let value = namespace.get(scope, key.into())?;
            let function = v8::Local::<v8::Function>::try_from(value).ok()?;
            Some(v8::Global::new(scope, function))
        };
        let (Some(add_module), Some(instantiate), Some(prepare), Some(serialize_document)) =
            (export("addModule"), export("instantiate"), export("prepare"), export("serializeDocument"))
        else {
            return Err(broken("it lacks an export".to_owned()));
        };
        let prototype = |name: &str| {
            let key = v8::String::new(scope, name)?;
            let value = namespace.get(scope, key.into())?;
            let object = v8::Local::<v8::Object>::try_from(value).ok()?;
            Some(v8::Global::new(scope, object))
        };
        let (Some(object_prototype), Some(array_prototype)) =
            (prototype("objectPrototype"), prototype("arrayPrototype"))
        else {
            return Err(broken("it lacks the realm's prototypes".to_owned()));
        };
        Ok(Self {
            add_module,
            instantiate,
            prepare,
            serialize_document,
            prototypes: [object_prototype, array_prototype],
        })
    }
}

/// Evaluates a loaded module, running its top-level awaits. A throw at the
/// top level surfaces from the event loop, as an unhandled rejection.
async fn evaluate(runtime: &mut JsRuntime, id: ModuleId) -> Result<(), CoreError> {
    let evaluation = runtime.mod_evaluate(id);
    runtime.run_event_loop(PollEventLoopOptions::default()).await?;
    match evaluation.now_or_never() {
        Some(result) => result,
        None => Err(CoreErrorKind::PendingPromiseResolution.into_box()),
    }
}

/// The load failure for a module that failed to load or evaluate: the
/// error's class and message, and where in the user's files it happened.
fn import_failure(err: &CoreError, cannot_import: impl Fn(String, String) -> LoadFailure) -> LoadFailure {
    match &*err.0 {
        CoreErrorKind::Js(error) => {
            let name = error.name.as_deref().unwrap_or("Error");
            let message = error.message.as_deref().unwrap_or(&error.exception_message);
            let mut cause = format!("{name}: {message}");
            if let Some(location) = user_location(error) {
                cause.push_str(&format!(" (at {location})"));
            }
            cannot_import(cause, error.stack.clone().unwrap_or_default())
        }
        CoreErrorKind::PendingPromiseResolution => {
            cannot_import("its top-level await never settled".to_owned(), String::new())
        }
        _ => cannot_import(err.to_string(), String::new()),
    }
}

/// "FILE:LINE:COLUMN" of the innermost stack frame in a file (the user's
/// code, not the bundled SDK).
fn user_location(error: &JsError) -> Option<String> {
    error.frames.iter().find_map(|frame| {
        let url = ModuleSpecifier::parse(frame.file_name.as_deref()?).ok()?;
        let path = url.to_file_path().ok()?;
        let line = frame.line_number?;
        Some(match frame.column_number {
            Some(column) => format!("{}:{line}:{column}", path.display()),
            None => format!("{}:{line}", path.display()),
        })
    })
}

fn failure(message: String, details: String) -> LoadFailure {
    LoadFailure { message, details }
}
