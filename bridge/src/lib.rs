//! The ferry language bridge.
//!
//! A bridge loads one user handler into a language host (CPython through
//! pyo3 in this build) and serves it over gRPC, speaking `ferry.bridge.v1`.
//! The [`Handler`] trait is the seam: the gRPC server wraps any handler,
//! and the task host may also hold one in-process.

pub mod flat_json;
pub mod handler;
pub mod host;
pub mod listen;
pub mod server;

pub use handler::{Handler, HandlerDescription, HandlerError, LoadFailure};
pub use listen::ListenAddr;
