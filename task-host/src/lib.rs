//! The ferry task host: reads records, calls handlers through bridges,
//! writes documents and errors, and checkpoints progress.
//!
//! The `ferry` binary is a thin wrapper over [`cli::main`].

pub mod aws;
pub mod bridge_client;
pub mod cli;
pub mod config;
pub mod error_sinks;
pub mod latency;
pub mod pipeline;
pub mod run;
pub mod sinks;
pub mod sources;
pub mod state_machine;
pub mod store;
