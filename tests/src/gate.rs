//! Gates: places where a test's handler stops and waits for the test.
//!
//! A gate is two named pipes and a marker file in one directory. When the
//! handler reaches the gate's record it creates the marker (so a later run
//! passes the gate without stopping), opens `NAME.reached` for writing,
//! writes `NAME\n` and closes it; opening blocks until the test reads, so
//! when the test has read the line it knows the run is exactly there. The
//! handler then opens `NAME.resume` for reading, which blocks until the test
//! opens it for writing ([`Gate::release`]). In between, the handler's
//! batch is in flight and the run cannot move past it.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use rustix::fs::{FileType, Mode, OFlags};

use crate::TIMEOUT;

#[derive(Debug)]
pub struct Gate {
    name: String,
    reached: PathBuf,
    resume: PathBuf,
    marker: PathBuf,
}

impl Gate {
    /// Creates the gate's pipes in `dir`.
    pub fn create(dir: &Path, name: &str) -> Self {
        std::fs::create_dir_all(dir).expect("create the gate directory");
        let gate = Self {
            name: name.to_owned(),
            reached: dir.join(format!("{name}.reached")),
            resume: dir.join(format!("{name}.resume")),
            marker: dir.join(format!("{name}.fired")),
        };
        for fifo in [&gate.reached, &gate.resume] {
            rustix::fs::mknodat(rustix::fs::CWD, fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
                .unwrap_or_else(|err| panic!("mkfifo {}: {err}", fifo.display()));
        }
        gate
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn reached_path(&self) -> &Path {
        &self.reached
    }

    /// Whether a handler has stopped at this gate (in any run).
    pub fn has_fired(&self) -> bool {
        self.marker.exists()
    }

    /// Python for the handler: `wait_at_gate(GATE_DIR, NAME)` as described
    /// in the module documentation.
    pub const PYTHON: &'static str = r#"
def wait_at_gate(gate_dir, name):
    marker = os.path.join(gate_dir, name + ".fired")
    if os.path.exists(marker):
        return
    open(marker, "w").close()
    with open(os.path.join(gate_dir, name + ".reached"), "w") as reached:
        reached.write(name + "\n")
    with open(os.path.join(gate_dir, name + ".resume")) as resume:
        resume.read()
"#;

    /// Lets the handler waiting at this gate go on. Waits (bounded) for it
    /// to be there.
    pub fn release(&self) {
        let resume = self.resume.clone();
        let (done, opened) = mpsc::channel();
        thread::spawn(move || {
            let _ = done.send(OpenOptions::new().write(true).open(resume).map(drop));
        });
        match opened.recv_timeout(TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => panic!("cannot open {}: {err}", self.resume.display()),
            Err(_) => {
                // Let the opening thread go before failing.
                let _ = open_nonblocking(&self.resume, OFlags::RDONLY);
                panic!("no handler waited at gate {} within {TIMEOUT:?}", self.name);
            }
        }
    }

    /// Ends a test's wait for `reached` when no handler will come.
    pub(crate) fn unblock_reader(&self) {
        let _ = open_nonblocking(&self.reached, OFlags::WRONLY);
    }
}

impl Drop for Gate {
    /// A handler still waiting at the gate (the test failed) goes on, so
    /// that its bridge can stop.
    fn drop(&mut self) {
        let _ = open_nonblocking(&self.resume, OFlags::WRONLY);
    }
}

/// Opens a pipe without waiting for the other end: fails at once (for
/// writing) when nobody reads.
fn open_nonblocking(path: &Path, access: OFlags) -> std::io::Result<std::fs::File> {
    let mut options = OpenOptions::new();
    if access == OFlags::WRONLY {
        options.write(true);
    } else {
        options.read(true);
    }
    options.custom_flags(i32::try_from(OFlags::NONBLOCK.bits()).expect("a small flag"));
    options.open(path)
}
