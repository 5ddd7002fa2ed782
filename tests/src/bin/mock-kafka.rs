//! A Kafka cluster for benchmarks and examples that have no broker:
//! rdkafka's mock cluster (real Kafka protocol, brokers in this process on
//! 127.0.0.1). Prints its bootstrap servers on the first line of stdout
//! and runs until stdin closes, so the process that started it stops it
//! by closing the pipe (or by ending).
//!
//! `mock-kafka [BROKERS]` (default 3).

use std::io::{BufRead, Write};
use std::process::ExitCode;

use rdkafka::mocking::MockCluster;

fn main() -> ExitCode {
    let brokers = match std::env::args().nth(1).map(|text| text.parse::<i32>()) {
        None => 3,
        Some(Ok(count)) if count > 0 => count,
        Some(_) => {
            eprintln!("usage: mock-kafka [BROKERS]  (a positive number, default 3)");
            return ExitCode::from(2);
        }
    };
    let cluster = match MockCluster::new(brokers) {
        Ok(cluster) => cluster,
        Err(err) => {
            eprintln!("cannot start a mock Kafka cluster: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", cluster.bootstrap_servers()).and_then(|()| stdout.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    // Read until end of input: the caller closes the pipe to stop us.
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}
