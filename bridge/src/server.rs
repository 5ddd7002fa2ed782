//! The gRPC face of a bridge: wraps any `Handler` in the
//! `ferry.bridge.v1.Bridge` service, with the standard health service.
//!
//! Protocol faults (wrong version, handler not loaded, a malformed batch)
//! are gRPC statuses; failures of user code travel inside the outcomes.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use ferry_proto::pb::bridge_server::{Bridge, BridgeServer};
use ferry_proto::{BRIDGE_SERVICE_NAME, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, pb};
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;

use crate::handler::{Handler, HandlerError};
use crate::listen::ListenAddr;

/// Why a bridge could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address is in use, not permitted, or its directory is missing:
    /// the operator's to fix; retrying as is will not help.
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: ListenAddr, source: std::io::Error },
    /// A TCP address other than loopback without a token would expose
    /// user code to the network.
    #[error("refusing to listen on {0} without a token: pass --token (or FERRY_BRIDGE_TOKEN) for non-loopback addresses")]
    TokenRequired(ListenAddr),
    /// The transport failed while serving; a restarted bridge may succeed.
    #[error("the gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The bridge service over one handler.
#[derive(Clone)]
pub struct BridgeService {
    handler: Arc<dyn Handler>,
}

impl std::fmt::Debug for BridgeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeService").finish_non_exhaustive()
    }
}

impl BridgeService {
    pub fn new(handler: Arc<dyn Handler>) -> Self {
        Self { handler }
    }

    /// The tonic server for this service, with ferry's message size limits.
    pub fn into_server(self) -> BridgeServer<Self> {
        BridgeServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

#[tonic::async_trait]
impl Bridge for BridgeService {
    async fn handshake(
        &self,
        request: Request<pb::HandshakeRequest>,
    ) -> Result<Response<pb::HandshakeResponse>, Status> {
        let request = request.into_inner();
        if request.protocol_version != i32::from(PROTOCOL_VERSION) {
            return Err(Status::failed_precondition(format!(
                "the client speaks bridge protocol {} but this bridge speaks {}; use a ferry and ferry-bridge of the same release",
                request.protocol_version,
                i32::from(PROTOCOL_VERSION)
            )));
        }
        tracing::debug!(client = %request.client_version, "handshake");
        let description = self
            .handler
            .description()
            .map_err(|failure| Status::failed_precondition(failure.message.clone()))?;
        Ok(Response::new(pb::HandshakeResponse {
            protocol_version: PROTOCOL_VERSION.into(),
            language: description.language.into(),
            runtime_version: description.runtime_version.clone(),
            interfaces: description.interfaces.iter().map(|&interface| interface.into()).collect(),
            handler_digest: description.digest.clone(),
            bridge_version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }

    async fn invoke(
        &self,
        request: Request<pb::InvokeRequest>,
    ) -> Result<Response<pb::InvokeResponse>, Status> {
        let request = request.into_inner();
        let calls = request.calls.len();
        let outcomes = self.handler.invoke(request).await.map_err(|err| status_of(&err))?;
        if outcomes.len() != calls {
            return Err(Status::internal(format!(
                "the handler returned {} outcomes for {calls} calls",
                outcomes.len()
            )));
        }
        Ok(Response::new(pb::InvokeResponse { outcomes }))
    }
}

fn status_of(err: &HandlerError) -> Status {
    let message = err.to_string();
    match err {
        HandlerError::NotLoaded(_) => Status::failed_precondition(message),
        HandlerError::InvalidRequest(_) => Status::invalid_argument(message),
        HandlerError::NotImplemented(_) => Status::unimplemented(message),
        HandlerError::Unavailable(_) => Status::unavailable(message),
    }
}

/// Serves `handler` on `addr` until `shutdown` resolves, then finishes the
/// batches in flight. `on_ready` is called once the socket is bound, with
/// the bound address (the real port when 0 was asked for).
pub async fn serve(
    handler: Arc<dyn Handler>,
    addr: ListenAddr,
    token: Option<String>,
    on_ready: impl FnOnce(&ListenAddr),
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    let status = if handler.description().is_ok() {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    health.set_service_status(BRIDGE_SERVICE_NAME, status).await;
    let service = BridgeService::new(handler).into_server();
    let auth = TokenCheck { token: token.clone() };
    let router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(tonic::service::interceptor::InterceptedService::new(service, auth));
    let bind_error = |source| ServeError::Bind { addr: addr.clone(), source };
    match &addr {
        ListenAddr::Unix(path) => {
            remove_stale_socket(path).await.map_err(bind_error)?;
            let listener = tokio::net::UnixListener::bind(path).map_err(bind_error)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(bind_error)?;
            on_ready(&addr);
            router
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
                .await?;
            let _ = std::fs::remove_file(path);
        }
        ListenAddr::Tcp(socket) => {
            if !socket.ip().is_loopback() && token.is_none() {
                return Err(ServeError::TokenRequired(addr.clone()));
            }
            let listener = tokio::net::TcpListener::bind(socket).await.map_err(bind_error)?;
            let bound = ListenAddr::Tcp(listener.local_addr().map_err(bind_error)?);
            on_ready(&bound);
            router
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
                .await?;
        }
    }
    Ok(())
}

/// Clears the way for binding at `path`: a socket left by a bridge that
/// died is removed, but a socket someone still listens on, or any other
/// kind of file, is left alone and reported.
async fn remove_stale_socket(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    if !metadata.file_type().is_socket() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "the path exists and is not a socket",
        ));
    }
    if tokio::net::UnixStream::connect(path).await.is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "another process is listening on this socket",
        ));
    }
    std::fs::remove_file(path)
}

/// Requires `authorization: Bearer TOKEN` when the bridge has a token.
#[derive(Clone)]
struct TokenCheck {
    token: Option<String>,
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(token) = &self.token else { return Ok(request) };
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if presented == Some(token.as_str()) {
            Ok(request)
        } else {
            Err(Status::unauthenticated("missing or wrong bridge token"))
        }
    }
}
