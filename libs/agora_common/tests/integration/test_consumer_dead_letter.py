"""The shared consumer against a real broker: valid events reach the handler, bad ones go to the dead-letter
topic with their reason, and the consumer keeps going."""

import asyncio
from datetime import UTC, datetime

import pytest
from agora_common.events import Envelope
from agora_common.events.users import UserRegistered
from agora_common.kafka import EventConsumer, EventPublisher, ensure_topics
from agora_common.topics import Topics
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

pytestmark = pytest.mark.servers("kafka")


async def test_bad_events_are_dead_lettered_and_consumption_continues(agora_env):
    bootstrap = agora_env["kafka_bootstrap"]
    topics = Topics(agora_env["topic_prefix"])
    await ensure_topics(bootstrap, topics.all())

    handled: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        handled.append(envelope)

    good = [
        Envelope.wrap(
            UserRegistered(user_id=f"u{i}", display_name=f"U{i}", registered_at=datetime.now(UTC)),
            subject=f"u{i}", version=1,
        )
        for i in range(3)
    ]
    publisher = EventPublisher(bootstrap)
    await publisher.start()
    raw = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await raw.start()
    try:
        await publisher.publish(topics.users, good[0])
        await raw.send_and_wait(topics.users, b"{garbage", key=b"u0")
        unknown = good[1].model_copy(update={"type": "Nope", "id": "unknown-1"})
        await raw.send_and_wait(topics.users, unknown.to_bytes(), key=b"u1")
        too_new = good[1].model_copy(update={"schema_version": 99, "id": "future-1"})  # a newer producer's
        await raw.send_and_wait(topics.users, too_new.to_bytes(), key=b"u1")
        await publisher.publish_many(topics.users, good[1:])
    finally:
        await raw.stop()
        await publisher.stop()

    consumer = EventConsumer(
        kafka=bootstrap, topics=[topics.users], group_id="test-dlq", dead_letter_topic=topics.dead_letter,
        handler=handler,
    )
    await consumer.start()
    try:
        for _ in range(200):
            if len(handled) == 3:
                break
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()
    assert sorted(e.id for e in handled) == sorted(e.id for e in good)

    dlq = AIOKafkaConsumer(topics.dead_letter, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await dlq.start()
    try:
        records = []
        for _ in range(50):
            for batch in (await dlq.getmany(timeout_ms=200)).values():
                records.extend(batch)
            if len(records) >= 3:
                break
    finally:
        await dlq.stop()
    reasons = sorted(dict(r.headers)["x-agora-reason"].decode() for r in records)
    assert reasons == ["malformed_envelope", "unknown_type", "unsupported_schema_version"]
