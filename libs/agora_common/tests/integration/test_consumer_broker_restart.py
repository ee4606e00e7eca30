"""The shared consumer against a broker that comes back empty (the embedded one keeps nothing on disk): the new
partitions start again at offset 0, behind the consumer's position. The broker answers such a fetch with "offset
out of range" and the consumer's reset policy (earliest) rereads the new log from its start; this pins that
behaviour, which the outage tests rely on."""

import asyncio
from datetime import UTC, datetime

import pytest
from agora_common.events import Envelope
from agora_common.events.users import UserRegistered
from agora_common.kafka import EventConsumer, EventPublisher, ensure_topics
from agora_common.topics import Topics
from agora_devservers import free_port, start_kafka

pytestmark = pytest.mark.timeout(180)


def _event(i: int) -> Envelope:
    return Envelope.wrap(UserRegistered(user_id=f"u{i}", display_name=f"U{i}", registered_at=datetime.now(UTC)),
                         subject=f"u{i % 3}", version=i + 1)


async def _wait_for(handled: list, count: int, timeout: float = 60) -> None:
    for _ in range(int(timeout * 10)):
        if len({e.id for e in handled}) >= count:
            return
        await asyncio.sleep(0.1)


async def test_consumer_rereads_partitions_of_a_broker_that_came_back_empty(tmp_path, unique_name):
    port = free_port()
    broker = start_kafka(port=port, log_dir=tmp_path)
    topics = Topics(f"{unique_name}.")
    handled: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        handled.append(envelope)

    consumer = EventConsumer(kafka=broker.url, topics=[topics.users], group_id="restart-test",
                             dead_letter_topic=topics.dead_letter, handler=handler)
    try:
        await ensure_topics(broker.url, topics.all())
        publisher = EventPublisher(broker.url)
        await publisher.publish_many(topics.users, [_event(i) for i in range(30)])
        await publisher.stop()
        await consumer.start()
        await _wait_for(handled, 30)
        assert len({e.id for e in handled}) == 30

        broker.proc.kill()
        broker.proc.wait()
        broker = start_kafka(port=port, log_dir=tmp_path)  # empty: offsets start at 0 again
        await ensure_topics(broker.url, topics.all())
        after = [_event(i) for i in range(30, 36)]
        publisher = EventPublisher(broker.url)
        await publisher.publish_many(topics.users, after)
        await publisher.stop()

        await _wait_for(handled, 36)
        assert {e.id for e in after} <= {e.id for e in handled}
    finally:
        await consumer.stop()
        broker.stop()
