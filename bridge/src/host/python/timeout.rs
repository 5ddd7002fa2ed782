//! Interrupts a Python call that runs past its time limit.
//!
//! The interpreter thread notes when each call starts; a watchdog thread
//! checks every few milliseconds. For an overdue call it takes the GIL
//! (the running code yields it within the interpreter's switch interval,
//! or at once while it sleeps or waits on I/O), checks the same call is
//! still running, and asks the bootstrap to raise `CallTimeout` in it: a
//! SIGUSR2 sent to the interpreter thread alone, which also cuts short a
//! blocking sleep or read. The interpreter thread is Python's main thread
//! (it initialised the interpreter), the only one that runs signal
//! handlers. Code stuck inside a C extension that never returns to Python
//! cannot be interrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// How often the watchdog looks at the running call.
const POLL: Duration = Duration::from_millis(5);

#[derive(Debug)]
struct Shared {
    epoch: Instant,
    /// Nanoseconds since `epoch` at which the running call started, plus
    /// one; zero while no call runs.
    call_started: AtomicU64,
    limit_nanos: AtomicU64,
    fired: AtomicBool,
}

/// The interpreter thread's side of the watchdog.
#[derive(Debug)]
pub struct CallWatch {
    shared: Arc<Shared>,
    disarm: Py<PyAny>,
}

impl CallWatch {
    /// Starts the watchdog. `fire` and `disarm` are the bootstrap's
    /// functions that arm and cancel the interruption.
    pub fn start(fire: Py<PyAny>, disarm: Py<PyAny>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
            call_started: AtomicU64::new(0),
            limit_nanos: AtomicU64::new(u64::MAX),
            fired: AtomicBool::new(false),
        });
        let watched = Arc::clone(&shared);
        thread::Builder::new()
            .name("python-call-watchdog".to_owned())
            .spawn(move || watch(&watched, &fire))?;
        Ok(Self { shared, disarm })
    }

    /// Marks the start of a call allowed to run for `limit`.
    pub fn begin(&self, limit: Duration) {
        let shared = &self.shared;
        shared.limit_nanos.store(nanos(limit), Ordering::Relaxed);
        shared.call_started.store(nanos(shared.epoch.elapsed()) + 1, Ordering::Release);
    }

    /// Marks the end of the call; true when the watchdog interrupted it.
    pub fn end(&self, py: Python<'_>) -> bool {
        self.shared.call_started.store(0, Ordering::Release);
        let fired = self.shared.fired.swap(false, Ordering::AcqRel);
        if fired {
            // The call may have returned before the interruption landed;
            // make sure it cannot land in the next call instead.
            let _ = self.disarm.call0(py);
        }
        fired
    }
}

fn watch(shared: &Shared, fire: &Py<PyAny>) {
    loop {
        thread::sleep(POLL);
        let started = shared.call_started.load(Ordering::Acquire);
        if started == 0 || shared.fired.load(Ordering::Acquire) {
            continue;
        }
        let running_for = nanos(shared.epoch.elapsed()).saturating_sub(started - 1);
        if running_for <= shared.limit_nanos.load(Ordering::Relaxed) {
            continue;
        }
        Python::attach(|py| {
            // With the GIL held here the interpreter thread is inside user
            // code or between batches; only the former is interrupted.
            if shared.call_started.load(Ordering::Acquire) == started {
                shared.fired.store(true, Ordering::Release);
                if let Err(err) = fire.call0(py) {
                    tracing::error!(error = %err, "cannot interrupt an overdue call");
                }
            }
        });
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
