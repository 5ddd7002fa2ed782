//! Running a completed dataset again, and starting it over.

use std::collections::BTreeMap;
use std::time::SystemTime;

use ferry_e2e_tests::expect::{all_done, assert_errors, assert_outputs, total_progress};
use ferry_e2e_tests::python_logs::{self, DATASET};
use ferry_e2e_tests::workspace::Workspace;

/// Every file of the output and error directories with its contents and
/// modification time.
fn snapshot(workspace: &Workspace) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    let mut files = BTreeMap::new();
    for dir in ["output", "errors"] {
        for name in workspace.file_names(dir) {
            let path = workspace.path(dir).join(&name);
            let contents = std::fs::read(&path).expect("read");
            let modified = std::fs::metadata(&path).and_then(|meta| meta.modified()).expect("mtime");
            files.insert(format!("{dir}/{name}"), (contents, modified));
        }
    }
    files
}

#[test]
fn completed_dataset_is_not_rerun() {
    let workspace = Workspace::new();
    let expected = python_logs::set_up(&workspace, 300);
    workspace.run().expect_code(0);
    let files = snapshot(&workspace);
    let tasks = workspace.tasks(DATASET);

    let again = workspace.run();
    again
        .expect_code(0)
        .expect_stdout_line("  tasks    3 of 3 complete (0 in this run, 3 before)")
        .expect_stdout_line(&total_progress(&expected).summary_line());
    assert!(again.stdout.starts_with("dataset python-logs: COMPLETED in "), "{}", again.stdout);
    assert!(again.stdout.contains("(0 records in this run)"), "{}", again.stdout);
    assert!(snapshot(&workspace) == files, "the second run touched the output or error files");
    assert_eq!(workspace.tasks(DATASET), tasks);
}

#[test]
fn restart_starts_over() {
    let workspace = Workspace::new();
    let expected = python_logs::set_up(&workspace, 300);
    workspace.run().expect_code(0);

    // Leave marks a run from scratch must remove: a stray document and a
    // stray error file.
    let output = workspace.path("output/logs-0001.jsonl.jsonl");
    let mut text = std::fs::read_to_string(&output).expect("read an output");
    text.push_str("{\"documentId\":\"stray\"}\n");
    workspace.write("output/logs-0001.jsonl.jsonl", text);
    workspace.write("errors/logs-0002.jsonl@00000000000000000001.json", "{}\n");

    let dataset = workspace.dataset_file();
    let restarted = workspace.ferry(&["run", &dataset, "--restart"]);
    let total = total_progress(&expected);
    restarted
        .expect_code(0)
        .expect_stdout_line("  tasks    3 of 3 complete (3 in this run, 0 before)")
        .expect_stdout_line(&total.summary_line());
    assert!(restarted.stdout.contains(&format!("({} records in this run)", total.records())), "{}", restarted.stdout);
    let done = all_done(&expected);
    assert_outputs(&workspace.path("output"), &done);
    assert_errors(&workspace.path("errors"), &done);
    // Counted once, not on top of the first run.
    let counted: Vec<_> = workspace.tasks(DATASET).iter().map(|task| (task.state.clone(), task.progress)).collect();
    let wanted: Vec<_> = expected.iter().map(|task| ("COMPLETED".to_owned(), task.progress())).collect();
    assert_eq!(counted, wanted);
}
