//! Running a ferry binary in a test's workspace: the command line and
//! environment every run gets, stopping a run while its handler waits at
//! a gate, and the task views a run that completed every task leaves.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::expect::ExpectedTask;
use crate::gate::Gate;
use crate::process::{Finished, Running, Signal};
use crate::workspace::{CheckpointView, TaskView, Workspace, binaries};

/// `PROGRAM --store STORE` in `workspace`, with the bridge binary under
/// test, the workspace's own temporary directory and quiet logs; the
/// caller adds the subcommand and its arguments.
pub fn ferry_command(workspace: &Workspace, program: &Path, store: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .arg("--store")
        .arg(store)
        .current_dir(workspace.root())
        .env("FERRY_BRIDGE_BIN", &binaries().bridge)
        .env("FERRY_LOG", "warn")
        .env("TMPDIR", workspace.path("tmp"))
        .env_remove("FERRY_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Interrupts `run` (SIGINT) while its handler waits at `gate` (see
/// [`Running::wait_at`]), then lets the handler go on once ferry says it
/// is stopping, so that the batches in flight finish and the checkpoints
/// are saved; returns the run once it has exited, its exit code for the
/// caller to check.
pub fn interrupt_at_gate(mut run: Running, gate: &Gate) -> Finished {
    run.signal(Signal::INT);
    run.wait_for_stderr("stopping: finishing the batches in flight and saving checkpoints");
    gate.release();
    run.wait()
}

/// The view `ferry tasks list` gives of each task of `expected` once it
/// is COMPLETED: its exact counters, its checkpoint at the end of its
/// (decompressed) input and at its output file's length in `workspace`.
pub fn completed_views(workspace: &Workspace, expected: &[ExpectedTask]) -> Vec<TaskView> {
    expected
        .iter()
        .map(|task| TaskView {
            task: task.task.clone(),
            state: "COMPLETED".to_owned(),
            progress: task.progress(),
            checkpoint: Some(CheckpointView {
                source: task.len(),
                sink: std::fs::metadata(workspace.path("output").join(task.output_file()))
                    .expect("the output file")
                    .len(),
            }),
            last_error: None,
        })
        .collect()
}
