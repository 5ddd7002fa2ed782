//! A Rust handler's failure for one record: the counterpart of an
//! exception in the Python and JS hosts. It becomes a `UserError` outcome
//! (type, message, traceback, retryable) and the record goes to the error
//! folder; the run goes on.

use std::error::Error;
use std::fmt;

/// Why a handler call failed for its record.
///
/// `?` works on the common error types through the `From` impls below,
/// each naming its `error_type`; anything else goes through
/// [`HandlerFailure::new`] or [`HandlerFailure::from_error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerFailure {
    /// A short name for the kind of failure, like an exception's class
    /// (`JsonError`, `KeyError`, ...). Error files and counters show it.
    pub error_type: String,
    pub message: String,
    /// Further detail, such as the chain of causes; may be empty.
    pub traceback: String,
    /// True when the failure is transient and calling again may succeed:
    /// ferry then retries the record a few times before giving up.
    pub retryable: bool,
}

impl HandlerFailure {
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self { error_type: error_type.into(), message: message.into(), traceback: String::new(), retryable: false }
    }

    /// A failure named `error_type` whose message is `error`'s and whose
    /// traceback lists its causes, one `caused by: ...` line each.
    pub fn from_error(error_type: impl Into<String>, error: &(dyn Error + 'static)) -> Self {
        let mut traceback = String::new();
        let mut source = error.source();
        while let Some(cause) = source {
            if !traceback.is_empty() {
                traceback.push('\n');
            }
            traceback.push_str("caused by: ");
            traceback.push_str(&cause.to_string());
            source = cause.source();
        }
        Self { traceback, ..Self::new(error_type, error.to_string()) }
    }

    /// A required key is absent: `KeyError` with the key quoted as
    /// Python's `KeyError` shows it (`'id'`), so a port of a Python
    /// handler reports missing keys the same way.
    pub fn missing_key(key: &str) -> Self {
        Self::new("KeyError", python_repr(key))
    }

    /// Marks the failure as transient, so ferry calls again.
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    pub fn with_traceback(mut self, traceback: impl Into<String>) -> Self {
        self.traceback = traceback.into();
        self
    }
}

impl fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl Error for HandlerFailure {}

impl From<serde_json::Error> for HandlerFailure {
    fn from(err: serde_json::Error) -> Self {
        Self::new("JsonError", err.to_string())
    }
}

impl From<std::io::Error> for HandlerFailure {
    fn from(err: std::io::Error) -> Self {
        Self::from_error("IoError", &err)
    }
}

impl From<std::str::Utf8Error> for HandlerFailure {
    fn from(err: std::str::Utf8Error) -> Self {
        Self::new("Utf8Error", err.to_string())
    }
}

impl From<std::string::FromUtf8Error> for HandlerFailure {
    fn from(err: std::string::FromUtf8Error) -> Self {
        Self::new("Utf8Error", err.utf8_error().to_string())
    }
}

impl From<std::num::ParseIntError> for HandlerFailure {
    fn from(err: std::num::ParseIntError) -> Self {
        Self::new("ParseIntError", err.to_string())
    }
}

impl From<std::num::ParseFloatError> for HandlerFailure {
    fn from(err: std::num::ParseFloatError) -> Self {
        Self::new("ParseFloatError", err.to_string())
    }
}

impl From<anyhow::Error> for HandlerFailure {
    fn from(err: anyhow::Error) -> Self {
        let mut failure = Self::from_error("Error", err.as_ref());
        failure.message = err.to_string();
        failure
    }
}

impl From<String> for HandlerFailure {
    fn from(message: String) -> Self {
        Self::new("Error", message)
    }
}

impl From<&str> for HandlerFailure {
    fn from(message: &str) -> Self {
        Self::new("Error", message)
    }
}

/// `repr()` of a Python str: single quotes unless the text holds a single
/// quote and no double quote; backslashes, the chosen quote and control
/// characters escaped.
fn python_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<serde_json::Value, HandlerFailure> {
        Ok(serde_json::from_str(text)?)
    }

    #[test]
    fn question_mark_turns_common_errors_into_named_failures() {
        let failure = parse("{").err();
        assert_eq!(
            failure.map(|failure| (failure.error_type, failure.message, failure.retryable)),
            Some(("JsonError".to_owned(), "EOF while parsing an object at line 1 column 1".to_owned(), false))
        );
        let number = || -> Result<u32, HandlerFailure> { Ok("x1".parse::<u32>()?) };
        assert_eq!(number().err().map(|failure| failure.error_type), Some("ParseIntError".to_owned()));
        let text = || -> Result<String, HandlerFailure> { Ok(String::from_utf8(vec![0xff])?) };
        assert_eq!(
            text().err().map(|failure| (failure.error_type, failure.message)),
            Some(("Utf8Error".to_owned(), "invalid utf-8 sequence of 1 bytes from index 0".to_owned()))
        );
    }

    #[test]
    fn causes_become_the_traceback() {
        let err = anyhow::anyhow!("disk on fire").context("cannot read the lookup table");
        let failure = HandlerFailure::from(err);
        assert_eq!(failure.error_type, "Error");
        assert_eq!(failure.message, "cannot read the lookup table");
        assert_eq!(failure.traceback, "caused by: disk on fire");
    }

    #[test]
    fn missing_keys_read_like_python_key_errors() {
        assert_eq!(HandlerFailure::missing_key("id"), HandlerFailure::new("KeyError", "'id'"));
        assert_eq!(HandlerFailure::missing_key("it's").message, "\"it's\"");
        assert_eq!(HandlerFailure::missing_key("a'\"b\\").message, r#"'a\'"b\\'"#);
        assert_eq!(HandlerFailure::missing_key("tab\t").message, r"'tab\t'");
    }

    #[test]
    fn retryable_marks_the_failure_transient() {
        let failure = HandlerFailure::new("Throttled", "slow down").retryable();
        assert!(failure.retryable);
        assert_eq!(failure.to_string(), "Throttled: slow down");
    }
}
