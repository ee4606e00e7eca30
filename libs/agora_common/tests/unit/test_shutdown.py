"""Bounded shutdown: a stuck or failing step is reported and left behind; the steps after it still run."""

import asyncio
import logging

from agora_common.lifecycle import shut_down


async def test_a_step_that_hangs_is_abandoned_and_the_next_steps_still_run(caplog):
    ran: list[str] = []
    released = asyncio.Event()

    async def stuck_even_when_cancelled() -> None:
        try:  # swallows its cancellation, like a client whose close waits on a dead connection
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await released.wait()  # (released at the end, so the test's event loop can close)

    async def fails() -> None:
        raise ConnectionError("broker gone")

    async def closes() -> None:
        ran.append("closed")

    with caplog.at_level(logging.WARNING, logger="agora_common.lifecycle"):
        await asyncio.wait_for(
            shut_down(("consumer", stuck_even_when_cancelled), ("publisher", fails), ("database client", closes),
                      timeout=0.2),
            timeout=5,
        )
    released.set()
    assert ran == ["closed"]
    warned = {(r.getMessage(), getattr(r, "step", None)) for r in caplog.records}
    assert ("shutdown step abandoned after its time limit", "consumer") in warned
    assert ("shutdown step failed", "publisher") in warned
    assert not any(getattr(r, "step", None) == "database client" for r in caplog.records)


async def test_the_whole_shutdown_keeps_within_its_budget(caplog):
    import time

    ran: list[str] = []

    async def slow() -> None:
        await asyncio.sleep(3600)

    async def closes() -> None:
        ran.append("closed")

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="agora_common.lifecycle"):
        await shut_down(("consumer", slow), ("relay", slow), ("database client", closes), timeout=0.3, budget=0.45)
    assert time.monotonic() - started < 0.8  # not 0.3 + 0.3: the second step only had what was left
    assert ran == []  # the budget was spent before the last step
    assert ("shutdown budget spent; step skipped", "database client") in {
        (r.getMessage(), getattr(r, "step", None)) for r in caplog.records}
