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
