//! A test's private directory, and `ferry` commands run inside it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use tempfile::TempDir;

use crate::expect::Progress;
use crate::process::{Finished, Running};
use crate::runs::ferry_command;

/// The binaries under test.
#[derive(Debug)]
pub struct Binaries {
    pub ferry: PathBuf,
    pub bridge: PathBuf,
}

/// `ferry` and `ferry-bridge` from the target directory this test was
/// built into. Panics when they have not been built.
pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        // The test executable is target/<profile>/deps/<name>-<hash>; the
        // binaries are in target/<profile>.
        let exe = std::env::current_exe().expect("the path of the test executable");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .unwrap_or_else(|| panic!("{} is not in target/<profile>/deps", exe.display()));
        let binaries = Binaries { ferry: profile_dir.join("ferry"), bridge: profile_dir.join("ferry-bridge") };
        for binary in [&binaries.ferry, &binaries.bridge] {
            assert!(binary.is_file(), "{} is missing: run `cargo build --workspace --bins` first", binary.display());
        }
        binaries
    })
}

/// A temporary directory for one test: dataset, handler, data, outputs,
/// the task store (`store/ferry.db`) and ferry's own temporary files
/// (`tmp/`, where the bridge sockets go). Removed when dropped.
#[derive(Debug)]
pub struct Workspace {
    _dir: TempDir,
    root: PathBuf,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("ferry-e2e-").tempdir().expect("a temporary directory");
        // ferry prints and stores canonical paths; so do the tests.
        let root = dir.path().canonicalize().expect("the temporary directory, canonical");
        std::fs::create_dir(root.join("tmp")).expect("create tmp/");
        Self { _dir: dir, root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `relative` below the workspace.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Writes `contents` to `relative`, creating directories as needed.
    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the parent directory");
        }
        std::fs::write(&path, contents).unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
        path
    }

    /// The task store every command of this workspace uses.
    pub fn store(&self) -> PathBuf {
        self.path("store/ferry.db")
    }

    /// `ferry --store STORE ARGS...`, with the bridge binary under test,
    /// a private temporary directory and quiet logs.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = ferry_command(self, &binaries().ferry, self.store());
        command.args(args);
        command
    }

    /// Starts `ferry ARGS...` and returns at once.
    pub fn spawn(&self, args: &[&str]) -> Running {
        Running::start(self.command(args))
    }

    /// Runs `ferry ARGS...` to its end.
    pub fn ferry(&self, args: &[&str]) -> Finished {
        self.spawn(args).wait()
    }

    /// The dataset file every workspace keeps at its root.
    pub fn dataset_file(&self) -> String {
        self.path("dataset.json").to_str().expect("a UTF-8 path").to_owned()
    }

    /// `ferry run DATASET` to its end.
    pub fn run(&self) -> Finished {
        let dataset = self.dataset_file();
        self.ferry(&["run", &dataset])
    }

    /// `ferry tasks list DATASET --json`, parsed.
    pub fn tasks(&self, dataset: &str) -> Vec<TaskView> {
        let listed = self.ferry(&["tasks", "list", dataset, "--json"]);
        listed.expect_code(0);
        let Value::Array(tasks) = listed.json() else {
            panic!("tasks list --json printed no array:\n{}", listed.stdout);
        };
        tasks.iter().map(TaskView::from_json).collect()
    }

    /// The names of the files in `relative`, sorted; empty when the
    /// directory does not exist.
    pub fn file_names(&self, relative: &str) -> Vec<String> {
        file_names(&self.path(relative))
    }
}

/// The names of the files in `dir`, sorted; empty when it does not exist.
pub fn file_names(dir: &Path) -> Vec<String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(err) => panic!("cannot list {}: {err}", dir.display()),
    };
    let mut names: Vec<String> =
        entries.map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// One task as `ferry tasks list --json` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub task: String,
    pub state: String,
    pub progress: Progress,
    pub checkpoint: Option<CheckpointView>,
    pub last_error: Option<String>,
}

/// A task's checkpoint: the decompressed input position and the output
/// file length, both in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointView {
    pub source: u64,
    pub sink: u64,
}

impl TaskView {
    pub fn from_json(value: &Value) -> Self {
        let text = |key: &str| {
            value[key].as_str().unwrap_or_else(|| panic!("task {key} is not a string in {value:#}")).to_owned()
        };
        let number = |checkpoint: &Value, key: &str| -> u64 {
            checkpoint[key]
                .as_str()
                .and_then(|text| text.parse().ok())
                .unwrap_or_else(|| panic!("checkpoint {key} is not a decimal string in {value:#}"))
        };
        let checkpoint = match &value["checkpoint"] {
            Value::Null => None,
            checkpoint => {
                Some(CheckpointView { source: number(checkpoint, "source"), sink: number(checkpoint, "sink") })
            }
        };
        Self {
            task: text("task"),
            state: text("state"),
            progress: Progress::from_json(&value["progress"]),
            checkpoint,
            last_error: value["lastError"].as_str().map(str::to_owned),
        }
    }
}
