//! Round-trip latency of the `ferry-bridge` binary alone, with the
//! standard benchmark handler T (no JSON parsing), seen from a gRPC client
//! over a Unix socket.
//!
//! 1. Unbatched: N sequential Invoke calls of one ~1 KB record each.
//! 2. Batched: sequential Invoke calls of 256 records each.
//!
//! Run: `cargo bench -p ferry-bridge --bench roundtrip`, optionally
//! followed by `-- --calls N --batches N --batch-size N --warmup N`.
//! The client is a current-thread tokio runtime, so the figures are the
//! bridge's cost plus one socket round trip, not the task host's.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use ferry_bridge::ListenAddr;
use ferry_proto::pb;
use ferry_proto::pb::bridge_client::BridgeClient;
use tonic::transport::Channel;

/// Handler T of the standard workload, shared with tests/bench/run.py.
const HANDLER_T: &str = include_str!("../../tests/bench/handlers/t.py");

const RECORD_BYTES: usize = 1024;

struct Options {
    calls: usize,
    batches: usize,
    batch_size: usize,
    warmup: usize,
}

impl Options {
    fn parse() -> anyhow::Result<Self> {
        let mut options = Self { calls: 20_000, batches: 1_000, batch_size: 256, warmup: 2_000 };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| -> anyhow::Result<usize> {
                let text = args.next().with_context(|| format!("{name} needs a number"))?;
                text.parse().with_context(|| format!("{name} {text:?}: not a number"))
            };
            match arg.as_str() {
                "--calls" => options.calls = value("--calls")?,
                "--batches" => options.batches = value("--batches")?,
                "--batch-size" => options.batch_size = value("--batch-size")?,
                "--warmup" => options.warmup = value("--warmup")?,
                // cargo bench passes --bench to harness = false targets.
                "--bench" => {}
                other => bail!("unknown argument {other:?}; expected --calls, --batches, --batch-size, --warmup"),
            }
        }
        ensure!(options.calls > 0 && options.batches > 0 && options.batch_size > 0, "counts must be positive");
        Ok(options)
    }
}

/// One line of the standard workload shape, exactly RECORD_BYTES long with
/// its newline, the 16-hex-digit id last.
fn record(index: usize) -> (Bytes, String) {
    let id = format!("{:016x}", (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let head = format!(
        r#"{{"ts": {}, "level": "INFO", "host": "host-{:03}.example.internal", "msg": ""#,
        1_700_000_000_000_u64 + index as u64 * 7,
        index % 256
    );
    let tail = format!(r#"", "id": "{id}"}}"#);
    let filler = RECORD_BYTES - head.len() - tail.len() - 1;
    let msg: String = "lorem ipsum dolor sit amet ".chars().cycle().take(filler).collect();
    let line = format!("{head}{msg}{tail}\n");
    debug_assert_eq!(line.len(), RECORD_BYTES);
    (Bytes::from(line), id)
}

fn parse_request(first: usize, count: usize) -> (pb::InvokeRequest, Vec<String>) {
    let mut ids = Vec::with_capacity(count);
    let calls = (first..first + count)
        .map(|index| {
            let (content, id) = record(index);
            ids.push(id);
            pb::Call {
                args: Some(pb::call::Args::ParseDocument(pb::ParseDocumentArgs {
                    s3_file_type: "LOGS".to_owned(),
                    file_name: "logs.jsonl".to_owned(),
                    offset_bytes: (index * RECORD_BYTES) as u64,
                    content,
                })),
            }
        })
        .collect();
    let request = pb::InvokeRequest {
        function: pb::Function::SingleFileParserParseDocument.into(),
        calls,
        call_timeout_ms: 0,
        traceparent: String::new(),
    };
    (request, ids)
}

/// Checks that every outcome is a parsed document with the expected id.
fn check(response: &pb::InvokeResponse, ids: &[String]) -> anyhow::Result<()> {
    ensure!(response.outcomes.len() == ids.len(), "{} outcomes for {} calls", response.outcomes.len(), ids.len());
    for (outcome, id) in response.outcomes.iter().zip(ids) {
        match &outcome.result {
            Some(pb::outcome::Result::Parsed(parsed)) => {
                let document = parsed.document.as_ref().context("a parsed outcome without a document")?;
                ensure!(&document.document_id == id, "documentId {:?}, expected {id:?}", document.document_id);
            }
            other => bail!("unexpected outcome {other:?}"),
        }
    }
    Ok(())
}

async fn invoke(client: &mut BridgeClient<Channel>, request: pb::InvokeRequest) -> anyhow::Result<pb::InvokeResponse> {
    Ok(client.invoke(request).await.context("invoke")?.into_inner())
}

struct Percentiles {
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |quantile: f64| {
        let index = (quantile * (samples.len() - 1) as f64).round() as usize;
        samples[index]
    };
    Percentiles { p50: at(0.50), p90: at(0.90), p99: at(0.99), max: at(1.0) }
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// The bridge child: killed and reaped on drop.
struct Bridge {
    child: Child,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Closing stdin would stop it too; kill so a stuck bridge cannot
        // hang the bench.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the bridge and returns once it prints its listening line.
fn start_bridge(handler: &std::path::Path, socket: &std::path::Path) -> anyhow::Result<(Bridge, Duration)> {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry-bridge"))
        .arg("--language")
        .arg("python")
        .arg("--handler")
        .arg(handler)
        .arg("--listen")
        .arg(ListenAddr::Unix(socket.to_path_buf()).to_string())
        .arg("--exit-on-stdin-eof")
        .env("FERRY_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start ferry-bridge")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let bridge = Bridge { child };
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("ferry-bridge listening on") => break,
            Some(Ok(line)) => eprintln!("bridge: {line}"),
            Some(Err(err)) => return Err(err).context("read the bridge's stdout"),
            None => bail!("ferry-bridge exited before listening; see its messages above"),
        }
    }
    let ready = started.elapsed();
    // Keep draining whatever the handler prints so the pipe never fills.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Ok((bridge, ready))
}

/// Sends each request in turn, timing each round trip; the answers are
/// checked after the clock stops.
async fn time_each(
    client: &mut BridgeClient<Channel>,
    requests: &[(pb::InvokeRequest, Vec<String>)],
) -> anyhow::Result<(Percentiles, Duration)> {
    let mut samples = Vec::with_capacity(requests.len());
    let mut responses = Vec::with_capacity(requests.len());
    let all = Instant::now();
    for (request, _) in requests {
        let started = Instant::now();
        let response = invoke(client, request.clone()).await?;
        samples.push(started.elapsed());
        responses.push(response);
    }
    let elapsed = all.elapsed();
    for (response, (_, ids)) in responses.iter().zip(requests) {
        check(response, ids)?;
    }
    Ok((percentiles(samples), elapsed))
}

async fn bench(options: &Options, socket: PathBuf) -> anyhow::Result<()> {
    let connected = Instant::now();
    let channel = ListenAddr::Unix(socket).connect().await.context("connect to the bridge")?;
    let mut client = BridgeClient::new(channel);
    let handshake = client
        .handshake(pb::HandshakeRequest {
            protocol_version: pb::ProtocolVersion::ProtocolVersion1.into(),
            client_version: concat!("roundtrip-bench ", env!("CARGO_PKG_VERSION")).to_owned(),
        })
        .await
        .context("handshake")?
        .into_inner();
    ensure!(
        handshake.protocol_version() == pb::ProtocolVersion::ProtocolVersion1,
        "bridge speaks protocol {}",
        handshake.protocol_version
    );
    ensure!(
        handshake.interfaces.contains(&pb::Interface::SingleFileParser.into()),
        "the handler is not a SingleFileParser"
    );
    println!("handshake: {}, connect + handshake {:.0} us", handshake.runtime_version, micros(connected.elapsed()));

    // Warm-up: single calls and a few batches.
    for index in 0..options.warmup {
        let (request, ids) = parse_request(index, 1);
        check(&invoke(&mut client, request).await?, &ids)?;
    }
    for index in 0..options.warmup.div_ceil(options.batch_size).min(20) {
        let (request, ids) = parse_request(index * options.batch_size, options.batch_size);
        check(&invoke(&mut client, request).await?, &ids)?;
    }

    // Unbatched: one record per Invoke.
    let requests: Vec<_> = (0..options.calls).map(|index| parse_request(index, 1)).collect();
    let (stats, elapsed) = time_each(&mut client, &requests).await?;
    println!(
        "unbatched ({} calls, 1 x {RECORD_BYTES} B record each): p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, max {:.1} us; {:.0} calls/s",
        options.calls,
        micros(stats.p50),
        micros(stats.p90),
        micros(stats.p99),
        micros(stats.max),
        options.calls as f64 / elapsed.as_secs_f64()
    );

    // Batched.
    let size = options.batch_size;
    let requests: Vec<_> = (0..options.batches).map(|index| parse_request(index * size, size)).collect();
    let (stats, elapsed) = time_each(&mut client, &requests).await?;
    println!(
        "batched ({} batches of {size}): per batch p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, max {:.1} us; \
         {:.1} us per record at p50; {:.0} records/s",
        options.batches,
        micros(stats.p50),
        micros(stats.p90),
        micros(stats.p99),
        micros(stats.max),
        micros(stats.p50) / size as f64,
        (options.batches * size) as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse()?;
    let dir = tempfile::tempdir().context("create a tempdir")?;
    let handler = dir.path().join("handler_t.py");
    std::fs::write(&handler, HANDLER_T).context("write the handler")?;
    let socket = dir.path().join("bridge.sock");
    let (bridge, ready) = start_bridge(&handler, &socket)?;
    println!("ferry-bridge ready (spawn to listening line) in {:.1} ms", ready.as_secs_f64() * 1e3);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("start the tokio runtime")?;
    let result = runtime.block_on(bench(&options, socket));
    drop(bridge);
    result
}
