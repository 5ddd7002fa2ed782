//! Runs one handler call so that a panic becomes data, never a crash.
//!
//! A panic inside [`guard`] is caught with `catch_unwind` and returned as
//! a [`Caught`] (message, location, backtrace when `RUST_BACKTRACE` asks
//! for one). A panic hook installed on first use keeps such panics off
//! stderr, where one line per failed record would bury everything else;
//! panics anywhere else go to the hook that was there before.
//!
//! Handler crates must keep the default `panic = "unwind"`: with
//! `panic = "abort"` nothing can be caught and the process ends.

use std::any::Any;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

/// A panic of a handler call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caught {
    /// The panic message (`"Box<dyn Any>"` for a payload that is not text).
    pub message: String,
    /// Where it panicked and, when enabled, the backtrace.
    pub traceback: String,
}

thread_local! {
    /// Set while this thread runs a guarded call.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// What the hook saw of the last guarded panic on this thread.
    static SEEN: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Runs `call`, catching a panic.
///
/// The handler may be left in whatever state the panic interrupted; it
/// keeps serving the next calls, as a Python handler does after an
/// exception.
pub fn guard<T>(call: impl FnOnce() -> T) -> Result<T, Caught> {
    HOOK.call_once(install_hook);
    let outer = GUARDED.replace(true);
    let result = panic::catch_unwind(AssertUnwindSafe(call));
    GUARDED.set(outer);
    result.map_err(|payload| Caught {
        message: payload_text(payload.as_ref()),
        traceback: SEEN.take().unwrap_or_default(),
    })
}

fn install_hook() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if GUARDED.get() {
            SEEN.set(Some(describe(info)));
        } else {
            previous(info);
        }
    }));
}

fn describe(info: &PanicHookInfo<'_>) -> String {
    let mut text = match info.location() {
        Some(location) => format!("panicked at {location}"),
        None => "panicked".to_owned(),
    };
    let backtrace = Backtrace::capture();
    if backtrace.status() == BacktraceStatus::Captured {
        text.push_str("\nstack backtrace:\n");
        text.push_str(&backtrace.to_string());
    }
    text
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_with_its_message_and_location() {
        let caught = guard(|| -> u32 { panic!("record {} is odd", 7) }).err();
        let caught = caught.unwrap_or_else(|| Caught { message: String::new(), traceback: String::new() });
        assert_eq!(caught.message, "record 7 is odd");
        assert!(caught.traceback.starts_with("panicked at bridge/src/host/rust/panic.rs:"), "{}", caught.traceback);
    }

    #[test]
    fn a_call_that_returns_is_passed_through() {
        assert_eq!(guard(|| 42), Ok(42));
    }

    #[test]
    fn odd_payloads_and_nested_guards() {
        let caught = guard(|| panic::panic_any(5_u8)).err().map(|caught| caught.message);
        assert_eq!(caught.as_deref(), Some("Box<dyn Any>"));
        let inner = guard(|| guard(|| panic!("inner")).err().map(|caught| caught.message));
        assert_eq!(inner, Ok(Some("inner".to_owned())));
        // The outer guard is still in force after the inner one ended.
        assert!(guard(|| panic!("outer")).is_err());
    }
}
