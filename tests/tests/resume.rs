//! Runs stopped part way (Ctrl-C, or killed outright) and run again: every
//! document lands exactly once and every failed record has one error file.
//!
//! The handler stops at a gate (a named pipe, see `gate`) on a chosen
//! record, so the test knows where the run is when it stops it, without
//! sleeping. Files are cut into batches of `BATCH_SIZE` records from the
//! start of the file (or the checkpoint a run resumes from), and a task
//! has at most `MAX_IN_FLIGHT` batches at the bridge at once.

use std::os::unix::process::ExitStatusExt;

use ferry_e2e_tests::expect::{
    ExpectedTask, Outcome, Progress, all_done, assert_errors, assert_outputs, total_progress,
};
use ferry_e2e_tests::gated_lines::{self, BATCH_SIZE, DATASET, GateAt, MAX_IN_FLIGHT_BATCHES as MAX_IN_FLIGHT, Spec};
use ferry_e2e_tests::process::{Signal, wait_until_gone};
use ferry_e2e_tests::python_logs;
use ferry_e2e_tests::runs::interrupt_at_gate;
use ferry_e2e_tests::workspace::{CheckpointView, TaskView, Workspace};

/// The position after record `seq`.
fn end_of(task: &ExpectedTask, seq: usize) -> u64 {
    task.records[seq].end
}

fn task<'a>(tasks: &'a [TaskView], name: &str) -> &'a TaskView {
    tasks.iter().find(|task| task.task == name).unwrap_or_else(|| panic!("no task {name} in {tasks:#?}"))
}

/// Checks a task stopped with a checkpoint on a record boundary between
/// `from` and `to`, with the counters of exactly the records before it and
/// an output file as long as the checkpoint says; returns the checkpoint.
#[track_caller]
fn assert_stopped_between(view: &TaskView, expected: &ExpectedTask, from: u64, to: u64) -> CheckpointView {
    let checkpoint = view.checkpoint.unwrap_or_else(|| panic!("{} has no checkpoint: {view:?}", view.task));
    assert!(
        (from..=to).contains(&checkpoint.source) && expected.is_boundary(checkpoint.source),
        "{}: checkpoint {} is not a record boundary in {from}..={to}",
        view.task,
        checkpoint.source
    );
    assert_eq!(view.progress, expected.progress_before(checkpoint.source), "{}: counters", view.task);
    checkpoint
}

/// The last run completed everything: exact outputs, errors and counters.
#[track_caller]
fn assert_all_done(workspace: &Workspace, expected: &[ExpectedTask]) {
    let done = all_done(expected);
    assert_outputs(&workspace.path("output"), &done);
    assert_errors(&workspace.path("errors"), &done);
    let tasks = workspace.tasks(DATASET);
    let states: Vec<(&str, &str, Progress)> =
        tasks.iter().map(|task| (task.task.as_str(), task.state.as_str(), task.progress)).collect();
    let wanted: Vec<(&str, &str, Progress)> =
        expected.iter().map(|task| (task.task.as_str(), "COMPLETED", task.progress())).collect();
    assert_eq!(states, wanted);
}

#[test]
fn interrupted_run_resumes_exactly_once() {
    let workspace = Workspace::new();
    // One task at a time: a completes, b (gzipped: resuming decompresses
    // and skips to the checkpoint) stops at its record 2000, c never starts.
    let (expected, gates) = gated_lines::set_up(
        &workspace,
        &Spec {
            files: &[("a.jsonl", 600), ("b.jsonl.gz", 6000), ("c.jsonl", 3000)],
            concurrency: 1,
            checkpoint_interval_ms: 100,
            gates: &[GateAt { name: "stop", file: "b.jsonl.gz", seq: 2000 }],
        },
    );
    let [a, b, c] = &expected[..] else { panic!("three tasks") };
    let dataset = workspace.dataset_file();

    let mut run = workspace.spawn(&["run", &dataset]);
    run.wait_at(&gates[0]);
    let first = interrupt_at_gate(run, &gates[0]);
    first
        .expect_code(130)
        .expect_stdout_line("  stopped early: run the same command again to resume")
        .expect_stdout_line("  tasks    1 of 3 complete (1 in this run, 0 before)");
    assert!(first.stdout.starts_with("dataset gated-lines: PROCESSING in "), "{}", first.stdout);

    let tasks = workspace.tasks(DATASET);
    let output_len = |task: &ExpectedTask| {
        std::fs::metadata(workspace.path("output").join(task.output_file())).map_or(0, |meta| meta.len())
    };
    assert_eq!(
        task(&tasks, "a.jsonl"),
        &TaskView {
            task: "a.jsonl".to_owned(),
            state: "COMPLETED".to_owned(),
            progress: a.progress(),
            checkpoint: Some(CheckpointView { source: a.len(), sink: output_len(a) }),
            last_error: None,
        }
    );
    // b's batch at the gate and those behind it finished and were
    // written; nothing was read after the stop.
    let view = task(&tasks, "b.jsonl.gz");
    assert_eq!(view.state, "PROCESSING");
    let stopped = assert_stopped_between(
        view,
        b,
        end_of(b, 2000 + BATCH_SIZE - 1),
        end_of(b, 2000 + MAX_IN_FLIGHT * BATCH_SIZE - 1),
    );
    assert_eq!(stopped.sink, output_len(b), "b's output file ends at its checkpoint");
    assert_eq!(
        task(&tasks, "c.jsonl"),
        &TaskView {
            task: "c.jsonl".to_owned(),
            state: "CREATED".to_owned(),
            progress: Progress::default(),
            checkpoint: None,
            last_error: None,
        }
    );
    let reached = vec![(a, Some(a.len())), (b, Some(stopped.source)), (c, None)];
    assert_outputs(&workspace.path("output"), &reached);
    assert_errors(&workspace.path("errors"), &reached);

    // The same command again finishes b from its checkpoint, then c.
    let second = workspace.run();
    let total = total_progress(&expected);
    let this_run = total.records() - a.progress().records() - view.progress.records();
    second
        .expect_code(0)
        .expect_stdout_line("  tasks    3 of 3 complete (2 in this run, 1 before)")
        .expect_stdout_line(&total.summary_line());
    assert!(
        second.stdout.contains(&format!("({this_run} records in this run)")),
        "{this_run} records in this run:\n{}",
        second.stdout
    );
    assert!(second.stdout.starts_with("dataset gated-lines: COMPLETED in "), "{}", second.stdout);
    assert_all_done(&workspace, &expected);
}

#[test]
fn killed_run_resumes_exactly_once() {
    let workspace = Workspace::new();
    // Checkpoints only when a task ends or is interrupted (the interval is
    // 10 minutes), so the kill is sure to leave documents and error files
    // written after b's last checkpoint. One task at a time, so that
    // nothing but b's batches before the gate can be being written when
    // ferry is killed (and those have no error files to write).
    let (expected, gates) = gated_lines::set_up(
        &workspace,
        &Spec {
            files: &[("a.jsonl", 600), ("b.jsonl", 6000), ("c.jsonl", 3000)],
            concurrency: 1,
            checkpoint_interval_ms: 600_000,
            gates: &[
                GateAt { name: "interrupt", file: "b.jsonl", seq: 1500 },
                GateAt { name: "kill", file: "b.jsonl", seq: 4500 },
            ],
        },
    );
    let b = &expected[1];
    let dataset = workspace.dataset_file();

    // First run: Ctrl-C at b's record 1500 leaves b a checkpoint part way.
    let mut run = workspace.spawn(&["run", &dataset]);
    run.wait_at(&gates[0]);
    interrupt_at_gate(run, &gates[0]).expect_code(130);
    let interrupted = workspace.tasks(DATASET);
    let view = task(&interrupted, "b.jsonl");
    let stopped = assert_stopped_between(
        view,
        b,
        end_of(b, 1500 + BATCH_SIZE - 1),
        end_of(b, 1500 + MAX_IN_FLIGHT * BATCH_SIZE - 1),
    );

    // Second run: killed while the handler holds b's record 4500.
    let mut run = workspace.spawn(&["run", &dataset]);
    run.wait_at(&gates[1]);
    let bridges = run.children_named("ferry-bridge");
    assert_eq!(bridges.len(), 1, "one bridge process: {bridges:?}");
    assert_eq!(
        task(&workspace.tasks(DATASET), "b.jsonl").checkpoint,
        Some(stopped),
        "b made no checkpoint since the first run"
    );
    run.signal(Signal::KILL);
    // The bridge notices its standard input close and exits by itself.
    wait_until_gone(bridges[0], "the bridge of the killed ferry");
    let killed = run.wait();
    assert_eq!(killed.status.signal(), Some(9), "{killed:?}");
    let output = workspace.path("output").join(b.output_file());
    let written = std::fs::metadata(&output).expect("b's output").len();
    assert!(
        written > stopped.sink,
        "the kill left no documents after b's checkpoint ({written} bytes written, checkpoint at {}): the \
         premise of this test, that the sink's write buffer spills to disk between checkpoints, no longer \
         holds; make the documents bigger",
        stopped.sink
    );
    let errors_after = workspace
        .file_names("errors")
        .into_iter()
        .filter(|name| {
            name.strip_prefix("b.jsonl@")
                .and_then(|rest| rest.strip_suffix(".json"))
                .and_then(|offset| offset.parse::<u64>().ok())
                .is_some_and(|offset| offset >= stopped.source)
        })
        .count();
    assert!(errors_after > 0, "the kill left error files after b's checkpoint");
    let states: Vec<(String, String)> =
        workspace.tasks(DATASET).into_iter().map(|task| (task.task, task.state)).collect();
    let wanted = [("a.jsonl", "COMPLETED"), ("b.jsonl", "PROCESSING"), ("c.jsonl", "CREATED")]
        .map(|(task, state)| (task.to_owned(), state.to_owned()));
    assert_eq!(states, wanted);

    // Third run: everything, once.
    let third = workspace.run();
    third
        .expect_code(0)
        .expect_stdout_line("  tasks    3 of 3 complete (2 in this run, 1 before)")
        .expect_stdout_line(&total_progress(&expected).summary_line());
    assert!(gates.iter().all(|gate| gate.has_fired()));
    assert_all_done(&workspace, &expected);
}

#[test]
fn a_crash_while_writing_an_error_file_leaves_nothing_behind() {
    let workspace = Workspace::new();
    let expected = python_logs::set_up(&workspace, 200);
    // What a kill between creating an error file's temporary and renaming
    // it leaves, for a record that succeeds when redone (say the handler
    // was fixed in between). The task has no checkpoint, so its next run
    // redoes everything.
    let task = &expected[0];
    let succeeds =
        task.records.iter().find(|record| matches!(record.outcome, Outcome::Document(_))).expect("a document record");
    let leftover = format!("errors/.{}.tmp", task.error_file(succeeds.offset));
    workspace.write(&leftover, "{\n  \"dataset\": \"python-lo");

    workspace.run().expect_code(0);
    let done = all_done(&expected);
    assert_outputs(&workspace.path("output"), &done);
    assert_errors(&workspace.path("errors"), &done);
}
