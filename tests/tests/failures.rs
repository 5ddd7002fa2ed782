//! What ferry does with a bad dataset file, a handler that does not load
//! and a dataset file changed between runs.

use ferry_e2e_tests::expect::{all_done, assert_errors, assert_outputs, total_progress};
use ferry_e2e_tests::python_logs::{self, DATASET};
use ferry_e2e_tests::workspace::Workspace;
use serde_json::{Value, json};

fn read_dataset(workspace: &Workspace) -> Value {
    let text = std::fs::read_to_string(workspace.path("dataset.json")).expect("read dataset.json");
    serde_json::from_str(&text).expect("dataset.json is JSON")
}

#[test]
fn invalid_config_exits_2() {
    let workspace = Workspace::new();
    python_logs::set_up(&workspace, 10);
    let mut dataset = read_dataset(&workspace);
    dataset["computeEngine"]["batchSizee"] = json!(50);
    dataset["readConnector"]["artifactImplementationLanguage"] = json!("Cobol");
    workspace.write("dataset.json", format!("{dataset:#}"));

    let run = workspace.run();
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(format!("error: {}: invalid dataset configuration", workspace.dataset_file()).as_str()),
        "{}",
        run.stderr
    );
    let issue = |prefix: &str| {
        assert!(lines.iter().any(|line| line.starts_with(prefix)), "no line {prefix:?} in:\n{}", run.stderr);
    };
    issue("  - computeEngine.batchSizee: unknown field; expected one of: ");
    issue("  - readConnector.artifactImplementationLanguage: expected one of: Python");
    assert!(run.stderr.contains(r#"got "Cobol""#), "{}", run.stderr);

    // Refused before any work: no directories, no bridge, no dataset.
    assert!(!workspace.path("output").exists(), "output/ was created");
    assert!(!workspace.path("errors").exists(), "errors/ was created");
    assert_eq!(workspace.file_names("tmp"), Vec::<String>::new(), "no bridge socket directory");
    let listed = workspace.ferry(&["datasets", "list", "--json"]);
    assert_eq!(listed.expect_code(0).json(), json!([]));
}

#[test]
fn handler_import_failure() {
    let workspace = Workspace::new();
    let expected = python_logs::set_up(&workspace, 200);
    let handler = std::fs::read_to_string(workspace.path("handler.py")).expect("read handler.py");
    workspace.write("handler.py", handler.replace("def getS3FileType(self):", "def getS3FileType(self:"));

    let run = workspace.run();
    run.expect_code(1);
    let handler_path = workspace.path("handler.py");
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: the handler could not be loaded: ")
            && last.contains(&handler_path.display().to_string())
            && last.contains("SyntaxError"),
        "the last line names the handler and the SyntaxError:\n{}",
        run.stderr
    );

    // Nothing was processed and every task can still run.
    let tasks = workspace.tasks(DATASET);
    assert_eq!(tasks.len(), 3);
    for task in &tasks {
        assert_eq!((task.state.as_str(), task.progress.records()), ("CREATED", 0), "{task:?}");
        assert_eq!(task.checkpoint, None, "{task:?}");
    }
    assert_eq!(workspace.file_names("output"), Vec::<String>::new());
    assert_eq!(workspace.file_names("errors"), Vec::<String>::new());

    // Fixed, the same command runs everything.
    workspace.write("handler.py", handler);
    let fixed = workspace.run();
    fixed
        .expect_code(0)
        .expect_stdout_line("  tasks    3 of 3 complete (3 in this run, 0 before)")
        .expect_stdout_line(&total_progress(&expected).summary_line());
    let done = all_done(&expected);
    assert_outputs(&workspace.path("output"), &done);
    assert_errors(&workspace.path("errors"), &done);
}

#[test]
fn changed_config_is_refused() {
    let workspace = Workspace::new();
    let expected = python_logs::set_up(&workspace, 200);
    workspace.run().expect_code(0);
    let before = std::fs::read(workspace.path("output/logs-0001.jsonl.jsonl")).expect("read an output");

    let mut dataset = read_dataset(&workspace);
    dataset["computeEngine"]["batchSize"] = json!(100);
    workspace.write("dataset.json", format!("{dataset:#}"));
    let refused = workspace.run();
    refused.expect_code(1);
    assert_eq!(
        refused.stderr.trim_end(),
        format!(
            "error: dataset {DATASET} was started with a different configuration; run it with --restart \
             to start over, or give it a new datasetName"
        )
    );
    assert_eq!(std::fs::read(workspace.path("output/logs-0001.jsonl.jsonl")).expect("read"), before);

    // --restart takes the new configuration.
    let dataset = workspace.dataset_file();
    let restarted = workspace.ferry(&["run", &dataset, "--restart"]);
    restarted.expect_code(0).expect_stdout_line("  tasks    3 of 3 complete (3 in this run, 0 before)");
    let view = workspace.ferry(&["datasets", "view", DATASET, "--json"]);
    assert_eq!(view.expect_code(0).json()["config"]["computeEngine"]["batchSize"], 100);
    let done = all_done(&expected);
    assert_outputs(&workspace.path("output"), &done);
    assert_errors(&workspace.path("errors"), &done);
}
