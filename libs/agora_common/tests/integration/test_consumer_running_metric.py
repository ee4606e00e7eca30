"""agora_consumer_running, which AgoraConsumerDown reads: 1 while the supervised consumer runs, 0 from the moment
its handler fails until the supervisor has it running again."""

import asyncio

import pytest
from agora_common import metrics
from agora_common.events import Envelope
from agora_common.events.users import UserRegistered
from agora_common.ids import utcnow
from agora_common.kafka import EventConsumer, EventPublisher, SupervisedConsumer, ensure_topics
from agora_common.topics import Topics

pytestmark = pytest.mark.servers("kafka")


async def _until(check, timeout: float = 30.0) -> None:
    for _ in range(int(timeout * 20)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_the_running_gauge_follows_the_consumer(agora_env):
    bootstrap, topics = agora_env["kafka_bootstrap"], Topics(agora_env["topic_prefix"])
    await ensure_topics(bootstrap, topics.all())
    group = f"{topics.prefix}test.gauge"
    gauge = metrics.CONSUMER_RUNNING.labels(group)
    values: list[float] = []
    calls = 0

    async def handler(envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("handler failed once")  # stops the consumer; the event is redelivered

    supervised = SupervisedConsumer(lambda: EventConsumer(kafka=bootstrap, topics=[topics.users], group_id=group,
                                                          dead_letter_topic=topics.dead_letter, handler=handler),
                                    retry_delay=0.2)
    supervised.start()
    try:
        await _until(lambda: gauge._value.get() == 1)
        publisher = EventPublisher(bootstrap)
        await publisher.publish(topics.users, Envelope.wrap(
            UserRegistered(user_id="u1", display_name="U", registered_at=utcnow()), subject="u1", version=1))
        await publisher.stop()
        for _ in range(600):  # sample: it must drop to 0 when the handler fails, then come back to 1
            values.append(gauge._value.get())
            if calls >= 2 and values[-1] == 1:
                break
            await asyncio.sleep(0.05)
        assert 0 in values and values[-1] == 1 and calls >= 2
    finally:
        await supervised.stop()
    assert gauge._value.get() == 0
