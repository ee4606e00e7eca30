"""The one retry policy: retries until done, gives up after `attempts` with the real error, never retries a
cancellation."""

import asyncio
import gc

import pytest
from agora_common.retry import until_done


async def test_retries_until_the_call_succeeds():
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ConnectionError("not yet")
        return "done"

    assert await until_done(flaky, what="flaky", first=0.001, cap=0.005) == "done"
    assert calls == 4


async def test_gives_up_after_the_attempts_with_the_last_error():
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise ValueError(f"broken {calls}")

    with pytest.raises(ValueError, match="broken 3"):
        await until_done(broken, what="broken", first=0.001, cap=0.005, attempts=3)


async def test_a_cancelled_task_stops_at_once():
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(30)

    task = asyncio.create_task(until_done(slow, what="slow", first=0.001))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_call_that_succeeds_at_once_leaves_no_cyclic_garbage():
    """The policy's objects are built only after a failure: on a hot path they were reference cycles left for the
    garbage collector on every call (~35 objects each), whose collections paused the process."""

    async def fine() -> int:
        return 1

    gc.collect()
    gc.disable()  # count all of it, not what an automatic collection left
    try:
        for _ in range(100):
            assert await until_done(fine, what="fine") == 1
        assert gc.collect() < 100  # ~3,500 when each call built a retrying object
    finally:
        gc.enable()
