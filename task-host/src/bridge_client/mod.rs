//! How the task host reaches a handler: a gRPC client of a bridge, after a
//! handshake that checks the protocol and the interfaces served.

mod process;

use ferry_bridge::ListenAddr;
use ferry_bridge::handler::interface_name;
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

/// A connected, handshaken bridge. Cheap to clone; clones share the
/// HTTP/2 connection, which multiplexes concurrent batches.
#[derive(Debug, Clone)]
pub struct BridgeClient {
    grpc: GrpcClient<Channel>,
    handshake: pb::HandshakeResponse,
}

impl BridgeClient {
    /// Connects and performs the handshake.
    pub async fn connect(addr: &ListenAddr) -> Result<Self, BridgeError> {
        let channel = addr
            .connect()
            .await
            .map_err(|err| BridgeError::Transport(format!("cannot connect to {addr}: {err}")))?;
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
        Ok(Self { grpc, handshake })
    }

    pub fn handshake(&self) -> &pb::HandshakeResponse {
        &self.handshake
    }

    /// Fails unless the handler implements `interface`.
    pub fn require(&self, interface: pb::Interface) -> Result<(), BridgeError> {
        if self.handshake.interfaces.contains(&i32::from(interface)) {
            return Ok(());
        }
        let served: Vec<&str> = self
            .handshake
            .interfaces()
            .map(interface_name)
            .collect();
        Err(BridgeError::MissingInterface {
            needed: interface_name(interface),
            served: if served.is_empty() { "nothing".to_owned() } else { served.join(", ") },
        })
    }

    /// Runs one batch; returns exactly one outcome per call.
    pub async fn invoke(
        &self,
        function: pb::Function,
        calls: Vec<pb::Call>,
    ) -> Result<Vec<pb::Outcome>, BridgeError> {
        let expected = calls.len();
        let request = pb::InvokeRequest {
            function: function.into(),
            calls,
            call_timeout_ms: 0,
            traceparent: String::new(),
        };
        let outcomes = self.grpc.clone().invoke(request).await?.into_inner().outcomes;
        if outcomes.len() != expected {
            return Err(BridgeError::Protocol(format!(
                "{} outcomes for {expected} calls",
                outcomes.len()
            )));
        }
        Ok(outcomes)
    }

    /// Runs a single call and returns its outcome.
    pub async fn call(&self, function: pb::Function, args: pb::call::Args) -> Result<pb::Outcome, BridgeError> {
        let mut outcomes = self.invoke(function, vec![pb::Call { args: Some(args) }]).await?;
        outcomes.pop().ok_or_else(|| BridgeError::Protocol("no outcome".to_owned()))
    }
}
