//! The `rust-state-machine` example's parsers behind gates, for tests that
//! stop a run at a known record (see `ferry_e2e_tests::gate`).
//!
//! `FERRY_TEST_GATE_DIR` is the gates' directory and `FERRY_TEST_GATES`
//! lists them as `NAME:FILE_TYPE:OFFSET,...`: parsing the record at OFFSET
//! of a FILE_TYPE file stops at gate NAME the first time. Everything else
//! is the example's code, linked into the `ferry` command line as the
//! example's own binary links it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use ferry_bridge::host::rust::{
    Document, HandlerFailure, MultipleFileStateMachineReader, ParseCompositeDocumentResult, ParseDocumentResult,
    RecordParseHint, RustHandlers, SingleFileStateMachineParser, SystemFileReaders,
};
use rust_state_machine::messages::MessageParser;
use rust_state_machine::orders::OrdersWithItems;

/// Where the gates stand.
#[derive(Debug, Clone, Default)]
struct Gates {
    dir: PathBuf,
    /// (name, file type, offset).
    at: Vec<(String, String, u64)>,
}

impl Gates {
    fn from_env() -> Self {
        let dir = std::env::var_os("FERRY_TEST_GATE_DIR").map(PathBuf::from).unwrap_or_default();
        let at = std::env::var("FERRY_TEST_GATES")
            .unwrap_or_default()
            .split(',')
            .filter(|gate| !gate.is_empty())
            .map(|gate| {
                let mut parts = gate.splitn(3, ':');
                let (name, file_type, offset) = (parts.next(), parts.next(), parts.next());
                let offset = offset.and_then(|offset| offset.parse().ok());
                match (name, file_type, offset) {
                    (Some(name), Some(file_type), Some(offset)) => (name.to_owned(), file_type.to_owned(), offset),
                    _ => panic!("FERRY_TEST_GATES: {gate:?} is not NAME:FILE_TYPE:OFFSET"),
                }
            })
            .collect();
        Self { dir, at }
    }

    /// Stops at the gate of this record, if it has one and has not fired.
    fn pass(&self, file_type: &str, offset: u64) {
        for (name, _, _) in self.at.iter().filter(|(_, gated, at)| gated == file_type && *at == offset) {
            wait_at_gate(&self.dir, name);
        }
    }
}

/// The gate protocol of `ferry_e2e_tests::gate`, from the handler's side.
fn wait_at_gate(dir: &Path, name: &str) {
    let marker = dir.join(format!("{name}.fired"));
    if marker.exists() {
        return;
    }
    File::create(&marker).expect("create the gate's marker");
    let mut reached = OpenOptions::new().write(true).open(dir.join(format!("{name}.reached"))).expect("open reached");
    reached.write_all(format!("{name}\n").as_bytes()).expect("write reached");
    drop(reached);
    let mut resume = File::open(dir.join(format!("{name}.resume"))).expect("open resume");
    resume.read_to_end(&mut Vec::new()).expect("read resume");
}

/// A parser that passes the gates before parsing.
struct Gated {
    parser: Arc<dyn SingleFileStateMachineParser>,
    gates: Arc<Gates>,
}

impl SingleFileStateMachineParser for Gated {
    fn get_s3_file_type(&self) -> String {
        self.parser.get_s3_file_type()
    }

    fn get_resolved_s3_file_name(&self, s3_file_type: &str, file_name: &str) -> String {
        self.parser.get_resolved_s3_file_name(s3_file_type, file_name)
    }

    fn get_next_expected_record_type(&self, s3_file_type: &str, last: Option<&str>) -> String {
        self.parser.get_next_expected_record_type(s3_file_type, last)
    }

    fn get_next_record_start_pattern(
        &self,
        s3_file_type: &str,
        next: &str,
        last: Option<&Document>,
    ) -> RecordParseHint {
        self.parser.get_next_record_start_pattern(s3_file_type, next, last)
    }

    fn get_next_record_end_pattern(&self, s3_file_type: &str, next: &str, last: Option<&Document>) -> RecordParseHint {
        self.parser.get_next_record_end_pattern(s3_file_type, next, last)
    }

    fn parse_document(
        &self,
        s3_file_type: &str,
        s3_filename: &str,
        offset_bytes: u64,
        last_processed_record_type: Option<&str>,
        last_processed_doc: Option<&Document>,
        record: &[u8],
    ) -> Result<ParseDocumentResult, HandlerFailure> {
        self.gates.pass(s3_file_type, offset_bytes);
        self.parser.parse_document(
            s3_file_type,
            s3_filename,
            offset_bytes,
            last_processed_record_type,
            last_processed_doc,
            record,
        )
    }
}

/// The example's reader, with its files' parsers gated.
struct GatedReader {
    reader: OrdersWithItems,
    gates: Arc<Gates>,
}

impl MultipleFileStateMachineReader for GatedReader {
    fn get_s3_file_types(&self) -> BTreeSet<String> {
        self.reader.get_s3_file_types()
    }

    fn get_parser_interfaces_for_s3_file_types(
        &self,
        s3_file_types: &BTreeSet<String>,
    ) -> BTreeMap<String, Arc<dyn SingleFileStateMachineParser>> {
        let gated = |parser: Arc<dyn SingleFileStateMachineParser>| -> Arc<dyn SingleFileStateMachineParser> {
            Arc::new(Gated { parser, gates: Arc::clone(&self.gates) })
        };
        let parsers = self.reader.get_parser_interfaces_for_s3_file_types(s3_file_types);
        parsers.into_iter().map(|(file_type, parser)| (file_type, gated(parser))).collect()
    }

    fn parse_document(
        &self,
        last_processed_record_types: &BTreeMap<String, String>,
        last_processed_doc: Option<&Document>,
        readers: &mut SystemFileReaders<'_>,
    ) -> Result<ParseCompositeDocumentResult, HandlerFailure> {
        self.reader.parse_document(last_processed_record_types, last_processed_doc, readers)
    }
}

fn main() -> ExitCode {
    let gates = Arc::new(Gates::from_env());
    let handlers = RustHandlers::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
        .single_file_state_machine_parser(Gated { parser: Arc::new(MessageParser), gates: Arc::clone(&gates) })
        .multiple_file_state_machine_reader(GatedReader { reader: OrdersWithItems, gates });
    ferry_task_host::cli::main_with(handlers)
}
