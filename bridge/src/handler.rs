//! The `Handler` seam: one batch of calls to one function in, one outcome
//! per call out.
//!
//! A `Handler` is implemented by each language host. The gRPC server wraps
//! any `Handler`, and the task host can hold one in-process. A failure of
//! the user's code is never an `Err` here: it is a `UserError` outcome at
//! the call's index. `Err` means the batch as a whole could not run.

use std::fmt;
use std::time::Duration;

use ferry_proto::pb;
use futures::future::BoxFuture;

/// How long one call may run when its request sets no limit.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// What a loaded handler serves; sent to clients in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerDescription {
    pub language: pb::Language,
    /// For example "CPython 3.11.7".
    pub runtime_version: String,
    pub interfaces: Vec<pb::Interface>,
    /// Lowercase hex SHA-256 over the handler's files.
    pub digest: String,
}

/// Why the user's handler could not be loaded. The user's fault; retrying
/// without changing the handler cannot help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFailure {
    /// One sentence naming the file and the cause.
    pub message: String,
    /// The language's traceback of the failure, when there is one.
    pub details: String,
}

impl fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadFailure {}

/// Why a whole batch could not run.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HandlerError {
    /// The handler failed to load; every batch fails the same way.
    /// The user's fault, not retryable.
    #[error("handler not loaded: {0}")]
    NotLoaded(LoadFailure),
    /// The request does not fit the function: the caller's fault, not
    /// retryable.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The handler does not implement the requested interface: the
    /// configuration's fault, not retryable.
    #[error("the handler does not implement {0}")]
    NotImplemented(&'static str),
    /// The language runtime stopped (it crashed or is shutting down).
    /// The bridge's fault; a fresh bridge may succeed.
    #[error("the language runtime is unavailable: {0}")]
    Unavailable(String),
}

impl HandlerError {
    /// Whether sending the same batch again, possibly to a restarted
    /// bridge, can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, HandlerError::Unavailable(_))
    }
}

/// A language host able to run batches of handler calls.
pub trait Handler: Send + Sync + 'static {
    /// What the loaded handler serves, or why it could not be loaded.
    fn description(&self) -> Result<&HandlerDescription, &LoadFailure>;

    /// Runs every call of `request` and returns one outcome per call, in
    /// call order.
    fn invoke(
        &self,
        request: pb::InvokeRequest,
    ) -> BoxFuture<'static, Result<Vec<pb::Outcome>, HandlerError>>;
}

/// The interfaces a handler can serve, in protocol order.
pub const ALL_INTERFACES: [pb::Interface; 6] = [
    pb::Interface::SingleFileParser,
    pb::Interface::QueueMessageReader,
    pb::Interface::KinesisRecordReader,
    pb::Interface::DynamodbStreamsRecordReader,
    pb::Interface::DynamodbTableItemReader,
    pb::Interface::SagemakerVectors,
];

/// The interface a function belongs to.
pub fn interface_of(function: pb::Function) -> Option<pb::Interface> {
    use pb::Function as F;
    match function {
        F::Unspecified => None,
        F::SingleFileParserGetS3FileType
        | F::SingleFileParserGetResolvedS3FileName
        | F::SingleFileParserGetRecordStartPattern
        | F::SingleFileParserGetRecordEndPattern
        | F::SingleFileParserParseDocument => Some(pb::Interface::SingleFileParser),
        F::QueueMessageReaderParseMessage => Some(pb::Interface::QueueMessageReader),
        F::KinesisRecordReaderParseMessage => Some(pb::Interface::KinesisRecordReader),
        F::DynamodbStreamsRecordReaderParseRecord => Some(pb::Interface::DynamodbStreamsRecordReader),
        F::DynamodbTableItemReaderParseDynamodbItem => Some(pb::Interface::DynamodbTableItemReader),
        F::SagemakerVectorsExtractDocumentElements | F::SagemakerVectorsConstructVectorDoc => {
            Some(pb::Interface::SagemakerVectors)
        }
    }
}

/// Checks that every call of `request` carries the arguments of its
/// function, before any user code runs, and returns the interface.
pub fn check_request(request: &pb::InvokeRequest) -> Result<pb::Interface, HandlerError> {
    use pb::Function as F;
    use pb::call::Args;
    let function = request.function();
    let interface = interface_of(function)
        .ok_or_else(|| HandlerError::InvalidRequest(format!("unknown function {}", request.function)))?;
    for (index, call) in request.calls.iter().enumerate() {
        let fits = matches!(
            (function, &call.args),
            (F::SingleFileParserGetS3FileType, Some(Args::GetS3FileType(_)))
                | (F::SingleFileParserGetResolvedS3FileName, Some(Args::GetResolvedS3FileName(_)))
                | (F::SingleFileParserGetRecordStartPattern, Some(Args::GetRecordStartPattern(_)))
                | (F::SingleFileParserGetRecordEndPattern, Some(Args::GetRecordEndPattern(_)))
                | (F::SingleFileParserParseDocument, Some(Args::ParseDocument(_)))
                | (F::QueueMessageReaderParseMessage, Some(Args::QueueMessage(_)))
                | (F::KinesisRecordReaderParseMessage, Some(Args::KinesisRecord(_)))
                | (F::DynamodbStreamsRecordReaderParseRecord, Some(Args::DynamodbStreamsRecord(_)))
                | (F::DynamodbTableItemReaderParseDynamodbItem, Some(Args::DynamodbTableItem(_)))
                | (F::SagemakerVectorsExtractDocumentElements, Some(Args::ExtractDocumentElements(_)))
                | (F::SagemakerVectorsConstructVectorDoc, Some(Args::ConstructVectorDoc(_)))
        );
        if !fits {
            return Err(HandlerError::InvalidRequest(format!(
                "call {index} does not carry the arguments of {}",
                method_name(function)
            )));
        }
    }
    Ok(interface)
}

/// The method a function calls, as user code spells it.
pub fn method_name(function: pb::Function) -> &'static str {
    match function {
        pb::Function::Unspecified => "",
        pb::Function::SingleFileParserGetS3FileType => "getS3FileType",
        pb::Function::SingleFileParserGetResolvedS3FileName => "getResolvedS3FileName",
        pb::Function::SingleFileParserGetRecordStartPattern => "getRecordStartPattern",
        pb::Function::SingleFileParserGetRecordEndPattern => "getRecordEndPattern",
        pb::Function::SingleFileParserParseDocument => "parseDocument",
        pb::Function::QueueMessageReaderParseMessage | pb::Function::KinesisRecordReaderParseMessage => "parseMessage",
        pb::Function::DynamodbStreamsRecordReaderParseRecord => "parseRecord",
        pb::Function::DynamodbTableItemReaderParseDynamodbItem => "parseDynamoDBItem",
        pb::Function::SagemakerVectorsExtractDocumentElements => "extractDocumentElementsForVectorization",
        pb::Function::SagemakerVectorsConstructVectorDoc => "constructVectorDoc",
    }
}

/// The LetsData name of an interface, as user code spells it.
pub fn interface_name(interface: pb::Interface) -> &'static str {
    match interface {
        pb::Interface::Unspecified => "unspecified",
        pb::Interface::SingleFileParser => "SingleFileParser",
        pb::Interface::QueueMessageReader => "QueueMessageReader",
        pb::Interface::KinesisRecordReader => "KinesisRecordReader",
        pb::Interface::DynamodbStreamsRecordReader => "DynamoDBStreamsRecordReader",
        pb::Interface::DynamodbTableItemReader => "DynamoDBTableItemReader",
        pb::Interface::SagemakerVectors => "SagemakerVectorsInterface",
    }
}

/// Builds the outcome for a failure of user code.
pub fn user_error_outcome(
    error_type: impl Into<String>,
    message: impl Into<String>,
    traceback: impl Into<String>,
    retryable: bool,
) -> pb::Outcome {
    pb::Outcome {
        result: Some(pb::outcome::Result::Error(pb::UserError {
            error_type: error_type.into(),
            message: message.into(),
            traceback: traceback.into(),
            retryable,
        })),
    }
}

/// Builds the outcome of a call that ran past its time limit and was
/// interrupted; every host words it the same way.
pub fn timeout_outcome(limit: Duration) -> pb::Outcome {
    user_error_outcome(
        "CallTimeout",
        format!("the call ran longer than {} ms and was interrupted", limit.as_millis()),
        String::new(),
        false,
    )
}
