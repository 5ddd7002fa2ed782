//! The `ferry-bridge` binary with a Python handler, seen from a gRPC
//! client: handshake, handlers that fail to load, malformed requests, the
//! socket, shutdown and concurrent batches.

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{
    RunningBridge, expect_document, expected_digest, fixture, handshake_request, invoke,
    parse_call, parse_request, request,
};
use ferry_proto::pb;
use tokio::io::AsyncWriteExt;
use tonic::Code;

const ALL_INTERFACE_CLASSES: &str = "ferry.SingleFileParser, ferry.QueueMessageReader, \
     ferry.KinesisRecordReader, ferry.DynamoDBStreamsRecordReader, \
     ferry.DynamoDBTableItemReader, ferry.SagemakerVectorsInterface";

/// Writes `source` as `name` in a fresh tempdir and returns the dir (keep
/// it alive) and the file's resolved path, as the loader names it.
fn handler_file(name: &str, source: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("create a tempdir for the handler");
    let path = dir.path().join(name);
    std::fs::write(&path, source).expect("write the handler");
    let path = path.canonicalize().expect("resolve the handler path");
    (dir, path)
}

fn is_lowercase_hex_sha256(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

#[tokio::test]
async fn handshake_describes_the_python_handler() {
    let handler = fixture("parser.py");
    let bridge = RunningBridge::start(&handler);
    let mut client = bridge.client().await;

    let response = client
        .handshake(handshake_request())
        .await
        .expect("handshake")
        .into_inner();

    assert_eq!(
        response.protocol_version(),
        pb::ProtocolVersion::ProtocolVersion1
    );
    assert_eq!(response.language(), pb::Language::Python);
    let version = response.runtime_version.strip_prefix("CPython 3.11.");
    assert!(
        version.is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit())),
        "runtime_version is {:?}",
        response.runtime_version
    );
    assert_eq!(
        response.interfaces,
        vec![i32::from(pb::Interface::SingleFileParser)]
    );
    assert!(
        is_lowercase_hex_sha256(&response.handler_digest),
        "{:?}",
        response.handler_digest
    );
    let root = handler.parent().expect("the fixture has a directory");
    assert_eq!(response.handler_digest, expected_digest(root, &[&handler]));
    assert_eq!(response.bridge_version, env!("CARGO_PKG_VERSION"));
}

const SMALL_HANDLER: &str = "\
import ferry


class Parser(ferry.SingleFileParser):
    def getS3FileType(self):
        return 'V1'
";

async fn handshake_digest(handler: &Path) -> String {
    let bridge = RunningBridge::start(handler);
    let mut client = bridge.client().await;
    client
        .handshake(handshake_request())
        .await
        .expect("handshake")
        .into_inner()
        .handler_digest
}

#[tokio::test]
async fn handshake_digest_covers_the_handler_file_and_changes_with_it() {
    let (dir, handler) = handler_file("handler.py", SMALL_HANDLER);
    let root = handler
        .parent()
        .expect("the handler has a directory")
        .to_path_buf();

    let before = handshake_digest(&handler).await;
    assert_eq!(before, expected_digest(&root, &[&handler]));

    std::fs::write(&handler, SMALL_HANDLER.replace("'V1'", "'V2'")).expect("edit the handler");
    let after = handshake_digest(&handler).await;
    assert_eq!(after, expected_digest(&root, &[&handler]));
    assert_ne!(before, after);

    // A directory holding handler.py is the same handler, with the same digest.
    assert_eq!(handshake_digest(dir.path()).await, after);
}

#[tokio::test]
async fn handshake_with_another_protocol_version_names_both_versions() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;

    for (version, spoken) in [(2, "2"), (i32::from(pb::ProtocolVersion::Unspecified), "0")] {
        let request = pb::HandshakeRequest {
            protocol_version: version,
            client_version: "old".to_owned(),
        };
        let status = client
            .handshake(request)
            .await
            .expect_err("a version mismatch fails");
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.message(),
            format!(
                "the client speaks bridge protocol {spoken} but this bridge speaks 1; \
                 use a ferry and ferry-bridge of the same release"
            )
        );
    }
}

/// Starts a bridge on a handler that cannot load, and checks that both the
/// handshake and an invoke report `message` as FAILED_PRECONDITION.
async fn assert_load_failure(handler: &Path, message: &str) {
    let bridge = RunningBridge::start(handler);
    let mut client = bridge.client().await;

    let status = client
        .handshake(handshake_request())
        .await
        .expect_err("the handshake fails");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), message);

    let status = client
        .invoke(parse_request(&["echo"]))
        .await
        .expect_err("invoke fails");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), format!("handler not loaded: {message}"));
}

#[tokio::test]
async fn handler_with_a_syntax_error_fails_handshake_and_invoke_naming_file_and_line() {
    let source = "import ferry\n\nclass Broken(ferry.SingleFileParser)\n    pass\n";
    let (_dir, handler) = handler_file("broken.py", source);
    let message = format!(
        "cannot import handler {}: SyntaxError: expected ':' (broken.py, line 3)",
        handler.display()
    );
    assert_load_failure(&handler, &message).await;
}

#[tokio::test]
async fn handler_without_a_handler_class_fails_naming_the_file() {
    let source = "def parseDocument(*args):\n    return None\n";
    let (_dir, handler) = handler_file("functions_only.py", source);
    let message = format!(
        "{} defines no handler class: subclass one of {ALL_INTERFACE_CLASSES}",
        handler.display()
    );
    assert_load_failure(&handler, &message).await;
}

#[tokio::test]
async fn handler_raising_at_module_level_fails_naming_file_and_exception() {
    let source = "import ferry\n\nraise RuntimeError('no config for this environment')\n";
    let (_dir, handler) = handler_file("raises.py", source);
    let file = handler.display();
    let message = format!(
        "cannot import handler {file}: RuntimeError: no config for this environment (at {file}:3)"
    );
    assert_load_failure(&handler, &message).await;
}

#[tokio::test]
async fn calls_whose_args_do_not_fit_the_function_are_invalid_argument() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;
    let get_file_type_args = pb::Call {
        args: Some(pb::call::Args::GetS3FileType(pb::GetS3FileTypeArgs {})),
    };
    let cases = [
        (
            vec![get_file_type_args],
            "invalid request: call 0 does not carry the arguments of parseDocument",
        ),
        (
            // The fault is found at the call that has it, not before the batch.
            vec![parse_call(0, b"echo"), pb::Call { args: None }],
            "invalid request: call 1 does not carry the arguments of parseDocument",
        ),
    ];
    for (calls, message) in cases {
        let request = request(pb::Function::SingleFileParserParseDocument, calls);
        let status = client
            .invoke(request)
            .await
            .expect_err("mismatched args are refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), message);
    }

    let unspecified = request(pb::Function::Unspecified, vec![parse_call(0, b"echo")]);
    let status = client
        .invoke(unspecified)
        .await
        .expect_err("no function is refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "invalid request: unknown function 0");

    // The bridge keeps serving after refusing a batch.
    let outcomes = invoke(&mut client, parse_request(&["echo:still-here"])).await;
    assert_eq!(expect_document(&outcomes[0]).partition_key, "still-here");
}

#[tokio::test]
async fn an_empty_batch_has_no_outcomes() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;

    let no_records: [&str; 0] = [];
    assert_eq!(
        invoke(&mut client, parse_request(&no_records)).await,
        vec![]
    );
}

#[tokio::test]
async fn socket_is_private_to_its_owner_and_removed_after_stop() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let socket = bridge.socket().to_path_buf();

    let metadata = std::fs::metadata(&socket).expect("the socket exists while the bridge runs");
    assert!(metadata.file_type().is_socket());
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);

    let status = bridge.stop().await;
    assert!(status.success(), "the bridge exited with {status}");
    assert!(
        !socket.exists(),
        "the bridge removes its socket when it stops"
    );
}

#[tokio::test]
async fn closing_stdin_stops_the_bridge_with_status_zero_even_with_a_client_connected() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;
    client
        .handshake(handshake_request())
        .await
        .expect("handshake");

    let status = bridge.stop().await;

    assert_eq!(status.code(), Some(0));
    let status = client
        .handshake(handshake_request())
        .await
        .expect_err("the bridge is gone");
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_on_one_connection_each_keep_their_order() {
    const BATCHES: usize = 8;
    const RECORDS: usize = 100;
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let client = bridge.client().await;

    let tasks: Vec<_> = (0..BATCHES)
        .map(|batch| {
            // Clones share the one HTTP/2 connection.
            let mut client = client.clone();
            let records: Vec<String> = (0..RECORDS)
                .map(|record| format!("echo:b{batch}-r{record}"))
                .collect();
            tokio::spawn(async move { invoke(&mut client, parse_request(&records)).await })
        })
        .collect();

    for (batch, task) in tasks.into_iter().enumerate() {
        let outcomes = task.await.expect("the batch task ran");
        assert_eq!(outcomes.len(), RECORDS);
        for (record, outcome) in outcomes.iter().enumerate() {
            let document = expect_document(outcome);
            assert_eq!(document.partition_key, format!("b{batch}-r{record}"));
            assert_eq!(document.document_id, format!("data.jsonl@{}", record * 100));
        }
    }
}

#[tokio::test]
async fn a_batch_in_flight_when_stdin_closes_finishes_before_the_bridge_exits() {
    let mut bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;
    // The record connects to this socket and waits for a byte: accepting
    // proves it runs, writing lets it finish.
    let gate_dir = tempfile::tempdir().expect("create a tempdir for the gate");
    let gate_path = gate_dir.path().join("gate.sock");
    let gate = tokio::net::UnixListener::bind(&gate_path).expect("bind the gate");
    let record = format!("wait-for:{}", gate_path.display());
    let batch = tokio::spawn(async move { invoke(&mut client, parse_request(&[record])).await });
    let (mut running_record, _) = gate.accept().await.expect("the record starts");

    bridge.close_stdin();
    bridge.wait_for_log("shutting down").await;
    running_record
        .write_all(b"go")
        .await
        .expect("release the record");

    let outcomes = batch.await.expect("the batch task ran");
    assert_eq!(
        expect_document(&outcomes[0]).partition_key,
        gate_path.display().to_string()
    );
    assert_eq!(bridge.wait().await.code(), Some(0));
}

#[tokio::test]
async fn sigterm_stops_the_bridge_with_status_zero_and_removes_the_socket() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let socket = bridge.socket().to_path_buf();
    // Once a call is answered the server, and so its signal handler, runs;
    // the ready line alone comes just before that.
    let mut client = bridge.client().await;
    client
        .handshake(handshake_request())
        .await
        .expect("handshake");
    drop(client);

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &bridge.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());

    assert_eq!(bridge.wait().await.code(), Some(0));
    assert!(!socket.exists());
}

#[tokio::test]
async fn missing_handler_path_fails_handshake_naming_it() {
    let dir = tempfile::tempdir().expect("create a tempdir");
    let handler = dir
        .path()
        .canonicalize()
        .expect("resolve the tempdir")
        .join("nowhere.py");
    let message = format!("handler path {} does not exist", handler.display());
    assert_load_failure(&handler, &message).await;
}

#[tokio::test]
async fn missing_socket_directory_fails_start_naming_the_address() {
    let dir = tempfile::tempdir().expect("create a tempdir");
    let socket = dir.path().join("missing").join("bridge.sock");

    let failure = RunningBridge::try_start_at(&fixture("parser.py"), &socket)
        .expect_err("no directory, no socket");

    assert_eq!(failure.status.code(), Some(1));
    let expected = format!(
        "ferry-bridge: cannot listen on unix:{}: No such file or directory (os error 2)",
        socket.display()
    );
    assert!(
        failure.stderr.lines().any(|line| line == expected),
        "stderr:\n{}",
        failure.stderr
    );
}

#[tokio::test]
async fn a_second_bridge_on_a_live_socket_fails_and_the_first_keeps_serving() {
    let first = RunningBridge::start(&fixture("parser.py"));

    match RunningBridge::try_start_at(&fixture("parser.py"), first.socket()) {
        Ok(_second) => panic!("a second bridge took over the socket of a live one"),
        Err(failure) => {
            assert_eq!(
                failure.status.code(),
                Some(1),
                "{:?}; stderr:\n{}",
                failure.status,
                failure.stderr
            );
            let address = format!("cannot listen on unix:{}", first.socket().display());
            assert!(
                failure.stderr.contains(&address),
                "stderr:\n{}",
                failure.stderr
            );
        }
    }
    let mut client = first.client().await;
    client
        .handshake(handshake_request())
        .await
        .expect("the first bridge still serves");
}

#[tokio::test]
async fn a_regular_file_at_the_socket_path_is_left_alone() {
    let dir = tempfile::tempdir().expect("create a tempdir");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "keep me").expect("write the file");

    let started = RunningBridge::try_start_at(&fixture("parser.py"), &notes);

    assert!(
        started.is_err(),
        "the bridge replaced {} with its socket",
        notes.display()
    );
    assert_eq!(
        std::fs::read_to_string(&notes).expect("the file is still there"),
        "keep me"
    );
}

#[tokio::test]
async fn a_call_over_its_timeout_is_a_user_error_and_the_next_call_runs() {
    let bridge = RunningBridge::start(&fixture("parser.py"));
    let mut client = bridge.client().await;
    let mut request = parse_request(&["sleep:3", "echo:next", "spin", "echo:after"]);
    request.call_timeout_ms = 200;

    let outcomes = invoke(&mut client, request).await;

    let spun = common::expect_user_error(&outcomes[2]);
    assert_eq!(spun.error_type, "CallTimeout");
    assert_eq!(expect_document(&outcomes[3]).partition_key, "after");

    let timeout = common::expect_user_error(&outcomes[0]);
    assert_eq!(timeout.error_type, "CallTimeout");
    assert_eq!(timeout.message, "the call ran longer than 200 ms and was interrupted");
    assert_eq!(expect_document(&outcomes[1]).partition_key, "next");
}
