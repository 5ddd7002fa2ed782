//! The stateful Rust parsers of `examples/rust-state-machine`, end to end:
//! the example's binary on its checked-in data (exact documents and error
//! files), and generated data stopped part way (Ctrl-C, or killed) at a
//! gate and run again, every record then accounted for exactly once.

use std::os::unix::process::ExitStatusExt;

use ferry_e2e_tests::expect::{ExpectedTask, Reached, all_done, assert_errors, assert_outputs};
use ferry_e2e_tests::gate::Gate;
use ferry_e2e_tests::process::Signal;
use ferry_e2e_tests::runs::interrupt_at_gate;
use ferry_e2e_tests::rust_state_machine::{
    self, MESSAGES, MESSAGES_DATASET, Messages, ORDERS, ORDERS_DATASET, ORDERS_TASK, ORDERS_TASK_FILE, Orders,
    TaskState, binary, gated_binary, orders_error_numbers, run, spawn_run, tasks,
};
use ferry_e2e_tests::workspace::{Workspace, file_names};
use serde_json::Value;

fn error_summary(workspace: &Workspace, dir: &str) -> Vec<(String, String, String)> {
    file_names(&workspace.path(dir))
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(workspace.path(&format!("{dir}/{name}"))).expect("an error file");
            let error: Value = serde_json::from_str(&text).expect("JSON");
            let field = |key: &str| error[key].as_str().unwrap_or_default().to_owned();
            (name, field("errorType"), field("message"))
        })
        .collect()
}

fn owned(expected: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    expected.iter().map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned())).collect()
}

#[test]
fn the_example_reads_its_messages_and_joins_its_orders() {
    let workspace = Workspace::new();
    rust_state_machine::set_up(&workspace, None);
    for name in ["messages.txt", "orders.csv", "items.csv"] {
        let data = std::fs::read(rust_state_machine::example_dir().join("input").join(name)).expect("example data");
        workspace.write(&format!("input/{name}"), data);
    }

    let messages = run(&workspace, &binary(), MESSAGES_DATASET);
    messages
        .expect_code(0)
        .expect_stdout_line("  tasks    1 of 1 complete (1 in this run, 0 before)")
        .expect_stdout_line("  records  12: 4 documents, 4 errors, 4 skipped");
    assert_eq!(
        std::fs::read_to_string(workspace.path("output/messages/messages.txt.jsonl")).expect("the output"),
        concat!(
            r#"{"documentId":"m-0001","recordType":"Message","partitionKey":"alice","documentMetadata":{"offset":0},"from":"alice","to":"bob","bytes":24,"body":"Hello Bob,\nlunch at 12?\n"}"#,
            "\n",
            r#"{"documentId":"m-0002","recordType":"Message","partitionKey":"bob","documentMetadata":{"offset":66},"from":"bob","to":"alice","bytes":0,"body":""}"#,
            "\n",
            r#"{"documentId":"m-0003","recordType":"Message","partitionKey":"bob","documentMetadata":{"offset":107},"from":"bob","to":"alice","bytes":77,"body":"Sure. Here is what carol wrote:\nMESSAGE m-0000 from=carol to=bob bytes=4\nhi!\n"}"#,
            "\n",
            r#"{"documentId":"m-0005","recordType":"Message","partitionKey":"alice","documentMetadata":{"offset":299},"from":"alice","to":"carol","bytes":5,"body":"Bye!\n"}"#,
            "\n",
        )
    );
    assert_eq!(
        error_summary(&workspace, "errors/messages"),
        owned(&[
            ("messages.txt@00000000000000000226.json", "ErrorDoc", r#"not a message header: "-- spool rotated --""#),
            ("messages.txt@00000000000000000246.json", "ParseIntError", "invalid digit found in string"),
            ("messages.txt@00000000000000000291.json", "ErrorDoc", "a body needs its header before it"),
            ("messages.txt@00000000000000000390.json", "ErrorDoc", "the body of m-0006 is cut short: 32 of 40 bytes"),
        ])
    );

    let orders = run(&workspace, &binary(), ORDERS_DATASET);
    orders.expect_code(0).expect_stdout_line("  records  8: 4 documents, 4 errors, 0 skipped");
    assert_eq!(
        std::fs::read_to_string(workspace.path(&format!("output/orders/{ORDERS_TASK_FILE}.jsonl"))).expect("output"),
        concat!(
            r#"{"documentId":"o-0001","recordType":"Order","partitionKey":"alice","documentMetadata":{},"customer":"alice","placedAt":"2024-03-01","itemCount":2,"totalQuantity":4,"items":[{"sku":"sku-apple","quantity":3},{"sku":"sku-pear","quantity":1}]}"#,
            "\n",
            r#"{"documentId":"o-0002","recordType":"Order","partitionKey":"bob","documentMetadata":{},"customer":"bob","placedAt":"2024-03-01","itemCount":1,"totalQuantity":2,"items":[{"sku":"sku-fig","quantity":2}]}"#,
            "\n",
            r#"{"documentId":"o-0004","recordType":"Order","partitionKey":"dave","documentMetadata":{},"customer":"dave","placedAt":"2024-03-02","itemCount":1,"totalQuantity":2,"items":[{"sku":"sku-lime","quantity":2}]}"#,
            "\n",
            r#"{"documentId":"o-0006","recordType":"Order","partitionKey":"erin","documentMetadata":{},"customer":"erin","placedAt":"2024-03-03","itemCount":1,"totalQuantity":4,"items":[{"sku":"sku-nut","quantity":4}]}"#,
            "\n",
        )
    );
    let error_file = |number: u64| format!("{ORDERS_TASK_FILE}@{number:020}.json");
    assert_eq!(
        error_summary(&workspace, "errors/orders"),
        vec![
            (error_file(2), "ErrorDoc".to_owned(), r#"expected 3 fields, got 2: "o-0003,carol""#.to_owned()),
            (error_file(3), "ErrorDoc".to_owned(), "item sku-plum has no order o-0003".to_owned()),
            (error_file(4), "ParseIntError".to_owned(), "invalid digit found in string".to_owned()),
            (error_file(6), "ErrorDoc".to_owned(), "item sku-date has no order o-0005".to_owned()),
        ]
    );
    // A composite's error file names where the call read in every file.
    let text = std::fs::read_to_string(workspace.path(&format!("errors/orders/{}", error_file(3)))).expect("a file");
    let error: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        (&error["task"], &error["files"]["ITEMS"], &error["files"]["ORDERS"]),
        (
            &Value::from(ORDERS_TASK),
            &serde_json::json!({"file": "items.csv", "resolvedFileName": "items.csv", "offsetBytes": 54, "endOffsetBytes": 72}),
            &serde_json::json!({"file": "orders.csv", "resolvedFileName": "orders.csv", "offsetBytes": 59, "endOffsetBytes": 59}),
        )
    );

    // Both are complete: running again reads nothing.
    run(&workspace, &binary(), MESSAGES_DATASET)
        .expect_code(0)
        .expect_stdout_line("  tasks    1 of 1 complete (0 in this run, 1 before)");
}

#[test]
fn the_plain_ferry_binary_says_which_binary_has_the_parser() {
    let workspace = Workspace::new();
    rust_state_machine::set_up(&workspace, None);
    workspace.write("input/messages.txt", "MESSAGE m-1 from=a to=b bytes=0\n");
    let dataset = workspace.path(MESSAGES_DATASET);
    let plain = workspace.ferry(&["run", dataset.to_str().expect("UTF-8")]);
    plain.expect_code(1);
    assert!(
        plain.stderr.contains(
            "the dataset's readerType is the Single File State Machine Reader, and this ferry binary has no \
             SingleFileStateMachineParser linked in"
        ),
        "{}",
        plain.stderr
    );
}

fn task<'a>(tasks: &'a [TaskState], name: &str) -> &'a TaskState {
    tasks.iter().find(|task| task.task == name).unwrap_or_else(|| panic!("no task {name} in {tasks:#?}"))
}

/// The last run completed every task: exact outputs, errors and counters.
#[track_caller]
fn assert_all_done(workspace: &Workspace, dataset: &str, output: &str, errors: &str, expected: &[ExpectedTask]) {
    let done = all_done(expected);
    assert_outputs(&workspace.path(output), &done);
    assert_errors(&workspace.path(errors), &done);
    for (state, expected) in tasks(workspace, dataset).iter().zip(expected) {
        assert_eq!((state.state.as_str(), state.progress), ("COMPLETED", expected.progress()), "{}", state.task);
    }
}

#[test]
fn an_interrupted_message_run_resumes_exactly_once() {
    let workspace = Workspace::new();
    rust_state_machine::set_up(&workspace, Some(&rust_state_machine::compute(100)));
    let first = Messages::generate(400, &[]);
    workspace.write("input/messages-1.txt", &first.bytes);
    let gated_unit = 1500;
    let second = Messages::generate(3000, &[gated_unit]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &second.bytes).expect("compress");
    workspace.write("input/messages-2.txt.gz", encoder.finish().expect("compress"));
    let expected = [first.expected("messages-1.txt"), second.expected("messages-2.txt.gz")];
    let gate = Gate::create(&workspace.path("gates"), "stop");
    let gate_offset = second.unit_offsets[gated_unit];

    // One task at a time: the first completes, the second (gzipped: a
    // resume decompresses and skips to the checkpoint) stops at the gate.
    let mut stopped = spawn_run(&workspace, &gated_binary(), MESSAGES_DATASET, &[(&gate, "MESSAGES", gate_offset)]);
    stopped.wait_at(&gate);
    interrupt_at_gate(stopped, &gate)
        .expect_code(130)
        .expect_stdout_line("  tasks    1 of 2 complete (1 in this run, 0 before)")
        .expect_stdout_line("  stopped early: run the same command again to resume");

    let states = tasks(&workspace, MESSAGES);
    assert_eq!(task(&states, "messages-1.txt").state, "COMPLETED");
    let view = task(&states, "messages-2.txt.gz");
    assert_eq!(view.state, "PROCESSING");
    let source = view.source.as_ref().expect("a checkpoint");
    let position = source["offset"].as_u64().expect("an offset");
    let gzipped = &expected[1];
    assert!(
        position > 0 && position <= gate_offset && gzipped.is_boundary(position),
        "the checkpoint {position} is not a record boundary before the gate at {gate_offset}"
    );
    assert_eq!(view.progress, gzipped.progress_before(position));
    // Stopped between a header and its body: the body's length is in the
    // header's document, which the checkpoint keeps.
    assert_eq!(
        (
            &source["lastRecordType"],
            &source["lastDocument"]["documentType"],
            source["lastDocument"]["documentKeyValuesMap"]["bytes"].is_u64()
        ),
        (&Value::from("HEADER"), &Value::from("SkipDoc"), true),
        "{source}"
    );
    let reached: Reached<'_> = vec![(&expected[0], Some(expected[0].len())), (gzipped, Some(position))];
    assert_outputs(&workspace.path("output/messages"), &reached);
    assert_errors(&workspace.path("errors/messages"), &reached);

    // The example's own binary finishes it from the checkpoint.
    run(&workspace, &binary(), MESSAGES_DATASET)
        .expect_code(0)
        .expect_stdout_line("  tasks    2 of 2 complete (1 in this run, 1 before)");
    assert!(gate.has_fired());
    assert_all_done(&workspace, MESSAGES, "output/messages", "errors/messages", &expected);
}

#[test]
fn a_killed_orders_run_resumes_exactly_once() {
    let workspace = Workspace::new();
    // Checkpoints only when a run is interrupted (the interval is 10
    // minutes), so the kill leaves error files written after one.
    rust_state_machine::set_up(&workspace, Some(&rust_state_machine::compute(600_000)));
    let (interrupt_at, kill_at) = (600, 1400);
    let orders = Orders::generate(2000, &[interrupt_at, kill_at]);
    workspace.write("input/orders.csv", &orders.orders);
    workspace.write("input/items.csv", &orders.items);
    let expected = [orders.expected()];
    let gates = [Gate::create(&workspace.path("gates"), "interrupt"), Gate::create(&workspace.path("gates"), "kill")];
    let gated = [
        (&gates[0], "ORDERS", orders.order_offsets[interrupt_at]),
        (&gates[1], "ORDERS", orders.order_offsets[kill_at]),
    ];
    let checkpoint = |workspace: &Workspace| -> u64 {
        let states = tasks(workspace, ORDERS);
        let source = task(&states, ORDERS_TASK).source.clone().expect("a checkpoint");
        source["results"].as_u64().expect("a result count")
    };

    // Ctrl-C at the first gate leaves a checkpoint part way.
    let mut first = spawn_run(&workspace, &gated_binary(), ORDERS_DATASET, &gated);
    first.wait_at(&gates[0]);
    interrupt_at_gate(first, &gates[0]).expect_code(130);
    let interrupted = checkpoint(&workspace);
    let task_state = task(&tasks(&workspace, ORDERS), ORDERS_TASK).clone();
    // Before the gate's order, which no call reads before the one making it.
    let gate_result = orders.order_results[interrupt_at];
    assert!(
        (1..=gate_result).contains(&interrupted),
        "checkpoint at result {interrupted}, the gate's is {gate_result}"
    );
    assert_eq!(task_state.progress, expected[0].progress_before(interrupted));
    let reached: Reached<'_> = vec![(&expected[0], Some(interrupted))];
    assert_outputs(&workspace.path("output/orders"), &reached);
    assert_errors(&workspace.path("errors/orders"), &reached);

    // Killed at the second gate: no checkpoint since the first run, and
    // error files after it.
    let mut second = spawn_run(&workspace, &gated_binary(), ORDERS_DATASET, &gated);
    second.wait_at(&gates[1]);
    second.signal(Signal::KILL);
    let killed = second.wait();
    assert_eq!(killed.status.signal(), Some(9), "{killed:?}");
    assert_eq!(checkpoint(&workspace), interrupted);
    let after =
        orders_error_numbers(&workspace.path("errors/orders")).into_iter().filter(|n| *n >= interrupted).count();
    assert!(after > 0, "the kill left no error files after the checkpoint");

    // The example's binary redoes the work after the checkpoint, once.
    run(&workspace, &binary(), ORDERS_DATASET).expect_code(0);
    assert!(gates.iter().all(Gate::has_fired));
    assert_all_done(&workspace, ORDERS, "output/orders", "errors/orders", &expected);
}
