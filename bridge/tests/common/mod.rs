//! Shared helpers of the bridge integration tests: start the real
//! `ferry-bridge` binary on a Unix socket in a tempdir, talk to it over
//! gRPC, and read outcomes.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use ferry_bridge::ListenAddr;
use ferry_proto::pb;
use ferry_proto::pb::bridge_client::BridgeClient;
use tokio::sync::watch;
use tonic::transport::Channel;

/// A gRPC client of the bridge service.
pub type Client = BridgeClient<Channel>;

/// Upper bound for the bridge to stop or log a line. Only a guard against
/// a hung test; nothing waits for it to elapse.
const PROCESS_DEADLINE: Duration = Duration::from_secs(60);

/// A `ferry-bridge` child process serving one handler. Dropping it kills
/// and reaps the process, so no test leaves a bridge behind.
#[derive(Debug)]
pub struct RunningBridge {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    socket: PathBuf,
    /// Everything the bridge wrote to stderr (its log) so far.
    log: watch::Receiver<String>,
    // Dropped after the process is gone (fields drop after `Drop::drop`).
    _socket_dir: Option<tempfile::TempDir>,
}

/// A bridge that exited instead of listening.
#[derive(Debug)]
pub struct StartFailure {
    pub status: ExitStatus,
    pub stderr: String,
}

impl RunningBridge {
    /// Starts the bridge on the Python `handler`, listening in a fresh
    /// tempdir, and returns once it prints that it listens.
    pub fn start(handler: &Path) -> Self {
        Self::start_with("python", handler, &[])
    }

    /// Starts the bridge on a `language` handler with `extra_args`,
    /// listening in a fresh tempdir, and returns once it prints that it
    /// listens.
    pub fn start_with(language: &str, handler: &Path, extra_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("create a tempdir for the socket");
        let mut bridge = Self::try_start_with(language, handler, &dir.path().join("bridge.sock"), extra_args)
            .unwrap_or_else(|failure| panic!("ferry-bridge exited with {}:\n{}", failure.status, failure.stderr));
        bridge._socket_dir = Some(dir);
        bridge
    }

    /// Starts the bridge on the Python `handler` listening at `socket`;
    /// returns once it prints that it listens, or how it failed when it
    /// exits instead.
    pub fn try_start_at(handler: &Path, socket: &Path) -> Result<Self, StartFailure> {
        Self::try_start_with("python", handler, socket, &[])
    }

    /// Starts the bridge on a `language` handler with `extra_args`,
    /// listening at `socket`; returns once it prints that it listens, or
    /// how it failed when it exits instead.
    pub fn try_start_with(
        language: &str,
        handler: &Path,
        socket: &Path,
        extra_args: &[&str],
    ) -> Result<Self, StartFailure> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry-bridge"))
            .arg("--listen")
            .arg(format!("unix:{}", socket.display()))
            .args(["--language", language, "--handler"])
            .arg(handler)
            .args(extra_args)
            .arg("--exit-on-stdin-eof")
            // Tests wait for info lines of the log.
            .env("FERRY_LOG", "info")
            // Keep the source tree free of __pycache__ from the fixtures.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferry-bridge");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (log, log_reader) = collect_log(child.stderr.take().expect("stderr is piped"));
        let mut bridge =
            RunningBridge { child: Some(child), stdin, socket: socket.to_path_buf(), log, _socket_dir: None };
        if bridge.read_until_listening(stdout) {
            return Ok(bridge);
        }
        let status = bridge.child.take().expect("the child is held").wait().expect("wait for the bridge");
        // The whole log: the reader has seen end of file once it returns.
        let _ = log_reader.join();
        Err(StartFailure { status, stderr: bridge.stderr() })
    }

    /// Reads stdout up to the ready line; false when stdout ends first.
    fn read_until_listening(&self, stdout: ChildStdout) -> bool {
        let expected = format!("ferry-bridge listening on unix:{}", self.socket.display());
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).expect("read the bridge's stdout") == 0 {
                return false;
            }
            if line.trim_end() == expected {
                break;
            }
        }
        // Handlers may print; drain stdout so the bridge never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
        true
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// What the bridge wrote to stderr so far (its log).
    pub fn stderr(&self) -> String {
        self.log.borrow().clone()
    }

    /// Waits until the bridge's log contains `text`.
    pub async fn wait_for_log(&self, text: &str) {
        let mut log = self.log.clone();
        let found = tokio::time::timeout(PROCESS_DEADLINE, log.wait_for(|log| log.contains(text))).await;
        assert!(matches!(found, Ok(Ok(_))), "the bridge never logged {text:?}; its log:\n{}", self.stderr());
    }

    /// The bridge's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the bridge is running").id()
    }

    /// A client on a new connection to the bridge.
    pub async fn client(&self) -> Client {
        let channel = ListenAddr::Unix(self.socket.clone()).connect().await.expect("connect to the bridge's socket");
        BridgeClient::new(channel)
    }

    /// Closes the bridge's stdin, as its parent does, and waits for it to
    /// exit.
    pub async fn stop(mut self) -> ExitStatus {
        self.close_stdin();
        self.wait().await
    }

    /// Closes the bridge's stdin, which asks it to stop.
    pub fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    /// Waits for the bridge to exit on its own.
    pub async fn wait(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the bridge is running");
        let waited = tokio::task::spawn_blocking(move || child.wait());
        tokio::time::timeout(PROCESS_DEADLINE, waited)
            .await
            .expect("the bridge exits")
            .expect("the wait task ran")
            .expect("wait for the bridge")
    }
}

impl Drop for RunningBridge {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Appends every line of `stderr` to a watched string, read by a thread so
/// the bridge never blocks on a full pipe.
fn collect_log(stderr: ChildStderr) -> (watch::Receiver<String>, std::thread::JoinHandle<()>) {
    let (sender, receiver) = watch::channel(String::new());
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            sender.send_modify(|log| {
                log.push_str(&line);
                log.push('\n');
            });
        }
    });
    (receiver, reader)
}

/// A handler file or directory under `tests/fixtures`, as the bridge
/// resolves it (the loader names resolved paths in its messages).
pub fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    path.canonicalize().unwrap_or_else(|err| panic!("fixture {}: {err}", path.display()))
}

/// The 1-based number of the only line of `file` containing `marker`, so
/// tests about tracebacks survive edits of the fixture.
pub fn line_of(file: &Path, marker: &str) -> usize {
    let source = std::fs::read_to_string(file).expect("read the fixture");
    let found: Vec<usize> =
        source.lines().enumerate().filter(|(_, line)| line.contains(marker)).map(|(index, _)| index + 1).collect();
    assert_eq!(found.len(), 1, "{marker:?} must occur on exactly one line of {}", file.display());
    found[0]
}

pub fn handshake_request() -> pb::HandshakeRequest {
    pb::HandshakeRequest {
        protocol_version: pb::ProtocolVersion::ProtocolVersion1.into(),
        client_version: "bridge-tests".to_owned(),
    }
}

/// One parseDocument call of a record read from `data.jsonl` at `offset`.
pub fn parse_call(offset: u64, record: &[u8]) -> pb::Call {
    pb::Call {
        args: Some(pb::call::Args::ParseDocument(pb::ParseDocumentArgs {
            s3_file_type: "JSONL".to_owned(),
            file_name: "data.jsonl".to_owned(),
            offset_bytes: offset,
            content: record.to_vec().into(),
        })),
    }
}

/// A parseDocument batch of `records`, at offsets 0, 100, 200, ...
pub fn parse_request<R: AsRef<[u8]>>(records: &[R]) -> pb::InvokeRequest {
    let calls =
        records.iter().enumerate().map(|(index, record)| parse_call(index as u64 * 100, record.as_ref())).collect();
    request(pb::Function::SingleFileParserParseDocument, calls)
}

pub fn request(function: pb::Function, calls: Vec<pb::Call>) -> pb::InvokeRequest {
    pb::InvokeRequest { function: function.into(), calls, call_timeout_ms: 0, traceparent: String::new() }
}

/// Invokes a batch that must succeed as a whole, returning its outcomes.
pub async fn invoke(client: &mut Client, request: pb::InvokeRequest) -> Vec<pb::Outcome> {
    let calls = request.calls.len();
    let outcomes = client.invoke(request).await.expect("the batch runs").into_inner().outcomes;
    assert_eq!(outcomes.len(), calls, "one outcome per call");
    outcomes
}

/// Runs one parseDocument record and returns its single outcome.
pub async fn parse_one(client: &mut Client, record: &str) -> pb::Outcome {
    invoke(client, parse_request(&[record])).await.remove(0)
}

pub fn expect_parsed(outcome: &pb::Outcome) -> &pb::ParseDocumentResult {
    match &outcome.result {
        Some(pb::outcome::Result::Parsed(parsed)) => parsed,
        other => panic!("expected a parsed result, got {other:?}"),
    }
}

/// The document of a parsed outcome.
pub fn expect_document(outcome: &pb::Outcome) -> &pb::Document {
    expect_parsed(outcome).document.as_ref().expect("the result carries a document")
}

/// The flat JSON of a parsed outcome's document, as text.
pub fn expect_flat_json(outcome: &pb::Outcome) -> &str {
    std::str::from_utf8(&expect_document(outcome).flat_json).expect("flat_json is UTF-8")
}

pub fn expect_user_error(outcome: &pb::Outcome) -> &pb::UserError {
    match &outcome.result {
        Some(pb::outcome::Result::Error(error)) => error,
        other => panic!("expected a user error, got {other:?}"),
    }
}

/// The handler digest as the loader computes it: SHA-256 over each file,
/// in order of its path relative to `root`, as path, NUL, bytes, NUL.
pub fn expected_digest<P: AsRef<Path>>(root: &Path, files: &[P]) -> String {
    use sha2::{Digest, Sha256};
    let mut entries: Vec<(String, &Path)> = files
        .iter()
        .map(|file| {
            let file = file.as_ref();
            let relative = file.strip_prefix(root).expect("the file is under the root");
            (relative.to_string_lossy().into_owned(), file)
        })
        .collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for (relative, file) in entries {
        hasher.update(relative.as_bytes());
        hasher.update(b"\0");
        hasher.update(std::fs::read(file).expect("read a handler file"));
        hasher.update(b"\0");
    }
    hex::encode(hasher.finalize())
}

/// Every `.py` file under `dir`, the files a LetsData project's digest covers.
pub fn python_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read a fixture directory") {
        let path = entry.expect("read a directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "__pycache__") {
                files.extend(python_files_under(&path));
            }
        } else if path.extension().is_some_and(|ext| ext == "py") {
            files.push(path);
        }
    }
    files
}

/// Every `.js` and `.mjs` file under `dir`, the files a JavaScript LetsData
/// project's digest covers.
pub fn js_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read a fixture directory") {
        let path = entry.expect("read a directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "node_modules") {
                files.extend(js_files_under(&path));
            }
        } else if path.extension().is_some_and(|ext| ext == "js" || ext == "mjs") {
            files.push(path);
        }
    }
    files
}
