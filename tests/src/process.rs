//! A `ferry` process under test: its output collected as it comes, its
//! exit waited for with a bound, and a kill when the test ends early.
//!
//! Three threads per process (stdout, stderr, exit) report into one
//! channel, so a test can wait for "a line on stderr", "a handler reached a
//! gate" or "the process exited", whichever comes first, without polling.
//! Stderr closes only when every process holding it has exited: the
//! bridges `ferry` starts inherit it, so its end also means they are gone.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::Instant;

use rustix::process::Pid;
pub use rustix::process::Signal;
use serde_json::Value;

use crate::TIMEOUT;
use crate::gate::Gate;

/// What the reader threads report.
#[derive(Debug)]
enum Event {
    Exited(std::io::Result<ExitStatus>),
    Stdout(String),
    StderrLine(String),
    StderrClosed,
    /// A gate's `reached` pipe was read to its end, with what it held.
    GateReached(std::io::Result<String>),
}

/// A started process.
#[derive(Debug)]
pub struct Running {
    pid: i32,
    command: String,
    sender: Sender<Event>,
    events: Receiver<Event>,
    status: Option<ExitStatus>,
    stdout: Option<String>,
    stderr: String,
    stderr_closed: bool,
    finished: bool,
}

/// A process that ran to its end.
#[derive(Debug, Clone)]
pub struct Finished {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Running {
    /// Spawns `command`, whose stdout and stderr must be piped.
    pub fn start(mut command: Command) -> Self {
        let shown = format!("{command:?}");
        let mut child = command.spawn().unwrap_or_else(|err| panic!("cannot start {shown}: {err}"));
        let pid = i32::try_from(child.id()).expect("a pid fits in i32");
        let (sender, events) = mpsc::channel();
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let report = sender.clone();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            let _ = report.send(Event::Stdout(text));
        });
        let report = sender.clone();
        thread::spawn(move || {
            let mut stderr = BufReader::new(stderr);
            let mut line = Vec::new();
            // Until end of file (or a read error, which ends it as well).
            while stderr.read_until(b'\n', &mut line).is_ok_and(|read| read > 0) {
                let text = String::from_utf8_lossy(&line).trim_end_matches('\n').to_owned();
                if report.send(Event::StderrLine(text)).is_err() {
                    return;
                }
                line.clear();
            }
            let _ = report.send(Event::StderrClosed);
        });
        let report = sender.clone();
        thread::spawn(move || {
            let _ = report.send(Event::Exited(child.wait()));
        });
        Self {
            pid,
            command: shown,
            sender,
            events,
            status: None,
            stdout: None,
            stderr: String::new(),
            stderr_closed: false,
            finished: false,
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> &str {
        &self.stderr
    }

    /// Sends `signal` to the process (only to it, not to its group).
    pub fn signal(&self, signal: Signal) {
        assert!(self.status.is_none(), "`{}` already exited", self.command);
        let pid = Pid::from_raw(self.pid).expect("a positive pid");
        rustix::process::kill_process(pid, signal)
            .unwrap_or_else(|err| panic!("cannot signal `{}`: {err}", self.command));
    }

    /// The pids of the process's children whose name is `name`.
    pub fn children_named(&self, name: &str) -> Vec<i32> {
        children_named(self.pid, name)
    }

    /// Waits until a line of stderr contains `needle`.
    pub fn wait_for_stderr(&mut self, needle: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while !self.stderr.contains(needle) {
            assert!(
                !self.stderr_closed,
                "`{}` closed stderr without printing {needle:?}; it printed:\n{}",
                self.command, self.stderr
            );
            let what = format!("{needle:?} on stderr");
            let event = self.next_event(deadline, &what);
            self.record(event);
        }
    }

    /// Waits until the handler stops at `gate`, which it does when it
    /// reaches the gate's record for the first time.
    pub fn wait_at(&mut self, gate: &Gate) {
        assert!(
            self.status.is_none(),
            "`{}` exited before reaching gate {}:\n{}",
            self.command,
            gate.name(),
            self.stderr
        );
        let reached = gate.reached_path().to_path_buf();
        let report = self.sender.clone();
        thread::spawn(move || {
            let _ = report.send(Event::GateReached(std::fs::read_to_string(reached)));
        });
        let deadline = Instant::now() + TIMEOUT;
        let what = format!("the handler to reach gate {}", gate.name());
        loop {
            match self.next_event(deadline, &what) {
                Event::GateReached(Ok(text)) => {
                    assert_eq!(text, format!("{}\n", gate.name()), "what the handler wrote at the gate");
                    return;
                }
                Event::GateReached(Err(err)) => panic!("cannot read the pipe of gate {}: {err}", gate.name()),
                Event::Exited(status) => {
                    // Let the reader thread go, then report what ferry said.
                    gate.unblock_reader();
                    self.record(Event::Exited(status));
                    self.collect_stderr(deadline);
                    panic!(
                        "`{}` exited ({:?}) before the handler reached gate {}; stdout:\n{}\nstderr:\n{}",
                        self.command,
                        self.status,
                        gate.name(),
                        self.stdout.as_deref().unwrap_or_default(),
                        self.stderr
                    );
                }
                other => self.record(other),
            }
        }
    }

    /// Waits for the process to exit and for its stdout and stderr to
    /// close (so also for any bridge it left running).
    pub fn wait(mut self) -> Finished {
        let deadline = Instant::now() + TIMEOUT;
        while self.status.is_none() || self.stdout.is_none() || !self.stderr_closed {
            let event = self.next_event(deadline, "the process to exit and close its output");
            self.record(event);
        }
        self.finished = true;
        Finished {
            command: std::mem::take(&mut self.command),
            status: self.status.expect("exited"),
            stdout: self.stdout.take().unwrap_or_default(),
            stderr: std::mem::take(&mut self.stderr),
        }
    }

    fn collect_stderr(&mut self, deadline: Instant) {
        while !self.stderr_closed && Instant::now() < deadline {
            match self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(event) => self.record(event),
                Err(_) => return,
            }
        }
    }

    fn next_event(&mut self, deadline: Instant, what: &str) -> Event {
        match self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => panic!(
                "timed out after {TIMEOUT:?} waiting for {what} from `{}`; stderr so far:\n{}",
                self.command, self.stderr
            ),
            Err(RecvTimeoutError::Disconnected) => unreachable!("the receiver holds a sender"),
        }
    }

    fn record(&mut self, event: Event) {
        match event {
            Event::Exited(status) => {
                let status = status.unwrap_or_else(|err| panic!("cannot wait for `{}`: {err}", self.command));
                self.status = Some(status);
            }
            Event::Stdout(text) => self.stdout = Some(text),
            Event::StderrLine(line) => {
                self.stderr.push_str(&line);
                self.stderr.push('\n');
            }
            Event::StderrClosed => self.stderr_closed = true,
            Event::GateReached(_) => {}
        }
    }
}

impl Drop for Running {
    /// A test that fails half way still stops its ferry; its bridges then
    /// stop as their standard input closes.
    fn drop(&mut self) {
        if self.finished || self.status.is_some() {
            return;
        }
        if let Some(pid) = Pid::from_raw(self.pid) {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
        let deadline = Instant::now() + TIMEOUT;
        while self.status.is_none() {
            match self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Event::Exited(status)) => self.status = status.ok(),
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics, showing the output, unless the process exited with `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(code),
            "`{}` exited with {}, not {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless stdout has a line equal to `line`.
    #[track_caller]
    pub fn expect_stdout_line(&self, line: &str) -> &Self {
        assert!(
            self.stdout.lines().any(|printed| printed == line),
            "`{}` printed no line {line:?}; stdout:\n{}",
            self.command,
            self.stdout
        );
        self
    }

    /// Stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("`{}` printed no JSON ({err}):\n{}", self.command, self.stdout))
    }
}

/// The pids of `parent`'s children named `name`, from /proc.
pub fn children_named(parent: i32, name: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|text| text.parse::<i32>().ok()) else {
            continue;
        };
        // Gone already, or not ours to read: not a child we look for.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let comm = head.split_once('(').map_or("", |(_, comm)| comm);
        let ppid = rest.split_whitespace().nth(1).and_then(|field| field.parse::<i32>().ok());
        if ppid == Some(parent) && comm == name {
            found.push(pid);
        }
    }
    found
}

/// Waits until process `pid` has exited (a zombie counts: it runs no
/// more). Event driven through a pidfd, bounded by [`TIMEOUT`], after
/// which the process is killed and the test fails.
pub fn wait_until_gone(pid: i32, what: &str) {
    let Some(raw) = Pid::from_raw(pid) else { panic!("{pid} is not a pid") };
    let pidfd = match rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) {
        Ok(pidfd) => pidfd,
        // Exited and reaped already.
        Err(rustix::io::Errno::SRCH) => return,
        Err(err) => panic!("pidfd_open({pid}): {err}"),
    };
    let timeout =
        rustix::event::Timespec { tv_sec: i64::try_from(TIMEOUT.as_secs()).expect("a small timeout"), tv_nsec: 0 };
    let mut fds = [rustix::event::PollFd::new(&pidfd, rustix::event::PollFlags::IN)];
    loop {
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => {
                // Not left behind by a failed test.
                let _ = rustix::process::kill_process(raw, Signal::KILL);
                panic!("{what} (pid {pid}) still runs after {TIMEOUT:?}; killed it")
            }
            Ok(_) => return,
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => panic!("poll on the pidfd of {what}: {err}"),
        }
    }
}
