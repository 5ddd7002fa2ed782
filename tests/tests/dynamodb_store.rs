//! `ferry --store dynamodb://TABLE` against moto: the python-logs dataset
//! runs with its datasets, tasks and checkpoints in a DynamoDB table that
//! ferry creates, gives the same outputs as with the SQLite file, resumes
//! from the table, and leaves alone a task that another machine owns; a
//! killed run's tasks are taken over at once by the next run on the same
//! machine.

use std::os::unix::process::ExitStatusExt;

use ferry_e2e_tests::expect::{all_done, assert_errors, assert_outputs, total_progress};
use ferry_e2e_tests::gated_lines::{self, GateAt, Spec};
use ferry_e2e_tests::moto::Moto;
use ferry_e2e_tests::process::{Finished, Running, Signal, wait_until_gone};
use ferry_e2e_tests::python_logs::{self, DATASET};
use ferry_e2e_tests::runs::{completed_views, ferry_command};
use ferry_e2e_tests::workspace::{TaskView, Workspace, binaries};
use ferry_task_host::store::{DEFAULT_LEASE, DynamoDbTaskStore, TaskEnd, TaskStore};
use serde_json::Value;

const TABLE: &str = "ferry-tasks";

/// `ferry --store dynamodb://TABLE ARGS...` in `workspace`, pointed at
/// `moto`, with the bridge binary under test; started, not waited for.
fn spawn(moto: &Moto, workspace: &Workspace, args: &[&str]) -> Running {
    let mut command = ferry_command(workspace, &binaries().ferry, format!("dynamodb://{TABLE}"));
    command.args(args);
    moto.apply(&mut command);
    Running::start(command)
}

fn ferry(moto: &Moto, workspace: &Workspace, args: &[&str]) -> Finished {
    spawn(moto, workspace, args).wait()
}

fn run(moto: &Moto, workspace: &Workspace) -> Finished {
    ferry(moto, workspace, &["run", &workspace.dataset_file()])
}

fn tasks(moto: &Moto, workspace: &Workspace, dataset: &str) -> Vec<TaskView> {
    let listed = ferry(moto, workspace, &["tasks", "list", dataset, "--json"]);
    listed.expect_code(0);
    let Value::Array(tasks) = listed.json() else { panic!("tasks list --json printed no array:\n{}", listed.stdout) };
    tasks.iter().map(TaskView::from_json).collect()
}

/// The store in the table, as another machine running the dataset sees it.
fn other_machine(runtime: &tokio::runtime::Runtime, moto: &Moto) -> DynamoDbTaskStore {
    runtime.block_on(async {
        let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
        DynamoDbTaskStore::open(client, TABLE, DEFAULT_LEASE).await.expect("open the table")
    })
}

#[test]
fn a_dataset_runs_and_resumes_with_its_tasks_in_a_dynamodb_table() {
    let moto = Moto::start();
    let workspace = Workspace::new();
    let expected = python_logs::set_up(&workspace, 300);

    let first = run(&moto, &workspace);
    first.expect_code(0);
    first
        .expect_stdout_line("  tasks    3 of 3 complete (3 in this run, 0 before)")
        .expect_stdout_line(&total_progress(&expected).summary_line());
    let done = all_done(&expected);
    assert_outputs(&workspace.path("output"), &done);
    assert_errors(&workspace.path("errors"), &done);
    for local_store in [".ferry", "store"] {
        assert!(!workspace.path(local_store).exists(), "no SQLite store is made: {local_store}");
    }

    assert_eq!(
        tasks(&moto, &workspace, DATASET),
        completed_views(&workspace, &expected),
        "the table holds every task's state, counters and checkpoint"
    );
    let listed = ferry(&moto, &workspace, &["datasets", "list", "--json"]);
    listed.expect_code(0);
    assert_eq!(listed.json()[0]["name"], DATASET);
    assert_eq!(listed.json()[0]["state"], "COMPLETED");

    let again = run(&moto, &workspace);
    again.expect_code(0);
    again.expect_stdout_line("  tasks    3 of 3 complete (0 in this run, 3 before)");
    assert_outputs(&workspace.path("output"), &done);
}

#[test]
fn a_task_another_machine_owns_is_left_to_it() {
    let moto = Moto::start();
    let workspace = Workspace::new();
    let expected = python_logs::set_up(&workspace, 200);
    run(&moto, &workspace).expect_code(0);

    // Another machine starts the second task again and holds a live
    // lease on it.
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let store = other_machine(&runtime, &moto);
    let taken = &expected[1].task;
    runtime.block_on(store.start_task(DATASET, taken, "another-machine")).expect("the other machine starts the task");

    // This run reports the task as not run by it, and leaves it alone.
    let refused = run(&moto, &workspace);
    assert!(refused.stdout.starts_with(&format!("dataset {DATASET}: PROCESSING in ")), "{}", refused.stdout);
    let reason = format!("task {taken} of dataset {DATASET} is owned by run another-machine");
    assert!(
        refused
            .stdout
            .lines()
            .any(|line| line.starts_with(&format!("  task {taken} failed: ")) && line.contains(&reason)),
        "{}",
        refused.stdout
    );
    let held = tasks(&moto, &workspace, DATASET);
    assert_eq!(held[1].state, "PROCESSING", "the other machine's task is untouched");
    assert_eq!(held[1].progress, expected[1].progress());
    assert_eq!(held.iter().filter(|task| task.state == "COMPLETED").count(), 2);

    // Once the other machine lets go, the next run finishes the task from
    // its checkpoint: nothing is read or written twice.
    runtime
        .block_on(store.finish_task(DATASET, taken, "another-machine", &TaskEnd::Interrupted))
        .expect("the other machine stops");
    let resumed = run(&moto, &workspace);
    resumed.expect_code(0);
    resumed.expect_stdout_line("  tasks    3 of 3 complete (1 in this run, 2 before)");
    assert_outputs(&workspace.path("output"), &all_done(&expected));
    assert_eq!(tasks(&moto, &workspace, DATASET)[1].progress, expected[1].progress());
}

#[test]
fn a_killed_runs_tasks_go_on_at_once_in_the_next_run() {
    let moto = Moto::start();
    let workspace = Workspace::new();
    let (expected, gates) = gated_lines::set_up(
        &workspace,
        &Spec {
            files: &[("a.jsonl", 300), ("b.jsonl", 900)],
            concurrency: 1,
            checkpoint_interval_ms: 100,
            gates: &[GateAt { name: "kill", file: "b.jsonl", seq: 600 }],
        },
    );

    // Killed while b is part way: b stays owned by the dead run, whose
    // lease (a minute) has not run out when the next run starts.
    let mut killed = spawn(&moto, &workspace, &["run", &workspace.dataset_file()]);
    killed.wait_at(&gates[0]);
    let bridges = killed.children_named("ferry-bridge");
    killed.signal(Signal::KILL);
    for bridge in bridges {
        wait_until_gone(bridge, "the bridge of the killed ferry");
    }
    assert_eq!(killed.wait().status.signal(), Some(9));
    let states: Vec<String> =
        tasks(&moto, &workspace, gated_lines::DATASET).into_iter().map(|task| task.state).collect();
    assert_eq!(states, ["COMPLETED", "PROCESSING"]);

    let resumed = run(&moto, &workspace);
    resumed.expect_code(0).expect_stdout_line("  tasks    2 of 2 complete (1 in this run, 1 before)");
    let done = all_done(&expected);
    assert_outputs(&workspace.path("output"), &done);
    assert_errors(&workspace.path("errors"), &done);
    assert!(gates[0].has_fired());
}
