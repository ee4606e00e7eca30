"""Read domain events back from a real topic in tests."""

import asyncio
import time
from collections.abc import Callable

from agora_common.events import Envelope
from aiokafka import AIOKafkaConsumer


async def read_events(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Envelope]], bool],
    timeout: float = 20.0,
) -> list[Envelope]:
    """Read `topic` from the beginning (no consumer group) until `until(events)` holds or the timeout passes."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    events: list[Envelope] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(events):
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                events.extend(Envelope.from_bytes(r.value) for r in records)
    finally:
        await consumer.stop()
    return events


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
