//! Stateful Rust parsers, linked into their own `ferry` binary:
//!
//! - [`messages::MessageParser`], a `SingleFileStateMachineParser` for a
//!   file of messages, each a header line followed by a body whose length
//!   the header gives (`dataset.json`);
//! - [`orders::OrdersWithItems`], a `MultipleFileStateMachineReader` that
//!   joins each order of one file with its items from another
//!   (`orders-dataset.json`).
//!
//! The binary (`src/main.rs`) is the whole `ferry` command line with both
//! registered; a dataset's `readerType` picks which one reads it.

pub mod messages;
pub mod orders;

use ferry_bridge::host::rust::RustHandlers;

/// Both readers, registered under this crate's name and version.
pub fn handlers() -> RustHandlers {
    RustHandlers::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
        .single_file_state_machine_parser(messages::MessageParser)
        .multiple_file_state_machine_reader(orders::OrdersWithItems)
}
