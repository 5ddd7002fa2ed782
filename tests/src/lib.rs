//! Helpers shared by ferry's end-to-end tests (`tests/*.rs`).
//!
//! The tests run the real `ferry` and `ferry-bridge` binaries, built
//! beforehand with `cargo build --workspace --bins`, each test in a
//! temporary directory of its own holding the dataset file, the handler,
//! the data, the outputs and the task store. Expected outcomes are worked
//! out here, independently of ferry, from the input files.
//!
//! Every process a test starts is stopped by the time the test ends, and
//! every wait is bounded: a hung ferry fails the test instead of hanging it.
//! Nothing sleeps to synchronise: tests wait for process exits, pipe
//! closes, lines on stderr and handler "gates" (named pipes, see [`gate`]).

pub mod bucket;
pub mod conformance;
pub mod expect;
pub mod fault_proxy;
pub mod gate;
pub mod gated_lines;
pub mod moto;
pub mod process;
pub mod python_logs;
pub mod runs;
pub mod rust_logs;
pub mod rust_state_machine;
pub mod sink_runs;
pub mod streams;
pub mod table;
pub mod workspace;

use std::time::Duration;

/// How long any single wait of a test may take before the test fails.
/// Generous: a run here takes a second or two, but CI machines are busy.
pub const TIMEOUT: Duration = Duration::from_secs(120);
