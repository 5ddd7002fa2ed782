//! The ferry task host: reads records, calls handlers through bridges,
//! writes documents and errors, and checkpoints progress.

pub mod config;
pub mod sources;
pub mod store;
