//! Which process holds a task, so that a run can tell at once that the
//! holder on its own machine has died instead of waiting out its lease: a
//! run killed and started again straight away, on one machine, is the
//! common case of a task whose owner is gone.
//!
//! A holder is written `SPACE/PID`. SPACE names where a PID means one
//! process: the machine's boot (Linux's `boot_id`, random for each boot)
//! and its PID namespace (each container has its own), so a PID is only
//! ever looked up where it was taken. Where either is unknown (not Linux)
//! no holder is written, and leases alone decide.
//!
//! A holder whose PID was reused by another process looks alive; the
//! lease still ends, so the task is only taken over later.

use std::path::Path;
use std::sync::OnceLock;

/// This process's holder, when this system tells where its PIDs belong.
pub(super) fn this_process() -> Option<&'static str> {
    static HOLDER: OnceLock<Option<String>> = OnceLock::new();
    HOLDER.get_or_init(|| of_process(std::process::id())).as_deref()
}

/// The holder naming process `pid` of this machine and PID namespace.
pub(super) fn of_process(pid: u32) -> Option<String> {
    pid_space().map(|space| format!("{space}/{pid}"))
}

/// Whether `holder` names a process of this machine and PID namespace that
/// no longer runs. Holders elsewhere, or unreadable, are taken as alive.
pub(super) fn is_gone(holder: &str) -> bool {
    let Some((space, pid)) = holder.rsplit_once('/') else { return false };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    pid_space().is_some_and(|ours| ours == space)
        && pid != std::process::id()
        && !Path::new("/proc").join(pid.to_string()).exists()
}

fn pid_space() -> Option<&'static str> {
    static SPACE: OnceLock<Option<String>> = OnceLock::new();
    SPACE
        .get_or_init(|| {
            let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
            let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
            Some(format!("{}:{}", boot.trim(), namespace.display()))
        })
        .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_gone_once_its_process_on_this_machine_ended() {
        let mut child = std::process::Command::new("true").spawn().expect("start a process");
        let holder = of_process(child.id()).expect("this Linux machine tells where its PIDs belong");
        child.wait().expect("reap it");
        assert!(is_gone(&holder), "{holder}");
        assert!(!is_gone(this_process().expect("this process's holder")), "this process runs");
        let elsewhere = holder.replacen(':', "-other-boot:", 1);
        assert!(!is_gone(&elsewhere), "a process of another machine is taken as alive: {elsewhere}");
        assert!(!is_gone("not a holder"));
    }
}
