//! The rust-logs example against python-logs: the same handler written in
//! Rust (linked into its own ferry binary, called in process) and in
//! Python (called through a bridge), over the same data. Their outputs
//! must be byte-identical, and their error folders must name the same
//! records; error messages are each language's own.

use ferry_e2e_tests::rust_logs::{self, assert_same_outputs, error_types, records_line, run_both};
use ferry_e2e_tests::workspace::Workspace;

#[test]
fn rust_logs_writes_what_python_logs_writes() {
    let workspace = Workspace::new();
    rust_logs::set_up(&workspace);
    rust_logs::generate(&workspace, 2000);

    let (python, rust) = run_both(&workspace);
    assert!(rust.stdout.starts_with("dataset rust-logs: COMPLETED in "), "{}", rust.stdout);
    assert_eq!(records_line(&rust), records_line(&python));
    rust.expect_stdout_line("  tasks    3 of 3 complete (3 in this run, 0 before)")
        .expect_stdout_line(&format!("  output   {}", workspace.path("rust-logs/output").display()))
        .expect_stdout_line(&format!("  errors   {}", workspace.path("rust-logs/errors").display()));

    assert_same_outputs(&workspace, "rust-logs");
    // On generated data the two fail the same records the same way.
    let expected = error_types(&workspace, "python-logs");
    assert!(expected.iter().any(|(_, kind)| kind == "KeyError"), "the data has a line without an id");
    assert!(expected.iter().any(|(_, kind)| kind == "ErrorDoc"), "the data has malformed lines");
    assert_eq!(error_types(&workspace, "rust-logs"), expected);
}

/// Lines chosen to reach every branch of the handler, and JSON values of
/// every kind, which both must write back identically.
const EDGE_CASES: &[&[u8]] = &[
    br#"{"ts": 1, "level": "INFO", "host": "h1", "msg": "plain", "id": "a1"}"#,
    // Not JSON: each of Python's messages.
    br#"{"ts": 1, "level": "INFO""#,
    br#"{'id': 'x'}"#,
    br#"{"id": "x",}"#,
    br#"{"a": "x\q"}"#,
    br#"{"a": "\u12G4"}"#,
    b"{\"a\": \"tab\there\"}",
    "{\"é\": 1} trailing".as_bytes(),
    "\u{feff}{\"id\": \"bom\"}".as_bytes(),
    b"",
    b"   ",
    b"[1, 2",
    br#"{"a": tru}"#,
    // Not UTF-8.
    b"{\"id\": \"\xff\"}",
    b"{\"id\": \"\xe2\x82\"}",
    // JSON, but not an object.
    b"[1, 2]",
    br#""text""#,
    b"42",
    b"4.5",
    b"null",
    b"true",
    // Missing keys, reported in Python's order.
    br#"{"ts": 2, "level": "INFO", "msg": "no host", "id": "k1"}"#,
    br#"{"level": "INFO", "host": "h", "msg": "no ts", "id": "k2"}"#,
    br#"{"ts": 3, "host": "h", "msg": "no level", "id": "k3"}"#,
    br#"{"ts": 4, "level": "WARN", "host": "h", "id": "k4"}"#,
    br#"{"ts": 5, "msg": "no id, no host"}"#,
    // Skipped, with or without an id; a level that only looks like DEBUG.
    br#"{"level": "DEBUG"}"#,
    br#"{"level": "DEBUG", "id": "s1", "host": "h"}"#,
    br#"{"ts": 6, "level": "debug", "host": "h", "msg": "lowercase", "id": "d1"}"#,
    // Values of every JSON kind, written back as Python writes them.
    br#"{"ts": 1e5, "level": "INFO", "host": "h", "msg": "exponent", "id": "v1"}"#,
    br#"{"ts": -0.0, "level": "INFO", "host": "h", "msg": "negative zero", "id": "v2"}"#,
    br#"{"ts": 1E-7, "level": "INFO", "host": "h", "msg": "small", "id": "v3"}"#,
    br#"{"ts": 0.1, "level": "INFO", "host": "h", "msg": "tenth", "id": "v4"}"#,
    br#"{"ts": 18446744073709551615, "level": "INFO", "host": "h", "msg": "u64 max", "id": "v5"}"#,
    br#"{"ts": -9223372036854775808, "level": "INFO", "host": "h", "msg": "i64 min", "id": "v6"}"#,
    br#"{"ts": 7, "level": ["a", 1], "host": "h", "msg": {"k": [1, {"z": null}], "t": true}, "id": "v7"}"#,
    br#"{"ts": 8, "level": "INFO", "host": "h", "msg": "caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t \u0001 \u007f", "id": "v8"}"#,
    "{\"ts\": 9, \"level\": \"INFO\", \"host\": \"h\", \"msg\": \"日本語 é\", \"id\": \"v9\"}".as_bytes(),
    br#"{"ts": 10, "level": "INFO", "host": null, "msg": "null id and host", "id": null}"#,
    br#"{"id": "first", "ts": 11, "level": "INFO", "host": "h", "msg": "duplicate id", "id": "second"}"#,
    br#"{"msg": "keys out of order", "id": "o1", "extra": [1], "level": "WARN", "ts": 12, "host": "h"}"#,
    "  {\"ts\": 13, \"level\": \"INFO\", \"host\": \"h\", \"msg\": \"padded\", \"id\": \"p1\"}  \u{3000}".as_bytes(),
    b"{\"ts\": 14, \"level\": \"INFO\", \"host\": \"h\", \"msg\": \"crlf\", \"id\": \"c1\"}\r",
];

#[test]
fn rust_logs_matches_python_logs_on_edge_cases() {
    let workspace = Workspace::new();
    rust_logs::set_up(&workspace);
    let mut data = EDGE_CASES.join(&b'\n');
    // The last line has no newline and still counts.
    data.extend_from_slice(b"\n{\"ts\": 15, \"level\": \"INFO\", \"host\": \"h\", \"msg\": \"last\", \"id\": \"z1\"}");
    workspace.write("python-logs/data/logs-0001.jsonl", data);

    let (python, rust) = run_both(&workspace);
    assert_eq!(records_line(&rust), records_line(&python));
    assert_eq!(records_line(&rust), "  records  44: 17 documents, 25 errors, 2 skipped");
    assert_same_outputs(&workspace, "rust-logs");
    let names =
        |dataset: &str| -> Vec<String> { error_types(&workspace, dataset).into_iter().map(|(name, _)| name).collect() };
    assert_eq!(names("rust-logs"), names("python-logs"));
}
