//! Interrupts a JavaScript call that runs past its time limit.
//!
//! Each worker notes when a call starts and ends; one watchdog thread
//! serves all workers of a host. While any call runs it looks every few
//! milliseconds, and asks the isolate of an overdue call to terminate
//! execution, which unwinds the running script at its next loop back-edge
//! or call (it cannot be caught by the script). The worker then cancels the
//! termination, so its runtime serves the next call. While no call runs the
//! watchdog sleeps until the next call starts.
//!
//! A call is marked and fired under one lock per worker, so the watchdog
//! never terminates a call other than the overdue one.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use deno_core::v8;

/// How often the watchdog looks at the running calls.
const POLL: Duration = Duration::from_millis(5);

/// The watchdog of one host's workers; stops its thread when dropped.
#[derive(Debug)]
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    slots: Mutex<Vec<Arc<Slot>>>,
    /// Calls running over all workers.
    running: AtomicUsize,
    /// Set while the watchdog is about to park or parked.
    parked: AtomicBool,
    stop: AtomicBool,
    /// The watchdog thread, for waking it.
    thread: OnceLock<Thread>,
}

#[derive(Debug)]
struct Slot {
    isolate: v8::IsolateHandle,
    call: Mutex<CallState>,
}

#[derive(Debug, Default)]
struct CallState {
    /// When the running call is overdue; None between calls.
    deadline: Option<Instant>,
    /// Whether the watchdog terminated the running call.
    fired: bool,
}

impl Watchdog {
    pub fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let watched = Arc::clone(&shared);
        let thread = thread::Builder::new().name("js-call-watchdog".to_owned()).spawn(move || watch(&watched))?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// Watches the calls of the worker that owns `isolate`.
    pub fn register(&self, isolate: v8::IsolateHandle) -> CallWatch {
        let slot = Arc::new(Slot { isolate, call: Mutex::default() });
        lock(&self.shared.slots).push(Arc::clone(&slot));
        CallWatch { shared: Arc::clone(&self.shared), slot }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.shared.thread.get() {
            thread.unpark();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A worker's side of the watchdog.
#[derive(Debug)]
pub struct CallWatch {
    shared: Arc<Shared>,
    slot: Arc<Slot>,
}

impl CallWatch {
    /// Marks the start of a call allowed to run for `limit`.
    pub fn begin(&self, limit: Duration) {
        *lock(&self.slot.call) = CallState { deadline: Some(Instant::now() + limit), fired: false };
        self.shared.running.fetch_add(1, Ordering::SeqCst);
        if self.shared.parked.load(Ordering::SeqCst)
            && let Some(thread) = self.shared.thread.get()
        {
            thread.unpark();
        }
    }

    /// Marks the end of the call; true when the watchdog terminated it. The
    /// termination is cancelled, so the isolate runs the next call; call
    /// this only once the terminated script has unwound.
    pub fn end(&self) -> bool {
        let fired = {
            let mut call = lock(&self.slot.call);
            call.deadline = None;
            std::mem::take(&mut call.fired)
        };
        self.shared.running.fetch_sub(1, Ordering::SeqCst);
        if fired {
            self.slot.isolate.cancel_terminate_execution();
        }
        fired
    }
}

fn watch(shared: &Shared) {
    let _ = shared.thread.set(thread::current());
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.running.load(Ordering::SeqCst) == 0 {
            // A call starting after `parked` is set sees it and wakes us;
            // one starting before is seen by the second look.
            shared.parked.store(true, Ordering::SeqCst);
            if shared.running.load(Ordering::SeqCst) == 0 && !shared.stop.load(Ordering::SeqCst) {
                thread::park();
            }
            shared.parked.store(false, Ordering::SeqCst);
            continue;
        }
        thread::sleep(POLL);
        let now = Instant::now();
        for slot in lock(&shared.slots).iter() {
            let mut call = lock(&slot.call);
            if !call.fired && call.deadline.is_some_and(|deadline| now >= deadline) {
                call.fired = true;
                slot.isolate.terminate_execution();
            }
        }
    }
}

/// Locks `mutex`; the state behind these locks stays consistent even if a
/// holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
