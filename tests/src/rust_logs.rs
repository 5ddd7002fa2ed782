//! The `examples/rust-logs` binary beside `examples/python-logs`, laid out
//! in a workspace as in the repository so that both example dataset files
//! are used unchanged:
//!
//! ```text
//! python-logs/dataset.json, handler.py, data/    (data written by the test)
//! rust-logs/dataset.json                          (reads ../python-logs/data)
//! ```
//!
//! Each dataset writes its `output/` and `errors/` beside its dataset
//! file; both use the workspace's task store.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::process::{Finished, Running};
use crate::python_logs;
use crate::runs::ferry_command;
use crate::workspace::{Workspace, binaries, file_names};

pub const DATASET: &str = "rust-logs";

/// The example's directory in the repository.
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rust-logs").canonicalize().expect("examples/rust-logs")
}

/// The example's binary, from the target directory this test was built
/// into. Panics when it has not been built.
pub fn binary() -> PathBuf {
    let ferry = &binaries().ferry;
    let binary = ferry.with_file_name("rust-logs");
    assert!(binary.is_file(), "{} is missing: run `cargo build --workspace --bins` first", binary.display());
    binary
}

/// Copies both examples' dataset files and the Python handler into
/// `workspace`, and creates `python-logs/data/`. The caller fills it.
pub fn set_up(workspace: &Workspace) {
    let python = python_logs::example_dir();
    for file in ["dataset.json", "handler.py"] {
        copy(&python.join(file), &workspace.path(&format!("python-logs/{file}")));
    }
    copy(&example_dir().join("dataset.json"), &workspace.path("rust-logs/dataset.json"));
    std::fs::create_dir_all(workspace.path("python-logs/data")).expect("create python-logs/data");
}

fn copy(from: &Path, to: &Path) {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).expect("create the parent directory");
    }
    std::fs::copy(from, to).unwrap_or_else(|err| panic!("cannot copy {} to {}: {err}", from.display(), to.display()));
}

/// Writes `lines_per_file` lines into each of the three data files with
/// python-logs' `generate.py` (the third file gzipped).
pub fn generate(workspace: &Workspace, lines_per_file: usize) {
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let generated = Command::new(python)
        .arg(python_logs::example_dir().join("generate.py"))
        .arg(workspace.path("python-logs/data"))
        .args(["--lines-per-file", &lines_per_file.to_string()])
        .output()
        .expect("run generate.py");
    assert!(generated.status.success(), "generate.py failed: {}", String::from_utf8_lossy(&generated.stderr));
}

/// `PROGRAM --store STORE run DIR/dataset.json` to its end, with the
/// environment `Workspace::command` gives `ferry`.
pub fn run(workspace: &Workspace, program: &Path, dataset_dir: &str) -> Finished {
    let mut command = ferry_command(workspace, program, workspace.store());
    command.arg("run").arg(workspace.path(&format!("{dataset_dir}/dataset.json")));
    Running::start(command).wait()
}

/// Runs python-logs with `ferry` and rust-logs with its own binary, both
/// to completion.
pub fn run_both(workspace: &Workspace) -> (Finished, Finished) {
    let python = run(workspace, &binaries().ferry, "python-logs");
    python.expect_code(0);
    let rust = run(workspace, &binary(), "rust-logs");
    rust.expect_code(0);
    (python, rust)
}

/// The summary line that counts records by outcome.
pub fn records_line(run: &Finished) -> &str {
    run.stdout
        .lines()
        .find(|line| line.starts_with("  records "))
        .unwrap_or_else(|| panic!("no records line:\n{}", run.stdout))
}

/// Asserts that python-logs and its twin in `twin_dir` wrote
/// byte-identical output files.
pub fn assert_same_outputs(workspace: &Workspace, twin_dir: &str) {
    let (python, rust) = (workspace.path("python-logs/output"), workspace.path(&format!("{twin_dir}/output")));
    let names = file_names(&python);
    assert!(!names.is_empty(), "python-logs wrote no output");
    assert_eq!(file_names(&rust), names, "output files");
    for name in names {
        let (expected, actual) = (read(&python.join(&name)), read(&rust.join(&name)));
        if expected != actual {
            let expected = String::from_utf8_lossy(&expected);
            let actual = String::from_utf8_lossy(&actual);
            let first = expected.lines().zip(actual.lines()).position(|(a, b)| a != b);
            panic!(
                "output/{name} differs (first differing line {first:?}):\npython: {:?}\ntwin:   {:?}",
                first.and_then(|line| expected.lines().nth(line)),
                first.and_then(|line| actual.lines().nth(line))
            );
        }
    }
}

/// Each error file of `dataset_dir`'s error folder, by name, with its
/// `errorType`.
pub fn error_types(workspace: &Workspace, dataset_dir: &str) -> Vec<(String, Value)> {
    let errors = workspace.path(&format!("{dataset_dir}/errors"));
    file_names(&errors)
        .into_iter()
        .map(|name| {
            let kind = read_json(&errors.join(&name))["errorType"].clone();
            (name, kind)
        })
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&read(path)).unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()))
}
