//! Tasks read by stateful Rust parsers: the Single File State Machine
//! Reader and the Multiple File State Machine Reader (see
//! `ferry_bridge::host::rust` for the parser interfaces).
//!
//! # Contract
//!
//! - **Sequential, in process.** A state machine's next record can only be
//!   cut once the last one is parsed, so a task's source cuts and parses
//!   its records one after the other on the blocking pool, calling the
//!   linked-in parser directly. It hands the pipeline batches of records
//!   already parsed ([`SourceItem::Handled`]); the pipeline routes them
//!   exactly as the outcomes of a `SingleFileParser`: Document to the
//!   sink, ErrorDoc and failures to the error folder, SkipDoc counted.
//!   Tasks of different files still run at the same time.
//! - **Failures.** A `parse_document` that fails or panics makes its
//!   record an error record; a retryable failure is tried again first, as
//!   the pipeline does. A hint or set-up call that fails ends the task
//!   with an error naming the call: without it the file cannot be read on.
//! - **Checkpoints.** A batch's checkpoint is the state after its last
//!   record: for each file its offset, last record type, next record type
//!   and last document, and for a multiple-file task the last document
//!   and the number of results so far (see [`checkpoint`]). A task resumed
//!   from one reads on exactly as the interrupted run would have. Error
//!   documents are keyed by record offset (single file) or result number
//!   (multiple files).
//!
//! [`SourceItem::Handled`]: crate::sources::SourceItem::Handled

pub mod checkpoint;
pub mod file_reader;
pub mod multiple;
pub mod single;

use std::sync::Arc;

use ferry_bridge::host::rust::StateMachines;
use ferry_proto::pb;

use crate::config::{DatasetConfig, FileReaderType, ManifestEntry, ReadConnector};
use crate::sources::{SourceError, TaskUnit};

pub use multiple::MultipleFileStateMachineUnit;
pub use single::SingleFileStateMachineUnit;

/// The dataset reads with a state machine reader this binary does not
/// have. The user's fault (the binary run, or the dataset's `readerType`);
/// not retryable.
#[derive(Debug, thiserror::Error)]
#[error(
    "the dataset's readerType is the {reader}, and this ferry binary has no {interface} linked in: run the binary \
     of a handler crate that registers one with RustHandlers::{method} (see examples/rust-state-machine)"
)]
pub struct MissingStateMachine {
    reader: &'static str,
    interface: &'static str,
    method: &'static str,
}

/// A dataset's tasks, by id, in manifest order.
pub type TaskUnits = Vec<(String, Arc<dyn TaskUnit>)>;

/// Whether the dataset's tasks are read by a state machine reader, whose
/// parsers are called directly rather than through a bridge client.
pub fn reads(config: &DatasetConfig) -> bool {
    reader_type(config).is_some_and(|reader| reader != FileReaderType::SingleFile)
}

/// The dataset's tasks, by id in manifest order, when a state machine
/// reader reads them (`None` for the other readers), with the parser or
/// reader `machines` registered.
pub fn task_units(
    config: &DatasetConfig,
    machines: Option<&StateMachines>,
) -> Result<Option<TaskUnits>, MissingStateMachine> {
    let machines = machines.cloned().unwrap_or_default();
    let units = match reader_type(config) {
        None | Some(FileReaderType::SingleFile) => return Ok(None),
        Some(FileReaderType::SingleFileStateMachine) => {
            let parser = machines.single_file.ok_or(MissingStateMachine {
                reader: "Single File State Machine Reader",
                interface: "SingleFileStateMachineParser",
                method: "single_file_state_machine_parser",
            })?;
            let unit = |entry: &ManifestEntry| SingleFileStateMachineUnit {
                entry: entry.clone(),
                parser: Arc::clone(&parser),
            };
            config
                .manifest
                .iter()
                .map(|entry| (entry.name.clone(), Arc::new(unit(entry)) as Arc<dyn TaskUnit>))
                .collect()
        }
        Some(FileReaderType::MultipleFileStateMachine) => {
            let reader = machines.multiple_file.ok_or(MissingStateMachine {
                reader: "Multiple File State Machine Reader",
                interface: "MultipleFileStateMachineReader",
                method: "multiple_file_state_machine_reader",
            })?;
            let unit = |entry: &ManifestEntry| MultipleFileStateMachineUnit {
                entry: entry.clone(),
                reader: Arc::clone(&reader),
            };
            config
                .manifest
                .iter()
                .map(|entry| (entry.name.clone(), Arc::new(unit(entry)) as Arc<dyn TaskUnit>))
                .collect()
        }
    };
    Ok(Some(units))
}

fn reader_type(config: &DatasetConfig) -> Option<FileReaderType> {
    match &config.read {
        ReadConnector::File(read) => Some(read.reader),
        ReadConnector::Cloud(_) => None,
    }
}

/// The parse function's name, as outcomes and errors word it.
const PARSE_DOCUMENT: &str = "parseDocument";

/// The `function` of a state machine's opened source. Its records are
/// parsed in process and reach the pipeline already handled, so no call
/// to it is ever sent to a bridge.
fn function() -> pb::Function {
    pb::Function::SingleFileParserParseDocument
}

/// Runs `work` (reading, parsing) on the blocking pool.
async fn blocking<T: Send + 'static>(unit: &str, work: impl FnOnce() -> T + Send + 'static) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| SourceError::Io { path: unit.into(), source: std::io::Error::other(err) })
}

#[cfg(test)]
mod test_support {
    use std::sync::Arc;

    use ferry_bridge::host::rust::RustHandlers;
    use ferry_proto::pb;

    use crate::bridge_client::BridgeClient;
    use crate::sources::{OpenContext, RecordSource, SourceBatch, SourceItem};

    /// What opening a state machine's source gets: its handler is linked
    /// in, so the bridge client is never called.
    pub fn context() -> OpenContext {
        let bridge = BridgeClient::in_process(Arc::new(RustHandlers::new("state-machine-tests", "0")));
        OpenContext { bridge: bridge.expect("an in-process client"), read_bytes: Arc::default() }
    }

    /// An item as `KEY OUTCOME`: the flat JSON of a document, or an
    /// error's type and message.
    pub fn summary(item: &SourceItem) -> String {
        let SourceItem::Handled { origin, outcome, .. } = item else { return format!("not handled: {item:?}") };
        let outcome = match &outcome.result {
            Some(pb::outcome::Result::Parsed(parsed)) => {
                let document = parsed.document.as_ref().map(|doc| String::from_utf8_lossy(&doc.flat_json).into_owned());
                format!("{:?} {}", parsed.status(), document.unwrap_or_default())
            }
            Some(pb::outcome::Result::Error(error)) => format!("{} {}", error.error_type, error.message),
            other => format!("{other:?}"),
        };
        format!("{} {outcome}", origin.key)
    }

    /// Every batch to the end of the source.
    pub async fn drain(records: &mut Box<dyn RecordSource>, batch_size: usize) -> Vec<SourceBatch> {
        let mut batches = Vec::new();
        while let Some(batch) = records.next_batch(batch_size, 1 << 20).await.expect("a batch") {
            batches.push(batch);
        }
        batches
    }

    pub fn summaries(batches: &[SourceBatch]) -> Vec<String> {
        batches.iter().flat_map(|batch| batch.items.iter().map(summary)).collect()
    }
}
