//! `ferry-bridge`: serves one user handler over gRPC.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ferry_bridge::host::js::JsHost;
use ferry_bridge::host::python::PythonHost;
use ferry_bridge::{Handler, ListenAddr, server};
use tokio::io::AsyncReadExt;

#[derive(Debug, Parser)]
#[command(name = "ferry-bridge", version, about = "Serves a ferry handler over gRPC")]
struct Args {
    /// Language of the handler.
    #[arg(long, value_enum)]
    language: Language,
    /// The handler: a .py (or .js/.mjs) file, a directory with handler.py
    /// (or handler.js/handler.mjs), or a LetsData project directory (one
    /// holding letsdata_interfaces/).
    #[arg(long)]
    handler: PathBuf,
    /// Where to listen: unix:/path/to.sock or tcp:HOST:PORT.
    #[arg(long)]
    listen: ListenAddr,
    /// Bearer token clients must present; required for non-loopback TCP.
    #[arg(long, env = "FERRY_BRIDGE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Longest a single handler call may run, in milliseconds, when the
    /// client sets no limit; an overdue call is interrupted and becomes
    /// that record's error.
    #[arg(long, default_value_t = ferry_bridge::handler::DEFAULT_CALL_TIMEOUT.as_millis() as u64)]
    call_timeout_ms: u64,
    /// JavaScript worker threads, each with its own engine, serving batches
    /// in parallel; defaults to the number of cores. The Python host runs
    /// one interpreter and ignores it.
    #[arg(long, value_name = "N", default_value_t = default_workers())]
    workers: NonZeroUsize,
    /// Stop when standard input closes, so the bridge never outlives the
    /// process that started it.
    #[arg(long)]
    exit_on_stdin_eof: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Language {
    Python,
    #[value(name = "js", alias = "javascript")]
    Js,
}

fn default_workers() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let call_timeout = Duration::from_millis(args.call_timeout_ms);
    let started: Result<Arc<dyn Handler>, String> = match args.language {
        Language::Python => PythonHost::start(&args.handler, call_timeout)
            .map(|host| Arc::new(host) as Arc<dyn Handler>)
            .map_err(|err| err.to_string()),
        Language::Js => JsHost::start(&args.handler, args.workers, call_timeout)
            .map(|host| Arc::new(host) as Arc<dyn Handler>)
            .map_err(|err| err.to_string()),
    };
    let handler = match started {
        Ok(handler) => handler,
        Err(err) => {
            eprintln!("ferry-bridge: {err}");
            return ExitCode::FAILURE;
        }
    };
    match handler.description() {
        Ok(description) => tracing::info!(
            runtime = %description.runtime_version,
            digest = %description.digest,
            "handler loaded"
        ),
        // Keep serving: the handshake reports the failure to the client.
        Err(failure) => tracing::error!(error = %failure.message, details = %failure.details, "handler failed to load"),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("ferry-bridge: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(server::serve(
        handler,
        args.listen,
        args.token,
        // The parent reads this line to learn the bridge is ready.
        |addr| println!("ferry-bridge listening on {addr}"),
        shutdown_signal(args.exit_on_stdin_eof),
    ));
    // The stdin watcher sits in a blocking read that never returns on its
    // own; do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ferry-bridge: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal(exit_on_stdin_eof: bool) {
    let stdin_closed = async {
        if exit_on_stdin_eof {
            let mut sink = [0_u8; 64];
            let mut stdin = tokio::io::stdin();
            while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
        } else {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
        _ = stdin_closed => {}
    }
    tracing::info!("shutting down");
}
