//! `rust-state-machine`: the `ferry` command line with this crate's
//! stateful parsers linked in (`rust-state-machine run dataset.json`).

use std::process::ExitCode;

fn main() -> ExitCode {
    ferry_task_host::cli::main_with(rust_state_machine::handlers())
}
