//! The `ferry` command line: `run`, `datasets`, `tasks`.
//!
//! Exit codes: 0 done; 1 a task or the run failed; 2 invalid input (the
//! dataset file, the command line); 130 stopped by Ctrl-C (resumable).

mod progress;
mod views;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use ferry_bridge::Handler;
use ferry_bridge::host::rust::RustHandlers;
use tokio_util::sync::CancellationToken;

use crate::bridge_client::default_bridge_binary;
use crate::pipeline::RunCounters;
use crate::run::{RunOptions, RunSummary, run_dataset};
use crate::store::{State, StoreLocation, TaskEnd, TaskStore};
use progress::ProgressDisplay;

const EXIT_FAILED: u8 = 1;
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(name = "ferry", version, about = "Runs data tasks: records in, your handler, documents out")]
struct Cli {
    /// The task store holding datasets, tasks and checkpoints: a SQLite
    /// file, or dynamodb://TABLE for a DynamoDB table shared by runs on
    /// many machines (created when missing; AWS configuration from the
    /// environment).
    #[arg(long, global = true, env = "FERRY_STORE", default_value = ".ferry/ferry.db")]
    store: StoreLocation,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a dataset, or resumes it from its checkpoints.
    Run {
        /// The dataset configuration (JSON).
        dataset: PathBuf,
        /// Forget the dataset's progress and outputs and start over.
        #[arg(long)]
        restart: bool,
        /// The ferry-bridge executable (default: next to ferry, then PATH).
        #[arg(long, env = "FERRY_BRIDGE_BIN")]
        bridge_bin: Option<PathBuf>,
    },
    /// Looks at datasets in the store.
    Datasets {
        #[command(subcommand)]
        command: DatasetsCommand,
    },
    /// Looks at the tasks of a dataset.
    Tasks {
        #[command(subcommand)]
        command: TasksCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DatasetsCommand {
    /// Lists every dataset.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Shows one dataset: state, task states, counters, configuration.
    View {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TasksCommand {
    /// Lists a dataset's tasks with state, counters and checkpoint.
    List {
        dataset: String,
        #[arg(long)]
        json: bool,
    },
}

/// Runs the CLI with the process arguments.
pub fn main() -> ExitCode {
    run_cli(None)
}

/// Runs the CLI with the user's Rust handlers linked in: datasets whose
/// `artifactImplementationLanguage` is `Rust` call them in process, and
/// those read by a state machine reader call its registered parser. A
/// handler crate's `main` is just `ferry_task_host::cli::main_with(...)`.
pub fn main_with(rust_handlers: RustHandlers) -> ExitCode {
    run_cli(Some(rust_handlers))
}

fn run_cli(rust_handlers: Option<RustHandlers>) -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    ExitCode::from(runtime.block_on(dispatch(cli, rust_handlers)))
}

async fn dispatch(cli: Cli, rust_handlers: Option<RustHandlers>) -> u8 {
    let store = match cli.store.open().await {
        Ok(store) => store,
        Err(err) => {
            eprintln!("error: cannot open {}: {err}", cli.store);
            return EXIT_FAILED;
        }
    };
    let result = match cli.command {
        Command::Run { dataset, restart, bridge_bin } => {
            let options = RunOptions {
                bridge_binary: bridge_bin.unwrap_or_else(default_bridge_binary),
                restart,
                rust_state_machines: rust_handlers.as_ref().map(RustHandlers::state_machines),
                rust_handler: rust_handlers.map(|handlers| Arc::new(handlers) as Arc<dyn Handler>),
            };
            return run(&dataset, store, &options).await;
        }
        Command::Datasets { command: DatasetsCommand::List { json } } => {
            views::datasets_list(store.as_ref(), json).await
        }
        Command::Datasets { command: DatasetsCommand::View { name, json } } => {
            views::dataset_view(store.as_ref(), &name, json).await
        }
        Command::Tasks { command: TasksCommand::List { dataset, json } } => {
            views::tasks_list(store.as_ref(), &dataset, json).await
        }
    };
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {err}");
            EXIT_FAILED
        }
    }
}

async fn run(dataset: &std::path::Path, store: Arc<dyn TaskStore>, options: &RunOptions) -> u8 {
    let cancel = CancellationToken::new();
    let watcher = tokio::spawn(stop_on_ctrl_c(cancel.clone()));
    let counters = Arc::new(RunCounters::default());
    let display = ProgressDisplay::start(Arc::clone(&counters));
    let result = run_dataset(dataset, store, options, counters, cancel).await;
    display.finish();
    watcher.abort();
    match result {
        Ok(summary) => {
            print_summary(&summary);
            // A dataset whose tasks caught up with their queues or streams
            // stays PROCESSING, and that run succeeded too.
            if summary.interrupted {
                EXIT_INTERRUPTED
            } else if summary.state == State::Errored {
                EXIT_FAILED
            } else {
                0
            }
        }
        Err(err) => {
            eprintln!("error: {err}");
            err.exit_code()
        }
    }
}

/// The first Ctrl-C stops the run cleanly; a second one exits at once.
async fn stop_on_ctrl_c(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    eprintln!("stopping: finishing the batches in flight and saving checkpoints (Ctrl-C again to abort)");
    cancel.cancel();
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("aborted; the next run resumes from the last checkpoint");
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    }
}

fn millis(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn print_summary(summary: &RunSummary) {
    let total = summary.total;
    let this_run = summary.tasks.len();
    let completed_now = summary.tasks.iter().filter(|report| report.end == TaskEnd::Completed).count();
    let seconds = summary.elapsed.as_secs_f64();
    println!("dataset {}: {} in {seconds:.2}s", summary.dataset, summary.state);
    println!(
        "  tasks    {} of {} complete ({completed_now} in this run, {} before)",
        completed_now + summary.tasks_already_complete,
        this_run + summary.tasks_already_complete,
        summary.tasks_already_complete
    );
    println!(
        "  records  {}: {} documents, {} errors, {} skipped",
        total.records(),
        total.processed,
        total.errored,
        total.skipped
    );
    println!(
        "  rate     {:.0} records/s ({} records in this run)",
        summary.records_this_run as f64 / seconds.max(1e-3),
        summary.records_this_run
    );
    if let (Some(p50), Some(p99)) = (summary.batch_latency_p50, summary.batch_latency_p99) {
        println!("  batches  p50 {:.2} ms, p99 {:.2} ms round trip", millis(p50), millis(p99));
    }
    println!("  output   {}", summary.output);
    let sink = &summary.sink;
    if let (Some(p50), Some(p99)) = (sink.put_latency_p50, sink.put_latency_p99) {
        println!(
            "  writes   {} puts, {} documents, {} bytes, {} retries, {} refused; p50 {:.2} ms, p99 {:.2} ms per put",
            sink.put_calls,
            sink.records,
            sink.bytes,
            sink.retries,
            sink.rejected,
            millis(p50),
            millis(p99)
        );
    }
    println!("  errors   {}", summary.errors);
    for report in &summary.tasks {
        if let TaskEnd::Errored(message) = &report.end {
            println!("  task {} failed: {message}", report.task_id);
        }
    }
    let caught_up = summary.tasks.iter().filter(|report| report.end == TaskEnd::CaughtUp).count();
    if caught_up > 0 {
        println!("  {caught_up} tasks read all their source had for now: run again to read what arrives next");
    }
    if summary.interrupted {
        println!("  stopped early: run the same command again to resume");
    }
}
