//! The `ferry.bridge.v1` wire contract: generated prost messages and the
//! tonic client and server for the bridge service.
//!
//! Generated code lives here and nowhere else; other crates use it as
//! `ferry_proto::pb`.

/// Generated messages, enums, client and server of `ferry.bridge.v1`.
pub mod pb {
    #![allow(missing_debug_implementations, unused_qualifications, clippy::all)]
    tonic::include_proto!("ferry.bridge.v1");
}

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: pb::ProtocolVersion = pb::ProtocolVersion::ProtocolVersion1;

/// The fully qualified service name, as the gRPC health service reports it.
pub const BRIDGE_SERVICE_NAME: &str = "ferry.bridge.v1.Bridge";

/// Largest gRPC message either side accepts, in bytes. Batches are capped
/// well below this by the task host; the limit only stops a runaway peer.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
