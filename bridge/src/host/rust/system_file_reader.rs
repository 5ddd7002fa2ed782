//! The file readers ferry hands to a [`MultipleFileStateMachineReader`]
//! (LetsData `SystemFileReader`), and the states they go through.
//!
//! A reader belongs to ferry: it cuts the next record of its file with the
//! hints its file type's [`SingleFileStateMachineParser`] gives for the
//! reader's state, has the parser turn it into a document, and moves the
//! state on. The user's reader only pulls documents from it.
//!
//! [`MultipleFileStateMachineReader`]: super::MultipleFileStateMachineReader
//! [`SingleFileStateMachineParser`]: super::SingleFileStateMachineParser

use std::fmt;

use super::document::{Document, DocumentType, ParseDocumentResult, ParseDocumentResultStatus};
use super::failure::HandlerFailure;
use super::outcome::INVALID_RESULT;

/// Where a file reader is in its life (LetsData `SingleFileReaderState`).
///
/// ```text
/// CREATED -> FILE_DOWNLOADED -> PROCESSING -> COMPLETED -> CLOSED
///    |                              ^    |                  ^
///    +------------------------------+    +------------------+
///    +--------------------------------------------------- CLOSED
/// ```
///
/// Staying in a state is allowed; CLOSED is final. ferry's readers are
/// CREATED until their file is open (FILE_DOWNLOADED: a local file needs
/// no download), PROCESSING from the first record asked for, COMPLETED
/// once the file has no record left, and CLOSED when the task is done
/// with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SingleFileReaderState {
    Created,
    FileDownloaded,
    Processing,
    Closed,
    Completed,
}

/// A move between reader states that the state diagram does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a file reader cannot go from {from} to {to}")]
pub struct InvalidTransition {
    pub from: SingleFileReaderState,
    pub to: SingleFileReaderState,
}

impl SingleFileReaderState {
    /// Whether a reader in this state may move to `next`.
    pub fn can_move_to(self, next: SingleFileReaderState) -> bool {
        use SingleFileReaderState::{Closed, Completed, Created, FileDownloaded, Processing};
        self == next
            || matches!(
                (self, next),
                (Created, FileDownloaded | Processing | Closed)
                    | (FileDownloaded, Processing)
                    | (Processing, Completed | Closed)
                    | (Completed, Closed)
            )
    }

    /// The state after moving to `next`, or why that move is not allowed.
    pub fn move_to(self, next: SingleFileReaderState) -> Result<SingleFileReaderState, InvalidTransition> {
        if self.can_move_to(next) { Ok(next) } else { Err(InvalidTransition { from: self, to: next }) }
    }

    /// The LetsData name: `CREATED`, `FILE_DOWNLOADED`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            SingleFileReaderState::Created => "CREATED",
            SingleFileReaderState::FileDownloaded => "FILE_DOWNLOADED",
            SingleFileReaderState::Processing => "PROCESSING",
            SingleFileReaderState::Closed => "CLOSED",
            SingleFileReaderState::Completed => "COMPLETED",
        }
    }
}

impl fmt::Display for SingleFileReaderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One file of a multiple-file task, read record by record (LetsData
/// `SystemFileReader`). Implemented by ferry.
pub trait SystemFileReader {
    /// The next record of the file as a document, or `None` once the file
    /// has no record left (the reader is then COMPLETED).
    ///
    /// With `peek` the record stays next: the following call returns the
    /// same document again, without reading or parsing it twice. Without
    /// it the record is consumed, and the reader's state (last record
    /// type, last document, offset) moves past it.
    ///
    /// The document is what the file type's parser returned, as an ErrorDoc
    /// or SkipDoc when its status was ERROR or SKIP. An `Err` says the
    /// record could not become one (the parser failed or panicked, the
    /// record is over ferry's size limit, the file cannot be read); the
    /// record is consumed all the same unless `peek` was given. Handing it
    /// on with `?` makes the whole call's result an error record.
    fn next_record(&mut self, peek: bool) -> Result<Option<Document>, HandlerFailure>;

    fn get_state(&self) -> SingleFileReaderState;

    /// Position in the (decompressed) file just after the last consumed
    /// record; where the file resumes from.
    fn get_offset_bytes(&self) -> u64;

    fn get_file_type(&self) -> &str;

    /// The file's name as the parser resolved it (`get_resolved_s3_file_name`).
    fn get_file_name(&self) -> &str;

    /// The record type of the last consumed record; `None` before the first.
    fn get_last_record_type(&self) -> Option<&str>;
}

/// The document [`SystemFileReader::next_record`] gives for a parse
/// result: the parser's document, typed by the result's status when that
/// status is ERROR or SKIP; an empty ErrorDoc or SkipDoc when there was
/// no document. SUCCESS without a document is not a valid result.
pub fn reader_document(result: ParseDocumentResult) -> Result<Document, HandlerFailure> {
    let ParseDocumentResult { document, status, .. } = result;
    let (document_type, empty) = match status {
        ParseDocumentResultStatus::Success => {
            return document.ok_or_else(|| {
                HandlerFailure::new(
                    INVALID_RESULT,
                    "parseDocument returned an invalid ParseDocumentResult: status is SUCCESS but there is no document",
                )
            });
        }
        ParseDocumentResultStatus::Error => (DocumentType::ErrorDoc, Document::error_doc("")),
        ParseDocumentResultStatus::Skip => (DocumentType::SkipDoc, Document::skip_doc("")),
    };
    let mut document = document.unwrap_or(empty);
    document.document_type = document_type;
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::SingleFileReaderState::{Closed, Completed, Created, FileDownloaded, Processing};
    use super::*;

    const ALL: [SingleFileReaderState; 5] = [Created, FileDownloaded, Processing, Closed, Completed];

    #[test]
    fn transitions_follow_the_letsdata_diagram() {
        let allowed: Vec<(SingleFileReaderState, SingleFileReaderState)> = ALL
            .iter()
            .flat_map(|&from| ALL.iter().map(move |&to| (from, to)))
            .filter(|&(from, to)| from != to && from.can_move_to(to))
            .collect();
        assert_eq!(
            allowed,
            [
                (Created, FileDownloaded),
                (Created, Processing),
                (Created, Closed),
                (FileDownloaded, Processing),
                (Processing, Closed),
                (Processing, Completed),
                (Completed, Closed),
            ]
        );
        assert!(ALL.iter().all(|&state| state.can_move_to(state)), "staying is allowed");
    }

    #[test]
    fn closed_is_final_and_refused_moves_say_which() {
        assert!(ALL.iter().filter(|&&to| to != Closed).all(|&to| !Closed.can_move_to(to)));
        assert_eq!(Processing.move_to(Completed), Ok(Completed));
        let refused = FileDownloaded.move_to(Completed);
        assert_eq!(refused, Err(InvalidTransition { from: FileDownloaded, to: Completed }));
        assert_eq!(
            refused.err().map(|err| err.to_string()).as_deref(),
            Some("a file reader cannot go from FILE_DOWNLOADED to COMPLETED")
        );
    }

    #[test]
    fn reader_documents_take_the_type_of_their_status() {
        let document = Document::new("o1", "Order");
        assert_eq!(reader_document(ParseDocumentResult::success(document.clone())), Ok(document.clone()));
        let skipped = reader_document(ParseDocumentResult::skip(document.clone()));
        assert_eq!(
            skipped.map(|doc| (doc.document_type, doc.document_id)),
            Ok((DocumentType::SkipDoc, Some("o1".to_owned())))
        );
        let bare = |status| reader_document(ParseDocumentResult::new(None, None, status));
        assert_eq!(bare(ParseDocumentResultStatus::Error), Ok(Document::error_doc("")));
        assert_eq!(bare(ParseDocumentResultStatus::Skip), Ok(Document::skip_doc("")));
        assert_eq!(
            bare(ParseDocumentResultStatus::Success).map_err(|failure| failure.error_type),
            Err(INVALID_RESULT.to_owned())
        );
    }
}
