"""API benchmark: requests/s and p99 latency of the main read and write endpoints of content and users, and how
much of each request was spent waiting on the database (from the services' `Server-Timing: db;dur, app;dur`).

    .venv/bin/python bench/api/run.py                      # starts its own servers and services, then measures
    .venv/bin/python bench/api/run.py --base-url http://127.0.0.1:8080   # aims at a running gateway instead

Load is open-loop at a fixed rate (default 200 requests/s) with a bound on requests in flight; latency is measured
from each request's scheduled start, so queueing behind a slow server counts (no coordinated omission).
Targets on this machine: p99 < 50 ms at 200 req/s; the service's own time (outside the database) < 5 ms p99.
"""

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from agora_devservers.machine import describe as describe_machine
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[2]
TIMING_RE = re.compile(r"db;dur=([\d.]+), app;dur=([\d.]+)")
P99_TARGET_MS = 50.0
APP_P99_TARGET_MS = 5.0


# ---------------------------------------------------------------- environment: servers and services




def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


@dataclass
class Environment:
    content_url: str
    users_url: str | None
    description: str
    processes: list[subprocess.Popen] = field(default_factory=list)
    servers: list = field(default_factory=list)

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for server in reversed(self.servers):
            server.stop()


def start_service(module: str, port: int, env: dict[str, str], log_dir: Path) -> subprocess.Popen:
    log = open(log_dir / f"{module.split('.')[0]}.log", "ab")  # noqa: SIM115 - the child process owns it
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", module, "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--log-level", "warning"],
        env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
    )


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service behind {url} exited with {proc.returncode}; see its log")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def start_environment(log_dir: Path) -> Environment:
    from agora_devservers import free_port, start_kafka, start_mongo

    env = Environment(content_url="", users_url=None, description="")
    try:
        mongo = start_mongo(log_dir=log_dir)  # fresh server: SecantusDB slows down the longer it runs
        env.servers.append(mongo)
        kafka = start_kafka(log_dir=log_dir)
        env.servers.append(kafka)
        common = {"AGORA_MONGO_URL": mongo.url, "AGORA_KAFKA_BOOTSTRAP": kafka.url, "AGORA_TOPIC_PREFIX": "bench.",
                  "AGORA_LOG_LEVEL": "WARNING"}
        port = free_port()
        proc = start_service("agora_content.main:create_app", port, {**common, "AGORA_MONGO_DB": "bench_content"},
                             log_dir)
        env.processes.append(proc)
        env.content_url = f"http://127.0.0.1:{port}"
        wait_ready(env.content_url, proc)
        try:
            import agora_users  # noqa: F401 - measured only when installed
        except ImportError:
            print("agora_users is not installed: measuring content only")
        else:
            port = free_port()
            proc = start_service("agora_users.main:create_app", port, {**common, "AGORA_MONGO_DB": "bench_users"},
                                 log_dir)
            env.processes.append(proc)
            env.users_url = f"http://127.0.0.1:{port}"
            wait_ready(env.users_url, proc)
        env.description = (
            "services started here (uvicorn, 1 worker each) against embedded servers: "
            f"SecantusDB {package_version('SecantusDB')} (a MongoDB-wire server written in Python), "
            "Tansu (Kafka protocol, in memory); production uses MongoDB and Kafka"
        )
        return env
    except BaseException:
        env.stop()
        raise


# ---------------------------------------------------------------- load


@dataclass
class Result:
    name: str
    rate: float
    latencies_ms: list[float] = field(default_factory=list)
    db_ms: list[float] = field(default_factory=list)
    app_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    def row(self) -> dict:
        done = len(self.latencies_ms)
        return {
            "endpoint": self.name,
            "target_rps": self.rate,
            "achieved_rps": round(done / self.elapsed, 1) if self.elapsed else 0.0,
            "ok": done,
            "errors": sum(self.errors.values()),
            "p50_ms": round(self.pct(self.latencies_ms, 50), 2),
            "p99_ms": round(self.pct(self.latencies_ms, 99), 2),
            "db_p50_ms": round(self.pct(self.db_ms, 50), 2),
            "db_p99_ms": round(self.pct(self.db_ms, 99), 2),
            "app_p50_ms": round(self.pct(self.app_ms, 50), 2),
            "app_p99_ms": round(self.pct(self.app_ms, 99), 2),
            "error_kinds": self.errors,
        }


async def fixed_rate(client: httpx.AsyncClient, name: str, make_request, *, rate: float, duration: float,
                     max_in_flight: int) -> Result:
    """Start `rate` requests per second for `duration` seconds, each at its scheduled time."""
    result = Result(name=name, rate=rate)
    total = int(rate * duration)
    gate = asyncio.Semaphore(max_in_flight)
    bar = tqdm(total=total, desc=f"{name:<30}", unit="req", leave=False, file=sys.stderr, mininterval=1.0)

    async def one(i: int, scheduled: float) -> None:
        async with gate:
            method, url, kwargs = make_request(i)
            try:
                response = await client.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                result.errors[type(exc).__name__] = result.errors.get(type(exc).__name__, 0) + 1
                return
            finally:
                bar.update(1)
            latency = (time.perf_counter() - scheduled) * 1000
        if response.status_code >= 400:
            key = str(response.status_code)
            result.errors[key] = result.errors.get(key, 0) + 1
            return
        result.latencies_ms.append(latency)
        if match := TIMING_RE.search(response.headers.get("server-timing", "")):
            result.db_ms.append(float(match.group(1)))
            result.app_ms.append(float(match.group(2)))

    start = time.perf_counter()
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - start
    bar.close()
    return result


async def one_at_a_time(client: httpx.AsyncClient, name: str, make_request, *, count: int) -> Result:
    """`count` requests back to back: the service's own cost without queueing behind other requests."""
    result = Result(name=name, rate=0)
    start = time.perf_counter()
    for i in range(count):
        method, url, kwargs = make_request(i)
        sent = time.perf_counter()
        response = await client.request(method, url, **kwargs)
        if response.status_code >= 400:
            result.errors[str(response.status_code)] = result.errors.get(str(response.status_code), 0) + 1
            continue
        result.latencies_ms.append((time.perf_counter() - sent) * 1000)
        if match := TIMING_RE.search(response.headers.get("server-timing", "")):
            result.db_ms.append(float(match.group(1)))
            result.app_ms.append(float(match.group(2)))
    result.elapsed = time.perf_counter() - start
    return result


# ---------------------------------------------------------------- scenarios


async def login_members(users_url: str | None, count: int) -> list[tuple[str, str]]:
    """(user id, access token) for `count` members: registered through the users API when there is one."""
    if users_url is None:
        from agora_common.auth import issue_token
        from agora_common.settings import ServiceSettings

        settings = ServiceSettings()
        return [(f"bench-{i}", issue_token(settings, user_id=f"bench-{i}", roles=["member"], kind="access")[0])
                for i in range(count)]
    members = []
    run = random.randrange(1 << 30)
    async with httpx.AsyncClient(base_url=users_url, timeout=30) as client:
        for i in range(count):
            email = f"bench{run}-{i}@example.org"
            r = await client.post("/api/v1/users/auth/register", json={
                "email": email, "password": "bench-password-123", "display_name": f"Bench {i}"})
            r.raise_for_status()  # 202, no tokens (registration never tells whether the email was taken)
            r = await client.post("/api/v1/users/auth/login", json={"email": email, "password": "bench-password-123"})
            r.raise_for_status()
            body = r.json()
            members.append((body["user"]["id"], body["access_token"]))
    return members


async def seed_questions(content_url: str, members, count: int) -> list[str]:
    ids = []
    async with httpx.AsyncClient(base_url=content_url, timeout=30) as client:
        for i in range(count):
            _, token = members[i % len(members)]
            r = await client.post("/api/v1/content/questions", headers={"Authorization": f"Bearer {token}"},
                                  json={"title": f"Benchmark question {i}", "body": "Some *markdown* body " * 20,
                                        "tags": ["bench", f"t{i % 5}"]})
            r.raise_for_status()
            ids.append(r.json()["id"])
    return ids


def scenarios(content_url: str, users_url: str | None, members, questions: list[str]):
    def auth(i: int) -> dict:
        return {"Authorization": f"Bearer {members[i % len(members)][1]}"}

    votes: dict[tuple[int, str], int] = {}

    def vote(i: int):
        # the voter is never the asker (questions were seeded round-robin by the same members)
        q = random.randrange(len(questions))
        voter = (q + 1 + i % (len(members) - 1)) % len(members)
        value = -votes.get((voter, questions[q]), -1)  # flip every time: each request is a real change
        votes[(voter, questions[q])] = value
        return "PUT", f"{content_url}/api/v1/content/posts/{questions[q]}/vote", {
            "headers": auth(voter), "json": {"value": value}}

    yield "content GET question", lambda i: (
        "GET", f"{content_url}/api/v1/content/questions/{random.choice(questions)}", {})
    yield "content GET questions (list)", lambda i: (
        "GET", f"{content_url}/api/v1/content/questions", {"params": {"tag": f"t{i % 5}", "limit": 20}})
    yield "content PUT vote", vote
    yield "content POST question", lambda i: (
        "POST", f"{content_url}/api/v1/content/questions",
        {"headers": auth(i), "json": {"title": f"Load question {i}", "body": "Body " * 40, "tags": ["bench"]}})
    if users_url is not None:
        yield "users GET me", lambda i: ("GET", f"{users_url}/api/v1/users/me", {"headers": auth(i)})
        yield "users GET profile", lambda i: (
            "GET", f"{users_url}/api/v1/users/{members[i % len(members)][0]}", {})
        yield "users PATCH me", lambda i: (
            "PATCH", f"{users_url}/api/v1/users/me", {"headers": auth(i), "json": {"bio": f"bio {i}"}})


def print_report(rows: list[dict], unloaded: list[dict], env_description: str) -> None:
    print()
    print(f"machine : {describe_machine()}")
    print(f"servers : {env_description}")
    print(f"targets : p99 < {P99_TARGET_MS:.0f} ms at the target rate; app (outside the DB) p99 < "
          f"{APP_P99_TARGET_MS:.0f} ms")
    header = (f"{'endpoint':<30} {'target':>6} {'rps':>7} {'ok':>6} {'err':>5} {'p50':>8} {'p99':>8} "
              f"{'db p50':>8} {'db p99':>8} {'app p50':>8} {'app p99':>8}  met?")
    print(header)
    print("-" * len(header))
    for r in rows:
        met = ("p99 " + ("yes" if r["p99_ms"] < P99_TARGET_MS else "NO") + ", app "
               + ("yes" if r["app_p99_ms"] < APP_P99_TARGET_MS else "NO"))
        print(f"{r['endpoint']:<30} {r['target_rps']:>6.0f} {r['achieved_rps']:>7.1f} {r['ok']:>6} {r['errors']:>5} "
              f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['db_p50_ms']:>8.2f} {r['db_p99_ms']:>8.2f} "
              f"{r['app_p50_ms']:>8.2f} {r['app_p99_ms']:>8.2f}  {met}")
        if r["error_kinds"]:
            print(f"{'':<30} errors: {r['error_kinds']}")
    print("latency = from scheduled start to response (ms); db/app from the service's Server-Timing header: db is "
          "time the driver waited on the database, app the rest of the service's time (the gap to latency is "
          "client, network and queueing).")
    if unloaded:
        print()
        print("one request at a time (no load; the service's own cost without queueing):")
        header = f"{'endpoint':<30} {'n':>5} {'p50':>8} {'p99':>8} {'db p50':>8} {'db p99':>8} {'app p50':>8} {'app p99':>8}"
        print(header)
        print("-" * len(header))
        for r in unloaded:
            print(f"{r['endpoint']:<30} {r['ok']:>5} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['db_p50_ms']:>8.2f} "
                  f"{r['db_p99_ms']:>8.2f} {r['app_p50_ms']:>8.2f} {r['app_p99_ms']:>8.2f}")


async def measure(content_url: str, users_url: str | None, env_description: str, args) -> list[dict]:
    members = await login_members(users_url, args.members)
    questions = await seed_questions(content_url, members, args.seed)
    rows, unloaded = [], []
    limits = httpx.Limits(max_connections=args.max_in_flight, max_keepalive_connections=args.max_in_flight)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for name, make in scenarios(content_url, users_url, members, questions):
            if args.only and not any(o in name for o in args.only):
                continue
            if args.unloaded:
                unloaded.append((await one_at_a_time(client, name, make, count=args.unloaded)).row())
            await fixed_rate(client, name, make, rate=min(args.rate, 50), duration=1, max_in_flight=args.max_in_flight)
            result = await fixed_rate(client, name, make, rate=args.rate, duration=args.duration,
                                      max_in_flight=args.max_in_flight)
            rows.append(result.row())
            await asyncio.sleep(args.pause)  # let background work (outbox relay, consumers) settle between endpoints
    print_report(rows, unloaded, env_description)
    return {"loaded": rows, "one_at_a_time": unloaded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", help="a running gateway (e.g. http://127.0.0.1:8080); default: start everything")
    parser.add_argument("--rate", type=float, default=200, help="requests per second per endpoint (default 200)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per endpoint (default 10)")
    parser.add_argument("--max-in-flight", type=int, default=64, help="bound on concurrent requests (default 64)")
    parser.add_argument("--members", type=int, default=6, help="members registered for the load (default 6)")
    parser.add_argument("--seed", type=int, default=60, help="questions created before measuring (default 60)")
    parser.add_argument("--unloaded", type=int, default=100,
                        help="requests sent one at a time per endpoint before the load (default 100; 0 = skip)")
    parser.add_argument("--pause", type=float, default=3, help="seconds of rest between endpoints (default 3)")
    parser.add_argument("--only", nargs="*", help="run only endpoints whose name contains one of these words")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    if args.base_url:
        base = args.base_url.rstrip("/")
        if httpx.URL(base).host not in ("127.0.0.1", "localhost", "::1"):
            parser.error("--base-url must be a loopback address: this load generator is for the local machine only")
        rows = asyncio.run(measure(base, base, f"a running platform behind the gateway at {base}", args))
    else:
        log_dir = Path(tempfile.mkdtemp(prefix="agora-bench-"))
        env = start_environment(log_dir)
        try:
            rows = asyncio.run(measure(env.content_url, env.users_url, env.description, args))
        finally:
            env.stop()
        print(f"service and server logs: {log_dir}")
    if args.json:
        args.json.write_text(json.dumps({"machine": describe_machine(), **rows}, indent=2))


if __name__ == "__main__":
    main()
