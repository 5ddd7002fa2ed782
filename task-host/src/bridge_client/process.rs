//! A bridge started by the task host as a child process on a Unix socket.
//!
//! The child runs in its own process group, so a Ctrl-C in the terminal
//! reaches only the task host, which drains its in-flight batches before
//! it stops the bridge. The child's standard input is a pipe the bridge
//! watches: if the task host dies, the pipe closes and the bridge exits.
//! The child gets a scrubbed environment: user code sees no credentials.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ferry_bridge::ListenAddr;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// Environment variables a bridge may inherit. Everything else, AWS
/// credentials included, is withheld from user code.
const INHERITED_ENV: [&str; 9] =
    ["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "VIRTUAL_ENV", "PYTHONPATH", "FERRY_LOG"];

/// How long a bridge may take to stop after its input closes.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Why a bridge process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The ferry-bridge binary is missing or not executable: an install
    /// problem; retrying will not help.
    #[error("cannot start {binary}: {source}; build it with `cargo build -p ferry-bridge` or set FERRY_BRIDGE_BIN")]
    Start { binary: PathBuf, source: std::io::Error },
    /// The bridge exited before it was ready; its stderr says why.
    #[error("ferry-bridge exited before listening ({status}); see its messages above")]
    ExitedEarly { status: String },
}

/// A running bridge child process.
#[derive(Debug)]
pub struct BridgeProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: ListenAddr,
}

impl BridgeProcess {
    /// Starts `binary` for the handler and waits until it listens on
    /// `socket`.
    pub async fn spawn(binary: &Path, language: &str, handler: &Path, socket: &Path) -> Result<Self, SpawnError> {
        let addr = ListenAddr::Unix(socket.to_path_buf());
        let mut command = Command::new(binary);
        command
            .arg("--language")
            .arg(language)
            .arg("--handler")
            .arg(handler)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--exit-on-stdin-eof")
            .env_clear()
            .envs(INHERITED_ENV.iter().filter_map(|name| std::env::var_os(name).map(|value| (name, value))))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true);
        if std::env::var_os("FERRY_LOG").is_none() {
            command.env("FERRY_LOG", "warn");
        }
        let mut child = command.spawn().map_err(|source| SpawnError::Start { binary: binary.to_path_buf(), source })?;
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else {
            return Err(SpawnError::ExitedEarly { status: "no stdout".to_owned() });
        };
        let mut lines = BufReader::new(stdout).lines();
        let mut ready = false;
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("ferry-bridge listening on ") {
                ready = true;
                break;
            }
            eprintln!("bridge: {line}");
        }
        if !ready {
            let status = match child.wait().await {
                Ok(status) => status.to_string(),
                Err(err) => err.to_string(),
            };
            return Err(SpawnError::ExitedEarly { status });
        }
        // Whatever the user's code prints goes to our stderr, marked.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("bridge: {line}");
            }
        });
        Ok(Self { child, stdin, addr })
    }

    pub fn addr(&self) -> &ListenAddr {
        &self.addr
    }

    /// Asks the bridge to finish its in-flight batches and exit, and waits
    /// for it; kills it if it does not exit in time.
    pub async fn stop(mut self) {
        drop(self.stdin.take());
        if tokio::time::timeout(STOP_GRACE, self.child.wait()).await.is_err() {
            tracing::warn!("bridge did not stop in time; killing it");
            let _ = self.child.kill().await;
        }
    }
}

/// The ferry-bridge binary to start: FERRY_BRIDGE_BIN, else the one next
/// to the running executable, else `ferry-bridge` on PATH.
pub fn default_bridge_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FERRY_BRIDGE_BIN") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("ferry-bridge")))
        .filter(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("ferry-bridge"))
}
