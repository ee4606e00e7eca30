"""Wait in tests for what happens elsewhere (another process, a consumer, a log) instead of sleeping a guess."""

import asyncio
import time
from collections.abc import Callable
from typing import Any


def wait_until(check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.2, what: str = "") -> Any:
    """Poll `check` until it returns a truthy value; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what or check}; last value: {last!r}")


async def eventually(check: Callable, *, timeout: float = 20.0, interval: float = 0.1):
    """Retry an async check until it stops raising AssertionError; return its result."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(interval)
