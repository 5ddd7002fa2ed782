//! How the task host reaches a handler: a gRPC client of a bridge process,
//! after a handshake that checks the protocol and the interfaces served,
//! or a handler linked into this process (Rust handlers), called directly
//! with the same messages.

mod process;

use std::sync::Arc;

use ferry_bridge::handler::interface_name;
use ferry_bridge::{Handler, HandlerError, ListenAddr};
use ferry_proto::pb::bridge_client::BridgeClient as GrpcClient;
use ferry_proto::{MAX_MESSAGE_BYTES, PROTOCOL_VERSION, pb};
use tonic::transport::Channel;

pub use process::{BridgeProcess, SpawnError, default_bridge_binary};

/// Why a call to a bridge failed.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The user's handler could not be loaded (syntax error, missing
    /// module...). The user's fault; fix the handler and run again.
    #[error("the handler could not be loaded: {0}")]
    HandlerNotLoaded(String),
    /// The handler does not implement an interface the dataset needs.
    /// The user's fault (handler or readerType), not retryable.
    #[error("the handler does not implement {needed}; it implements: {served}")]
    MissingInterface { needed: &'static str, served: String },
    /// The bridge and this host speak different protocol versions.
    #[error("{0}")]
    ProtocolMismatch(String),
    /// The bridge is unreachable or failed mid-call (it crashed, or was
    /// stopped). Infrastructure; a restarted bridge may succeed.
    #[error("bridge call failed: {0}")]
    Transport(String),
    /// The bridge answered with something the protocol does not allow.
    /// A bridge bug; not retryable.
    #[error("the bridge broke the protocol: {0}")]
    Protocol(String),
}

impl BridgeError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, BridgeError::Transport(_))
    }
}

impl From<tonic::Status> for BridgeError {
    fn from(status: tonic::Status) -> Self {
        match status.code() {
            tonic::Code::FailedPrecondition => BridgeError::HandlerNotLoaded(status.message().to_owned()),
            _ => BridgeError::Transport(format!("{}: {}", status.code(), status.message())),
        }
    }
}

impl From<HandlerError> for BridgeError {
    fn from(err: HandlerError) -> Self {
        match err {
            HandlerError::NotLoaded(failure) => BridgeError::HandlerNotLoaded(failure.message),
            HandlerError::Unavailable(reason) => BridgeError::Transport(reason),
            other => BridgeError::Protocol(other.to_string()),
        }
    }
}

/// A handler ready for calls. Cheap to clone; clones of a gRPC client
/// share its HTTP/2 connection, which multiplexes concurrent batches.
#[derive(Clone)]
pub struct BridgeClient {
    transport: Transport,
    handshake: pb::HandshakeResponse,
}

#[derive(Clone)]
enum Transport {
    Grpc(GrpcClient<Channel>),
    InProcess(Arc<dyn Handler>),
}

impl std::fmt::Debug for BridgeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match self.transport {
            Transport::Grpc(_) => "grpc",
            Transport::InProcess(_) => "in-process",
        };
        f.debug_struct("BridgeClient").field("transport", &transport).finish_non_exhaustive()
    }
}

impl BridgeClient {
    /// Connects and performs the handshake.
    pub async fn connect(addr: &ListenAddr) -> Result<Self, BridgeError> {
        let channel =
            addr.connect().await.map_err(|err| BridgeError::Transport(format!("cannot connect to {addr}: {err}")))?;
        let mut grpc = GrpcClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let handshake = grpc
            .handshake(pb::HandshakeRequest {
                protocol_version: PROTOCOL_VERSION.into(),
                client_version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .await?
            .into_inner();
        if handshake.protocol_version != i32::from(PROTOCOL_VERSION) {
            return Err(BridgeError::ProtocolMismatch(format!(
                "the bridge speaks protocol {} but this ferry speaks {}; use a ferry and ferry-bridge of the same release",
                handshake.protocol_version,
                i32::from(PROTOCOL_VERSION)
            )));
        }
        Ok(Self { transport: Transport::Grpc(grpc), handshake })
    }

    /// Wraps a handler linked into this process.
    pub fn in_process(handler: Arc<dyn Handler>) -> Result<Self, BridgeError> {
        let description =
            handler.description().map_err(|failure| BridgeError::HandlerNotLoaded(failure.message.clone()))?;
        let handshake = pb::HandshakeResponse {
            protocol_version: PROTOCOL_VERSION.into(),
            language: description.language.into(),
            runtime_version: description.runtime_version.clone(),
            interfaces: description.interfaces.iter().map(|&interface| interface.into()).collect(),
            handler_digest: description.digest.clone(),
            bridge_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        Ok(Self { transport: Transport::InProcess(handler), handshake })
    }

    pub fn handshake(&self) -> &pb::HandshakeResponse {
        &self.handshake
    }

    /// Fails unless the handler implements `interface`.
    pub fn require(&self, interface: pb::Interface) -> Result<(), BridgeError> {
        if self.handshake.interfaces.contains(&i32::from(interface)) {
            return Ok(());
        }
        let served: Vec<&str> = self.handshake.interfaces().map(interface_name).collect();
        Err(BridgeError::MissingInterface {
            needed: interface_name(interface),
            served: if served.is_empty() { "nothing".to_owned() } else { served.join(", ") },
        })
    }

    /// Runs one batch; returns exactly one outcome per call.
    pub async fn invoke(&self, function: pb::Function, calls: Vec<pb::Call>) -> Result<Vec<pb::Outcome>, BridgeError> {
        let expected = calls.len();
        let request =
            pb::InvokeRequest { function: function.into(), calls, call_timeout_ms: 0, traceparent: String::new() };
        let outcomes = match &self.transport {
            Transport::Grpc(grpc) => grpc.clone().invoke(request).await?.into_inner().outcomes,
            Transport::InProcess(handler) => handler.invoke(request).await?,
        };
        if outcomes.len() != expected {
            return Err(BridgeError::Protocol(format!("{} outcomes for {expected} calls", outcomes.len())));
        }
        Ok(outcomes)
    }

    /// Runs a single call and returns its outcome.
    pub async fn call(&self, function: pb::Function, args: pb::call::Args) -> Result<pb::Outcome, BridgeError> {
        let mut outcomes = self.invoke(function, vec![pb::Call { args: Some(args) }]).await?;
        outcomes.pop().ok_or_else(|| BridgeError::Protocol("no outcome".to_owned()))
    }
}
