//! The benchmark handlers of `../shared/bench/README.md` in Rust: the
//! parts handlers T and J share. Each binary (`bench-handler-t`,
//! `bench-handler-j`) is the whole `ferry` command line with one of them
//! behind every dataset whose `artifactImplementationLanguage` is `Rust`.

use std::process::ExitCode;

use ferry_bridge::host::rust::{
    Document, HandlerFailure, ParseDocumentResult, RecordParseHint, RustHandlers, SingleFileParser,
};

/// One record is one line; `parse` gets it without its newline.
#[derive(Debug)]
pub struct LineParser<F>(pub F);

impl<F> SingleFileParser for LineParser<F>
where
    F: Fn(&str) -> Result<Document, HandlerFailure> + Send + Sync + 'static,
{
    fn get_s3_file_type(&self) -> String {
        "LOGS".to_owned()
    }

    fn get_record_start_pattern(&self, _s3_file_type: &str) -> RecordParseHint {
        RecordParseHint::from_offset(0)
    }

    fn get_record_end_pattern(&self, _s3_file_type: &str) -> RecordParseHint {
        RecordParseHint::from_pattern("\n")
    }

    fn parse_document(
        &self,
        _s3_file_type: &str,
        _s3_filename: &str,
        _offset_bytes: u64,
        record: &[u8],
    ) -> Result<ParseDocumentResult, HandlerFailure> {
        let line = std::str::from_utf8(record)?;
        let line = line.strip_suffix('\n').unwrap_or(line);
        (self.0)(line).map(ParseDocumentResult::success)
    }
}

/// A plain document with this id and no record type, partition key or
/// metadata, as the Python handlers make it.
pub fn document(document_id: impl Into<String>) -> Document {
    Document { document_id: Some(document_id.into()), ..Document::default() }
}

/// Runs the `ferry` command line with `parse` as the Rust handler.
pub fn main_with<F>(parse: F) -> ExitCode
where
    F: Fn(&str) -> Result<Document, HandlerFailure> + Send + Sync + 'static,
{
    let handlers =
        RustHandlers::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")).single_file_parser(LineParser(parse));
    ferry_task_host::cli::main_with(handlers)
}
