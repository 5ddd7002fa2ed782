//! The LetsData handler interfaces, for Rust: the same methods as the
//! Java, Python and JS ones, in snake_case and with typed arguments.

use super::document::{ParseDocumentResult, RecordParseHint};
use super::failure::HandlerFailure;

/// Turns the records of a file into documents (LetsData
/// `SingleFileParser`).
///
/// ferry asks once per file for the file type, the resolved name and the
/// record hints, cuts the file into records with those hints, then calls
/// [`parse_document`](Self::parse_document) for each record, in file
/// order within a batch. Calls for different files (and batches of one
/// file) may run at the same time on different threads, hence `Sync`.
/// A panic in any method is caught and reported as a `Panic` failure of
/// that call.
pub trait SingleFileParser: Send + Sync + 'static {
    /// The file type this parser reads, e.g. `"WET"`; the key of the
    /// offset maps of error and skip documents.
    fn get_s3_file_type(&self) -> String;

    /// The name of the file to read for a manifest entry; by default the
    /// entry's own name.
    fn get_resolved_s3_file_name(&self, s3_file_type: &str, file_name: &str) -> String {
        let _ = s3_file_type;
        file_name.to_owned()
    }

    /// Where a record starts: at a pattern, or at an offset from where
    /// the previous record ended (0: right there).
    fn get_record_start_pattern(&self, s3_file_type: &str) -> RecordParseHint;

    /// Where a record ends: just after a pattern (which is part of the
    /// record), or after a length given as an offset.
    fn get_record_end_pattern(&self, s3_file_type: &str) -> RecordParseHint;

    /// Turns one record into a document. `offset_bytes` is the position of
    /// the record's first byte in the (decompressed) file; `record` holds
    /// the whole record, its end pattern included (LetsData's `byteArr`
    /// from `startIndex` 0 to `endIndex` = `record.len()`).
    ///
    /// An `Err` sends the record to the error folder with the failure's
    /// type and message; a retryable one is tried again first.
    fn parse_document(
        &self,
        s3_file_type: &str,
        s3_filename: &str,
        offset_bytes: u64,
        record: &[u8],
    ) -> Result<ParseDocumentResult, HandlerFailure>;
}
