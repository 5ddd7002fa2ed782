//! `ferry datasets ...` and `ferry tasks list` after a run.

use ferry_e2e_tests::expect::total_progress;
use ferry_e2e_tests::python_logs::{self, DATASET};
use ferry_e2e_tests::runs::completed_views;
use ferry_e2e_tests::workspace::Workspace;
use serde_json::{Value, json};

#[test]
fn store_views() {
    let workspace = Workspace::new();
    let expected = python_logs::set_up(&workspace, 300);
    workspace.run().expect_code(0);

    // Every task COMPLETED, with its exact counters, its checkpoint at the
    // end of its (decompressed) input and its output file's length.
    let tasks = workspace.tasks(DATASET);
    assert_eq!(tasks, completed_views(&workspace, &expected));

    // The dataset: COMPLETED, the same counters in total, its config.
    let total = total_progress(&expected);
    let view = workspace.ferry(&["datasets", "view", DATASET, "--json"]);
    view.expect_code(0);
    let view = view.json();
    assert_eq!(view["name"], DATASET);
    assert_eq!(view["state"], "COMPLETED");
    assert_eq!(view["tasks"], json!({ "total": 3, "byState": { "COMPLETED": 3 } }));
    assert_eq!(
        view["progress"],
        json!({ "processed": total.processed, "errored": total.errored, "skipped": total.skipped })
    );
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(workspace.path("dataset.json")).expect("read the dataset file"))
            .expect("the dataset file is JSON");
    assert_eq!(view["config"], config);

    let listed = workspace.ferry(&["datasets", "list", "--json"]);
    listed.expect_code(0);
    let listed = listed.json();
    let names: Vec<(&str, &str)> = listed
        .as_array()
        .expect("an array")
        .iter()
        .map(|dataset| (dataset["name"].as_str().unwrap_or_default(), dataset["state"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(names, [(DATASET, "COMPLETED")]);

    // The tables for people name the same things.
    let table = workspace.ferry(&["tasks", "list", DATASET]);
    table.expect_code(0);
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(rows.len(), 4, "a header and three tasks:\n{}", table.stdout);
    assert!(rows[0].starts_with("TASK"), "{}", table.stdout);
    for (row, task) in rows[1..].iter().zip(&expected) {
        let cells: Vec<&str> = row.split_whitespace().collect();
        let progress = task.progress();
        assert_eq!(
            cells,
            [
                task.task.as_str(),
                "COMPLETED",
                &progress.processed.to_string(),
                &progress.errored.to_string(),
                &progress.skipped.to_string(),
                &task.len().to_string(),
                "-",
            ],
            "{}",
            table.stdout
        );
    }
    let human = workspace.ferry(&["datasets", "view", DATASET]);
    human
        .expect_code(0)
        .expect_stdout_line(&format!("dataset   {DATASET}"))
        .expect_stdout_line("state     COMPLETED")
        .expect_stdout_line("tasks     3 (3 COMPLETED)")
        .expect_stdout_line(&format!(
            "records   {}: {} documents, {} errors, {} skipped",
            total.records(),
            total.processed,
            total.errored,
            total.skipped
        ));
    let list = workspace.ferry(&["datasets", "list"]);
    list.expect_code(0);
    assert!(list.stdout.lines().any(|line| line.starts_with(DATASET) && line.contains("COMPLETED")), "{}", list.stdout);

    // A dataset the store does not know: exit 1, said plainly.
    for args in [
        &["datasets", "view", "no-such-dataset"][..],
        &["datasets", "view", "no-such-dataset", "--json"],
        &["tasks", "list", "no-such-dataset"],
        &["tasks", "list", "no-such-dataset", "--json"],
    ] {
        let unknown = workspace.ferry(args);
        unknown.expect_code(1);
        assert_eq!(unknown.stderr.trim_end(), "error: no dataset named no-such-dataset in this store", "{args:?}");
        assert_eq!(unknown.stdout, "", "{args:?}");
    }
}
