"""Minimal reproductions of bugs the issue-8 scenario found, through the gateway. Each test fails until the
service is fixed (they are kept as regression tests; none is skipped)."""

from concurrent.futures import ThreadPoolExecutor

import pytest

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
