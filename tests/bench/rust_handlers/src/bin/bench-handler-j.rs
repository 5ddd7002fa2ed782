//! Benchmark handler J: one JSON parse per record. The document is
//! `{"documentId": o["id"], "level": o["level"], "len": len(o["msg"])}`.

use std::process::ExitCode;

use ferry_bench_handlers::{document, main_with};
use ferry_bridge::host::rust::HandlerFailure;
use serde_json::Value;

fn main() -> ExitCode {
    main_with(|line: &str| {
        let object: Value =
            serde_json::from_str(line).map_err(|err| HandlerFailure::new("JSONDecodeError", err.to_string()))?;
        let field = |key: &str| object.get(key).ok_or_else(|| HandlerFailure::missing_key(key));
        let id = match field("id")? {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        };
        let level = field("level")?.clone();
        let msg = field("msg")?.as_str().ok_or_else(|| HandlerFailure::new("TypeError", "msg is not a string"))?;
        Ok(document(id).with_value("level", level).with_value("len", msg.chars().count()))
    })
}
