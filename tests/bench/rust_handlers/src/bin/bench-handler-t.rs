//! Benchmark handler T: no JSON parsing. The document is
//! `{"documentId": line[-18:-2], "len": len(line)}`, where line is the
//! record without its newline (the id is always the last field).

use std::process::ExitCode;

use ferry_bench_handlers::{document, main_with};
use ferry_bridge::host::rust::HandlerFailure;

fn main() -> ExitCode {
    main_with(|line: &str| {
        let id = line
            .len()
            .checked_sub(18)
            .and_then(|start| line.get(start..line.len() - 2))
            .ok_or_else(|| HandlerFailure::new("ValueError", "line too short for an id"))?;
        Ok(document(id).with_value("len", line.chars().count()))
    })
}
