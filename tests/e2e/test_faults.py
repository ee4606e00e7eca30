"""Faults during a community's week (issue 8), through the gateway.

1. The points service (its process runs the points stream processor) and the search service (its process runs
   the indexer) are SIGKILLed in the middle of a stream of writes and restarted. Afterwards every member's
   points, every board and every ledger equal the independent calculation (so nothing was lost and nothing
   counted twice: one ledger entry per award), and every post is searchable exactly once.
2. The broker is stopped while members keep writing, then started again. The embedded broker keeps nothing
   on disk, so it comes back empty: the services' outbox relays must recreate the topics and publish what
   waited, and the consumers must find their way into the new, empty topics. Writes during the outage must
   succeed (the outbox) or fail cleanly (JSON 5xx), and once the broker is back the content written during
   the outage must reach points and search, exactly as the rules say.

What this does not prove: a kill at every possible instruction (the kills land wherever the writes happen to
be: between batches, or inside one); a broker that loses some messages but not others (a real Kafka cluster
keeps them: its outages are the easier case); clock skew between machines; several instances per service.
"""

import threading
import time

import pytest
from agora_devservers.servers import start_kafka
from e2e.checks import assert_nothing_counted_twice, assert_points_match, assert_replay_check, assert_searchable
from e2e.community import CommunityWeek

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

MEMBERS = 50


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
        (30, "kill search", lambda: stack.restart_process("search", kill=True)),
        (150, "kill search", lambda: stack.restart_process("search", kill=True)),
        (300, "kill search", lambda: stack.restart_process("search", kill=True)),
    ], seed=5)


def test_points_processor_killed_mid_stream_gives_the_same_figures(new_stack):
    stack = new_stack()
    run_with_kills(stack, [
        (90, "kill points", lambda: stack.restart_process("points", kill=True)),
        (200, "kill points and search", lambda: (stack.processes["search"].kill(),
                                                 stack.restart_process("points", kill=True),
                                                 stack.restart_process("search"))),
        (330, "kill points", lambda: stack.restart_process("points", kill=True)),
    ], seed=7)


def test_broker_outage_during_writes_loses_nothing(new_stack):
    stack = new_stack(own_broker=True)
    week = CommunityWeek(stack.gateway_url, operator_email=stack.operator_email,
                         operator_password=stack.operator_password, members=30, seed=11, say=print)
    outage = {}

    def stop_broker() -> None:
        outage["from_write"] = week.writes
        stack.servers["kafka"].stop()
        outage["stopped_at_write"] = week.writes

    def start_broker() -> None:
        # a fresh, empty broker on the same address, as after a crash of the in-memory broker
        stack.servers["kafka"] = start_kafka(port=stack.ports["kafka"], log_dir=stack.log_dir)
        outage["to_write"] = week.writes

    # the outage spans the reactions (votes, acceptances, articles) and the community events
    chaos = Chaos(week, [(week_writes_after_content(week), "stop broker", stop_broker)])
    chaos.start()
    phase_hook_calls = []

    def between_phases(phase: int) -> None:
        phase_hook_calls.append(phase)
        if phase == 3:  # the events are over: the broker comes back before the last phase's writes
            time.sleep(2)  # consumers and relays see the broker down for a while
            start_broker()

    try:
        week.run(between_phases=between_phases)
        chaos.stop.set()
        chaos.join(30)
        assert chaos.error is None, chaos.error
        print(f"{week.writes} writes; broker stopping at write #{outage['from_write']}, "
              f"stopped at #{outage['stopped_at_write']}, back at #{outage['to_write']}")
        assert outage["stopped_at_write"] < outage["to_write"] - 20  # many writes happened while it was down
        # every write above succeeded (Client.call asserts each status); now everything must arrive
        assert_points_match(week, timeout=240)
        assert_nothing_counted_twice(week)
        assert_searchable(week)
    finally:
        chaos.stop.set()
        week.close()


def week_writes_after_content(week: CommunityWeek) -> int:
    """The number of writes at which the outage starts: a little into the reactions phase."""
    return int(week.n_members * 3.2)
