//! Cross-language conformance: every case of `tests/conformance/cases.json`
//! runs on the Python and the JavaScript host (the real `ferry-bridge`
//! binary, over gRPC on a Unix socket) and on the in-process Rust handler,
//! one case per Invoke and all cases of a function in one Invoke, and each
//! outcome must equal the case's expectation. See
//! `tests/conformance/README.md`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use ferry_bridge::handler::ALL_INTERFACES;
use ferry_bridge::{Handler, ListenAddr};
use ferry_e2e_tests::TIMEOUT;
use ferry_e2e_tests::conformance::{self, Case};
use ferry_e2e_tests::workspace::binaries;
use ferry_proto::pb;
use ferry_proto::pb::bridge_client::BridgeClient;
use tonic::transport::Channel;

/// A `ferry-bridge` serving one conformance handler; killed and reaped
/// when dropped, so no run leaves one behind.
#[derive(Debug)]
struct Bridge {
    child: Child,
    stdin: Option<ChildStdin>,
    client: BridgeClient<Channel>,
    log: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl Bridge {
    async fn start(language: &str, handler: &Path) -> Self {
        let dir = tempfile::tempdir().expect("a tempdir for the socket");
        let socket = dir.path().join("bridge.sock");
        let mut child = Command::new(&binaries().bridge)
            .arg("--listen")
            .arg(format!("unix:{}", socket.display()))
            .args(["--language", language, "--handler"])
            .arg(handler)
            .arg("--exit-on-stdin-eof")
            .env("FERRY_LOG", "warn")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferry-bridge");
        let stdin = child.stdin.take();
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, log) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                text.push_str(&line);
                text.push('\n');
            }
            let _ = sender.send(text);
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let expected = format!("ferry-bridge listening on unix:{}", socket.display());
        let ready = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).unwrap_or(0) == 0 {
                    return false;
                }
                if line.trim_end() == expected {
                    // Drain the rest so the bridge never blocks on stdout.
                    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
                    return true;
                }
            }
        });
        let ready = tokio::time::timeout(TIMEOUT, ready).await.expect("the bridge starts in time");
        if !ready.expect("the stdout reader ran") {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = log.recv_timeout(TIMEOUT).unwrap_or_default();
            panic!("ferry-bridge --language {language} did not start:\n{stderr}");
        }
        let channel = ListenAddr::Unix(socket).connect().await.expect("connect to the bridge");
        Bridge { child, stdin, client: BridgeClient::new(channel), log, _dir: dir }
    }

    /// Closes stdin, as ferry does, and waits for a clean exit.
    fn stop(mut self) {
        drop(self.stdin.take());
        let started = Instant::now();
        loop {
            match self.child.try_wait().expect("poll the bridge") {
                Some(status) => {
                    let log = self.log.recv_timeout(TIMEOUT).unwrap_or_default();
                    assert!(status.success(), "the bridge exited with {status}:\n{log}");
                    return;
                }
                None if started.elapsed() > TIMEOUT => panic!("the bridge did not stop after stdin closed"),
                None => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A host the cases run on.
enum Host {
    Bridge(Box<Bridge>),
    Rust(Box<ferry_bridge::host::rust::RustHandlers>),
}

impl Host {
    /// The outcomes of `request`, or why the host refused it as a whole.
    async fn invoke(&mut self, request: pb::InvokeRequest) -> Result<Vec<pb::Outcome>, String> {
        let calls = request.calls.len();
        let outcomes = match self {
            Host::Bridge(bridge) => bridge
                .client
                .invoke(request)
                .await
                .map(|response| response.into_inner().outcomes)
                .map_err(|status| format!("{:?}: {}", status.code(), status.message()))?,
            Host::Rust(handlers) => handlers.invoke(request).await.map_err(|err| err.to_string())?,
        };
        assert_eq!(outcomes.len(), calls, "one outcome per call");
        Ok(outcomes)
    }

    /// The interfaces the host's handshake names.
    async fn interfaces(&mut self) -> Vec<pb::Interface> {
        match self {
            Host::Bridge(bridge) => bridge
                .client
                .handshake(pb::HandshakeRequest {
                    protocol_version: pb::ProtocolVersion::ProtocolVersion1.into(),
                    client_version: "conformance".to_owned(),
                })
                .await
                .expect("the handshake succeeds")
                .into_inner()
                .interfaces()
                .collect(),
            Host::Rust(handlers) => {
                handlers.description().map(|description| description.interfaces.clone()).unwrap_or_default()
            }
        }
    }
}

/// Compares one outcome with its case; a failure names the case, the
/// language and how the cases were sent.
fn check(case: &Case, language: &str, mode: &str, outcome: &pb::Outcome, failures: &mut Vec<String>) {
    let (actual, traceback) = conformance::render(outcome);
    let expected = case.expected(language);
    if &actual != expected {
        failures
            .push(format!("case {:?} on {language} ({mode}):\n  expected {expected}\n  actual   {actual}", case.name));
    }
    // Python and JS must say where a raised error came from; the Rust
    // twin's `Err` carries no traceback (see the README). Invalid results
    // come from ferry's checks, not from a raise, so none is required.
    let raised = expected["error"]["type"].as_str().is_some_and(|kind| kind != "InvalidHandlerResult");
    if raised && language != "rust" && traceback.as_deref().unwrap_or_default().trim().is_empty() {
        failures.push(format!("case {:?} on {language} ({mode}): the user error has no traceback", case.name));
    }
}

/// Checks the outcomes of one Invoke, or records its refusal against each
/// of its cases.
fn check_all(
    cases: &[&Case],
    language: &str,
    mode: &str,
    outcomes: Result<Vec<pb::Outcome>, String>,
    failures: &mut Vec<String>,
) {
    match outcomes {
        Ok(outcomes) => {
            for (case, outcome) in cases.iter().zip(&outcomes) {
                check(case, language, mode, outcome, failures);
            }
        }
        Err(refusal) => {
            for case in cases {
                failures.push(format!("case {:?} on {language} ({mode}): the Invoke failed: {refusal}", case.name));
            }
        }
    }
}

/// Runs `cases` on every host, one per Invoke and batched per function.
async fn run(cases: &[&Case]) {
    assert!(!cases.is_empty(), "no cases to run");
    let dir = conformance::dir();
    let python = Bridge::start("python", &dir.join("handler.py")).await;
    let js = Bridge::start("js", &dir.join("handler.mjs")).await;
    let mut hosts = vec![
        ("python", Host::Bridge(Box::new(python))),
        ("js", Host::Bridge(Box::new(js))),
        ("rust", Host::Rust(Box::new(conformance::rust_handlers()))),
    ];
    let mut failures = Vec::new();
    for (language, host) in &mut hosts {
        let interfaces = host.interfaces().await;
        if interfaces != ALL_INTERFACES {
            failures.push(format!("{language} serves {interfaces:?}; expected all of {ALL_INTERFACES:?}"));
        }
        for case in cases {
            let outcomes = host.invoke(conformance::request(&[case])).await;
            check_all(&[case], language, "one case per Invoke", outcomes, &mut failures);
        }
        let mut functions: Vec<&str> = cases.iter().map(|case| case.function.as_str()).collect();
        functions.sort_unstable();
        functions.dedup();
        for function in functions {
            let batch: Vec<&Case> = cases.iter().copied().filter(|case| case.function == function).collect();
            let outcomes = host.invoke(conformance::request(&batch)).await;
            check_all(&batch, language, &format!("{function} batch of {}", batch.len()), outcomes, &mut failures);
        }
    }
    for (_, host) in hosts {
        if let Host::Bridge(bridge) = host {
            bridge.stop();
        }
    }
    assert!(failures.is_empty(), "{} conformance failure(s):\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_language_gives_the_expected_outcome_of_every_case() {
    let cases = conformance::load_cases();
    let cases: Vec<&Case> = cases.iter().collect();
    for (function, _) in conformance::FUNCTIONS {
        assert!(cases.iter().any(|case| case.function == function), "no case of {function}");
    }
    run(&cases).await;
}
