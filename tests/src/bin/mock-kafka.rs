//! A Kafka cluster for benchmarks and examples that have no broker:
//! rdkafka's mock cluster (real Kafka protocol, brokers in this process on
//! 127.0.0.1). Prints its bootstrap servers on the first line of stdout
//! and runs until stdin closes, so the process that started it stops it
//! by closing the pipe (or by ending).
//!
//! `mock-kafka [BROKERS [TOPIC:PARTITIONS ...]]`: BROKERS defaults to 3;
//! each TOPIC is created with PARTITIONS partitions, since the mock
//! brokers do not serve topic creation by clients.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use rdkafka::mocking::MockCluster;

fn main() -> ExitCode {
    const USAGE: &str = "usage: mock-kafka [BROKERS [TOPIC:PARTITIONS ...]]  (positive numbers; 3 brokers by default)";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let brokers = match args.first().map(|text| text.parse::<i32>()) {
        None => 3,
        Some(Ok(count)) if count > 0 => count,
        Some(_) => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut topics = Vec::new();
    for topic in args.iter().skip(1) {
        match topic.rsplit_once(':').map(|(name, count)| (name, count.parse::<i32>())) {
            Some((name, Ok(partitions))) if !name.is_empty() && partitions > 0 => topics.push((name, partitions)),
            _ => {
                eprintln!("{USAGE}; got {topic:?}");
                return ExitCode::from(2);
            }
        }
    }
    let cluster = match MockCluster::new(brokers) {
        Ok(cluster) => cluster,
        Err(err) => {
            eprintln!("cannot start a mock Kafka cluster: {err}");
            return ExitCode::FAILURE;
        }
    };
    for (name, partitions) in topics {
        if let Err(err) = cluster.create_topic(name, partitions, 1) {
            eprintln!("cannot create the topic {name}: {err}");
            return ExitCode::FAILURE;
        }
    }
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
