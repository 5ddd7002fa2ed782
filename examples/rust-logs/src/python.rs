//! The few Python behaviours `handler.py` relies on, so that this port
//! writes byte for byte what the Python handler writes, error messages
//! included. A Rust handler of your own needs none of this: use
//! `std::str::from_utf8`, `str::trim` and `serde_json::from_slice` and
//! let their errors through with `?`.
//!
//! What stays different from Python, on lines the example's generator
//! never writes:
//! - `NaN`, `Infinity`, numbers beyond f64's range and `\u` escapes of
//!   lone surrogates are valid to Python's `json` but not to serde_json:
//!   such a line fails with a `JsonError` instead of becoming a document.
//!   So does nesting deeper than 128 levels.
//! - Integers beyond 64 bits become floats, `-0` becomes `-0.0`, and
//!   floats with more digits than an f64 holds may round differently in
//!   the last digit.
//! - An `id` or `host` that is not a string is written as a JSON string:
//!   ferry's Rust document model types them as strings, as LetsData's
//!   Java model does.

use ferry_bridge::host::rust::HandlerFailure;
use serde_json::{Map, Value};

/// `bytes.decode("utf-8")`, failing as Python's `UnicodeDecodeError`.
pub fn decode_utf8(bytes: &[u8]) -> Result<&str, HandlerFailure> {
    std::str::from_utf8(bytes).map_err(|err| {
        let start = err.valid_up_to();
        let (length, reason) = match err.error_len() {
            None => (bytes.len() - start, "unexpected end of data"),
            Some(1) if !(0xc2..=0xf4).contains(&bytes[start]) => (1, "invalid start byte"),
            Some(length) => (length, "invalid continuation byte"),
        };
        let what = if length == 1 {
            format!("byte 0x{:02x} in position {start}", bytes[start])
        } else {
            format!("bytes in position {start}-{}", start + length - 1)
        };
        HandlerFailure::new("UnicodeDecodeError", format!("'utf-8' codec can't decode {what}: {reason}"))
    })
}

/// `str.strip()`: Python's whitespace is Rust's plus the four ASCII
/// separators U+001C..U+001F.
pub fn strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Why `json.loads` failed.
#[derive(Debug)]
pub enum LoadError {
    /// `json.JSONDecodeError`, with Python's message.
    Decode(String),
    /// Anything else: text Python reads that serde_json cannot hold (see
    /// the module docs), or nesting too deep for Python.
    Other(HandlerFailure),
}

/// `json.loads(text)`.
pub fn json_loads(text: &str) -> Result<Value, LoadError> {
    serde_json::from_str(text).map_err(|err| match decode_error(text) {
        Ok(()) => LoadError::Other(err.into()),
        Err(Stop::Error(message, position)) => LoadError::Decode(decode_message(text, message, position)),
        Err(Stop::TooDeep(kind)) => LoadError::Other(HandlerFailure::new(
            "RecursionError",
            format!("maximum recursion depth exceeded while decoding a JSON {kind} from a unicode string"),
        )),
    })
}

/// `value.get(...)` on a JSON value: only a dict has it.
pub fn into_dict(value: Value) -> Result<Map<String, Value>, HandlerFailure> {
    match value {
        Value::Object(map) => Ok(map),
        other => {
            Err(HandlerFailure::new("AttributeError", format!("'{}' object has no attribute 'get'", type_name(&other))))
        }
    }
}

/// The Python type `json.loads` makes of a value.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(number) if number.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `JSONDecodeError.__str__`: the message, then where, counting
/// characters (not bytes) and lines from 1.
fn decode_message(text: &str, message: &str, position: usize) -> String {
    let before: Vec<char> = text.chars().take(position).collect();
    let line = before.iter().filter(|&&c| c == '\n').count() + 1;
    let column = match before.iter().rposition(|&c| c == '\n') {
        Some(newline) => position - newline,
        None => position + 1,
    };
    format!("{message}: line {line} column {column} (char {position})")
}

/// Python's scanner gives up at about this depth (its recursion limit).
const MAX_DEPTH: usize = 990;

/// Where CPython's json scanner stops on a document it refuses.
enum Stop {
    /// A `JSONDecodeError`, at a character position.
    Error(&'static str, usize),
    /// A `RecursionError` while decoding an "object" or an "array".
    TooDeep(&'static str),
}

/// Inside `scan_once`: `StopIteration(position)` ("Expecting value" at
/// the top) or a stop.
enum Fail {
    NoValue(usize),
    Stop(Stop),
}

impl From<Stop> for Fail {
    fn from(stop: Stop) -> Self {
        Fail::Stop(stop)
    }
}

/// Runs CPython 3.11's json decoder (`json.loads` with the C scanner) over
/// `text` without building anything: the first error it would raise.
fn decode_error(text: &str) -> Result<(), Stop> {
    let chars: Vec<char> = text.chars().collect();
    let scanner = Scanner { s: &chars };
    if chars.first() == Some(&'\u{feff}') {
        return Err(Stop::Error("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0));
    }
    let start = scanner.whitespace(0);
    let end = match scanner.value(start, 0) {
        Ok(end) => end,
        Err(Fail::NoValue(position)) => return Err(Stop::Error("Expecting value", position)),
        Err(Fail::Stop(stop)) => return Err(stop),
    };
    let end = scanner.whitespace(end);
    if end != chars.len() {
        return Err(Stop::Error("Extra data", end));
    }
    Ok(())
}

struct Scanner<'a> {
    s: &'a [char],
}

impl Scanner<'_> {
    fn at(&self, index: usize) -> Option<char> {
        self.s.get(index).copied()
    }

    fn is(&self, index: usize, c: char) -> bool {
        self.at(index) == Some(c)
    }

    fn is_digit(&self, index: usize) -> bool {
        self.at(index).is_some_and(|c| c.is_ascii_digit())
    }

    fn whitespace(&self, mut index: usize) -> usize {
        while matches!(self.at(index), Some(' ' | '\t' | '\n' | '\r')) {
            index += 1;
        }
        index
    }

    fn literal(&self, index: usize, word: &str) -> bool {
        word.chars().enumerate().all(|(offset, c)| self.is(index + offset, c))
    }

    /// `scan_once`: the end of the value starting at `index`.
    fn value(&self, index: usize, depth: usize) -> Result<usize, Fail> {
        let Some(first) = self.at(index) else { return Err(Fail::NoValue(index)) };
        match first {
            '"' => return Ok(self.string(index + 1)?),
            '{' => return self.object(index + 1, depth + 1),
            '[' => return self.array(index + 1, depth + 1),
            _ => {}
        }
        for word in ["null", "true", "false", "NaN", "Infinity", "-Infinity"] {
            if self.literal(index, word) {
                return Ok(index + word.chars().count());
            }
        }
        self.number(index)
    }

    /// `_match_number_unicode`.
    fn number(&self, start: usize) -> Result<usize, Fail> {
        let mut index = start;
        if self.is(index, '-') {
            index += 1;
        }
        match self.at(index) {
            Some('1'..='9') => {
                index += 1;
                while self.is_digit(index) {
                    index += 1;
                }
            }
            Some('0') => index += 1,
            _ => return Err(Fail::NoValue(start)),
        }
        if self.is(index, '.') && self.is_digit(index + 1) {
            index += 2;
            while self.is_digit(index) {
                index += 1;
            }
        }
        if matches!(self.at(index), Some('e' | 'E')) && index + 1 < self.s.len() {
            let exponent = index;
            index += 1;
            if matches!(self.at(index), Some('-' | '+')) && index + 1 < self.s.len() {
                index += 1;
            }
            while self.is_digit(index) {
                index += 1;
            }
            if !self.is_digit(index - 1) {
                index = exponent;
            }
        }
        Ok(index)
    }

    /// `scanstring_unicode`, from just after the opening quote: the index
    /// after the closing quote.
    fn string(&self, mut end: usize) -> Result<usize, Stop> {
        let begin = end - 1;
        let len = self.s.len();
        let unterminated = Stop::Error("Unterminated string starting at", begin);
        loop {
            let mut next = end;
            while let Some(c) = self.at(next) {
                if c == '"' || c == '\\' {
                    break;
                }
                if c <= '\u{1f}' {
                    return Err(Stop::Error("Invalid control character at", next));
                }
                next += 1;
            }
            let Some(terminator) = self.at(next) else { return Err(unterminated) };
            next += 1;
            if terminator == '"' {
                return Ok(next);
            }
            let Some(escape) = self.at(next) else { return Err(unterminated) };
            if escape != 'u' {
                end = next + 1;
                if !matches!(escape, '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') {
                    return Err(Stop::Error("Invalid \\escape", end - 2));
                }
                continue;
            }
            next += 1;
            end = next + 4;
            if end >= len {
                return Err(Stop::Error("Invalid \\uXXXX escape", next - 1));
            }
            let unit = self.hex4(next).ok_or(Stop::Error("Invalid \\uXXXX escape", end - 5))?;
            if (0xd800..=0xdbff).contains(&unit) && end + 6 < len && self.is(end, '\\') && self.is(end + 1, 'u') {
                let low = self.hex4(end + 2).ok_or(Stop::Error("Invalid \\uXXXX escape", end + 1))?;
                if (0xdc00..=0xdfff).contains(&low) {
                    end += 6;
                }
            }
        }
    }

    fn hex4(&self, index: usize) -> Option<u32> {
        (index..index + 4).try_fold(0, |value, at| Some(value * 16 + self.at(at)?.to_digit(16)?))
    }

    /// `_parse_object_unicode`, from just after `{`.
    fn object(&self, index: usize, depth: usize) -> Result<usize, Fail> {
        if depth > MAX_DEPTH {
            return Err(Stop::TooDeep("object").into());
        }
        let mut index = self.whitespace(index);
        if !self.is(index, '}') {
            loop {
                if !self.is(index, '"') {
                    return Err(Stop::Error("Expecting property name enclosed in double quotes", index).into());
                }
                index = self.whitespace(self.string(index + 1)?);
                if !self.is(index, ':') {
                    return Err(Stop::Error("Expecting ':' delimiter", index).into());
                }
                index = self.whitespace(self.value(self.whitespace(index + 1), depth)?);
                if self.is(index, '}') {
                    break;
                }
                if !self.is(index, ',') {
                    return Err(Stop::Error("Expecting ',' delimiter", index).into());
                }
                index = self.whitespace(index + 1);
            }
        }
        Ok(index + 1)
    }

    /// `_parse_array_unicode`, from just after `[`.
    fn array(&self, index: usize, depth: usize) -> Result<usize, Fail> {
        if depth > MAX_DEPTH {
            return Err(Stop::TooDeep("array").into());
        }
        let mut index = self.whitespace(index);
        if !self.is(index, ']') {
            loop {
                index = self.whitespace(self.value(index, depth)?);
                if self.is(index, ']') {
                    break;
                }
                if !self.is(index, ',') {
                    return Err(Stop::Error("Expecting ',' delimiter", index).into());
                }
                index = self.whitespace(index + 1);
            }
        }
        Ok(index + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_failure(text: &str) -> String {
        match json_loads(text) {
            Err(LoadError::Decode(message)) => message,
            other => format!("not a decode error: {other:?}"),
        }
    }

    /// Messages as CPython 3.11's `json.loads` words them.
    #[test]
    fn json_errors_read_as_python_writes_them() {
        let cases = [
            (
                r#"{"ts": 17000, "level": "INFO", "msg": "truncated"#,
                "Unterminated string starting at: line 1 column 39 (char 38)",
            ),
            ("", "Expecting value: line 1 column 1 (char 0)"),
            (r#"{"a" 1}"#, "Expecting ':' delimiter: line 1 column 6 (char 5)"),
            (r#"{"a": 1 "b": 2}"#, "Expecting ',' delimiter: line 1 column 9 (char 8)"),
            ("{'a': 1}", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
            (r#"{"a": 1,}"#, "Expecting property name enclosed in double quotes: line 1 column 9 (char 8)"),
            ("[1, 2", "Expecting ',' delimiter: line 1 column 6 (char 5)"),
            (r#"{"a": "x\q"}"#, "Invalid \\escape: line 1 column 9 (char 8)"),
            (r#"{"a": "\u12G4"}"#, "Invalid \\uXXXX escape: line 1 column 9 (char 8)"),
            ("{\"a\": \"tab\there\"}", "Invalid control character at: line 1 column 11 (char 10)"),
            (r#"{"é": 1} x"#, "Extra data: line 1 column 10 (char 9)"),
            ("\u{feff}{}", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"),
            (r#"{"a": tru}"#, "Expecting value: line 1 column 7 (char 6)"),
            ("[1.]", "Expecting ',' delimiter: line 1 column 3 (char 2)"),
            ("é\"", "Expecting value: line 1 column 1 (char 0)"),
            ("{\"a\":\n\"b\"\n,}", "Expecting property name enclosed in double quotes: line 3 column 2 (char 11)"),
        ];
        for (text, message) in cases {
            assert_eq!(decode_failure(text), message, "{text:?}");
        }
    }

    #[test]
    fn what_python_reads_and_serde_json_cannot_is_another_failure() {
        for text in ["[NaN]", r#"{"a": -Infinity}"#, "1e400", r#""\ud800""#] {
            assert!(
                matches!(json_loads(text), Err(LoadError::Other(ref failure)) if failure.error_type == "JsonError"),
                "{text:?}"
            );
        }
        let deep = "[".repeat(2000);
        assert!(
            matches!(json_loads(&deep), Err(LoadError::Other(ref failure)) if failure.error_type == "RecursionError")
        );
    }

    #[test]
    fn utf8_errors_read_as_python_writes_them() {
        let cases: [(&[u8], &str); 4] = [
            (b"\xff{}", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
            (b"{\"a\": \"\xc3\"}\n", "'utf-8' codec can't decode byte 0xc3 in position 7: invalid continuation byte"),
            (b"{}\xf0\x9f\x98", "'utf-8' codec can't decode bytes in position 2-4: unexpected end of data"),
            (
                b"\xe2\x82\xac\xed\xa0\x80",
                "'utf-8' codec can't decode byte 0xed in position 3: invalid continuation byte",
            ),
        ];
        for (bytes, message) in cases {
            assert_eq!(
                decode_utf8(bytes).map_err(|failure| (failure.error_type, failure.message)),
                Err(("UnicodeDecodeError".to_owned(), message.to_owned()))
            );
        }
    }

    #[test]
    fn strip_and_attribute_errors_follow_python() {
        assert_eq!(strip("\u{1c}\t x \u{3000}\u{85}"), "x");
        let failure = into_dict(serde_json::json!([1])).err().map(|failure| (failure.error_type, failure.message));
        assert_eq!(failure, Some(("AttributeError".to_owned(), "'list' object has no attribute 'get'".to_owned())));
        assert_eq!(type_name(&serde_json::json!(1.5)), "float");
        assert_eq!(type_name(&serde_json::json!(-3)), "int");
        assert_eq!(type_name(&Value::Null), "NoneType");
    }
}
