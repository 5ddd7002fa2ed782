//! The python-logs example end to end: generated logs (one file gzipped)
//! through the example's handler, every outcome checked.

use ferry_e2e_tests::expect::{Outcome, all_done, assert_errors, assert_outputs, total_progress};
use ferry_e2e_tests::python_logs;
use ferry_e2e_tests::workspace::Workspace;
use serde_json::Value;

#[test]
fn python_logs_end_to_end() {
    let workspace = Workspace::new();
    let expected = python_logs::set_up(&workspace, 2000);

    // The generated data exercises every path: three files, the last one
    // gzipped, and every kind of outcome in each.
    let names: Vec<&str> = expected.iter().map(|task| task.task.as_str()).collect();
    assert_eq!(names, ["logs-0001.jsonl", "logs-0002.jsonl", "logs-0003.jsonl.gz"]);
    let gzipped = std::fs::read(workspace.path("data/logs-0003.jsonl.gz")).expect("read the gzip file");
    assert_eq!(gzipped[..2], [0x1f, 0x8b], "logs-0003.jsonl.gz is gzip");
    for task in &expected {
        let progress = task.progress();
        assert_eq!(progress.records(), 2000, "{}", task.task);
        assert!(progress.processed > 0 && progress.errored > 0 && progress.skipped > 0, "{}: {progress:?}", task.task);
        let kinds: Vec<&str> = task
            .records
            .iter()
            .filter_map(|record| match &record.outcome {
                Outcome::Error(error) => error.fields["errorType"].as_str(),
                _ => None,
            })
            .collect();
        assert!(kinds.contains(&"ErrorDoc") && kinds.contains(&"KeyError"), "{}: {kinds:?}", task.task);
    }

    let run = workspace.run();
    run.expect_code(0);
    let total = total_progress(&expected);
    assert_eq!(total.records(), 6000);
    let first = run.stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with("dataset python-logs: COMPLETED in "), "{}", run.stdout);
    run.expect_stdout_line("  tasks    3 of 3 complete (3 in this run, 0 before)")
        .expect_stdout_line(&total.summary_line())
        .expect_stdout_line(&format!("  output   {}", workspace.path("output").display()))
        .expect_stdout_line(&format!("  errors   {}", workspace.path("errors").display()));
    assert!(
        run.stdout.lines().any(|line| line.starts_with("  rate ") && line.ends_with("(6000 records in this run)")),
        "{}",
        run.stdout
    );

    // One output file per input file holding exactly the expected
    // documents, in record order; one error file per failed record.
    let done = all_done(&expected);
    assert_outputs(&workspace.path("output"), &done);
    assert_errors(&workspace.path("errors"), &done);

    // The byte form of one line, spelled out independently of serde.
    let output = std::fs::read_to_string(workspace.path("output/logs-0001.jsonl.jsonl")).expect("read the output");
    let first_line = output.lines().next().expect("a document");
    let record = expected[0]
        .records
        .iter()
        .find(|record| matches!(record.outcome, Outcome::Document(_)))
        .expect("a document record");
    let input = std::fs::read_to_string(workspace.path("data/logs-0001.jsonl")).expect("read the input");
    let offset = usize::try_from(record.offset).expect("a small offset");
    let source_line = input[offset..].lines().next().expect("the record's line");
    let entry: Value = serde_json::from_str(source_line).expect("the record is JSON");
    let text = |key: &str| entry[key].as_str().expect("a string").to_owned();
    assert_eq!(
        first_line,
        format!(
            r#"{{"documentId":"{}","recordType":"LogEntry","partitionKey":"{}","documentMetadata":{{"file":"logs-0001.jsonl","offset":{}}},"ts":{},"level":"{}","host":"{}","msg":"{}"}}"#,
            text("id"),
            text("host"),
            record.offset,
            entry["ts"],
            text("level"),
            text("host"),
            text("msg"),
        )
    );

    // The gzipped file's documents carry offsets into the decompressed
    // stream, which is what its checkpoint counts too.
    let tasks = workspace.tasks(python_logs::DATASET);
    let gz = tasks.iter().find(|task| task.task == "logs-0003.jsonl.gz").expect("the gzip task");
    assert_eq!(gz.checkpoint.map(|checkpoint| checkpoint.source), Some(expected[2].len()));
}
