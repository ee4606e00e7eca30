"""Kill a worker (SIGKILL) in the middle of a stream, restart it, or let a second worker take its partitions
over: every total equals a recomputation from the event log, nothing counted twice."""

import asyncio
import functools
import os
import random
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from agora_common.events import Envelope
from agora_common.events.content import PostDeleted, PostRestored, PostVoted, VoteRetracted
from agora_common.kafka import EventPublisher, ensure_topics
from agora_common.topics import Topics
from agora_devservers import free_port
from agora_points.adapters.log_reader import read_log
from agora_points.domain.engine import Engine
from agora_points.domain.rules import load_rules
from agora_points.service.decode import decode, relevant_types
from agora_testing.waiting import eventually

pytestmark = pytest.mark.servers("kafka", "redis")


def stream(h, n: int) -> list[Envelope]:
    rng = random.Random(42)
    out, versions = [], {}
    for i in range(n):
        post = f"p{rng.randrange(300)}"
        author, voter = f"a{int(post[1:]) % 40}", f"v{rng.randrange(60)}"
        versions[post] = versions.get(post, 0) + 1
        at = i * 2.0  # minutes: the stream spans several days, so caps and windows matter
        r = rng.random()
        common = {"post_id": post, "post_type": rng.choice(["answer", "question"]), "author_id": author,
                  "tags": [f"t{int(post[1:]) % 5}"]}
        if r < 0.8:
            payload = PostVoted(**common, voter_id=voter, value=rng.choice([1, 1, 1, -1]), score=0)
        elif r < 0.9:
            payload = VoteRetracted(**common, voter_id=voter, previous_value=1, score=0)
        elif r < 0.95:
            payload = PostDeleted(**common, deleted_by="mod")
        else:
            payload = PostRestored(**common, restored_by="mod")
        out.append(h.wrap(payload, at=at - n * 2.0, version=versions[post]))
    return out


class Worker:
    def __init__(self, env: dict, **settings: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, "AGORA_KAFKA_BOOTSTRAP": env["kafka_bootstrap"],
                    "AGORA_TOPIC_PREFIX": env["topic_prefix"], "AGORA_REDIS_URL": env["redis_url"],
                    "AGORA_POINTS_ADVERTISED_URL": f"http://127.0.0.1:{self.port}",
                    "AGORA_LOG_LEVEL": "INFO", **{f"AGORA_{k.upper()}": v for k, v in settings.items()}}
        self.proc: subprocess.Popen | None = None
        # what the worker logged, shown when it does not become ready
        fd, name = tempfile.mkstemp(prefix="points-worker-", suffix=".log")
        os.close(fd)
        self.log = Path(name)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "agora_points.main:create_app",
             "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"), start_new_session=True)

    async def ready(self) -> None:
        async def check():
            assert self.proc.poll() is None, "worker exited"
            try:
                r = await self.client().get("/readyz")
            except httpx.HTTPError as exc:
                raise AssertionError(str(exc)) from exc
            assert r.status_code == 200

        try:
            await eventually(check, timeout=60, interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the worker's log ends:\n{self.log.read_text()[-6000:]}") from exc

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    async def status(self) -> dict:
        async with self.client() as client:
            return (await client.get("/api/v1/points/status")).json()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def expected_totals(env: dict) -> tuple[dict[str, int], int]:
    """Every user's total, recomputed from the event log by a fresh one-process engine; and the events."""
    rules = load_rules()
    expected = Engine(rules)
    async for records, _ in read_log(env["kafka_bootstrap"], [Topics(env["topic_prefix"]).content]):
        expected.apply([f for f in (decode(r.value, relevant_types(rules)) for r in records) if f])
    return expected.totals(), expected.events_applied


async def every_total_matches(client: httpx.AsyncClient, totals: dict[str, int]) -> None:
    """Each user's total from the worker's API equals the recomputed one."""
    for user, total in totals.items():
        body = (await client.get(f"/api/v1/points/users/{user}")).json()
        assert body["total"] == total, (user, body, total)


async def test_sigkill_mid_stream_then_restart_matches_recomputation_from_the_log(agora_env, h):
    """With state snapshots after every ~10 KB of a partition's input, so that the restart loads them (and their
    writing races the kill): the figures must still equal a recomputation from the log."""
    topics = Topics(agora_env["topic_prefix"])
    await ensure_topics(agora_env["kafka_bootstrap"], topics.all())
    events = stream(h, 3000)
    publisher = EventPublisher(agora_env["kafka_bootstrap"])
    # (not smaller: the broker is shared by the session's tests, and every snapshot writes the whole state to it)
    worker = Worker(agora_env, points_snapshot_mib="0.01")
    try:
        await publisher.publish_many(topics.content, events[:1000])
        worker.start()
        await worker.ready()
        for i in range(1000, 2000, 100):  # the worker is consuming this when it dies
            await publisher.publish_many(topics.content, events[i:i + 100])
            await asyncio.sleep(0.02)
        async with worker.client() as client:
            async def consuming_live():
                status = (await client.get("/api/v1/points/status")).json()
                assert status["events_applied"] >= 1500, status
                assert all(status["stages"][s]["snapshots_written"] > 0 for s in ("derive", "book")), status

            await eventually(consuming_live, timeout=60)
        # the stages commit once a second (GroupMember.commit_interval): without one commit since start-up, the
        # restart would rightly read the log from 0 and the check on stage 0 below could not tell
        await asyncio.sleep(1.5)
        before = await worker.status()
        worker.kill()
        await publisher.publish_many(topics.content, events[2000:] + events[1500:1700])  # + redeliveries
        worker.start()
        await worker.ready()
        async with worker.client() as client:
            status = (await client.get("/api/v1/points/status")).json()
        # stage 0 went on from its group's committed offsets (it did not read the log again), so stage 1 holds all
        # 3,000 events only by restoring its partitions from the facts topic
        assert status["stages"]["route"]["records_handled"] < 3200, status
        assert status["events_applied"] == 3000, (before, status)
        # both stateful stages started from snapshots: they loaded keys and read again only what came after them
        # (without snapshots a restore reads again every record handled before the kill, up to the last commit)
        for stage in ("derive", "book"):
            assert status["stages"][stage]["snapshot_keys_loaded"] > 0, status
            assert status["stages"][stage]["records_replayed"] < before["stages"][stage]["records_handled"] / 2, (
                before, status)

        totals, events_in_log = await expected_totals(agora_env)
        assert events_in_log == 3000
        assert sum(totals.values()) > 0 and len(totals) > 50

        async with worker.client() as client:
            await eventually(functools.partial(every_total_matches, client, totals), timeout=30)

            async def board_matches():
                board = (await client.get("/api/v1/points/leaderboards", params={"limit": 500})).json()
                assert {e["user_id"]: e["points"] for e in board["entries"]} == {
                    u: p for u, p in totals.items() if p > 0}

            await eventually(board_matches, timeout=10)
            check = (await client.post("/api/v1/points/replay-check", headers=h.auth(agora_env, "operator"))).json()
            assert check["identical"] is True and check["events_replayed"] == 3000
            assert check["boards_checked"] > 10 and check["boards_differing"] == []  # every Redis board, too
    finally:
        await publisher.stop()
        worker.stop()


async def test_a_clean_stop_leaves_the_state_in_snapshots_so_the_next_worker_reads_no_input_again(agora_env, h):
    """Snapshots too far apart to be written while running (every 64 MiB of a partition's input): a SIGTERM makes
    each stateful stage write one of every partition before the worker exits, so the next worker loads them and
    reads none of its input again; the figures still equal a recomputation from the log."""
    topics = Topics(agora_env["topic_prefix"])
    await ensure_topics(agora_env["kafka_bootstrap"], topics.all())
    events = stream(h, 1500)
    publisher = EventPublisher(agora_env["kafka_bootstrap"])
    worker = Worker(agora_env, points_snapshot_mib="64")
    try:
        await publisher.publish_many(topics.content, events[:1000])
        worker.start()
        await worker.ready()
        before = await worker.status()
        assert before["events_applied"] == 1000, before
        assert all(before["stages"][s]["snapshots_written"] == 0 for s in ("derive", "book")), before
        worker.stop()  # SIGTERM: the clean stop
        await publisher.publish_many(topics.content, events[1000:])
        worker.start()
        await worker.ready()
        status = await worker.status()
        for stage in ("derive", "book"):
            assert status["stages"][stage]["snapshot_keys_loaded"] > 0, status
            assert status["stages"][stage]["records_replayed"] == 0, status
        assert status["events_applied"] == 1500, status

        totals, _ = await expected_totals(agora_env)
        async with worker.client() as client:
            await eventually(functools.partial(every_total_matches, client, totals), timeout=30)
            check = (await client.post("/api/v1/points/replay-check", headers=h.auth(agora_env, "operator"))).json()
            assert check["identical"] is True and check["events_replayed"] == 1500
    finally:
        await publisher.stop()
        worker.stop()


async def test_two_workers_share_the_partitions_and_one_takes_over_when_the_other_is_killed(agora_env, h):
    """Two workers in the same consumer groups: each holds part of the users, and a read on either is answered
    by the one holding the user; each keeps a standby copy of the other's partitions. One is SIGKILLed
    mid-stream; the other takes its partitions over, restores them from its copies and the service's own topics,
    and every total, board and ledger equals a recomputation from the log. With state snapshots every ~10 KB of
    input, so that partitions and copies given to a worker start from them too."""
    topics = Topics(agora_env["topic_prefix"])
    await ensure_topics(agora_env["kafka_bootstrap"], topics.all())
    events = stream(h, 3000)
    publisher = EventPublisher(agora_env["kafka_bootstrap"])
    first, second = Worker(agora_env, points_snapshot_mib="0.01"), Worker(agora_env, points_snapshot_mib="0.01")
    try:
        await publisher.publish_many(topics.content, events[:1000])
        first.start()
        second.start()
        await first.ready()
        await second.ready()

        async def sharing() -> tuple[set[str], set[str]]:
            a, b = [set((await w.status())["stages"]["book"]["partitions"]) for w in (first, second)]
            assert a and b and not a & b and len(a | b) == 4, (a, b)  # AGORA_POINTS_PARTITIONS' default
            return a, b

        await eventually(sharing, timeout=60)
        totals, _ = await expected_totals(agora_env)
        held = [(await w.status())["users"] for w in (first, second)]
        assert 0 < held[0] < len(totals) and 0 < held[1] < len(totals), held  # each holds only its share

        async def both_answer_for_everyone():
            async with first.client() as a, second.client() as b:
                for user, total in totals.items():
                    got = [(await c.get(f"/api/v1/points/users/{user}")).json() for c in (a, b)]
                    assert got[0] == got[1] and got[0]["total"] == total, (user, got, total)

        await eventually(both_answer_for_everyone, timeout=60)

        async def standbys_warm() -> dict[str, int]:
            """Each worker keeps a warm copy of the other's stateful partitions, fed up to the owner's commits."""
            a, b = await first.status(), await second.status()
            copied = {}
            for stage in ("derive", "book"):
                for mine, other in ((a, b), (b, a)):
                    copies = mine["stages"][stage]["standbys"]
                    assert set(copies) == set(other["stages"][stage]["partitions"]), (stage, mine, other)
                    assert all(offset > 0 for offset in copies.values()), (stage, copies)
                copied[stage] = sum(a["stages"][stage]["standbys"].values())
            return copied

        copied = await eventually(standbys_warm, timeout=60)
        replayed = {stage: st["records_replayed"] for stage, st in (await first.status())["stages"].items()}

        for i in range(1000, 2000, 100):  # both are consuming this when one dies
            await publisher.publish_many(topics.content, events[i:i + 100])
            await asyncio.sleep(0.02)
        second.kill()
        await publisher.publish_many(topics.content, events[2000:] + events[1500:1700])  # + redeliveries

        async def taken_over():
            status = await first.status()
            assert len(status["stages"]["book"]["partitions"]) == 4, status
            assert len(status["stages"]["derive"]["partitions"]) == 4, status
            assert status["stages"]["book"]["restoring"] == [] and status["stages"]["derive"]["restoring"] == []

        await eventually(taken_over, timeout=90)
        # The takeover started from the copies: it read again only what they had not reached (what the dead worker
        # handled after its copies were last fed), not the records the copies already held.
        status = await first.status()
        for stage in ("derive", "book"):
            again = status["stages"][stage]["records_replayed"] - replayed[stage]
            assert again < copied[stage], (stage, again, copied[stage])
        totals, events_in_log = await expected_totals(agora_env)
        assert events_in_log == 3000 and sum(totals.values()) > 0

        async with first.client() as client:
            await eventually(functools.partial(every_total_matches, client, totals), timeout=30)
            check = (await client.post("/api/v1/points/replay-check", headers=h.auth(agora_env, "operator"))).json()
            assert check["identical"] is True and check["users_checked"] == len(totals), check
            assert check["boards_checked"] > 10 and check["boards_differing"] == []  # every Redis board, too
    finally:
        await publisher.stop()
        first.stop()
        second.stop()
