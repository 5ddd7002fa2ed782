//! `ferry`: the task host's command line.

fn main() -> std::process::ExitCode {
    ferry_task_host::cli::main()
}
