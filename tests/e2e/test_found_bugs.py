"""Reproductions of bugs the issue-8 scenario and fault tests found, through the gateway, kept as regression
tests. Each failed when it was written (see the docstrings); the services' owners have fixed some since."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from agora_testing.waiting import wait_until
from e2e.helpers import Client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _members(stack, n: int, first_index: int) -> list[Client]:
    return [Client(stack.gateway_url, first_index + i).register(f"Bug hunter {i}", f"bug{first_index + i}.{id(stack)}@example.org")
            for i in range(n)]


def test_concurrent_sig_joins_are_all_accepted_without_500(stack):
    """users: members joining one SIG at the same moment got 500 (an unretried MongoDB WriteConflict on the SIG's
    member_count, agora_users/service/sigs.py `join`)."""
    op = Client(stack.gateway_url, 900).login(stack.operator_email, stack.operator_password)
    sig = op.call("POST", "/api/v1/users/sigs", json={"name": f"Concurrency SIG {id(op)}", "tags": ["concurrency"]})
    members = _members(stack, 12, 901)
    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda m: m.raw("POST", f"/api/v1/users/sigs/{sig['id']}/members").status_code,
                                 members))
    assert statuses == [201] * 12
    assert op.call("GET", f"/api/v1/users/sigs/{sig['id']}")["member_count"] == 12


def test_points_service_is_ready_again_after_a_sigkill(new_stack):
    """points: after SIGKILL and a restart the service never became ready (not within 90 s): its start-up
    catch-up commits offsets for group `<prefix>points-vm` with a manually assigned consumer, and the broker
    refuses the commit (UnknownMemberIdError -> CommitFailedError) while the killed instance's membership
    lingers; `agora_points.main` retries the whole start-up forever with the same result."""
    stack = new_stack()
    asker, answerer = (Client(stack.gateway_url, 950 + i).register(f"Killer {i}", f"killer{i}.{id(stack)}@example.org")
                       for i in range(2))
    q = asker.call("POST", "/api/v1/content/questions", json={"title": "Why does my pod restart?",
                                                                "body": "It restarts every hour.", "tags": ["pods"]})
    a = answerer.call("POST", f"/api/v1/content/questions/{q['id']}/answers", json={"body": "Check the liveness probe."})
    asker.call("POST", f"/api/v1/content/questions/{q['id']}/accept", json={"answer_id": a["id"]})
    wait_until(lambda: asker.call("GET", f"/api/v1/points/users/{answerer.id}")["total"] == 15, timeout=60,
               what="the answerer's points before the crash")
    stack.restart_process("points", kill=True)  # raises TimeoutError if it is not ready within 90 s
    assert asker.call("GET", f"/api/v1/points/users/{answerer.id}")["total"] == 15


def test_points_history_survives_an_empty_broker(new_stack):
    """points: when the (in-memory) broker crashes and comes back empty, the points service rebuilds its state
    from the now-empty log and every figure earned before the crash disappears (seen in test_faults: after the
    outage, `GET /points/status` showed `log_events_replayed_at_start: 1`, `events_applied: 44`, and members
    kept only the awards of events published after the restart). Production Kafka keeps its log, but the
    service could keep its figures too (its snapshots, or not rebuilding when the log shrinks)."""
    from agora_devservers.servers import start_kafka

    stack = new_stack(own_broker=True)
    asker, answerer = (Client(stack.gateway_url, 960 + i).register(f"Outage {i}", f"outage{i}.{id(stack)}@example.org")
                       for i in range(2))
    q = asker.call("POST", "/api/v1/content/questions", json={"title": "Why is my volume read-only?",
                                                                "body": "After a node restart.", "tags": ["storage"]})
    a = answerer.call("POST", f"/api/v1/content/questions/{q['id']}/answers", json={"body": "Check fsck."})
    asker.call("POST", f"/api/v1/content/questions/{q['id']}/accept", json={"answer_id": a["id"]})
    wait_until(lambda: asker.call("GET", f"/api/v1/points/users/{answerer.id}")["total"] == 15, timeout=60,
               what="the answerer's points before the crash")
    broker = stack.servers["kafka"].proc
    broker.kill()
    broker.wait()
    stack.servers["kafka"] = start_kafka(port=stack.ports["kafka"], log_dir=stack.log_dir)
    asker.call("PUT", f"/api/v1/content/posts/{a['id']}/vote", json={"value": 1})  # +10 after the crash
    wait_until(lambda: asker.call("GET", f"/api/v1/points/users/{answerer.id}")["total"] == 25, timeout=120,
               what="15 from before the crash + 10 from after it")
