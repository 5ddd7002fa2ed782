//! The `examples/rust-state-machine` binary, and `gated-state-machine` (the
//! same parsers behind [gates](crate::gate)), on the example's two dataset
//! files: its checked-in data, or generated data whose outcomes are worked
//! out here, record by record, from how the data was made.
//!
//! A workspace holds both dataset files at its root (`dataset.json` for the
//! messages, `orders-dataset.json` for orders with their items), `input/`,
//! and the outputs the datasets name (`output/messages`, `errors/orders`,
//! ...).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::expect::{ExpectedError, ExpectedRecord, ExpectedTask, Outcome};
use crate::gate::Gate;
use crate::process::{Finished, Running};
use crate::runs::ferry_command;
use crate::workspace::{Workspace, binaries};

pub const MESSAGES: &str = "rust-state-machine-messages";
pub const ORDERS: &str = "rust-state-machine-orders";
pub const MESSAGES_DATASET: &str = "dataset.json";
pub const ORDERS_DATASET: &str = "orders-dataset.json";
/// The orders task: the manifest line, and the stem of its output and
/// error files.
pub const ORDERS_TASK: &str = "ORDERS:orders.csv|ITEMS:items.csv";
pub const ORDERS_TASK_FILE: &str = "ORDERS%3Aorders.csv%7CITEMS%3Aitems.csv";

/// `computeEngine.batchSize` of the generated-data runs: records (results,
/// for the orders) per batch.
pub const BATCH_SIZE: usize = 20;
/// Results before a gate that are plain documents: the batches the source
/// may have read ahead of the gate (`maxInFlightBatches`, 4) and the
/// gate's own, so that no error file is being written when a run stops
/// there.
pub const QUIET_BEFORE_GATE: usize = 6 * BATCH_SIZE;

/// The example's directory in the repository.
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/rust-state-machine")
        .canonicalize()
        .expect("examples/rust-state-machine")
}

/// `name` from the target directory the tests were built into.
fn built(name: &str) -> PathBuf {
    let binary = binaries().ferry.with_file_name(name);
    assert!(binary.is_file(), "{} is missing: run `cargo build --workspace --bins` first", binary.display());
    binary
}

/// The example's binary.
pub fn binary() -> PathBuf {
    built("rust-state-machine")
}

/// The example's parsers behind gates.
pub fn gated_binary() -> PathBuf {
    built("gated-state-machine")
}

/// Copies the example's dataset files into `workspace`, with
/// `computeEngine` replaced by `compute` when given.
pub fn set_up(workspace: &Workspace, compute: Option<&Value>) {
    for name in [MESSAGES_DATASET, ORDERS_DATASET] {
        let text = std::fs::read_to_string(example_dir().join(name)).expect("the example's dataset file");
        let mut dataset: Value = serde_json::from_str(&text).expect("a JSON dataset file");
        if let Some(compute) = compute {
            dataset["computeEngine"] = compute.clone();
        }
        workspace.write(name, format!("{dataset:#}\n"));
    }
    std::fs::create_dir_all(workspace.path("input")).expect("create input/");
}

/// The compute engine of generated-data runs: one task at a time, small
/// batches, checkpoints every `checkpoint_interval_ms`.
pub fn compute(checkpoint_interval_ms: u64) -> Value {
    json!({
        "computeEngineType": "Local",
        "concurrency": 1,
        "batchSize": BATCH_SIZE,
        "checkpointIntervalMs": checkpoint_interval_ms,
    })
}

/// `PROGRAM --store STORE ARGS...` in `workspace`, its gates (if any) in
/// `gates/`.
pub fn command(workspace: &Workspace, program: &Path, args: &[&str], gates: &[(&Gate, &str, u64)]) -> Command {
    let mut command = ferry_command(workspace, program, workspace.store());
    let listed: Vec<String> =
        gates.iter().map(|(gate, file_type, offset)| format!("{}:{file_type}:{offset}", gate.name())).collect();
    command.args(args).env("FERRY_TEST_GATE_DIR", workspace.path("gates")).env("FERRY_TEST_GATES", listed.join(","));
    command
}

/// `PROGRAM run DATASET` started in `workspace`.
pub fn spawn_run(workspace: &Workspace, program: &Path, dataset: &str, gates: &[(&Gate, &str, u64)]) -> Running {
    let dataset = workspace.path(dataset);
    Running::start(command(workspace, program, &["run", dataset.to_str().expect("a UTF-8 path")], gates))
}

/// `PROGRAM run DATASET` in `workspace`, to its end.
pub fn run(workspace: &Workspace, program: &Path, dataset: &str) -> Finished {
    spawn_run(workspace, program, dataset, &[]).wait()
}

/// One task as `tasks list --json` shows it: state, counters, and the
/// checkpoint's source (a state machine's JSON) parsed.
#[derive(Debug, Clone)]
pub struct TaskState {
    pub task: String,
    pub state: String,
    pub progress: crate::expect::Progress,
    pub source: Option<Value>,
    pub last_error: Option<String>,
}

pub fn tasks(workspace: &Workspace, dataset: &str) -> Vec<TaskState> {
    let listed = workspace.ferry(&["tasks", "list", dataset, "--json"]);
    listed.expect_code(0);
    let Value::Array(tasks) = listed.json() else { panic!("tasks list --json printed no array:\n{}", listed.stdout) };
    tasks
        .iter()
        .map(|task| TaskState {
            task: task["task"].as_str().expect("a task name").to_owned(),
            state: task["state"].as_str().expect("a state").to_owned(),
            progress: crate::expect::Progress::from_json(&task["progress"]),
            source: task["checkpoint"]["source"]
                .as_str()
                .map(|source| serde_json::from_str(source).expect("a state machine's checkpoint is JSON")),
            last_error: task["lastError"].as_str().map(str::to_owned),
        })
        .collect()
}

fn error(fields: Value) -> Outcome {
    let Value::Object(fields) = fields else { panic!("error fields are an object") };
    Outcome::Error(ExpectedError { fields, traceback: None })
}

/// Generated message files (see the example's `messages.rs` for the
/// format), one unit (a message, or a damaged stretch) at a time.
#[derive(Debug, Default)]
pub struct Messages {
    pub bytes: Vec<u8>,
    pub records: Vec<ExpectedRecord>,
    /// Where each unit starts.
    pub unit_offsets: Vec<u64>,
}

impl Messages {
    /// `units` units; those within `QUIET_BEFORE_GATE` records before a
    /// unit of `gated` are plain messages (a header and a body each), and
    /// start at an odd record: batches of `BATCH_SIZE` (even) records from
    /// the start of the file then end after a header all through them, so
    /// a run stopped at the gate resumes in the middle of a message.
    pub fn generate(units: usize, gated: &[usize]) -> Self {
        let mut messages = Self::default();
        for unit in 0..units {
            messages.unit_offsets.push(messages.bytes.len() as u64);
            let quiet_from = |gate: usize| gate.saturating_sub(QUIET_BEFORE_GATE / 2);
            let quiet = gated.iter().any(|gate| (quiet_from(*gate)..=*gate).contains(&unit));
            let (id, from, to) = (format!("m-{unit:05}"), format!("u{}", unit % 7), format!("u{}", (unit + 3) % 7));
            if gated.iter().any(|gate| quiet_from(*gate) == unit) && messages.records.len() % 2 == 0 {
                messages.message(&format!("{id}-odd"), &from, &to, "");
            }
            if quiet {
                messages.message(&id, &from, &to, &format!("quiet {unit}\n"));
            } else if unit % 53 == 7 {
                // Not a number: the body's length is unknown.
                messages.record(format!("MESSAGE {id} from={from} to={to} bytes=ten\n").as_bytes(), |_| {
                    error(json!({
                        "errorType": "ParseIntError",
                        "message": "invalid digit found in string",
                        "recordType": "HEADER",
                    }))
                });
                messages.record(format!("lost body of {id}\n").as_bytes(), |_| {
                    error(json!({
                        "errorType": "ErrorDoc",
                        "message": "a body needs its header before it",
                        "recordType": "BODY",
                    }))
                });
            } else if unit % 41 == 5 {
                let body = [0xff, 0xfe, b'0' + (unit % 10) as u8, b'\n'];
                messages.record(format!("MESSAGE {id} from={from} to={to} bytes=4\n").as_bytes(), |_| Outcome::Skipped);
                messages.record(&body, |_| {
                    error(json!({
                        "errorType": "Utf8Error",
                        "message": "invalid utf-8 sequence of 1 bytes from index 0",
                        "recordType": "BODY",
                    }))
                });
            } else if unit % 29 == 3 {
                messages.message(&id, &from, &to, "");
            } else if unit % 37 == 13 {
                let line = format!("-- spool note {unit} --");
                messages.record(format!("{line}\n").as_bytes(), |_| {
                    error(json!({
                        "errorType": "ErrorDoc",
                        "message": format!("not a message header: {line:?}"),
                        "recordType": "HEADER",
                    }))
                });
            } else {
                let lines = (0..=unit % 4).map(|line| format!("line {line} of {id}, \"quoted\" and caf\u{e9}\n"));
                let mut body: String = lines.collect();
                if unit % 11 == 2 {
                    // A body may hold what looks like a header.
                    body.push_str("MESSAGE m-99999 from=x to=y bytes=3\n");
                }
                if unit % 17 == 9 {
                    body.push_str("no newline at the end");
                }
                messages.message(&id, &from, &to, &body);
            }
        }
        messages
    }

    /// A well-formed message: its header, then its body (none when empty).
    fn message(&mut self, id: &str, from: &str, to: &str, body: &str) {
        let header_offset = self.bytes.len() as u64;
        let document = json!({
            "documentId": id,
            "recordType": "Message",
            "partitionKey": from,
            "documentMetadata": {"offset": header_offset},
            "from": from,
            "to": to,
            "bytes": body.len(),
            "body": body,
        })
        .to_string();
        let header = format!("MESSAGE {id} from={from} to={to} bytes={}\n", body.len());
        if body.is_empty() {
            self.record(header.as_bytes(), |_| Outcome::Document(document));
        } else {
            self.record(header.as_bytes(), |_| Outcome::Skipped);
            self.record(body.as_bytes(), |_| Outcome::Document(document));
        }
    }

    fn record(&mut self, bytes: &[u8], outcome: impl FnOnce(u64) -> Outcome) {
        let offset = self.bytes.len() as u64;
        self.bytes.extend_from_slice(bytes);
        let end = self.bytes.len() as u64;
        let mut outcome = outcome(offset);
        if let Outcome::Error(error) = &mut outcome {
            error.fields.insert("offsetBytes".to_owned(), offset.into());
            error.fields.insert("endOffsetBytes".to_owned(), end.into());
        }
        self.records.push(ExpectedRecord { offset, end, outcome });
    }

    pub fn expected(&self, task: &str) -> ExpectedTask {
        ExpectedTask { task: task.to_owned(), records: self.records.clone() }
    }
}

/// Generated orders and items files, and the result each call of the
/// example's reader makes of them (numbered from 0, as its error files
/// are).
#[derive(Debug, Default)]
pub struct Orders {
    pub orders: String,
    pub items: String,
    /// By result number: `offset` and `end` are the result's number and
    /// the next one.
    pub results: Vec<ExpectedRecord>,
    /// Where each order's line starts in the orders file, by order number
    /// (from 1).
    pub order_offsets: Vec<u64>,
    /// The number of each order's result, by order number (for an order
    /// that makes no document, of the result after its last).
    pub order_results: Vec<u64>,
}

impl Orders {
    /// Orders 1 to `count`; the orders within `QUIET_BEFORE_GATE` results
    /// before an order of `gated` are plain orders.
    pub fn generate(count: usize, gated: &[usize]) -> Self {
        let mut made = Self { order_offsets: vec![0], order_results: vec![0], ..Self::default() };
        for order in 1..=count {
            made.order_offsets.push(made.orders.len() as u64);
            let quiet = gated.iter().any(|gate| (gate.saturating_sub(QUIET_BEFORE_GATE)..=*gate).contains(&order));
            let id = format!("o-{order:05}");
            let (customer, placed) = (format!("c{}", order % 13), format!("2024-03-{:02}", order % 28 + 1));
            let items: Vec<(String, u64)> =
                (0..order % 4).map(|item| (format!("sku-{order}-{item}"), ((order + item) % 5 + 1) as u64)).collect();
            let orphans = |made: &mut Self, items: &[(String, u64)]| {
                for (sku, quantity) in items {
                    made.items.push_str(&format!("{id},{sku},{quantity}\n"));
                    made.result(error(
                        json!({"errorType": "ErrorDoc", "message": format!("item {sku} has no order {id}")}),
                    ));
                }
            };
            if !quiet && order % 37 == 11 {
                // An order line that cannot be read: its items have no order.
                let line = format!("{id},{customer}");
                made.orders.push_str(&format!("{line}\n"));
                made.result(error(
                    json!({"errorType": "ErrorDoc", "message": format!("expected 3 fields, got 2: {line:?}")}),
                ));
                orphans(&mut made, &items);
                made.order_results.push(made.results.len() as u64);
                continue;
            }
            // Not before a line that cannot be read either: the reader
            // reports that line before the items of the missing order.
            if !quiet && order % 43 == 17 && (order + 1) % 37 != 11 {
                // No order line at all.
                orphans(&mut made, &items);
                made.order_results.push(made.results.len() as u64);
                continue;
            }
            let mut kept = items.as_slice();
            // The reader reports an item it cannot read as soon as it is
            // next: after the previous order's items, which there must be
            // for it to come after the previous order's document too.
            if !quiet && order % 31 == 7 && !items.is_empty() && (order - 1) % 4 != 0 {
                // An item whose quantity is not a number comes before its
                // order, as a failure of its own.
                made.items.push_str(&format!("{id},{},many\n", items[0].0));
                made.result(error(json!({"errorType": "ParseIntError", "message": "invalid digit found in string"})));
                kept = &items[1..];
            }
            made.orders.push_str(&format!("{id},{customer},{placed}\n"));
            for (sku, quantity) in kept {
                made.items.push_str(&format!("{id},{sku},{quantity}\n"));
            }
            let lines: Vec<Value> =
                kept.iter().map(|(sku, quantity)| json!({"sku": sku, "quantity": quantity})).collect();
            let document = json!({
                "documentId": id,
                "recordType": "Order",
                "partitionKey": customer,
                "documentMetadata": {},
                "customer": customer,
                "placedAt": placed,
                "itemCount": kept.len(),
                "totalQuantity": kept.iter().map(|(_, quantity)| quantity).sum::<u64>(),
                "items": lines,
            });
            made.order_results.push(made.results.len() as u64);
            made.result(Outcome::Document(document.to_string()));
        }
        made
    }

    fn result(&mut self, outcome: Outcome) {
        let number = self.results.len() as u64;
        self.results.push(ExpectedRecord { offset: number, end: number + 1, outcome });
    }

    pub fn expected(&self) -> ExpectedTask {
        ExpectedTask { task: ORDERS_TASK_FILE.to_owned(), records: self.results.clone() }
    }
}

/// The numbers of the error files of the orders task in `dir`.
pub fn orders_error_numbers(dir: &Path) -> BTreeSet<u64> {
    crate::workspace::file_names(dir)
        .iter()
        .filter_map(|name| name.strip_prefix(&format!("{ORDERS_TASK_FILE}@"))?.strip_suffix(".json")?.parse().ok())
        .collect()
}
