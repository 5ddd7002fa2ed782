#!/usr/bin/env python3
"""End-to-end benchmarks of `ferry run` on the standard workload.

Scenarios (see tests/bench/README.md and ../shared/bench/README.md):
  a  handler T (trivial, no JSON parsing) over the standard 200,000 lines
  b  handler J (json.loads) over the same file
  c  RSS flatness: handler T over ~100 MB and ~1 GB inputs (Python)
a and b run once per handler language (--languages, default python,js,rust).

Plain Python 3, standard library only. Typical use, from the repository root:
  python3 tests/bench/run.py                 # everything, 3 runs each
  python3 tests/bench/run.py --quick         # smoke test: small inputs, 1 run
  python3 tests/bench/run.py --scenarios a,b
  python3 tests/bench/run.py --scenarios a --languages rust
"""

import argparse
import datetime
import hashlib
import json
import os
import pathlib
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_GENERATOR = REPO_ROOT.parent / "shared" / "bench" / "gen_workload.py"
DEFAULT_SCRATCH = Path("/tmp/ferry-bench")
SEED = 42
SAMPLE_INTERVAL = 0.02  # seconds between RSS samples
CHILD_SCAN_EVERY = 10  # look for new child processes every N samples
PAGE_TICKS = os.sysconf("SC_CLK_TCK")

# Targets on the reference machine (2 cores); printed as met / missed.
TARGET_RECORDS_PER_S_T = 150_000
TARGET_RSS_FLATNESS = 0.20

# The benchmark handlers, shared with bridge/benches/roundtrip.rs.
HANDLERS_DIR = pathlib.Path(__file__).resolve().parent / "handlers"
HANDLER_T = (HANDLERS_DIR / "t.py").read_text()

HANDLER_J = (HANDLERS_DIR / "j.py").read_text()

JS_HANDLER_T = (HANDLERS_DIR / "t.mjs").read_text()

JS_HANDLER_J = (HANDLERS_DIR / "j.mjs").read_text()

LANGUAGES = ("python", "js", "rust")
# Handler sources per language; Rust handlers are compiled into their own
# binaries (tests/bench/rust_handlers), so they have no source file here.
HANDLERS = {
    "python": {"T": HANDLER_T, "J": HANDLER_J},
    "js": {"T": JS_HANDLER_T, "J": JS_HANDLER_J},
}
HANDLER_FILES = {"python": "handler.py", "js": "handler.mjs"}
DATASET_LANGUAGES = {"python": "Python", "js": "Javascript", "rust": "Rust"}
RUST_BINARIES = {"T": "bench-handler-t", "J": "bench-handler-j"}
# The bridge thread that runs the handler, per language (a name prefix).
HANDLER_THREADS = {"python": "python-host", "js": "js-worker"}


class BenchError(Exception):
    """A problem the person running the benchmark can fix."""


def log(message):
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Build and workload


def build(no_build):
    if not no_build:
        command = ["cargo", "build", "--release", "-p", "ferry-task-host", "-p", "ferry-bridge",
                   "-p", "ferry-bench-handlers"]
        log("building: " + " ".join(command))
        if subprocess.run(command, cwd=REPO_ROOT).returncode != 0:
            raise BenchError("cargo build failed (see the messages above)")
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    if metadata.returncode == 0:
        target = Path(json.loads(metadata.stdout)["target_directory"]) / "release"
    elif no_build:
        # The workspace may be mid-edit; the binaries built before still serve.
        target = Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target")) / "release"
        log(f"cargo metadata failed; using the binaries in {target}")
    else:
        raise BenchError("cargo metadata failed: " + metadata.stderr.strip())
    binaries = {"ferry": target / "ferry", "bridge": target / "ferry-bridge"}
    binaries.update({f"rust-{handler}": target / name for handler, name in RUST_BINARIES.items()})
    for binary in binaries.values():
        if not binary.is_file():
            raise BenchError(f"{binary} is missing; build it (drop --no-build)")
    return binaries


def workload(generator, scratch, lines):
    """The standard workload of `lines` lines, generated once and cached.

    The file sits alone in its directory (the dataset globs it). A sidecar
    records what was generated; the file is reused only when the sidecar
    matches the request and the file still has the recorded size.
    """
    directory = scratch / f"workload-{lines}"
    path = directory / "logs.jsonl"
    meta_path = scratch / f"workload-{lines}.meta.json"
    generator_digest = hashlib.sha256(generator.read_bytes()).hexdigest()[:16]
    wanted = {"lines": lines, "seed": SEED, "generator_sha256": generator_digest}
    if path.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError:
            meta = {}
        if all(meta.get(key) == value for key, value in wanted.items()) and meta.get(
            "bytes"
        ) == path.stat().st_size:
            return path, meta["bytes"]
    directory.mkdir(parents=True, exist_ok=True)
    partial = scratch / f"workload-{lines}.partial"
    log(f"generating {lines} lines -> {path}")
    result = subprocess.run(
        [sys.executable, str(generator), str(partial), str(lines), "--seed", str(SEED)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BenchError(f"{generator} failed:\n{result.stdout}{result.stderr}")
    log("  " + result.stdout.strip())
    os.replace(partial, path)
    size = path.stat().st_size
    meta_path.write_text(json.dumps(dict(wanted, bytes=size)) + "\n")
    return path, size


# --------------------------------------------------------------------------
# Process sampling


def read_status(pid):
    """(VmRSS, VmHWM) in bytes, or None when the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            text = status.read()
    except OSError:
        return None
    rss = hwm = None
    for line in text.split(b"\n"):
        if line.startswith(b"VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith(b"VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    if rss is None:
        return None
    return rss, hwm or rss


def read_stat(pid):
    """(ppid, comm, cpu seconds) of a process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode("utf-8", "replace")
    except OSError:
        return None
    # comm is in parentheses and may hold spaces.
    close = text.rfind(")")
    comm = text[text.find("(") + 1 : close]
    fields = text[close + 2 :].split()
    ppid = int(fields[1])
    cpu = (int(fields[11]) + int(fields[12])) / PAGE_TICKS
    return ppid, comm, cpu


def children_of(pid):
    """Direct children of pid: through /proc/PID/task/*/children when the
    kernel has it, else by scanning every process's parent."""
    found = []
    task_dir = Path(f"/proc/{pid}/task")
    used_children_files = False
    try:
        for task in task_dir.iterdir():
            children = task / "children"
            if children.exists():
                used_children_files = True
                found.extend(int(child) for child in children.read_text().split())
    except OSError:
        return found
    if used_children_files:
        return found
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = read_stat(entry.name)
            if stat and stat[0] == pid:
                found.append(int(entry.name))
    return found


class ProcessInfo:
    def __init__(self, pid, comm):
        self.pid = pid
        self.comm = comm
        self.peak_rss = 0  # max sampled VmRSS
        self.peak_hwm = 0  # max VmHWM seen
        self.cpu = 0.0  # last seen utime + stime
        self.threads = {}  # tid -> (name, last seen cpu seconds)

    def cpu_by_thread_name(self):
        totals = {}
        for name, cpu in self.threads.values():
            totals[name] = totals.get(name, 0.0) + cpu
        return totals

    def peak(self):
        return max(self.peak_rss, self.peak_hwm)


class Sampler(threading.Thread):
    """Samples VmRSS / VmHWM of a process tree every SAMPLE_INTERVAL, and
    notes when the first document reaches `output_dir`."""

    def __init__(self, root_pid, output_dir):
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.output_dir = output_dir
        self.first_output = None  # (perf_counter(), bytes) when output first appeared
        self.processes = {}
        self.stopped = threading.Event()

    def run(self):
        tick = 0
        while not self.stopped.is_set():
            if self.first_output is None:
                size = self._output_bytes()
                if size:
                    self.first_output = (time.perf_counter(), size)
            if tick % CHILD_SCAN_EVERY == 0 or len(self.processes) < 2:
                self._discover()
            for info in list(self.processes.values()):
                self._sample(info)
            tick += 1
            self.stopped.wait(SAMPLE_INTERVAL)

    def _output_bytes(self):
        try:
            return sum(entry.stat().st_size for entry in os.scandir(self.output_dir))
        except OSError:
            return 0

    def _discover(self):
        pending = [self.root_pid]
        while pending:
            pid = pending.pop()
            if pid not in self.processes:
                stat = read_stat(pid)
                if stat is None:
                    continue
                self.processes[pid] = ProcessInfo(pid, stat[1])
            pending.extend(children_of(pid))

    def _sample(self, info):
        status = read_status(info.pid)
        if status is not None:
            info.peak_rss = max(info.peak_rss, status[0])
            info.peak_hwm = max(info.peak_hwm, status[1])
        stat = read_stat(info.pid)
        if stat is not None:
            info.cpu = max(info.cpu, stat[2])
        try:
            tids = os.listdir(f"/proc/{info.pid}/task")
        except OSError:
            return
        for tid in tids:
            thread = read_stat(f"{info.pid}/task/{tid}")
            if thread is not None:
                info.threads[tid] = (thread[1], max(thread[2], info.threads.get(tid, ("", 0.0))[1]))

    def stop(self):
        self.stopped.set()
        self.join()


def cpu_snapshot():
    """(all ticks, idle ticks) summed over CPUs, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:8]]
    return sum(fields), fields[3] + fields[4]  # idle + iowait


def cpu_busy(interval=0.5):
    """Fraction of all CPUs busy over `interval` seconds."""
    snapshot = cpu_snapshot
    total0, idle0 = snapshot()
    time.sleep(interval)
    total1, idle1 = snapshot()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet(limit, timeout):
    """Waits until other work leaves the CPUs (e.g. someone's cargo build),
    so it does not skew a run. Returns the busy fraction finally seen."""
    deadline = time.monotonic() + timeout
    busy = cpu_busy()
    warned = False
    while busy > limit and time.monotonic() < deadline:
        if not warned:
            log(f"  machine busy ({busy:.0%} CPU used by other processes); waiting up to {timeout:.0f}s")
            warned = True
        time.sleep(2)
        busy = cpu_busy()
    if busy > limit:
        log(f"  still busy ({busy:.0%}); running anyway, figures may be low")
    return busy


# --------------------------------------------------------------------------
# One run of ferry

SUMMARY_RATE = re.compile(r"^\s*rate\s+([\d.]+) records/s")
SUMMARY_BATCHES = re.compile(r"^\s*batches\s+p50 ([\d.]+) ms, p99 ([\d.]+) ms")
SUMMARY_RECORDS = re.compile(
    r"^\s*records\s+(\d+): (\d+) documents, (\d+) errors, (\d+) skipped"
)
SUMMARY_ELAPSED = re.compile(r"^dataset \S+: \S+ in ([\d.]+)s")


def write_dataset(run_dir, name, language, handler, data_dir, engine):
    run_dir.mkdir(parents=True)
    read_connector = {
        "connectorDestination": "File",
        "readerType": "Single File Reader",
        "artifactImplementationLanguage": DATASET_LANGUAGES[language],
    }
    if language in HANDLERS:
        handler_file = HANDLER_FILES[language]
        (run_dir / handler_file).write_text(HANDLERS[language][handler])
        read_connector["handlerPath"] = handler_file
    read_connector["directory"] = str(data_dir)
    dataset = {
        "datasetName": name,
        "readConnector": read_connector,
        "manifestFile": {"manifestType": "LocalFileManifest", "glob": "logs.jsonl"},
        "writeConnector": {"connectorDestination": "File", "directory": "output"},
        "errorConnector": {"connectorDestination": "Folder", "directory": "errors"},
        "computeEngine": dict({"computeEngineType": "Local"}, **engine),
    }
    path = run_dir / "dataset.json"
    path.write_text(json.dumps(dataset, indent=2) + "\n")
    return path


def count_lines(directory):
    total = 0
    if not directory.is_dir():
        return 0
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                while True:
                    chunk = handle.read(1 << 22)
                    if not chunk:
                        break
                    total += chunk.count(b"\n")
    return total


def run_ferry(binaries, run_dir, name, language, handler, data_path, lines, engine, quiet,
              timeout):
    """Runs ferry once in a fresh directory and returns its measurements.

    Rust handlers run in process: their binary is ferry with the handler
    linked in, and no bridge process starts."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    busy_before = wait_for_quiet(*quiet)
    dataset = write_dataset(run_dir, name, language, handler, data_path.parent, engine)
    ferry = binaries[f"rust-{handler}"] if language == "rust" else binaries["ferry"]
    command = [str(ferry), "--store", str(run_dir / "store.db"), "run", str(dataset),
               "--bridge-bin", str(binaries["bridge"])]
    stdout_path, stderr_path = run_dir / "ferry.stdout", run_dir / "ferry.stderr"
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        cpu_before = cpu_snapshot()
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=run_dir, stdin=subprocess.DEVNULL,
                                   stdout=stdout, stderr=stderr)
        sampler = Sampler(process.pid, run_dir / "output")
        sampler.start()
        # A hung run is killed (our own child, by its pid) rather than
        # waited for forever; its bridge exits when its stdin closes.
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        watchdog.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
        cpu_after = cpu_snapshot()
        self_after = resource.getrusage(resource.RUSAGE_SELF)
    # CPU time other processes took during the run: all busy time minus
    # ferry's tree and this script (the sampler).
    busy_s = ((cpu_after[0] - cpu_before[0]) - (cpu_after[1] - cpu_before[1])) / PAGE_TICKS
    own_s = (usage.ru_utime + usage.ru_stime + self_after.ru_utime + self_after.ru_stime
             - self_before.ru_utime - self_before.ru_stime)
    others = max(busy_s - own_s, 0.0) / (wall * (os.cpu_count() or 1))
    out = stdout_path.read_text()
    if watchdog.finished.is_set() and wall >= timeout:
        raise BenchError(f"ferry did not finish within {timeout:g}s (--timeout) in {run_dir}; killed it")
    if process.returncode != 0:
        raise BenchError(
            f"ferry exited with {process.returncode} in {run_dir}:\n{out}{stderr_path.read_text()}"
        )
    result = {
        "busy_before": busy_before,
        "others_during": others,
        "sampler_cpu_s": (self_after.ru_utime + self_after.ru_stime
                          - self_before.ru_utime - self_before.ru_stime),
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "cpu_user_s": usage.ru_utime,
        "cpu_sys_s": usage.ru_stime,
    }
    for line in out.splitlines():
        if match := SUMMARY_RATE.match(line):
            result["ferry_rate"] = float(match.group(1))
        elif match := SUMMARY_BATCHES.match(line):
            result["p50_ms"], result["p99_ms"] = float(match.group(1)), float(match.group(2))
        elif match := SUMMARY_RECORDS.match(line):
            result["records"], result["documents"], result["errors"], result["skipped"] = (
                int(group) for group in match.groups()
            )
        elif match := SUMMARY_ELAPSED.match(line):
            result["ferry_elapsed_s"] = float(match.group(1))
    for key in ("ferry_rate", "records"):
        if key not in result:
            raise BenchError(f"no `{key}` in ferry's summary ({run_dir}):\n{out}")
    result["e2e_rate"] = lines / wall
    output_bytes = sum(p.stat().st_size for p in (run_dir / "output").rglob("*") if p.is_file())
    if sampler.first_output is not None and output_bytes:
        # The sink writes in 1 MiB chunks, so the first bytes on disk mean
        # `done` documents are already written. From there to exit is the
        # steady state; extrapolating back at that rate gives the time the
        # first document would have appeared: the start-up (runtime,
        # store, bridge start, handshake, first batch).
        seen_at, seen_bytes = sampler.first_output
        seen_at -= SAMPLE_INTERVAL / 2  # the write happened since the last sample
        done = lines * seen_bytes / output_bytes
        steady = (lines - done) / max(started + wall - seen_at, 1e-3)
        # A run shorter than a few samples (a fast Rust handler on a small
        # input) may show its output only once it is all written: no steady
        # state to measure.
        if steady > 0:
            result["steady_rate"] = steady
            result["startup_s"] = max(seen_at - started - done / steady, 0.0)
    host = sampler.processes.get(process.pid)
    bridges = [info for pid, info in sampler.processes.items() if pid != process.pid]
    result["host_rss"] = host.peak() if host else 0
    # None when no bridge ran (Rust handlers): reported as "-".
    result["bridge_rss"] = max((info.peak() for info in bridges), default=None)
    result["host_cpu_sampled_s"] = host.cpu if host else 0.0
    result["bridge_cpu_sampled_s"] = sum(info.cpu for info in bridges)
    result["bridge_processes"] = [info.comm for info in bridges]
    result["host_threads_cpu_s"] = host.cpu_by_thread_name() if host else {}
    result["bridge_threads_cpu_s"] = {}
    for info in bridges:
        for name, cpu in info.cpu_by_thread_name().items():
            result["bridge_threads_cpu_s"][name] = result["bridge_threads_cpu_s"].get(name, 0.0) + cpu
    # Correctness, cheaply: one output line per input line, and no errors.
    output_lines = count_lines(run_dir / "output")
    error_lines = count_lines(run_dir / "errors")
    result["output_lines"] = output_lines
    result["correct"] = (output_lines == lines and result["records"] == lines
                         and result.get("errors", 0) == 0 and error_lines == 0)
    if not result["correct"]:
        log(f"  WRONG: {lines} input lines, {output_lines} output lines, "
            f"{error_lines} error lines, summary {result.get('records')} records")
    # Output can be large (1 GB input): drop it once counted.
    shutil.rmtree(run_dir / "output", ignore_errors=True)
    return result


# --------------------------------------------------------------------------
# Reporting


def median_range(values, fmt):
    if not values:
        return "n/a"
    text = fmt(statistics.median(values))
    if len(values) > 1:
        text += f" ({fmt(min(values))}-{fmt(max(values))})"
    return text


def rate_fmt(value):
    return f"{value / 1000:.1f}k"


def mb_fmt(value):
    return f"{value / 2**20:.0f}"


def sec_fmt(value):
    return f"{value:.2f}"


def ms_fmt(value):
    return f"{value:.2f}"


def summarize(label, results):
    def col(key):
        return [r[key] for r in results if key in r]

    return {
        "scenario": label,
        "runs": len(results),
        "e2e": median_range(col("e2e_rate"), rate_fmt),
        "net": median_range(col("ferry_rate"), rate_fmt),
        "steady": median_range(col("steady_rate"), rate_fmt),
        "startup": median_range(col("startup_s"), sec_fmt),
        "cpu": median_range(col("cpu_s"), sec_fmt),
        "host_rss": median_range(col("host_rss"), mb_fmt),
        "bridge_rss": median_range([v for v in col("bridge_rss") if v is not None], mb_fmt)
        if any(r.get("bridge_rss") is not None for r in results) else "-",
        "p50": median_range(col("p50_ms"), ms_fmt),
        "p99": median_range(col("p99_ms"), ms_fmt),
        "others": f"{max(r['others_during'] for r in results):.0%}",
        "ok": "yes" if all(r["correct"] for r in results) else "NO",
    }


def print_table(rows):
    headers = [
        ("scenario", "scenario"),
        ("runs", "runs"),
        ("e2e", "records/s e2e"),
        ("net", "records/s net"),
        ("startup", "start-up s"),
        ("steady", "records/s steady"),
        ("cpu", "CPU s"),
        ("host_rss", "host RSS MB"),
        ("bridge_rss", "bridge RSS MB"),
        ("p50", "batch p50 ms"),
        ("p99", "batch p99 ms"),
        ("others", "others CPU"),
        ("ok", "lines ok"),
    ]
    widths = [max(len(title), *(len(str(row[key])) for row in rows)) for key, title in headers]
    print("  ".join(title.ljust(width) for (_, title), width in zip(headers, widths)))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print("  ".join(str(row[key]).ljust(width) for (key, _), width in zip(headers, widths)))


def git_commit():
    """HEAD's short hash, with "+dirty" when tracked files differ from it
    (the binaries were built from the working tree)."""
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    if result.returncode != 0:
        return "unknown"
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    return result.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


# --------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="a,b,c",
                        help="comma-separated subset of a,b,c (default: all)")
    parser.add_argument("--languages", default=",".join(LANGUAGES),
                        help="handler languages for a and b, comma-separated subset of "
                             "python,js,rust (default: all); c always runs Python")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 20k lines for a/b, 10k/100k for c, 1 run")
    parser.add_argument("--runs", type=int, help="runs per scenario (default 3, 1 with --quick)")
    parser.add_argument("--lines", type=int, help="lines for a and b (default 200000)")
    parser.add_argument("--workload-generator", type=Path, default=DEFAULT_GENERATOR,
                        help=f"gen_workload.py (default {DEFAULT_GENERATOR})")
    parser.add_argument("--scratch", type=Path, default=DEFAULT_SCRATCH,
                        help=f"workloads and run directories (default {DEFAULT_SCRATCH})")
    parser.add_argument("--no-build", action="store_true", help="use the existing release binaries")
    parser.add_argument("--batch-size", type=int, default=256, help="computeEngine.batchSize")
    parser.add_argument("--max-in-flight", type=int, default=4,
                        help="computeEngine.maxInFlightBatches")
    parser.add_argument("--busy-limit", type=float, default=0.15,
                        help="before each run, wait while other processes use more than this "
                             "fraction of the CPUs (default 0.15)")
    parser.add_argument("--busy-wait", type=float, default=300,
                        help="longest wait for a quiet machine, seconds (default 300)")
    parser.add_argument("--retries", type=int, default=2,
                        help="run again when other processes took more than --busy-limit of "
                             "the CPUs during a run, up to this many times (default 2)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="kill a ferry run that takes longer, seconds (default 600)")
    parser.add_argument("--json", type=Path, help="also write all measurements to this file")
    args = parser.parse_args()

    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in ("a", "b", "c")]
    if unknown or not scenarios:
        parser.error(f"--scenarios takes a comma-separated subset of a,b,c, not {args.scenarios!r}")
    languages = [s.strip() for s in args.languages.split(",") if s.strip()]
    unknown = [s for s in languages if s not in LANGUAGES]
    if unknown or not languages:
        parser.error(f"--languages takes a comma-separated subset of python,js,rust, "
                     f"not {args.languages!r}")
    runs = args.runs or (1 if args.quick else 3)
    lines_ab = args.lines or (20_000 if args.quick else 200_000)
    lines_c = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    engine = {"concurrency": 2, "batchSize": args.batch_size,
              "maxInFlightBatches": args.max_in_flight, "bridgeProcesses": 1}

    generator = args.workload_generator.resolve()
    if not generator.is_file():
        raise BenchError(
            f"workload generator not found: {generator}\n"
            "It is ../shared/bench/gen_workload.py relative to the repository root; "
            "pass --workload-generator PATH to use another copy."
        )
    args.scratch.mkdir(parents=True, exist_ok=True)
    commit = git_commit()
    binaries = build(args.no_build)

    log(f"commit {commit}, {os.cpu_count()} CPUs, {runs} run(s), scratch {args.scratch}")
    rows, raw = [], {}

    def scenario(label, handler, lines, name, language="python"):
        data_path, size = workload(generator, args.scratch, lines)
        results = []
        for index in range(runs):
            run_dir = args.scratch / "runs" / f"{name}-{index + 1}"
            attempts = []
            for attempt in range(1 + args.retries):
                result = run_ferry(binaries, run_dir, name, language, handler, data_path, lines,
                                   engine, (args.busy_limit, args.busy_wait), args.timeout)
                handler_thread = HANDLER_THREADS.get(language)
                thread_cpu = sum(cpu for thread, cpu in result["bridge_threads_cpu_s"].items()
                                 if handler_thread and thread.startswith(handler_thread))
                bridge_rss = result["bridge_rss"]
                log(f"  {label} run {index + 1}: {result['e2e_rate']:.0f} records/s e2e, "
                    f"{result['ferry_rate']:.0f} net, "
                    f"{result.get('steady_rate', 0):.0f} steady, wall {result['wall_s']:.2f}s, "
                    f"CPU {result['cpu_s']:.2f}s (host ~{result['host_cpu_sampled_s']:.2f}, "
                    + (f"bridge ~{result['bridge_cpu_sampled_s']:.2f}, of which {handler_thread} "
                       f"~{thread_cpu:.2f}), " if bridge_rss is not None else "no bridge), ")
                    + f"RSS host {result['host_rss'] / 2**20:.0f} MB, "
                    + (f"bridge {bridge_rss / 2**20:.0f} MB; " if bridge_rss is not None else "")
                    + f"other processes used {result['others_during']:.0%} of the CPUs")
                attempts.append(result)
                if result["others_during"] <= args.busy_limit:
                    break
                if attempt < args.retries:
                    log("    disturbed by other processes; running it again")
            # The least disturbed attempt counts.
            result = min(attempts, key=lambda r: r["others_during"])
            result["attempts"] = len(attempts)
            results.append(result)
        raw[label] = {"lines": lines, "bytes": size, "handler": handler, "language": language,
                      "runs": results}
        rows.append(summarize(label, results))
        return results

    for key, handler in (("a", "T"), ("b", "J")):
        if key in scenarios:
            for language in languages:
                scenario(f"{key}: {handler} {lines_ab // 1000}k {language}", handler, lines_ab,
                         f"bench-{key}-{handler.lower()}-{language}", language)
    flatness = None
    if "c" in scenarios:
        small = scenario(f"c: T {lines_c[0] // 1000}k", "T", lines_c[0], "bench-c-small")
        large = scenario(f"c: T {lines_c[1] // 1000}k", "T", lines_c[1], "bench-c-large")
        small_rss = statistics.median(r["host_rss"] for r in small)
        large_rss = statistics.median(r["host_rss"] for r in large)
        flatness = (small_rss, large_rss, large_rss / small_rss if small_rss else float("nan"))

    print()
    print(f"ferry benchmarks, commit {commit}, {datetime.date.today()}, "
          f"{os.cpu_count()} CPUs, batchSize {args.batch_size}, "
          f"maxInFlightBatches {args.max_in_flight}; medians of {runs} run(s) (min-max)")
    print()
    print_table(rows)
    print()
    print("records/s e2e: input lines / wall time from process start to exit (measured here)")
    print("records/s net: ferry's own `rate` line (excludes process start, includes bridge start)")
    print("records/s steady: rate from the first output bytes on disk to exit (sampled every 20 ms)")
    print("start-up s: wall time before documents flow, extrapolated back at the steady rate")
    print("CPU s: user+sys of ferry and its reaped children; RSS: peak VmHWM / sampled VmRSS")
    print("others CPU: worst share of the CPUs other processes took during a counted run")
    if flatness:
        small_rss, large_rss, ratio = flatness
        print()
        print(f"RSS flatness: task host peak {small_rss / 2**20:.1f} MB at {lines_c[0]} lines, "
              f"{large_rss / 2**20:.1f} MB at {lines_c[1]} lines: ratio {ratio:.2f} "
              f"({'within' if abs(ratio - 1) <= TARGET_RSS_FLATNESS else 'OUTSIDE'} "
              f"{TARGET_RSS_FLATNESS:.0%})")
    for language in languages:
        label_a = f"a: T {lines_ab // 1000}k {language}"
        if label_a in raw and not args.quick:
            median = statistics.median(r["e2e_rate"] for r in raw[label_a]["runs"])
            verdict = "met" if median >= TARGET_RECORDS_PER_S_T else "MISSED"
            print(f"target (a, {language}) >= {TARGET_RECORDS_PER_S_T} records/s end to end: "
                  f"{verdict} ({median:.0f})")
    if args.json:
        args.json.write_text(json.dumps({"commit": commit, "date": str(datetime.date.today()),
                                         "cpus": os.cpu_count(), "engine": engine,
                                         "scenarios": raw, "rss_flatness": flatness},
                                        indent=2) + "\n")
    if not all(row["ok"] == "yes" for row in rows):
        print("\nSOME RUNS PRODUCED THE WRONG NUMBER OF OUTPUT LINES (see above)")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
