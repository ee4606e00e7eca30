"""Publish domain events to a real topic, and read them back, in tests."""

import time
from collections.abc import Callable

from agora_common.events import DomainEvent, Envelope
from agora_common.kafka import EventPublisher, Kafka
from aiokafka import AIOKafkaConsumer

# the aggregate an event is about, as its producer keys it: a community event's events by the event, a post's by the
# post (which may name its SIG), a SIG's by the SIG (joins too), a member's by the member
_AGGREGATE_FIELDS = ("event_id", "post_id", "sig_id", "user_id")


def aggregate_id(event: DomainEvent) -> str:
    return next(getattr(event, name) for name in _AGGREGATE_FIELDS if getattr(event, name, None))


async def publish_versioned(kafka: Kafka, topic: str, *events: tuple[int, DomainEvent]) -> None:
    """Publish (aggregate version, event) pairs one by one, in order, each keyed by its aggregate, as another
    service's outbox relay would."""
    publisher = EventPublisher(kafka)
    try:
        for version, event in events:
            await publisher.publish(topic, Envelope.wrap(event, subject=aggregate_id(event), version=version))
    finally:
        await publisher.stop()


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
