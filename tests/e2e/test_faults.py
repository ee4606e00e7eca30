"""Faults during a community's week (issue 8), through the gateway.

1. The points service (its process runs the points stream processor) and the search service (its process runs
   the indexer) are SIGKILLed in the middle of a stream of writes and restarted. Afterwards every member's
   points, every board and every ledger equal the independent calculation (so nothing was lost and nothing
   counted twice: one ledger entry per award), and every post is searchable exactly once.
2. The broker is stopped while members keep writing, then started again. The embedded broker keeps nothing
   on disk, so it comes back empty: the services' outbox relays must recreate the topics and publish what
   waited, and the consumers must find their way into the new, empty topics. Writes during the outage must
   succeed (the outbox) or fail cleanly (JSON 5xx), and once the broker is back the content written during
   the outage must reach points and search, exactly as the rules say, and the users service (honor titles
   from the points topic, segments from the content and events topics).

What this does not prove: a kill at every possible instruction (the kills land wherever the writes happen to
be: between batches, or inside one); a broker that loses some messages but not others (a real Kafka cluster
keeps them: its outages are the easier case); clock skew between machines; several instances per service.
"""

import threading
import time
import uuid

import httpx
import pytest
from agora_devservers.servers import start_kafka
from agora_devservers.stack import Process
from agora_testing.waiting import wait_until
from e2e.checks import (
    assert_nothing_counted_twice,
    assert_points_match,
    assert_replay_check,
    assert_searchable,
    assert_segments,
    assert_titles,
)
from e2e.community import CommunityWeek
from e2e.expected_points import expected
from e2e.helpers import Client, backlog
from pymongo import MongoClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

MEMBERS = 50

def wait_until_quiet(stack, timeout: float = 120) -> None:
    """Until no service has outbox entries waiting or consumer lag, by their own /metrics."""

    def busy() -> list[str]:
        lines = []
        for name in ("users", "content", "events", "points", "search"):
            lines += [f"{name}: {line}" for line in backlog(stack.service_url(name))]
        return lines

    # quiet for 3 s in a row: a consumer that has not fetched the last writes yet still shows its old lag of 0
    quiet_since = [None]

    def settled() -> bool:
        if busy():
            quiet_since[0] = None
            return False
        quiet_since[0] = quiet_since[0] or time.monotonic()
        return time.monotonic() - quiet_since[0] >= 3

    wait_until(settled, timeout=timeout, interval=0.5, what="idle relays and consumers")


class Chaos(threading.Thread):
    """Runs `actions` [(writes threshold, callable)] in order, each once the scenario has made that many writes."""

    def __init__(self, week: CommunityWeek, actions: list) -> None:
        super().__init__(daemon=True)
        self.week, self.actions, self.done, self.error = week, actions, [], None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            for threshold, name, action in self.actions:
                while self.week.writes < threshold:
                    if self.stop.wait(0.05):
                        return
                at = self.week.writes
                action()
                self.done.append((name, at))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def crash(stack, name: str) -> None:
    """SIGKILL the service's process and start a new one at once, without waiting for it to be ready (so the
    next fault can land while it is still starting, and the injection points stay where the writes are)."""
    old = stack.processes[name]
    old.kill()
    stack.start_process(Process(old.name, old.argv, old.port))


def run_with_kills(stack, kills: list, seed: int) -> None:
    week = CommunityWeek(stack.gateway_url, operator_email=stack.operator_email,
                         operator_password=stack.operator_password, members=MEMBERS, seed=seed, say=print)
    chaos = Chaos(week, kills)
    chaos.start()
    try:
        week.run()
        chaos.stop.set()
        chaos.join(120)
        assert chaos.error is None, chaos.error
        print(f"{week.writes} writes; faults injected at write #: {chaos.done}")
        assert [name for name, _ in chaos.done] == [k[1] for k in kills]  # every kill happened mid-stream
        assert chaos.done[-1][1] < week.writes
        for name in ("points", "search"):
            stack.wait_ready(name)
        assert_points_match(week)
        assert_nothing_counted_twice(week)
        assert_searchable(week)
        assert_replay_check(week)
    finally:
        chaos.stop.set()
        week.close()


# writes with 50 members: ~110 questions and answers, then ~250 votes, acceptances and articles, then the events


def test_search_indexer_killed_mid_stream_loses_nothing(new_stack):
    stack = new_stack()
    run_with_kills(stack, [
        (30, "kill search", lambda: crash(stack, "search")),
        (150, "kill search", lambda: crash(stack, "search")),
        (250, "kill search", lambda: crash(stack, "search")),
    ], seed=5)


def test_points_processor_killed_mid_stream_gives_the_same_figures(new_stack):
    stack = new_stack()
    run_with_kills(stack, [
        (60, "kill points", lambda: crash(stack, "points")),
        (160, "kill points and search", lambda: (crash(stack, "points"), crash(stack, "search"))),
        (250, "kill points", lambda: crash(stack, "points")),
    ], seed=7)


def test_content_killed_mid_write_frees_the_post_within_10_s(new_stack, mongo_url):
    """The content service is SIGKILLed (and restarted at once) while a vote's transaction is open: its writes
    are done, holding the post's document, and its commit is held back by a database fail point, so the kill
    lands inside the transaction every time. The database aborts a transaction that idles past its lifetime
    (5 s; MongoDB's default of 60 s would outlast the gateway's 30 s and answer 504), so the next vote on the same
    post succeeds within 10 s of the kill, and the dead transaction's vote is not counted."""
    stack = new_stack()
    run = uuid.uuid4().hex[:6]
    author = Client(stack.gateway_url, 900).register("Kill Author", f"kill.author.{run}@example.org")
    doomed, survivor = (Client(stack.gateway_url, 901 + i, timeout=45).register(
        f"Kill Voter {i}", f"kill.{i}.{run}@example.org") for i in range(2))
    question = author.call("POST", "/api/v1/content/questions",
                           json={"title": "Does a crash lock my post?", "body": "Asking for a friend.", "tags": ["ops"]})
    vote_path = f"/api/v1/content/posts/{question['id']}/vote"
    admin = MongoClient(mongo_url).admin
    hold_commit = {"failCommands": ["commitTransaction"], "appName": "agora-content",
                   "blockConnection": True, "blockTimeMS": 40_000}
    admin.command("configureFailPoint", "failCommand", mode={"times": 1}, data=hold_commit)
    try:
        threading.Thread(target=lambda: doomed.raw("PUT", vote_path, json={"value": 1}), daemon=True).start()

        def commit_held() -> bool:
            return any(op.get("op") == "commitTransaction"
                       and op.get("clientMetadata", {}).get("application", {}).get("name") == "agora-content"
                       for op in admin.command("currentOp")["inprog"])

        wait_until(commit_held, timeout=30, interval=0.1, what="the vote's transaction waiting to commit")
        crash(stack, "content")
        killed = time.monotonic()
        while True:
            try:
                response = survivor.raw("PUT", vote_path, json={"value": 1})
            except httpx.HTTPError:
                response = None
            if (response is not None and response.status_code == 200) or time.monotonic() - killed > 60:
                break
            time.sleep(0.2)
        waited = time.monotonic() - killed
    finally:
        admin.command("configureFailPoint", "failCommand", mode="off")
        admin.client.close()
    print(f"the next vote on the post succeeded {waited:.1f} s after content was killed inside a transaction")
    assert response is not None and response.status_code == 200, response and response.text
    assert waited < 10, f"the post stayed locked for {waited:.1f} s after content was killed"
    assert response.json()["score"] == 1  # the survivor's vote; the dead transaction's vote was rolled back


# Consumers that outlive a broker which came back EMPTY (only the in-memory embedded broker does that) used to skip
# the start of the new log, in about half of the full runs under load (xfail until then): around their group's
# rejoin, offsets from the OLD log got committed to the new broker (seen: points' group at 50/68/60 on partitions
# whose new log ended at 41/52/52), and a new log that had already grown to the old position did not look lost.
# They now tell such a broker by its cluster id and read every partition again (agora_common.kafka.LostLogs).
def test_broker_outage_during_writes_loses_nothing(new_stack):
    """The broker crashes (SIGKILL) right after the questions and answers, stays down through the votes,
    acceptances, articles and community events, and comes back empty. Every scoring action of the week happens
    during the outage or after it, so the exact figures hold only if everything written during the outage
    arrives once. (What the points service does with figures from BEFORE an empty broker came back is
    test_found_bugs.py::test_points_history_survives_an_empty_broker.)"""
    stack = new_stack(own_broker=True)
    week = CommunityWeek(stack.gateway_url, operator_email=stack.operator_email,
                         operator_password=stack.operator_password, members=30, seed=11, say=print)
    outage = {}

    def between_phases(phase: int) -> None:
        if phase == 1:  # questions and answers are in: the broker crashes
            # ...once every relay and consumer is idle: what an in-memory broker holds dies with it (a Kafka
            # cluster keeps it), and this test is about what is written during the outage
            wait_until_quiet(stack)
            broker = stack.servers["kafka"].proc
            broker.kill()  # SIGKILL; on SIGTERM Tansu can take its time and keep serving meanwhile
            broker.wait()
            outage["from_write"] = week.writes
        if phase == 3:  # the events are over: a fresh, empty broker on the same address, before the last phase
            time.sleep(2)
            stack.servers["kafka"] = start_kafka(port=stack.ports["kafka"], log_dir=stack.log_dir)
            outage["to_write"] = week.writes

    try:
        week.run(between_phases=between_phases)
        print(f"{week.writes} writes; broker down from write #{outage['from_write']} to #{outage['to_write']}")
        assert outage["to_write"] - outage["from_write"] > 100  # many writes happened while it was down
        # every write above succeeded (Client.call asserts each status); now everything must arrive, once
        assert_searchable(week)  # the articles published during the outage: the content relay delivered
        assert_points_match(week, timeout=240)
        assert_nothing_counted_twice(week)
        # the users service's consumers found their way too: titles (from the points topic) and segments
        assert_titles(week, expected(week.facts))
        assert_segments(week)
    finally:
        week.close()
