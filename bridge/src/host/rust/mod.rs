//! In-process Rust handlers: the user's parser is linked into the
//! program that runs it, and called through the same `Handler` seam and
//! `ferry.bridge.v1` messages as the Python and JavaScript hosts.
//!
//! A handler crate implements one or more of the interfaces
//! ([`SingleFileParser`], [`QueueMessageReader`], [`KinesisRecordReader`],
//! [`DynamoDbStreamsRecordReader`], [`DynamoDbTableItemReader`],
//! [`SagemakerVectors`]), registers them in a [`RustHandlers`] and hands
//! that to `ferry_task_host::cli::main_with`:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     let handlers = RustHandlers::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
//!         .single_file_parser(LogLineParser);
//!     ferry_task_host::cli::main_with(handlers)
//! }
//! ```
//!
//! The contract, as for every host:
//! - One outcome per call, in call order. Calls of a batch run one after
//!   the other on one thread; batches (of one source or of several) may
//!   run at the same time on different threads, so a handler is `Sync`.
//! - A handler's failure is data: an `Err(HandlerFailure)` becomes a
//!   `UserError` outcome with its type, message, traceback and retryable
//!   flag; a panic becomes a `Panic` user error with the panic message
//!   and location, kept off stderr; a result ferry cannot use becomes an
//!   `InvalidHandlerResult` user error. None of them fails the batch.
//! - A batch fails as a whole only when it is malformed
//!   ([`crate::handler::check_request`]) or asks for an interface that is
//!   not registered (`HandlerError::NotImplemented`).
//! - Documents are serialized to their flat JSON by ferry, exactly as the
//!   Python host does ([`crate::flat_json`]).
//! - The per-call time limit of a request is not enforced: compiled Rust
//!   code cannot be interrupted safely in process. Rust handlers are
//!   expected not to hang.
//!
//! The description sent in the handshake: language RUST, runtime
//! `rustc <version>` when the build recorded it (`FERRY_RUSTC_VERSION` at
//! compile time) and `rustc` otherwise, the registered interfaces, and as
//! digest the SHA-256 of `"<crate name> <crate version>"` as passed to
//! [`RustHandlers::new`]: it names the code that made the documents as
//! well as the crate's version does.

mod document;
mod failure;
mod interfaces;
mod outcome;
mod panic;
mod records;
mod registry;
mod state_machine;
mod system_file_reader;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_proto::pb;
use futures::FutureExt;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

pub use document::{
    Document, DocumentType, ParseDocumentResult, ParseDocumentResultStatus, RecordHintType, RecordParseHint,
};
pub use failure::HandlerFailure;
pub use interfaces::{
    DynamoDbStreamsRecordReader, DynamoDbTableItemReader, KinesisRecordReader, QueueMessageReader, SagemakerVectors,
    SingleFileParser,
};
pub use outcome::{INVALID_RESULT, PANIC};
pub use records::{DynamoDbStreamsRecord, DynamoDbTableItem, KinesisRecord, QueueMessage};
pub use state_machine::{
    MultipleFileStateMachineReader, ParseCompositeDocumentResult, SingleFileStateMachineParser, StateMachines,
    SystemFileReaders, guarded, parse_outcome,
};
pub use system_file_reader::{InvalidTransition, SingleFileReaderState, SystemFileReader, reader_document};

use crate::handler::{
    Handler, HandlerDescription, HandlerError, LoadFailure, check_request, interface_name, method_name,
};
use outcome::BatchOutcomes;
use registry::Registry;

/// Batches with at least this many calls run on tokio's blocking pool,
/// so the calling task can route the previous batch meanwhile; smaller
/// ones (the set-up calls) run in place.
const BLOCKING_POOL_MIN_CALLS: usize = 16;

/// The Rust handlers linked into this program, served as a [`Handler`].
#[derive(Clone)]
pub struct RustHandlers {
    description: HandlerDescription,
    registry: Registry,
    state_machines: StateMachines,
    /// Flat JSON bytes of the last batch: the next batch's first guess.
    flat_bytes_hint: Arc<AtomicUsize>,
}

impl fmt::Debug for RustHandlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustHandlers").field("description", &self.description).finish_non_exhaustive()
    }
}

impl RustHandlers {
    /// No handlers yet; `package_name` and `package_version` identify the
    /// handler crate (pass `env!("CARGO_PKG_NAME")` and
    /// `env!("CARGO_PKG_VERSION")`) and make the handshake's digest.
    pub fn new(package_name: &str, package_version: &str) -> Self {
        let digest = hex::encode(Sha256::digest(format!("{package_name} {package_version}")));
        Self {
            description: HandlerDescription {
                language: pb::Language::Rust,
                runtime_version: runtime_version(),
                interfaces: Vec::new(),
                digest,
            },
            registry: Registry::default(),
            state_machines: StateMachines::default(),
            flat_bytes_hint: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Registers the `SingleFileParser`, replacing any registered before.
    pub fn single_file_parser(mut self, parser: impl SingleFileParser) -> Self {
        self.registry.single_file_parser = Some(Arc::new(parser));
        self.register(pb::Interface::SingleFileParser);
        self
    }

    /// Registers the `QueueMessageReader`, replacing any registered before.
    pub fn queue_message_reader(mut self, reader: impl QueueMessageReader) -> Self {
        self.registry.queue_message_reader = Some(Arc::new(reader));
        self.register(pb::Interface::QueueMessageReader);
        self
    }

    /// Registers the `KinesisRecordReader`, replacing any registered before.
    pub fn kinesis_record_reader(mut self, reader: impl KinesisRecordReader) -> Self {
        self.registry.kinesis_record_reader = Some(Arc::new(reader));
        self.register(pb::Interface::KinesisRecordReader);
        self
    }

    /// Registers the `DynamoDbStreamsRecordReader`, replacing any
    /// registered before.
    pub fn dynamodb_streams_record_reader(mut self, reader: impl DynamoDbStreamsRecordReader) -> Self {
        self.registry.dynamodb_streams_record_reader = Some(Arc::new(reader));
        self.register(pb::Interface::DynamodbStreamsRecordReader);
        self
    }

    /// Registers the `DynamoDbTableItemReader`, replacing any registered
    /// before.
    pub fn dynamodb_table_item_reader(mut self, reader: impl DynamoDbTableItemReader) -> Self {
        self.registry.dynamodb_table_item_reader = Some(Arc::new(reader));
        self.register(pb::Interface::DynamodbTableItemReader);
        self
    }

    /// Registers the `SagemakerVectors` handler, replacing any registered
    /// before.
    pub fn sagemaker_vectors(mut self, vectors: impl SagemakerVectors) -> Self {
        self.registry.sagemaker_vectors = Some(Arc::new(vectors));
        self.register(pb::Interface::SagemakerVectors);
        self
    }

    fn register(&mut self, interface: pb::Interface) {
        let interfaces = &mut self.description.interfaces;
        if !interfaces.contains(&interface) {
            interfaces.push(interface);
            interfaces.sort();
        }
    }

    /// Runs every call of `request` on this thread.
    fn run(&self, request: &pb::InvokeRequest) -> Result<Vec<pb::Outcome>, HandlerError> {
        let interface = check_request(request)?;
        if !self.description.interfaces.contains(&interface) {
            return Err(HandlerError::NotImplemented(interface_name(interface)));
        }
        let name = method_name(request.function());
        let mut batch = BatchOutcomes::with_capacity(request.calls.len(), self.flat_bytes_hint.load(Ordering::Relaxed));
        for (index, call) in request.calls.iter().enumerate() {
            self.registry.run_call(call, name, &mut batch).map_err(|err| match err {
                HandlerError::InvalidRequest(reason) => HandlerError::InvalidRequest(format!("call {index}: {reason}")),
                other => other,
            })?;
        }
        self.flat_bytes_hint.store(batch.flat_bytes(), Ordering::Relaxed);
        Ok(batch.finish())
    }
}

impl Handler for RustHandlers {
    fn description(&self) -> Result<&HandlerDescription, &LoadFailure> {
        Ok(&self.description)
    }

    fn invoke(&self, request: pb::InvokeRequest) -> BoxFuture<'static, Result<Vec<pb::Outcome>, HandlerError>> {
        let runtime = tokio::runtime::Handle::try_current();
        match runtime {
            Ok(runtime) if request.calls.len() >= BLOCKING_POOL_MIN_CALLS => {
                let handlers = self.clone();
                let batch = runtime.spawn_blocking(move || handlers.run(&request));
                async move {
                    batch.await.unwrap_or_else(|err| {
                        // Every call is guarded, so only ferry itself can
                        // have panicked here.
                        Err(HandlerError::Unavailable(format!("the batch thread failed: {err}")))
                    })
                }
                .boxed()
            }
            _ => futures::future::ready(self.run(&request)).boxed(),
        }
    }
}

fn runtime_version() -> String {
    match env!("FERRY_RUSTC_VERSION") {
        "" => "rustc".to_owned(),
        version => version.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures::executor::block_on;

    use super::*;

    /// Parses `"<id> <level>"` records; "panic" panics, "fail" fails,
    /// "debug" skips, "bad" is an ErrorDoc, "none" succeeds without a
    /// document.
    struct Words;

    impl SingleFileParser for Words {
        fn get_s3_file_type(&self) -> String {
            "WORDS".to_owned()
        }

        fn get_record_start_pattern(&self, _: &str) -> RecordParseHint {
            RecordParseHint::from_offset(0)
        }

        fn get_record_end_pattern(&self, s3_file_type: &str) -> RecordParseHint {
            if s3_file_type == "EMPTY" {
                RecordParseHint::from_pattern("")
            } else {
                RecordParseHint::from_pattern("\n")
            }
        }

        fn parse_document(
            &self,
            s3_file_type: &str,
            s3_filename: &str,
            offset_bytes: u64,
            record: &[u8],
        ) -> Result<ParseDocumentResult, HandlerFailure> {
            let text = std::str::from_utf8(record)?.trim_end();
            let (id, word) = text.split_once(' ').ok_or_else(|| HandlerFailure::missing_key("word"))?;
            let end = offset_bytes + record.len() as u64;
            Ok(match word {
                "panic" => panic!("cannot parse {id}"),
                "fail" => return Err(HandlerFailure::new("Throttled", id).retryable()),
                "debug" => ParseDocumentResult::skip(Document::skip_doc("debug")),
                "bad" => ParseDocumentResult::error(
                    Document::error_doc(format!("bad {id}"))
                        .with_record_type("Word")
                        .with_start_offset(s3_file_type, offset_bytes)
                        .with_end_offset(s3_file_type, end),
                ),
                "none" => ParseDocumentResult::new(None, None, ParseDocumentResultStatus::Success),
                word => ParseDocumentResult::success(
                    Document::new(id, "Word")
                        .with_partition_key(s3_filename)
                        .with_metadata("offset", offset_bytes)
                        .with_value("word", word),
                ),
            })
        }
    }

    fn handlers() -> RustHandlers {
        RustHandlers::new("words", "1.2.3").single_file_parser(Words)
    }

    fn parse_calls(records: &[&str]) -> pb::InvokeRequest {
        let mut offset = 0;
        let calls = records
            .iter()
            .map(|record| {
                let call = pb::Call {
                    args: Some(pb::call::Args::ParseDocument(pb::ParseDocumentArgs {
                        s3_file_type: "WORDS".to_owned(),
                        file_name: "w.txt".to_owned(),
                        offset_bytes: offset,
                        content: Bytes::copy_from_slice(record.as_bytes()),
                    })),
                };
                offset += record.len() as u64;
                call
            })
            .collect();
        pb::InvokeRequest {
            function: pb::Function::SingleFileParserParseDocument.into(),
            calls,
            call_timeout_ms: 0,
            traceparent: String::new(),
        }
    }

    fn one_call(function: pb::Function, args: pb::call::Args) -> pb::InvokeRequest {
        pb::InvokeRequest {
            function: function.into(),
            calls: vec![pb::Call { args: Some(args) }],
            call_timeout_ms: 0,
            traceparent: String::new(),
        }
    }

    /// A short rendering of each outcome, to compare whole batches.
    fn summary(outcomes: &[pb::Outcome]) -> Vec<String> {
        outcomes
            .iter()
            .map(|outcome| match &outcome.result {
                Some(pb::outcome::Result::Text(text)) => format!("text {text}"),
                Some(pb::outcome::Result::Hint(hint)) => {
                    format!("hint {:?} {:?} {}", hint.hint_type(), hint.pattern, hint.offset)
                }
                Some(pb::outcome::Result::Parsed(parsed)) => match &parsed.document {
                    Some(document) => format!(
                        "{:?} {:?} {} {:?} {:?}",
                        parsed.status(),
                        document.document_type(),
                        String::from_utf8_lossy(&document.flat_json),
                        document.message,
                        document.start_offsets,
                    ),
                    None => format!("{:?} without a document", parsed.status()),
                },
                Some(pb::outcome::Result::Error(error)) => {
                    format!("error {} {:?} retryable={}", error.error_type, error.message, error.retryable)
                }
                other => format!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_description_names_rust_the_interfaces_and_the_crate_digest() {
        let handlers = handlers();
        let description = handlers.description().ok().cloned();
        let expected_digest = hex::encode(Sha256::digest("words 1.2.3"));
        assert_eq!(
            description.map(|description| (description.language, description.interfaces, description.digest)),
            Some((pb::Language::Rust, vec![pb::Interface::SingleFileParser], expected_digest))
        );
        assert!(handlers.description.runtime_version.starts_with("rustc"));
        let empty = RustHandlers::new("none", "0");
        assert_eq!(empty.description().map(|description| description.interfaces.len()).ok(), Some(0));
    }

    #[test]
    fn set_up_calls_answer_text_and_hints() {
        use pb::Function as F;
        use pb::call::Args;
        let handlers = handlers();
        let requests = [
            one_call(F::SingleFileParserGetS3FileType, Args::GetS3FileType(pb::GetS3FileTypeArgs {})),
            one_call(
                F::SingleFileParserGetResolvedS3FileName,
                Args::GetResolvedS3FileName(pb::GetResolvedS3FileNameArgs {
                    s3_file_type: "WORDS".to_owned(),
                    file_name: "dir/w.txt".to_owned(),
                }),
            ),
            one_call(
                F::SingleFileParserGetRecordStartPattern,
                Args::GetRecordStartPattern(pb::FileTypeArgs { s3_file_type: "WORDS".to_owned() }),
            ),
            one_call(
                F::SingleFileParserGetRecordEndPattern,
                Args::GetRecordEndPattern(pb::FileTypeArgs { s3_file_type: "WORDS".to_owned() }),
            ),
            one_call(
                F::SingleFileParserGetRecordEndPattern,
                Args::GetRecordEndPattern(pb::FileTypeArgs { s3_file_type: "EMPTY".to_owned() }),
            ),
        ];
        let answers: Vec<String> = requests
            .into_iter()
            .flat_map(|request| summary(&block_on(handlers.invoke(request)).unwrap_or_default()))
            .collect();
        assert_eq!(
            answers,
            [
                "text WORDS",
                "text dir/w.txt",
                "hint Offset b\"\" 0",
                "hint Pattern b\"\\n\" 0",
                "error InvalidHandlerResult \"getRecordEndPattern returned an invalid RecordParseHint: pattern is empty\" retryable=false",
            ]
        );
    }

    #[test]
    fn every_record_gets_its_outcome_in_call_order() {
        let request =
            parse_calls(&["a1 hello\n", "a2 debug\n", "a3 bad\n", "a4 fail\n", "nospace\n", "a5 none\n", "a6 bye"]);
        let outcomes = block_on(handlers().invoke(request)).unwrap_or_default();
        assert_eq!(
            summary(&outcomes),
            [
                r#"Success Document {"documentId":"a1","recordType":"Word","partitionKey":"w.txt","documentMetadata":{"offset":0},"word":"hello"} "" {}"#,
                r#"Skip SkipDoc {"documentId":null,"recordType":null,"partitionKey":null,"documentMetadata":{}} "debug" {}"#,
                r#"Error ErrorDoc {"documentId":null,"recordType":"Word","partitionKey":null,"documentMetadata":{}} "bad a3" {"WORDS": "18"}"#,
                r#"error Throttled "a4" retryable=true"#,
                r#"error KeyError "'word'" retryable=false"#,
                r#"error InvalidHandlerResult "parseDocument returned an invalid ParseDocumentResult: status is SUCCESS but there is no document" retryable=false"#,
                r#"Success Document {"documentId":"a6","recordType":"Word","partitionKey":"w.txt","documentMetadata":{"offset":49},"word":"bye"} "" {}"#,
            ]
        );
    }

    #[test]
    fn a_panic_fails_its_record_only() {
        let request = parse_calls(&["b1 one\n", "b2 panic\n", "b3 three\n"]);
        let outcomes = block_on(handlers().invoke(request)).unwrap_or_default();
        assert_eq!(outcomes.len(), 3);
        match &outcomes[1].result {
            Some(pb::outcome::Result::Error(error)) => {
                assert_eq!((error.error_type.as_str(), error.message.as_str()), ("Panic", "cannot parse b2"));
                assert!(error.traceback.starts_with("panicked at bridge/src/host/rust/mod.rs:"), "{}", error.traceback);
                assert!(!error.retryable);
            }
            other => panic!("expected a panic outcome, got {other:?}"),
        }
        assert!(summary(&outcomes)[2].contains(r#""documentId":"b3""#));
    }

    #[test]
    fn malformed_requests_fail_the_batch_before_any_call() {
        let handlers = handlers();
        let mut mixed = parse_calls(&["c1 x\n"]);
        mixed.calls.push(pb::Call { args: Some(pb::call::Args::GetS3FileType(pb::GetS3FileTypeArgs {})) });
        assert_eq!(
            block_on(handlers.invoke(mixed)),
            Err(HandlerError::InvalidRequest("call 1 does not carry the arguments of parseDocument".to_owned()))
        );
        let mut unknown = parse_calls(&[]);
        unknown.function = 99;
        assert!(matches!(block_on(handlers.invoke(unknown)), Err(HandlerError::InvalidRequest(_))));
        let nothing = RustHandlers::new("none", "0");
        assert_eq!(
            block_on(nothing.invoke(parse_calls(&["d1 x\n"]))),
            Err(HandlerError::NotImplemented("SingleFileParser"))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_batches_run_on_the_blocking_pool_with_the_same_outcomes() {
        let records: Vec<String> =
            (0..100).map(|n| format!("e{n} {}\n", ["w", "debug", "bad", "panic"][n % 4])).collect();
        let records: Vec<&str> = records.iter().map(String::as_str).collect();
        let handlers = handlers();
        let pooled = handlers.invoke(parse_calls(&records)).await.unwrap_or_default();
        let inline = handlers.run(&parse_calls(&records)).unwrap_or_default();
        assert_eq!(pooled.len(), 100);
        assert_eq!(summary(&pooled), summary(&inline));
    }
}
