//! A moto server (the AWS API emulator) on 127.0.0.1, one per test, so
//! tests that run at the same time never see each other's queues, streams
//! or buckets. `tests/run-all.sh` installs moto into the repository's
//! `.venv`; the server is killed and reaped when the [`Moto`] is dropped.
//! A test's own DynamoDB tables are [`Table`](crate::table::Table)s, its
//! buckets [`Bucket`](crate::bucket::Bucket)s.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

use crate::TIMEOUT;
use crate::process::{Finished, Running};
use crate::workspace::Workspace;

/// The region every test resource is created in.
pub const REGION: &str = "us-east-1";
/// The account moto puts in every ARN.
pub const ACCOUNT: &str = "123456789012";

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    /// Starts a server on a free port and waits until it accepts
    /// connections.
    pub fn start() -> Self {
        let server = moto_server();
        // Ask the kernel for a free port, then hand it to moto: the gap is
        // short and ports are not reused at once.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free port on 127.0.0.1");
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", server.display()));
        let moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < TIMEOUT, "moto did not listen on port {port} within {TIMEOUT:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The environment that points `ferry` (and any AWS SDK) at this
    /// server with test credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            // boto3 (the example's seed script) reads only this one.
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
        ]
    }

    /// Adds [`Moto::env`] to `command`.
    pub fn apply(&self, command: &mut Command) {
        for (key, value) in self.env() {
            command.env(key, value);
        }
        command.env_remove("AWS_PROFILE");
    }

    /// An SDK configuration for the test's own calls (creating resources,
    /// writing records, reading them back).
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `moto_server` from the venv `tests/run-all.sh` sets up.
fn moto_server() -> PathBuf {
    let venv = std::env::var_os("FERRY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    let server = venv.join("bin/moto_server");
    assert!(
        server.is_file(),
        "{} is missing: run tests/run-all.sh, which installs moto into the venv",
        server.display()
    );
    server
}

/// What a cloud-sourced run left behind, gathered from a workspace's
/// `output/` and `errors/` folders and the task store.
#[derive(Debug)]
pub struct RunResults {
    /// Every output line of every task, parsed, in file name then line
    /// order.
    pub documents: Vec<serde_json::Value>,
    /// Every error document, by file name.
    pub errors: std::collections::BTreeMap<String, serde_json::Value>,
    /// `ferry tasks list DATASET --json`.
    pub tasks: Vec<serde_json::Value>,
}

impl Moto {
    /// `ferry ARGS...` in `workspace`, pointed at this server.
    pub fn command(&self, workspace: &Workspace, args: &[&str]) -> Command {
        let mut command = workspace.command(args);
        self.apply(&mut command);
        command
    }

    /// Starts `ferry run DATASET` in `workspace` and returns at once.
    pub fn spawn_run(&self, workspace: &Workspace) -> Running {
        let dataset = workspace.dataset_file();
        Running::start(self.command(workspace, &["run", &dataset]))
    }

    /// `ferry run DATASET` in `workspace` to its end.
    pub fn run(&self, workspace: &Workspace) -> Finished {
        self.spawn_run(workspace).wait()
    }

    /// The documents, error documents and tasks of `dataset` in
    /// `workspace`.
    pub fn results(&self, workspace: &Workspace, dataset: &str) -> RunResults {
        let mut documents = Vec::new();
        for name in workspace.file_names("output") {
            let text = std::fs::read_to_string(workspace.path(&format!("output/{name}"))).expect("read an output file");
            documents.extend(
                text.lines().map(|line| {
                    serde_json::from_str(line).unwrap_or_else(|err| panic!("output/{name}: {err}: {line}"))
                }),
            );
        }
        let errors = workspace
            .file_names("errors")
            .into_iter()
            .map(|name| {
                let text =
                    std::fs::read_to_string(workspace.path(&format!("errors/{name}"))).expect("read an error file");
                let parsed = serde_json::from_str(&text).unwrap_or_else(|err| panic!("errors/{name}: {err}"));
                (name, parsed)
            })
            .collect();
        let listed = Running::start(self.command(workspace, &["tasks", "list", dataset, "--json"])).wait();
        listed.expect_code(0);
        let serde_json::Value::Array(tasks) = listed.json() else {
            panic!("tasks list --json printed no array:\n{}", listed.stdout);
        };
        RunResults { documents, errors, tasks }
    }
}
